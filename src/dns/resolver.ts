/**
 * The answer logic of the cluster DNS server, as a pure function from a question to response sections, following
 * the Kubernetes DNS specification (and CoreDNS' kubernetes plugin where the spec is silent):
 *
 * - `<svc>.<ns>.svc.<zone>` A: the ClusterIP; for a headless service, the IPs of its ready endpoints;
 *   ExternalName: a CNAME. AAAA of a known name: NODATA (no IPv6 here).
 * - `<hostname>.<svc>.<ns>.svc.<zone>` A: a headless service's endpoint by hostname (or dashed IP).
 * - `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV for named ports; `<svc>.<ns>.svc.<zone>` SRV lists all ports.
 * - `<a-b-c-d>.<ns>.pod.<zone>` A (CoreDNS "pods insecure").
 * - unknown names in the zone: NXDOMAIN with the SOA in the authority section; names outside: REFUSED.
 */
import type { Answer, RecordType } from 'dns-packet';
import type { DnsEndpoint, DnsRecords, DnsService, DnsServicePort } from './records.js';

export type Rcode = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED';

export const RCODE_NUM: Record<Rcode, number> = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
};

export interface ResolveOptions {
  /** Cluster domain, `cluster.local` by default. */
  zone?: string;
  /** TTL of positive answers (CoreDNS' kubernetes plugin uses 5 s). */
  ttl?: number;
}

