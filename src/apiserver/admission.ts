/**
 * Admission: defaulting (what kube-apiserver's defaulters and the default admission plugins fill in) and then
 * validation, returning field errors (422 Invalid) and warnings (`Warning:` headers). Policy validation is the
 * project's validator (src/validation), so an invalid NetworkPolicy gets the apiserver's field errors and an
 * invalid Cilium policy gets Cilium's text instead of being accepted and silently ignored.
 */

import { lookupKind } from '../api/kinds.js';
import type { KubeObject } from '../api/types.js';
import { type FieldError, FieldPath, invalid, required } from '../util/field.js';
import { defaultNetworkPolicy, defaultService, validateObject } from '../validation/index.js';

// biome-ignore lint/suspicious/noExplicitAny: admission edits loosely-typed wire objects
type Any = any;

export interface AdmissionResult {
  /** The defaulted object. */
  object: KubeObject;
  errors: FieldError[];
  warnings: FieldError[];
}

function defaultContainer(c: Any): void {
  if (!c || typeof c !== 'object') return;
  const image = String(c.image ?? '');
  const tag = image.includes('@') ? 'digest' : (/:([^/:]+)$/.exec(image)?.[1] ?? 'latest');
  c.imagePullPolicy ??= tag === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
  for (const p of c.ports ?? []) p.protocol ??= 'TCP';
}

function defaultPodSpec(spec: Any): void {
  if (!spec || typeof spec !== 'object') return;
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.securityContext ??= {};
  spec.schedulerName ??= 'default-scheduler';
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
}

/** Fills in defaults in place on a copy of the object and returns it. */
export function applyDefaults(input: KubeObject): KubeObject {
  let obj: Any = structuredClone(input);
  switch (obj.kind) {
    case 'Namespace':
      obj.metadata.labels = { ...(obj.metadata.labels ?? {}), 'kubernetes.io/metadata.name': obj.metadata.name };
      obj.spec ??= {};
      obj.spec.finalizers ??= ['kubernetes'];
      obj.status ??= {};
      obj.status.phase ??= 'Active';
      break;
    case 'Pod':
      defaultPodSpec(obj.spec);
      if (obj.spec && typeof obj.spec === 'object') {
        obj.spec.enableServiceLinks ??= true;
        obj.spec.preemptionPolicy ??= 'PreemptLowerPriority';
        obj.spec.priority ??= 0;
        obj.spec.tolerations ??= [
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
          { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        ];
      }
      obj.status ??= {};
      obj.status.phase ??= 'Pending';
      obj.status.qosClass ??= 'BestEffort';
      break;
    case 'Deployment':
      obj.spec ??= {};
      obj.spec.replicas ??= 1;
      obj.spec.revisionHistoryLimit ??= 10;
      obj.spec.progressDeadlineSeconds ??= 600;
      obj.spec.strategy ??= { type: 'RollingUpdate' };
      if (obj.spec.strategy.type === 'RollingUpdate' || obj.spec.strategy.type === undefined) {
        obj.spec.strategy.type = 'RollingUpdate';
        obj.spec.strategy.rollingUpdate ??= {};
        obj.spec.strategy.rollingUpdate.maxUnavailable ??= '25%';
        obj.spec.strategy.rollingUpdate.maxSurge ??= '25%';
      }
      defaultPodSpec(obj.spec.template?.spec);
      break;
    case 'ReplicaSet':
      obj.spec ??= {};
      obj.spec.replicas ??= 1;
      defaultPodSpec(obj.spec.template?.spec);
      break;
    case 'Service':
      obj = defaultService(obj);
      obj.spec.sessionAffinity ??= 'None';
      if (obj.spec.type !== 'ExternalName') {
        obj.spec.ipFamilies ??= ['IPv4'];
        obj.spec.ipFamilyPolicy ??= 'SingleStack';
        obj.spec.internalTrafficPolicy ??= 'Cluster';
      }
      obj.status ??= { loadBalancer: {} };
      break;
    case 'NetworkPolicy':
      obj = defaultNetworkPolicy(obj);
      break;
  }
  return obj;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Name rules per kind, as kube-apiserver's ValidateObjectMeta name functions. */
function validateName(kind: string, name: string | undefined): FieldError[] {
  const path = FieldPath.root('metadata', 'name');
  if (!name) return [required(path, 'name or generateName is required')];
  if (kind === 'Namespace') {
    if (!DNS_LABEL.test(name) || name.length > 63)
      return [
        invalid(
          path,
          name,
          "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        ),
      ];
    return [];
  }
  if (kind === 'Service') {
    if (!DNS_1035.test(name) || name.length > 63)
      return [
        invalid(
          path,
          name,
          "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
        ),
      ];
    return [];
  }
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253)
    return [
      invalid(
        path,
        name,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
      ),
    ];
  return [];
}

/** Defaults and validates an object being created or updated. */
export function admit(input: KubeObject): AdmissionResult {
  const object = applyDefaults(input);
  const seen = new Set<string>();
  // Kinds the project's validator knows get its full validation (apiserver or Cilium wording); others
  // (Node) get the apiserver's name rules only.
  const found = lookupKind(object.apiVersion, object.kind)
    ? validateObject(object, { defaultNamespace: object.metadata.namespace })
    : validateName(object.kind, object.metadata.name);
  const all = found.filter((e) => {
    const k = `${e.field}|${e.type}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  return {
    object,
    errors: all.filter((e) => e.severity !== 'warning'),
    warnings: all.filter((e) => e.severity === 'warning'),
  };
}
