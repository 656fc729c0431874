/**
 * BPF_PROG_TEST_RUN for tc programs (tests only): runs a program once on a crafted Ethernet frame, in the calling
 * process's network namespace, and returns its verdict, the frame as the program left it, the skb mark and the
 * kernel's average time per run (`repeat` > 1 for micro-benchmarks).
 */
import { check } from './errors.js';
import { libbpf, NativeBuffer } from './native.js';

/** struct bpf_test_run_opts (libbpf 1.1). */
const OPTS_SIZE = 80;
const OFF_DATA_IN = 8;
const OFF_DATA_OUT = 16;
const OFF_DATA_SIZE_IN = 24;
const OFF_DATA_SIZE_OUT = 28;
const OFF_CTX_IN = 32;
const OFF_CTX_OUT = 40;
const OFF_CTX_SIZE_IN = 48;
const OFF_CTX_SIZE_OUT = 52;
const OFF_RETVAL = 56;
const OFF_REPEAT = 60;
const OFF_DURATION = 64;

/** struct __sk_buff: the fields a test run may preset. */
const SKB_SIZE = 192;
const SKB_MARK = 8;
const SKB_IFINDEX = 40;

/** Room for what a program may add to the frame. */
const HEADROOM = 256;

export function testRun(
  progFd: number,
  packet: Buffer,
  opts?: { ifindex?: number; mark?: number; repeat?: number },
): { retval: number; data: Buffer; mark: number; durationNs: number } {
  const dataIn = NativeBuffer.from(packet);
  const dataOut = new NativeBuffer(packet.length + HEADROOM);
  const ctxIn = new NativeBuffer(SKB_SIZE);
  const ctxOut = new NativeBuffer(SKB_SIZE);
  try {
    ctxIn.bytes.writeUInt32LE((opts?.mark ?? 0) >>> 0, SKB_MARK);
    // 0 runs on loopback; any other ifindex must exist in the caller's network namespace.
    ctxIn.bytes.writeUInt32LE(opts?.ifindex ?? 0, SKB_IFINDEX);

    const o = Buffer.alloc(OPTS_SIZE);
    o.writeBigUInt64LE(BigInt(OPTS_SIZE), 0);
    o.writeBigUInt64LE(dataIn.ptr, OFF_DATA_IN);
    o.writeBigUInt64LE(dataOut.ptr, OFF_DATA_OUT);
    o.writeUInt32LE(dataIn.size, OFF_DATA_SIZE_IN);
    o.writeUInt32LE(dataOut.size, OFF_DATA_SIZE_OUT);
    o.writeBigUInt64LE(ctxIn.ptr, OFF_CTX_IN);
    o.writeBigUInt64LE(ctxOut.ptr, OFF_CTX_OUT);
    o.writeUInt32LE(SKB_SIZE, OFF_CTX_SIZE_IN);
    o.writeUInt32LE(SKB_SIZE, OFF_CTX_SIZE_OUT);
    o.writeInt32LE(opts?.repeat ?? 1, OFF_REPEAT);

    check(`bpf_prog_test_run_opts(prog fd ${progFd})`, libbpf().bpf_prog_test_run_opts(progFd, o));
    const outLen = Math.min(o.readUInt32LE(OFF_DATA_SIZE_OUT), dataOut.size);
    return {
      retval: o.readUInt32LE(OFF_RETVAL),
      data: Buffer.from(dataOut.bytes.subarray(0, outLen)),
      mark: ctxOut.bytes.readUInt32LE(SKB_MARK),
      // The kernel's average per run (ns), for micro-benchmarks of a program path with `repeat`.
      durationNs: o.readUInt32LE(OFF_DURATION),
    };
  } finally {
    for (const b of [dataIn, dataOut, ctxIn, ctxOut]) b.free();
  }
}
