/**
 * From the runtime to the API: a Pod's RunPodSpec (what the runtime needs from the Pod object) and its
 * `status` (what the kubelet writes from the runtime's status). Pure.
 */
import type { Container, Pod, PodStatus } from '../../api/types.js';
import type { PodRuntimeStatus, RestartPolicy, RunPodSpec } from '../../runtime/types.js';

/** RFC 3339 with whole seconds, as Kubernetes serialises metav1.Time. */
export function toSeconds(t: string | undefined): string | undefined {
  if (!t) return t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? t : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function timesToSeconds<T>(v: T): T {
  if (Array.isArray(v)) return v.map(timesToSeconds) as T;
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out[k] = typeof x === 'string' && /(At|Time)$/.test(k) ? toSeconds(x) : timesToSeconds(x);
  }
  return out as T;
}

/** The Pod status the kubelet writes: phase, IPs, conditions and container statuses from the runtime. */
export function podStatusFromRuntime(s: PodRuntimeStatus, hostIP: string): PodStatus {
  return {
    phase: s.phase,
    conditions: timesToSeconds(s.conditions.map((c) => ({ ...c, lastProbeTime: null }))),
    hostIP,
    hostIPs: [{ ip: hostIP }],
    ...(s.podIP ? { podIP: s.podIP, podIPs: s.podIPs ?? [{ ip: s.podIP }] } : {}),
    startTime: toSeconds(s.startTime),
    containerStatuses: timesToSeconds(s.containerStatuses),
    qosClass: 'BestEffort',
  };
}

/** What the runtime needs to run `pod`, with the kubelet-injected environment. */
export function runPodSpec(pod: Pod, injectedEnv: Record<string, string>, opts: { nodeName: string }): RunPodSpec {
  const spec = pod.spec;
  const dnsConfig = spec.dnsConfig as { nameservers?: string[] } | undefined;
  return {
    uid: pod.metadata.uid ?? '',
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name ?? '',
    containers: spec.containers.map((c: Container) => structuredClone(c)),
    restartPolicy: (spec.restartPolicy ?? 'Always') as RestartPolicy,
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
    injectedEnv,
    labels: pod.metadata.labels ?? {},
    annotations: pod.metadata.annotations ?? {},
    nodeName: opts.nodeName,
    serviceAccountName: spec.serviceAccountName ?? spec.serviceAccount ?? 'default',
    ...(spec.dnsPolicy === 'None' && dnsConfig?.nameservers?.length ? { dnsServers: dnsConfig.nameservers } : {}),
  };
}
