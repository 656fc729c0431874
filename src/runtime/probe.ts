/**
 * Readiness probes, run like the kubelet runs them: httpGet and tcpSocket from the node to the pod IP, exec
 * inside the pod (through a callback the runtime provides). Each attempt resolves to success or failure with a
 * message; thresholds and periods are applied by the supervisor.
 */
import http from 'node:http';
import net from 'node:net';
import type { ContainerPort, Probe } from '../api/types.js';

export interface ProbeResult {
  ok: boolean;
  message?: string;
}

export interface ProbeTarget {
  podIp: string;
  ports: ContainerPort[];
  /** Runs a command in the container; resolves with its exit code. */
  exec: (argv: string[], timeoutMs: number) => Promise<{ code: number; output: string }>;
}

export function resolvePort(port: number | string, ports: ContainerPort[]): number | undefined {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  return ports.find((p) => p.name === port)?.containerPort;
}

export function probeTimings(p: Probe): {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
} {
  return {
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: Math.max(1, p.periodSeconds ?? 10) * 1000,
    timeoutMs: Math.max(1, p.timeoutSeconds ?? 1) * 1000,
    failureThreshold: Math.max(1, p.failureThreshold ?? 3),
    successThreshold: Math.max(1, p.successThreshold ?? 1),
  };
}

export async function runProbe(p: Probe, t: ProbeTarget): Promise<ProbeResult> {
  const { timeoutMs } = probeTimings(p);
  if (p.httpGet) {
    const port = resolvePort(p.httpGet.port, t.ports);
    if (port === undefined) return { ok: false, message: `unknown port "${p.httpGet.port}"` };
    if ((p.httpGet.scheme ?? 'HTTP').toUpperCase() !== 'HTTP') {
      return { ok: false, message: 'HTTPS probes are not supported by podwall' };
    }
    const host = p.httpGet.host || t.podIp;
    return httpProbe(host, port, p.httpGet.path ?? '/', timeoutMs);
  }
  if (p.tcpSocket) {
    const port = resolvePort(p.tcpSocket.port, t.ports);
    if (port === undefined) return { ok: false, message: `unknown port "${p.tcpSocket.port}"` };
    return tcpProbe(p.tcpSocket.host || t.podIp, port, timeoutMs);
  }
  if (p.exec) {
    try {
      const r = await t.exec(p.exec.command, timeoutMs);
      return r.code === 0 ? { ok: true } : { ok: false, message: `command exited with ${r.code}: ${r.output.trim()}` };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }
  return { ok: false, message: 'probe has no handler (httpGet, tcpSocket or exec)' };
}

function httpProbe(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get(
      { host, port, path, timeout: timeoutMs, headers: { 'User-Agent': 'kube-probe/1.30 (podwall)' }, agent: false },
      (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        resolve(
          code >= 200 && code < 400
            ? { ok: true }
            : { ok: false, message: `HTTP probe failed with statuscode: ${code}` },
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded)`)));
    req.on('error', (e) => resolve({ ok: false, message: `Get "http://${host}:${port}${path}": ${e.message}` }));
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` });
    }, timeoutMs);
    s.on('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve({ ok: true });
    });
    s.on('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, message: `dial tcp ${host}:${port}: ${e.message}` });
    });
  });
}
