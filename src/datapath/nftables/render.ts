/**
 * PURE rendering of DesiredState into one nftables table (text syntax, as `nft -f` / libnftables accept it), and
 * the incremental transaction between two renderings. Nothing here touches the OS.
 *
 * Layout of `table inet <name>` (see src/datapath/nftables/README.md for the packet walk):
 *
 *   map ipcache        ipv4_addr : mark                       /32 identities (+ host IPs → 1)
 *   map ipcache_cidr   ipv4_addr : mark, interval             CIDR identities flattened to non-overlapping intervals
 *   set eps            ipv4_addr                              local endpoint IPs (everything else skips policy)
 *   set hairpin        ipv4_addr . ipv4_addr                  ep . ep — a backend reaching itself via its service
 *   map services       ipv4_addr . inet_proto . inet_service : verdict → goto s_<h>
 *   policy maps, shared by all endpoints and keyed by the endpoint's IP first, for direction <d> ∈ {in, eg} and
 *   level <l> ∈ {ip, id, pd, wc} (peer = `<peer IP> .` for ip, `<peer identity> .` for id, nothing otherwise):
 *     <d>_<l>_port   ep . peer . inet_proto . inet_service     one port                 (hash)
 *     <d>_<l>_any    ep . peer . inet_proto                    every port / ICMP type   (hash)
 *     <d>_<l>_range  ep . peer . inet_proto . inet_service     a port range             (interval)
 *     <d>_<l>_icmp   ep . peer . icmp_type                     one ICMP type            (hash)
 *     <d>_<l>_icmpr  ep . peer . icmp_type                     an ICMP type range       (interval)
 *   set <d>_enforced      ipv4_addr                            endpoints whose direction <d> is enforced (walk the levels)
 *   set <d>_default_deny  ipv4_addr                            enforced endpoints without default allow
 *   Map values are verdict codes written into the packet mark; the static map <d>_codes sends each code to
 *   `goto v_<d>_<verdict>_<level>`: small shared chains that log (NFLOG, new connections only) and then return
 *   (allow/audit), drop (deny), or redirect.
 *
 *   Why shared maps rather than one set of maps per endpoint: libnftables lists every set of the table before each
 *   transaction and fetches all elements of an interval set it adds to, so per-endpoint maps made every update
 *   O(number of endpoints) (~5 ms per 800 sets) and interval maps made it O(map size) (~48 ms for 16k elements).
 *   Hash maps are neither: a single-port or all-ports segment — nearly all of them — is one hash element, updated in
 *   ~0.5 ms whatever the table size; only true port/type ranges go to the (shared, usually small) interval maps. The
 *   rules never change, so every policy or pod change is element operations only.
 *
 *   chain policy_pre filter prerouting dstnat+10 (-90): after service DNAT, sees the backend
 *   chain egress / ingress (+ egress_icmp / ingress_icmp): the level lookups, in order, then the default deny
 *   chain host_out filter output 0: host → pod (identity 1: allowed, never proxied, explicit denies apply via
 *                  set host_deny / host_deny_icmp  ipv4_addr . inet_proto . inet_service / ipv4_addr . icmp_type)
 *   chain nat_pre / nat_out / nat_post: kube-proxy style service DNAT (numgen) and hairpin masquerade
 *
 * Conntrack and the verdict cache: a connection whose packets were accepted by the policy walk carries the
 * table's *policy generation* in its `ct mark`; every later packet of it (either direction) with that mark is
 * accepted by the first rule of `policy_pre`. Every transaction that changes anything moves the generation (the
 * driver does it, see `withGeneration`; it lives in the sets `gen_now`/`gen_mark`), atomically with the map changes, so after a change each established
 * connection's next packet walks the current maps once: a connection the change revokes is cut in that same
 * batch — no `conntrack -D` race, no flow listing (Cilium re-checks established flows in the same way) — and a
 * connection still allowed is re-marked. Proxied connections are never marked (their packets must reach the
 * `tproxy`/socket rules). Replies and related packets of unmarked connections take the `pod` fast path. Logs are
 * only emitted for `ct state new` so re-evaluation does not flood NFLOG.
 */
import type { Direction, DirectionState, Segment } from '../../policy/types.js';
import { IdentityResolver } from '../fake/fake-driver.js';
import { bareIp, formatIpv4 } from '../ipv4.js';
import type { DesiredState, ServiceState } from '../types.js';

/**
 * The policy generation written into `ct mark` of connections whose verdict is cached. Values are
 * 1..2^31-1: 0 is conntrack's "unmarked", and the top bit stays free like the TPROXY bit of the packet mark.
 */
