/**
 * The live topology of a conformance case: namespaces, agnhost pods and one ClusterIP Service per pod, brought to
 * the desired state through the API and reused across cases (a pod whose spec is unchanged is kept; its labels are
 * reset). Everything created carries `podwall.io/conformance-live=true`; a namespace that exists without it is
 * someone else's and the run refuses to touch it. Policies in our namespaces (and our cluster-wide ones) are deleted
 * before every case, labels are reset to the topology's, and `teardown()` deletes our namespaces at the end.
 */
import { createHash } from 'node:crypto';
import type { Container, KubeObject } from '../api/types.js';
import { isNotFound, type ResourceRef } from '../kube/client.js';
import { RESOURCE_REFS } from '../kube/resources.js';
import { type LiveApi, policyRef, SERVICE_ACCOUNTS } from './api.js';

export const OWNER_LABEL = 'podwall.io/conformance-live';
/** Stable per-pod label the pod's Service selects, so label actions of a case never orphan the Service. */
export const POD_LABEL = 'podwall.io/conformance-pod';
const SPEC_ANNOTATION = 'podwall.io/conformance-spec';
export const AGNHOST_IMAGE = 'registry.k8s.io/e2e-test-images/agnhost:2.53';

export interface LivePod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  containers: Container[];
  serviceAccountName?: string;
}

export interface LiveServicePort {
  name?: string;
  port: number;
  targetPort: number;
  protocol: 'TCP' | 'UDP' | 'SCTP';
}

export interface LiveService {
  namespace: string;
  name: string;
  /** Pod the Service selects (through POD_LABEL); undefined: the given selector. */
  pod?: string;
  selector?: Record<string, string>;
  ports: LiveServicePort[];
}

export interface LiveTopology {
  namespaces: { name: string; labels: Record<string, string> }[];
  pods: LivePod[];
  services: LiveService[];
}

export interface LiveEnv {
  /** `ns/pod` → pod IP. */
  podIp: Map<string, string>;
  /** `ns/service` → ClusterIP. */
  serviceIp: Map<string, string>;
}

export class RefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RefusedError';
  }
}

// biome-ignore lint/suspicious/noExplicitAny: reads loosely-typed pod/service objects
type Any = any;

const POLICY_KINDS = ['NetworkPolicy', 'CiliumNetworkPolicy'] as const;

export interface TopologyOptions {
  api: LiveApi;
  log?: (line: string) => void;
  /** How long pods may take to become Running (default 180 s). */
  readyTimeoutMs?: number;
  pollMs?: number;
}

function specHash(p: LivePod): string {
  return createHash('sha256')
    .update(JSON.stringify({ c: p.containers, sa: p.serviceAccountName ?? '' }))
    .digest('hex')
    .slice(0, 16);
}

function svcHash(s: LiveService): string {
  return createHash('sha256')
    .update(JSON.stringify({ p: s.ports, pod: s.pod ?? '', sel: s.selector ?? {} }))
    .digest('hex')
    .slice(0, 16);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function sameLabels(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const x = a ?? {};
  const ka = Object.keys(x).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && x[k] === b[k]);
}

export class TopologyManager {
  private readonly api: LiveApi;
  private readonly log: (line: string) => void;
  private readonly readyTimeoutMs: number;
  private readonly pollMs: number;

  constructor(o: TopologyOptions) {
    this.api = o.api;
    this.log = o.log ?? (() => {});
    this.readyTimeoutMs = o.readyTimeoutMs ?? 180_000;
    this.pollMs = o.pollMs ?? 250;
  }

  /** Namespaces among `names` that exist and are not ours (the run must not touch them). */
  async foreignNamespaces(names: Iterable<string>): Promise<string[]> {
    const out: string[] = [];
    for (const n of new Set(names)) {
      const ns = await this.api.get(RESOURCE_REFS.namespaces, undefined, n);
      if (ns && ns.metadata.labels?.[OWNER_LABEL] !== 'true') out.push(n);
    }
    return out;
  }

