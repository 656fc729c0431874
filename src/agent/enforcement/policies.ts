/**
 * The policies the node enforces, as they arrive from the informers. Each version is validated (the same
 * validator the apiserver's admission runs) and translated once. An invalid version never reaches the engine: the
 * last good version of that object stays in force (Cilium keeps the previously imported rule too) and the problem is
 * logged and reported in the component status. Host policies (nodeSelector) are translated but not enforced; they
 * are reported as such.
 */
import type { AnyPolicy } from '../../api/types.js';
import { objectKey } from '../../kube/informer.js';
import type { TranslatedPolicy } from '../../policy/model.js';
import { translatePolicy } from '../../policy/translate/index.js';
import { hasErrors, validateObject } from '../../validation/index.js';

export interface PolicyProblem {
  /** `Kind/namespace/name`. */
  key: string;
  resourceVersion?: string;
  message: string;
  /** True when an older good version is still enforced. */
  keptPrevious: boolean;
}

interface Entry {
  good?: { object: AnyPolicy; translated: TranslatedPolicy };
  problem?: PolicyProblem;
  warnings: string[];
}

function policyKey(p: AnyPolicy): string {
  return `${p.kind}/${objectKey(p)}`;
}

export class PolicyBook {
  private readonly entries = new Map<string, Entry>();
  /** Bumped on every change that alters what is enforced. */
  revision = 0;

  constructor(private readonly log: (line: string) => void = () => {}) {}

  /** Add or update; returns true when the enforced set changed. */
  upsert(p: AnyPolicy): boolean {
    const key = policyKey(p);
    const entry = this.entries.get(key) ?? { warnings: [] };
    this.entries.set(key, entry);
    const errors = validateObject(p).filter((e) => e.severity !== 'warning');
    let translated: TranslatedPolicy | undefined;
    let message = '';
    if (hasErrors(errors)) {
      message = errors.map((e) => `${e.field ? `${e.field}: ` : ''}${e.detail ?? e.type}`).join('; ');
    } else {
      try {
        translated = translatePolicy(p);
      } catch (e) {
        message = `translation failed: ${(e as Error).message}`;
      }
    }
    if (!translated) {
      entry.problem = {
        key,
        resourceVersion: p.metadata.resourceVersion,
        message,
        keptPrevious: entry.good !== undefined,
      };
      this.log(
        `enforcement: ignoring invalid ${key} (resourceVersion ${p.metadata.resourceVersion ?? '?'}): ${message}; ${entry.good ? 'the previous version stays enforced' : 'nothing of it is enforced'}`,
      );
      return false;
    }
    delete entry.problem;
    entry.good = { object: p, translated };
    const warnings = translated.warnings;
    if (warnings.join('\n') !== entry.warnings.join('\n'))
      for (const w of warnings) this.log(`enforcement: ${key}: ${w}`);
    entry.warnings = warnings;
    this.revision++;
    return true;
  }

  remove(p: AnyPolicy): boolean {
    const key = policyKey(p);
    const had = this.entries.get(key)?.good !== undefined;
    this.entries.delete(key);
    if (had) this.revision++;
    return had;
  }

  /** The enforced versions, sorted by key (deterministic compile input). */
  enforced(): { policies: AnyPolicy[]; translated: TranslatedPolicy[] } {
    const keys = [...this.entries.keys()].sort();
    const policies: AnyPolicy[] = [];
    const translated: TranslatedPolicy[] = [];
    for (const k of keys) {
      const g = this.entries.get(k)!.good;
      if (!g) continue;
      policies.push(g.object);
      translated.push(g.translated);
    }
    return { policies, translated };
  }

  problems(): PolicyProblem[] {
    return [...this.entries.values()].flatMap((e) => (e.problem ? [e.problem] : []));
  }

  /** Objects whose (parts) are parsed but not enforced, e.g. host policies with nodeSelector. */
  notEnforced(): { key: string; reason: string }[] {
    const out: { key: string; reason: string }[] = [];
    for (const [key, e] of this.entries)
      for (const w of e.warnings) if (/not enforced/.test(w)) out.push({ key, reason: w });
    return out;
  }
}