export const GENERATION_LIMIT = 0x80000000;

export function nextGeneration(g: number): number {
  return g + 1 >= GENERATION_LIMIT ? 1 : g + 1;
}

export interface RenderOptions {
  /** nft table name (`podwall` in production; tests pass a unique `pw-test-<random>`). */
  table: string;
  /** NFLOG group for policy verdict logs. */
  nflogGroup: number;
  /** fwmark bit used for TPROXY'd packets (bit 31). Identities must stay below it. */
  tproxyMark: number;
}

export const DEFAULT_RENDER_OPTIONS: RenderOptions = { table: 'podwall', nflogGroup: 100, tproxyMark: 0x80000000 };

export interface NftSetSpec {
  name: string;
  /** `ipv4_addr`, `mark . inet_proto . inet_service`, ... */
  type: string;
  /** Present for maps: `verdict`, `mark`. */
  map?: string;
  interval?: boolean;
}

export interface NftBaseChain {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'output' | 'postrouting';
  priority: number;
}

export interface NftChainSpec {
  name: string;
  base?: NftBaseChain;
}

export interface NftModel {
  table: string;
  sets: Map<string, { spec: NftSetSpec; elements: Map<string, string> }>;
  chains: Map<string, { spec: NftChainSpec; rules: string[] }>;
}

export interface NftTransaction {
  /** nft commands, one per line, applied as one atomic batch. */
  commands: string[];
  /** Operations: each element added/removed counts one, as does each table/chain/set/rule/flush command. */
  changes: number;
  full: boolean;
}

export function transactionText(tx: NftTransaction): string {
  return tx.commands.length ? `${tx.commands.join('\n')}\n` : '';
}

const DIRS: readonly { dir: Direction; d: 'in' | 'eg' }[] = [
  { dir: 'egress', d: 'eg' },
  { dir: 'ingress', d: 'in' },
];
const LEVELS = ['ip', 'id', 'pd', 'wc'] as const;
type Level = (typeof LEVELS)[number];
const VERDICTS = ['allow', 'deny', 'redirect', 'audit'] as const;
type VerdictKind = (typeof VERDICTS)[number] | 'denied';

/** Verdict logged in the NFLOG prefix `pw:<dir>:<verdict>:<level>[:cut]`. */
export interface LogPrefix {
  direction: Direction;
  verdict: VerdictKind;
  level: Level | 'default';
  /**
   * An established connection, accepted under an earlier policy generation, dropped on re-judgement: the first
   * packet of a connection a policy change cut (logged once per connection).
   */
  cut?: boolean;
}

export function logPrefix(p: LogPrefix): string {
  const lvl = p.level === 'default' ? 'def' : p.level;
  return `pw:${p.direction === 'ingress' ? 'in' : 'eg'}:${p.verdict}:${lvl}${p.cut ? ':cut' : ''} `;
}

/**
 * Parse an NFLOG prefix written by this table. Together with the logged packet this attributes the verdict:
 * the endpoint is the packet's source for egress and its (post-DNAT) destination for ingress, and the NFLOG
 * mark attribute carries the peer identity.
 */
export function parseLogPrefix(s: string): LogPrefix | undefined {
  const m = /^pw:(in|eg):(allow|deny|redirect|audit|denied):(ip|id|pd|wc|def)(:cut)? ?$/.exec(s);
  if (!m) return undefined;
  return {
    direction: m[1] === 'in' ? 'ingress' : 'egress',
    verdict: m[2] as VerdictKind,
    level: m[3] === 'def' ? 'default' : (m[3] as Level),
    ...(m[4] ? { cut: true } : {}),
  };
}

/** FNV-1a 32-bit, hex. Stable short ids for chain/map names (nft names must stay short and shell-safe). */
export function shortHash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The `pods` level applies to cluster-local identities only. */
const POD_MARKS = '256-65535';

/**
 * Verdict codes: what a policy map lookup writes into the packet mark (bit 30 set, so a code is never an identity).
 * A static map per direction turns the code into `goto v_<d>_<kind>_<level>`. The policy maps themselves hold plain
 * data, never a jump: the kernel re-validates every jump/goto reachable from the table's base chains on each
 * transaction that adds one, which made every update O(all policy elements) (~5 ms at 60k elements).
 */
export const CODE_BIT = 0x40000000;

function verdictCode(kind: (typeof VERDICTS)[number], level: Level): string {
  return hex(CODE_BIT | (VERDICTS.indexOf(kind) << 2) | LEVELS.indexOf(level));
}

function verdictChain(d: 'in' | 'eg', kind: VerdictKind, level?: Level): string {
  return kind === 'denied' ? `v_${d}_denied` : `v_${d}_${kind}_${level}`;
}

