/**
 * Image `coredns/coredns` (any registry): podwall's cluster DNS server. It serves the services in a JSON snapshot
 * file that the agent writes (`--snapshot PATH` or `PODWALL_DNS_SNAPSHOT`) and reloads it on change. CoreDNS'
 * own `-conf Corefile` argument is accepted and ignored. Listens on `--listen host:port`
 * (`PODWALL_DNS_LISTEN`, default 0.0.0.0:53), UDP and TCP. Names outside the zone are REFUSED.
 */
import { InMemoryDnsRecords } from '../../dns/records.js';
import { startDnsServer } from '../../dns/server.js';
import { watchDnsSnapshot } from '../../dns/snapshot.js';
import { parseFlags } from '../flags.js';

const p = parseFlags(process.argv.slice(2), { strings: ['snapshot', 'listen', 'zone', 'conf'], bools: ['log'] });
if (p.error) {
  process.stderr.write(`${p.error}\n`);
  process.exit(1);
}
const snapshot = String(p.flags.get('snapshot') ?? process.env.PODWALL_DNS_SNAPSHOT ?? '');
const listen = String(p.flags.get('listen') ?? process.env.PODWALL_DNS_LISTEN ?? '0.0.0.0:53');
const zone = String(p.flags.get('zone') ?? process.env.PODWALL_DNS_ZONE ?? 'cluster.local');
const logQueries = p.flags.get('log') === true || process.env.PODWALL_DNS_LOG === '1';
if (snapshot === '') {
  process.stderr.write(
    'coredns (podwall): set --snapshot PATH or PODWALL_DNS_SNAPSHOT to the agent-written snapshot\n',
  );
  process.exit(1);
}
const m = /^(.*):(\d+)$/.exec(listen);
if (!m) {
  process.stderr.write(`coredns (podwall): bad --listen "${listen}", want host:port\n`);
  process.exit(1);
}
const records = new InMemoryDnsRecords();
const watch = watchDnsSnapshot(snapshot, records, {
  onLoad: (s) => process.stdout.write(`[INFO] loaded ${s.services.length} services from ${snapshot}\n`),
  onError: (msg) => process.stderr.write(`[ERROR] ${msg}\n`),
});
await watch.ready;
const server = await startDnsServer({
  records,
  host: m[1],
  port: Number(m[2]),
  zone,
  onQuery: logQueries ? (line) => process.stdout.write(`[INFO] ${line}\n`) : undefined,
});
process.stdout.write(`.:${server.address.port} on ${server.address.host}\nCoreDNS-podwall (zone ${zone})\n`);
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    watch.close();
    void server.close().then(() => process.exit(0));
  });
}
