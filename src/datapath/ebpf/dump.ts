/**
 * The installed maps as sorted, readable lines (Driver.dump: golden tests, `podwall status`-style inspection).
 * Policy blocks print as port ranges, so one line says what the kernel matches: `ep 10.0.0.5 ingress id=1001 TCP
 * 8000-8063 allow`.
 */
import {
  decodeBackendKey,
  decodeBackendVal,
  decodeEndpointKey,
  decodeEndpointVal,
  decodeIpcacheKey,
  decodeIpcacheVal,
  decodePolicyKey,
  decodePolicyVal,
  decodeSvcKey,
  decodeSvcVal,
  PW_DIR_INGRESS,
  PW_EP_EGRESS_DEFAULT_ALLOW,
  PW_EP_EGRESS_ENFORCED,
  PW_EP_INGRESS_DEFAULT_ALLOW,
  PW_EP_INGRESS_ENFORCED,
  PW_LEVEL_IDENTITY,
  PW_LEVEL_IP,
  PW_LEVEL_PODS,
  PW_POLICY_PREFIX_BASE,
  PW_VERDICT_ALLOW,
  PW_VERDICT_AUDIT,
  PW_VERDICT_DENY,
  PW_VERDICT_REDIRECT,
} from './layout.js';
import type { EntryMap, Lowered } from './lower.js';

const PROTO: Record<number, string> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
const VERDICT: Record<number, string> = {
  [PW_VERDICT_ALLOW]: 'allow',
  [PW_VERDICT_AUDIT]: 'audit',
  [PW_VERDICT_DENY]: 'deny',
  [PW_VERDICT_REDIRECT]: 'redirect',
};

function ip(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function rows(m: EntryMap, line: (key: Buffer, value: Buffer) => string): string[] {
  return [...m.values()].map((e) => line(e.key, e.value));
}

function flags(f: number): string {
  const d = (enforced: number, allow: number) => (f & enforced ? (f & allow ? 'default-allow' : 'enforced') : 'open');
  return `ingress=${d(PW_EP_INGRESS_ENFORCED, PW_EP_INGRESS_DEFAULT_ALLOW)} egress=${d(PW_EP_EGRESS_ENFORCED, PW_EP_EGRESS_DEFAULT_ALLOW)}`;
}

function policyLine(key: Buffer, value: Buffer): string {
  const k = decodePolicyKey(key);
  const peer =
    k.level === PW_LEVEL_IP
      ? `ip=${ip(k.peer)}`
      : k.level === PW_LEVEL_IDENTITY
        ? `id=${k.peer}`
        : k.level === PW_LEVEL_PODS
          ? 'pods'
          : 'any';
  const span = 2 ** (16 - (k.prefixlen - PW_POLICY_PREFIX_BASE));
  const hi = Math.min(k.port + span - 1, k.proto === 1 ? 255 : 65535);
  const ports = k.port === hi ? `${k.port}` : `${k.port}-${hi}`;
  const dir = k.dir === PW_DIR_INGRESS ? 'ingress' : 'egress';
  return `ep ${ip(k.epIp)} ${dir} ${peer} ${PROTO[k.proto] ?? k.proto} ${ports} ${VERDICT[decodePolicyVal(value).verdict] ?? '?'}`;
}

export function dumpLowered(l: Lowered): string {
  const lines = [
    ...rows(l.ipcache, (k, v) => {
      const key = decodeIpcacheKey(k);
      return `ipcache ${ip(key.ip)}/${key.prefixlen} ${decodeIpcacheVal(v).identity}`;
    }),
    ...rows(l.endpoints, (k, v) => {
      const e = decodeEndpointVal(v);
      return `endpoint ${ip(decodeEndpointKey(k).ip)} id=${e.identity} ifindex=${e.ifindex} ${flags(e.flags)}`;
    }),
    ...rows(l.policy, policyLine),
    ...rows(l.services, (k, v) => {
      const s = decodeSvcKey(k);
      const val = decodeSvcVal(v);
      return `service ${ip(s.vip)}:${s.vport}/${PROTO[s.proto] ?? s.proto} id=${val.svcId} backends=${val.count}`;
    }),
    ...rows(l.backends, (k, v) => {
      const b = decodeBackendKey(k);
      const be = decodeBackendVal(v);
      return `backend id=${b.svcId} slot=${b.slot} ${ip(be.ip)}:${be.port}`;
    }),
  ];
  return lines.length ? `${lines.sort().join('\n')}\n` : '';
}
