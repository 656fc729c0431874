/**
 * PodRuntime: the node's pod runtime (what the kubelet + containerd do, for processes in network namespaces).
 * The controller calls `runPod`/`removePod`, listens to `podStatus` events to write Pod.status, and serves
 * `kubectl exec`/`logs` through `exec`/`logs`. Everything it creates on the host is recorded first in
 * `$PODWALL_HOME/runtime/state.json`, so after a crash `reconcile(knownPods)` re-adopts live pods (same netns, same
 * IP, running processes watched again) and removes the rest, leaking nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ContainerPort } from '../api/types.js';
import { CniClient, defaultNetworkConfigList, writeNetworkConfigList } from './cni.js';
import { buildLaunch, lookPath, type PodContext } from './container.js';
import { containerLogPath, podLogDir, readLog, tailOffset } from './logs.js';
import { ensureIpForward, Netns, restoreIpForward } from './netns.js';
import { ipBinary, isSameProcess, nsArgv } from './nsexec.js';
import { SandboxManager, type SandboxSpec } from './pod-sandbox.js';
import type { ProbeTarget } from './probe.js';
import { type PodRecord, StateStore } from './state.js';
import { podConditions, podPhase } from './status.js';
import { type BackoffOptions, ContainerSupervisor, KUBELET_BACKOFF } from './supervisor.js';
import {
  type PodCondition,
  type PodRef,
  type PodRuntimeStatus,
  type PodStatusEvent,
  type RunPodResult,
  type RunPodSpec,
  RuntimeError,
} from './types.js';

export interface PodRuntimeOptions {
  /** `$PODWALL_HOME`: state, CNI config and cache, IPAM, logs live below it. */
  home: string;
  /** Subnet host-local allocates pod IPs from. Default 10.244.0.0/16. */
  podCIDR?: string;
  /** Directories with the CNI plugins. Default /usr/lib/cni and /opt/cni/bin. */
  cniPath?: string[];
  networkName?: string;
  /** Routes installed in pods (default `0.0.0.0/0` via the host; tests restrict them to cluster ranges). */
  podRoutes?: string[];
  /** Nameservers written into every pod's resolv.conf (the cluster DNS service IP). */
  clusterDNS?: string[];
  clusterDomain?: string;
  /** Prefix of netns names; must start with `pw-`. Default `pw-pod-`. Tests use a unique one per run. */
  netnsPrefix?: string;
  backoff?: Partial<BackoffOptions>;
  /** Directory with the built-in image programs (default: next to the compiled catalog). */
  programDir?: string;
  /** Turn on net.ipv4.ip_forward when it is off (recorded, restored by `shutdown`). Default true. */
  manageIpForward?: boolean;
  /** Poll period for processes re-adopted after a restart. */
  adoptPollMs?: number;
}

export interface ExecOptions {
  /** Data for the command's stdin, or a stream piped into it; `true` exposes `stdin` as a Writable. */
  stdin?: string | Buffer | Readable | true;
  /** Run under a pseudo-terminal (stderr is merged into stdout, as with a real TTY). */
  tty?: boolean;
  timeoutMs?: number;
}

export interface ExecSession {
  stdout: Readable;
  stderr: Readable;
  stdin?: Writable;
  /** Exit code (128+signal when killed). */
  exitCode: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

export interface LogOptions {
  follow?: boolean;
  previous?: boolean;
  /** Last N lines only. */
  tail?: number;
}

export interface PodSummary {
  uid: string;
  namespace: string;
  name: string;
  ip?: string;
  netns: string;
  hostIfname?: string;
}

export interface Leftovers {
  /** Pods recorded in the state file (by this or a previous daemon). */
  pods: (PodSummary & { netnsExists: boolean; livePids: number; adoptedHere: boolean })[];
  /** Network namespaces with this runtime's prefix that no record explains. */
  strayNetns: string[];
}

export interface ReconcileReport {
  adopted: string[];
  recreated: string[];
  removed: string[];
  strayNetnsRemoved: string[];
  problems: string[];
}

interface PodEntry {
  rec: PodRecord;
  supervisors: Map<string, ContainerSupervisor>;
  conditions: PodCondition[];
  lastEmitted: string;
  emitPending: boolean;
  removing?: Promise<void>;
}

const DEFAULT_GRACE_S = 30;

export class PodRuntime extends EventEmitter<{ podStatus: [PodStatusEvent]; podRemoved: [PodSummary] }> {
  readonly home: string;
  readonly netnsPrefix: string;
  private readonly pods = new Map<string, PodEntry>();
  private readonly starting = new Map<string, Promise<RunPodResult>>();
  private readonly state: StateStore;
  private readonly netns: Netns;
  private readonly sandboxes: SandboxManager;
  private readonly backoff: BackoffOptions;
  private clusterDNS: string[];
  private readonly clusterDomain: string;
  private readonly programDir?: string;
  private readonly adoptPollMs?: number;

