/**
 * "Nearest candidates" for a default deny: the allow rules that select the endpoint in that direction and miss the
 * flow on exactly one count (the peer, or the port), so a user sees what almost allowed it and why it did not.
 */
import { selectorString } from '../labels/index.js';
import { selectorMatches } from '../labels/selector.js';
import { formatRef } from './explain.js';
import type { PortSpec, Rule } from './model.js';
import type { CompiledCluster } from './resolve/compile.js';
import { findSegment } from './resolve/segments.js';
import type { Direction, Flow } from './types.js';

function describePeers(r: Rule): string {
  if (r.peers === 'any') return 'any peer';
  if (r.peers.length === 0) return 'no peer (empty list)';
  return r.peers
    .map((p) => {
      switch (p.kind) {
        case 'endpoints':
          return `{${selectorString(p.selector)}}`;
        case 'cidr':
          return `${p.cidr}${p.except.length ? ` except ${p.except.join(',')}` : ''}`;
        case 'fqdn':
          return `fqdn ${p.matchName ?? p.matchPattern}`;
        case 'service':
          return `service ${p.namespace}/${p.name ?? '<selector>'}`;
      }
      return '';
    })
    .join(' or ');
}

function describePort(s: PortSpec): string {
  const port = s.port === 0 ? 'any port' : s.endPort !== undefined ? `${s.port}-${s.endPort}` : String(s.port);
  return `${port}/${s.protocol}`;
}

function describePorts(r: Rule): string {
  return r.ports === 'all' ? 'all ports' : r.ports.length === 0 ? 'no port' : r.ports.map(describePort).join(', ');
}

export function nearestCandidates(
  compiled: CompiledCluster,
  endpoint: string,
  direction: Direction,
  peerIp: string,
  peerIdentity: number,
  flow: Flow,
  max = 3,
): string[] {
  const u = compiled.universe;
  const ident = u.byId.get(u.podIdentity.get(endpoint) ?? -1);
  if (!ident) return [];
  const out: string[] = [];
  for (const t of compiled.translated) {
    for (const r of t.rules) {
      if (r.direction !== direction || r.verdict !== 'allow' || !selectorMatches(r.subject, ident.labels)) continue;
      const peerOk =
        r.peers === 'any' ||
        r.peers.some((p) => {
          const m = compiled.peers.match(p);
          return (
            m.ids.has(peerIdentity) || m.ips.has(peerIp) || (m.allPods && peerIdentity >= 256 && peerIdentity <= 65535)
          );
        });
      // Port coverage as the resolver computed it: does this rule contribute a segment for the flow's port?
      const state = compiled.endpoints.get(endpoint)?.[direction];
      const covered = (
        segs: typeof state extends undefined ? never : NonNullable<typeof state>['wildcard'] | undefined,
      ) => !!segs && !!findSegment(segs, flow.protocol, flow.dport)?.rules.some((x) => x === r.ref);
      const portOk =
        r.ports === 'all' ||
        (state
          ? covered(state.wildcard) ||
            covered(state.pods) ||
            Object.values(state.byIdentity).some(covered) ||
            Object.values(state.byIp).some(covered)
          : false);
      if (peerOk && portOk) continue;
      if (!peerOk && !portOk) continue;
      const why = !peerOk
        ? `the peer (identity ${peerIdentity}) does not match it`
        : `${flow.dport}/${flow.protocol} is not among ${describePorts(r)}`;
      out.push(`${formatRef(r.ref)} allows ${describePeers(r)} on ${describePorts(r)}, but ${why}`);
      if (out.length >= max) return out;
    }
  }
  return out;
}
