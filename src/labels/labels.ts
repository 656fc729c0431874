/**
 * Source-qualified label sets, as Cilium keeps them: every label is `source:key=value`.
 * Pod labels come in as `k8s:`, reserved identities as `reserved:`, CIDR identities as `cidr:`.
 * A selector key with source `any` matches a label of that key from any source.
 */

export const SOURCE_K8S = 'k8s';
export const SOURCE_ANY = 'any';
export const SOURCE_RESERVED = 'reserved';
export const SOURCE_CIDR = 'cidr';
export const SOURCE_FQDN = 'fqdn';

/** Label keys Cilium derives from Kubernetes metadata. */
export const LABEL_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_NAMESPACE_LABELS_PREFIX = 'io.cilium.k8s.namespace.labels.';
export const LABEL_SERVICE_ACCOUNT = 'io.cilium.k8s.policy.serviceaccount';
export const LABEL_CLUSTER = 'io.cilium.k8s.policy.cluster';
export const LABEL_NS_NAME = 'kubernetes.io/metadata.name';

export interface Label {
  source: string;
  key: string;
  value: string;
}

/**
 * An immutable set of labels. `byKey` indexes key → values from any source, for `any:` selectors.
 * `canonical` is the sorted `source:key=value` list joined by `;` — equal sets have equal strings.
 */
export class LabelSet {
  readonly canonical: string;
  private readonly bySource = new Map<string, Map<string, string>>();
  private readonly byKey = new Map<string, string[]>();

  constructor(readonly labels: readonly Label[]) {
    const sorted = [...labels].sort((a, b) => cmp(a.source, b.source) || cmp(a.key, b.key) || cmp(a.value, b.value));
    this.labels = sorted;
    for (const l of sorted) {
      let m = this.bySource.get(l.source);
      if (!m) {
        m = new Map();
        this.bySource.set(l.source, m);
      }
      m.set(l.key, l.value);
      const vs = this.byKey.get(l.key);
      if (vs) vs.push(l.value);
      else this.byKey.set(l.key, [l.value]);
    }
    this.canonical = sorted.map(formatLabel).join(';');
  }

  static fromRecord(source: string, rec: Record<string, string>): LabelSet {
    return new LabelSet(Object.entries(rec).map(([key, value]) => ({ source, key, value })));
  }

  /** Values of `key` for the given source; for source `any`, the values from every source. */
  values(source: string, key: string): readonly string[] {
    if (source === SOURCE_ANY) return this.byKey.get(key) ?? EMPTY;
    const v = this.bySource.get(source)?.get(key);
    return v === undefined ? EMPTY : [v];
  }

  get(source: string, key: string): string | undefined {
    return this.bySource.get(source)?.get(key);
  }

  has(source: string, key: string): boolean {
    return this.values(source, key).length > 0;
  }

  /** Labels as `source:key=value` strings, like Hubble prints them. */
  strings(): string[] {
    return this.labels.map(formatLabel);
  }
}

const EMPTY: readonly string[] = [];

export function formatLabel(l: Label): string {
  return l.value === '' ? `${l.source}:${l.key}` : `${l.source}:${l.key}=${l.value}`;
}

/** Splits a selector key `k8s:app` into source and key; a key without a known source prefix is `any:`. */
export function parseLabelKey(raw: string, defaultSource = SOURCE_ANY): { source: string; key: string } {
  const i = raw.indexOf(':');
  if (i > 0) {
    const source = raw.slice(0, i);
    // Only treat the prefix as a source when it looks like one: Kubernetes label keys never contain ':'.
    if (/^[a-z0-9-]+$/.test(source)) return { source, key: raw.slice(i + 1) };
  }
  return { source: defaultSource, key: raw };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