  private constructor(opts: PodRuntimeOptions, cni: CniClient, state: StateStore) {
    super();
    this.home = opts.home;
    this.netnsPrefix = opts.netnsPrefix ?? 'pw-pod-';
    if (!/^pw-[A-Za-z0-9-]{0,20}$/.test(this.netnsPrefix)) throw new Error(`netnsPrefix must start with "pw-"`);
    this.state = state;
    this.netns = new Netns();
    this.sandboxes = new SandboxManager(this.netns, cni);
    this.backoff = { ...KUBELET_BACKOFF, ...opts.backoff };
    this.clusterDNS = opts.clusterDNS ?? [];
    this.clusterDomain = opts.clusterDomain ?? 'cluster.local';
    this.programDir = opts.programDir;
    this.adoptPollMs = opts.adoptPollMs;
  }

  /** Prepares $PODWALL_HOME (CNI config list, dirs), loads the state file and turns on IP forwarding. */
  static async open(opts: PodRuntimeOptions): Promise<PodRuntime> {
    const cniDir = join(opts.home, 'cni');
    await mkdir(join(opts.home, 'runtime'), { recursive: true });
    await mkdir(join(opts.home, 'logs', 'pods'), { recursive: true });
    const config = defaultNetworkConfigList({
      name: opts.networkName ?? 'podwall',
      subnet: opts.podCIDR ?? '10.244.0.0/16',
      ipamDataDir: join(cniDir, 'ipam'),
      routes: opts.podRoutes,
    });
    await writeNetworkConfigList(cniDir, config);
    const cni = new CniClient({
      config,
      cniPath: opts.cniPath ?? ['/usr/lib/cni', '/opt/cni/bin'],
      cacheDir: join(cniDir, 'cache'),
    });
    const state = new StateStore(join(opts.home, 'runtime'));
    const rt = new PodRuntime(opts, cni, state);
    if (opts.manageIpForward ?? true) {
      if (await ensureIpForward()) {
        state.data.ipForwardChanged = true;
        await state.save();
      }
    }
    return rt;
  }

  /** Changes the nameservers of new pods and rewrites the resolv.conf of running ones (same inode: live). */
  async setClusterDNS(servers: string[]): Promise<void> {
    this.clusterDNS = servers;
    await Promise.all(
      [...this.pods.values()]
        .filter((e) => !e.rec.spec.dnsServers)
        .map((e) => this.sandboxes.writeEtc(this.sandboxSpec(e.rec), e.rec.ip)),
    );
  }

  netnsNameFor(spec: Pick<RunPodSpec, 'uid' | 'name'>): string {
    const base = spec.name
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .slice(0, 20)
      .replace(/-+$/, '');
    const hash = createHash('sha256').update(spec.uid).digest('hex').slice(0, 8);
    return `${this.netnsPrefix}${base}-${hash}`;
  }

  /**
   * Creates the sandbox (netns + CNI + /etc files) and starts every container. Resolves once the processes are
   * launched (not when they are ready: watch `podStatus`). Idempotent per uid.
   */
  async runPod(spec: RunPodSpec): Promise<RunPodResult> {
    const inflight = this.starting.get(spec.uid);
    if (inflight) return inflight;
    const p = this.startPod(spec);
    this.starting.set(spec.uid, p);
    try {
      return await p;
    } finally {
      this.starting.delete(spec.uid);
    }
  }

