/**
 * In-memory Driver. `lookup()` is the reference for what the nftables rendering does to the first packet of a
 * connection (the shared contract suite checks both against the same expectations):
 *
 * 1. Service translation: `dstIp:dport/proto` of a ClusterIP service with backends is DNATed to a backend
 *    (the fake picks deterministically: the first backend; the kernel picks at random).
 *    Hairpin — a backend reaching itself through its service — skips policy (Cilium bpf_lxc), and is masqueraded.
 * 2. Peer identity: exact /32 ipcache entry, else a host IP (reserved:host = 1), else the longest CIDR, else world (2).
 * 3. Egress of the source endpoint when it is local (peer = destination), then ingress of the destination endpoint
 *    when it is local (peer = source). Per direction: not enforced → allow; else the first level with a segment
 *    containing (protocol, port) decides — byIp[peerIp] → byIdentity[peerIdentity] → pods (peer identity in
 *    256–65535) → wildcard; none: drop
 *    POLICY_DENIED unless `defaultAllow`. A deny segment drops (POLICY_DENY); an audit segment accepts; an allow
 *    segment with `l7` redirects to the proxy.
 * 4. Host (traffic from `hostIps`, identity 1) reaching a pod: allowed on ingress and never proxied (Cilium's
 *    allow-localhost), but explicit deny segments still drop.
 */
import type { DirectionState, Protocol, Segment } from '../../policy/types.js';
import { bareIp, flattenCidrs, type Interval, parseCidr, parseIpv4 } from '../ipv4.js';
import type {
  ApplyStats,
  DesiredState,
  Driver,
  EndpointState,
  PacketOutcome,
  PacketProbe,
  ServiceBackend,
} from '../types.js';

export const IDENTITY_HOST = 1;
export const IDENTITY_WORLD = 2;

/** Which level of a direction decided, and how. */
export type LevelName = 'ip' | 'identity' | 'pods' | 'wildcard';

/** Cluster-local (pod) identities: the range the `pods` level applies to. */
export const POD_IDENTITY_MIN = 256;
export const POD_IDENTITY_MAX = 65535;

export function isPodIdentity(id: number): boolean {
  return id >= POD_IDENTITY_MIN && id <= POD_IDENTITY_MAX;
}

export type DirectionDecision =
  | { kind: 'allow'; l7: boolean; level: LevelName | 'default' | 'unenforced' | 'host'; segment?: Segment }
  | { kind: 'audit'; level: LevelName; segment: Segment }
  | { kind: 'drop'; reason: 'POLICY_DENIED' | 'POLICY_DENY'; level: LevelName | 'default'; segment?: Segment };

function findSegment(segs: readonly Segment[] | undefined, protocol: Protocol, port: number): Segment | undefined {
  if (!segs) return undefined;
  for (const s of segs) if (s.protocol === protocol && s.lo <= port && port <= s.hi) return s;
  return undefined;
}

/** Evaluate one direction of one endpoint (pure; shared by the Fake and the render tests). */
export function evaluateDirection(
  ds: DirectionState,
  peer: { ip: string; identity: number },
  protocol: Protocol,
  port: number,
  fromHost = false,
): DirectionDecision {
  if (!ds.enforced) return { kind: 'allow', l7: false, level: 'unenforced' };
  // The byIp level holds pod IPs (ipBlock rules); it is not consulted for the host (same as the nft rendering).
  const byIp = fromHost ? undefined : Object.entries(ds.byIp).find(([k]) => bareIp(k) === peer.ip)?.[1];
  const levels: [LevelName, Segment | undefined][] = [
    ['ip', findSegment(byIp, protocol, port)],
    ['identity', findSegment(ds.byIdentity[peer.identity], protocol, port)],
    ['pods', isPodIdentity(peer.identity) ? findSegment(ds.pods, protocol, port) : undefined],
    ['wildcard', findSegment(ds.wildcard, protocol, port)],
  ];
  for (const [level, seg] of levels) {
    if (!seg) continue;
    if (seg.audit) return { kind: 'audit', level, segment: seg };
    if (seg.verdict === 'deny') return { kind: 'drop', reason: 'POLICY_DENY', level, segment: seg };
    return { kind: 'allow', l7: seg.l7 !== undefined && !fromHost, level, segment: seg };
  }
  if (fromHost) return { kind: 'allow', l7: false, level: 'host' };
  if (ds.defaultAllow) return { kind: 'allow', l7: false, level: 'default' };
  return { kind: 'drop', reason: 'POLICY_DENIED', level: 'default' };
}

