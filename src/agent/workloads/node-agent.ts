/**
 * The node: what the scheduler and the kubelet do for a single-machine cluster. It registers a Node object
 * (Ready, addresses, capacity, nodeInfo; heartbeats), binds pending pods to itself, runs the pods bound to it
 * through the PodRuntime (pod CIDR, cluster DNS, injected service environment), writes each pod's status from
 * the runtime's status events (coalesced, one status write in flight per pod), terminates pods gracefully when
 * they get a deletionTimestamp (SIGTERM, grace period, SIGKILL, then removes the object), and after a restart
 * or a kill -9 re-adopts its pods (same netns and IP) and removes orphans. It also serves `kubectl exec/logs`
 * (the apiserver's NodeBackend) and relays the pod-reachable address of the `kubernetes` Service to the API.
 */

import { readFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { cpus, networkInterfaces, arch as osArch, release, totalmem } from 'node:os';
import type { KubeObject, Pod, Service } from '../../api/types.js';
import { SERVER_VERSION } from '../../apiserver/openapi.js';
import { isNotFound, KubeApiError, type KubeClient, resourcePath } from '../../kube/client.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { gatewayOf } from '../../runtime/cni.js';
import { podRuntimeNodeBackend } from '../../runtime/node-backend.js';
import { PodRuntime } from '../../runtime/pod-runtime.js';
import { type PodStatusEvent, type RunPodSpec, RuntimeError } from '../../runtime/types.js';
import { type NodeConfig, resolveNodeConfig, writeNodeRecord } from './config.js';
import { type EventRecorder, eventRecorder } from './events.js';
import { type SharedInformer, sharedInformer } from './informers.js';
import { canonicalJson, isTerminating, now } from './objects.js';
import { podStatusFromRuntime, runPodSpec } from './pod-status.js';
import { podServiceEnv } from './service-env.js';
import type { WorkloadComponent, WorkloadContext } from './types.js';
import { type SyncResult, WorkQueue } from './workqueue.js';

export const PODWALL_RUNTIME_VERSION = 'podwall://0.1.0';

/** The host's first non-loopback IPv4 address that podwall did not create, or 127.0.0.1. */
export function primaryHostIP(): string {
  const ifs = networkInterfaces();
  for (const [name, addrs] of Object.entries(ifs)) {
    if (name === 'lo' || name.startsWith('pw-') || name.startsWith('veth')) continue;
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

function osImage(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

function readId(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/**
 * Forwards TCP from `<gateway>:<port>` (an address pods reach: the ptp gateway on every pod's host veth) to the
 * API server on loopback, so that the `kubernetes` Service's endpoint answers. The gateway address exists only
 * while at least one pod runs, so listening is retried whenever a pod starts.
 */
export class ApiRelay {
  private server?: Server;
  private listening = false;
  private trying?: Promise<void>;

  constructor(
    readonly listenHost: string,
    readonly listenPort: number,
    private readonly target: { host: string; port: number },
  ) {}

  get active(): boolean {
    return this.listening;
  }

  tryListen(): Promise<void> {
    if (this.listening) return Promise.resolve();
    this.trying ??= new Promise<void>((resolve) => {
      const s = createServer((c) => {
        const up = createConnection(this.target.port, this.target.host);
        c.pipe(up).pipe(c);
        const end = () => {
          c.destroy();
          up.destroy();
        };
        c.on('error', end);
        up.on('error', end);
      });
      s.once('error', () => {
        s.close();
        resolve();
      });
      s.listen(this.listenPort, this.listenHost, () => {
        this.server = s;
        this.listening = true;
        resolve();
      });
    }).finally(() => {
      this.trying = undefined;
    });
    return this.trying;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    this.listening = false;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

interface Tracked {
  pod: Pod;
  /** The object is gone from the API. */
  deleted: boolean;
}

export interface NodeAgentOptions {
  config?: Partial<NodeConfig>;
  /** Relay the `kubernetes` Service endpoint (gateway:apiPort) to the API server. Default true. */
  apiRelay?: boolean;
}

export class NodeAgent implements WorkloadComponent {
  readonly name = 'node';
  /** The apiserver keeps deleted pods bound to this node Terminating until the node has stopped them. */
  readonly finalizesPods = true;
  config!: NodeConfig;
  runtime?: PodRuntime;
  hostIP = '127.0.0.1';
  relay?: ApiRelay;
  private client!: KubeClient;
  private log: (l: string) => void = () => {};
  private events!: EventRecorder;
  private pods!: SharedInformer<Pod>;
  private services!: SharedInformer<Service>;
  private queue!: WorkQueue;
  private readonly tracked = new Map<string, Tracked>();
  private readonly terminating = new Map<string, Promise<void>>();
  private status_!: StatusWriter;
  private heartbeat?: NodeJS.Timeout;
  private bindingUnsupported = false;
  private ctx!: WorkloadContext;
  private started = false;

  constructor(private readonly opts: NodeAgentOptions = {}) {}

  async start(ctx: WorkloadContext): Promise<void> {
    this.config = resolveNodeConfig(ctx.home, this.opts.config);
    this.ctx = ctx;
    this.client = ctx.client;
    this.log = (l) => ctx.log(`node: ${l}`);
    const cfg = this.config;
    this.hostIP = primaryHostIP();
    this.events = eventRecorder(ctx.client, 'kubelet', cfg.nodeName);
    await writeNodeRecord(ctx.home, { nodeName: cfg.nodeName, podCIDR: cfg.podCIDR, netnsPrefix: cfg.netnsPrefix });
    const rt = await PodRuntime.open({
      home: ctx.home,
      podCIDR: cfg.podCIDR,
      podRoutes: cfg.podRoutes,
      clusterDNS: [cfg.clusterDNS],
      clusterDomain: cfg.clusterDomain,
      netnsPrefix: cfg.netnsPrefix,
      programDir: cfg.programDir,
      backoff: cfg.backoff,
    });
    this.runtime = rt;
    this.status_ = new StatusWriter(ctx.client, this.hostIP, cfg.statusFlushMs, (l) => this.log(l));
    rt.on('podStatus', (ev: PodStatusEvent) => {
      if (this.tracked.get(ev.uid)?.deleted !== true) this.status_.push(ev);
    });
    await this.registerNode();
    ctx.setNodeBackend(podRuntimeNodeBackend(rt));
    if (this.opts.apiRelay ?? true) {
      const u = new URL(ctx.client.config.server);
      const host = u.hostname.replace(/^\[|\]$/g, '');
      const port = Number(u.port || 443);
      this.relay = new ApiRelay(gatewayOf(cfg.podCIDR), port, { host, port });
    }
    const onError = (e: unknown) => this.log(`watch: ${(e as Error).message}`);
    this.pods = sharedInformer<Pod>(ctx.client, RESOURCE_REFS.pods, onError);
    this.services = sharedInformer<Service>(ctx.client, RESOURCE_REFS.services, onError);
    await Promise.all([this.pods.informer.waitForSync(), this.services.informer.waitForSync()]);
    await this.reconcile();
    this.queue = new WorkQueue((uid) => this.syncPod(uid), {
      concurrency: cfg.podWorkers,
      baseRetryMs: 250,
      maxRetryMs: 10_000,
      onError: (uid, e) => {
        const t = this.tracked.get(uid);
        this.log(`pod ${t ? `${t.pod.metadata.namespace}/${t.pod.metadata.name}` : uid}: ${(e as Error).message}`);
      },
    });
    this.pods.on({
      onAdd: (p) => this.observe(p, false),
      onUpdate: (_, p) => this.observe(p, false),
      onDelete: (p) => this.observe(p, true),
    });
    this.heartbeat = setInterval(() => void this.beat(), cfg.heartbeatMs);
    this.heartbeat.unref();
    void this.relay?.tryListen();
    this.started = true;
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.queue?.stop();
    await this.pods?.release();
    await this.services?.release();
    await Promise.allSettled([...this.terminating.values()]);
    await this.status_?.drain();
    this.ctx?.setNodeBackend(undefined);
    await this.relay?.close();
    // Pods keep running for the next daemon (`podwall down` removes them through the host cleaner).
    await this.runtime?.close();
    this.started = false;
  }

  status() {
    const n = this.runtime?.list().length ?? 0;
    return {
      ok: this.started,
      message: `${this.config?.nodeName}: ${n} pod${n === 1 ? '' : 's'}, pod CIDR ${this.config?.podCIDR}`,
    };
  }

  /** Resolves when no pod is queued, being started or terminating (tests). */
  async idle(): Promise<void> {
    await this.queue.idle();
    await Promise.allSettled([...this.terminating.values()]);
    await this.status_.drain();
  }

  // ---- node object ----

  private nodeConditions(t: string) {
    const c = (type: string, status: string, reason: string, message: string) => ({
      type,
      status,
      lastHeartbeatTime: t,
      lastTransitionTime: this.startedAt,
      reason,
      message,
    });
    return [
      c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
      c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
      c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
      c('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
    ];
  }

  private readonly startedAt = now();

  private async registerNode(): Promise<void> {
    const cfg = this.config;
    const t = now();
    const a = osArch() === 'x64' ? 'amd64' : osArch() === 'arm64' ? 'arm64' : osArch();
    const capacity = {
      cpu: String(cpus().length),
      memory: `${Math.floor(totalmem() / 1024)}Ki`,
      pods: '110',
      'ephemeral-storage': '0',
    };
    const node = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: cfg.nodeName,
        labels: {
          'beta.kubernetes.io/arch': a,
          'beta.kubernetes.io/os': 'linux',
          'kubernetes.io/arch': a,
          'kubernetes.io/hostname': cfg.nodeName,
          'kubernetes.io/os': 'linux',
          'node-role.kubernetes.io/control-plane': 'true',
        },
        annotations: { 'podwall.io/pod-netns-prefix': cfg.netnsPrefix },
      },
      spec: { podCIDR: cfg.podCIDR, podCIDRs: [cfg.podCIDR] },
      status: {
        capacity,
        allocatable: capacity,
        conditions: this.nodeConditions(t),
        addresses: [
          { type: 'InternalIP', address: this.hostIP },
          { type: 'Hostname', address: cfg.nodeName },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
        nodeInfo: {
          machineID: readId('/etc/machine-id'),
          systemUUID: readId('/sys/class/dmi/id/product_uuid'),
          bootID: readId('/proc/sys/kernel/random/boot_id'),
          kernelVersion: release(),
          osImage: osImage(),
          containerRuntimeVersion: PODWALL_RUNTIME_VERSION,
          kubeletVersion: SERVER_VERSION.gitVersion,
          kubeProxyVersion: SERVER_VERSION.gitVersion,
          operatingSystem: 'linux',
          architecture: a,
        },
      },
    };
    try {
      await this.client.create(RESOURCE_REFS.nodes, node as unknown as KubeObject);
      this.log(`registered node ${cfg.nodeName}`);
    } catch (e) {
      if (!(e instanceof KubeApiError && e.code === 409)) throw e;
      await this.client.patch(RESOURCE_REFS.nodes, undefined, cfg.nodeName, {
        metadata: { labels: node.metadata.labels, annotations: node.metadata.annotations },
        spec: node.spec,
      });
      await this.client.patch(RESOURCE_REFS.nodes, undefined, cfg.nodeName, { status: node.status }, 'merge', 'status');
    }
  }

  private async beat(): Promise<void> {
    try {
      await this.client.patch(
        RESOURCE_REFS.nodes,
        undefined,
        this.config.nodeName,
        { status: { conditions: this.nodeConditions(now()) } },
        'merge',
        'status',
      );
    } catch (e) {
      this.log(`heartbeat: ${(e as Error).message}`);
    }
  }

  // ---- pods ----

  private mine(p: Pod): boolean {
    return p.spec?.nodeName === this.config.nodeName;
  }

  private schedulable(p: Pod): boolean {
    const sched = (p.spec as { schedulerName?: string }).schedulerName;
    return !p.spec?.nodeName && (sched === undefined || sched === 'default-scheduler') && !isTerminating(p);
  }

  private observe(p: Pod, deleted: boolean): void {
    const uid = p.metadata.uid;
    if (!uid) return;
    if (!deleted && !this.mine(p) && !this.schedulable(p)) return;
    if (deleted && !this.tracked.has(uid) && !this.mine(p)) return;
    this.tracked.set(uid, { pod: p, deleted });
    this.queue.add(uid);
  }

  private async reconcile(): Promise<void> {
    const rt = this.runtime!;
    const known: RunPodSpec[] = [];
    for (const p of this.pods.informer.list()) {
      const phase = p.status?.phase;
      if (!this.mine(p) || phase === 'Succeeded' || phase === 'Failed') continue;
      known.push(this.specFor(p));
    }
    const r = await rt.reconcile(known);
    const parts = [
      r.adopted.length && `adopted ${r.adopted.length}`,
      r.recreated.length && `recreated ${r.recreated.length}`,
      r.removed.length && `removed ${r.removed.length} orphan pod(s)`,
      r.strayNetnsRemoved.length && `removed ${r.strayNetnsRemoved.length} stray netns`,
    ].filter(Boolean);
    if (parts.length) this.log(`reconciled runtime: ${parts.join(', ')}`);
    for (const msg of r.problems) this.log(`reconcile: ${msg}`);
  }

  private specFor(p: Pod): RunPodSpec {
    const env = podServiceEnv(
      p.metadata.namespace ?? 'default',
      this.services.informer.list(),
      (p.spec as { enableServiceLinks?: boolean }).enableServiceLinks !== false,
    );
    return runPodSpec(p, env, { nodeName: this.config.nodeName });
  }

  private async syncPod(uid: string): Promise<SyncResult> {
    const t = this.tracked.get(uid);
    if (!t) return;
    const rt = this.runtime!;
    const p = t.pod;
    const ref = `${p.metadata.namespace}/${p.metadata.name}`;
    if (t.deleted) {
      // The object is gone (force deletion, or our own final delete): stop what is left at once.
      if (this.terminating.has(uid)) return { requeueAfterMs: 100 };
      this.tracked.delete(uid);
      this.status_.drop(uid);
      if (rt.status(uid)) await rt.removePod(uid, { gracePeriodSeconds: 0 });
      return;
    }
    if (!p.spec.nodeName) {
      await this.bind(p);
      return;
    }
    if (!this.mine(p)) return;
    if (isTerminating(p)) {
      this.terminate(uid, p);
      return;
    }
    const phase = p.status?.phase;
    if (rt.status(uid) || phase === 'Succeeded' || phase === 'Failed') return;
    try {
      await rt.runPod(this.specFor(p));
    } catch (e) {
      if (e instanceof RuntimeError && e.code === 'Invalid' && e.message.includes('already runs')) {
        // The previous pod of this name is still terminating.
        return { requeueAfterMs: 200 };
      }
      const msg = (e as Error).message;
      this.events.event(p, 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${msg}`);
      throw new Error(`starting ${ref}: ${msg}`);
    }
    void this.relay?.tryListen();
    return;
  }

  /** Graceful termination runs outside the worker pool: a 30 s grace period must not hold a worker. */
  private terminate(uid: string, p: Pod): void {
    if (this.terminating.has(uid)) return;
    const grace =
      (p.metadata.deletionGracePeriodSeconds as number | undefined) ?? p.spec.terminationGracePeriodSeconds ?? 30;
    const job = (async () => {
      const t0 = Date.now();
      try {
        if (this.runtime?.status(uid)) await this.runtime.removePod(uid, { gracePeriodSeconds: grace });
        this.log(`stopped pod ${p.metadata.namespace}/${p.metadata.name} (grace ${grace}s) in ${Date.now() - t0} ms`);
        await this.status_.flush(uid);
        this.status_.drop(uid);
        await this.client.request('DELETE', resourcePath(RESOURCE_REFS.pods, p.metadata.namespace, p.metadata.name), {
          body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0, preconditions: { uid } },
        });
      } catch (e) {
        if (!isNotFound(e) && !(e instanceof KubeApiError && e.code === 409)) {
          this.log(`terminating ${p.metadata.namespace}/${p.metadata.name}: ${(e as Error).message}`);
          this.terminating.delete(uid);
          this.queue.addAfter(uid, 1000);
          return;
        }
      }
      this.terminating.delete(uid);
    })();
    this.terminating.set(uid, job);
  }

  /** Binds a pending pod to this node (pods/binding; podwall's API takes a spec.nodeName patch instead). */
  private async bind(p: Pod): Promise<void> {
    const ns = p.metadata.namespace ?? 'default';
    const name = p.metadata.name ?? '';
    try {
      if (!this.bindingUnsupported) {
        try {
          await this.client.request('POST', `${resourcePath(RESOURCE_REFS.pods, ns, name)}/binding`, {
            body: {
              apiVersion: 'v1',
              kind: 'Binding',
              metadata: { name, namespace: ns, uid: p.metadata.uid },
              target: { apiVersion: 'v1', kind: 'Node', name: this.config.nodeName },
            },
          });
          return;
        } catch (e) {
          if (!(e instanceof KubeApiError && (e.code === 404 || e.code === 405))) throw e;
        }
      }
      await this.client.patch(RESOURCE_REFS.pods, ns, name, {
        metadata: { uid: p.metadata.uid },
        spec: { nodeName: this.config.nodeName },
      });
      this.bindingUnsupported = true;
    } catch (e) {
      if (isNotFound(e) || (e instanceof KubeApiError && e.code === 409)) return;
      throw e;
    }
  }
}

/**
 * Pod status writes: runtime events for a pod are collected for `flushMs` and written as one merge patch of the
 * status subresource; at most one write per pod is in flight, and a write identical to the last is skipped.
 */
class StatusWriter {
  private readonly pending = new Map<string, PodStatusEvent>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly last = new Map<string, string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly client: KubeClient,
    private readonly hostIP: string,
    private readonly flushMs: number,
    private readonly log: (l: string) => void,
  ) {}

  push(ev: PodStatusEvent): void {
    this.pending.set(ev.uid, ev);
    this.schedule();
  }

  drop(uid: string): void {
    this.pending.delete(uid);
    this.last.delete(uid);
  }

  /** Writes what is pending for `uid` now and waits for it. */
  async flush(uid: string): Promise<void> {
    await this.inflight.get(uid);
    if (this.pending.has(uid)) this.write(uid);
    await this.inflight.get(uid);
  }

  async drain(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (const uid of [...this.pending.keys()]) if (!this.inflight.has(uid)) this.write(uid);
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight.values()]);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      for (const uid of [...this.pending.keys()]) if (!this.inflight.has(uid)) this.write(uid);
    }, this.flushMs);
  }

  private write(uid: string): void {
    const ev = this.pending.get(uid);
    if (!ev) return;
    this.pending.delete(uid);
    const status = podStatusFromRuntime(ev.status, this.hostIP);
    const text = canonicalJson(status);
    if (this.last.get(uid) === text) return;
    const p = this.client
      .patch(RESOURCE_REFS.pods, ev.namespace, ev.name, { metadata: { uid }, status }, 'merge', 'status')
      .then(
        () => {
          this.last.set(uid, text);
        },
        (e: unknown) => {
          if (isNotFound(e) || (e instanceof KubeApiError && e.code === 409)) return;
          this.log(`status of ${ev.namespace}/${ev.name}: ${(e as Error).message}`);
          if (!this.pending.has(uid)) this.pending.set(uid, ev);
        },
      )
      .finally(() => {
        this.inflight.delete(uid);
        if (this.pending.has(uid)) this.schedule();
      });
    this.inflight.set(uid, p);
  }
}
