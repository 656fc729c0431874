/**
 * Builds a message head as one Buffer from a prefix string, byte ranges of a received head (field lines copied
 * verbatim) and a suffix string, optionally followed by body bytes — one allocation, one write for the common
 * small message. Strings are written as latin1: heads are bytes, and latin1 maps each char back to its byte.
 */
export class HeadBuilder {
  private readonly ranges: number[] = [];

  constructor(private readonly src: Buffer) {}

  /** Copy src[s, e); merged with the previous range when adjacent. */
  copy(s: number, e: number): void {
    const r = this.ranges;
    if (r.length > 0 && r[r.length - 1] === s) r[r.length - 1] = e;
    else r.push(s, e);
  }

  build(prefix: string, suffix: string, tail?: Buffer): Buffer {
    const r = this.ranges;
    let total = prefix.length + suffix.length + (tail?.length ?? 0);
    for (let i = 0; i < r.length; i += 2) total += r[i + 1]! - r[i]!;
    const out = Buffer.allocUnsafe(total);
    let w = prefix.length > 0 ? out.write(prefix, 0, 'latin1') : 0;
    for (let i = 0; i < r.length; i += 2) w += this.src.copy(out, w, r[i]!, r[i + 1]!);
    w += out.write(suffix, w, 'latin1');
    if (tail !== undefined) tail.copy(out, w);
    return out;
  }
}