function segmentKind(s: Segment): (typeof VERDICTS)[number] {
  if (s.audit) return 'audit';
  if (s.verdict === 'deny') return 'deny';
  return s.l7 ? 'redirect' : 'allow';
}

function protoName(p: Segment['protocol']): string {
  return p.toLowerCase();
}

interface Builder {
  model: NftModel;
  set(spec: NftSetSpec): Map<string, string>;
  chain(spec: NftChainSpec, rules: string[]): void;
}

function builder(table: string): Builder {
  const model: NftModel = { table, sets: new Map(), chains: new Map() };
  return {
    model,
    set(spec) {
      if (model.sets.has(spec.name)) throw new Error(`duplicate set ${spec.name}`);
      const elements = new Map<string, string>();
      model.sets.set(spec.name, { spec, elements });
      return elements;
    },
    chain(spec, rules) {
      if (model.chains.has(spec.name)) throw new Error(`duplicate chain ${spec.name}`);
      model.chains.set(spec.name, { spec, rules });
    },
  };
}

function serviceId(s: ServiceState): string {
  return `s_${shortHash(s.key)}`;
}

function checkIdentity(id: number, what: string, opts: RenderOptions): void {
  const limit = Math.min(opts.tproxyMark, CODE_BIT);
  if (!Number.isInteger(id) || id < 0 || id >= limit)
    throw new Error(`${what}: identity ${id} out of range (must be < ${limit})`);
}

const hex = (n: number) => `0x${n.toString(16)}`;

const MAP_KINDS = ['port', 'any', 'range', 'icmp', 'icmpr'] as const;
type MapKind = (typeof MAP_KINDS)[number];
type LevelMaps = Record<MapKind, Map<string, string>>;
type DirectionMaps = Record<Level, LevelMaps> & { enforced: Map<string, string>; defaultDeny: Map<string, string> };

/** Declares the shared policy maps (always all of them, so the rules never change) and returns their elements. */
function policyMaps(b: Builder): Record<'in' | 'eg', DirectionMaps> {
  const out = {} as Record<'in' | 'eg', DirectionMaps>;
  for (const { d } of DIRS) {
    const levels = {} as Record<Level, LevelMaps>;
    for (const level of LEVELS) {
      const key = level === 'ip' ? 'ipv4_addr . ipv4_addr' : level === 'id' ? 'ipv4_addr . mark' : 'ipv4_addr';
      const types: Record<MapKind, { type: string; interval?: boolean }> = {
        port: { type: `${key} . inet_proto . inet_service` },
        any: { type: `${key} . inet_proto` },
        range: { type: `${key} . inet_proto . inet_service`, interval: true },
        icmp: { type: `${key} . icmp_type` },
        icmpr: { type: `${key} . icmp_type`, interval: true },
      };
      const maps = {} as LevelMaps;
      for (const kind of MAP_KINDS) maps[kind] = b.set({ name: `${d}_${level}_${kind}`, map: 'mark', ...types[kind] });
      levels[level] = maps;
    }
    out[d] = {
      ...levels,
      enforced: b.set({ name: `${d}_enforced`, type: 'ipv4_addr' }),
      defaultDeny: b.set({ name: `${d}_default_deny`, type: 'ipv4_addr' }),
    };
  }
  return out;
}

/**
 * Which map a segment goes to and its key there (`prefix` is `ep . ` or `ep . peer . `, ending in a space-dot-space
 * or not): single values and full ranges are hash elements, anything else an interval element.
 */
function segmentKey(s: Segment, prefix: string): { kind: MapKind; key: string } {
  const p = prefix.replace(/ \. $/, '');
  if (s.protocol === 'ICMP') {
    if (s.lo === 0 && s.hi === 255) return { kind: 'any', key: `${p} . icmp` };
    if (s.lo === s.hi) return { kind: 'icmp', key: `${p} . ${s.lo}` };
    return { kind: 'icmpr', key: `${p} . ${s.lo}-${s.hi}` };
  }
  const proto = protoName(s.protocol);
  if (s.lo === 0 && s.hi === 65535) return { kind: 'any', key: `${p} . ${proto}` };
  if (s.lo === s.hi) return { kind: 'port', key: `${p} . ${proto} . ${s.lo}` };
  return { kind: 'range', key: `${p} . ${proto} . ${s.lo}-${s.hi}` };
}

function checkGeneration(generation: number): void {
  if (!Number.isInteger(generation) || generation < 1 || generation >= GENERATION_LIMIT)
    throw new Error(`invalid policy generation ${generation}`);
}

