import { existsSync, mkdtempSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { isBpffsMount, mountBpffs, mountPointsOf, unmountBpffs } from './bpffs.js';
import { IS_ROOT, ROOT_REASON } from './fixtures.test-helper.js';

if (!IS_ROOT) console.warn(`bpffs.test.ts skipped: ${ROOT_REASON}`);

describe.skipIf(!IS_ROOT)('bpffs', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync('/var/tmp/pw-');
  });
  afterEach(async () => {
    await unmountBpffs(join(dir, 'a', 'bpf'));
    if (existsSync(join(dir, 'a'))) rmdirSync(join(dir, 'a'));
    rmdirSync(dir);
  });

  test('mount creates the directory and a bpffs instance of its own there', async () => {
    const pin = join(dir, 'a', 'bpf');
    await mountBpffs(pin);
    expect(await isBpffsMount(pin)).toBe(true);
    expect(mountPointsOf('bpf')).toContain(pin);
  });

  test('mounting twice does not stack a second instance', async () => {
    const pin = join(dir, 'a', 'bpf');
    await mountBpffs(pin);
    await mountBpffs(pin);
    expect(mountPointsOf('bpf').filter((p) => p === pin)).toHaveLength(1);
  });

  test('unmount removes the mount and the directory; a second unmount is a no-op', async () => {
    const pin = join(dir, 'a', 'bpf');
    await mountBpffs(pin);
    await unmountBpffs(pin);
    expect(await isBpffsMount(pin)).toBe(false);
    expect(existsSync(pin)).toBe(false);
    await unmountBpffs(pin);
  });

  test('unmount of a plain directory (never mounted) just removes it', async () => {
    const pin = join(dir, 'a', 'bpf');
    await mountBpffs(pin);
    await unmountBpffs(pin);
    await import('node:fs/promises').then((fs) => fs.mkdir(pin, { recursive: true }));
    await unmountBpffs(pin);
    expect(existsSync(pin)).toBe(false);
  });

  test('a directory below a bpffs mount is not itself a bpffs mount', async () => {
    const pin = join(dir, 'a', 'bpf');
    await mountBpffs(pin);
    await import('node:fs/promises').then((fs) => fs.mkdir(join(pin, 'sub')));
    expect(await isBpffsMount(join(pin, 'sub'))).toBe(false);
  });
});
