import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ifindexOf } from './attach.js';
import { addNetns, IS_ROOT, inNetns, randomId, sh, type TestDatapath, testDatapath } from './fixtures.test-helper.js';
import { attachTcFilter, removeTcFilters } from './tc-filter.js';

describe.skipIf(!IS_ROOT)('tc filters on a pod interface (clsact + cls_bpf)', () => {
  const id = randomId();
  const ns = `pw-t-${id}f`;
  const veth = `pw-t${id}f`;
  const cleanups: (() => Promise<void>)[] = [];
  let t: TestDatapath;
  let ifindex: number;

  beforeAll(async () => {
    cleanups.push(await addNetns(ns));
    await sh('ip', ['-n', ns, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
    ifindex = inNetns(ns, () => ifindexOf(veth));
    t = await testDatapath();
    cleanups.push(() => t.cleanup());
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  const filters = (dir: 'ingress' | 'egress') => sh('tc', ['-n', ns, 'filter', 'show', 'dev', veth, dir]);
  const qdiscs = () => sh('tc', ['-n', ns, 'qdisc', 'show', 'dev', veth]);

  test('attach creates the clsact qdisc and one direct-action filter per direction', async () => {
    inNetns(ns, () => {
      attachTcFilter(ifindex, 'ingress', t.dp.progFd('from_pod'));
      attachTcFilter(ifindex, 'egress', t.dp.progFd('to_pod'));
    });
    expect(await qdiscs()).toContain('clsact');
    const ing = await filters('ingress');
    expect(ing).toMatch(/from_pod.*direct-action/);
    expect(await filters('egress')).toMatch(/to_pod.*direct-action/);
  });

  test('attaching again replaces the program in place: still one filter', async () => {
    inNetns(ns, () => attachTcFilter(ifindex, 'ingress', t.dp.progFd('to_pod')));
    const ing = await filters('ingress');
    expect(ing).toContain('to_pod');
    expect(ing).not.toContain('from_pod');
    expect(ing.match(/direct-action/g)).toHaveLength(1);
  });

  test('remove takes both filters and the qdisc; again, or on a gone interface, is a no-op', async () => {
    inNetns(ns, () => removeTcFilters(ifindex));
    expect(await qdiscs()).not.toContain('clsact');
    inNetns(ns, () => removeTcFilters(ifindex));
    inNetns(ns, () => removeTcFilters(999_999));
  });

  test('an invalid ifindex is an error, not an attach somewhere', () => {
    expect(() => attachTcFilter(0, 'ingress', t.dp.progFd('from_pod'))).toThrow(/invalid ifindex/);
  });
});
