/** Cluster DNS: records (data source), the pure resolver, the UDP+TCP server, the snapshot hand-off, a client. */
export { query, queryRaw } from './client.js';
export {
  checkSnapshot,
  type DnsEndpoint,
  type DnsEndpoints,
  type DnsRecords,
  type DnsService,
  type DnsServicePort,
  type DnsSnapshot,
  dnsServiceFromK8s,
  InMemoryDnsRecords,
} from './records.js';
export { type Resolution, resolveQuestion } from './resolver.js';
export { answerQuery, DnsServer, type DnsServerOptions, startDnsServer } from './server.js';
export { readDnsSnapshot, watchDnsSnapshot, writeDnsSnapshot } from './snapshot.js';
