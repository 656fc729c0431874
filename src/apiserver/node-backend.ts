/**
 * The seam between the apiserver and the node that runs pods. The apiserver calls a `NodeBackend` for
 * pods/exec, pods/attach and pods/log; with none configured (this issue), those requests get the answers a
 * real cluster gives for a pod that is not running (`pod x does not have a host assigned`).
 */
import type { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';

export interface ExecRequest {
  namespace: string;
  pod: string;
  container: string;
  command: string[];
  stdin: boolean;
  tty: boolean;
}

export interface TerminalSize {
  width: number;
  height: number;
}

export interface ExecStreams {
  stdin?: Readable;
  stdout: Writable;
  /** With a TTY, stderr is merged into stdout by the client; the backend may still write here. */
  stderr: Writable;
  /** Emits `'resize'` with a `TerminalSize` when the client's terminal changes (TTY only). */
  resize?: EventEmitter;
}

export interface LogRequest {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  previous: boolean;
  tailLines?: number;
  sinceSeconds?: number;
  timestamps?: boolean;
}

/**
 * Errors a backend throws to answer like a kubelet: `status` is the HTTP code (400 for
 * `container "x" in pod "y" is waiting to start: ContainerCreating`, 404 when the container is unknown).
 */
export class NodeBackendError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'NodeBackendError';
  }
}

export interface NodeBackend {
  /** Runs `command` in the container (exec) or attaches to its main process when `command` is empty (attach). */
  exec(req: ExecRequest, streams: ExecStreams): Promise<{ exitCode: number }>;
  logs(req: LogRequest): Promise<Readable>;
}
