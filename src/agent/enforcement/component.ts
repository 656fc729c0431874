/**
 * The enforcement component: watches namespaces, pods, services, EndpointSlices and the three policy kinds through
 * informers (the same client path as against a real cluster), compiles them with ONE long-lived identity allocator
 * (identity numbers stay stable across recompiles), renders the node's DesiredState and applies it through the
 * datapath driver (nftables table `podwall`, or the eBPF programs with `--datapath ebpf`). It also runs the
 * transparent L7 proxy on the proxy port, backed by the compiled state, reads the kernel's verdicts (NFLOG, or the
 * eBPF ring buffer) and turns them and the proxy's HTTP events into Hubble-style flow records, kept in a bounded store and served on $PODWALL_HOME/run/observer.sock.
 *
 * Updates are coalesced: the first change after an apply arms a short timer (default 5 ms, never re-armed by later
 * changes, so a steady stream of events cannot starve it); every change that arrives meanwhile is folded into the
 * same compile. Applies never overlap. The datapath is created lazily: nothing is installed on the host until the
 * node has a pod with an IP.
 */
import { join } from 'node:path';
import type { AnyPolicy, KubeObject, Namespace, Pod, Service } from '../../api/types.js';
import { createEbpfDriver, type EbpfDriver } from '../../datapath/ebpf/ebpf-driver.js';
import { ebpfUnavailable } from '../../datapath/ebpf/preflight.js';
import { createNftDriver, type NftDriver } from '../../datapath/nftables/nft-driver.js';
import type { ApplyStats, DesiredState, Driver } from '../../datapath/types.js';
import { IdentityAllocator } from '../../identity/allocator.js';
import type { KubeClient } from '../../kube/client.js';
import { Informer } from '../../kube/informer.js';
import { RESOURCE_REFS } from '../../kube/resources.js';
import { flowsFromBpfEvent } from '../../observer/bpf-verdict.js';
import { type AttributionSource, flowsFromHttp, flowsFromNflog, type PolicySnapshot } from '../../observer/build.js';
import { type NflogReader, openNflog } from '../../observer/nflog.js';
import { type ObserverServer, startObserverServer } from '../../observer/server.js';
import { FlowStore } from '../../observer/store.js';
import type { ClusterInput } from '../../policy/cluster.js';
import { type CompiledCluster, compile } from '../../policy/resolve/compile.js';
import { type ProxyServer, startProxy } from '../../proxy/server.js';
import {
  cleanDatapath,
  type DatapathRecord,
  readDatapathRecord,
  removeDatapathRecord,
  writeDatapathRecord,
} from './cleaner.js';
import {
  desiredState,
  type EndpointSlice,
  localEndpoints,
  type NodeObject,
  namespaceInputs,
  nodeHostIps,
  podInputs,
  serviceInputs,
  serviceStates,
  slicesByService,
} from './inputs.js';
import { compiledL7Source } from './l7-source.js';
import { PolicyBook } from './policies.js';
import { type EnforcementSettings, settingsForHome } from './settings.js';

/** What the component needs from the daemon (structurally the daemon's ComponentContext). */
export interface EnforcementContext {
  home: string;
  client: KubeClient;
  log(line: string): void;
}

export interface EnforcementOptions {
  /** Override the per-home names (tests: unique table, group, routing). */
  settings?: Partial<EnforcementSettings>;
  /** Only pods on this node are endpoints; default $PODWALL_NODE_NAME, unset = every pod (standalone). */
  nodeName?: string;
  /**
   * The node's addresses (reserved:host). Unset: from the Node object(s) — the pod gateway of each `spec.podCIDRs`
   * (CNI ptp/host-local give every host veth the subnet's first address) and the InternalIP addresses.
   */
  hostIps?: string[];
  /** Coalescing delay, default 5 ms (applies never overlap, so changes arriving during an apply are folded too). */
  debounceMs?: number;
  /** Datapath driver; default the nftables driver. Tests inject a FakeDriver. */
  driver?: Driver;
  /** Start the L7 proxy (default true). */
  proxy?: boolean;
  /** Read NFLOG (default true). */
  nflog?: boolean;
  /** Serve the observe API on $home/run/observer.sock (default true). */
  observerSocket?: boolean;
  /**
   * Remove the table/routing when stopped. Default false: like Cilium's datapath, enforcement (and service
   * translation) stays in the kernel while the daemon restarts — the node's pods keep running too — and
   * `podwall down` removes it through the host cleaner (cleaner.ts).
   */
  teardownOnStop?: boolean;
  flowRetentionMs?: number;
  maxFlows?: number;
  /** How long to wait for the Cilium policy kinds to list (they may not exist on a real cluster). Default 5 s. */
  optionalSyncTimeoutMs?: number;
}

