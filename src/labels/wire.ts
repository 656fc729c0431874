/** The Kubernetes LabelSelector wire shape, repeated here so that labels/ depends on util only. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
