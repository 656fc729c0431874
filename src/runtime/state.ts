/**
 * The runtime's record of what it created, in `$PODWALL_HOME/runtime/state.json`. Written ahead of every host
 * change (the netns and CNI container id are recorded before they exist), atomically (temp file + rename), so a
 * daemon killed at any point can find and re-adopt or remove everything it made.
 */
import { readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunPodSpec } from './types.js';

export interface ContainerRecord {
  restartCount: number;
  pid?: number;
  /** `/proc/<pid>/stat` start time (clock ticks since boot): tells our process from a reused pid. */
  pidStart?: string;
  startedAt?: string;
}

export interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  netns: string;
  /** CNI_CONTAINERID used for ADD/DEL. */
  cniContainerId: string;
  ip?: string;
  hostIfname?: string;
  createdAt: string;
  spec: RunPodSpec;
  containers: Record<string, ContainerRecord>;
}

export interface RuntimeStateData {
  version: 1;
  /** True when this runtime switched net.ipv4.ip_forward on (so shutdown can restore it). */
  ipForwardChanged?: boolean;
  pods: Record<string, PodRecord>;
}

export class StateStore {
  readonly path: string;
  data: RuntimeStateData;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(dir: string) {
    this.path = join(dir, 'state.json');
    this.data = { version: 1, pods: {} };
    try {
      const v = JSON.parse(readFileSync(this.path, 'utf8')) as RuntimeStateData;
      if (v.version === 1 && typeof v.pods === 'object') this.data = v;
    } catch {}
  }

  /** Persists the current data; concurrent calls coalesce into at most one extra write. */
  save(): Promise<void> {
    if (this.dirty) return this.writing;
    this.dirty = true;
    this.writing = this.writing
      .catch(() => {})
      .then(async () => {
        this.dirty = false;
        await mkdir(join(this.path, '..'), { recursive: true });
        const tmp = `${this.path}.tmp`;
        await writeFile(tmp, JSON.stringify(this.data, null, 1));
        await rename(tmp, this.path);
      });
    return this.writing;
  }
}