/**
 * The same model under another policy generation. The generation is data (the elements of `gen_now` and
 * `gen_mark`), not rule text, so moving it is four element operations in the same atomic batch as the change it
 * accompanies, and needs no chain rewrite.
 */
export function withGeneration(model: NftModel, generation: number): NftModel {
  checkGeneration(generation);
  const sets = new Map(model.sets);
  for (const [name, elements] of Object.entries(generationElements(generation))) {
    const s = sets.get(name);
    if (!s) throw new Error(`model has no ${name} set`);
    sets.set(name, { spec: s.spec, elements });
  }
  return { table: model.table, sets, chains: model.chains };
}

/**
 * The commands that move a table from one policy generation to another (appended to a change's transaction, so
 * both apply in the same batch): the same as diffing the two `withGeneration` models, without walking the rest.
 */
export function generationMove(table: string, from: number, to: number): string[] {
  checkGeneration(from);
  checkGeneration(to);
  if (from === to) return [];
  return [
    `delete element inet ${table} gen_now { ${hex(from)} }`,
    `delete element inet ${table} gen_mark { ipv4 }`,
    `add element inet ${table} gen_now { ${hex(to)} }`,
    `add element inet ${table} gen_mark { ipv4 : ${hex(to)} }`,
  ];
}

function generationElements(generation: number): Record<'gen_now' | 'gen_mark', Map<string, string>> {
  const g = hex(generation);
  return { gen_now: new Map([[g, '']]), gen_mark: new Map([['ipv4', g]]) };
}

/**
 * Render the desired state into the table model under a policy generation (see the verdict cache above).
 * Throws on invalid input (never partially).
 */
