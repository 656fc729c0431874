/**
 * The eBPF Driver: pure lowering (lower.ts: DesiredState → map entries) + diff (diff.ts) + the kernel edge
 * (kernel/: maps, programs and attachments through libbpf). Nothing in netfilter: the programs keep their own
 * connection table, so a node on this datapath registers no conntrack hooks.
 *
 * Every apply writes only the entries that changed, then moves the policy generation in `config`: each established
 * connection is judged again on its next packet, so a revoke cuts it (README.md). Maps, the connection table and
 * the links (pods' tcx links, socket-LB cgroup links) are pinned in a bpffs of the driver's own (`<stateDir>/bpf`);
 * with `attach: 'tc'` the pods' programs are tc filters on their veths instead (kernel/tc-filter.ts). If the agent dies all of it stays and keeps enforcing (fail closed),
 * and a new driver on the same directory reopens the maps, reads what is installed, replaces the programs in place
 * and converges to its desired state without dropping established connections that stay allowed.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import { DEFAULT_TPROXY_ROUTING, TproxyRouting, type TproxyRoutingSpec } from '../nftables/tproxy-routing.js';
import type { ApplyStats, DesiredState, Driver, EndpointState } from '../types.js';
import { diffLowered, type MapOp } from './diff.js';
import { dumpLowered } from './dump.js';
import { attachCgroup, attachTc, cgroupV2Root, detachCgroup, detachTc } from './kernel/attach.js';
import { isBpffsMount, mountBpffs, unmountBpffs } from './kernel/bpffs.js';
import { BpfError } from './kernel/errors.js';
import { type EventReader, openEvents } from './kernel/events.js';
import { type LoadedDatapath, loadDatapath, type ProgName } from './kernel/loader.js';
import { attachTcFilter, removeTcFilters } from './kernel/tc-filter.js';
import { decodeEndpointVal, encodeConfig, encodeConfigKey, PW_CFG_HOST_ROUTING } from './layout.js';
import { type EntryMap, type Lowered, Lowerer } from './lower.js';
import { PodInterfaces } from './pod-interfaces.js';

export interface EbpfDriverOptions {
  /** Directory the driver owns; its bpffs is mounted at `<stateDir>/bpf`. */
  stateDir: string;
  /** TPROXY fwmark bit (must be PW_MARK_TO_PROXY), ip rule pref and route table. */
  tproxy?: Partial<TproxyRoutingSpec>;
  /** Do not install the ip rule/route (a second driver sharing them). Default true. */
  manageRouting?: boolean;
  /** cgroup v2 directory for socket load-balancing; default the cgroup v2 root. */
  cgroupPath?: string;
  /**
   * The host-side interface of an endpoint (tests); default its `hostIfname`, else its /32 route through a
   * podwall-named device (pod-interfaces.ts). An endpoint without one is still judged as a destination, but its
   * own packets are not (nothing to attach to).
   */
  interfaceOf?: (ep: EndpointState) => string | undefined;
  /** Compiled object; default dist/bpf/podwall.bpf.o. */
  objectPath?: string;
  /**
   * How the pods' programs are attached: tcx links (default; Cilium's choice on kernels ≥ 6.6) or classic tc
   * filters (clsact + cls_bpf). Per packet they are within noise of each other (docs/benchmarks.md, run 11), but
   * each tcx link change waits for an RCU grace period (~25 ms per new pod, against ~1 ms for tc filters). tcx
   * links are pinned in the driver's bpffs, so unmounting it removes every hook even after a crash; tc filters
   * stay on their interfaces until a driver that knows them removes them. Both survive the agent and are replaced
   * in place by a restarted one.
   */
  attach?: 'tcx' | 'tc';
  /**
   * BPF host routing (default true): a packet between two local pods, judged for both ends by the sender's
   * from_pod, is handed straight into the destination pod's namespace (bpf_redirect_peer) instead of being routed
   * by the host's stack — Cilium's `bpf.hostLegacyRouting=false`. The host's own netfilter and routing never see
   * that traffic. `false` routes everything through the host (the packet is then only marked as judged).
   */
  hostRouting?: boolean;
  /** Verdict records (struct pw_event) from the programs' ring buffer, polled every `eventPollMs` (default 50). */
  onEvent?: (record: Buffer) => void;
  eventPollMs?: number;
}

