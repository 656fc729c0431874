/**
 * The installed maps as sorted, readable lines (Driver.dump: golden tests, `podwall status`-style inspection).
 * Policy blocks print as port ranges, so one line says what the kernel matches: `ep 10.0.0.5 ingress id=1001 TCP
 * 8000-8063 allow`.
 */
import { formatIpv4 } from '../ipv4.js';
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
  PROTOCOL_NAMES,
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

const VERDICT: Record<number, string> = {
  [PW_VERDICT_ALLOW]: 'allow',
  [PW_VERDICT_AUDIT]: 'audit',
  [PW_VERDICT_DENY]: 'deny',
  [PW_VERDICT_REDIRECT]: 'redirect',
};

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
      ? `ip=${formatIpv4(k.peer)}`
      : k.level === PW_LEVEL_IDENTITY
        ? `id=${k.peer}`
        : k.level === PW_LEVEL_PODS
          ? 'pods'
          : 'any';
  const span = 2 ** (16 - (k.prefixlen - PW_POLICY_PREFIX_BASE));
  const hi = Math.min(k.port + span - 1, k.proto === 1 ? 255 : 65535);
  const ports = k.port === hi ? `${k.port}` : `${k.port}-${hi}`;
  const dir = k.dir === PW_DIR_INGRESS ? 'ingress' : 'egress';
  return `ep ${formatIpv4(k.epIp)} ${dir} ${peer} ${PROTOCOL_NAMES[k.proto] ?? k.proto} ${ports} ${VERDICT[decodePolicyVal(value).verdict] ?? '?'}`;
}

export function dumpLowered(l: Lowered): string {
  const lines = [
    ...rows(l.ipcache, (k, v) => {
      const key = decodeIpcacheKey(k);
      return `ipcache ${formatIpv4(key.ip)}/${key.prefixlen} ${decodeIpcacheVal(v).identity}`;
    }),
    ...rows(l.endpoints, (k, v) => {
      const e = decodeEndpointVal(v);
      return `endpoint ${formatIpv4(decodeEndpointKey(k).ip)} id=${e.identity} ifindex=${e.ifindex} ${flags(e.flags)}`;
    }),
    ...rows(l.policy, policyLine),
    ...rows(l.services, (k, v) => {
      const s = decodeSvcKey(k);
      const val = decodeSvcVal(v);
      return `service ${formatIpv4(s.vip)}:${s.vport}/${PROTOCOL_NAMES[s.proto] ?? s.proto} id=${val.svcId} backends=${val.count}`;
    }),
    ...rows(l.backends, (k, v) => {
      const b = decodeBackendKey(k);
      const be = decodeBackendVal(v);
      return `backend id=${b.svcId} slot=${b.slot} ${formatIpv4(be.ip)}:${be.port}`;
    }),
  ];
  return lines.length ? `${lines.sort().join('\n')}\n` : '';
}
