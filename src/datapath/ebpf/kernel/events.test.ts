import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { type EventReader, openEvents } from './events.js';
import {
  CONFIG_KEY,
  configVal,
  decodeEvent,
  EP,
  endpointKey,
  endpointVal,
  frame,
  IS_ROOT,
  ROOT_REASON,
  SYN,
  TCP,
  type TestDatapath,
  testDatapath,
} from './fixtures.test-helper.js';
import { testRun } from './test-run.js';

if (!IS_ROOT) console.warn(`events.test.ts skipped: ${ROOT_REASON}`);

describe.skipIf(!IS_ROOT)('openEvents', () => {
  let t: TestDatapath;
  let reader: EventReader | undefined;
  beforeEach(async () => {
    t = await testDatapath();
    t.dp.maps.config.update(CONFIG_KEY, configVal(1));
    // An endpoint whose egress denies everything: every SYN it sends is one DENIED record.
    t.dp.maps.endpoints.update(endpointKey('10.213.0.1'), endpointVal(300, 1, EP.EG_ENFORCED));
  });
  afterEach(async () => {
    reader?.close();
    reader = undefined;
    await t.cleanup();
  });

  const syn = (sport: number) =>
    testRun(
      t.dp.progFd('from_pod'),
      frame({ src: '10.213.0.1', dst: '10.213.9.9', proto: TCP, sport, dport: 80, tcpFlags: SYN }),
    );

  test('poll delivers every pending record once, as copies', () => {
    const got: Buffer[] = [];
    reader = openEvents(t.dp.maps.events, (r) => got.push(r));
    expect(reader.poll()).toBe(0);
    for (let i = 0; i < 5; i++) syn(1000 + i);
    expect(reader.poll()).toBe(5);
    expect(reader.poll()).toBe(0);
    // Records stay intact after libbpf reused their slots.
    for (let i = 0; i < 5; i++) syn(2000 + i);
    expect(reader.poll()).toBe(5);
    expect(got.map((r) => decodeEvent(r).sport)).toEqual([1000, 1001, 1002, 1003, 1004, 2000, 2001, 2002, 2003, 2004]);
  });

  test('an exception in the callback stops the batch and is rethrown by poll; the rest come next time', () => {
    let n = 0;
    reader = openEvents(t.dp.maps.events, () => {
      if (++n === 2) throw new Error('boom');
    });
    for (let i = 0; i < 3; i++) syn(1000 + i);
    expect(() => reader!.poll()).toThrow('boom');
    expect(reader.poll()).toBe(1);
    expect(n).toBe(3);
  });

  test('close is idempotent; poll after close throws', () => {
    reader = openEvents(t.dp.maps.events, () => undefined);
    reader.close();
    reader.close();
    expect(() => reader!.poll()).toThrow(/closed/);
  });
});
