/**
 * A small Kubernetes REST client: kubeconfig loading (inline or file certificates, bearer tokens), JSON
 * requests with `Status` errors turned into `KubeApiError`, paged lists and newline-delimited watch streams.
 * It speaks only the public API contract, so it works against podwall's control plane and a real cluster alike.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { KubeObject } from '../api/types.js';

export interface ClientConfig {
  server: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  token?: string;
  insecureSkipTLSVerify?: boolean;
  /** The context's default namespace. */
  namespace: string;
}

// biome-ignore lint/suspicious/noExplicitAny: kubeconfig YAML is loosely typed
type Any = any;

/** Reads a kubeconfig file (or text) and resolves the current (or named) context. */
export function loadKubeconfig(opts: { path?: string; text?: string; context?: string }): ClientConfig {
  const text = opts.text ?? readFileSync(opts.path ?? '', 'utf8');
  const base = opts.path ? dirname(opts.path) : process.cwd();
  const doc: Any = parseYaml(text) ?? {};
  const ctxName = opts.context ?? doc['current-context'];
  const ctx = (doc.contexts ?? []).find((c: Any) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig: context ${JSON.stringify(ctxName)} not found`);
  const cluster = (doc.clusters ?? []).find((c: Any) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig: cluster ${JSON.stringify(ctx.cluster)} not found`);
  const user = (doc.users ?? []).find((u: Any) => u.name === ctx.user)?.user ?? {};
  const file = (p: string) => readFileSync(isAbsolute(p) ? p : resolve(base, p));
  const data = (inline: string | undefined, path: string | undefined) =>
    inline ? Buffer.from(inline, 'base64') : path ? file(path) : undefined;
  return {
    server: String(cluster.server).replace(/\/+$/, ''),
    ca: data(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: data(user['client-certificate-data'], user['client-certificate']),
    key: data(user['client-key-data'], user['client-key']),
    token: user.token ?? (user.tokenFile ? file(user.tokenFile).toString('utf8').trim() : undefined),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    namespace: ctx.namespace ?? 'default',
  };
}

/** A REST resource: `{group: 'apps', version: 'v1', resource: 'deployments', namespaced: true}`. */
export interface ResourceRef {
  group: string;
  version: string;
  resource: string;
  namespaced: boolean;
}

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  if (ref.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${ref.resource}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** An error answered by the API server, carrying its `Status` (code, reason, message). */
export class KubeApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly status?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'KubeApiError';
  }
}

export function isNotFound(e: unknown): boolean {
  return e instanceof KubeApiError && e.code === 404;
}

export function isConflict(e: unknown): boolean {
  return e instanceof KubeApiError && e.code === 409;
}