export interface EbpfDriver extends Driver {
  readonly pinDir: string;
  /**
   * The last apply: `ms` the map writes (entries and the generation), `renderMs` lowering and diff before them,
   * `attachMs` attaching/detaching programs for endpoints that appeared/went (each tcx link change waits for an
   * RCU grace period in the kernel: ~8–16 ms here, so it is reported apart from the policy update).
   */
  readonly last?: { ops: number; ms: number; renderMs: number; attachMs: number };
  /** Stop reading events and close file descriptors; everything installed stays (the agent stops, not the node). */
  close(): void;
}

const SOCKET_PROGS: readonly ProgName[] = ['sock_connect4', 'sock_sendmsg4', 'sock_recvmsg4', 'sock_getpeername4'];
const DIFFED_MAPS = ['ipcache', 'endpoints', 'policy', 'services', 'backends'] as const;
/** Generations are 1..2^32-1 in the kernel; a driver starts at a random one so an earlier agent's entries are re-judged. */
const GENERATION_LIMIT = 0xffffffff;

/** The interfaces the installed endpoints were attached to. */
function endpointIfindexes(endpoints: EntryMap): number[] {
  return [...endpoints.values()].map((e) => decodeEndpointVal(e.value).ifindex).filter((i) => i > 0);
}

export function createEbpfDriver(opts: EbpfDriverOptions): EbpfDriver {
  const routingSpec: TproxyRoutingSpec = { ...DEFAULT_TPROXY_ROUTING, ...opts.tproxy };
  const routing = opts.manageRouting === false ? undefined : new TproxyRouting(routingSpec);
  const pinDir = join(opts.stateDir, 'bpf');
  const load = () => loadDatapath({ pinDir, ...(opts.objectPath ? { objectPath: opts.objectPath } : {}) });
  const lowerer = new Lowerer();
  const hooks =
    opts.attach !== 'tc'
      ? {
          attach: (i: number, dir: 'ingress' | 'egress', fd: number) => attachTc(pinDir, i, dir, fd),
          remove: (i: number) => {
            detachTc(pinDir, i, 'ingress');
            detachTc(pinDir, i, 'egress');
          },
        }
      : { attach: attachTcFilter, remove: removeTcFilters };
  const interfaces = new PodInterfaces(opts.interfaceOf);
  const configFlags = opts.hostRouting === false ? 0 : PW_CFG_HOST_ROUTING;
  let dp: LoadedDatapath | undefined;
  let installed: Lowered | undefined;
  /** ifindex → attached (both directions). */
  let attached = new Set<number>();
  let generation = 1 + randomInt(GENERATION_LIMIT - 1);
  let proxyPort = -1;
  let last: { ops: number; ms: number; renderMs: number; attachMs: number } | undefined;
  let events: { reader: EventReader; timer: NodeJS.Timeout } | undefined;

  function startEvents(loaded: LoadedDatapath): void {
    const onEvent = opts.onEvent;
    if (!onEvent || events) return;
    const reader = openEvents(loaded.maps.events, onEvent);
    const timer = setInterval(() => reader.poll(), opts.eventPollMs ?? 50);
    timer.unref();
    events = { reader, timer };
  }

  function stopEvents(): void {
    if (!events) return;
    clearInterval(events.timer);
    events.reader.poll();
    events.reader.close();
    events = undefined;
  }

  async function open(): Promise<LoadedDatapath> {
    await mountBpffs(pinDir);
    let loaded: LoadedDatapath;
    try {
      loaded = load();
    } catch (e) {
      // Maps pinned by a build with another layout cannot be reused (libbpf refuses them): start afresh. Connections
      // judged by the old programs are judged again from their next packet.
      if (!(e instanceof BpfError)) throw e;
      await unmountBpffs(pinDir);
      await mountBpffs(pinDir);
      loaded = load();
    }
    const cgroup = opts.cgroupPath ?? cgroupV2Root();
    if (!cgroup) throw new Error('no cgroup v2 hierarchy is mounted: socket load-balancing needs one');
    for (const p of SOCKET_PROGS) attachCgroup(pinDir, cgroup, p, loaded.progFd(p));
    // What a previous agent left pinned is the starting point: the first diff converges it.
    installed = readInstalled(loaded);
    lowerer.adopt(installed.services);
    startEvents(loaded);
    return loaded;
  }

  function readInstalled(loaded: LoadedDatapath): Lowered {
    const out = {} as Record<(typeof DIFFED_MAPS)[number], EntryMap>;
    for (const name of DIFFED_MAPS) {
      const m = loaded.maps[name];
      const entries: EntryMap = new Map();
      for (const key of m.keys()) {
        const value = m.lookup(key);
        if (value) entries.set(key.toString('hex'), { key, value });
      }
      out[name] = entries;
    }
    return out;
  }

  function write(loaded: LoadedDatapath, ops: readonly MapOp[]): void {
    for (const op of ops) {
      const m = loaded.maps[op.map];
      if (op.kind === 'update') m.update(op.key, op.value!);
      else m.delete(op.key);
    }
  }

  function writeConfig(loaded: LoadedDatapath, port: number): void {
    loaded.maps.config.update(encodeConfigKey(), encodeConfig({ generation, proxyPort: port, flags: configFlags }));
  }

  /** Attach both programs to every endpoint interface, detach from the ones gone. Returns how many changed. */
  function syncAttachments(loaded: LoadedDatapath, want: Set<number>, replaceAll: boolean): number {
    let n = 0;
    for (const i of want) {
      if (attached.has(i) && !replaceAll) continue;
      hooks.attach(i, 'ingress', loaded.progFd('from_pod'));
      hooks.attach(i, 'egress', loaded.progFd('to_pod'));
      n++;
    }
    for (const i of attached) {
      if (want.has(i)) continue;
      hooks.remove(i);
      n++;
    }
    attached = want;
    return n;
  }

  return {
    pinDir,
    get last() {
      return last;
    },
    async apply(state: DesiredState): Promise<ApplyStats> {
      const t0 = performance.now();
      const first = dp === undefined;
      if (!dp) dp = await open();
      const loaded = dp;
      const ifaces = interfaces.resolve(state.endpoints);
      const next = lowerer.lower(
        state,
        (ep) => ifaces.get(ep.name)?.ifindex ?? 0,
        (ep) => ifaces.get(ep.name)?.peer ?? false,
      );
      const ops = diffLowered(installed, next);
      const t1 = performance.now();
      write(loaded, ops);
      // What an earlier agent attached (restart): the interfaces of the endpoints it had installed.
      if (first) attached = new Set(endpointIfindexes(installed?.endpoints ?? new Map()));
      installed = next;
      if (ops.length > 0 || first || proxyPort !== state.proxyPort) {
        generation = generation >= GENERATION_LIMIT ? 1 : generation + 1;
        proxyPort = state.proxyPort;
        writeConfig(loaded, proxyPort);
      }
      const t2 = performance.now();
      // Maps first: a new endpoint's own program must find its entry (anti-spoofing), and other pods judge its
      // ingress from their own programs as soon as the entry exists.
      const want = new Set([...ifaces.values()].map((f) => f.ifindex).filter((i) => i > 0));
      // On the first apply, attach everything afresh: an earlier agent's filters are replaced in place by this
      // driver's programs, and the ones of endpoints that went while no agent ran are removed.
      const attachChanges = syncAttachments(loaded, want, first);
      const changes = ops.length + (first ? 0 : attachChanges);
      last = { ops: ops.length, ms: t2 - t1, renderMs: t1 - t0, attachMs: performance.now() - t2 };
      if (routing) await routing.install();
      return { changes, full: first };
    },
    async teardown(): Promise<void> {
      stopEvents();
      if (!dp && (await isBpffsMount(pinDir))) {
        // A datapath an earlier agent left (restart, then teardown): its endpoints map names the interfaces.
        // If its maps cannot be opened (another build's layout), unmounting below still releases its links.
        try {
          dp = load();
          attached = new Set(endpointIfindexes(readInstalled(dp).endpoints));
        } catch {
          dp = undefined;
        }
      }
      if (dp) {
        for (const i of attached) hooks.remove(i);
        for (const p of SOCKET_PROGS) detachCgroup(pinDir, p);
        dp.close();
      }
      dp = undefined;
      installed = undefined;
      attached = new Set();
      // The cgroup links are pinned in this bpffs: unmounting it releases them even if detaching failed.
      await unmountBpffs(pinDir);
      if (routing) await routing.remove();
    },
    close(): void {
      stopEvents();
      dp?.close();
      dp = undefined;
      installed = undefined;
      attached = new Set();
    },
    async dump(): Promise<string> {
      return installed ? dumpLowered(installed) : '';
    },
  };
}
