import { describe, expect, it } from 'vitest';
import { desired, endpoint, enforced, seg, service } from '../builders.test-helper.js';
import {
  diff,
  dumpModel,
  hostEffective,
  logPrefix,
  parseLogPrefix,
  renderFull,
  renderModel,
  shortHash,
  transactionText,
} from './render.js';

const opts = { table: 'pw-test-render', nflogGroup: 7, tproxyMark: 0x80000000 };
const A = endpoint('default/a', '10.9.0.2', 1001, {
  ingress: enforced({ byIdentity: { 1002: [seg('TCP', 80), seg('TCP', 8000, 8080, { deny: true })] } }),
});
const B = endpoint('default/b', '10.9.0.3', 1002);
const base = () =>
  desired({
    endpoints: [structuredClone(A), structuredClone(B)],
    hostIps: ['10.9.0.1'],
    services: [service('default/web:http', '10.96.0.10', 80, [{ ip: '10.9.0.2', port: 8080 }])],
  });
const ea = `e_${shortHash('default/a')}`;

describe('renderModel', () => {
  it('renders the layout (golden excerpts)', () => {
    const dump = dumpModel(renderModel(base(), opts));
    expect(dump).toContain(
      'map inet pw-test-render ipcache { type ipv4_addr : mark ; }\n  10.9.0.1 : 1\n  10.9.0.2 : 1001',
    );
    expect(dump).toContain(
      `map inet pw-test-render ${ea}_in_id { type mark . inet_proto . inet_service : verdict ; flags interval ; }`,
    );
    expect(dump).toContain('  1002 . tcp . 80-80 : goto v_in_allow_id');
    expect(dump).toContain('  1002 . tcp . 8000-8080 : goto v_in_deny_id');
    expect(dump).toContain(`  10.9.0.2 : jump ${ea}_in`);
    expect(dump).toContain(
      'chain inet pw-test-render policy_pre { type filter hook prerouting priority -90 ; policy accept ; }',
    );
    expect(dump).toContain('meta l4proto tcp dnat ip to 10.9.0.2:8080');
    expect(dump).toContain('tproxy ip to :15001 accept');
    expect(dump).toContain(`log prefix "pw:in:deny:id " group 7`);
    // b is not enforced: no chain, no dispatch element
    expect(dump).not.toContain(`e_${shortHash('default/b')}_in`);
    expect(dumpModel(renderModel(base(), opts))).toBe(dump);
  });

  it('starts with an atomic table replacement', () => {
    const text = transactionText(renderFull(renderModel(base(), opts)));
    expect(text.split('\n').slice(0, 3)).toEqual([
      'add table inet pw-test-render',
      'delete table inet pw-test-render',
      'add table inet pw-test-render',
    ]);
  });

  it('flattens nested CIDRs into the interval map', () => {
    const s = base();
    s.ipcache.push({ prefix: '192.0.2.0/24', identity: 16777217 }, { prefix: '192.0.2.128/25', identity: 16777218 });
    const m = renderModel(s, opts);
    expect([...m.sets.get('ipcache_cidr')!.elements]).toEqual([
      ['192.0.2.0-192.0.2.127', '16777217'],
      ['192.0.2.128-192.0.2.255', '16777218'],
    ]);
  });

  it('rejects identities that would collide with the TPROXY mark bit', () => {
    const s = base();
    s.ipcache.push({ prefix: '10.9.9.9/32', identity: 0x80000001 });
    expect(() => renderModel(s, opts)).toThrow(/out of range/);
  });

  it('host deny set: identity-level segments over wildcard, denies only', () => {
    const ds = enforced({
      byIdentity: { 1: [seg('TCP', 22, 22, { deny: true }), seg('TCP', 80)] },
      wildcard: [seg('TCP', 1, 1024, { deny: true })],
    });
    const eff = hostEffective(ds).map((x) => `${x.protocol}:${x.lo}-${x.hi}:${x.verdict}`);
    expect(eff.sort()).toEqual([
      'TCP:1-21:deny',
      'TCP:22-22:deny',
      'TCP:23-79:deny',
      'TCP:80-80:allow',
      'TCP:81-1024:deny',
    ]);
  });

  it('log prefixes round-trip', () => {
    const p = { direction: 'egress', verdict: 'redirect', level: 'pd' } as const;
    expect(parseLogPrefix(logPrefix(p))).toEqual(p);
    expect(parseLogPrefix('pw:in:denied:def ')).toEqual({ direction: 'ingress', verdict: 'denied', level: 'default' });
    expect(parseLogPrefix('other')).toBeUndefined();
  });
});