export function renderModel(
  state: DesiredState,
  opts: RenderOptions = DEFAULT_RENDER_OPTIONS,
  generation = 1,
): NftModel {
  if (!Number.isInteger(state.proxyPort) || state.proxyPort < 1 || state.proxyPort > 65535)
    throw new Error(`invalid proxyPort ${state.proxyPort}`);
  const b = builder(opts.table);
  checkGeneration(generation);
  const mark = hex(opts.tproxyMark);
  const log = (p: LogPrefix) => `ct state new log prefix "${logPrefix(p)}" group ${opts.nflogGroup}`;
  // A drop of an established connection that had been accepted (non-zero ct mark) is a connection a policy change
  // cut: logged once, then the mark is cleared so its retransmissions are dropped silently.
  const logCut = (p: LogPrefix) => [
    `ct state established ct mark != 0 log prefix "${logPrefix({ ...p, cut: true })}" group ${opts.nflogGroup}`,
    'ct state established ct mark set 0',
  ];

  // --- ipcache ---
  const resolver = new IdentityResolver(state);
  const ipcache = b.set({ name: 'ipcache', type: 'ipv4_addr', map: 'mark' });
  for (const [ip, id] of resolver.exactEntries()) {
    checkIdentity(id, `ipcache ${ip}`, opts);
    ipcache.set(ip, String(id));
  }
  const cidr = b.set({ name: 'ipcache_cidr', type: 'ipv4_addr', map: 'mark', interval: true });
  for (const iv of resolver.cidrIntervals()) {
    checkIdentity(iv.value, `ipcache ${formatIpv4(iv.lo)}-${formatIpv4(iv.hi)}`, opts);
    cidr.set(`${formatIpv4(iv.lo)}-${formatIpv4(iv.hi)}`, String(iv.value));
  }

  const eps = b.set({ name: 'eps', type: 'ipv4_addr' });
  const hairpin = b.set({ name: 'hairpin', type: 'ipv4_addr . ipv4_addr' });
  const services = b.set({ name: 'services', type: 'ipv4_addr . inet_proto . inet_service', map: 'verdict' });
  // The verdict cache: `gen_now` holds the current policy generation, `gen_mark` writes it into ct mark.
  const genElems = generationElements(generation);
  for (const [k, v] of genElems.gen_now) b.set({ name: 'gen_now', type: 'mark' }).set(k, v);
  for (const [k, v] of genElems.gen_mark) b.set({ name: 'gen_mark', type: 'nf_proto', map: 'mark' }).set(k, v);

  // --- static chains ---
  const peerMark = (field: 'saddr' | 'daddr') => [
    'meta mark set 2',
    `meta mark set ip ${field} map @ipcache_cidr`,
    `meta mark set ip ${field} map @ipcache`,
  ];
  b.chain({ name: 'policy_pre', base: { type: 'filter', hook: 'prerouting', priority: -90 } }, [
    // The cache hit comes first: an established, already judged connection costs one ct lookup per packet.
    'ct state established ct mark @gen_now accept',
    'ip saddr @eps goto pod',
    'ip daddr @eps goto pod',
  ]);
  b.chain({ name: 'pod' }, [
    'ct state invalid drop',
    'ct direction reply accept',
    'ct state related accept',
    // Anti-spoofing: a packet whose source address does not route back through the interface it came in on is
    // dropped (pods are /32 routes on their host veth, so a pod cannot pose as the host, another pod or the world
    // and be judged under that identity; Cilium checks the source IP at the endpoint too).
    'fib saddr . iif oif missing drop',
    'ct status dnat ip saddr . ip daddr @hairpin accept',
    ...peerMark('daddr'),
    // Only endpoints whose egress is enforced walk the levels (one hash lookup for the others).
    'ip saddr @eg_enforced jump egress',
    'goto ingress_eval',
  ]);
  b.chain({ name: 'ingress_eval' }, [
    ...peerMark('saddr'),
    'ip daddr @in_enforced jump ingress',
    // An established flow that was proxied under an earlier policy keeps going to its proxy socket.
    `meta l4proto tcp ct state established socket transparent 1 socket wildcard 0 meta mark set ${mark} accept`,
    // Judged and accepted, not proxied: cache the verdict under the current generation.
    'ct mark set meta nfproto map @gen_mark accept',
  ]);
  b.chain({ name: 'ingress_eval_l7' }, [...peerMark('saddr'), 'ip daddr @in_enforced jump ingress', 'goto to_proxy']);
  // TPROXY finds the established proxy socket first, else the listener. No listener: the statement does not
  // match and the packet falls to the reset/drop below — fail closed.
  b.chain({ name: 'to_proxy' }, [
    `meta l4proto tcp meta mark set ${mark} tproxy ip to :${state.proxyPort} accept`,
    `meta l4proto udp meta mark set ${mark} tproxy ip to :${state.proxyPort} accept`,
    'meta l4proto tcp reject with tcp reset',
    'drop',
  ]);
  b.chain({ name: 'host_out', base: { type: 'filter', hook: 'output', priority: 0 } }, ['ip daddr @eps goto host_pod']);
  // Host → pod (OUTPUT). Allowed and never proxied (allow-localhost), but explicit deny segments that apply to
  // reserved:host still drop. The level chains cannot be reused here: they reach `tproxy`, which the kernel only
  // accepts in prerouting, so the host's effective denies are flattened into two sets (also used by ingress_host).
  const hostDeny = b.set({ name: 'host_deny', type: 'ipv4_addr . inet_proto . inet_service', interval: true });
  const hostDenyIcmp = b.set({ name: 'host_deny_icmp', type: 'ipv4_addr . icmp_type', interval: true });
  const hostLog = `ct state new log prefix "${logPrefix({ direction: 'ingress', verdict: 'deny', level: 'id' })}" group ${opts.nflogGroup}`;
  const hostDenies = [
    `meta l4proto { tcp, udp, sctp } ip daddr . meta l4proto . th dport @host_deny ${hostLog}`,
    `meta l4proto { tcp, udp, sctp } ip daddr . meta l4proto . th dport @host_deny drop`,
    `meta l4proto icmp ip daddr . icmp type @host_deny_icmp ${hostLog}`,
    'meta l4proto icmp ip daddr . icmp type @host_deny_icmp drop',
  ];
  b.chain({ name: 'host_pod' }, ['ct direction reply accept', 'ct state related accept', ...hostDenies, 'accept']);
  // The same judgement for host traffic that enters through prerouting (reached from the ingress levels).
  b.chain({ name: 'ingress_host' }, [...hostDenies, 'return']);
  const svcRule = 'ip daddr . meta l4proto . th dport vmap @services';
  b.chain({ name: 'nat_pre', base: { type: 'nat', hook: 'prerouting', priority: -100 } }, [svcRule]);
  b.chain({ name: 'nat_out', base: { type: 'nat', hook: 'output', priority: -100 } }, [svcRule]);
  b.chain({ name: 'nat_post', base: { type: 'nat', hook: 'postrouting', priority: 100 } }, [
    'ct status dnat ip saddr . ip daddr @hairpin masquerade',
  ]);
  for (const { dir, d } of DIRS) {
    for (const level of LEVELS) {
      const lp = (verdict: VerdictKind): LogPrefix => ({ direction: dir, verdict, level });
      b.chain({ name: verdictChain(d, 'allow', level) }, [log(lp('allow'))]);
      b.chain({ name: verdictChain(d, 'audit', level) }, [log(lp('audit'))]);
      b.chain({ name: verdictChain(d, 'deny', level) }, [log(lp('deny')), ...logCut(lp('deny')), 'drop']);
      b.chain(
        { name: verdictChain(d, 'redirect', level) },
        d === 'eg' ? [log(lp('redirect')), 'goto ingress_eval_l7'] : [log(lp('redirect')), 'goto to_proxy'],
      );
    }
    b.chain({ name: verdictChain(d, 'denied') }, [
      log({ direction: dir, verdict: 'denied', level: 'default' }),
      ...logCut({ direction: dir, verdict: 'denied', level: 'default' }),
      'drop',
    ]);
  }

  // --- policy maps and the level chains ---
  const maps = policyMaps(b);
  for (const { d } of DIRS) {
    const ep = d === 'in' ? 'daddr' : 'saddr';
    const peer = d === 'in' ? 'saddr' : 'daddr';
    const l4: string[] = [];
    const icmp: string[] = [];
    for (const level of LEVELS) {
      // Once a level hit wrote a code, later levels must not look: the id level's key holds the mark (a code is
      // never an identity), the pods level's range excludes codes, and the ip level comes first; the wildcard
      // level needs the explicit test.
      const guard =
        level === 'pd' ? `meta mark ${POD_MARKS} ` : level === 'wc' ? `meta mark & ${hex(CODE_BIT)} == 0 ` : '';
      const key = level === 'ip' ? `ip ${ep} . ip ${peer}` : level === 'id' ? `ip ${ep} . meta mark` : `ip ${ep}`;
      const m = (kind: MapKind) => `@${d}_${level}_${kind}`;
      const set = (k: string, map: string) => `${guard}meta mark set ${key} . ${k} map ${map}`;
      l4.push(
        set('meta l4proto . th dport', m('port')),
        set('meta l4proto', m('any')),
        set('meta l4proto . th dport', m('range')),
      );
      icmp.push(set('meta l4proto', m('any')), set('icmp type', m('icmp')), set('icmp type', m('icmpr')));
    }
    const chain = d === 'in' ? 'ingress' : 'egress';
    const codes = b.set({ name: `${d}_codes`, type: 'mark', map: 'verdict' });
    for (const kind of VERDICTS)
      for (const level of LEVELS) codes.set(verdictCode(kind, level), `goto ${verdictChain(d, kind, level)}`);
    const tail = [`meta mark vmap @${d}_codes`, `ip ${ep} @${d}_default_deny goto ${verdictChain(d, 'denied')}`];
    // The host reaching a pod is allowed and never proxied; only its explicit denies apply (the same sets as
    // host → pod in OUTPUT). Handled before the levels, which would otherwise lose the identity to a code.
    const host = d === 'in' ? ['meta mark 1 goto ingress_host'] : [];
    // ICMP has its own key shape; splitting by protocol keeps a TCP SYN from evaluating the ICMP lookups. Packets
    // of other protocols match no element (every key carries the protocol) and reach the default deny.
    b.chain({ name: chain }, [...host, `meta l4proto icmp goto ${chain}_icmp`, ...l4, ...tail]);
    b.chain({ name: `${chain}_icmp` }, [...icmp, ...tail]);
  }

  // --- endpoints ---
  const seenIps = new Set<string>();
  for (const ep of state.endpoints) {
    if (seenIps.has(ep.ip)) throw new Error(`two endpoints with IP ${ep.ip}`);
    seenIps.add(ep.ip);
    eps.set(ep.ip, '');
    hairpin.set(`${ep.ip} . ${ep.ip}`, '');
    for (const { dir, d } of DIRS) {
      const ds = ep.policy[dir];
      // Not enforced: no element at all, the lookups miss and the packet goes on.
      if (!ds.enforced) continue;
      maps[d].enforced.set(ep.ip, '');
      const put = (level: Level, peer: string, segs: readonly Segment[]) => {
        for (const s of segs) {
          const { kind, key } = segmentKey(s, `${ep.ip} . ${peer}`);
          maps[d][level][kind].set(key, verdictCode(segmentKind(s), level));
        }
      };
      for (const [ip, segs] of Object.entries(ds.byIp)) put('ip', `${bareIp(ip)} . `, segs);
      for (const [pid, segs] of Object.entries(ds.byIdentity)) {
        checkIdentity(Number(pid), `${ep.name} ${dir} byIdentity`, opts);
        put('id', `${Number(pid)} . `, segs);
      }
      put('pd', '', ds.pods ?? []);
      put('wc', '', ds.wildcard);
      if (!ds.defaultAllow) maps[d].defaultDeny.set(ep.ip, '');
      if (d === 'in') {
        for (const hs of hostEffective(ds)) {
          if (hs.verdict !== 'deny' || hs.audit) continue;
          const range = `${hs.lo}-${hs.hi}`;
          if (hs.protocol === 'ICMP') hostDenyIcmp.set(`${ep.ip} . ${range}`, '');
          else hostDeny.set(`${ep.ip} . ${protoName(hs.protocol)} . ${range}`, '');
        }
      }
    }
  }

  // --- services ---
  for (const svc of state.services) {
    if (svc.backends.length === 0) continue; // no element: traffic to the ClusterIP is not translated
    const id = serviceId(svc);
    if (b.model.chains.has(id)) throw new Error(`service key hash collision: ${svc.key} (${id})`);
    const proto = protoName(svc.protocol);
    services.set(`${svc.ip} . ${proto} . ${svc.port}`, `goto ${id}`);
    const dnat = (be: { ip: string; port: number }) => `dnat ip to ${be.ip}:${be.port}`;
    const rule =
      svc.backends.length === 1
        ? `meta l4proto ${proto} ${dnat(svc.backends[0]!)}`
        : `meta l4proto ${proto} dnat ip to numgen random mod ${svc.backends.length} map { ${svc.backends
            .map((be, i) => `${i} : ${be.ip} . ${be.port}`)
            .join(', ')} }`;
    b.chain({ name: id }, [rule]);
  }
  return b.model;
}

