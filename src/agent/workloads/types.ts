/**
 * The shape of a daemon component as this folder sees it. It is structurally the daemon's `DaemonComponent` /
 * `ComponentContext` (src/agent/daemon.ts), restated here so that the daemon can import these components without
 * an import cycle. Components talk to the API only through `client` (src/kube), never the store.
 */
import type { NodeBackend } from '../../apiserver/node-backend.js';
import type { KubeClient } from '../../kube/client.js';

export interface WorkloadContext {
  /** `$PODWALL_HOME`. */
  home: string;
  client: KubeClient;
  log(line: string): void;
  setNodeBackend(backend: NodeBackend | undefined): void;
}

export interface WorkloadStatus {
  ok: boolean;
  message: string;
}

export interface WorkloadComponent {
  name: string;
  start(ctx: WorkloadContext): Promise<void>;
  stop(): Promise<void>;
  status?(): WorkloadStatus;
}
