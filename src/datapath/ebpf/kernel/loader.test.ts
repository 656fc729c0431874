import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { MAP_NAMES, type MapName } from '../layout.js';
import { BpfError } from './errors.js';
import {
  CONFIG_KEY,
  configVal,
  ctKey,
  ctVal,
  decodeCt,
  IS_ROOT,
  policyKey,
  policyVal,
  ROOT_REASON,
  TCP,
  type TestPin,
  testPin,
} from './fixtures.test-helper.js';
import { bpfObjectPath, type LoadedDatapath, loadDatapath, PROG_NAMES } from './loader.js';

if (!IS_ROOT) console.warn(`loader.test.ts skipped: ${ROOT_REASON}`);

test('bpfObjectPath points at the built object in the package', () => {
  expect(bpfObjectPath()).toMatch(/\/dist\/bpf\/podwall\.bpf\.o$/);
  expect(existsSync(bpfObjectPath())).toBe(true);
});

/** Key and value sizes of podwall.h's structs. */
const SIZES: Record<MapName, [number, number]> = {
  ipcache: [8, 4],
  endpoints: [4, 16],
  l2: [4, 16],
  frags: [12, 8],
  policy: [20, 4],
  config: [4, 16],
  ct: [16, 16],
  services: [8, 8],
  backends: [8, 8],
  revnat: [16, 8],
  events: [0, 0],
};

describe.skipIf(!IS_ROOT)('loadDatapath', () => {
  let pin: TestPin;
  const open: LoadedDatapath[] = [];
  const load = () => {
    const dp = loadDatapath({ pinDir: pin.pinDir });
    open.push(dp);
    return dp;
  };

  beforeEach(async () => {
    pin = await testPin();
  });
  afterEach(async () => {
    for (const dp of open.splice(0)) dp.close();
    await pin.cleanup();
  });

  test('every map and program, maps pinned by name, sizes as in podwall.h', () => {
    const dp = load();
    for (const name of MAP_NAMES) {
      expect(dp.maps[name].name).toBe(name);
      expect([dp.maps[name].keySize, dp.maps[name].valueSize]).toEqual(SIZES[name]);
      expect(existsSync(join(pin.pinDir, name))).toBe(true);
    }
    for (const p of PROG_NAMES) expect(dp.progFd(p)).toBeGreaterThan(0);
  });

  test('a second load on the same pinDir sees what the first wrote (restart keeps the table)', () => {
    const first = load();
    const k = ctKey({ saddr: '10.213.0.1', daddr: '10.213.0.2', sport: 1234, dport: 80, proto: TCP });
    first.maps.ct.update(k, ctVal(7, 0));
    first.maps.config.update(CONFIG_KEY, configVal(7, 15001));
    first.close();

    const second = load();
    expect(decodeCt(second.maps.ct.lookup(k)!).generation).toBe(7);
    expect(second.maps.config.lookup(CONFIG_KEY)!.readUInt32LE(4)).toBe(15001);
    // And both see each other's writes while both are open.
    const third = load();
    third.maps.ct.delete(k);
    expect(second.maps.ct.lookup(k)).toBeUndefined();
  });

  test('close is idempotent and never unpins', () => {
    const dp = load();
    dp.close();
    dp.close();
    expect(existsSync(join(pin.pinDir, 'ct'))).toBe(true);
    expect(() => dp.progFd('from_pod')).toThrow(/closed/);
  });

  test('a missing pin directory or object is a clear error', () => {
    expect(() => loadDatapath({ pinDir: join(pin.dir, 'nope') })).toThrow(/does not exist/);
    expect(() => loadDatapath({ pinDir: pin.pinDir, objectPath: join(pin.dir, 'x.o') })).toThrow(/not found/);
  });
});

describe.skipIf(!IS_ROOT)('BpfMap', () => {
  let pin: TestPin;
  let dp: LoadedDatapath;
  beforeEach(async () => {
    pin = await testPin();
    dp = loadDatapath({ pinDir: pin.pinDir });
  });
  afterEach(async () => {
    dp.close();
    await pin.cleanup();
  });

  test('update, lookup, delete (false when absent)', () => {
    const k = policyKey({ ep: '10.213.0.1', dir: 1, level: 3, proto: TCP, port: 80 });
    expect(dp.maps.policy.lookup(k)).toBeUndefined();
    dp.maps.policy.update(k, policyVal(1));
    expect(dp.maps.policy.lookup(k)).toEqual(policyVal(1));
    expect(dp.maps.policy.delete(k)).toBe(true);
    expect(dp.maps.policy.delete(k)).toBe(false);
  });

  test('keys() walks the whole map (hash and LPM trie)', () => {
    const want = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const k = ctKey({ saddr: '10.213.0.1', daddr: '10.213.0.2', sport: 1000 + i, dport: 80, proto: TCP });
      dp.maps.ct.update(k, ctVal(1, 0));
      want.add(k.toString('hex'));
    }
    expect(new Set(dp.maps.ct.keys().map((k) => k.toString('hex')))).toEqual(want);
    for (let port = 0; port < 40; port++)
      dp.maps.policy.update(policyKey({ ep: '10.213.0.1', dir: 0, level: 3, proto: TCP, port }), policyVal(1));
    expect(dp.maps.policy.keys()).toHaveLength(40);
  });

  test('errors name the call, the map, the errno and its text', () => {
    // An array of one element has no index 1.
    const one = Buffer.alloc(4);
    one.writeUInt32LE(1);
    expect(() => dp.maps.config.update(one, configVal(1))).toThrow(
      'bpf_map_update_elem(config): E2BIG (Argument list too long)',
    );
    // An LPM prefix longer than the key.
    const bad = policyKey({ ep: '10.213.0.1', dir: 0, level: 3, proto: TCP, port: 1 });
    bad.writeUInt32LE(200, 0);
    let err: unknown;
    try {
      dp.maps.policy.update(bad, policyVal(1));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    expect((err as BpfError).message).toBe('bpf_map_update_elem(policy): EINVAL (Invalid argument)');
    expect((err as BpfError).errno).toBe(22);
    expect((err as BpfError).code).toBe('EINVAL');
    // Wrong sizes are caught before the kernel sees them.
    expect(() => dp.maps.policy.update(Buffer.alloc(16), policyVal(1))).toThrow(
      "bpf_map_update_elem(policy): key is 16 bytes, the map's key size is 20",
    );
  });
});