export interface AppliedEvent {
  revision: number;
  /** performance.now() of the earliest change folded into this apply. */
  changeAt: number;
  /** performance.now() when the datapath finished. */
  appliedAt: number;
  compileMs: number;
  applyMs: number;
  /** The kernel update inside applyMs (nftables transaction, eBPF map writes), without render/diff. */
  kernelMs?: number;
  /** eBPF datapath: attaching/detaching programs for endpoints that appeared or went (inside applyMs too). */
  attachMs?: number;
  stats?: ApplyStats;
  endpoints: number;
}

const SNAPSHOTS_KEPT = 8;

export class EnforcementComponent {
  readonly name = 'enforcement';
  readonly store: FlowStore;
  private ctx?: EnforcementContext;
  private settings!: EnforcementSettings;
  private driver?: Driver;
  private nft?: NftDriver;
  private ebpf?: EbpfDriver;
  private readonly allocator = new IdentityAllocator();
  private book!: PolicyBook;
  private informers: Informer<KubeObject>[] = [];
  private inf!: {
    namespaces: Informer<Namespace>;
    pods: Informer<Pod>;
    services: Informer<Service>;
    endpointslices: Informer<EndpointSlice>;
    nodes: Informer<NodeObject>;
  };
  private timer?: NodeJS.Timeout;
  private running = false;
  private pending = false;
  private changeAt?: number;
  private ready = false;
  private stopped = false;
  private applied = false;
  /** A previous run left its datapath in place (restart): bring it up to date even with no endpoints. */
  private inherited = false;
  private revision = 0;
  private snaps: PolicySnapshot[] = [];
  private lastState?: DesiredState;
  private lastInput?: ClusterInput;
  private lastEvent?: AppliedEvent;
  private lastError?: string;
  private proxy?: ProxyServer;
  private nflog?: NflogReader;
  private observer?: ObserverServer;
  private degraded: string[] = [];
  private readonly listeners = new Set<(e: AppliedEvent) => void>();
  private loop?: Promise<void>;

  constructor(private readonly opts: EnforcementOptions = {}) {
    this.store = new FlowStore({ maxAgeMs: opts.flowRetentionMs, maxFlows: opts.maxFlows });
  }

  /** Attribution for flow records: recent compiled states, newest first. */
  readonly attribution: AttributionSource = {
    snapshots: () => this.snaps,
  };

  /** The compiled state currently enforced (undefined before the first compile). */
  get compiled(): CompiledCluster | undefined {
    return this.snaps[0]?.compiled;
  }

  get desired(): DesiredState | undefined {
    return this.lastState;
  }

  /** The engine input of the last compile (tests compare the incremental compile with a full one). */
  get input(): ClusterInput | undefined {
    return this.lastInput;
  }

  get proxyPort(): number | undefined {
    return this.proxy?.port;
  }

  get tableName(): string | undefined {
    return this.settings?.table;
  }