export function isGone(e: unknown): boolean {
  return e instanceof KubeApiError && e.code === 410;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface ObjectList<T> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: T[];
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T> {
  type: WatchEventType;
  object: T;
}

export interface WatchHandle {
  /** Resolves when the stream ends (server timeout, abort), rejects on a connection error. */
  done: Promise<void>;
  abort(): void;
}

function query(params: Record<string, string | number | boolean | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

export class KubeClient {
  private readonly agent: Agent;
  private readonly base: URL;

  constructor(readonly config: ClientConfig) {
    this.base = new URL(config.server);
    this.agent = new Agent({
      keepAlive: true,
      ca: config.ca,
      cert: config.cert,
      key: config.key,
      rejectUnauthorized: !config.insecureSkipTLSVerify,
    });
  }

  static fromKubeconfig(path: string, context?: string): KubeClient {
    return new KubeClient(loadKubeconfig({ path, context }));
  }

  get namespace(): string {
    return this.config.namespace;
  }

  private open(
    method: string,
    path: string,
    body: string | undefined,
    contentType: string | undefined,
    accept = 'application/json',
  ): { req: ReturnType<typeof httpsRequest>; res: Promise<IncomingMessage> } {
    const headers: Record<string, string> = { Accept: accept, 'User-Agent': 'podwall/0.1' };
    if (this.config.token) headers.Authorization = `Bearer ${this.config.token}`;
    if (body !== undefined) {
      headers['Content-Type'] = contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const req = httpsRequest({
      protocol: this.base.protocol,
      hostname: this.base.hostname,
      port: this.base.port,
      path: `${this.base.pathname.replace(/\/$/, '')}${path}`,
      method,
      headers,
      agent: this.agent,
    });
    const res = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('response', resolve);
      req.on('error', reject);
    });
    req.end(body);
    return { req, res };
  }

  private static async readAll(res: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of res) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  private static toError(code: number, text: string): KubeApiError {
    try {
      const s = JSON.parse(text);
      if (s && s.kind === 'Status') return new KubeApiError(s.code ?? code, s.reason ?? '', s.message ?? text, s);
    } catch {
      // not JSON
    }
    return new KubeApiError(code, '', text.trim() || `HTTP ${code}`);
  }

  /** One request; 2xx bodies are parsed as JSON, others become KubeApiError. */
  async request<T = unknown>(
    method: string,
    path: string,
    opts: { body?: unknown; contentType?: string; accept?: string } = {},
  ): Promise<T> {
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const { res } = this.open(method, path, body, opts.contentType, opts.accept);
    const r = await res;
    const text = await KubeClient.readAll(r);
    const code = r.statusCode ?? 0;
    if (code < 200 || code > 299) throw KubeClient.toError(code, text);
    const ct = String(r.headers['content-type'] ?? '');
    return (ct.includes('json') && text ? JSON.parse(text) : text) as T;
  }

  list<T extends KubeObject>(ref: ResourceRef, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const q = query({
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      limit: opts.limit,
      continue: opts.continue,
      resourceVersion: opts.resourceVersion,
    });
    return this.request<ObjectList<T>>('GET', `${resourcePath(ref, opts.namespace)}${q}`);
  }

  /** Lists every page (following `continue`), returning all items and the first page's resourceVersion. */
  async listAll<T extends KubeObject>(ref: ResourceRef, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const pageSize = opts.limit ?? 500;
    let page = await this.list<T>(ref, { ...opts, limit: pageSize });
    const items = [...page.items];
    const rv = page.metadata.resourceVersion;
    while (page.metadata.continue) {
      page = await this.list<T>(ref, { ...opts, limit: pageSize, continue: page.metadata.continue });
      items.push(...page.items);
    }
    return { ...page, metadata: { resourceVersion: rv }, items };
  }

  get<T extends KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', resourcePath(ref, namespace, name));
  }

  create<T extends KubeObject>(ref: ResourceRef, obj: T): Promise<T> {
    return this.request<T>('POST', resourcePath(ref, obj.metadata.namespace ?? this.namespace), { body: obj });
  }

  update<T extends KubeObject>(ref: ResourceRef, obj: T, subresource?: 'status'): Promise<T> {
    return this.request<T>(
      'PUT',
      resourcePath(ref, obj.metadata.namespace ?? this.namespace, obj.metadata.name, subresource),
      {
        body: obj,
      },
    );
  }

  patch<T extends KubeObject>(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: 'merge' | 'json' | 'strategic' = 'merge',
    subresource?: 'status',
  ): Promise<T> {
    const ct = {
      merge: 'application/merge-patch+json',
      json: 'application/json-patch+json',
      strategic: 'application/strategic-merge-patch+json',
    }[type];
    return this.request<T>('PATCH', resourcePath(ref, namespace, name, subresource), { body: patch, contentType: ct });
  }

  delete(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    opts: { propagationPolicy?: 'Foreground' | 'Background' | 'Orphan'; gracePeriodSeconds?: number } = {},
  ): Promise<unknown> {
    return this.request('DELETE', resourcePath(ref, namespace, name), {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', ...opts },
    });
  }

  /**
   * Opens a watch and calls `onEvent` for each event in order. ERROR events are delivered too (an expired
   * resourceVersion arrives as ERROR with a 410 Status); an HTTP error before the stream starts rejects `done`.
   */
  watch<T>(ref: ResourceRef, opts: WatchOptions, onEvent: (ev: WatchEvent<T>) => void): WatchHandle {
    const q = query({
      watch: 1,
      resourceVersion: opts.resourceVersion,
      allowWatchBookmarks: opts.allowWatchBookmarks,
      labelSelector: opts.labelSelector,
      fieldSelector: opts.fieldSelector,
      timeoutSeconds: opts.timeoutSeconds,
    });
    const { req, res } = this.open('GET', `${resourcePath(ref, opts.namespace)}${q}`, undefined, undefined);
    let aborted = false;
    const done = (async () => {
      let r: IncomingMessage;
      try {
        r = await res;
      } catch (e) {
        if (aborted) return;
        throw e;
      }
      if ((r.statusCode ?? 0) !== 200) throw KubeClient.toError(r.statusCode ?? 0, await KubeClient.readAll(r));
      let buf = '';
      try {
        for await (const chunk of r) {
          buf += (chunk as Buffer).toString('utf8');
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
            nl = buf.indexOf('\n');
          }
        }
      } catch (e) {
        if (!aborted) throw e;
      }
    })();
    return {
      done,
      abort: () => {
        aborted = true;
        req.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