/**
 * The segments that decide for peer reserved:host (identity 1): identity-level segments where they exist, the
 * wildcard level elsewhere (the byIp level is for pod IPs and is not consulted for the host here).
 */
export function hostEffective(ds: DirectionState): Segment[] {
  const own = ds.byIdentity[1] ?? [];
  const out: Segment[] = [...own];
  for (const w of ds.wildcard) {
    let pieces: [number, number][] = [[w.lo, w.hi]];
    for (const o of own) {
      if (o.protocol !== w.protocol) continue;
      pieces = pieces.flatMap(([lo, hi]): [number, number][] => {
        if (o.hi < lo || o.lo > hi) return [[lo, hi]];
        const r: [number, number][] = [];
        if (lo < o.lo) r.push([lo, o.lo - 1]);
        if (o.hi < hi) r.push([o.hi + 1, hi]);
        return r;
      });
    }
    for (const [lo, hi] of pieces) out.push({ ...w, lo, hi });
  }
  return out;
}

function setDecl(t: string, s: NftSetSpec): string {
  const kind = s.map ? 'map' : 'set';
  const type = s.map ? `${s.type} : ${s.map}` : s.type;
  return `add ${kind} inet ${t} ${s.name} { type ${type} ;${s.interval ? ' flags interval ;' : ''} }`;
}