  /** Called after every apply (tests, the bench). Returns the unsubscribe function. */
  onApplied(cb: (e: AppliedEvent) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  async start(ctx: EnforcementContext): Promise<void> {
    try {
      await this.doStart(ctx);
    } catch (e) {
      // The daemon only stops components that started: release the proxy port, NFLOG group and socket here.
      await this.stop().catch(() => undefined);
      throw e;
    }
  }

  private async doStart(ctx: EnforcementContext): Promise<void> {
    this.ctx = ctx;
    this.stopped = false;
    this.settings = { ...settingsForHome(ctx.home), ...this.opts.settings };
    this.book = new PolicyBook(ctx.log);
    const client = ctx.client;
    const onError = (what: string) => (e: unknown) => ctx.log(`enforcement: ${what} watch: ${(e as Error).message}`);
    const mk = <T extends KubeObject>(key: keyof typeof RESOURCE_REFS) =>
      new Informer<T>(client, RESOURCE_REFS[key], { onError: onError(key) });
    this.inf = {
      namespaces: mk<Namespace>('namespaces'),
      pods: mk<Pod>('pods'),
      services: mk<Service>('services'),
      endpointslices: mk<EndpointSlice>('endpointslices'),
      nodes: mk<NodeObject>('nodes'),
    };
    const policyInformers = [
      mk<AnyPolicy>('networkpolicies'),
      mk<AnyPolicy>('ciliumnetworkpolicies'),
      mk<AnyPolicy>('ciliumclusterwidenetworkpolicies'),
    ];
    const change = () => this.schedule();
    for (const i of Object.values(this.inf) as Informer<KubeObject>[])
      i.addEventHandler({ onAdd: change, onUpdate: change, onDelete: change });
    for (const i of policyInformers) {
      i.addEventHandler({
        onAdd: (p) => {
          if (this.book.upsert(p)) change();
        },
        onUpdate: (_o, p) => {
          if (this.book.upsert(p)) change();
        },
        onDelete: (p) => {
          if (this.book.remove(p)) change();
        },
      });
    }
    this.informers = [...(Object.values(this.inf) as Informer<KubeObject>[]), ...policyInformers];

    // Proxy first: its port goes into the rendered rules.
    if (this.opts.proxy !== false) await this.startProxy();
    if (!this.opts.driver && this.settings.datapath === 'ebpf') {
      const why = ebpfUnavailable();
      if (why) {
        ctx.log(`enforcement: the eBPF datapath cannot run here (${why}); using the nftables datapath`);
        this.settings = { ...this.settings, datapath: 'nftables' };
      }
    }
    if (this.opts.nflog !== false && !this.opts.driver && this.settings.datapath === 'nftables')
      await this.startNflog();
    if (this.opts.observerSocket !== false) {
      try {
        this.observer = await startObserverServer({
          socketPath: join(ctx.home, 'run', 'observer.sock'),
          store: this.store,
          status: () => ({ enforcement: this.status().message, ...this.progress() }),
        });
      } catch (e) {
        this.degraded.push(`observe API: ${(e as Error).message}`);
      }
    }
    if (!this.opts.driver) {
      const routing = this.settings.datapath === 'ebpf' ? `, ${this.settings.hostRouting} host routing` : '';
      ctx.log(`enforcement: ${this.settings.datapath} datapath${routing}`);
    }
    if (!this.opts.driver && this.settings.datapath === 'ebpf')
      this.ebpf = createEbpfDriver({
        stateDir: join(ctx.home, 'enforcement'),
        tproxy: this.settings.tproxy,
        hostRouting: this.settings.hostRouting === 'bpf',
        onEvent: (rec) => {
          for (const f of flowsFromBpfEvent(rec, this.attribution)) this.store.add(f);
        },
      });
    else if (!this.opts.driver)
      this.nft = createNftDriver({
        table: this.settings.table,
        nflogGroup: this.settings.nflogGroup,
        tproxy: this.settings.tproxy,
      });
    this.driver = this.opts.driver ?? this.nft ?? this.ebpf;
    const prior = this.opts.driver ? undefined : readDatapathRecord(ctx.home);
    if (prior && JSON.stringify(prior) !== JSON.stringify(this.datapathRecord())) {
      // Left by a run with other names: remove it exactly as recorded, then start afresh.
      for (const l of await cleanDatapath(ctx.home)) ctx.log(`enforcement: ${l}`);
    } else this.inherited = prior !== undefined;

    for (const i of this.informers) i.start();
    const synced = async (i: Informer<KubeObject>, ms: number) => {
      let t: NodeJS.Timeout | undefined;
      const ok = await Promise.race([
        i.waitForSync().then(() => true),
        new Promise<boolean>((r) => {
          t = setTimeout(() => r(false), ms);
        }),
      ]);
      clearTimeout(t);
      return ok;
    };
    const core = Object.values(this.inf) as Informer<KubeObject>[];
    const unsynced = (await Promise.all(core.map(async (i) => ((await synced(i, 60_000)) ? [] : [i])))).flat();
    if (unsynced.length > 0) {
      throw new Error(`enforcement: could not list ${unsynced.map((i) => i.resource.resource).join(', ')} within 60 s`);
    }
    // The Cilium kinds may not exist on a real cluster: go on without them after a while (their informers keep trying).
    const optional = this.opts.optionalSyncTimeoutMs ?? 5000;
    await Promise.all(
      policyInformers.map(async (i) => {
        if (!(await synced(i as Informer<KubeObject>, optional)))
          ctx.log(`enforcement: ${i.resource.resource} did not list within ${optional} ms; continuing without`);
      }),
    );
    this.ready = true;
    this.changeAt ??= performance.now();
    await this.reconcileNow();
  }

  private async startProxy(): Promise<void> {
    const ctx = this.ctx!;
    const policy = compiledL7Source(() => this.compiled);
    const onHttpEvent = (e: Parameters<typeof flowsFromHttp>[0]) => {
      for (const f of flowsFromHttp(e, this.attribution)) this.store.add(f);
    };
    try {
      this.proxy = await startProxy({ port: this.settings.proxyPort, policy, onHttpEvent });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE' && this.settings.proxyPort !== 0) {
        ctx.log(`enforcement: proxy port ${this.settings.proxyPort} is in use; using a free port`);
        this.proxy = await startProxy({ port: 0, policy, onHttpEvent }).catch((e2: Error) => {
          this.degraded.push(`L7 proxy: ${e2.message}`);
          return undefined;
        });
      } else this.degraded.push(`L7 proxy: ${(e as Error).message}`);
    }
    if (this.proxy) ctx.log(`enforcement: L7 proxy listening on :${this.proxy.port}`);
  }

