import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dnsPacket from 'dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeQuery, query, queryRaw } from './client.js';
import { type DnsSnapshot, dnsServiceFromK8s, InMemoryDnsRecords } from './records.js';
import { answerQuery, type DnsServer, startDnsServer } from './server.js';
import { watchDnsSnapshot, writeDnsSnapshot } from './snapshot.js';

interface Rec {
  name: string;
  type: string;
  data?: unknown;
}
const ans = (p: dnsPacket.DecodedPacket): Rec[] => (p.answers ?? []) as unknown as Rec[];
const adds = (p: dnsPacket.DecodedPacket): Rec[] => (p.additionals ?? []) as unknown as Rec[];

function fixture(): InMemoryDnsRecords {
  const r = new InMemoryDnsRecords();
  r.setServices([
    {
      namespace: 'default',
      name: 'deathstar',
      clusterIPs: ['10.96.0.10'],
      ports: [{ name: 'http', protocol: 'TCP', port: 80 }],
    },
    {
      namespace: 'default',
      name: 'kubernetes',
      clusterIPs: ['10.96.0.1'],
      ports: [{ name: 'https', protocol: 'TCP', port: 443 }],
    },
    {
      namespace: 'kube-system',
      name: 'kube-dns',
      clusterIPs: ['10.96.0.53'],
      ports: [
        { name: 'dns', protocol: 'UDP', port: 53 },
        { name: 'dns-tcp', protocol: 'TCP', port: 53 },
      ],
    },
    { namespace: 'x', name: 'headless', clusterIPs: [], ports: [{ name: 'web', protocol: 'TCP', port: 8080 }] },
    { namespace: 'x', name: 'ext', type: 'ExternalName', clusterIPs: [], externalName: 'example.org', ports: [] },
  ]);
  r.setEndpoints([
    {
      namespace: 'x',
      service: 'headless',
      endpoints: [
        { ip: '10.244.1.5', ready: true, hostname: 'web-0' },
        { ip: '10.244.1.6', ready: true },
        { ip: '10.244.1.7', ready: false, hostname: 'web-2' },
      ],
    },
  ]);
  return r;
}

