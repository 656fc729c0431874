/**
 * The podwall control plane: a Kubernetes-API-compatible server (HTTPS, SQLite store, watch) that the real
 * kubectl and any client-go-style client can drive.
 */
export { ensurePki, type Pki, renderKubeconfig } from './certs.js';
export { ApiError, type Status } from './errors.js';
export type { ExecRequest, ExecStreams, LogRequest, NodeBackend, TerminalSize } from './node-backend.js';
export { NodeBackendError } from './node-backend.js';
export { SERVER_VERSION } from './openapi.js';
export { Registry } from './registry.js';
export { RESOURCES, type ResourceInfo } from './resources.js';
export { type ApiServer, type ApiServerOptions, startApiServer } from './server.js';
export { SqliteStore, type Store } from './storage.js';
