/**
 * core/v1 Pod: the subset of the apiserver's `ValidatePodCreate` that matters to kubectl users of
 * podwall (containers, names, images, ports, probes, restart policy), with apimachinery's texts.
 */

import { type FieldError, FieldPath, invalid, notSupported, required } from '../util/field.js';
import {
  isDNS1123Label,
  isDNS1123Subdomain,
  isValidPortName,
  isValidPortNum,
  nameIsDNSSubdomain,
  typeError,
} from './labels.js';
import { validateObjectMeta } from './metadata.js';
import { has, isObject, readArray, readBool, readInt, readObject, readString, readStringArray } from './walk.js';

export const PORT_PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
export const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];

export interface PodSpecOptions {
  /** Inside a workload template (Deployment/ReplicaSet): restartPolicy must be Always. */
  template?: boolean;
}

/** An IntOrString port as probes and Service targetPort take it: 1-65535 or an IANA_SVC_NAME. */
export function validatePortNumOrName(v: unknown, path: FieldPath): FieldError[] {
  if (typeof v === 'number' && Number.isInteger(v)) return isValidPortNum(v).map((m) => invalid(path, v, m));
  if (typeof v === 'string') return isValidPortName(v).map((m) => invalid(path, v, m));
  return [typeError(path, v, 'integer or string')];
}

function validateProbe(v: unknown, path: FieldPath, errs: FieldError[]): void {
  const probe = readObject(v, path, errs);
  if (!probe) return;
  const handlers = ['exec', 'httpGet', 'tcpSocket', 'grpc'].filter((k) => has(probe, k));
  if (handlers.length === 0) errs.push(required(path, 'must specify a handler type'));
  else if (handlers.length > 1) {
    errs.push({
      type: 'Forbidden',
      field: String(path.child(handlers[1])),
      detail: 'may not specify more than 1 handler type',
    });
  }
  for (const k of ['httpGet', 'tcpSocket']) {
    const h = readObject(probe[k], path.child(k), errs);
    if (!h) continue;
    if (!has(h, 'port')) errs.push(required(path.child(k, 'port')));
    else errs.push(...validatePortNumOrName(h.port, path.child(k, 'port')));
  }
  for (const k of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    const n = readInt(probe[k], path.child(k), errs);
    if (n !== undefined && n < 0) errs.push(invalid(path.child(k), n, 'must be greater than or equal to 0'));
  }
}

function validateContainerPorts(v: unknown, path: FieldPath, names: Set<string>, errs: FieldError[]): void {
  readArray(v, path, errs)?.forEach((p, i) => {
    const pp = path.index(i);
    const port = readObject(p, pp, errs);
    if (!port) return;
    const name = readString(port.name, pp.child('name'), errs);
    if (name) {
      const msgs = isValidPortName(name);
      if (msgs.length > 0) for (const m of msgs) errs.push(invalid(pp.child('name'), name, m));
      else if (names.has(name)) errs.push({ type: 'Duplicate', field: String(pp.child('name')), value: name });
      else names.add(name);
    }
    const cp = readInt(port.containerPort, pp.child('containerPort'), errs);
    if (!cp) {
      if (!has(port, 'containerPort') || cp === 0) errs.push(required(pp.child('containerPort')));
    } else {
      for (const m of isValidPortNum(cp)) errs.push(invalid(pp.child('containerPort'), cp, m));
    }
    const hp = readInt(port.hostPort, pp.child('hostPort'), errs);
    if (hp) for (const m of isValidPortNum(hp)) errs.push(invalid(pp.child('hostPort'), hp, m));
    const proto = readString(port.protocol, pp.child('protocol'), errs);
    if (proto !== undefined && !PORT_PROTOCOLS.includes(proto)) {
      errs.push(notSupported(pp.child('protocol'), proto, PORT_PROTOCOLS));
    }
  });
}