describe('cluster DNS server (UDP and TCP on 127.0.0.1)', () => {
  const records = fixture();
  let server: DnsServer;
  let port: number;
  const q = (name: string, type: dnsPacket.RecordType, proto: 'udp' | 'tcp' = 'udp') =>
    query(name, type, { server: '127.0.0.1', port, proto });
  const rcode = (p: dnsPacket.DecodedPacket) => (p as unknown as { rcode: string }).rcode;

  beforeAll(async () => {
    server = await startDnsServer({ records, host: '127.0.0.1', port: 0 });
    port = server.address.port;
  });
  afterAll(async () => {
    await server.close();
  });

  it('answers a ClusterIP service A record over UDP and TCP', async () => {
    for (const proto of ['udp', 'tcp'] as const) {
      const r = await q('deathstar.default.svc.cluster.local', 'A', proto);
      expect(rcode(r)).toBe('NOERROR');
      expect(r.flags! & dnsPacket.AUTHORITATIVE_ANSWER).toBeTruthy();
      expect(r.answers).toEqual([
        expect.objectContaining({ name: 'deathstar.default.svc.cluster.local', type: 'A', data: '10.96.0.10', ttl: 5 }),
      ]);
    }
  });

  it('is case-insensitive and echoes the question spelling', async () => {
    const r = await q('DeathStar.Default.SVC.cluster.local', 'A');
    expect(r.answers?.[0]).toMatchObject({ name: 'DeathStar.Default.SVC.cluster.local', data: '10.96.0.10' });
  });

  it('answers headless services with the ready endpoints, and endpoints by hostname or dashed IP', async () => {
    const r = await q('headless.x.svc.cluster.local', 'A');
    expect(
      ans(r)
        .map((a) => a.data)
        .sort(),
    ).toEqual(['10.244.1.5', '10.244.1.6']);
    expect(ans(await q('web-0.headless.x.svc.cluster.local', 'A'))[0]?.data).toBe('10.244.1.5');
    expect(ans(await q('10-244-1-6.headless.x.svc.cluster.local', 'A'))[0]?.data).toBe('10.244.1.6');
    expect(rcode(await q('web-2.headless.x.svc.cluster.local', 'A'))).toBe('NXDOMAIN');
  });

  it('answers SRV for named ports (ClusterIP and headless)', async () => {
    const r = await q('_http._tcp.deathstar.default.svc.cluster.local', 'SRV');
    expect(r.answers).toEqual([
      expect.objectContaining({
        type: 'SRV',
        data: expect.objectContaining({ port: 80, target: 'deathstar.default.svc.cluster.local' }),
      }),
    ]);
    expect(adds(r).find((a) => a.type === 'A')?.data).toBe('10.96.0.10');
    const u = await q('_dns._udp.kube-dns.kube-system.svc.cluster.local', 'SRV');
    expect(ans(u).map((a) => (a.data as { port: number }).port)).toEqual([53]);
    const h = await q('_web._tcp.headless.x.svc.cluster.local', 'SRV');
    expect(
      ans(h)
        .map((a) => (a.data as { target: string }).target)
        .sort(),
    ).toEqual(['10-244-1-6.headless.x.svc.cluster.local', 'web-0.headless.x.svc.cluster.local']);
    expect(rcode(await q('_nope._tcp.deathstar.default.svc.cluster.local', 'SRV'))).toBe('NXDOMAIN');
    expect(rcode(await q('_http._udp.deathstar.default.svc.cluster.local', 'SRV'))).toBe('NXDOMAIN');
  });

  it('NXDOMAIN with SOA for unknown cluster names; NODATA for AAAA of known names', async () => {
    const nx = await q('nope.default.svc.cluster.local', 'A');
    expect(rcode(nx)).toBe('NXDOMAIN');
    expect(nx.answers).toEqual([]);
    expect(nx.authorities?.[0]).toMatchObject({ type: 'SOA', name: 'cluster.local' });
    // glibc tries the search list: the first candidates for "deathstar.default.svc.cluster.local" are NXDOMAIN.
    expect(rcode(await q('deathstar.default.svc.cluster.local.default.svc.cluster.local', 'A'))).toBe('NXDOMAIN');
    const aaaa = await q('deathstar.default.svc.cluster.local', 'AAAA');
    expect(rcode(aaaa)).toBe('NOERROR');
    expect(aaaa.answers).toEqual([]);
    expect(aaaa.authorities?.[0]?.type).toBe('SOA');
    expect(rcode(await q('default.svc.cluster.local', 'A'))).toBe('NOERROR');
    expect(rcode(await q('nons.svc.cluster.local', 'A'))).toBe('NXDOMAIN');
  });

  it('REFUSES names outside cluster.local (never forwards by default)', async () => {
    for (const name of ['example.com', 'www.google.com', 'localhost', '1.0.0.127.in-addr.arpa']) {
      const r = await q(name, 'A');
      expect(rcode(r)).toBe('REFUSED');
      expect(r.answers).toEqual([]);
    }
    expect(server.stats.forwarded).toBe(0);
  });

  it('answers ExternalName with a CNAME and pod names with the dashed IP', async () => {
    const r = await q('ext.x.svc.cluster.local', 'A');
    expect(r.answers?.[0]).toMatchObject({ type: 'CNAME', data: 'example.org' });
    expect(ans(await q('10-244-0-9.default.pod.cluster.local', 'A'))[0]?.data).toBe('10.244.0.9');
    expect(rcode(await q('10-244-0-999.default.pod.cluster.local', 'A'))).toBe('NXDOMAIN');
  });

  it('returns the SOA at the apex and EDNS OPT when asked', async () => {
    const r = await q('cluster.local', 'SOA');
    expect(r.answers?.[0]?.type).toBe('SOA');
    const e = await query('deathstar.default.svc.cluster.local', 'A', { server: '127.0.0.1', port, edns: 1232 });
    expect(e.additionals?.some((a) => a.type === 'OPT')).toBe(true);
  });

  it('sees record changes immediately', async () => {
    records.upsertService({ namespace: 'default', name: 'xwing', clusterIPs: ['10.96.0.77'], ports: [] });
    expect(ans(await q('xwing.default.svc.cluster.local', 'A'))[0]?.data).toBe('10.96.0.77');
    records.deleteService('default', 'xwing');
    expect(rcode(await q('xwing.default.svc.cluster.local', 'A'))).toBe('NXDOMAIN');
  });

  it('FORMERR for two questions, NOTIMP for other opcodes, drops garbage', async () => {
    const two = dnsPacket.encode({
      type: 'query',
      id: 7,
      questions: [
        { type: 'A', name: 'a.cluster.local' },
        { type: 'A', name: 'b.cluster.local' },
      ],
    });
    const r = dnsPacket.decode(await queryRaw(two, { server: '127.0.0.1', port }));
    expect(rcode(r)).toBe('FORMERR');
    const notify = encodeQuery('cluster.local', 'SOA', 9);
    notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
    expect(rcode(dnsPacket.decode(await queryRaw(notify, { server: '127.0.0.1', port })))).toBe('NOTIMP');
    expect(answerQuery(Buffer.from([1, 2, 3]), records)).toBeUndefined();
  });

  it('truncates big UDP answers (TC) and the same query works over TCP', async () => {
    const eps = Array.from({ length: 60 }, (_, i) => ({ ip: `10.244.9.${i + 1}`, ready: true }));
    records.upsertService({ namespace: 'big', name: 'many', clusterIPs: [], ports: [] });
    records.upsertEndpoints({ namespace: 'big', service: 'many', endpoints: eps });
    const udp = await q('many.big.svc.cluster.local', 'A', 'udp');
    expect(udp.flags! & dnsPacket.TRUNCATED_RESPONSE).toBeTruthy();
    expect(udp.answers).toEqual([]);
    const tcp = await q('many.big.svc.cluster.local', 'A', 'tcp');
    expect(tcp.answers).toHaveLength(60);
  });

  it('serves a few thousand queries per second (measured, loose bound)', async () => {
    const n = 2000;
    const t0 = performance.now();
    let inflight: Promise<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      inflight.push(q('deathstar.default.svc.cluster.local', 'A'));
      if (inflight.length >= 50) {
        await Promise.all(inflight);
        inflight = [];
      }
    }
    await Promise.all(inflight);
    const qps = n / ((performance.now() - t0) / 1000);
    console.log(`dns: ${Math.round(qps)} qps over UDP (client and server in one process)`);
    expect(qps).toBeGreaterThan(300);
  });
});

