/**
 * Test-only: an in-memory `LiveApi` whose "network" is the offline policy engine. Objects are stored as the API
 * would (namespaces get `kubernetes.io/metadata.name`, pods run at once with an IP, Services get a ClusterIP), and
 * `exec` understands the two commands the live runners send: `agnhost connect ADDR:PORT --protocol=P` and
 * `curl ... -X METHOD URL`. Knobs: enforcement lag, sabotaged flows, a missing `/agnhost`, foreign namespaces.
 */
import type { AnyPolicy, KubeObject } from '../api/types.js';
import { KubeApiError, type ResourceRef } from '../kube/client.js';
import type { ClusterInput } from '../policy/cluster.js';
import { evaluateFlow } from '../policy/evaluate.js';
import { compile } from '../policy/resolve/compile.js';
import type { Flow, Protocol } from '../policy/types.js';
import type { ExecOutcome, LiveApi } from './api.js';

// biome-ignore lint/suspicious/noExplicitAny: loosely-typed objects
type Any = any;

export interface FakeOptions {
  validate?: (o: KubeObject) => string[];
  /** The datapath sees writes only this long after they happen (eventual consistency). */
  lagMs?: number;
  /** Flows for which the fake datapath gives the wrong answer. */
  sabotage?: (f: Flow) => boolean;
  /** `/agnhost` is not executable (as on podwall's node); the built-in entry works. */
  agnhostMissing?: boolean;
  /** Exec latency. */
  execMs?: number;
}

