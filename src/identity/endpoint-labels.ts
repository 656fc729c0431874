/**
 * The identity-relevant labels of a pod, as Cilium derives them (pkg/labelsfilter defaults):
 * pod labels as `k8s:`, minus Kubernetes bookkeeping labels, plus the namespace, the namespace's labels,
 * the service account and the cluster name.
 */
import {
  LABEL_CLUSTER,
  LABEL_NAMESPACE,
  LABEL_NAMESPACE_LABELS_PREFIX,
  LABEL_SERVICE_ACCOUNT,
  type Label,
  LabelSet,
  SOURCE_K8S,
} from '../labels/labels.js';

export const CLUSTER_NAME = 'default';

const EXCLUDED_EXACT = new Set([
  'statefulset.kubernetes.io/pod-name',
  'apps.kubernetes.io/pod-index',
  'batch.kubernetes.io/job-completion-index',
  'batch.kubernetes.io/controller-uid',
  'pod-template-generation',
  'pod-template-hash',
  'controller-revision-hash',
  'controller-uid',
  'etcd_node',
]);

/** True when Cilium's default label filter keeps this pod label for the identity. */
export function isIdentityRelevant(key: string): boolean {
  if (key.startsWith('app.kubernetes.io')) return true;
  if (EXCLUDED_EXACT.has(key)) return false;
  if (key.startsWith('io.kubernetes') || key.startsWith('kubernetes.io') || key.startsWith('k8s.io')) return false;
  if (key.includes('beta.kubernetes.io')) return false;
  if (key.startsWith('annotation.')) return false;
  return true;
}

export interface PodLabelInput {
  namespace: string;
  labels: Record<string, string>;
  namespaceLabels: Record<string, string>;
  serviceAccount?: string;
}

export function podIdentityLabels(pod: PodLabelInput): LabelSet {
  const out: Label[] = [];
  for (const [key, value] of Object.entries(pod.labels)) {
    if (isIdentityRelevant(key)) out.push({ source: SOURCE_K8S, key, value });
  }
  out.push({ source: SOURCE_K8S, key: LABEL_NAMESPACE, value: pod.namespace });
  const nsLabels = { 'kubernetes.io/metadata.name': pod.namespace, ...pod.namespaceLabels };
  for (const [key, value] of Object.entries(nsLabels)) {
    out.push({ source: SOURCE_K8S, key: LABEL_NAMESPACE_LABELS_PREFIX + key, value });
  }
  out.push({ source: SOURCE_K8S, key: LABEL_SERVICE_ACCOUNT, value: pod.serviceAccount ?? 'default' });
  out.push({ source: SOURCE_K8S, key: LABEL_CLUSTER, value: CLUSTER_NAME });
  return new LabelSet(out);
}