function chainDecl(t: string, c: NftChainSpec): string {
  if (!c.base) return `add chain inet ${t} ${c.name}`;
  const { type, hook, priority } = c.base;
  return `add chain inet ${t} ${c.name} { type ${type} hook ${hook} priority ${priority} ; policy accept ; }`;
}

const ELEMENT_BATCH = 512;

function elementCmds(verb: 'add' | 'delete', t: string, name: string, elems: [string, string][]): string[] {
  const out: string[] = [];
  for (let i = 0; i < elems.length; i += ELEMENT_BATCH) {
    const part = elems
      .slice(i, i + ELEMENT_BATCH)
      .map(([k, v]) => (verb === 'add' && v !== '' ? `${k} : ${v}` : k))
      .join(', ');
    out.push(`${verb} element inet ${t} ${name} { ${part} }`);
  }
  return out;
}

function sameSpec(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Commands that replace the whole table atomically (`add; delete; add` works whether or not it exists). */
export function renderFull(model: NftModel): NftTransaction {
  const t = model.table;
  const cmds = [`add table inet ${t}`, `delete table inet ${t}`, `add table inet ${t}`];
  let changes = 1;
  // Chains before sets: nft 1.0.6 fails (ENOENT) on a goto element added to a non-concatenated interval map that
  // was declared in the same batch *before* its target chain.
  for (const { spec } of model.chains.values()) cmds.push(chainDecl(t, spec));
  for (const { spec } of model.sets.values()) cmds.push(setDecl(t, spec));
  changes += model.sets.size + model.chains.size;
  for (const [name, c] of model.chains) {
    for (const r of c.rules) cmds.push(`add rule inet ${t} ${name} ${r}`);
    changes += c.rules.length;
  }
  for (const [name, s] of model.sets) {
    cmds.push(...elementCmds('add', t, name, [...s.elements]));
    changes += s.elements.size;
  }
  return { commands: cmds, changes, full: true };
}

/** Commands that remove the table (idempotent). */
export function renderTeardown(table: string): string[] {
  return [`add table inet ${table}`, `delete table inet ${table}`];
}

/**
 * The incremental transaction from `prev` to `next`: only changed elements are touched; a chain whose rules
 * changed is flushed and refilled; new/removed endpoints add/remove their own chains and maps.
 * Order matters inside one batch: references must be dropped before what they point to is deleted, and targets
 * must exist before elements or rules point to them.
 */
export function diff(prev: NftModel, next: NftModel): NftTransaction {
  if (prev.table !== next.table) throw new Error('diff across tables');
  const t = next.table;
  const cmds: string[] = [];
  let changes = 0;

  const respecced = new Set<string>();
  for (const [name, s] of prev.sets) {
    const n = next.sets.get(name);
    if (n && !sameSpec(n.spec, s.spec)) respecced.add(name);
  }
  const rechained = new Set<string>();
  for (const [name, c] of prev.chains) {
    const n = next.chains.get(name);
    if (n && !sameSpec(n.spec, c.spec)) rechained.add(name);
  }

  // 1. element deletions (removed keys, changed values) in surviving sets
  for (const [name, s] of prev.sets) {
    const n = next.sets.get(name);
    if (!n || respecced.has(name)) continue;
    const del: [string, string][] = [];
    for (const [k, v] of s.elements) if (n.elements.get(k) !== v) del.push([k, v]);
    cmds.push(...elementCmds('delete', t, name, del));
    changes += del.length;
  }
  // 2. flush chains that change or go away (drops their references)
  const flush: string[] = [];
  for (const [name, c] of prev.chains) {
    const n = next.chains.get(name);
    if (!n || rechained.has(name) || !sameSpec(n.rules, c.rules)) flush.push(name);
  }
  const flushed = new Set(flush);
  for (const name of flush) cmds.push(`flush chain inet ${t} ${name}`);
  changes += flush.length;
  // 3. delete removed chains; 4. delete removed sets
  for (const name of prev.chains.keys()) {
    if (!next.chains.has(name) || rechained.has(name)) {
      cmds.push(`delete chain inet ${t} ${name}`);
      changes++;
    }
  }
  for (const name of prev.sets.keys()) {
    if (!next.sets.has(name) || respecced.has(name)) {
      const kind = prev.sets.get(name)!.spec.map ? 'map' : 'set';
      cmds.push(`delete ${kind} inet ${t} ${name}`);
      changes++;
    }
  }
  // 5. add new chains, then new sets (see renderFull for why chains come first)
  for (const [name, c] of next.chains) {
    if (!prev.chains.has(name) || rechained.has(name)) {
      cmds.push(chainDecl(t, c.spec));
      changes++;
    }
  }
  for (const [name, s] of next.sets) {
    if (!prev.sets.has(name) || respecced.has(name)) {
      cmds.push(setDecl(t, s.spec));
      changes++;
    }
  }
  // 6. rules of new and flushed chains
  for (const [name, c] of next.chains) {
    if (prev.chains.has(name) && !flushed.has(name)) continue;
    for (const r of c.rules) cmds.push(`add rule inet ${t} ${name} ${r}`);
    changes += c.rules.length;
  }
  // 7. element additions
  for (const [name, s] of next.sets) {
    const p = prev.sets.get(name);
    const fresh = !p || respecced.has(name);
    const add: [string, string][] = [];
    for (const [k, v] of s.elements) if (fresh || p!.elements.get(k) !== v) add.push([k, v]);
    cmds.push(...elementCmds('add', t, name, add));
    changes += add.length;
  }
  return { commands: cmds, changes, full: false };
}

/** Stable, sorted, human-readable listing of a model (for golden tests and `podwall status`). */
export function dumpModel(model: NftModel): string {
  const t = model.table;
  const lines: string[] = [`table inet ${t}`];
  for (const name of [...model.sets.keys()].sort()) {
    const s = model.sets.get(name)!;
    lines.push(setDecl(t, s.spec).replace(/^add /, ''));
    for (const k of [...s.elements.keys()].sort()) {
      const v = s.elements.get(k)!;
      lines.push(`  ${k}${v ? ` : ${v}` : ''}`);
    }
  }
  for (const name of [...model.chains.keys()].sort()) {
    const c = model.chains.get(name)!;
    lines.push(chainDecl(t, c.spec).replace(/^add /, ''));
    for (const r of c.rules) lines.push(`  ${r}`);
  }
  return `${lines.join('\n')}\n`;
}
