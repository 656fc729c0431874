/**
 * The pod sandbox: a named netns wired by CNI, with its /etc files. Setup order: netns (lo up, unprivileged ports
 * from 0) → CNI ADD → rename the host veth to podwall's prefix → /etc/netns/<name>/{resolv.conf,hosts}.
 * Teardown order (recipe Q7): kill every process in the netns → CNI DEL → `ip netns del` → rm /etc/netns/<name>.
 * Each teardown step runs even when an earlier one failed, and each is idempotent.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type CniClient, type CniResult, parsePodNetwork } from './cni.js';
import { clusterFirstDns, type Netns, netnsPath, renderHosts, renderResolvConf } from './netns.js';

export interface SandboxSpec {
  netns: string;
  cniContainerId: string;
  namespace: string;
  podName: string;
  dnsServers: string[];
  clusterDomain: string;
}

export interface SandboxInfo {
  ip: string;
  hostIfname: string;
}

export type SandboxOutcome = { ok: true; value: SandboxInfo } | { ok: false; message: string };

/** `pw-` + 12 hex chars of the container id: unique, ≤ 15 chars (IFNAMSIZ), clearly podwall's. */
export function hostIfnameFor(cniContainerId: string): string {
  return `pw-${createHash('sha256').update(cniContainerId).digest('hex').slice(0, 12)}`;
}

export class SandboxManager {
  constructor(
    private readonly netns: Netns,
    private readonly cni: CniClient,
  ) {}

  async create(s: SandboxSpec): Promise<SandboxOutcome> {
    try {
      await this.netns.add(s.netns);
    } catch (e) {
      await this.destroy(s, []);
      return { ok: false, message: `creating netns ${s.netns}: ${(e as Error).message}` };
    }
    // lo up + sysctl run while the CNI plugins wire eth0 (they touch different things).
    const [configured, add] = await Promise.all([
      this.netns.configure(s.netns).then(
        () => undefined,
        (e: Error) => e.message,
      ),
      this.cni.add(s.cniContainerId, netnsPath(s.netns)),
    ]);
    if (configured !== undefined) {
      await this.destroy(s, []);
      return { ok: false, message: `configuring netns ${s.netns}: ${configured}` };
    }
    if (!add.ok) {
      await this.destroy(s, []);
      const e = add.error;
      return {
        ok: false,
        message: `CNI ADD (${e.plugin || 'runtime'}) failed: ${e.msg}${e.details ? `: ${e.details}` : ''}`,
      };
    }
    const net = parsePodNetwork(add.value);
    if (!net.ok) {
      await this.destroy(s, []);
      return { ok: false, message: net.error.msg };
    }
    let hostIfname = net.value.hostIfname;
    const want = hostIfnameFor(s.cniContainerId);
    if (hostIfname !== want && (await this.netns.renameLink(hostIfname, want))) {
      const result: CniResult = {
        ...add.value,
        interfaces: add.value.interfaces?.map((i) => (i.name === hostIfname && !i.sandbox ? { ...i, name: want } : i)),
      };
      await this.cni.updateCachedResult(s.cniContainerId, 'eth0', result);
      hostIfname = want;
    }
    try {
      await this.writeEtc(s, net.value.ip);
    } catch (e) {
      await this.destroy(s, []);
      return { ok: false, message: `writing /etc/netns/${s.netns}: ${(e as Error).message}` };
    }
    return { ok: true, value: { ip: net.value.ip, hostIfname } };
  }

  async writeEtc(s: SandboxSpec, ip: string | undefined): Promise<void> {
    await this.netns.writeEtc(s.netns, {
      resolvConf: renderResolvConf(clusterFirstDns(s.dnsServers, s.namespace, s.clusterDomain)),
      hosts: renderHosts(ip, s.podName),
    });
  }

  /** CNI CHECK of a live sandbox (after a restart, before re-adopting it). */
  async check(s: SandboxSpec): Promise<{ ok: true } | { ok: false; message: string }> {
    if (!(await this.netns.exists(s.netns))) return { ok: false, message: `netns ${s.netns} is gone` };
    const r = await this.cni.check(s.cniContainerId, netnsPath(s.netns));
    return r.ok ? { ok: true } : { ok: false, message: `${r.error.plugin}: ${r.error.msg}` };
  }

  /**
   * Kills what is left in the netns, then CNI DEL, netns del, rm /etc/netns. Returns the problems it met
   * (teardown never stops half way).
   */
  async destroy(s: SandboxSpec, knownPids: number[]): Promise<string[]> {
    const problems: string[] = [];
    const exists = await this.netns.exists(s.netns);
    if (exists) {
      const pids = new Set([...knownPids, ...(await this.netns.pids(s.netns))]);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {}
      }
      for (let i = 0; i < 50 && (await this.netns.pids(s.netns)).length > 0; i++) await sleep(20);
    }
    const del = await this.cni.del(s.cniContainerId, netnsPath(s.netns));
    if (!del.ok) problems.push(`CNI DEL (${del.error.plugin}): ${del.error.msg}`);
    try {
      await this.netns.delete(s.netns);
    } catch (e) {
      problems.push((e as Error).message);
    }
    // If DEL could not reach the veth (netns already gone), the host end dies with its peer; make sure.
    const hostIf = hostIfnameFor(s.cniContainerId);
    if (await this.netns.linkExists(hostIf)) await this.netns.deleteLink(hostIf);
    try {
      await this.netns.removeEtc(s.netns);
    } catch (e) {
      problems.push((e as Error).message);
    }
    return problems;
  }
}
