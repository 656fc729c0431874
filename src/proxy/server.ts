/**
 * Transparent HTTP/1.1 proxy for L7 policy (the Envoy role in Cilium). Connections arrive through nftables
 * TPROXY on a listening socket with IP_TRANSPARENT: `socket.localAddress:localPort` is the original (post-LB)
 * destination and `remoteAddress` the real client. For every request:
 *   1. The strict HTTP/1.1 parser (./http1) rejects smuggling vectors — Content-Length with Transfer-Encoding,
 *      bad/duplicate Content-Length, obs-fold, bare LF — with 400 and closes; oversized heads get 431; a slow head
 *      gets 408. The request checks (./check.ts) add: one Host header, Transfer-Encoding only `chunked`,
 *      absolute-form authority must agree with Host, no CONNECT.
 *   2. The request target is normalised (src/policy/l7/path.ts); an unnormalisable target is a 400.
 *   3. The L7 policy for (client IP, original dst, port) comes from the injected L7PolicySource, asked for every
 *      request; no policy → deny. Allowed iff `wildcard` or some HTTP rule matches (src/policy/l7/http.ts), against
 *      the normalised path.
 *   4. Denied: `403 Forbidden`, `content-type: text/plain`, body `Access denied\r\n`; the connection stays open
 *      and the next (keep-alive or pipelined) request is checked on its own.
 *   5. Allowed: forwarded to the original destination with the *normalised* path (what was checked is what the
 *      upstream gets), header actions applied, hop-by-hop headers dropped, over one keep-alive upstream connection
 *      per client connection.
 *   6. Upgrade (WebSocket): only when the upgrade request itself is allowed and the upstream answers 101; then
 *      bytes are spliced.
 * Every request is reported to `onHttpEvent`.
 *
 * The forwarding core works on raw `node:net` sockets (./connection.ts, ./upstream.ts): Node's http server and
 * client cost most of the CPU time of the old proxy, which was built on them.
 */
import net from 'node:net';
import { networkInterfaces } from 'node:os';
import { bareIp, ClientConnection, type ProxyContext } from './connection.js';
import { serverFd, setIpTransparent } from './transparent.js';
import type { ProxyOptions, ProxyServer } from './types.js';

export { DENY_BODY } from './responses.js';
export type { HttpEvent, L7PolicySource, ProxyOptions, ProxyServer } from './types.js';

/** Idle time allowed between requests on a client connection (Node's keepAliveTimeout the proxy had). */
const KEEP_ALIVE_TIMEOUT_MS = 60_000;

function localAddresses(): Set<string> {
  const s = new Set<string>(['127.0.0.1', '::1', '0.0.0.0']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) s.add(bareIp(a.address));
  return s;
}

export async function startProxy(opts: ProxyOptions): Promise<ProxyServer> {
  const locals = localAddresses();
  const connections = new Set<ClientConnection>();
  const headersTimeoutMs = opts.headersTimeoutMs ?? 10_000;
  let listenPort = opts.port;
  const ctx: ProxyContext = {
    policy: opts.policy,
    emit: opts.onHttpEvent,
    maxHeaderSize: opts.maxHeaderSize ?? 16 * 1024,
    headersTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs ?? 60_000,
    keepAliveTimeoutMs: KEEP_ALIVE_TIMEOUT_MS,
    upstreamTimeoutMs: opts.upstreamTimeoutMs ?? 15_000,
    originalDst: opts.originalDst ?? ((s) => ({ ip: bareIp(s.localAddress), port: s.localPort ?? 0 })),
    isLoop: (dst) => locals.has(dst.ip) && dst.port === listenPort,
    connections,
  };

  // allowHalfOpen: a client may send FIN right after its request and still read the response (Node's http server
  // allowed it; the connection handles the FIN itself).
  const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    new ClientConnection(socket, ctx);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (opts.transparent !== false) {
    try {
      setIpTransparent(serverFd(server));
    } catch (e) {
      server.close();
      throw e;
    }
  }
  const addr = server.address() as net.AddressInfo;
  listenPort = addr.port;

  // One sweep for every timeout of every connection, as Node's server checks its connections; per-request timers
  // would cost more than the checks.
  const sweep = setInterval(
    () => {
      const now = performance.now();
      for (const c of connections) c.tick(now);
    },
    Math.max(10, Math.min(1000, headersTimeoutMs)),
  );
  sweep.unref();

  return {
    port: addr.port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweep);
        server.close(() => resolve());
        for (const c of connections) c.destroy();
      }),
  };
}