function validateContainers(
  v: unknown,
  path: FieldPath,
  allNames: Set<string>,
  errs: FieldError[],
  requireOne: boolean,
): void {
  const list = readArray(v, path, errs);
  if (requireOne && (!list || list.length === 0)) {
    if (list || v === undefined || v === null) errs.push(required(path));
    return;
  }
  const portNames = new Set<string>();
  list?.forEach((c, i) => {
    const cp = path.index(i);
    const ctr = readObject(c, cp, errs);
    if (!ctr) {
      if (c === null || c === undefined) errs.push(typeError(cp, c, 'object'));
      return;
    }
    const name = readString(ctr.name, cp.child('name'), errs);
    if (!name) {
      if (!has(ctr, 'name') || name === '') errs.push(required(cp.child('name')));
    } else {
      for (const m of isDNS1123Label(name)) errs.push(invalid(cp.child('name'), name, m));
      if (allNames.has(name)) errs.push({ type: 'Duplicate', field: String(cp.child('name')), value: name });
      allNames.add(name);
    }
    const image = readString(ctr.image, cp.child('image'), errs);
    if (!image && (!has(ctr, 'image') || image === '')) errs.push(required(cp.child('image')));
    else if (image && image.trim() !== image) {
      errs.push(invalid(cp.child('image'), image, 'must not have leading or trailing whitespace'));
    }
    readStringArray(ctr.command, cp.child('command'), errs);
    readStringArray(ctr.args, cp.child('args'), errs);
    readString(ctr.workingDir, cp.child('workingDir'), errs);
    validateContainerPorts(ctr.ports, cp.child('ports'), portNames, errs);
    readArray(ctr.env, cp.child('env'), errs)?.forEach((e, j) => {
      const ep = cp.child('env').index(j);
      const env = readObject(e, ep, errs);
      if (!env) return;
      if (!readString(env.name, ep.child('name'), errs)) errs.push(required(ep.child('name')));
      readString(env.value, ep.child('value'), errs);
    });
    for (const k of ['livenessProbe', 'readinessProbe', 'startupProbe']) validateProbe(ctr[k], cp.child(k), errs);
  });
}

/** PodSpec at `path` (`spec` for a Pod, `spec.template.spec` for workloads). */
export function validatePodSpec(v: unknown, path: FieldPath, opts: PodSpecOptions = {}): FieldError[] {
  const errs: FieldError[] = [];
  const spec = readObject(v, path, errs);
  if (!spec) {
    if (v === undefined || v === null) errs.push(required(path.child('containers')));
    return errs;
  }
  const names = new Set<string>();
  validateContainers(spec.containers, path.child('containers'), names, errs, true);
  validateContainers(spec.initContainers, path.child('initContainers'), names, errs, false);
  const rp = readString(spec.restartPolicy, path.child('restartPolicy'), errs);
  if (rp !== undefined) {
    if (opts.template && rp !== 'Always') errs.push(notSupported(path.child('restartPolicy'), rp, ['Always']));
    else if (!RESTART_POLICIES.includes(rp)) errs.push(notSupported(path.child('restartPolicy'), rp, RESTART_POLICIES));
  }
  for (const k of ['serviceAccountName', 'serviceAccount']) {
    const sa = readString(spec[k], path.child(k), errs);
    if (sa) for (const m of isDNS1123Subdomain(sa)) errs.push(invalid(path.child(k), sa, m));
  }
  readString(spec.nodeName, path.child('nodeName'), errs);
  readBool(spec.hostNetwork, path.child('hostNetwork'), errs);
  const grace = readInt(spec.terminationGracePeriodSeconds, path.child('terminationGracePeriodSeconds'), errs);
  if (grace !== undefined && grace < 0) {
    errs.push(invalid(path.child('terminationGracePeriodSeconds'), grace, 'must be greater than or equal to 0'));
  }
  return errs;
}

export interface PodValidationOptions {
  defaultNamespace?: string;
}

/** `ValidatePodCreate` (subset): metadata with a DNS-1123 subdomain name, then the spec. */
export function validatePod(pod: unknown, opts: PodValidationOptions = {}): FieldError[] {
  const obj = isObject(pod) ? pod : {};
  return [
    ...validateObjectMeta(obj.metadata, {
      namespaced: true,
      nameFn: nameIsDNSSubdomain,
      defaultNamespace: opts.defaultNamespace,
      kind: 'Pod',
    }),
    ...validatePodSpec(obj.spec, FieldPath.root('spec')),
  ];
}