  private async startNflog(): Promise<void> {
    try {
      this.nflog = await openNflog({
        group: this.settings.nflogGroup,
        onPacket: (p) => {
          for (const f of flowsFromNflog(p, this.attribution)) this.store.add(f);
        },
        onError: (e) => this.ctx?.log(`enforcement: ${e.message}`),
      });
      this.ctx?.log(`enforcement: reading verdicts from NFLOG group ${this.settings.nflogGroup}`);
    } catch (e) {
      this.degraded.push(`flow events: ${(e as Error).message}`);
      this.ctx?.log(`enforcement: flow events disabled: ${(e as Error).message}`);
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.changeAt ??= performance.now();
    if (!this.ready) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.loop = this.reconcileNow();
    }, this.opts.debounceMs ?? 5);
  }

  /** Compile and apply now (folds every change seen so far). Serialised. */
  private async reconcileNow(): Promise<void> {
    if (this.running) {
      this.pending = true;
      return;
    }
    this.running = true;
    try {
      await this.reconcile();
      this.lastError = undefined;
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastError) this.ctx?.log(`enforcement: update failed: ${msg}`);
      this.lastError = msg;
      // Retry later; the datapath driver falls back to a full replacement on its own.
      setTimeout(() => this.schedule(), 1000).unref();
      this.changeAt ??= performance.now();
    } finally {
      this.running = false;
      if (this.pending && !this.stopped) {
        this.pending = false;
        this.schedule();
      }
    }
  }

  private nodeName(): string | undefined {
    return this.opts.nodeName ?? (process.env.PODWALL_NODE_NAME || undefined);
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const changeAt = this.changeAt ?? performance.now();
    this.changeAt = undefined;
    const t0 = performance.now();
    const pods = this.inf.pods.list();
    const podsIn = podInputs(pods);
    const slices = slicesByService(this.inf.endpointslices.list());
    const services = this.inf.services.list();
    const { policies, translated } = this.book.enforced();
    const hostIps = this.opts.hostIps ?? nodeHostIps(this.inf.nodes.list(), this.nodeName());
    const cluster: ClusterInput = {
      namespaces: namespaceInputs(this.inf.namespaces.list(), podsIn),
      pods: podsIn,
      services: serviceInputs(services, slices),
      policies,
      hostIps,
    };
    // Incremental: unchanged endpoint states of the previous compile are reused (same allocator: stable numbers).
    const compiled = compile(cluster, { allocator: this.allocator, translated, previous: this.compiled });
    this.lastInput = cluster;
    const state = desiredState({
      compiled,
      endpoints: localEndpoints(pods, podsIn, this.nodeName()),
      services: serviceStates(services, slices),
      proxyPort: this.proxy?.port ?? 1,
      hostIps,
    });
    const t1 = performance.now();
    let stats: ApplyStats | undefined;
    if (this.applied || this.inherited || state.endpoints.length > 0) {
      if (!this.applied && !this.opts.driver) writeDatapathRecord(this.ctx!.home, this.datapathRecord());
      stats = await this.driver!.apply(state);
      this.applied = true;
    }
    const t2 = performance.now();
    this.revision++;
    this.lastState = state;
    this.snaps = [{ compiled, enforcedAt: Date.now(), revision: this.revision }, ...this.snaps].slice(
      0,
      SNAPSHOTS_KEPT,
    );
    const ev: AppliedEvent = {
      revision: this.revision,
      changeAt,
      appliedAt: t2,
      compileMs: t1 - t0,
      applyMs: t2 - t1,
      ...(stats ? { stats } : {}),
      ...(stats ? kernelTimesOf(this.driver) : {}),
      endpoints: state.endpoints.length,
    };
    this.lastEvent = ev;
    for (const l of this.listeners) l(ev);
  }

  /** What this run installs on the host, for `podwall down` after a crash (cleaner.ts). */
  private datapathRecord(): DatapathRecord {
    return this.ebpf
      ? { bpffs: this.ebpf.pinDir, tproxy: this.settings.tproxy }
      : { table: this.settings.table, tproxy: this.settings.tproxy };
  }

  /** Applies done so far, and whether a change is waiting to be applied (for `podwall status`-like tools and tests). */
  progress(): { revision: number; pending: boolean } {
    return {
      revision: this.revision,
      pending: this.changeAt !== undefined || this.running || this.timer !== undefined,
    };
  }

  status(): { ok: boolean; message: string } {
    if (!this.ready) return { ok: false, message: 'starting' };
    const s = this.lastState;
    const problems = this.book.problems();
    const notEnforced = this.book.notEnforced();
    const parts = [
      `${s?.endpoints.length ?? 0} endpoints`,
      `${this.book.enforced().policies.length} policies (revision ${this.revision})`,
    ];
    if (problems.length)
      parts.push(`${problems.length} invalid ignored: ${problems.map((p) => `${p.key}: ${p.message}`).join('; ')}`);
    if (notEnforced.length) parts.push(`not enforced: ${notEnforced.map((n) => `${n.key} (${n.reason})`).join('; ')}`);
    if (this.lastEvent) parts.push(`last update ${(this.lastEvent.compileMs + this.lastEvent.applyMs).toFixed(1)} ms`);
    if (this.proxy) parts.push(`L7 proxy :${this.proxy.port}`);
    if (this.nflog) parts.push(`NFLOG group ${this.nflog.group}`);
    parts.push(`${this.store.size} flows`);
    if (this.applied && this.nft) parts.push(`nft table inet ${this.settings.table}`);
    if (this.applied && this.ebpf)
      parts.push(`eBPF datapath (bpffs ${this.ebpf.pinDir}, ${this.settings.hostRouting} host routing)`);
    if (this.lastError) parts.push(`error: ${this.lastError}`);
    for (const d of this.degraded) parts.push(`degraded: ${d}`);
    return { ok: !this.lastError && this.degraded.length === 0, message: parts.join(', ') };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.all(this.informers.map((i) => i.stop()));
    await this.loop?.catch(() => undefined);
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    await this.observer?.close().catch(() => undefined);
    await this.nflog?.close().catch(() => undefined);
    await this.proxy?.close().catch(() => undefined);
    this.observer = undefined;
    this.nflog = undefined;
    this.proxy = undefined;
    if (this.applied && this.opts.teardownOnStop === true) {
      await this.driver?.teardown();
      if (!this.opts.driver && this.ctx) removeDatapathRecord(this.ctx.home);
      this.applied = false;
    }
    // The eBPF programs stay attached (pinned) without the agent; only its file descriptors and polling end here.
    this.ebpf?.close();
    this.nft?.runner.close();
    this.nft = undefined;
    this.ready = false;
  }
}

export function createEnforcementComponent(opts: EnforcementOptions = {}): EnforcementComponent {
  return new EnforcementComponent(opts);
}

/** The last kernel update times, for drivers that report them (`last` of the nftables and eBPF drivers). */
function kernelTimesOf(driver: Driver | undefined): { kernelMs?: number; attachMs?: number } {
  const last = (driver as { last?: { ms?: unknown; attachMs?: unknown } } | undefined)?.last;
  return {
    ...(typeof last?.ms === 'number' ? { kernelMs: last.ms } : {}),
    ...(typeof last?.attachMs === 'number' ? { attachMs: last.attachMs } : {}),
  };
}