export interface Resolution {
  rcode: Rcode;
  /** True when the name is inside the zone (the server is authoritative for it). */
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const isV4 = (ip: string) => IPV4_RE.test(ip);

export function isHeadless(s: DnsService): boolean {
  return s.type !== 'ExternalName' && s.clusterIPs.length === 0;
}

export function resolveQuestion(
  q: { name: string; type: RecordType | string },
  records: DnsRecords,
  opts: ResolveOptions = {},
): Resolution {
  const zone = (opts.zone ?? 'cluster.local').toLowerCase().replace(/\.$/, '');
  const ttl = opts.ttl ?? 5;
  const qname = q.name.replace(/\.$/, '');
  const lname = qname.toLowerCase();
  const type = String(q.type).toUpperCase();

  const soa = (): Answer => ({
    name: zone,
    type: 'SOA',
    ttl,
    class: 'IN',
    data: {
      mname: `ns.dns.${zone}`,
      rname: `hostmaster.${zone}`,
      serial: records.serial >>> 0,
      refresh: 7200,
      retry: 1800,
      expire: 86400,
      minimum: ttl,
    },
  });
  const negative = (rcode: 'NXDOMAIN' | 'NOERROR'): Resolution => ({
    rcode,
    authoritative: true,
    answers: [],
    authorities: [soa()],
    additionals: [],
  });
  const positive = (answers: Answer[], additionals: Answer[] = []): Resolution =>
    answers.length === 0
      ? negative('NOERROR')
      : { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals };
  const a = (name: string, ip: string): Answer => ({ name, type: 'A', ttl, class: 'IN', data: ip });

  if (lname !== zone && !lname.endsWith(`.${zone}`)) {
    return { rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
  }
  const labels = lname === zone ? [] : lname.slice(0, -(zone.length + 1)).split('.');
  // The original spelling of the question is echoed back in answers (DNS 0x20 clients compare it).
  const owner = qname;

  if (labels.length === 0) {
    if (type === 'SOA') return positive([{ ...soa(), name: owner }]);
    return negative('NOERROR');
  }
  const kind = labels[labels.length - 1];

  if (kind === 'pod') {
    // <a-b-c-d>.<ns>.pod.<zone>
    if (labels.length === 1 || labels.length === 2) return negative('NOERROR');
    if (labels.length !== 3) return negative('NXDOMAIN');
    const ip = labels[0]!.replace(/-/g, '.');
    if (!isV4(ip) || ip.split('.').some((o) => Number(o) > 255)) return negative('NXDOMAIN');
    return type === 'A' || type === 'ANY' ? positive([a(owner, ip)]) : negative('NOERROR');
  }
  if (kind !== 'svc') return negative('NXDOMAIN');

  if (labels.length === 1) return negative('NOERROR');
  if (labels.length === 2) return negative(records.hasNamespace(labels[0]!) ? 'NOERROR' : 'NXDOMAIN');

  const ns = labels[labels.length - 2]!;
  const svcName = labels[labels.length - 3]!;
  const svc = records.lookupService(ns, svcName);
  if (!svc) return negative('NXDOMAIN');
  const svcFqdn = `${svcName}.${ns}.svc.${zone}`;
  const readyEndpoints = (): DnsEndpoint[] =>
    (records.lookupEndpoints(ns, svcName)?.endpoints ?? []).filter((e) => e.ready && isV4(e.ip));
  const endpointLabel = (e: DnsEndpoint) => (e.hostname ? e.hostname.toLowerCase() : e.ip.replace(/\./g, '-'));
  const endpointPorts = (): DnsServicePort[] => records.lookupEndpoints(ns, svcName)?.ports ?? svc.ports;

  if (labels.length === 3) {
    // <svc>.<ns>.svc.<zone>
    if (svc.type === 'ExternalName') {
      if (!svc.externalName) return negative('NOERROR');
      if (type === 'AAAA' || type === 'SRV') return negative('NOERROR');
      return positive([{ name: owner, type: 'CNAME', ttl, class: 'IN', data: svc.externalName.replace(/\.$/, '') }]);
    }
    if (type === 'A' || type === 'ANY') {
      if (!isHeadless(svc)) return positive(svc.clusterIPs.filter(isV4).map((ip) => a(owner, ip)));
      return positive(readyEndpoints().map((e) => a(owner, e.ip)));
    }
    if (type === 'SRV') return positive(...srvAnswers(svc, owner, svcFqdn, undefined, undefined));
    return negative('NOERROR');
  }

  if (labels.length === 4) {
    // <hostname>.<svc>.<ns>.svc.<zone>: headless endpoints by hostname or dashed IP
    if (!isHeadless(svc)) return negative('NXDOMAIN');
    const host = labels[0]!;
    const ep = readyEndpoints().find((e) => endpointLabel(e) === host);
    if (!ep) return negative('NXDOMAIN');
    return type === 'A' || type === 'ANY' ? positive([a(owner, ep.ip)]) : negative('NOERROR');
  }

  if (labels.length === 5 && labels[0]!.startsWith('_') && labels[1]!.startsWith('_')) {
    // _<port>._<proto>.<svc>.<ns>.svc.<zone>
    const portName = labels[0]!.slice(1);
    const proto = labels[1]!.slice(1);
    const known = (isHeadless(svc) ? endpointPorts() : svc.ports).some(
      (p) => (p.name ?? '').toLowerCase() === portName && p.protocol.toLowerCase() === proto,
    );
    if (!known) return negative('NXDOMAIN');
    const [answers, additionals] = srvAnswers(svc, owner, svcFqdn, portName, proto);
    return type === 'SRV' || type === 'ANY' ? positive(answers, additionals) : negative('NOERROR');
  }
  return negative('NXDOMAIN');

  function srvAnswers(
    s: DnsService,
    ownerName: string,
    fqdn: string,
    portName: string | undefined,
    proto: string | undefined,
  ): [Answer[], Answer[]] {
    const ports = (isHeadless(s) ? endpointPorts() : s.ports).filter(
      (p) =>
        (portName === undefined || (p.name ?? '').toLowerCase() === portName) &&
        (proto === undefined || p.protocol.toLowerCase() === proto),
    );
    if (portName !== undefined && ports.length === 0) return [[], []];
    const answers: Answer[] = [];
    const additionals: Answer[] = [];
    if (!isHeadless(s)) {
      const weight = ports.length > 0 ? Math.floor(100 / ports.length) : 100;
      for (const p of ports) {
        answers.push({
          name: ownerName,
          type: 'SRV',
          ttl,
          class: 'IN',
          data: { priority: 0, weight, port: p.port, target: fqdn },
        });
      }
      for (const ip of s.clusterIPs.filter(isV4)) additionals.push(a(fqdn, ip));
      return [answers, additionals];
    }
    const eps = readyEndpoints();
    const n = eps.length * ports.length;
    const weight = n > 0 ? Math.max(1, Math.floor(100 / n)) : 100;
    for (const e of eps) {
      const target = `${endpointLabel(e)}.${fqdn}`;
      for (const p of ports) {
        answers.push({
          name: ownerName,
          type: 'SRV',
          ttl,
          class: 'IN',
          data: { priority: 0, weight, port: p.port, target },
        });
      }
      additionals.push(a(target, e.ip));
    }
    return [answers, additionals];
  }
}