describe('diff', () => {
  it('is empty for identical states', () => {
    const m = renderModel(base(), opts);
    expect(diff(m, renderModel(base(), opts)).commands).toEqual([]);
  });

  it('a segment change touches only those map elements (single ports deleted as degenerate ranges)', () => {
    const next = base();
    next.endpoints[0]!.policy.ingress.byIdentity[1002] = [seg('TCP', 81), seg('TCP', 8000, 8080, { deny: true })];
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands).toEqual([
      `delete element inet pw-test-render ${ea}_in_id { 1002 . tcp . 80-80 }`,
      `add element inet pw-test-render ${ea}_in_id { 1002 . tcp . 81-81 : goto v_in_allow_id }`,
    ]);
    expect(tx).toMatchObject({ changes: 2, full: false });
  });

  it('a pod added: its ipcache element, its own chain and maps, dispatch, eps, hairpin', () => {
    const next = base();
    next.endpoints.push(endpoint('default/c', '10.9.0.4', 1003, { egress: enforced({ wildcard: [seg('UDP', 53)] }) }));
    next.ipcache.push({ prefix: '10.9.0.4/32', identity: 1003 });
    const ec = `e_${shortHash('default/c')}`;
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands).toEqual([
      `add chain inet pw-test-render ${ec}_eg`,
      `add map inet pw-test-render ${ec}_eg_wc { type inet_proto . inet_service : verdict ; flags interval ; }`,
      `add rule inet pw-test-render ${ec}_eg meta l4proto { tcp, udp, sctp } meta l4proto . th dport vmap @${ec}_eg_wc`,
      `add rule inet pw-test-render ${ec}_eg goto v_eg_denied`,
      'add element inet pw-test-render ipcache { 10.9.0.4 : 1003 }',
      'add element inet pw-test-render eps { 10.9.0.4 }',
      'add element inet pw-test-render hairpin { 10.9.0.4 . 10.9.0.4 }',
      `add element inet pw-test-render eg_dispatch { 10.9.0.4 : jump ${ec}_eg }`,
      `add element inet pw-test-render ${ec}_eg_wc { udp . 53-53 : goto v_eg_allow_wc }`,
    ]);
  });

  it('a pod removed: references dropped before chains and maps are deleted', () => {
    const prev = renderModel(base(), opts);
    const next = base();
    next.endpoints.shift();
    const cmds = diff(prev, renderModel(next, opts)).commands;
    const idx = (re: RegExp) => cmds.findIndex((c) => re.test(c));
    expect(idx(/delete element .* in_dispatch/)).toBeLessThan(idx(/delete chain .*_in$/));
    expect(idx(/flush chain .*_in$/)).toBeLessThan(idx(/delete map .*_in_id$/));
    expect(idx(/delete chain .*_in$/)).toBeLessThan(idx(/delete map .*_in_id$/));
  });

  it('enforcement toggles rewrite only that endpoint chain', () => {
    const next = base();
    next.endpoints[0]!.policy.ingress.defaultAllow = true;
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands[0]).toBe(`flush chain inet pw-test-render ${ea}_in`);
    expect(tx.commands.every((c) => c.includes(`${ea}_in`))).toBe(true);
  });

  it('backend change rewrites only the service chain', () => {
    const next = base();
    next.services[0]!.backends.push({ ip: '10.9.0.3', port: 8080 });
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands).toEqual([
      `flush chain inet pw-test-render s_${shortHash('default/web:http')}`,
      `add rule inet pw-test-render s_${shortHash('default/web:http')} meta l4proto tcp dnat ip to numgen random mod 2 map { 0 : 10.9.0.2 . 8080, 1 : 10.9.0.3 . 8080 }`,
    ]);
  });
});
