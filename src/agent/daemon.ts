/**
 * The podwall daemon: starts the control plane (apiserver on SQLite) and then the agent components, writes
 * $PODWALL_HOME/kubeconfig, the pid/state files and logs, and stops everything in reverse order.
 * Components added by later issues (controllers, pod runtime, identity, datapath, proxy, DNS) plug in through
 * `DaemonComponent` — they get a kubeconfig-based `KubeClient` and talk to the API like any client.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync, type WriteStream, writeFileSync } from 'node:fs';
import { ensurePki, renderKubeconfig } from '../apiserver/certs.js';
import type { NodeBackend } from '../apiserver/node-backend.js';
import { type ApiServer, startApiServer } from '../apiserver/server.js';
import { SqliteStore } from '../apiserver/storage.js';
import { KubeClient, loadKubeconfig } from '../kube/client.js';
// issue 6 (enforcement): policy enforcement, L7 proxy and flow events on the node.
import { createEnforcementComponent } from './enforcement/index.js';
import { homePaths, writeState } from './lifecycle.js';
// issue 5 (workloads): the node and its controllers are the default components.
import { workloadComponentFactories } from './workloads/index.js';

export const PODWALL_VERSION = '0.1.0';
const DEFAULT_PORT = 6443;

export interface ComponentStatus {
  ok: boolean;
  message: string;
}

/** What a component gets when it starts. */
export interface ComponentContext {
  home: string;
  /** A client for the control plane, built from the kubeconfig (the same path a real cluster would use). */
  client: KubeClient;
  kubeconfigPath: string;
  log(line: string): void;
  /** Lets a node component serve pods/exec, pods/attach and pods/log. */
  setNodeBackend(backend: NodeBackend | undefined): void;
}

export interface DaemonComponent {
  name: string;
  /**
   * issue 5 (workloads): set by a node that finalizes pod deletion; the apiserver then keeps a deleted pod that is
   * bound to a node Terminating (deletionTimestamp) until the node removes it (RegistryOptions.gracefulPodDeletion).
   */
  readonly finalizesPods?: boolean;
  start(ctx: ComponentContext): Promise<void>;
  stop(): Promise<void>;
  status?(): ComponentStatus;
}

export interface DaemonOptions {
  home: string;
  foreground: boolean;
  /** API port; default: the port used last time, else 6443, else any free port. */
  port?: number;
  /** Agent components to start after the apiserver (the seam later issues fill). */
  components?: DaemonComponent[];
  /** Also write log lines to stderr (foreground runs under a supervisor). */
  logToStderr?: boolean;
}

export interface Daemon {
  readonly home: string;
  readonly url: string;
  readonly kubeconfigPath: string;
  readonly apiserver: ApiServer;
  readonly components: readonly DaemonComponent[];
  readonly startedAt: Date;
  status(): { name: string; ok: boolean; message: string }[];
  stop(): Promise<void>;
}

/**
 * Components started after the apiserver, in order. Later issues append theirs here (or pass
 * `components` explicitly): e.g. the Deployment/ReplicaSet controllers, the pod runtime, the policy agent.
 */
export const DEFAULT_COMPONENTS: (() => DaemonComponent)[] = [
  // issue 5 (workloads): node (scheduler + kubelet), ReplicaSet, Deployment, endpoints controllers, cluster DNS.
  ...workloadComponentFactories(),
  // issue 6 (enforcement): informers → policy engine → nftables, the L7 proxy, NFLOG flow events, observe API.
  () => createEnforcementComponent(),
];

function readConfiguredPort(configFile: string): number | undefined {
  try {
    const p = JSON.parse(readFileSync(configFile, 'utf8')).apiPort;
    return typeof p === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const p = homePaths(opts.home);
  mkdirSync(opts.home, { recursive: true, mode: 0o700 });
  mkdirSync(p.logDir, { recursive: true });
  mkdirSync(p.runDir, { recursive: true });
  const logStream: WriteStream = createWriteStream(p.logFile, { flags: 'a' });
  const log = (line: string) => {
    const text = `${new Date().toISOString()} ${line}\n`;
    logStream.write(text);
    if (opts.logToStderr) process.stderr.write(text);
  };
  log(`podwall ${PODWALL_VERSION} starting (home ${opts.home}, pid ${process.pid})`);

  const pki = ensurePki(p.pkiDir);
  const store = new SqliteStore({ path: p.db });
  const wanted = opts.port ?? readConfiguredPort(p.configFile) ?? DEFAULT_PORT;
  // issue 5 (workloads): components are built before the apiserver, which needs to know whether a node finalizes pods.
  const components = opts.components ?? DEFAULT_COMPONENTS.map((f) => f());
  const gracefulPodDeletion = components.some((c) => c.finalizesPods === true);
  let apiserver: ApiServer;
  try {
    apiserver = await startApiServer({
      store,
      pki,
      port: wanted,
      gracefulPodDeletion,
      log: (l) => log(`apiserver: ${l}`),
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || opts.port !== undefined) {
      store.close();
      throw e;
    }
    log(`port ${wanted} is in use; picking a free port`);
    apiserver = await startApiServer({ store, pki, port: 0, gracefulPodDeletion, log: (l) => log(`apiserver: ${l}`) });
  }
  writeFileSync(p.configFile, `${JSON.stringify({ apiPort: apiserver.port }, null, 2)}\n`);
  writeFileSync(p.kubeconfig, renderKubeconfig({ server: apiserver.url, pki }), { mode: 0o600 });
  log(`apiserver listening on ${apiserver.url}`);

  const client = new KubeClient(loadKubeconfig({ path: p.kubeconfig }));
  const started: DaemonComponent[] = [];
  const ctx: ComponentContext = {
    home: opts.home,
    client,
    kubeconfigPath: p.kubeconfig,
    log: (l) => log(l),
    setNodeBackend: (b) => apiserver.setNodeBackend(b),
  };
  const startedAt = new Date();
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      log('podwall stopping');
      for (const c of [...started].reverse()) {
        try {
          await c.stop();
        } catch (e) {
          log(`${c.name}: stop failed: ${(e as Error).message}`);
        }
      }
      client.close();
      await apiserver.close();
      store.close();
      log('podwall stopped');
      await new Promise<void>((r) => logStream.end(() => r()));
    })();
    return stopping;
  };
  try {
    for (const c of components) {
      log(`starting ${c.name}`);
      await c.start(ctx);
      started.push(c);
    }
  } catch (e) {
    log(`component failed to start: ${(e as Error).message}`);
    await stop();
    throw e;
  }
  writeState(opts.home, {
    pid: process.pid,
    url: apiserver.url,
    startedAt: startedAt.toISOString(),
    version: PODWALL_VERSION,
    components: ['apiserver', ...components.map((c) => c.name)],
  });
  log('podwall ready');
  return {
    home: opts.home,
    url: apiserver.url,
    kubeconfigPath: p.kubeconfig,
    apiserver,
    components,
    startedAt,
    status: () => [
      { name: 'apiserver', ok: true, message: apiserver.url },
      ...components.map((c) => ({ name: c.name, ...(c.status?.() ?? { ok: true, message: 'running' }) })),
    ],
    stop,
  };
}

export function kubeconfigExists(home: string): boolean {
  return existsSync(homePaths(home).kubeconfig);
}