/** IP → identity resolution shared by the Fake and the nftables rendering. */
export class IdentityResolver {
  private readonly exact = new Map<string, number>();
  private readonly cidrs: Interval<number>[];

  constructor(state: Pick<DesiredState, 'ipcache' | 'hostIps'>) {
    const nets: { cidr: ReturnType<typeof parseCidr>; value: number }[] = [];
    for (const e of state.ipcache) {
      const c = parseCidr(e.prefix);
      if (c.len === 32) this.exact.set(bareIp(e.prefix.split('/')[0]!), e.identity);
      else nets.push({ cidr: c, value: e.identity });
    }
    for (const ip of state.hostIps) if (!this.exact.has(ip)) this.exact.set(ip, IDENTITY_HOST);
    this.cidrs = flattenCidrs(nets);
  }

  /** /32 entries including host IPs, sorted by address. */
  exactEntries(): [string, number][] {
    // Parse each address once (not once per comparison: this runs on every apply over the whole ipcache).
    return [...this.exact.entries()]
      .map((e) => ({ e, n: parseIpv4(e[0]) }))
      .sort((a, b) => a.n - b.n)
      .map((x) => x.e);
  }

  /** Flattened, non-overlapping CIDR intervals (longest prefix wins). */
  cidrIntervals(): readonly Interval<number>[] {
    return this.cidrs;
  }

  identityOf(ip: string): number {
    const e = this.exact.get(ip);
    if (e !== undefined) return e;
    const n = parseIpv4(ip);
    let lo = 0;
    let hi = this.cidrs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = this.cidrs[mid]!;
      if (n < p.lo) hi = mid - 1;
      else if (n > p.hi) lo = mid + 1;
      else return p.value;
    }
    return IDENTITY_WORLD;
  }
}

function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : x,
  );
}

function countChanges<T>(prev: readonly T[], next: readonly T[], key: (x: T) => string): number {
  const p = new Map(prev.map((x) => [key(x), stableJson(x)]));
  const n = new Map(next.map((x) => [key(x), stableJson(x)]));
  let c = 0;
  for (const [k, v] of n) if (p.get(k) !== v) c++;
  for (const k of p.keys()) if (!n.has(k)) c++;
  return c;
}

export class FakeDriver implements Driver {
  private state: DesiredState | undefined;
  private resolver: IdentityResolver | undefined;
  private endpointsByIp = new Map<string, EndpointState>();
  /** Every state applied, for assertions. */
  readonly history: DesiredState[] = [];

  async apply(state: DesiredState): Promise<ApplyStats> {
    const prev = this.state;
    const snapshot = structuredClone(state);
    this.state = snapshot;
    this.resolver = new IdentityResolver(snapshot);
    this.endpointsByIp = new Map(snapshot.endpoints.map((e) => [e.ip, e]));
    this.history.push(snapshot);
    if (!prev)
      return { changes: 1 + state.ipcache.length + state.endpoints.length + state.services.length, full: true };
    const changes =
      countChanges(prev.ipcache, snapshot.ipcache, (e) => e.prefix) +
      countChanges(prev.endpoints, snapshot.endpoints, (e) => e.name) +
      countChanges(prev.services, snapshot.services, (s) => s.key) +
      (prev.proxyPort !== snapshot.proxyPort || stableJson(prev.hostIps) !== stableJson(snapshot.hostIps) ? 1 : 0);
    return { changes, full: false };
  }

  async teardown(): Promise<void> {
    this.state = undefined;
    this.resolver = undefined;
    this.endpointsByIp.clear();
  }