describe('upstream forwarding (opt-in)', () => {
  it('forwards names outside the zone to the configured upstream, and SERVFAILs when it is down', async () => {
    const upstreamRecords = new InMemoryDnsRecords();
    upstreamRecords.setServices([{ namespace: 'ns', name: 'up', clusterIPs: ['10.1.2.3'], ports: [] }]);
    // The "upstream" is another local server whose zone is example.test.
    const upstream = await startDnsServer({ records: upstreamRecords, port: 0, zone: 'example.test' });
    const s = await startDnsServer({
      records: fixture(),
      port: 0,
      upstream: { host: '127.0.0.1', port: upstream.address.port },
    });
    try {
      const r = await query('up.ns.svc.example.test', 'A', { server: '127.0.0.1', port: s.address.port });
      expect(ans(r)[0]?.data).toBe('10.1.2.3');
      expect(s.stats.forwarded).toBe(1);
    } finally {
      await upstream.close();
    }
    const r2 = await query('up.ns.svc.example.test', 'A', {
      server: '127.0.0.1',
      port: s.address.port,
      timeoutMs: 5000,
    });
    expect((r2 as unknown as { rcode: string }).rcode).toBe('SERVFAIL');
    await s.close();
  });
});

describe('snapshot file hand-off', () => {
  it('loads the snapshot, reloads on change, keeps the old records on a bad file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pw-dns-'));
    try {
      const path = join(dir, 'dns.json');
      const snap: DnsSnapshot = {
        kind: 'PodwallDnsSnapshot',
        version: 1,
        services: [
          dnsServiceFromK8s({
            apiVersion: 'v1',
            kind: 'Service',
            metadata: { name: 'deathstar', namespace: 'default' },
            spec: { clusterIP: '10.96.0.10', ports: [{ port: 80 }] },
          }),
        ],
        endpoints: [],
      };
      await writeDnsSnapshot(path, snap);
      const records = new InMemoryDnsRecords();
      const errors: string[] = [];
      const w = watchDnsSnapshot(path, records, { onError: (m) => errors.push(m), pollMs: 100 });
      await w.ready;
      expect(records.lookupService('default', 'deathstar')?.clusterIPs).toEqual(['10.96.0.10']);
      await writeDnsSnapshot(path, { ...snap, services: [{ ...snap.services[0]!, clusterIPs: ['10.96.0.11'] }] });
      await expect
        .poll(() => records.lookupService('default', 'deathstar')?.clusterIPs[0], { timeout: 3000 })
        .toBe('10.96.0.11');
      const { writeFile } = await import('node:fs/promises');
      await writeFile(path, '{not json');
      await expect.poll(() => errors.length, { timeout: 3000 }).toBeGreaterThan(0);
      expect(records.lookupService('default', 'deathstar')?.clusterIPs[0]).toBe('10.96.0.11');
      w.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