  /** Throws RefusedError when any of `names` exists and is not ours. */
  async checkOwnership(names: Iterable<string>): Promise<void> {
    const foreign = await this.foreignNamespaces(names);
    if (foreign.length)
      throw new RefusedError(
        `namespace${foreign.length > 1 ? 's' : ''} ${foreign.join(', ')} already exist${foreign.length > 1 ? '' : 's'} and ` +
          `${foreign.length > 1 ? 'are' : 'is'} not podwall conformance's (no ${OWNER_LABEL}=true label): refusing to run; ` +
          'the cases select namespaces by name, so they cannot be renamed: delete them or run against another node',
      );
  }

  private async waitGone(ref: ResourceRef, namespace: string | undefined, name: string, what: string): Promise<void> {
    const end = Date.now() + this.readyTimeoutMs;
    while (await this.api.get(ref, namespace, name)) {
      if (Date.now() > end)
        throw new Error(`${what} ${namespace ? `${namespace}/` : ''}${name} is still being deleted`);
      await sleep(this.pollMs);
    }
  }

  /** Deletes every policy in our namespaces and our cluster-wide policies. */
  async clearPolicies(namespaces: string[]): Promise<void> {
    for (const ns of namespaces) {
      for (const kind of POLICY_KINDS) {
        const ref = policyRef(kind);
        let items: KubeObject[] = [];
        try {
          items = await this.api.list(ref, ns);
        } catch {
          continue; // e.g. the Cilium CRDs are not served
        }
        for (const p of items) await this.api.delete(ref, ns, p.metadata.name ?? '');
      }
    }
    try {
      const ccnp = policyRef('CiliumClusterwideNetworkPolicy');
      for (const p of await this.api.list(ccnp, undefined, `${OWNER_LABEL}=true`))
        await this.api.delete(ccnp, undefined, p.metadata.name ?? '');
    } catch {
      // not served
    }
  }

  /** Our namespaces (by label). */
  async ownedNamespaces(): Promise<string[]> {
    const items = await this.api.list(RESOURCE_REFS.namespaces, undefined, `${OWNER_LABEL}=true`);
    return items.map((n) => n.metadata.name ?? '').filter(Boolean);
  }

