/** Test-only builders for DesiredState (shared by the contract suite and unit tests). */
import type { DirectionState, EndpointPolicy, L7Policy, Protocol, RuleRef, Segment } from '../policy/types.js';
import type { DesiredState, EndpointState, ServiceState } from './types.js';

export const REF: RuleRef = { kind: 'CiliumNetworkPolicy', namespace: 'default', name: 'test', path: 'spec' };

export function seg(
  protocol: Protocol,
  lo: number,
  hi: number = lo,
  opts: { deny?: boolean; l7?: L7Policy | true; audit?: boolean } = {},
): Segment {
  const s: Segment = { protocol, lo, hi, verdict: opts.deny ? 'deny' : 'allow', rules: [REF] };
  if (opts.l7) s.l7 = opts.l7 === true ? { http: [], dns: [], wildcard: true, wildcardBy: [] } : opts.l7;
  if (opts.audit) s.audit = true;
  return s;
}

export const allPorts = (opts: Parameters<typeof seg>[3] = {}): Segment[] => [
  seg('TCP', 0, 65535, opts),
  seg('UDP', 0, 65535, opts),
  seg('SCTP', 0, 65535, opts),
  seg('ICMP', 0, 255, opts),
];

export function unenforced(): DirectionState {
  return { enforced: false, enforcedBy: [], defaultAllow: false, byIp: {}, byIdentity: {}, pods: [], wildcard: [] };
}

export function enforced(
  parts: Partial<Pick<DirectionState, 'byIp' | 'byIdentity' | 'pods' | 'wildcard' | 'defaultAllow'>> = {},
): DirectionState {
  return {
    enforced: true,
    enforcedBy: [REF],
    defaultAllow: parts.defaultAllow ?? false,
    byIp: parts.byIp ?? {},
    byIdentity: parts.byIdentity ?? {},
    pods: parts.pods ?? [],
    wildcard: parts.wildcard ?? [],
  };
}

export function endpoint(
  name: string,
  ip: string,
  identity: number,
  dirs: { ingress?: DirectionState; egress?: DirectionState } = {},
): EndpointState {
  const policy: EndpointPolicy = {
    endpoint: name,
    identity,
    ingress: dirs.ingress ?? unenforced(),
    egress: dirs.egress ?? unenforced(),
  };
  return { name, ip, identity, policy };
}

export function service(key: string, ip: string, port: number, backends: { ip: string; port: number }[]): ServiceState {
  return { key, ip, port, protocol: 'TCP', backends };
}

export function desired(parts: Partial<DesiredState> & { endpoints: EndpointState[] }): DesiredState {
  return {
    ipcache: parts.ipcache ?? parts.endpoints.map((e) => ({ prefix: `${e.ip}/32`, identity: e.identity })),
    endpoints: parts.endpoints,
    services: parts.services ?? [],
    proxyPort: parts.proxyPort ?? 15001,
    hostIps: parts.hostIps ?? [],
  };
}
