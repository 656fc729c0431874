/**
 * A small DNS client (UDP or TCP) for tests, probes and `podwall` diagnostics. Not a resolver: one question, one
 * server, no retries beyond the timeout.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket, { type DecodedPacket, type RecordType } from 'dns-packet';

export interface QueryOptions {
  server: string;
  port: number;
  proto?: 'udp' | 'tcp';
  timeoutMs?: number;
  /** Add an EDNS OPT record with this payload size. */
  edns?: number;
  id?: number;
}

export function encodeQuery(name: string, type: RecordType, id: number, edns?: number): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals:
      edns !== undefined
        ? [{ name: '.', type: 'OPT', udpPayloadSize: edns, flags: 0, options: [] } as unknown as dnsPacket.Answer]
        : [],
  });
}

export function queryRaw(msg: Buffer, opts: QueryOptions): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  if ((opts.proto ?? 'udp') === 'udp') {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(net.isIPv6(opts.server) ? 'udp6' : 'udp4');
      const timer = setTimeout(() => {
        sock.close();
        reject(new Error(`DNS query to ${opts.server}:${opts.port} timed out`));
      }, timeoutMs);
      sock.on('error', (e) => {
        clearTimeout(timer);
        sock.close();
        reject(e);
      });
      sock.on('message', (m) => {
        clearTimeout(timer);
        sock.close();
        resolve(m);
      });
      sock.send(msg, opts.port, opts.server);
    });
  }
  return new Promise((resolve, reject) => {
    const sock = net.connect(opts.port, opts.server);
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`DNS/TCP query to ${opts.server}:${opts.port} timed out`));
    }, timeoutMs);
    sock.on('connect', () => {
      const hdr = Buffer.alloc(2);
      hdr.writeUInt16BE(msg.length);
      sock.write(Buffer.concat([hdr, msg]));
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        clearTimeout(timer);
        sock.end();
        resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

export async function query(name: string, type: RecordType, opts: QueryOptions): Promise<DecodedPacket> {
  const id = opts.id ?? Math.floor(Math.random() * 65535);
  const res = dnsPacket.decode(await queryRaw(encodeQuery(name, type, id, opts.edns), opts));
  if (res.id !== id) throw new Error(`DNS response id ${res.id} does not match query id ${id}`);
  return res;
}
