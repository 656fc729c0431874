/**
 * The apiserver's `NodeBackend` (pods/exec, pods/log) served by a PodRuntime. Runtime errors become
 * `NodeBackendError`s with the kubelet's wording and status codes.
 */
import { finished } from 'node:stream/promises';
import {
  type ExecRequest,
  type ExecStreams,
  type LogRequest,
  type NodeBackend,
  NodeBackendError,
} from '../apiserver/node-backend.js';
import type { PodRuntime } from './pod-runtime.js';
import { RuntimeError } from './types.js';

function toBackendError(e: unknown): unknown {
  if (!(e instanceof RuntimeError)) return e;
  return new NodeBackendError(e.message, e.code === 'NotFound' ? 404 : 400);
}

export function podRuntimeNodeBackend(rt: PodRuntime): NodeBackend {
  return {
    async exec(req: ExecRequest, streams: ExecStreams): Promise<{ exitCode: number }> {
      if (req.command.length === 0) {
        throw new NodeBackendError(
          'attach is not supported by podwall (container output goes to its log file): use kubectl logs -f',
          400,
        );
      }
      let s: Awaited<ReturnType<PodRuntime['exec']>>;
      try {
        s = await rt.exec({ namespace: req.namespace, name: req.pod }, req.container, req.command, {
          stdin: req.stdin && streams.stdin ? streams.stdin : undefined,
          tty: req.tty,
        });
      } catch (e) {
        throw toBackendError(e);
      }
      s.stdout.pipe(streams.stdout, { end: false });
      s.stderr.pipe(streams.stderr, { end: false });
      const [exitCode] = await Promise.all([
        s.exitCode,
        finished(s.stdout).catch(() => {}),
        finished(s.stderr).catch(() => {}),
      ]);
      return { exitCode };
    },
    async logs(req: LogRequest) {
      try {
        return await rt.logs({ namespace: req.namespace, name: req.pod }, req.container, {
          follow: req.follow,
          previous: req.previous,
          tail: req.tailLines,
        });
      } catch (e) {
        throw toBackendError(e);
      }
    },
  };
}
