/**
 * The shared Driver contract against the real kernel, for every kernel driver: 4 netns pods (CNI ptp), the driver
 * under test with unique host-object names, and the real transparent proxy (src/proxy) with a visibility-only
 * policy. The driver supplies only how it is created and which host objects it owns (for the teardown check).
 * Needs root.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type HttpEvent, type ProxyServer, startProxy } from '../proxy/server.js';
import { desired, endpoint, enforced, seg } from './builders.test-helper.js';
import {
  type ContractEnv,
  type ContractHarness,
  type Observed,
  POD_NAMES,
  type PodName,
} from './contract.test-helper.js';
import { formatIpv4, parseCidr } from './ipv4.js';
import { createTestNet, type TestNet } from './testing-netns.js';
import type { DesiredState, Driver } from './types.js';

/** Unique names for one run: a route table and rule pref for TPROXY, and a suffix for everything else. */
export interface LiveNames {
  suffix: string;
  routeTable: number;
  pref: number;
}

export interface LiveDriverSpec {
  name: string;
  /** `net` gives the pods' host-side interfaces (the DesiredState of the contract does not carry them). */
  create(names: LiveNames, net: TestNet): Driver;
  /** The host objects this driver owns that are not routing (e.g. nft tables, bpffs mounts), as comparable text. */
  hostObjects(names: LiveNames): string;
}

export function rnd(lo: number, hi: number): number {
  return lo + Math.floor(Math.random() * (hi - lo));
}

/** Output of a command, '' if it fails (probes of host state where "absent" is an answer). */
export function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args).toString();
  } catch {
    return '';
  }
}

/** Pods a (identity 1001) and b (1002); b's ingress admits a on one TCP port only (the live drivers' own tests). */
export function aMayReachB(n: TestNet, port: number, hostIps: string[] = []): DesiredState {
  return desired({
    endpoints: [
      endpoint('default/a', n.pods.a!.ip, 1001),
      endpoint('default/b', n.pods.b!.ip, 1002, { ingress: enforced({ byIdentity: { 1001: [seg('TCP', port)] } }) }),
    ],
    hostIps,
  });
}

export function liveContractHarness(spec: LiveDriverSpec): ContractHarness {
  let net: TestNet | undefined;
  let proxy: ProxyServer | undefined;

  async function setup(): Promise<ContractEnv> {
    const names: LiveNames = {
      suffix: randomBytes(3).toString('hex'),
      routeTable: rnd(20000, 30000),
      pref: rnd(20000, 30000),
    };
    const proxyPort = rnd(16000, 17000);
    net = await createTestNet([...POD_NAMES]);
    const events: HttpEvent[] = [];
    const policy = { lookup: () => ({ http: [], dns: [], wildcard: true, wildcardBy: [] }) };
    const start = async () => {
      proxy = await startProxy({ port: proxyPort, policy, onHttpEvent: (e) => events.push(e) });
    };
    await start();
    const driver = spec.create(names, net);
    const n = net;
    const pods = Object.fromEntries(POD_NAMES.map((p) => [p, { ip: n.pods[p]!.ip }])) as Record<
      PodName,
      { ip: string }
    >;
    const nameOf = (body: string) => (POD_NAMES as readonly string[]).find((p) => p === body.trim());
    return {
      driver,
      pods,
      hostIp: n.gateway,
      spareIp: (i) => n.addr(i),
      cidrOf: (p) => {
        const c = parseCidr(`${pods[p].ip}/30`);
        return `${formatIpv4(c.lo)}/30`;
      },
      proxyPort,
      async probe(from, to): Promise<Observed> {
        if (to.protocol === 'UDP') {
          const bytes = to.bytes ?? 64;
          const r = await n.udp(from, to.ip, to.port, { bytes });
          if (!r.ok) return { kind: 'dropped', detail: 'no UDP answer' };
          const [servedBy = '', got] = r.body.split(' ');
          if (Number(got) !== bytes) return { kind: 'dropped', detail: `answer for ${got} bytes` };
          return { kind: 'accepted', servedBy: nameOf(servedBy) };
        }
        const fromIp = from === 'host' ? n.gateway : pods[from as PodName].ip;
        const mark = events.length;
        const r = await n.curl(from, `http://${to.ip}:${to.port}/`);
        if (r.exit !== 0 || r.code !== 200) return { kind: 'dropped', detail: `curl exit ${r.exit} http ${r.code}` };
        const servedBy = nameOf(r.body);
        const proxied = events.slice(mark).some((e) => e.src.ip === fromIp);
        return { kind: proxied ? 'proxied' : 'accepted', servedBy };
      },
      async keepAlive(from, to) {
        const c = await n.keepAliveClient(from, to.ip, to.port);
        return {
          async request(): Promise<Observed> {
            const r = await c.request('/', 1500);
            return r.ok ? { kind: 'accepted', servedBy: nameOf(r.body ?? '') } : { kind: 'dropped', detail: r.error };
          },
          close: () => c.close(),
        };
      },
      async setProxyRunning(running) {
        if (!running) {
          await proxy?.close();
          proxy = undefined;
        } else if (!proxy) await start();
      },
      async hostSnapshot() {
        const rules = sh('ip', ['-4', 'rule', 'show'])
          .split('\n')
          .filter((l) => l.includes(`lookup ${names.routeTable}`) || l.startsWith(`${names.pref}:`));
        const routes = sh('ip', ['-4', 'route', 'show', 'table', String(names.routeTable)]);
        return JSON.stringify({ own: spec.hostObjects(names), rules, routes });
      },
    };
  }

  async function cleanup() {
    await proxy?.close();
    proxy = undefined;
    await net?.teardown();
    net = undefined;
  }

  return { name: spec.name, setup, cleanup };
}
