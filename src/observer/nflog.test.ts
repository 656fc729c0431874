/**
 * Live NFLOG: a private nft table (`pw-test-<random>`) logs TCP SYNs to one loopback port into a random group; the
 * in-process reader receives them with the prefix, mark and packet. Needs root; removes its table.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { type NflogPacket, openNflog } from './nflog.js';
import { parseIpv4Packet } from './packet.js';

const live = process.getuid?.() === 0;
const table = `pw-test-${randomBytes(3).toString('hex')}`;

function nft(script: string): void {
  execFileSync('nft', ['-f', '-'], { input: script });
}

afterAll(() => {
  try {
    nft(`add table inet ${table}\ndelete table inet ${table}\n`);
  } catch {
    // not created
  }
});

describe.skipIf(!live)('NFLOG reader (live)', () => {
  it('receives logged packets in-process with prefix, mark and payload, and a second bind of the group fails', async () => {
    const group = 20000 + Math.floor(Math.random() * 20000);
    const port = 30000 + Math.floor(Math.random() * 20000);
    const got: NflogPacket[] = [];
    const reader = await openNflog({ group, onPacket: (p) => got.push(p) });
    try {
      await expect(openNflog({ group, onPacket: () => {} })).rejects.toThrow(/another process listens|refused/);
      nft(
        `add table inet ${table}\nadd chain inet ${table} out { type filter hook output priority 0 ; }\n` +
          `add rule inet ${table} out ip daddr 127.0.0.1 tcp dport ${port} tcp flags syn meta mark set 16530 log prefix "pw:in:denied:def " group ${group}\n`,
      );
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => {
          const s = net.connect(port, '127.0.0.1');
          s.on('error', () => resolve());
          s.on('connect', () => {
            s.destroy();
            resolve();
          });
        });
      }
      const deadline = Date.now() + 3000;
      while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(got.length).toBe(3);
      expect(got[0]).toMatchObject({ group, prefix: 'pw:in:denied:def ', mark: 16530 });
      expect(parseIpv4Packet(got[0]!.payload)).toMatchObject({
        src: '127.0.0.1',
        dst: '127.0.0.1',
        protocol: 'TCP',
        dport: port,
        tcpFlags: { SYN: true },
      });
      expect(reader.received).toBe(3);
    } finally {
      await reader.close();
    }
    // The group is free again.
    const again = await openNflog({ group, onPacket: () => {} });
    await again.close();
  });
});