  /** Brings the cluster to `topo` (creating, reusing, relabelling, deleting) and waits until every pod runs. */
  async ensure(topo: LiveTopology): Promise<LiveEnv> {
    const api = this.api;
    await this.checkOwnership(topo.namespaces.map((n) => n.name));
    await this.clearPolicies(await this.ownedNamespaces());
    // Namespaces: create, or reset our existing ones' labels.
    for (const want of topo.namespaces) {
      const labels = { 'kubernetes.io/metadata.name': want.name, ...want.labels, [OWNER_LABEL]: 'true' };
      let cur = await api.get(RESOURCE_REFS.namespaces, undefined, want.name);
      if (cur && ((cur as Any).metadata.deletionTimestamp || (cur as Any).status?.phase === 'Terminating')) {
        await this.waitGone(RESOURCE_REFS.namespaces, undefined, want.name, 'namespace');
        cur = undefined;
      }
      if (!cur) {
        await api.create(RESOURCE_REFS.namespaces, {
          apiVersion: 'v1',
          kind: 'Namespace',
          metadata: { name: want.name, labels },
        } as KubeObject);
      } else if (!sameLabels(cur.metadata.labels, labels)) {
        await api.update(RESOURCE_REFS.namespaces, { ...cur, metadata: { ...cur.metadata, labels } });
      }
    }
    const wanted = new Set(topo.namespaces.map((n) => n.name));
    // Service accounts the pods name.
    for (const p of topo.pods) {
      if (!p.serviceAccountName || p.serviceAccountName === 'default') continue;
      if (await api.get(SERVICE_ACCOUNTS, p.namespace, p.serviceAccountName)) continue;
      try {
        await api.create(SERVICE_ACCOUNTS, {
          apiVersion: 'v1',
          kind: 'ServiceAccount',
          metadata: { name: p.serviceAccountName, namespace: p.namespace, labels: { [OWNER_LABEL]: 'true' } },
        } as KubeObject);
      } catch (e) {
        // An API server that does not serve ServiceAccounts (podwall's) takes pods naming any account.
        if (!isNotFound(e)) throw e;
      }
    }
    // Pods: delete what is not wanted (or changed), create what is missing, reset labels of the rest.
    const podKey = (ns: string, n: string) => `${ns}/${n}`;
    const wantPods = new Map(topo.pods.map((p) => [podKey(p.namespace, p.name), p]));
    const deleting: [string, string][] = [];
    const keep = new Map<string, KubeObject>();
    for (const ns of wanted) {
      for (const cur of await api.list(RESOURCE_REFS.pods, ns)) {
        const name = cur.metadata.name ?? '';
        const want = wantPods.get(podKey(ns, name));
        const same =
          want &&
          cur.metadata.annotations?.[SPEC_ANNOTATION] === specHash(want) &&
          !(cur as Any).metadata.deletionTimestamp &&
          ['Pending', 'Running'].includes((cur as Any).status?.phase ?? 'Pending');
        if (same) keep.set(podKey(ns, name), cur);
        else {
          await api.delete(RESOURCE_REFS.pods, ns, name);
          deleting.push([ns, name]);
        }
      }
    }
    for (const [ns, name] of deleting) await this.waitGone(RESOURCE_REFS.pods, ns, name, 'pod');
    for (const [key, p] of wantPods) {
      const labels = { ...p.labels, [OWNER_LABEL]: 'true', [POD_LABEL]: p.name };
      const cur = keep.get(key);
      if (cur) {
        if (!sameLabels(cur.metadata.labels, labels))
          await api.update(RESOURCE_REFS.pods, { ...cur, metadata: { ...cur.metadata, labels } });
        continue;
      }
      await api.create(RESOURCE_REFS.pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: p.name,
          namespace: p.namespace,
          labels,
          annotations: { [SPEC_ANNOTATION]: specHash(p) },
        },
        spec: {
          containers: p.containers,
          terminationGracePeriodSeconds: 0,
          ...(p.serviceAccountName ? { serviceAccountName: p.serviceAccountName } : {}),
        },
      } as KubeObject);
    }
    // Services.
    const wantSvcs = new Map(topo.services.map((s) => [podKey(s.namespace, s.name), s]));
    for (const ns of wanted) {
      for (const cur of await api.list(RESOURCE_REFS.services, ns)) {
        const name = cur.metadata.name ?? '';
        const want = wantSvcs.get(podKey(ns, name));
        if (want && cur.metadata.annotations?.[SPEC_ANNOTATION] === svcHash(want)) wantSvcs.delete(podKey(ns, name));
        else if (cur.metadata.labels?.[OWNER_LABEL] === 'true') await api.delete(RESOURCE_REFS.services, ns, name);
      }
    }
    for (const s of wantSvcs.values()) {
      await this.waitGone(RESOURCE_REFS.services, s.namespace, s.name, 'service');
      await api.create(RESOURCE_REFS.services, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: {
          name: s.name,
          namespace: s.namespace,
          labels: { [OWNER_LABEL]: 'true' },
          annotations: { [SPEC_ANNOTATION]: svcHash(s) },
        },
        spec: {
          type: 'ClusterIP',
          selector: s.pod ? { [POD_LABEL]: s.pod } : (s.selector ?? {}),
          ports: s.ports.map((p) => ({
            ...(p.name ? { name: p.name } : {}),
            port: p.port,
            targetPort: p.targetPort,
            protocol: p.protocol,
          })),
        },
      } as KubeObject);
    }
    return this.waitReady(topo);
  }

  /** Waits until every pod of `topo` is Running with an IP and every Service has a ClusterIP. */
  async waitReady(topo: LiveTopology): Promise<LiveEnv> {
    const end = Date.now() + this.readyTimeoutMs;
    const podIp = new Map<string, string>();
    const serviceIp = new Map<string, string>();
    let last = '';
    for (;;) {
      const missing: string[] = [];
      for (const p of topo.pods) {
        const key = `${p.namespace}/${p.name}`;
        if (podIp.has(key)) continue;
        const cur = (await this.api.get(RESOURCE_REFS.pods, p.namespace, p.name)) as Any;
        const ip = cur?.status?.podIP;
        const allRunning = (cur?.status?.containerStatuses ?? []).every((c: Any) => c.state?.running);
        if (cur?.status?.phase === 'Running' && ip && allRunning) podIp.set(key, ip);
        else {
          const waiting = (cur?.status?.containerStatuses ?? [])
            .map((c: Any) => c.state?.waiting?.reason ?? c.state?.terminated?.reason)
            .filter(Boolean);
          missing.push(
            `${key} ${cur?.status?.phase ?? 'absent'}${waiting.length ? ` (${[...new Set(waiting)]})` : ''}`,
          );
        }
      }
      for (const s of topo.services) {
        const key = `${s.namespace}/${s.name}`;
        if (serviceIp.has(key)) continue;
        const cur = (await this.api.get(RESOURCE_REFS.services, s.namespace, s.name)) as Any;
        const ip = cur?.spec?.clusterIP;
        if (ip && ip !== 'None') serviceIp.set(key, ip);
        else missing.push(`service ${key}`);
      }
      if (missing.length === 0) return { podIp, serviceIp };
      const now = missing.join(', ');
      if (now !== last) this.log(`waiting for ${now}`);
      last = now;
      if (Date.now() > end)
        throw new Error(`not ready after ${Math.round(this.readyTimeoutMs / 1000)} s: ${missing.join(', ')}`);
      await sleep(this.pollMs);
    }
  }

  /** Deletes our namespaces (and with them everything in them) and our cluster-wide policies; waits for them. */
  async teardown(): Promise<string[]> {
    const leftovers: string[] = [];
    const owned = await this.ownedNamespaces();
    await this.clearPolicies([]);
    for (const ns of owned) await this.api.delete(RESOURCE_REFS.namespaces, undefined, ns);
    for (const ns of owned) {
      try {
        await this.waitGone(RESOURCE_REFS.namespaces, undefined, ns, 'namespace');
      } catch (e) {
        leftovers.push((e as Error).message);
      }
    }
    return leftovers;
  }
}