  private async startPod(spec: RunPodSpec): Promise<RunPodResult> {
    const existing = this.pods.get(spec.uid);
    if (existing?.rec.ip) {
      return { ip: existing.rec.ip, netns: existing.rec.netns, hostIfname: existing.rec.hostIfname ?? '' };
    }
    if (spec.containers.length === 0) throw new RuntimeError('Invalid', 'a pod needs at least one container');
    const names = new Set(spec.containers.map((c) => c.name));
    if (names.size !== spec.containers.length) throw new RuntimeError('Invalid', 'container names must be unique');
    const sameName = Object.values(this.state.data.pods).some(
      (r) => r.uid !== spec.uid && r.namespace === spec.namespace && r.name === spec.name,
    );
    if (sameName) {
      throw new RuntimeError('Invalid', `pod ${spec.namespace}/${spec.name} already runs with another uid`);
    }
    const netns = this.netnsNameFor(spec);
    const rec: PodRecord = {
      uid: spec.uid,
      namespace: spec.namespace,
      name: spec.name,
      netns,
      cniContainerId: netns,
      createdAt: new Date().toISOString(),
      spec,
      containers: {},
    };
    // Write-ahead: the record exists before any host object does.
    this.state.data.pods[spec.uid] = rec;
    await this.state.save();
    const sb = await this.sandboxes.create(this.sandboxSpec(rec));
    if (!sb.ok) {
      delete this.state.data.pods[spec.uid];
      await this.state.save();
      throw new RuntimeError('SandboxFailed', sb.message);
    }
    rec.ip = sb.value.ip;
    rec.hostIfname = sb.value.hostIfname;
    await this.state.save();
    const entry = this.newEntry(rec);
    for (const s of entry.supervisors.values()) s.start();
    this.scheduleEmit(entry);
    return { ip: rec.ip, netns, hostIfname: rec.hostIfname };
  }

  /** Stops the containers (SIGTERM, grace, SIGKILL) and tears the sandbox down. Unknown pods are a no-op. */
  async removePod(ref: PodRef, opts: { gracePeriodSeconds?: number } = {}): Promise<void> {
    const e = this.find(ref);
    if (!e) {
      const uid = typeof ref === 'string' ? ref : undefined;
      const rec = uid ? this.state.data.pods[uid] : undefined;
      if (rec) await this.destroyRecord(rec);
      return;
    }
    e.removing ??= (async () => {
      const grace = (opts.gracePeriodSeconds ?? e.rec.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_S) * 1000;
      await Promise.all([...e.supervisors.values()].map((s) => s.stop(grace)));
      await this.destroyRecord(e.rec);
      this.pods.delete(e.rec.uid);
      this.emit('podRemoved', this.summary(e.rec));
    })();
    await e.removing;
  }

  /** Kubernetes-shaped status of a pod, or undefined for an unknown pod. */
  status(ref: PodRef): PodRuntimeStatus | undefined {
    const e = this.find(ref);
    return e ? this.computeStatus(e) : undefined;
  }

  list(): PodSummary[] {
    return [...this.pods.values()].map((e) => this.summary(e.rec));
  }

