/** The proxy's public types (re-exported by server.ts, which is what other modules import). */
import type net from 'node:net';
import type { HeaderAction } from '../policy/l7/http.js';
import type { HttpRule, L7Policy, RuleRef } from '../policy/types.js';

/** Where the proxy learns the L7 policy of a redirected connection. */
export interface L7PolicySource {
  lookup(srcIp: string, dstIp: string, dport: number): L7Policy | undefined;
}

export interface HttpEvent {
  time: Date;
  src: { ip: string; port: number };
  dst: { ip: string; port: number };
  method: string;
  /** Normalised path with query (or the raw target when it could not be normalised). */
  url: string;
  host: string;
  protocol: string;
  /** Status sent to the client (0 when the connection failed before a response). */
  code: number;
  latencyMs: number;
  verdict: 'forwarded' | 'denied' | 'error';
  /** Why a request was denied or failed. */
  reason?: 'policy' | 'no-policy' | 'bad-request' | 'upstream' | 'loop';
  matched?: HttpRule;
  wildcardBy?: RuleRef[];
  actions?: HeaderAction[];
  error?: string;
  upgrade?: boolean;
}

export interface ProxyOptions {
  port: number;
  /** Listen address (default 0.0.0.0). */
  host?: string;
  /** Set IP_TRANSPARENT (default true; tests of the HTTP logic without TPROXY pass false). */
  transparent?: boolean;
  policy: L7PolicySource;
  onHttpEvent?: (e: HttpEvent) => void;
  /** Time allowed for a complete request head (slowloris), default 10 s. */
  headersTimeoutMs?: number;
  /** Time allowed for a complete request, default 60 s. */
  requestTimeoutMs?: number;
  /** Max request head size, default 16 KiB (→ 431). */
  maxHeaderSize?: number;
  /** Upstream connect/response timeout, default 15 s. */
  upstreamTimeoutMs?: number;
  /**
   * Resolve the original destination of a connection. Default: the socket's local address (TPROXY). Tests
   * without TPROXY inject a mapping.
   */
  originalDst?: (socket: net.Socket) => { ip: string; port: number };
}

export interface ProxyServer {
  readonly port: number;
  readonly server: net.Server;
  close(): Promise<void>;
}