/** The agnhost container serving one model container's ports (upstream kubemanager's choice of subcommand). */
export function agnhostContainer(
  c: { name: string; ports?: { name?: string; containerPort: number; protocol?: string }[] },
  image = AGNHOST_IMAGE,
): Container {
  const ports = (c.ports ?? []).map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    containerPort: p.containerPort,
    protocol: (p.protocol ?? 'TCP').toUpperCase(),
  }));
  const tcp = ports.filter((p) => p.protocol === 'TCP');
  const udp = ports.filter((p) => p.protocol === 'UDP');
  let args: string[];
  let env: { name: string; value: string }[] | undefined;
  if (tcp.length === 1 && udp.length === 0)
    args = ['serve-hostname', '--tcp', '--http=false', '--port', String(tcp[0]!.containerPort)];
  else if (udp.length === 1 && tcp.length === 0)
    args = ['serve-hostname', '--udp', '--http=false', '--port', String(udp[0]!.containerPort)];
  else if (tcp.length > 0) {
    // Several TCP ports: porter serves HTTP on each (a TCP connect succeeds on all of them).
    args = ['porter'];
    env = tcp.map((p) => ({ name: `SERVE_PORT_${p.containerPort}`, value: 'foo' }));
  } else {
    // No ports, or SCTP only (this runtime cannot serve SCTP): keep the container (and its named ports) alive.
    args = ['pause'];
  }
  return {
    name: c.name,
    image,
    args,
    ...(env ? { env } : {}),
    ...(ports.length ? { ports } : {}),
  } as Container;
}
