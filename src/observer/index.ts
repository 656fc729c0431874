/** Flow events: NFLOG reader, Hubble-style records, store, filters, compact printer, the observe API. */
export {
  type AttributionSource,
  flowsFromHttp,
  flowsFromNflog,
  flowsFromVerdict,
  type KernelVerdict,
  type PolicySnapshot,
  verdictFromNflog,
} from './build.js';
export { type CompactOptions, formatCompact, formatPolicyRef, stampMilli } from './compact.js';
export { checkFilter, compileFilter, FLOW_PROTOCOLS, FLOW_TYPES, type FlowFilter } from './filter.js';
export * from './flow.js';
export { type NflogPacket, type NflogReader, openNflog } from './nflog.js';
export { type PacketSummary, parseIpv4Packet } from './packet.js';
export { fetchFlows, fetchObserverStatus, type ObserverServer, startObserverServer, toResponse } from './server.js';
export { type FlowQuery, FlowStore } from './store.js';
