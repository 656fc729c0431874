/**
 * What the live conformance runner needs from a cluster, as a narrow interface (`LiveApi`), and its implementation
 * over the public API (`kubeLiveApi`): CRUD through `KubeClient`, server-side validation with `dryRun=All`, and
 * `pods/exec` over the WebSocket remote-command protocol (`v5.channel.k8s.io` / `v4.channel.k8s.io`) — the path
 * `kubectl exec` takes, so a probe is exactly what a user would see. Unit tests substitute a fake.
 */
import WebSocket from 'ws';
import type { KubeObject } from '../api/types.js';
import { isNotFound, KubeApiError, type KubeClient, type ResourceRef, resourcePath } from '../kube/client.js';
import { RESOURCE_REFS } from '../kube/resources.js';

export interface ExecOutcome {
  /** The command's exit code; undefined when the exec itself failed (see `error`). */
  exitCode?: number;
  stdout: string;
  stderr: string;
  /** Exec could not run the command (API error, container not running, timeout of the exec itself). */
  error?: string;
}

export interface LiveApi {
  get(ref: ResourceRef, namespace: string | undefined, name: string): Promise<KubeObject | undefined>;
  list(ref: ResourceRef, namespace?: string, labelSelector?: string): Promise<KubeObject[]>;
  create(ref: ResourceRef, obj: KubeObject): Promise<KubeObject>;
  update(ref: ResourceRef, obj: KubeObject): Promise<KubeObject>;
  /** JSON merge patch. */
  patch(ref: ResourceRef, namespace: string | undefined, name: string, patch: unknown): Promise<KubeObject>;
  /** Deletes (grace period 0); a missing object is not an error. */
  delete(ref: ResourceRef, namespace: string | undefined, name: string): Promise<void>;
  /** Server-side validation: the texts of the rejection, empty when the object would be accepted. */
  validate(ref: ResourceRef, obj: KubeObject): Promise<string[]>;
  exec(namespace: string, pod: string, container: string, command: string[], timeoutMs: number): Promise<ExecOutcome>;
}

export const SERVICE_ACCOUNTS: ResourceRef = {
  group: '',
  version: 'v1',
  resource: 'serviceaccounts',
  namespaced: true,
};

/** The ResourceRef of a policy kind (NetworkPolicy when the kind is omitted). */
export function policyRef(kind: string | undefined): ResourceRef {
  switch (kind ?? 'NetworkPolicy') {
    case 'NetworkPolicy':
      return RESOURCE_REFS.networkpolicies;
    case 'CiliumNetworkPolicy':
      return RESOURCE_REFS.ciliumnetworkpolicies;
    case 'CiliumClusterwideNetworkPolicy':
      return RESOURCE_REFS.ciliumclusterwidenetworkpolicies;
    default:
      throw new Error(`unsupported policy kind ${kind}`);
  }
}

/** Texts of a validation rejection (422 Invalid: the message and each cause). */
function rejectionTexts(e: KubeApiError): string[] {
  const causes = ((e.status?.details as { causes?: { message?: string; field?: string }[] } | undefined)?.causes ?? [])
    .map((c) => (c.field ? `${c.field}: ${c.message ?? ''}` : (c.message ?? '')))
    .filter(Boolean);
  return [e.message, ...causes];
}

interface ExecStatus {
  status?: string;
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string }[] };
}

/** Exit code from the channel-3 Status of the remote-command protocol. */
export function exitFromStatus(s: ExecStatus): { exitCode?: number; error?: string } {
  if (s.status === 'Success') return { exitCode: 0 };
  if (s.reason === 'NonZeroExitCode') {
    const c = s.details?.causes?.find((x) => x.reason === 'ExitCode');
    const n = Number(c?.message);
    if (Number.isInteger(n)) return { exitCode: n };
  }
  return { error: s.message ?? 'exec failed' };
}

export function kubeLiveApi(client: KubeClient): LiveApi {
  const cfg = client.config;
  return {
    async get(ref, namespace, name) {
      try {
        return await client.get(ref, namespace, name);
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    async list(ref, namespace, labelSelector) {
      return (await client.listAll(ref, { namespace, labelSelector })).items;
    },
    create: (ref, obj) => client.create(ref, obj),
    update: (ref, obj) => client.update(ref, obj),
    patch: (ref, namespace, name, patch) => client.patch(ref, namespace, name, patch, 'merge'),
    async delete(ref, namespace, name) {
      try {
        await client.delete(ref, namespace, name, { gracePeriodSeconds: 0, propagationPolicy: 'Background' });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
    async validate(ref, obj) {
      try {
        await client.request('POST', `${resourcePath(ref, obj.metadata.namespace ?? client.namespace)}?dryRun=All`, {
          body: obj,
        });
        return [];
      } catch (e) {
        if (e instanceof KubeApiError && (e.code === 422 || e.code === 400)) return rejectionTexts(e);
        throw e;
      }
    },
    exec(namespace, pod, container, command, timeoutMs) {
      const q = new URLSearchParams();
      for (const c of command) q.append('command', c);
      q.set('container', container);
      q.set('stdout', 'true');
      q.set('stderr', 'true');
      const base = cfg.server.replace(/^http/, 'ws');
      const url = `${base}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(pod)}/exec?${q}`;
      return new Promise<ExecOutcome>((resolve) => {
        let stdout = '';
        let stderr = '';
        let status: { exitCode?: number; error?: string } | undefined;
        let settled = false;
        const finish = (o: ExecOutcome) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve(o);
        };
        const ws = new WebSocket(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], {
          ca: cfg.ca,
          cert: cfg.cert,
          key: cfg.key,
          rejectUnauthorized: !cfg.insecureSkipTLSVerify,
          headers: cfg.token ? { Authorization: `Bearer ${cfg.token}` } : {},
          handshakeTimeout: timeoutMs,
        });
        const timer = setTimeout(() => {
          ws.terminate();
          finish({ stdout, stderr, error: `exec timed out after ${timeoutMs} ms` });
        }, timeoutMs);
        ws.on('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (d: Buffer) => {
            body += d.toString('utf8');
          });
          res.on('end', () => {
            let msg = body.trim();
            try {
              msg = (JSON.parse(body) as { message?: string }).message ?? msg;
            } catch {
              // plain text
            }
            finish({ stdout, stderr, error: `exec: HTTP ${res.statusCode}: ${msg}` });
          });
        });
        ws.on('message', (data: Buffer) => {
          if (data.length === 0) return;
          const ch = data[0];
          const payload = data.subarray(1).toString('utf8');
          if (ch === 1) stdout += payload;
          else if (ch === 2) stderr += payload;
          else if (ch === 3 && payload) {
            try {
              status = exitFromStatus(JSON.parse(payload) as ExecStatus);
            } catch {
              status = { error: `unreadable exec status: ${payload}` };
            }
          }
        });
        ws.on('error', (e) => finish({ stdout, stderr, error: `exec: ${e.message}` }));
        ws.on('close', () =>
          finish(
            status ? { stdout, stderr, ...status } : { stdout, stderr, error: 'exec stream closed without a status' },
          ),
        );
      });
    },
  };
}
