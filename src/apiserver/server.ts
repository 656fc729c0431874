/**
 * The HTTPS front of the podwall control plane: authentication (client certificates signed by our CA; only
 * /healthz, /readyz, /livez and /version are anonymous), URL routing to the registry, content negotiation
 * (JSON, YAML, Table, aggregated discovery), list/watch streaming, and the exec/log subresources.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { parse as parseYaml } from 'yaml';
import type { KubeObject } from '../api/types.js';
import type { Pki } from './certs.js';
import {
  AGGREGATED_V2,
  AGGREGATED_V2BETA1,
  aggregatedDiscovery,
  apiGroupDoc,
  apiGroupList,
  legacyApiVersions,
  resourceList,
  wantsAggregated,
} from './discovery.js';
import {
  ApiError,
  badRequest,
  internal,
  methodNotSupported,
  notAcceptable,
  pathNotFound,
  unauthorized,
} from './errors.js';
import { createExecWebSocketServer, rejectUpgrade, resolveContainer, serveExecWebSocket } from './exec.js';
import { type Controllers, startControllers } from './gc.js';
import { type NodeBackend, NodeBackendError } from './node-backend.js';
import { openApiV3Doc, openApiV3Root, SERVER_VERSION } from './openapi.js';
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from './protobuf.js';
import { type DeleteOptions, type FieldValidation, nowRFC3339, Registry, type RegistryOptions } from './registry.js';
import { apiVersionOf, findResource, RESOURCES, type ResourceInfo, resourceKey } from './resources.js';
import {
  type FieldRequirement,
  type LabelRequirement,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
} from './selectors.js';
import type { Store, StoredEvent } from './storage.js';
import { type IncludeObject, toTable } from './tables.js';
import { WatchHub } from './watch.js';

// biome-ignore lint/suspicious/noExplicitAny: request bodies are loosely-typed wire objects
type Any = any;

export interface ApiServerOptions extends RegistryOptions {
  store: Store;
  pki: Pki;
  /** Listen address; always loopback by default. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  nodeBackend?: NodeBackend;
  /** One line per request and controller error. */
  log?: (line: string) => void;
  /** How often watches that asked for bookmarks get one; default 30 s. */
  bookmarkIntervalMs?: number;
}

export interface ApiServer {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly registry: Registry;
  readonly hub: WatchHub;
  readonly controllers: Controllers;
  readonly startedAt: Date;
  setNodeBackend(backend: NodeBackend | undefined): void;
  /** Stops accepting connections and ends open watches. Does not close the store. */
  close(): Promise<void>;
}

const ANONYMOUS = new Set(['/healthz', '/readyz', '/livez', '/version']);
const TABLE_CT = 'application/json;as=Table;v=v1;g=meta.k8s.io';

interface ParsedPath {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
}

