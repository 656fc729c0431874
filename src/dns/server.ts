/**
 * The cluster DNS server: UDP and TCP on one address and port, answering from a `DnsRecords` source through the
 * pure `resolveQuestion`. Names outside the cluster zone get REFUSED unless an `upstream` is configured (opt-in;
 * podwall's own deployments never set it, so no query leaves the machine).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type Answer, type DecodedPacket } from 'dns-packet';
import type { DnsRecords } from './records.js';
import { RCODE_NUM, type Rcode, resolveQuestion } from './resolver.js';

export interface DnsUpstream {
  host: string;
  port?: number;
  timeoutMs?: number;
}

export interface DnsServerOptions {
  records: DnsRecords;
  /** Address to bind (UDP and TCP). Default 127.0.0.1. */
  host?: string;
  /** Port for UDP and TCP; 0 picks a free port (the same for both). Default 53. */
  port?: number;
  zone?: string;
  ttl?: number;
  /** Forward names outside the zone to this server instead of REFUSED. Off by default. */
  upstream?: DnsUpstream;
  /** Called once per query with a one-line summary (for the pod's log). */
  onQuery?: (line: string) => void;
}

export interface DnsServerStats {
  queries: number;
  byRcode: Partial<Record<Rcode, number>>;
  forwarded: number;
}

const OPCODE_QUERY = 0;
const MAX_UDP = 4096;

/** Builds the response for one wire-format query; undefined when the bytes are not a DNS message at all. */
export function answerQuery(
  msg: Buffer,
  records: DnsRecords,
  opts: { zone?: string; ttl?: number; maxSize?: number } = {},
): { response: Buffer; rcode: Rcode; name: string; type: string } | undefined {
  let q: DecodedPacket;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    if (msg.length < 12) return undefined;
    // Header readable, body not: FORMERR with the query's id.
    const id = msg.readUInt16BE(0);
    return {
      response: encodeResponse(id, 0, 'FORMERR', false, [], [], [], [], undefined),
      rcode: 'FORMERR',
      name: '',
      type: '',
    };
  }
  if (q.type === 'response') return undefined;
  const rd = (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
  const opcode = ((q.flags ?? 0) >> 11) & 0xf;
  const questions = q.questions ?? [];
  const opt = (q.additionals ?? []).find((a) => a.type === 'OPT') as { udpPayloadSize?: number } | undefined;
  const maxSize = opts.maxSize ?? Math.min(MAX_UDP, Math.max(512, opt?.udpPayloadSize ?? 512));
  const edns = opt !== undefined;
  if (opcode !== OPCODE_QUERY) {
    return {
      response: encodeResponse(q.id ?? 0, rd, 'NOTIMP', false, questions, [], [], [], edns ? MAX_UDP : undefined),
      rcode: 'NOTIMP',
      name: questions[0]?.name ?? '',
      type: questions[0]?.type ?? '',
    };
  }
  if (questions.length !== 1) {
    return {
      response: encodeResponse(q.id ?? 0, rd, 'FORMERR', false, questions, [], [], [], edns ? MAX_UDP : undefined),
      rcode: 'FORMERR',
      name: '',
      type: '',
    };
  }
  const question = questions[0]!;
  const r = resolveQuestion(question, records, opts);
  let response = encodeResponse(
    q.id ?? 0,
    rd,
    r.rcode,
    r.authoritative,
    questions,
    r.answers,
    r.authorities,
    r.additionals,
    edns ? MAX_UDP : undefined,
  );
  if (response.length > maxSize) {
    // Too big for this UDP client: truncated (TC) response, the client retries over TCP.
    response = encodeResponse(
      q.id ?? 0,
      rd,
      r.rcode,
      r.authoritative,
      questions,
      [],
      [],
      [],
      edns ? MAX_UDP : undefined,
      true,
    );
  }
  return { response, rcode: r.rcode, name: question.name, type: String(question.type) };
}

function encodeResponse(
  id: number,
  rd: number,
  rcode: Rcode,
  aa: boolean,
  questions: DecodedPacket['questions'],
  answers: Answer[],
  authorities: Answer[],
  additionals: Answer[],
  ednsSize: number | undefined,
  truncated = false,
): Buffer {
  let flags = rd | dnsPacket.RECURSION_AVAILABLE | RCODE_NUM[rcode];
  if (aa) flags |= dnsPacket.AUTHORITATIVE_ANSWER;
  if (truncated) flags |= dnsPacket.TRUNCATED_RESPONSE;
  const adds: Answer[] = [...additionals];
  if (ednsSize !== undefined) {
    adds.push({ name: '.', type: 'OPT', udpPayloadSize: ednsSize, flags: 0, options: [] } as unknown as Answer);
  }
  return dnsPacket.encode({
    type: 'response',
    id,
    flags,
    questions: questions ?? [],
    answers,
    authorities,
    additionals: adds,
  });
}

