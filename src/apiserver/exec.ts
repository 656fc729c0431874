/**
 * pods/exec, pods/attach and pods/log. Exec and attach speak the WebSocket remote-command protocol
 * (`v5.channel.k8s.io`, `v4.channel.k8s.io`): binary frames whose first byte is the channel (0 stdin, 1 stdout,
 * 2 stderr, 3 error/status, 4 resize, 255 close-stream in v5), the exit status sent on channel 3 as a
 * `Status` (`NonZeroExitCode` with an `ExitCode` cause) so kubectl exits with the command's code. Requests that
 * cannot be served (pod not scheduled, no node backend, SPDY) are answered with the same HTTP errors a real
 * cluster gives, so kubectl prints the familiar messages.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { PassThrough, Writable } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import type { KubeObject } from '../api/types.js';
import { type ApiError, badRequest, type Status } from './errors.js';
import { type NodeBackend, NodeBackendError } from './node-backend.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'] as const;

// biome-ignore lint/suspicious/noExplicitAny: reads loosely-typed pods
type Any = any;

/** Resolves the container a request targets, with kube-apiserver's messages for missing or unknown names. */
export function resolveContainer(pod: KubeObject, requested: string | null, what: 'exec' | 'log'): string {
  const spec: Any = (pod as Any).spec ?? {};
  const names: string[] = (spec.containers ?? []).map((c: Any) => c.name);
  const init: string[] = (spec.initContainers ?? []).map((c: Any) => c.name);
  const eph: string[] = (spec.ephemeralContainers ?? []).map((c: Any) => c.name);
  const podName = pod.metadata.name ?? '';
  let container = requested ?? '';
  if (container === '') {
    if (names.length === 1) container = names[0];
    else {
      let msg = `a container name must be specified for pod ${podName}, choose one of: [${names.join(' ')}]`;
      if (init.length) msg += ` or one of the init containers: [${init.join(' ')}]`;
      if (eph.length) msg += ` or one of the ephemeral containers: [${eph.join(' ')}]`;
      throw badRequest(msg);
    }
  }
  if (![...names, ...init, ...eph].includes(container)) {
    throw badRequest(`container ${container} is not valid for pod ${podName}`);
  }
  if (!spec.nodeName) throw badRequest(`pod ${podName} does not have a host assigned`);
  void what;
  return container;
}

function writeRawResponse(socket: Duplex, code: number, body: string, contentType: string): void {
  const reason = code === 400 ? 'Bad Request' : code === 404 ? 'Not Found' : code === 401 ? 'Unauthorized' : 'Error';
  socket.end(
    `HTTP/1.1 ${code} ${reason}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Answers an upgrade request with a Status error (what the apiserver does before it proxies to a kubelet). */
export function rejectUpgrade(socket: Duplex, err: ApiError): void {
  writeRawResponse(socket, err.code, JSON.stringify(err.status), 'application/json');
}

function exitStatus(exitCode: number, command: string[]): Status | Record<string, unknown> {
  if (exitCode === 0) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

function channelWriter(ws: WebSocket, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (ws.readyState !== ws.OPEN) return cb();
      ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(chunk)]), { binary: true }, () => cb());
    },
  });
}

export interface StreamRequest {
  pod: KubeObject;
  container: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

/**
 * Upgrades to WebSocket and runs the command through the backend. The caller has already checked auth,
 * the pod and the container (resolveContainer).
 */
export function serveExecWebSocket(
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  backend: NodeBackend | undefined,
  sreq: StreamRequest,
): void {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((s) => s.trim());
  const protocol = EXEC_PROTOCOLS.find((p) => offered.includes(p));
  if (!req.headers.upgrade || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
    // SPDY (or a plain request): we speak only WebSocket. A node backend that is not there answers as a kubelet
    // without the container would.
    writeRawResponse(
      socket,
      400,
      'unable to upgrade connection: only WebSocket (v4/v5.channel.k8s.io) is supported',
      'text/plain',
    );
    return;
  }
  if (!protocol) {
    writeRawResponse(
      socket,
      400,
      'unable to upgrade connection: no supported subprotocol (want v5.channel.k8s.io or v4.channel.k8s.io)',
      'text/plain',
    );
    return;
  }
  if (!backend) {
    writeRawResponse(socket, 404, `container not found ("${sreq.container}")`, 'text/plain');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const stdin = sreq.stdin ? new PassThrough() : undefined;
    const stdout = channelWriter(ws, 1);
    const stderr = channelWriter(ws, 2);
    const resize = new EventEmitter();
    // An initial empty frame on each output channel, as the kubelet's stream server sends.
    for (const ch of [1, 2, 3]) ws.send(Buffer.from([ch]), { binary: true });
    ws.on('message', (data: Buffer, isBinary) => {
      const buf = isBinary ? data : Buffer.from(data);
      if (buf.length === 0) return;
      const ch = buf[0];
      const payload = buf.subarray(1);
      if (ch === 0) stdin?.write(payload);
      else if (ch === 4) {
        try {
          const size = JSON.parse(payload.toString('utf8')) as { Width: number; Height: number };
          resize.emit('resize', { width: size.Width, height: size.Height });
        } catch {
          // ignore malformed resize frames
        }
      } else if (ch === 255 && payload[0] === 0) stdin?.end();
    });
    ws.on('close', () => {
      stdin?.end();
    });
    backend
      .exec(
        {
          namespace: sreq.pod.metadata.namespace ?? 'default',
          pod: sreq.pod.metadata.name ?? '',
          container: sreq.container,
          command: sreq.command,
          stdin: sreq.stdin,
          tty: sreq.tty,
        },
        { stdin, stdout, stderr, resize },
      )
      .then(
        ({ exitCode }) => exitStatus(exitCode, sreq.command),
        (err: unknown) => ({
          metadata: {},
          status: 'Failure',
          message: err instanceof Error ? err.message : String(err),
          reason: err instanceof NodeBackendError ? 'BadRequest' : 'InternalError',
        }),
      )
      .then((status) => {
        if (ws.readyState === ws.OPEN) {
          ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(status))]), { binary: true }, () =>
            ws.close(1000),
          );
        }
      });
  });
}

export function createExecWebSocketServer(): WebSocketServer {
  return new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => EXEC_PROTOCOLS.find((p) => protocols.has(p)) ?? false,
  });
}