/** Parses `/api/v1/...` and `/apis/G/V/...` resource paths. */
export function parseResourcePath(pathname: string): ParsedPath | 'unknown' | undefined {
  const segs = pathname
    .split('/')
    .filter((s) => s !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 3) {
    group = '';
    version = segs[1];
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 4) {
    group = segs[1];
    version = segs[2];
    rest = segs.slice(3);
  } else return undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const info = findResource(group, version, rest[2]);
    if (info?.namespaced) {
      if (rest.length > 5) return 'unknown';
      return { info, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
  }
  const info = findResource(group, version, rest[0]);
  if (!info || rest.length > 3) return 'unknown';
  return { info, name: rest[1], subresource: rest[2] };
}

function readBody(req: IncomingMessage, limit = 8 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(
          new ApiError({
            ...badRequest('request entity too large').status,
            code: 413,
            reason: 'RequestEntityTooLarge',
          }),
        );
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function decodeBody(buf: Buffer, contentType: string | undefined): unknown {
  const ct = (contentType ?? 'application/json').split(';')[0].trim();
  if (ct === PROTOBUF_CONTENT_TYPE) {
    try {
      return decodeProtobufObject(buf);
    } catch (e) {
      throw new ApiError({
        ...badRequest('').status,
        code: 415,
        reason: 'UnsupportedMediaType',
        message: `${(e as Error).message}; send the object as JSON instead (e.g. kubectl apply -f)`,
      });
    }
  }
  const text = buf.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if (ct.includes('yaml')) return parseYaml(text);
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the object provided is unrecognized: ${(e as Error).message}`);
  }
}

function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const p = part.replace(/\s/g, '');
    return (
      p.includes('as=Table') &&
      p.includes('g=meta.k8s.io') &&
      (p.includes('v=v1;') || p.endsWith('v=v1') || p.includes('v=v1beta1'))
    );
  });
}

function acceptable(accept: string | undefined): boolean {
  if (!accept) return true;
  return accept.split(',').some((p) => {
    const t = p.split(';')[0].trim();
    return t === '*/*' || t === 'application/json' || t === 'application/*' || t === 'application/yaml' || t === '';
  });
}

function statusSuccess(info: ResourceInfo, obj: KubeObject): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name: obj.metadata.name, group: info.group || undefined, kind: info.resource, uid: obj.metadata.uid },
  };
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const log = opts.log ?? (() => {});
  const hub = new WatchHub(opts.store);
  const registry = new Registry(opts.store, hub, opts);
  let backend = opts.nodeBackend;
  const openWatches = new Set<ServerResponse>();
  const wss = createExecWebSocketServer();
  const bookmarkMs = opts.bookmarkIntervalMs ?? 30_000;
  bootstrap(registry);
  const controllers = startControllers(registry, log);

  const server: Server = createServer({
    key: opts.pki.serverKey,
    cert: opts.pki.serverCert,
    ca: [opts.pki.caCert],
    requestCert: true,
    rejectUnauthorized: false,
  });

  const authenticated = (req: IncomingMessage): boolean => (req.socket as TLSSocket).authorized === true;

  const send = (
    res: ServerResponse,
    code: number,
    body: unknown,
    contentType = 'application/json',
    warnings: string[] = [],
  ) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    const headers: Record<string, string | string[]> = {
      'Content-Type': contentType,
      'Cache-Control': 'no-cache, private',
      'Content-Length': String(Buffer.byteLength(text)),
    };
    if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
    res.writeHead(code, headers);
    res.end(text);
  };

  const sendError = (res: ServerResponse, err: unknown) => {
    const e = err instanceof ApiError ? err : internal(err instanceof Error ? err.message : String(err));
    if (!(err instanceof ApiError))
      log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    send(res, e.code, e.status);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const method = req.method ?? 'GET';

    if (
      ANONYMOUS.has(path) ||
      path.startsWith('/readyz/') ||
      path.startsWith('/livez/') ||
      path.startsWith('/healthz/')
    ) {
      if (path === '/version') return send(res, 200, SERVER_VERSION);
      if (q.has('verbose')) {
        const name = path.split('/')[1];
        return send(res, 200, `[+]ping ok\n[+]log ok\n[+]etcd ok\n${name} check passed\n`, 'text/plain; charset=utf-8');
      }
      return send(res, 200, 'ok', 'text/plain; charset=utf-8');
    }
    if (!authenticated(req)) throw unauthorized();
    const accept = req.headers.accept;

    // ---- discovery and OpenAPI ----
    if (path === '/api' || path === '/apis') {
      const agg = wantsAggregated(accept);
      if (agg) {
        const ct = agg === 'v2' ? AGGREGATED_V2 : AGGREGATED_V2BETA1;
        return send(res, 200, aggregatedDiscovery(path === '/api' ? 'api' : 'apis', agg), ct);
      }
      if (path === '/api') {
        const addr = server.address() as AddressInfo;
        return send(res, 200, legacyApiVersions(`${addr.address}:${addr.port}`));
      }
      return send(res, 200, apiGroupList());
    }
    if (path === '/openapi/v3') return send(res, 200, openApiV3Root());
    if (path.startsWith('/openapi/v3/')) {
      const doc = openApiV3Doc(path.slice('/openapi/v3/'.length));
      if (!doc) throw pathNotFound();
      return send(res, 200, doc.body);
    }
    if (path === '/openapi/v2' || path === '/swagger.json') throw pathNotFound();
    const segs = path.split('/').filter((s) => s !== '');
    if (segs[0] === 'api' && segs.length === 2) {
      const rl = resourceList('', segs[1]);
      if (!rl) throw pathNotFound();
      return send(res, 200, rl);
    }
    if (segs[0] === 'apis' && segs.length === 2) {
      const g = apiGroupDoc(segs[1]);
      if (!g) throw pathNotFound();
      return send(res, 200, g);
    }
    if (segs[0] === 'apis' && segs.length === 3) {
      const rl = resourceList(segs[1], segs[2]);
      if (!rl) throw pathNotFound();
      return send(res, 200, rl);
    }

    // ---- resources ----
    const parsed = parseResourcePath(path);
    if (!parsed || parsed === 'unknown') throw pathNotFound();
    const { info, name, subresource } = parsed;
    const ns = parsed.namespace ?? '';
    if (!acceptable(accept) && !wantsTable(accept)) throw notAcceptable();
    const dryRun = q.getAll('dryRun').includes('All');
    const fv = (q.get('fieldValidation') ?? 'Warn') as FieldValidation;
    const fieldValidation: FieldValidation = ['Ignore', 'Warn', 'Strict'].includes(fv) ? fv : 'Warn';

    if (subresource) {
      const sub = info.subresources.find((s) => s.name === subresource);
      if (!sub || !name) throw pathNotFound();
      return handleSubresource(req, res, info, ns, name, subresource, method, q, { dryRun, fieldValidation });
    }

    if (!name) {
      if (info.namespaced && parsed.namespace === undefined && method !== 'GET') throw pathNotFound();
      const nsFilter = info.namespaced && parsed.namespace !== undefined ? ns : undefined;
      if (method === 'GET') {
        const labels = q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector') ?? '') : [];
        const fields = q.get('fieldSelector')
          ? parseFieldSelector(q.get('fieldSelector') ?? '', resourceKey(info))
          : [];
        if (q.get('watch') === '1' || q.get('watch') === 'true')
          return serveWatch(req, res, info, nsFilter, labels, fields, q, accept);
        const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
        const result = registry.list(info, nsFilter, {
          labels,
          fields,
          limit,
          continue: q.get('continue') ?? undefined,
        });
        if (wantsTable(accept)) {
          return send(
            res,
            200,
            toTable(info, result.items, {
              include: (q.get('includeObject') as IncludeObject) ?? 'Metadata',
              resourceVersion: result.resourceVersion,
              continue: result.continue,
              remaining: result.remainingItemCount,
            }),
            TABLE_CT,
          );
        }
        const metadata: Record<string, unknown> = { resourceVersion: result.resourceVersion };
        if (result.continue) metadata.continue = result.continue;
        if (result.remainingItemCount !== undefined) metadata.remainingItemCount = result.remainingItemCount;
        return send(res, 200, { kind: info.listKind, apiVersion: apiVersionOf(info), metadata, items: result.items });
      }
      if (method === 'POST') {
        const body = decodeBody(await readBody(req), req.headers['content-type']);
        const r = registry.create(info, ns, body, { dryRun, fieldValidation });
        return send(res, 201, r.object, 'application/json', r.warnings);
      }
      if (method === 'DELETE') {
        if (!info.verbs.includes('deletecollection')) throw methodNotSupported(info, 'deletecollection');
        const dopts = deleteOptions(await readBody(req), q);
        const labels = q.get('labelSelector') ? parseLabelSelector(q.get('labelSelector') ?? '') : [];
        const fields = q.get('fieldSelector')
          ? parseFieldSelector(q.get('fieldSelector') ?? '', resourceKey(info))
          : [];
        const items = registry.deleteCollection(info, nsFilter, { labels, fields }, dopts);
        return send(res, 200, { kind: info.listKind, apiVersion: apiVersionOf(info), metadata: {}, items });
      }
      throw methodNotSupported(info, method.toLowerCase());
    }

    switch (method) {
      case 'GET': {
        if (q.get('watch') === '1' || q.get('watch') === 'true') {
          return serveWatch(
            req,
            res,
            info,
            info.namespaced ? ns : undefined,
            [],
            [{ field: 'metadata.name', op: '=', value: name }],
            q,
            accept,
          );
        }
        const obj = registry.get(info, ns, name);
        if (wantsTable(accept))
          return send(
            res,
            200,
            toTable(info, [obj], {
              include: (q.get('includeObject') as IncludeObject) ?? 'Metadata',
              resourceVersion: obj.metadata.resourceVersion,
            }),
            TABLE_CT,
          );
        return send(res, 200, obj);
      }
      case 'PUT': {
        const body = decodeBody(await readBody(req), req.headers['content-type']);
        const r = registry.update(info, ns, name, body, { dryRun, fieldValidation });
        return send(res, 200, r.object, 'application/json', r.warnings);
      }
      case 'PATCH': {
        const ct = req.headers['content-type'] ?? '';
        const body = decodeBody(await readBody(req), ct.includes('yaml') ? 'application/yaml' : 'application/json');
        const existed = registry.tryGet(info, ns, name) !== undefined;
        const r = registry.patch(info, ns, name, ct, body, {
          dryRun,
          fieldValidation,
          force: q.get('force') === 'true',
        });
        return send(res, existed ? 200 : 201, r.object, 'application/json', r.warnings);
      }
      case 'DELETE': {
        const dopts = deleteOptions(await readBody(req), q);
        const r = registry.delete(info, ns, name, dopts);
        if (r.gone && info.kind !== 'Pod') return send(res, 200, statusSuccess(info, r.object));
        return send(res, r.gone ? 200 : 202, r.object);
      }
    }
    throw methodNotSupported(info, method.toLowerCase());
  };

  const deleteOptions = (buf: Buffer, q: URLSearchParams): DeleteOptions => {
    const body: Any = decodeBody(buf, 'application/json') ?? {};
    const out: DeleteOptions = {};
    const policy = body.propagationPolicy ?? q.get('propagationPolicy') ?? undefined;
    if (policy !== undefined) {
      if (!['Foreground', 'Background', 'Orphan'].includes(policy))
        throw badRequest(
          `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
        );
      out.propagationPolicy = policy;
    } else if (body.orphanDependents === true || q.get('orphanDependents') === 'true') out.propagationPolicy = 'Orphan';
    const grace =
      body.gracePeriodSeconds ??
      (q.get('gracePeriodSeconds') !== null ? Number(q.get('gracePeriodSeconds')) : undefined);
    if (grace !== undefined) out.gracePeriodSeconds = grace;
    if (body.preconditions) out.preconditions = body.preconditions;
    if ((body.dryRun ?? []).includes('All') || q.getAll('dryRun').includes('All')) out.dryRun = true;
    return out;
  };

  const handleSubresource = async (
    req: IncomingMessage,
    res: ServerResponse,
    info: ResourceInfo,
    ns: string,
    name: string,
    sub: string,
    method: string,
    q: URLSearchParams,
    wopts: { dryRun: boolean; fieldValidation: FieldValidation },
  ): Promise<void> => {
    if (sub === 'status' || sub === 'finalize') {
      if (method === 'GET') return send(res, 200, registry.get(info, ns, name));
      const body = decodeBody(await readBody(req), req.headers['content-type']);
      if (method === 'PUT') {
        const r = registry.update(info, ns, name, body, { ...wopts, subresource: sub });
        return send(res, 200, r.object, 'application/json', r.warnings);
      }
      if (method === 'PATCH' && sub === 'status') {
        const r = registry.patch(info, ns, name, req.headers['content-type'] ?? '', body, {
          ...wopts,
          subresource: 'status',
        });
        return send(res, 200, r.object, 'application/json', r.warnings);
      }
      throw methodNotSupported(info, method.toLowerCase());
    }
    if (sub === 'scale') {
      const obj = registry.get(info, ns, name);
      if (method === 'GET') return send(res, 200, registry.scaleOf(info, obj));
      const body: Any = decodeBody(await readBody(req), req.headers['content-type']);
      let scale: Any;
      if (method === 'PUT') scale = body;
      else if (method === 'PATCH') {
        const { jsonMergePatch, jsonPatch } = await import('./patch.js');
        const cur = registry.scaleOf(info, obj) as Any;
        const ct = (req.headers['content-type'] ?? '').split(';')[0];
        scale = ct === 'application/json-patch+json' ? jsonPatch(cur, body) : jsonMergePatch(cur, body);
      } else throw methodNotSupported(info, method.toLowerCase());
      const r = registry.updateScale(info, ns, name, scale, wopts);
      return send(res, 200, r.object);
    }
    if (sub === 'log') {
      if (method !== 'GET') throw methodNotSupported(info, method.toLowerCase());
      const pod = registry.get(info, ns, name);
      const container = resolveContainer(pod, q.get('container'), 'log');
      if (!backend)
        throw badRequest(`container "${container}" in pod "${name}" is waiting to start: ContainerCreating`);
      let stream: import('node:stream').Readable;
      try {
        stream = await backend.logs({
          namespace: ns,
          pod: name,
          container,
          follow: q.get('follow') === 'true',
          previous: q.get('previous') === 'true',
          tailLines: q.get('tailLines') !== null ? Number(q.get('tailLines')) : undefined,
          sinceSeconds: q.get('sinceSeconds') !== null ? Number(q.get('sinceSeconds')) : undefined,
          timestamps: q.get('timestamps') === 'true',
        });
      } catch (e) {
        if (e instanceof NodeBackendError)
          throw new ApiError({
            ...badRequest(e.message).status,
            code: e.status,
            reason: e.status === 404 ? 'NotFound' : 'BadRequest',
          });
        throw e;
      }
      res.writeHead(200, {
        'Content-Type': 'text/plain',
        'Transfer-Encoding': 'chunked',
        'Cache-Control': 'no-cache, private',
      });
      stream.pipe(res);
      req.on('close', () => stream.destroy());
      return;
    }
    if (sub === 'exec' || sub === 'attach') {
      // A plain HTTP request (no upgrade) to exec/attach: what SPDY or curl would get without a node.
      const pod = registry.get(info, ns, name);
      resolveContainer(pod, q.get('container'), 'exec');
      throw badRequest('Upgrade request required');
    }
    throw pathNotFound();
  };

  const serveWatch = (
    req: IncomingMessage,
    res: ServerResponse,
    info: ResourceInfo,
    ns: string | undefined,
    labels: LabelRequirement[],
    fields: FieldRequirement[],
    q: URLSearchParams,
    accept: string | undefined,
  ) => {
    const key = resourceKey(info);
    const table = wantsTable(accept);
    const include = (q.get('includeObject') as IncludeObject) ?? 'Metadata';
    const rvParam = q.get('resourceVersion') ?? '';
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const initialEvents = q.get('sendInitialEvents') === 'true';
    const timeoutS = q.get('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : 1800;
    const matches = (o: KubeObject | undefined) =>
      o !== undefined &&
      (ns === undefined || (o.metadata.namespace ?? '') === ns) &&
      matchLabels(labels, o.metadata.labels) &&
      matchFields(fields, o);

    res.writeHead(200, {
      'Content-Type': table ? TABLE_CT : 'application/json',
      'Transfer-Encoding': 'chunked',
      'Cache-Control': 'no-cache, private',
    });
    res.flushHeaders();
    openWatches.add(res);
    let first = true;
    const write = (type: string, obj: unknown) => {
      let o = obj;
      if (table && (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED')) {
        o = toTable(info, [obj as KubeObject], { include, noHeaders: !first });
        first = false;
      }
      res.write(`${JSON.stringify({ type, object: o })}\n`);
    };
    const bookmark = (extra?: Record<string, string>) =>
      write('BOOKMARK', {
        kind: info.kind,
        apiVersion: apiVersionOf(info),
        metadata: { resourceVersion: String(registry.store.currentRV()), ...(extra ? { annotations: extra } : {}) },
      });
    const deliver = (ev: StoredEvent) => {
      if (ev.resource !== key) return;
      const now = matches(ev.object);
      if (ev.type === 'MODIFIED' && ev.prev !== undefined) {
        const before = matches(ev.prev);
        if (before && !now) return write('DELETED', ev.object);
        if (!before && now) return write('ADDED', ev.object);
      }
      if (now) write(ev.type, ev.object);
    };

    let fromRV: number;
    const current = registry.store.currentRV();
    if (rvParam === '' || rvParam === '0' || initialEvents) {
      for (const o of registry.list(info, ns, { labels, fields }).items) write('ADDED', o);
      fromRV = current;
      if (initialEvents && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else {
      fromRV = Number(rvParam);
      if (!Number.isFinite(fromRV) || fromRV > current) {
        write('ERROR', {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: `too old resource version: ${rvParam} (${current})`,
          reason: 'Expired',
          code: 410,
        });
        openWatches.delete(res);
        res.end();
        return;
      }
    }
    const sub = hub.subscribe(fromRV, deliver);
    if (!sub) {
      write('ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `too old resource version: ${fromRV} (${registry.store.oldestResumableRV() + 1})`,
        reason: 'Expired',
        code: 410,
      });
      openWatches.delete(res);
      res.end();
      return;
    }
    for (const ev of sub.replay) deliver(ev);
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      sub.cancel();
      for (const t of timers) clearTimeout(t);
      openWatches.delete(res);
      if (!res.writableEnded) res.end();
    };
    timers.push(setTimeout(finish, Math.max(1, timeoutS) * 1000));
    if (bookmarks) {
      const iv = setInterval(() => bookmark(), bookmarkMs);
      timers.push(iv as unknown as NodeJS.Timeout);
    }
    req.on('close', finish);
    res.on('close', finish);
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const t0 = Date.now();
    res.on('finish', () => log(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - t0}ms`));
    handle(req, res).catch((err) => sendError(res, err));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    try {
      if (!authenticated(req)) throw unauthorized();
      const url = new URL(req.url ?? '/', 'https://localhost');
      const parsed = parseResourcePath(url.pathname);
      if (
        !parsed ||
        parsed === 'unknown' ||
        !parsed.name ||
        (parsed.subresource !== 'exec' && parsed.subresource !== 'attach')
      )
        throw pathNotFound();
      if (parsed.info.kind !== 'Pod') throw pathNotFound();
      const pod = registry.get(parsed.info, parsed.namespace ?? '', parsed.name);
      const q = url.searchParams;
      const container = resolveContainer(pod, q.get('container'), 'exec');
      log(`${req.method} ${req.url} upgrade`);
      serveExecWebSocket(wss, req, socket, head, backend, {
        pod,
        container,
        command: parsed.subresource === 'exec' ? q.getAll('command') : [],
        stdin: q.get('stdin') === 'true' || q.get('stdin') === '1',
        tty: q.get('tty') === 'true' || q.get('tty') === '1',
      });
    } catch (err) {
      const e = err instanceof ApiError ? err : internal(String(err));
      log(`${req.method} ${req.url} upgrade ${e.code}`);
      rejectUpgrade(socket, e);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const startedAt = new Date();
  return {
    url: `https://${addr.address}:${addr.port}`,
    port: addr.port,
    store: opts.store,
    registry,
    hub,
    controllers,
    startedAt,
    setNodeBackend: (b) => {
      backend = b;
    },
    close: async () => {
      controllers.stop();
      for (const w of openWatches) w.end();
      openWatches.clear();
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** The objects a fresh cluster has: namespaces default, kube-system, kube-public, kube-node-lease, and Service kubernetes. */
function bootstrap(reg: Registry): void {
  const nsInfo = RESOURCES.find((r) => r.resource === 'namespaces')!;
  for (const name of ['default', 'kube-system', 'kube-public', 'kube-node-lease']) {
    if (!reg.tryGet(nsInfo, '', name))
      reg.create(nsInfo, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  }
  const svcInfo = RESOURCES.find((r) => r.resource === 'services')!;
  if (!reg.tryGet(svcInfo, 'default', 'kubernetes')) {
    reg.create(svcInfo, 'default', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
      spec: {
        type: 'ClusterIP',
        clusterIP: intToFirstIP(reg.serviceCIDR),
        ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
      },
    });
  }
  void nowRFC3339;
}

function intToFirstIP(cidr: string): string {
  const [ip] = cidr.split('/');
  const parts = ip.split('.').map(Number);
  parts[3] += 1;
  return parts.join('.');
}