  /** Runs `argv` in the container's pod (its netns, resolv.conf, env, working dir and user). */
  async exec(ref: PodRef, container: string, argv: string[], opts: ExecOptions = {}): Promise<ExecSession> {
    const { e, sup } = this.container(ref, container);
    if (!sup.running) {
      throw new RuntimeError(
        'NotRunning',
        `container ${container} is not running (pod ${e.rec.namespace}/${e.rec.name})`,
      );
    }
    if (argv.length === 0) throw new RuntimeError('Invalid', 'exec needs a command');
    const l = buildLaunch(sup.container, this.podContext(e.rec), { programDir: this.programDir });
    const env = l.ok
      ? l.launch.env
      : { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOSTNAME: e.rec.name };
    const cwd = l.ok && existsSync(l.launch.cwd) ? l.launch.cwd : '/';
    if (!lookPath(argv[0]!, env.PATH ?? '')) {
      const out = new PassThrough();
      const err = new PassThrough();
      out.end();
      err.end(
        `OCI runtime exec failed: exec failed: unable to start container process: exec: "${argv[0]}": executable file not found in $PATH: unknown\n`,
      );
      return { stdout: out, stderr: err, exitCode: Promise.resolve(127), kill: () => {} };
    }
    let cmd = argv;
    if (opts.tty) {
      env.TERM ??= 'xterm';
      cmd = ['script', '-qfec', argv.map(shellQuote).join(' '), '/dev/null'];
    }
    const runAs = l.ok ? { uid: l.launch.runAsUser, gid: l.launch.runAsGroup } : undefined;
    const child: ChildProcess = spawn(ipBinary(), nsArgv(e.rec.netns, cmd, runAs), {
      env,
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exitCode = new Promise<number>((resolve) => {
      child.on('error', () => resolve(128));
      child.on('close', (code, sig) => resolve(code ?? 128 + (sig ? signalNumber(sig) : 0)));
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    void exitCode.then(() => timer && clearTimeout(timer));
    const stdin = child.stdin!;
    stdin.on('error', () => {});
    if (opts.stdin === undefined) stdin.end();
    else if (typeof opts.stdin === 'string' || Buffer.isBuffer(opts.stdin)) stdin.end(opts.stdin);
    else if (opts.stdin !== true) opts.stdin.pipe(stdin);
    return {
      stdout: child.stdout!,
      stderr: child.stderr!,
      stdin: opts.stdin === true ? stdin : undefined,
      exitCode,
      kill: (sig = 'SIGKILL') => child.kill(sig),
    };
  }

  /** Convenience: exec and collect the output. */
  async execCollect(
    ref: PodRef,
    container: string,
    argv: string[],
    opts: ExecOptions = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const s = await this.exec(ref, container, argv, opts);
    let stdout = '';
    let stderr = '';
    s.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
    });
    s.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    const [code] = await Promise.all([
      s.exitCode,
      finished(s.stdout).catch(() => {}),
      finished(s.stderr).catch(() => {}),
    ]);
    return { code, stdout, stderr };
  }

  /** Logs of the current (or previous) instance of a container, as a stream. */
  async logs(ref: PodRef, container: string, opts: LogOptions = {}): Promise<Readable> {
    const { e, sup } = this.container(ref, container);
    const dir = podLogDir(this.home, e.rec.namespace, e.rec.name, e.rec.uid);
    const idx = opts.previous ? sup.restartCount - 1 : sup.restartCount;
    const path = containerLogPath(dir, container, idx);
    if (idx < 0 || !existsSync(path)) {
      if (opts.previous) {
        throw new RuntimeError(
          'LogsUnavailable',
          `previous terminated container "${container}" in pod "${e.rec.name}" not found`,
        );
      }
      const w = sup.state.waiting;
      throw new RuntimeError(
        'LogsUnavailable',
        `container "${container}" in pod "${e.rec.name}" is waiting to start: ${w?.reason ?? 'ContainerCreating'}`,
      );
    }
    const start = opts.tail !== undefined ? await tailOffset(path, opts.tail) : 0;
    if (!opts.follow || opts.previous) return readLog(path, start);
    return readLog(path, start, {
      start,
      isDone: () => sup.restartCount !== idx || !sup.running || !this.pods.has(e.rec.uid),
    });
  }

  /** What the state file says exists, checked against the host, plus stray namespaces with our prefix. */
  async listLeftovers(): Promise<Leftovers> {
    const all = await this.netns.list();
    const known = new Set(Object.values(this.state.data.pods).map((r) => r.netns));
    const pods: Leftovers['pods'] = [];
    for (const rec of Object.values(this.state.data.pods)) {
      const exists = all.includes(rec.netns);
      pods.push({
        ...this.summary(rec),
        netnsExists: exists,
        livePids: exists ? (await this.netns.pids(rec.netns)).length : 0,
        adoptedHere: this.pods.has(rec.uid),
      });
    }
    return { pods, strayNetns: all.filter((n) => n.startsWith(this.netnsPrefix) && !known.has(n)) };
  }

  /**
   * After a restart: pods in `known` whose sandbox survived are re-adopted (same netns and IP; live processes
   * watched again, dead ones restarted per policy); known pods whose sandbox is gone are recreated; recorded pods
   * not in `known`, and stray namespaces with this runtime's prefix, are removed.
   */
  async reconcile(known: readonly RunPodSpec[]): Promise<ReconcileReport> {
    const report: ReconcileReport = { adopted: [], recreated: [], removed: [], strayNetnsRemoved: [], problems: [] };
    const want = new Map(known.map((s) => [s.uid, s]));
    for (const rec of Object.values(this.state.data.pods)) {
      if (this.pods.has(rec.uid)) continue;
      const spec = want.get(rec.uid);
      if (!spec) {
        report.problems.push(...(await this.destroyRecord(rec)));
        report.removed.push(rec.uid);
        continue;
      }
      const check = rec.ip
        ? await this.sandboxes.check(this.sandboxSpec(rec))
        : { ok: false as const, message: 'no IP' };
      if (check.ok && rec.ip) {
        rec.spec = { ...spec, dnsServers: spec.dnsServers ?? rec.spec.dnsServers };
        await this.sandboxes.writeEtc(this.sandboxSpec(rec), rec.ip);
        const entry = this.newEntry(rec);
        for (const s of entry.supervisors.values()) {
          const crec = rec.containers[s.name];
          if (crec) s.adopt(crec);
          else s.start();
        }
        await this.state.save();
        this.scheduleEmit(entry);
        report.adopted.push(rec.uid);
      } else {
        report.problems.push(
          `pod ${rec.namespace}/${rec.name}: ${check.ok ? 'no IP recorded' : check.message}; recreating`,
        );
        report.problems.push(...(await this.destroyRecord(rec)));
        await this.runPod(spec);
        report.recreated.push(rec.uid);
      }
    }
    const left = await this.listLeftovers();
    for (const ns of left.strayNetns) {
      const problems = await this.sandboxes.destroy(
        {
          netns: ns,
          cniContainerId: ns,
          namespace: '',
          podName: '',
          dnsServers: [],
          clusterDomain: this.clusterDomain,
        },
        [],
      );
      report.problems.push(...problems);
      report.strayNetnsRemoved.push(ns);
    }
    return report;
  }

  /** Stops watching (timers, probes) without touching the pods: they keep running for the next daemon. */
  async close(): Promise<void> {
    for (const e of this.pods.values()) for (const s of e.supervisors.values()) s.detach();
    this.pods.clear();
    await this.state.save();
  }

  /** Removes every pod and undoes the node changes this runtime made (ip_forward). */
  async shutdown(opts: { gracePeriodSeconds?: number } = {}): Promise<void> {
    await Promise.all([...this.pods.keys()].map((uid) => this.removePod(uid, opts)));
    for (const rec of Object.values(this.state.data.pods)) await this.destroyRecord(rec);
    if (this.state.data.ipForwardChanged) {
      await restoreIpForward();
      this.state.data.ipForwardChanged = false;
    }
    await this.state.save();
  }

  // ---- internals ----

  private newEntry(rec: PodRecord): PodEntry {
    const entry: PodEntry = { rec, supervisors: new Map(), conditions: [], lastEmitted: '', emitPending: false };
    const logDir = podLogDir(this.home, rec.namespace, rec.name, rec.uid);
    for (const c of rec.spec.containers) {
      const ports: ContainerPort[] = c.ports ?? [];
      const probeTarget: ProbeTarget = {
        podIp: rec.ip ?? '127.0.0.1',
        ports,
        exec: async (argv, timeoutMs) => {
          const r = await this.execCollect(rec.uid, c.name, argv, { timeoutMs });
          return { code: r.code, output: r.stdout + r.stderr };
        },
      };
      const sup: ContainerSupervisor = new ContainerSupervisor(c, {
        pod: () => this.podContext(rec),
        netns: rec.netns,
        podLogDir: logDir,
        images: { programDir: this.programDir },
        backoff: this.backoff,
        restartPolicy: rec.spec.restartPolicy ?? 'Always',
        probeTarget,
        adoptPollMs: this.adoptPollMs,
        graceMs: (rec.spec.terminationGracePeriodSeconds ?? DEFAULT_GRACE_S) * 1000,
        onChange: () => this.scheduleEmit(entry),
        persist: () => {
          rec.containers[c.name] = sup.record();
          void this.state.save();
        },
      });
      entry.supervisors.set(c.name, sup);
    }
    this.pods.set(rec.uid, entry);
    return entry;
  }

  private podContext(rec: PodRecord): PodContext {
    return {
      uid: rec.uid,
      namespace: rec.namespace,
      name: rec.name,
      ip: rec.ip,
      nodeName: rec.spec.nodeName,
      serviceAccountName: rec.spec.serviceAccountName,
      labels: rec.spec.labels,
      annotations: rec.spec.annotations,
      injectedEnv: rec.spec.injectedEnv,
    };
  }

  private sandboxSpec(rec: PodRecord): SandboxSpec {
    return {
      netns: rec.netns,
      cniContainerId: rec.cniContainerId,
      namespace: rec.namespace,
      podName: rec.name,
      dnsServers: rec.spec.dnsServers ?? this.clusterDNS,
      clusterDomain: this.clusterDomain,
    };
  }

  private async destroyRecord(rec: PodRecord): Promise<string[]> {
    const pids = Object.values(rec.containers)
      .filter((c) => c.pid !== undefined && isSameProcess(c.pid, c.pidStart))
      .map((c) => c.pid!);
    const problems = await this.sandboxes.destroy(this.sandboxSpec(rec), pids);
    delete this.state.data.pods[rec.uid];
    await this.state.save();
    await rm(podLogDir(this.home, rec.namespace, rec.name, rec.uid), { recursive: true, force: true });
    return problems;
  }

  private find(ref: PodRef): PodEntry | undefined {
    if (typeof ref === 'string') return this.pods.get(ref);
    for (const e of this.pods.values()) if (e.rec.namespace === ref.namespace && e.rec.name === ref.name) return e;
    return undefined;
  }

  private container(ref: PodRef, name: string): { e: PodEntry; sup: ContainerSupervisor } {
    const e = this.find(ref);
    if (!e) {
      const what = typeof ref === 'string' ? ref : `${ref.namespace}/${ref.name}`;
      throw new RuntimeError('NotFound', `pod ${what} not found on this node`);
    }
    const sup = e.supervisors.get(name);
    if (!sup) throw new RuntimeError('ContainerNotFound', `container ${name} is not valid for pod ${e.rec.name}`);
    return { e, sup };
  }

  private summary(rec: PodRecord): PodSummary {
    return {
      uid: rec.uid,
      namespace: rec.namespace,
      name: rec.name,
      ip: rec.ip,
      netns: rec.netns,
      hostIfname: rec.hostIfname,
    };
  }

  private computeStatus(e: PodEntry): PodRuntimeStatus {
    const cs = [...e.supervisors.values()].map((s) => s.status());
    const phase = podPhase(cs, e.rec.spec.restartPolicy ?? 'Always');
    e.conditions = podConditions(cs, phase, new Date().toISOString(), e.conditions);
    return {
      phase,
      conditions: e.conditions,
      containerStatuses: cs,
      ...(e.rec.ip ? { podIP: e.rec.ip, podIPs: [{ ip: e.rec.ip }] } : {}),
      startTime: e.rec.createdAt,
    };
  }

  private scheduleEmit(e: PodEntry): void {
    if (e.emitPending) return;
    e.emitPending = true;
    queueMicrotask(() => {
      e.emitPending = false;
      if (!this.pods.has(e.rec.uid)) return;
      const status = this.computeStatus(e);
      const json = JSON.stringify(status);
      if (json === e.lastEmitted) return;
      e.lastEmitted = json;
      this.emit('podStatus', { uid: e.rec.uid, namespace: e.rec.namespace, name: e.rec.name, status });
    });
  }
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function signalNumber(sig: NodeJS.Signals): number {
  return (constants.signals as Record<string, number>)[sig] ?? 0;
}
