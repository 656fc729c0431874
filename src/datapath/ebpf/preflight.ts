/**
 * Can this machine run the eBPF datapath? Checked before an agent chooses it, so a machine without it falls back to
 * the nftables datapath with the reason in the log instead of failing to enforce anything.
 */
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import { cgroupV2Root } from './kernel/attach.js';
import { bpfObjectPath } from './kernel/loader.js';

/**
 * tcx links (how the pods' programs are attached by default) arrived in Linux 6.6; the programs themselves need
 * 5.18 (bpf_set_retval in the socket hooks). Tested on 6.18.
 */
const MIN_KERNEL: [number, number] = [6, 6];

/** Whether a kernel release string (`uname -r`) is older than the datapath needs. */
export function kernelTooOld(rel: string): boolean {
  const [major = 0, minor = 0] = rel.split(/[.-]/).map((x) => Number.parseInt(x, 10) || 0);
  return major < MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor < MIN_KERNEL[1]);
}

/** Why the eBPF datapath cannot run here, or undefined when it can. */
export function ebpfUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (kernelTooOld(release())) return `kernel ${release()} is older than ${MIN_KERNEL.join('.')} (tcx links)`;
  if (!existsSync(bpfObjectPath())) return `${bpfObjectPath()} is missing (npm run build compiles it with clang)`;
  if (!cgroupV2Root()) return 'no cgroup v2 hierarchy is mounted (socket load-balancing attaches there)';
  return undefined;
}
