/**
 * One container's life: start its process in the pod, notice when it exits, restart it per restartPolicy with
 * the kubelet's exponential back-off (CrashLoopBackOff), run its readiness probe, stop it gracefully
 * (SIGTERM, grace period, SIGKILL to the process group), and report a Kubernetes-shaped ContainerStatus.
 * A process left by a previous daemon can be adopted (watched by polling /proc; its exit code is then unknown).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname } from 'node:path';
import type { Container } from '../api/types.js';
import type { ResolveOptions } from '../images/catalog.js';
import { buildLaunch, lookPath, type PodContext } from './container.js';
import { containerLogPath } from './logs.js';
import { ipBinary, isSameProcess, nsArgv, procStartTime } from './nsexec.js';
import { type ProbeTarget, probeTimings, runProbe } from './probe.js';
import type { ContainerRecord } from './state.js';
import type { ContainerState, ContainerStateTerminated, ContainerStatus, RestartPolicy } from './types.js';

export interface BackoffOptions {
  /** First back-off delay (kubelet: 10 s). */
  baseMs: number;
  /** Cap (kubelet: 300 s). */
  maxMs: number;
  /** A container that ran this long resets the back-off (kubelet: 10 min). */
  resetMs: number;
}

export const KUBELET_BACKOFF: BackoffOptions = { baseMs: 10_000, maxMs: 300_000, resetMs: 600_000 };

export interface SupervisorContext {
  pod: () => PodContext;
  netns: string;
  podLogDir: string;
  images: ResolveOptions;
  backoff: BackoffOptions;
  restartPolicy: RestartPolicy;
  probeTarget: ProbeTarget;
  /** Called on every status change. */
  onChange: () => void;
  /** Called when the record to persist changed (pid, restart count). */
  persist: () => void;
  /** Poll period for adopted processes. */
  adoptPollMs?: number;
  /** Grace period when a failed liveness probe kills the container. */
  graceMs: number;
}

const signum = (s: NodeJS.Signals | null): number => (s ? ((constants.signals as Record<string, number>)[s] ?? 0) : 0);