export class DnsServer {
  private udp?: dgram.Socket;
  private tcp?: net.Server;
  private readonly tcpConns = new Set<net.Socket>();
  private boundPort = 0;
  readonly stats: DnsServerStats = { queries: 0, byRcode: {}, forwarded: 0 };

  constructor(private readonly opts: DnsServerOptions) {}

  get address(): { host: string; port: number } {
    return { host: this.opts.host ?? '127.0.0.1', port: this.boundPort };
  }

  async start(): Promise<{ host: string; port: number }> {
    const host = this.opts.host ?? '127.0.0.1';
    const want = this.opts.port ?? 53;
    // With port 0, UDP picks the port and TCP must get the same one; retry a few times if TCP's is taken.
    for (let attempt = 0; ; attempt++) {
      const udp = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(want, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
      const port = udp.address().port;
      const tcp = net.createServer((sock) => this.onTcp(sock));
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen(port, host, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        udp.close();
        if (want !== 0 || attempt >= 10) throw e;
        continue;
      }
      udp.on('message', (msg, rinfo) => this.onUdp(msg, rinfo));
      udp.on('error', () => {});
      this.udp = udp;
      this.tcp = tcp;
      this.boundPort = port;
      return { host, port };
    }
  }

  async close(): Promise<void> {
    for (const s of this.tcpConns) s.destroy();
    await Promise.all([
      new Promise<void>((r) => (this.udp ? this.udp.close(() => r()) : r())),
      new Promise<void>((r) => (this.tcp ? this.tcp.close(() => r()) : r())),
    ]);
    this.udp = undefined;
    this.tcp = undefined;
  }

  private async handle(msg: Buffer, from: string, proto: 'udp' | 'tcp'): Promise<Buffer | undefined> {
    const res = answerQuery(msg, this.opts.records, {
      zone: this.opts.zone,
      ttl: this.opts.ttl,
      maxSize: proto === 'tcp' ? 65535 : undefined,
    });
    if (!res) return undefined;
    this.stats.queries++;
    let out = res.response;
    let rcode = res.rcode;
    if (res.rcode === 'REFUSED' && this.opts.upstream) {
      const fwd = await forward(msg, this.opts.upstream);
      if (fwd) {
        out = fwd;
        this.stats.forwarded++;
        rcode = 'NOERROR';
      } else {
        rcode = 'SERVFAIL';
        out = Buffer.from(out);
        out.writeUInt16BE((out.readUInt16BE(2) & ~0xf) | RCODE_NUM.SERVFAIL, 2);
      }
    }
    this.stats.byRcode[rcode] = (this.stats.byRcode[rcode] ?? 0) + 1;
    this.opts.onQuery?.(`${from} ${proto} ${res.type} ${res.name} ${rcode}`);
    return out;
  }

  private onUdp(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    void this.handle(msg, `${rinfo.address}:${rinfo.port}`, 'udp').then((out) => {
      if (out && this.udp) this.udp.send(out, rinfo.port, rinfo.address);
    });
  }

  private onTcp(sock: net.Socket): void {
    this.tcpConns.add(sock);
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => {});
    sock.on('close', () => this.tcpConns.delete(sock));
    let buf = Buffer.alloc(0);
    const from = `${sock.remoteAddress}:${sock.remotePort}`;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        void this.handle(Buffer.from(msg), from, 'tcp').then((out) => {
          if (!out || sock.destroyed) return;
          const hdr = Buffer.alloc(2);
          hdr.writeUInt16BE(out.length);
          sock.write(Buffer.concat([hdr, out]));
        });
      }
    });
  }
}

/** Relays a raw query to the upstream over UDP; undefined on timeout or error. */
function forward(msg: Buffer, up: DnsUpstream): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(net.isIPv6(up.host) ? 'udp6' : 'udp4');
    const timer = setTimeout(() => done(undefined), up.timeoutMs ?? 2000);
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      sock.close();
      resolve(b);
    };
    sock.on('error', () => done(undefined));
    sock.on('message', (m) => done(m));
    sock.send(msg, up.port ?? 53, up.host);
  });
}

export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const s = new DnsServer(opts);
  await s.start();
  return s;
}