  async dump(): Promise<string> {
    const s = this.state;
    if (!s) return '';
    const lines: string[] = [`proxyPort ${s.proxyPort}`, `hostIps ${[...s.hostIps].sort().join(',')}`];
    for (const e of [...s.ipcache].sort((a, b) => (a.prefix < b.prefix ? -1 : 1)))
      lines.push(`ipcache ${e.prefix} ${e.identity}`);
    for (const sv of [...s.services].sort((a, b) => (a.key < b.key ? -1 : 1))) {
      const be = sv.backends.map((b) => `${b.ip}:${b.port}`).join(',');
      lines.push(`service ${sv.key} ${sv.ip}:${sv.port}/${sv.protocol} -> ${be}`);
    }
    for (const e of [...s.endpoints].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      lines.push(`endpoint ${e.name} ${e.ip} id=${e.identity}`);
      for (const dir of ['ingress', 'egress'] as const) {
        const d = e.policy[dir];
        const mode = d.enforced ? (d.defaultAllow ? 'default-allow' : 'enforced') : 'unenforced';
        lines.push(`  ${dir} ${mode}`);
        const seg = (lvl: string, ss: readonly Segment[]) => {
          for (const x of ss) {
            const flags = [x.verdict, x.l7 ? 'l7' : '', x.audit ? 'audit' : ''].filter(Boolean).join(',');
            lines.push(`    ${lvl} ${x.protocol} ${x.lo}-${x.hi} ${flags}`);
          }
        };
        for (const ip of Object.keys(d.byIp).sort()) seg(`ip=${ip}`, d.byIp[ip]!);
        for (const id of Object.keys(d.byIdentity).sort((a, b) => Number(a) - Number(b)))
          seg(`id=${id}`, d.byIdentity[Number(id)]!);
        seg('pods', d.pods ?? []);
        seg('any', d.wildcard);
      }
    }
    return `${lines.join('\n')}\n`;
  }

  /** The verdict for the first packet of a connection, exactly as the nftables rendering decides it. */
  lookup(probe: PacketProbe): PacketOutcome {
    const s = this.state;
    const r = this.resolver;
    if (!s || !r) return { action: 'accept' };
    let dstIp = probe.dstIp;
    let dport = probe.dport;
    let backend: ServiceBackend | undefined;
    const svc = s.services.find(
      (x) => x.ip === probe.dstIp && x.port === probe.dport && x.protocol === probe.protocol && x.backends.length > 0,
    );
    if (svc) {
      backend = svc.backends[0]!;
      dstIp = backend.ip;
      dport = backend.port;
      if (backend.ip === probe.srcIp) return { action: 'accept', backend };
    }
    const withBackend = <T extends PacketOutcome>(o: T): T => (backend && o.action !== 'drop' ? { ...o, backend } : o);
    const fromHost = s.hostIps.includes(probe.srcIp);
    let redirect = false;
    const src = fromHost ? undefined : this.endpointsByIp.get(probe.srcIp);
    if (src) {
      const d = evaluateDirection(
        src.policy.egress,
        { ip: dstIp, identity: r.identityOf(dstIp) },
        probe.protocol,
        dport,
      );
      if (d.kind === 'drop') return { action: 'drop', reason: d.reason, direction: 'egress' };
      if (d.kind === 'allow' && d.l7) redirect = true;
    }
    const dst = this.endpointsByIp.get(dstIp);
    if (dst) {
      const peerId = fromHost ? IDENTITY_HOST : r.identityOf(probe.srcIp);
      const d = evaluateDirection(
        dst.policy.ingress,
        { ip: probe.srcIp, identity: peerId },
        probe.protocol,
        dport,
        fromHost || peerId === IDENTITY_HOST,
      );
      if (d.kind === 'drop') return { action: 'drop', reason: d.reason, direction: 'ingress' };
      if (d.kind === 'allow' && d.l7) redirect = true;
    }
    if (redirect) return withBackend({ action: 'redirect', proxyPort: s.proxyPort });
    return withBackend({ action: 'accept' });
  }
}