function formatDelay(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${Number.isInteger(s) ? s : s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return r === 0 ? `${m}m0s` : `${m}m${r}s`;
}

export class ContainerSupervisor {
  readonly name: string;
  restartCount = 0;
  state: ContainerState = { waiting: { reason: 'ContainerCreating' } };
  lastState: ContainerState = {};
  ready = false;
  pid?: number;
  pidStart?: string;
  private child?: ChildProcess;
  private startedAt?: string;
  private stopping = false;
  private nextBackoffMs = 0;
  /** Image pull errors back off separately from crashes, as in the kubelet. */
  private nextPullBackoffMs = 0;
  private timer?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  private livenessTimer?: NodeJS.Timeout;
  private pollTimer?: NodeJS.Timeout;
  /** Bumped per instance so late probe results of an old instance are ignored. */
  private generation = 0;
  private exitWaiters: (() => void)[] = [];
  private imageKind = '';
  /** Set when a liveness failure killed the current instance (goes into the terminated state's message). */
  private livenessFailure?: string;

  constructor(
    readonly container: Container,
    private readonly ctx: SupervisorContext,
  ) {
    this.name = container.name;
  }

  get running(): boolean {
    return this.pid !== undefined;
  }

  record(): ContainerRecord {
    return { restartCount: this.restartCount, pid: this.pid, pidStart: this.pidStart, startedAt: this.startedAt };
  }

  start(): void {
    this.launch();
  }

  /**
   * Re-attaches to the instance a previous daemon started. A live process is watched by polling; a dead one
   * counts as exited with unknown status and is restarted per policy.
   */
  adopt(rec: ContainerRecord): void {
    this.restartCount = rec.restartCount;
    if (rec.pid !== undefined && isSameProcess(rec.pid, rec.pidStart)) {
      this.pid = rec.pid;
      this.pidStart = rec.pidStart;
      this.startedAt = rec.startedAt ?? new Date().toISOString();
      this.state = { running: { startedAt: this.startedAt } };
      this.generation++;
      this.imageKind = 'adopted';
      this.pollTimer = setInterval(() => {
        if (this.pid !== undefined && !isSameProcess(this.pid, this.pidStart)) this.onExit(null, null, true);
      }, this.ctx.adoptPollMs ?? 500);
      this.startProbes();
      this.ctx.onChange();
      return;
    }
    this.startedAt = rec.startedAt;
    if (rec.startedAt !== undefined) {
      this.state = { running: { startedAt: rec.startedAt } };
      this.onExit(null, null, true);
    } else {
      this.launch();
    }
  }

  status(): ContainerStatus {
    return {
      name: this.name,
      image: this.container.image ?? '',
      imageID: this.imageKind.startsWith('builtin:') ? `podwall-builtin://${this.imageKind.slice(8)}` : '',
      containerID: this.startedAt ? this.containerId() : undefined,
      ready: this.ready,
      started: this.running,
      restartCount: this.restartCount,
      state: this.state,
      lastState: this.lastState,
    };
  }

  private containerId(): string {
    return `podwall://${this.ctx.pod().uid}-${this.name}-${this.restartCount}`;
  }

  /** SIGTERM to the process group, SIGKILL after the grace period; resolves when the process is gone. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    if (this.pid === undefined) {
      this.ready = false;
      return;
    }
    const gone = new Promise<void>((r) => this.exitWaiters.push(r));
    if (!this.child) {
      // An adopted process is not our child: no 'exit' event comes, so keep polling /proc for its end
      // (clearTimers above stopped the adoption poll; without this the full grace period was always waited).
      this.pollTimer = setInterval(() => {
        if (this.pid !== undefined && !isSameProcess(this.pid, this.pidStart)) this.onExit(null, null, true);
      }, 50);
    }
    this.signal('SIGTERM');
    // The timers are cleared once the race is decided: a pending grace timer kept the daemon alive for up to the
    // grace period after every pod removal.
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([
      gone.then(() => false),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (killed && this.pid !== undefined) {
      this.signal('SIGKILL');
      await Promise.race([
        gone,
        new Promise((r) => {
          timer = setTimeout(r, 5000);
        }),
      ]);
      clearTimeout(timer);
    }
  }

  /** Drops timers and listeners without touching the process (daemon shutdown: the pod keeps running). */
  detach(): void {
    this.stopping = true;
    this.clearTimers();
    this.child?.removeAllListeners('exit');
  }

  private signal(sig: NodeJS.Signals): void {
    if (this.pid === undefined) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {}
    }
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.timer = this.probeTimer = this.pollTimer = this.livenessTimer = undefined;
  }

  private now(): string {
    return new Date().toISOString();
  }

  private launch(): void {
    if (this.stopping) return;
    const pod = this.ctx.pod();
    const l = buildLaunch(this.container, pod, this.ctx.images);
    if (!l.ok) {
      // Image and config errors are retried with back-off and never count as restarts.
      const first =
        !this.state.waiting || !['ErrImagePull', 'ImagePullBackOff', l.reason].includes(this.state.waiting.reason);
      const delay = first ? 0 : this.nextPullBackoffMs;
      this.nextPullBackoffMs = delay === 0 ? this.ctx.backoff.baseMs : Math.min(delay * 2, this.ctx.backoff.maxMs);
      this.state = {
        waiting: {
          reason: l.reason === 'ErrImagePull' && !first ? 'ImagePullBackOff' : l.reason,
          message:
            l.reason === 'ErrImagePull' && !first
              ? `Back-off pulling image "${this.container.image ?? ''}": ${l.message}`
              : l.message,
        },
      };
      this.ctx.onChange();
      this.timer = setTimeout(() => this.launch(), Math.max(delay, 1000));
      return;
    }
    const launch = l.launch;
    this.imageKind = launch.imageKind;
    const exe = lookPath(launch.argv[0]!, launch.env.PATH ?? '');
    let cwdOk = true;
    try {
      cwdOk = statSync(launch.cwd).isDirectory();
    } catch {
      cwdOk = false;
    }
    if (!exe || !cwdOk) {
      const message = !exe
        ? `exec: "${launch.argv[0]}": executable file not found in $PATH`
        : `chdir to cwd ("${launch.cwd}") set in config.json failed: no such file or directory`;
      const t = this.now();
      this.startedAt = t;
      this.finish({ exitCode: 128, reason: 'StartError', message, startedAt: t, finishedAt: t });
      return;
    }
    const logPath = containerLogPath(this.ctx.podLogDir, this.name, this.restartCount);
    mkdirSync(dirname(logPath), { recursive: true });
    // The kubelet keeps the current and the previous instance's logs only.
    if (this.restartCount >= 2) {
      rmSync(containerLogPath(this.ctx.podLogDir, this.name, this.restartCount - 2), { force: true });
    }
    const fd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        ipBinary(),
        nsArgv(this.ctx.netns, launch.argv, { uid: launch.runAsUser, gid: launch.runAsGroup }),
        {
          detached: true,
          stdio: ['ignore', fd, fd],
          env: launch.env,
          cwd: launch.cwd,
        },
      );
    } finally {
      closeSync(fd);
    }
    this.generation++;
    this.child = child;
    this.startedAt = this.now();
    child.on('error', (e) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.pid = undefined;
      this.finish({
        exitCode: 128,
        reason: 'StartError',
        message: e.message,
        startedAt: this.startedAt,
        finishedAt: this.now(),
      });
    });
    child.on('exit', (code, sig) => {
      if (this.child === child) this.onExit(code, sig, false);
    });
    child.unref();
    if (child.pid === undefined) return; // 'error' follows
    this.pid = child.pid;
    this.pidStart = procStartTime(child.pid);
    this.state = { running: { startedAt: this.startedAt } };
    this.ready = false;
    this.ctx.persist();
    this.startProbes();
    this.ctx.onChange();
  }

  private onExit(code: number | null, sig: NodeJS.Signals | null, unknown: boolean): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.livenessTimer) clearTimeout(this.livenessTimer);
    this.pollTimer = this.probeTimer = this.livenessTimer = undefined;
    this.child = undefined;
    this.pid = undefined;
    this.pidStart = undefined;
    const finishedAt = this.now();
    let t: ContainerStateTerminated;
    if (unknown) {
      t = {
        exitCode: 137,
        reason: 'ContainerStatusUnknown',
        message: 'The container exited while the runtime was not its parent; its exit code is unknown',
        startedAt: this.startedAt,
        finishedAt,
      };
    } else {
      const exitCode = code ?? 128 + signum(sig);
      t = {
        exitCode,
        ...(sig ? { signal: signum(sig) } : {}),
        reason: exitCode === 0 ? 'Completed' : 'Error',
        startedAt: this.startedAt,
        finishedAt,
      };
    }
    if (this.livenessFailure) {
      t.message = this.livenessFailure;
      this.livenessFailure = undefined;
    }
    this.finish(t);
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
  }

  /** The instance ended (or never started): record it and restart per policy and back-off. */
  private finish(t: ContainerStateTerminated): void {
    this.ready = false;
    this.generation++;
    t.containerID = this.containerId();
    const restart =
      !this.stopping &&
      (this.ctx.restartPolicy === 'Always' || (this.ctx.restartPolicy === 'OnFailure' && t.exitCode !== 0));
    if (!restart) {
      this.state = { terminated: t };
      this.ctx.persist();
      this.ctx.onChange();
      return;
    }
    this.lastState = { terminated: t };
    const ranMs = t.startedAt ? Date.parse(t.finishedAt) - Date.parse(t.startedAt) : 0;
    const delay = this.bumpBackoff(ranMs >= this.ctx.backoff.resetMs);
    if (delay === 0) {
      this.restartCount++;
      this.ctx.persist();
      this.launch();
      return;
    }
    const pod = this.ctx.pod();
    this.state = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatDelay(delay)} restarting failed container=${this.name} pod=${pod.name}_${pod.namespace}(${pod.uid})`,
      },
    };
    this.ctx.persist();
    this.ctx.onChange();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.restartCount++;
      this.launch();
    }, delay);
  }

  /** Kubelet back-off: the first failure restarts at once, then base, 2×base, ... up to max. */
  private bumpBackoff(reset: boolean): number {
    if (reset) this.nextBackoffMs = 0;
    const delay = this.nextBackoffMs;
    this.nextBackoffMs = delay === 0 ? this.ctx.backoff.baseMs : Math.min(delay * 2, this.ctx.backoff.maxMs);
    return delay;
  }

  private startProbes(): void {
    this.startLiveness();
    const probe = this.container.readinessProbe;
    const gen = this.generation;
    if (!probe) {
      this.ready = true;
      return;
    }
    this.ready = false;
    const t = probeTimings(probe);
    let successes = 0;
    let failures = 0;
    const tick = async () => {
      if (gen !== this.generation || this.pid === undefined) return;
      const r = await runProbe(probe, this.ctx.probeTarget);
      if (gen !== this.generation || this.pid === undefined) return;
      if (r.ok) {
        successes++;
        failures = 0;
        if (!this.ready && successes >= t.successThreshold) {
          this.ready = true;
          this.ctx.onChange();
        }
      } else {
        failures++;
        successes = 0;
        if (this.ready && failures >= t.failureThreshold) {
          this.ready = false;
          this.ctx.onChange();
        }
      }
      this.probeTimer = setTimeout(() => void tick(), t.periodMs);
    };
    this.probeTimer = setTimeout(() => void tick(), t.initialDelayMs);
  }

  /** Liveness: after failureThreshold consecutive failures the instance is killed and restarted per policy. */
  private startLiveness(): void {
    const probe = this.container.livenessProbe;
    if (!probe) return;
    const gen = this.generation;
    const t = probeTimings(probe);
    let failures = 0;
    const tick = async () => {
      if (gen !== this.generation || this.pid === undefined) return;
      const r = await runProbe(probe, this.ctx.probeTarget);
      if (gen !== this.generation || this.pid === undefined) return;
      failures = r.ok ? 0 : failures + 1;
      if (failures >= t.failureThreshold) {
        this.livenessFailure = `Liveness probe failed: ${r.message ?? ''}`.trim();
        const pid = this.pid;
        this.signal('SIGTERM');
        setTimeout(() => {
          if (this.pid === pid) this.signal('SIGKILL');
        }, this.ctx.graceMs);
        return;
      }
      this.livenessTimer = setTimeout(() => void tick(), t.periodMs);
    };
    this.livenessTimer = setTimeout(() => void tick(), t.initialDelayMs);
  }
}
