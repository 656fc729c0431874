/** ICMPv4 type of a Cilium `icmps[].fields[].type` (a number or Cilium's CamelCase name). */
import { ICMPV4_TYPE_NAMES } from '../../validation/cilium-policy.js';

export function icmpTypeNumber(t: number | string | undefined): number | undefined {
  if (t === undefined) return undefined;
  if (typeof t === 'number') return t >= 0 && t <= 255 ? t : undefined;
  if (/^[0-9]+$/.test(t)) {
    const n = Number(t);
    return n <= 255 ? n : undefined;
  }
  return ICMPV4_TYPE_NAMES[t];
}

export function icmpTypeName(n: number): string | undefined {
  return Object.entries(ICMPV4_TYPE_NAMES).find(([, v]) => v === n)?.[0];
}