function mergePatch(target: Any, patch: Any): Any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class FakeCluster implements LiveApi {
  readonly objects = new Map<string, KubeObject>();
  readonly execs: string[][] = [];
  private readonly history: { at: number; cluster: ClusterInput }[] = [];
  private rv = 1;
  private ipN = 10;
  private svcN = 10;

  constructor(readonly opts: FakeOptions = {}) {
    this.snapshot();
  }

  private key(ref: ResourceRef, ns: string | undefined, name: string): string {
    return `${ref.resource}/${ref.namespaced ? (ns ?? '') : ''}/${name}`;
  }

  /** Adds an object as someone else would (e.g. a foreign namespace). */
  seed(ref: ResourceRef, obj: KubeObject): void {
    this.objects.set(this.key(ref, obj.metadata.namespace, obj.metadata.name ?? ''), structuredClone(obj));
    this.snapshot();
  }

  ofKind(resource: string): KubeObject[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${resource}/`)).map(([, v]) => v);
  }

  private snapshot(): void {
    const nss = this.ofKind('namespaces');
    const pods = this.ofKind('pods') as Any[];
    this.history.push({
      at: Date.now(),
      cluster: structuredClone({
        namespaces: nss.map((n) => ({ name: n.metadata.name ?? '', labels: n.metadata.labels ?? {} })),
        pods: pods.map((p) => ({
          namespace: p.metadata.namespace,
          name: p.metadata.name,
          labels: p.metadata.labels ?? {},
          ip: p.status?.podIP ?? '',
          ...(p.spec?.serviceAccountName ? { serviceAccount: p.spec.serviceAccountName } : {}),
          ports: (p.spec?.containers ?? []).flatMap((c: Any) =>
            (c.ports ?? []).map((x: Any) => ({
              ...(x.name ? { name: x.name } : {}),
              port: x.containerPort,
              protocol: x.protocol ?? 'TCP',
            })),
          ),
        })),
        services: [],
        policies: [
          ...this.ofKind('networkpolicies'),
          ...this.ofKind('ciliumnetworkpolicies'),
          ...this.ofKind('ciliumclusterwidenetworkpolicies'),
        ] as AnyPolicy[],
      }),
    });
    if (this.history.length > 200) this.history.splice(0, this.history.length - 200);
  }

  /** The cluster the fake datapath enforces now (lagging behind the API by lagMs). */
  private enforced(): ClusterInput {
    const t = Date.now() - (this.opts.lagMs ?? 0);
    let c = this.history[0]!.cluster;
    for (const h of this.history) if (h.at <= t) c = h.cluster;
    return c;
  }

  async get(ref: ResourceRef, ns: string | undefined, name: string): Promise<KubeObject | undefined> {
    const o = this.objects.get(this.key(ref, ns, name));
    return o ? structuredClone(o) : undefined;
  }

  async list(ref: ResourceRef, ns?: string, labelSelector?: string): Promise<KubeObject[]> {
    const sel = (labelSelector ?? '')
      .split(',')
      .filter(Boolean)
      .map((s) => s.split('='));
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`${ref.resource}/${ref.namespaced && ns ? `${ns}/` : ''}`))
      .map(([, v]) => v)
      .filter((o) => sel.every(([k, v]) => o.metadata.labels?.[k!] === v))
      .map((o) => structuredClone(o));
  }

  private check(ref: ResourceRef, obj: KubeObject): void {
    if (ref.namespaced && !this.objects.has(`namespaces//${obj.metadata.namespace}`))
      throw new KubeApiError(404, 'NotFound', `namespaces "${obj.metadata.namespace}" not found`);
    const errs = this.opts.validate?.(obj) ?? [];
    if (errs.length) throw new KubeApiError(422, 'Invalid', errs.join('; '));
  }

  private admit(ref: ResourceRef, obj: KubeObject): KubeObject {
    const o: Any = structuredClone(obj);
    o.metadata.resourceVersion = String(this.rv++);
    if (ref.resource === 'namespaces')
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name };
    return o;
  }

  async create(ref: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    const o: Any = structuredClone(obj);
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = `${o.metadata.generateName}x${this.rv}`;
    const k = this.key(ref, o.metadata.namespace, o.metadata.name);
    if (this.objects.has(k)) throw new KubeApiError(409, 'AlreadyExists', `${k} already exists`);
    this.check(ref, o);
    const a: Any = this.admit(ref, o);
    if (ref.resource === 'pods') {
      a.status = {
        phase: 'Running',
        podIP: `10.244.9.${this.ipN++}`,
        containerStatuses: (a.spec.containers ?? []).map((c: Any) => ({ name: c.name, state: { running: {} } })),
      };
    }
    if (ref.resource === 'services') a.spec.clusterIP = `10.96.9.${this.svcN++}`;
    this.objects.set(k, a);
    this.snapshot();
    return structuredClone(a);
  }

  async update(ref: ResourceRef, obj: KubeObject): Promise<KubeObject> {
    const k = this.key(ref, obj.metadata.namespace, obj.metadata.name ?? '');
    const cur: Any = this.objects.get(k);
    if (!cur) throw new KubeApiError(404, 'NotFound', `${k} not found`);
    this.check(ref, obj);
    const a: Any = this.admit(ref, obj);
    if (cur.status) a.status = cur.status;
    if (cur.spec?.clusterIP) a.spec.clusterIP = cur.spec.clusterIP;
    this.objects.set(k, a);
    this.snapshot();
    return structuredClone(a);
  }

  async patch(ref: ResourceRef, ns: string | undefined, name: string, patch: unknown): Promise<KubeObject> {
    const k = this.key(ref, ns, name);
    const cur = this.objects.get(k);
    if (!cur) throw new KubeApiError(404, 'NotFound', `${k} not found`);
    return this.update(ref, mergePatch(cur, patch));
  }

  async delete(ref: ResourceRef, ns: string | undefined, name: string): Promise<void> {
    this.objects.delete(this.key(ref, ns, name));
    if (ref.resource === 'namespaces')
      for (const k of [...this.objects.keys()]) if (k.split('/')[1] === name) this.objects.delete(k);
    this.snapshot();
  }

  async validate(ref: ResourceRef, obj: KubeObject): Promise<string[]> {
    if (ref.namespaced && !this.objects.has(`namespaces//${obj.metadata.namespace}`))
      throw new KubeApiError(404, 'NotFound', `namespaces "${obj.metadata.namespace}" not found`);
    return this.opts.validate?.(obj) ?? [];
  }

  /** Service ClusterIP:port → backend pod IP and target port (first matching pod). */
  private backend(ip: string, port: number, protocol: string): { ip: string; port: number } | undefined {
    for (const s of this.ofKind('services') as Any[]) {
      if (s.spec.clusterIP !== ip) continue;
      const sp = (s.spec.ports ?? []).find((p: Any) => p.port === port && (p.protocol ?? 'TCP') === protocol);
      if (!sp) return undefined;
      const pod = (this.ofKind('pods') as Any[]).find(
        (p) =>
          p.metadata.namespace === s.metadata.namespace &&
          Object.entries(s.spec.selector ?? {}).every(([k, v]) => p.metadata.labels?.[k] === v),
      );
      return pod ? { ip: pod.status.podIP, port: Number(sp.targetPort ?? sp.port) } : undefined;
    }
    const pod = (this.ofKind('pods') as Any[]).find((p) => p.status?.podIP === ip);
    return pod ? { ip, port } : undefined;
  }

  private verdict(f: Flow): 'allowed' | 'denied-l3l4' | 'denied-l7' {
    const v = evaluateFlow(compile(this.enforced()), f).verdict;
    if (this.opts.sabotage?.(f)) return v === 'allowed' ? 'denied-l3l4' : 'allowed';
    return v;
  }

  async exec(ns: string, pod: string, container: string, command: string[]): Promise<ExecOutcome> {
    this.execs.push(command);
    if (this.opts.execMs) await sleep(this.opts.execMs);
    const p: Any = this.objects.get(`pods/${ns}/${pod}`);
    if (!p) return { stdout: '', stderr: '', error: `exec: HTTP 404: pods "${pod}" not found` };
    if (!(p.spec.containers ?? []).some((c: Any) => c.name === container))
      return { stdout: '', stderr: '', error: `exec: HTTP 400: container ${container} is not valid for pod ${pod}` };
    if (command[0] === '/agnhost' && this.opts.agnhostMissing)
      return {
        exitCode: 127,
        stdout: '',
        stderr:
          'OCI runtime exec failed: exec failed: unable to start container process: exec: "/agnhost": executable file not found in $PATH: unknown\n',
      };
    const srcIp: string = p.status.podIP;
    const ci = command.indexOf('connect');
    if (ci >= 0) {
      const [host, port] = command[ci + 1]!.split(':');
      const protocol = (command.find((a) => a.startsWith('--protocol='))?.slice(11) ?? 'tcp').toUpperCase();
      if (protocol === 'SCTP') return { exitCode: 1, stdout: '', stderr: 'OTHER: SCTP is not available\n' };
      const be = this.backend(host!, Number(port), protocol);
      if (!be) return { exitCode: 1, stdout: '', stderr: 'REFUSED\n' };
      const v = this.verdict({ srcIp, dstIp: be.ip, protocol: protocol as Protocol, dport: be.port });
      return v === 'allowed'
        ? { exitCode: 0, stdout: '', stderr: '' }
        : { exitCode: 1, stdout: '', stderr: 'TIMEOUT\n' };
    }
    if (command[0] === 'curl') {
      const url = new URL(command.at(-1)!);
      const method = command[command.indexOf('-X') + 1] ?? 'GET';
      const be = this.backend(url.hostname, Number(url.port || 80), 'TCP');
      if (!be) return { exitCode: 7, stdout: '000', stderr: '' };
      const v = this.verdict({
        srcIp,
        dstIp: be.ip,
        protocol: 'TCP',
        dport: be.port,
        http: { method, path: url.pathname + url.search, host: url.host },
      });
      if (v === 'denied-l3l4') return { exitCode: 28, stdout: '000', stderr: '' };
      return { exitCode: 0, stdout: v === 'denied-l7' ? '403' : '200', stderr: '' };
    }
    return { exitCode: 127, stdout: '', stderr: `exec: "${command[0]}": executable file not found in $PATH\n` };
  }
}
