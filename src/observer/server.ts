/**
 * The observe API: HTTP over a unix socket under $PODWALL_HOME (mode 0600, so only root — the daemon's user — can
 * read flows). Responses are NDJSON, one `{"flow": {...}, "node_name", "time"}` per line, like `hubble observe -o json`.
 *
 *   GET /v1/flows?last=N&follow=1&filter=<json FlowFilter>   the newest N matching flows, then (follow) new ones
 *   GET /v1/status                                            {flows, total, newest, subscribers, ...node status}
 */
import { chmodSync, existsSync, lstatSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import type { FlowFilter } from './filter.js';
import { checkFilter } from './filter.js';
import type { Flow, FlowResponse } from './flow.js';
import type { FlowStore } from './store.js';

export interface ObserverServer {
  readonly socketPath: string;
  close(): Promise<void>;
}

export function toResponse(f: Flow): FlowResponse {
  return { flow: f, ...(f.node_name ? { node_name: f.node_name } : {}), time: f.time };
}

function removeStaleSocket(path: string): void {
  if (!existsSync(path)) return;
  // Only ever remove a socket at our own path, never a regular file someone put there.
  if (lstatSync(path).isSocket()) unlinkSync(path);
  else throw new Error(`${path} exists and is not a socket`);
}

export async function startObserverServer(opts: {
  socketPath: string;
  store: FlowStore;
  status?: () => Record<string, unknown>;
}): Promise<ObserverServer> {
  const { store } = opts;
  const streams = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://observer');
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (url.pathname === '/v1/status') {
      const flows = store.query({ last: 1 });
      const body = {
        flows: store.size,
        total: store.total,
        newest: flows[0]?.time,
        subscribers: store.subscribers,
        ...(opts.status?.() ?? {}),
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
      return;
    }
    if (url.pathname !== '/v1/flows') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    let filter: FlowFilter = {};
    try {
      filter = JSON.parse(url.searchParams.get('filter') ?? '{}') as FlowFilter;
    } catch {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('filter: invalid JSON\n');
      return;
    }
    const errs = checkFilter(filter);
    if (errs.length > 0) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${errs.join('\n')}\n`);
      return;
    }
    const lastParam = url.searchParams.get('last');
    const follow = url.searchParams.get('follow') === '1';
    const last = lastParam === null ? (follow ? 0 : 20) : Math.max(0, Number(lastParam) || 0);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const write = (f: Flow) => res.write(`${JSON.stringify(toResponse(f))}\n`);
    // Subscribe before reading history so nothing added in between is lost (and nothing is sent twice).
    const buffered: Flow[] = [];
    let live = false;
    const unsubscribe = follow
      ? store.subscribe(filter, (f) => {
          if (live) write(f);
          else buffered.push(f);
        })
      : undefined;
    const history = last > 0 ? store.query({ filter, last }) : [];
    for (const f of history) write(f);
    if (!unsubscribe) {
      res.end();
      return;
    }
    const seen = new Set(history.map((f) => f.uuid));
    for (const f of buffered) if (!seen.has(f.uuid)) write(f);
    live = true;
    streams.add(res);
    const done = () => {
      unsubscribe();
      streams.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  });
  removeStaleSocket(opts.socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  chmodSync(opts.socketPath, 0o600);
  return {
    socketPath: opts.socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const r of streams) r.end();
        server.close(() => {
          try {
            removeStaleSocket(opts.socketPath);
          } catch {
            // not ours any more
          }
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}

export interface FetchFlowsOptions {
  socketPath: string;
  filter?: FlowFilter;
  last?: number;
  follow?: boolean;
  onFlow(r: FlowResponse): void;
  /** Abort a follow. */
  signal?: AbortSignal;
}

/** Client side of /v1/flows: resolves when the server ends the stream (or the signal aborts a follow). */
export function fetchFlows(opts: FetchFlowsOptions): Promise<void> {
  const q = new URLSearchParams();
  if (opts.last !== undefined) q.set('last', String(opts.last));
  if (opts.follow) q.set('follow', '1');
  if (opts.filter) q.set('filter', JSON.stringify(opts.filter));
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: opts.socketPath, path: `/v1/flows?${q}` }, (res) => {
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () => reject(new Error(body.trim() || `observer answered ${res.statusCode}`)));
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i = buf.indexOf('\n');
        while (i >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line.trim()) opts.onFlow(JSON.parse(line) as FlowResponse);
          i = buf.indexOf('\n');
        }
      });
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    opts.signal?.addEventListener('abort', () => {
      req.destroy();
      resolve();
    });
  });
}

/** GET /v1/status of the observe API. */
export function fetchObserverStatus(socketPath: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath, path: '/v1/status' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Record<string, unknown>);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
  });
}
