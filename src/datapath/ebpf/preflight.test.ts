import { describe, expect, it } from 'vitest';
import { ebpfUnavailable, kernelTooOld } from './preflight.js';

describe('kernelTooOld: tcx links need Linux 6.6', () => {
  it.each([
    ['6.18.44-fc-v657', false],
    ['6.6.0', false],
    ['6.5.13-generic', true],
    ['5.15.0-91-generic', true],
    ['7.0', false],
    ['garbage', true],
  ])('%s → %s', (rel, old) => {
    expect(kernelTooOld(rel)).toBe(old);
  });
});

describe('ebpfUnavailable', () => {
  it.skipIf(process.getuid?.() === 0)('names root as the reason when not root', () => {
    expect(ebpfUnavailable()).toBe('needs root');
  });
});
