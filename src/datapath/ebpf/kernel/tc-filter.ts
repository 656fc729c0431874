/**
 * The pods' programs as classic tc filters (clsact qdisc + cls_bpf in direct-action mode), through libbpf's
 * bpf_tc_* netlink helpers. Chosen over tcx links for the per-pod hooks because a tcx link change waits for an RCU
 * grace period in the kernel: 8–16 ms per link here, ~25 ms for a new pod's two programs, against ~1 ms for the
 * qdisc and both filters (measured; docs/benchmarks.md). Like links, filters outlive the agent (fail closed); a
 * restarted agent replaces them in place (BPF_TC_F_REPLACE on podwall's fixed handle and priority: no moment
 * without a program). They go away with the interface, i.e. with the pod; `removeTcFilters` is for endpoints that
 * stop being local while their interface stays.
 *
 * Only ever used on interfaces podwall created (pod host veths): the clsact qdisc is podwall's to create and remove.
 */
import { BpfError, check } from './errors.js';
import { libbpf } from './native.js';

const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const BPF_TC_F_REPLACE = 1;
/** podwall's filter on its own pod interfaces: one handle, one priority, per direction. */
const HANDLE = 1;
const PRIORITY = 1;

const ENOENT = 2;
const ENODEV = 19;
const EEXIST = 17;
const EINVAL = 22;

/** struct bpf_tc_hook (libbpf 1.1): size_t sz; int ifindex; enum attach_point; __u32 parent; (24 bytes). */
function hook(ifindex: number, point: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(24n, 0);
  b.writeInt32LE(ifindex, 8);
  b.writeInt32LE(point, 12);
  return b;
}

/** struct bpf_tc_opts (libbpf 1.1): size_t sz; int prog_fd; __u32 flags, prog_id, handle, priority; (32 bytes). */
function opts(progFd: number, flags: number): Buffer {
  const b = Buffer.alloc(32);
  b.writeBigUInt64LE(32n, 0);
  b.writeInt32LE(progFd, 8);
  b.writeUInt32LE(flags, 12);
  b.writeUInt32LE(HANDLE, 20);
  b.writeUInt32LE(PRIORITY, 24);
  return b;
}

const point = (dir: 'ingress' | 'egress') => (dir === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS);

/**
 * Runs a call whose failure is an expected answer (the qdisc exists, the filter is already gone) with libbpf's
 * logging off: libbpf prints the kernel's netlink message for every error, which would fill the agent's log with
 * "Exclusivity flag on, cannot modify" on each pod. Real errors are still thrown with their errno.
 */
function quietly(call: () => number): number {
  const previous = libbpf().libbpf_set_print(null);
  try {
    return call();
  } finally {
    libbpf().libbpf_set_print(previous);
  }
}

/** Attach (or replace in place) the program of one direction of an interface; creates its clsact qdisc if needed. */
export function attachTcFilter(ifindex: number, dir: 'ingress' | 'egress', progFd: number): void {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new Error(`attachTcFilter: invalid ifindex ${ifindex}`);
  const rc = quietly(() => libbpf().bpf_tc_hook_create(hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS)));
  if (rc < 0 && rc !== -EEXIST) throw new BpfError(`bpf_tc_hook_create(clsact, ifindex ${ifindex})`, -rc);
  check(
    `bpf_tc_attach(${dir}, ifindex ${ifindex})`,
    libbpf().bpf_tc_attach(hook(ifindex, point(dir)), opts(progFd, BPF_TC_F_REPLACE)),
  );
}

/** Remove both filters and the clsact qdisc of an interface. Idempotent; fine when the interface is gone. */
export function removeTcFilters(ifindex: number): void {
  for (const dir of ['ingress', 'egress'] as const) {
    const rc = quietly(() => libbpf().bpf_tc_detach(hook(ifindex, point(dir)), opts(0, 0)));
    if (rc < 0 && rc !== -ENOENT && rc !== -ENODEV && rc !== -EINVAL)
      throw new BpfError(`bpf_tc_detach(${dir}, ifindex ${ifindex})`, -rc);
  }
  const rc = quietly(() => libbpf().bpf_tc_hook_destroy(hook(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS)));
  if (rc < 0 && rc !== -ENOENT && rc !== -ENODEV && rc !== -EINVAL)
    throw new BpfError(`bpf_tc_hook_destroy(clsact, ifindex ${ifindex})`, -rc);
}
