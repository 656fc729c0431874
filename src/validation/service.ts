/**
 * core/v1 Service: the parts of the apiserver's `ValidateService` kubectl users hit (name is a
 * DNS-1035 label, ports, protocols, targetPort, selector labels, type), plus its defaulting.
 */

import { type FieldError, FieldPath, forbidden, invalid, notSupported, required } from '../util/field.js';
import { isDNS1123Label, isValidPortNum, nameIsDNS1035Label, typeError, validateLabels } from './labels.js';
import { validateObjectMeta } from './metadata.js';
import { parseAddr } from './net.js';
import { PORT_PROTOCOLS, validatePortNumOrName } from './pod.js';
import { cloneJson, has, isObject, readArray, readInt, readObject, readString } from './walk.js';

export const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];

export interface ServiceValidationOptions {
  defaultNamespace?: string;
}

function validateServiceSpec(v: unknown, path: FieldPath): FieldError[] {
  const errs: FieldError[] = [];
  const spec = readObject(v, path, errs) ?? {};
  const type = readString(spec.type, path.child('type'), errs) ?? 'ClusterIP';
  if (!SERVICE_TYPES.includes(type)) errs.push(notSupported(path.child('type'), type, SERVICE_TYPES));
  const clusterIP = readString(spec.clusterIP, path.child('clusterIP'), errs);
  const headless = clusterIP === 'None';
  if (clusterIP && !headless && !parseAddr(clusterIP, true).ok) {
    errs.push(
      invalid(path.child('clusterIP'), clusterIP, 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'),
    );
  }

  const ports = readArray(spec.ports, path.child('ports'), errs) ?? [];
  if (
    ports.length === 0 &&
    !headless &&
    type !== 'ExternalName' &&
    !(has(spec, 'ports') && !Array.isArray(spec.ports))
  ) {
    errs.push(required(path.child('ports')));
  }
  const names = new Set<string>();
  const seen = new Set<string>();
  ports.forEach((p, i) => {
    const pp = path.child('ports').index(i);
    const port = readObject(p, pp, errs);
    if (!port) {
      if (p === null || p === undefined) errs.push(typeError(pp, p, 'object'));
      return;
    }
    const name = readString(port.name, pp.child('name'), errs);
    if (!name) {
      if (ports.length > 1 && (!has(port, 'name') || name === '')) errs.push(required(pp.child('name')));
    } else {
      for (const m of isDNS1123Label(name)) errs.push(invalid(pp.child('name'), name, m));
      if (names.has(name)) errs.push({ type: 'Duplicate', field: String(pp.child('name')), value: name });
      names.add(name);
    }
    const num = readInt(port.port, pp.child('port'), errs);
    if (num !== undefined || !has(port, 'port')) {
      for (const m of isValidPortNum(num ?? 0)) errs.push(invalid(pp.child('port'), num ?? 0, m));
    }
    const proto = readString(port.protocol, pp.child('protocol'), errs) ?? 'TCP';
    if (!PORT_PROTOCOLS.includes(proto)) errs.push(notSupported(pp.child('protocol'), proto, PORT_PROTOCOLS));
    if (has(port, 'targetPort') && port.targetPort !== 0) {
      errs.push(...validatePortNumOrName(port.targetPort, pp.child('targetPort')));
    }
    const nodePort = readInt(port.nodePort, pp.child('nodePort'), errs);
    if (nodePort) {
      if (type !== 'NodePort' && type !== 'LoadBalancer') {
        errs.push(forbidden(pp.child('nodePort'), `may not be used when \`type\` is '${type}'`));
      } else {
        for (const m of isValidPortNum(nodePort)) errs.push(invalid(pp.child('nodePort'), nodePort, m));
      }
    }
    if (num !== undefined) {
      const key = `${num}/${proto}`;
      if (seen.has(key)) errs.push({ type: 'Duplicate', field: String(pp), value: { port: num, protocol: proto } });
      seen.add(key);
    }
  });
  errs.push(...validateLabels(spec.selector, path.child('selector')));
  if (type === 'ExternalName') {
    const en = readString(spec.externalName, path.child('externalName'), errs);
    if (!en) errs.push(required(path.child('externalName')));
  }
  return errs;
}

/** `ValidateService` (subset). */
export function validateService(svc: unknown, opts: ServiceValidationOptions = {}): FieldError[] {
  const obj = isObject(svc) ? svc : {};
  return [
    ...validateObjectMeta(obj.metadata, {
      namespaced: true,
      nameFn: nameIsDNS1035Label,
      defaultNamespace: opts.defaultNamespace,
      kind: 'Service',
    }),
    ...validateServiceSpec(obj.spec, FieldPath.root('spec')),
  ];
}

/**
 * The apiserver's Service defaulting, on a copy: `type: ClusterIP` when absent, each port's
 * `protocol: TCP` and `targetPort` = `port` when absent. Non-Service-shaped input is copied unchanged.
 */
export function defaultService<T>(svc: T): T {
  const out = cloneJson(svc);
  if (!isObject(out) || !isObject(out.spec)) return out;
  const spec = out.spec;
  if (spec.type === undefined || spec.type === null) spec.type = 'ClusterIP';
  if (Array.isArray(spec.ports)) {
    for (const p of spec.ports) {
      if (!isObject(p)) continue;
      if (p.protocol === undefined || p.protocol === null) p.protocol = 'TCP';
      if ((p.targetPort === undefined || p.targetPort === null || p.targetPort === 0) && p.port !== undefined) {
        p.targetPort = p.port;
      }
    }
  }
  return out;
}
