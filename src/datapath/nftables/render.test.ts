import { describe, expect, it } from 'vitest';
import { desired, endpoint, enforced, seg, service } from '../builders.test-helper.js';
import {
  diff,
  dumpModel,
  GENERATION_LIMIT,
  generationMove,
  hostEffective,
  logPrefix,
  nextGeneration,
  parseLogPrefix,
  renderFull,
  renderModel,
  shortHash,
  transactionText,
  withGeneration,
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

describe('renderModel', () => {
  it('renders the layout (golden excerpts)', () => {
    const dump = dumpModel(renderModel(base(), opts));
    expect(dump).toContain(
      'map inet pw-test-render ipcache { type ipv4_addr : mark ; }\n  10.9.0.1 : 1\n  10.9.0.2 : 1001',
    );
    // One shared hash map per direction, level and key shape; single ports are hash elements keyed by the endpoint.
    expect(dump).toContain(
      'map inet pw-test-render in_id_port { type ipv4_addr . mark . inet_proto . inet_service : mark ; }\n' +
        '  10.9.0.2 . 1002 . tcp . 80 : 0x40000001',
    );
    // A true range goes to the interval map.
    expect(dump).toContain(
      'map inet pw-test-render in_id_range { type ipv4_addr . mark . inet_proto . inet_service : mark ; flags interval ; }\n' +
        '  10.9.0.2 . 1002 . tcp . 8000-8080 : 0x40000005',
    );
    // The policy maps hold verdict codes; one static map per direction turns a code into the verdict chain.
    expect(dump).toContain('  0x40000001 : goto v_in_allow_id\n');
    expect(dump).toContain('  0x40000005 : goto v_in_deny_id\n');
    expect(dump).toContain('set inet pw-test-render in_default_deny { type ipv4_addr ; }\n  10.9.0.2\n');
    expect(dump).toContain(
      'chain inet pw-test-render policy_pre { type filter hook prerouting priority -90 ; policy accept ; }',
    );
    expect(dump).toContain('meta l4proto tcp dnat ip to 10.9.0.2:8080');
    expect(dump).toContain('tproxy ip to :15001 accept');
    expect(dump).toContain(`log prefix "pw:in:deny:id " group 7`);
    // b is not enforced: no policy element keyed by its IP
    const policyKeys = [...renderModel(base(), opts).sets]
      .filter(([name]) => /^(in|eg)_/.test(name))
      .flatMap(([, set]) => [...set.elements.keys()]);
    expect(policyKeys.some((k) => k.startsWith('10.9.0.2'))).toBe(true);
    expect(policyKeys.some((k) => k.startsWith('10.9.0.3'))).toBe(false);
    expect(dumpModel(renderModel(base(), opts))).toBe(dump);
  });

  it('the level chains look up every level in order, ICMP in its own chain, then the default deny', () => {
    const m = renderModel(base(), opts);
    const eg = m.chains.get('egress')!.rules;
    expect(eg[0]).toBe('meta l4proto icmp goto egress_icmp');
    expect(eg.slice(1, 4)).toEqual([
      'meta mark set ip saddr . ip daddr . meta l4proto . th dport map @eg_ip_port',
      'meta mark set ip saddr . ip daddr . meta l4proto map @eg_ip_any',
      'meta mark set ip saddr . ip daddr . meta l4proto . th dport map @eg_ip_range',
    ]);
    expect(eg.map((r) => /@eg_([a-z]+)/.exec(r)?.[1]).filter(Boolean)).toEqual([
      'ip',
      'ip',
      'ip',
      'id',
      'id',
      'id',
      'pd',
      'pd',
      'pd',
      'wc',
      'wc',
      'wc',
      'codes',
      'default',
    ]);
    expect(eg).toContain('meta mark 256-65535 meta mark set ip saddr . meta l4proto . th dport map @eg_pd_port');
    // After a hit the mark holds a code: the wildcard level must not look again.
    expect(eg).toContain('meta mark & 0x40000000 == 0 meta mark set ip saddr . meta l4proto map @eg_wc_any');
    expect(eg.slice(-2)).toEqual(['meta mark vmap @eg_codes', 'ip saddr @eg_default_deny goto v_eg_denied']);
    const inIcmp = m.chains.get('ingress_icmp')!.rules;
    expect(inIcmp).toContain('meta mark set ip daddr . meta mark . icmp type map @in_id_icmp');
    expect(inIcmp.at(-1)).toBe('ip daddr @in_default_deny goto v_in_denied');
    // The host is handled before the levels (allowed, never proxied, explicit denies only).
    expect(m.chains.get('ingress')!.rules[0]).toBe('meta mark 1 goto ingress_host');
    // Anti-spoofing comes before any identity is derived from the source address.
    const pod = m.chains.get('pod')!.rules;
    expect(pod.indexOf('fib saddr . iif oif missing drop')).toBeGreaterThan(-1);
    expect(pod.indexOf('fib saddr . iif oif missing drop')).toBeLessThan(
      pod.findIndex((r) => r.startsWith('meta mark set')),
    );
    expect(m.chains.get('ingress_host')!.rules.at(-1)).toBe('return');
    expect(m.chains.get('egress')!.rules.join('\n')).not.toContain('ingress_host');
  });

  it.each([
    ['one port', seg('TCP', 80), 'in_wc_port', '10.9.0.2 . tcp . 80'],
    ['every port', seg('UDP', 0, 65535), 'in_wc_any', '10.9.0.2 . udp'],
    ['a port range', seg('SCTP', 1000, 2000), 'in_wc_range', '10.9.0.2 . sctp . 1000-2000'],
    ['one ICMP type', seg('ICMP', 8), 'in_wc_icmp', '10.9.0.2 . 8'],
    ['every ICMP type', seg('ICMP', 0, 255), 'in_wc_any', '10.9.0.2 . icmp'],
    ['an ICMP type range', seg('ICMP', 3, 5), 'in_wc_icmpr', '10.9.0.2 . 3-5'],
  ])('a wildcard segment for %s goes to %s', (_name, segment, map, key) => {
    const s = base();
    s.endpoints[0]!.policy.ingress.wildcard = [segment];
    expect([...renderModel(s, opts).sets.get(map)!.elements]).toEqual([[key, '0x40000003']]);
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
    const cut = { direction: 'ingress', verdict: 'deny', level: 'id', cut: true } as const;
    expect(logPrefix(cut)).toBe('pw:in:deny:id:cut ');
    expect(parseLogPrefix(logPrefix(cut))).toEqual(cut);
  });

  it('drops of established, previously accepted connections are logged once as cut', () => {
    const m = renderModel(base(), opts);
    for (const chain of ['v_in_deny_id', 'v_eg_denied'])
      expect(m.chains.get(chain)!.rules.slice(-3)).toEqual([
        `ct state established ct mark != 0 log prefix "pw:${chain.slice(2, 4)}:${chain.includes('denied') ? 'denied:def' : 'deny:id'}:cut " group 7`,
        'ct state established ct mark set 0',
        'drop',
      ]);
  });
});

describe('diff', () => {
  it('is empty for identical states', () => {
    const m = renderModel(base(), opts);
    expect(diff(m, renderModel(base(), opts)).commands).toEqual([]);
  });

  it('a segment change touches only those map elements', () => {
    const next = base();
    next.endpoints[0]!.policy.ingress.byIdentity[1002] = [seg('TCP', 81), seg('TCP', 8000, 8080, { deny: true })];
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands).toEqual([
      'delete element inet pw-test-render in_id_port { 10.9.0.2 . 1002 . tcp . 80 }',
      'add element inet pw-test-render in_id_port { 10.9.0.2 . 1002 . tcp . 81 : 0x40000001 }',
    ]);
    expect(tx).toMatchObject({ changes: 2, full: false });
  });

  it('a pod added: elements only (ipcache, eps, hairpin, its policy) — no chain, map or rule', () => {
    const next = base();
    next.endpoints.push(endpoint('default/c', '10.9.0.4', 1003, { egress: enforced({ wildcard: [seg('UDP', 53)] }) }));
    next.ipcache.push({ prefix: '10.9.0.4/32', identity: 1003 });
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands).toEqual([
      'add element inet pw-test-render ipcache { 10.9.0.4 : 1003 }',
      'add element inet pw-test-render eps { 10.9.0.4 }',
      'add element inet pw-test-render hairpin { 10.9.0.4 . 10.9.0.4 }',
      'add element inet pw-test-render eg_wc_port { 10.9.0.4 . udp . 53 : 0x40000003 }',
      'add element inet pw-test-render eg_enforced { 10.9.0.4 }',
      'add element inet pw-test-render eg_default_deny { 10.9.0.4 }',
    ]);
  });

  it('a pod removed: only its elements are deleted', () => {
    const prev = renderModel(base(), opts);
    const next = base();
    next.endpoints.shift();
    const cmds = diff(prev, renderModel(next, opts)).commands;
    expect(cmds.every((c) => c.startsWith('delete element '))).toBe(true);
    expect(cmds).toContain('delete element inet pw-test-render in_id_range { 10.9.0.2 . 1002 . tcp . 8000-8080 }');
    expect(cmds).toContain('delete element inet pw-test-render in_default_deny { 10.9.0.2 }');
  });

  it('enforcement toggles touch only that endpoint default-deny element', () => {
    const next = base();
    next.endpoints[0]!.policy.ingress.defaultAllow = true;
    const tx = diff(renderModel(base(), opts), renderModel(next, opts));
    expect(tx.commands).toEqual(['delete element inet pw-test-render in_default_deny { 10.9.0.2 }']);
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

describe('verdict cache (policy generation in ct mark)', () => {
  it('accepts marked connections first and marks connections the policy walk accepts', () => {
    const m = renderModel(base(), opts, 0x2a);
    expect(m.chains.get('policy_pre')!.rules).toEqual([
      'ct state established ct mark @gen_now accept',
      'ip saddr @eps goto pod',
      'ip daddr @eps goto pod',
    ]);
    expect([...m.sets.get('gen_now')!.elements.keys()]).toEqual(['0x2a']);
    expect([...m.sets.get('gen_mark')!.elements]).toEqual([['ipv4', '0x2a']]);
    const ev = m.chains.get('ingress_eval')!.rules;
    expect(ev.at(-1)).toBe('ct mark set meta nfproto map @gen_mark accept');
    // Proxied flows are accepted before the marking rule, so they never skip the tproxy/socket rules.
    expect(ev.at(-2)).toMatch(/socket transparent 1 .* accept$/);
    expect(m.chains.get('ingress_eval_l7')!.rules.join('\n')).not.toContain('ct mark');
  });

  it('moving the generation is four element operations in the same batch as the change', () => {
    const prev = renderModel(base(), opts, 7);
    const next = base();
    next.endpoints[0]!.policy.ingress.byIdentity[1002] = [seg('TCP', 81)];
    const tx = diff(prev, withGeneration(renderModel(next, opts, 7), 8));
    expect(tx.commands.filter((c) => /gen_/.test(c))).toEqual([
      'delete element inet pw-test-render gen_now { 0x7 }',
      'delete element inet pw-test-render gen_mark { ipv4 }',
      'add element inet pw-test-render gen_now { 0x8 }',
      'add element inet pw-test-render gen_mark { ipv4 : 0x8 }',
    ]);
    expect(tx.commands.some((c) => /chain|rule/.test(c))).toBe(false);
    // generationMove is that same diff, without walking the rest of the model.
    expect(generationMove('pw-test-render', 7, 8)).toEqual(tx.commands.filter((c) => /gen_/.test(c)));
    expect(withGeneration(prev, 7)).toEqual(prev);
  });

  it.each([
    ['1 → 2', 1, 2],
    ['wraps below the top bit, skipping 0', GENERATION_LIMIT - 1, 1],
  ])('nextGeneration %s', (_name, g, want) => {
    expect(nextGeneration(g)).toBe(want);
  });

  it.each([0, -1, 1.5, GENERATION_LIMIT])('rejects generation %s', (g) => {
    expect(() => renderModel(base(), opts, g)).toThrow(/invalid policy generation/);
  });
});
