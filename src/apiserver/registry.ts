/**
 * REST semantics over the store, independent of HTTP: create/get/list/update/patch/delete with the object
 * machinery of kube-apiserver (uid, resourceVersion with optimistic concurrency, generation, timestamps,
 * generateName, status subresource rules, finalizers and deletionTimestamp, deletion propagation), admission,
 * strict field validation and Service ClusterIP allocation. Every committed change is published to the watch hub.
 */
import { randomInt, randomUUID } from 'node:crypto';
import type { KubeObject, OwnerReference } from '../api/types.js';
import { type FieldError, invalid as fieldInvalid } from '../util/field.js';
import { admit } from './admission.js';
import {
  ApiError,
  alreadyExists,
  badRequest,
  CONFLICT_MODIFIED,
  conflict,
  forbidden,
  gone,
  invalid,
  notFound,
  unsupportedMediaType,
} from './errors.js';
import { type Json, jsonMergePatch, jsonPatch, PATCH_META, PatchError, strategicMergePatch } from './patch.js';
import { apiVersionOf, findByKind, qualifiedKind, RESOURCES, type ResourceInfo, resourceKey } from './resources.js';
import { KIND_SCHEMAS, unknownFields } from './schema.js';
import { type FieldRequirement, formatSelector, type LabelRequirement, matchFields, matchLabels } from './selectors.js';
import type { Store, StoredEvent } from './storage.js';
import type { WatchHub } from './watch.js';

// biome-ignore lint/suspicious/noExplicitAny: the registry edits loosely-typed wire objects
type Any = any;

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
}

export interface WriteResult {
  object: KubeObject;
  warnings: string[];
  /** false when the write changed nothing (no new resourceVersion). */
  changed: boolean;
}

export interface DeleteOptions {
  propagationPolicy?: 'Foreground' | 'Background' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListOptions {
  labels?: LabelRequirement[];
  fields?: FieldRequirement[];
  limit?: number;
  continue?: string;
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

export interface RegistryOptions {
  /** Service ClusterIP range; default 10.96.0.0/12. */
  serviceCIDR?: string;
  /**
   * Pods bound to a node get a deletionTimestamp and are removed by the node (DELETE with gracePeriodSeconds=0)
   * instead of at once. Off until a node runtime finalizes pods.
   */
  gracefulPodDeletion?: boolean;
}

export const GENERATED_KINDS = new Set([
  'Deployment',
  'ReplicaSet',
  'NetworkPolicy',
  'CiliumNetworkPolicy',
  'CiliumClusterwideNetworkPolicy',
]);

export function nowRFC3339(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function sameJSON(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Content without server-maintained fields, to tell a real change from a no-op. */
function comparable(o: KubeObject): unknown {
  const { resourceVersion: _rv, managedFields: _mf, ...meta } = o.metadata;
  return { ...o, metadata: meta };
}

function specOf(o: KubeObject): unknown {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o as Any;
  return rest;
}

const NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += NAME_CHARS[randomInt(NAME_CHARS.length)];
  return s;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function parseCidr(cidr: string): { base: number; size: number } {
  const [ip, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return { base: Math.floor(ipToInt(ip) / size) * size, size };
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export class Registry {
  private readonly cidr: { base: number; size: number };
  readonly serviceCIDR: string;

  constructor(
    readonly store: Store,
    readonly hub: WatchHub,
    readonly opts: RegistryOptions = {},
  ) {
    this.serviceCIDR = opts.serviceCIDR ?? '10.96.0.0/12';
    this.cidr = parseCidr(this.serviceCIDR);
  }

  // ---- reads ----

  get(info: ResourceInfo, ns: string, name: string): KubeObject {
    const obj = this.store.get(resourceKey(info), info.namespaced ? ns : '', name);
    if (!obj) throw notFound(info, name);
    return obj;
  }

  tryGet(info: ResourceInfo, ns: string, name: string): KubeObject | undefined {
    return this.store.get(resourceKey(info), info.namespaced ? ns : '', name);
  }

  list(info: ResourceInfo, ns: string | undefined, opts: ListOptions = {}): ListResult {
    const rv = String(this.store.currentRV());
    let items = this.store.list(resourceKey(info), info.namespaced ? ns : undefined);
    if (opts.labels?.length) items = items.filter((o) => matchLabels(opts.labels ?? [], o.metadata.labels));
    if (opts.fields?.length) items = items.filter((o) => matchFields(opts.fields ?? [], o));
    if (opts.continue) {
      let token: { rv?: number; start?: string };
      try {
        token = JSON.parse(Buffer.from(opts.continue, 'base64url').toString('utf8'));
      } catch {
        throw badRequest('invalid continue token');
      }
      if (typeof token.rv === 'number' && token.rv < this.store.oldestResumableRV())
        throw gone(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      const start = token.start ?? '';
      items = items.filter((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}` > start);
    }
    if (opts.limit && opts.limit > 0 && items.length > opts.limit) {
      const page = items.slice(0, opts.limit);
      const last = page[page.length - 1];
      const token = Buffer.from(
        JSON.stringify({
          v: 'meta.k8s.io/v1',
          rv: Number(rv),
          start: `${last.metadata.namespace ?? ''}/${last.metadata.name}`,
        }),
      ).toString('base64url');
      return { items: page, resourceVersion: rv, continue: token, remainingItemCount: items.length - page.length };
    }
    return { items, resourceVersion: rv };
  }

  // ---- writes ----

  /** Commits an object and publishes the event (with the previous object for selector transitions). */
  private commit(info: ResourceInfo, obj: KubeObject, expectRV: number | undefined, prev?: KubeObject): KubeObject {
    const res = this.store.put(resourceKey(info), obj, prev ? 'MODIFIED' : 'ADDED', expectRV);
    if (!res.ok) {
      const name = obj.metadata.name ?? '';
      if (res.reason === 'exists') throw alreadyExists(info, name);
      if (res.reason === 'notfound') throw notFound(info, name);
      throw conflict(info, name, CONFLICT_MODIFIED);
    }
    this.publish(res.event, prev);
    return res.object;
  }

  private publish(ev: StoredEvent, prev?: KubeObject): void {
    this.hub.publish(prev ? { ...ev, prev } : ev);
  }

  private checkKind(info: ResourceInfo, body: Any): void {
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw badRequest('the object provided is unrecognized (must be of type ' + info.kind + ')');
    if (body.apiVersion === undefined) body.apiVersion = apiVersionOf(info);
    if (body.kind === undefined) body.kind = info.kind;
    if (body.apiVersion !== apiVersionOf(info) || body.kind !== info.kind) {
      const other = findByKind(body.apiVersion, body.kind);
      if (!other || other.kind !== info.kind)
        throw badRequest(
          `the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(info)})`,
        );
    }
    body.metadata ??= {};
  }

  private strict(info: ResourceInfo, obj: KubeObject, mode: FieldValidation | undefined, warnings: string[]): void {
    if (!mode || mode === 'Ignore') return;
    const unknown = unknownFields(obj, KIND_SCHEMAS[info.kind]);
    if (unknown.length === 0) return;
    const texts = unknown.map((f) => `unknown field "${f}"`);
    if (mode === 'Warn') warnings.push(...texts);
    else
      throw badRequest(
        `${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: strict decoding error: ${texts.join(', ')}`,
      );
  }

  private admitOrThrow(info: ResourceInfo, obj: KubeObject, warnings: string[], extra: FieldError[] = []): KubeObject {
    const res = admit(obj);
    const errors = [...extra, ...res.errors];
    if (errors.length) throw invalid(qualifiedKind(info), info.group, info.kind, obj.metadata.name ?? '', errors);
    warnings.push(...res.warnings.map((w) => `${w.field ? `${w.field}: ` : ''}${w.detail ?? w.type}`));
    return res.object;
  }

  private namespaceCheck(info: ResourceInfo, ns: string): void {
    if (!info.namespaced) return;
    const nsInfo = RESOURCES.find((r) => r.resource === 'namespaces')!;
    const nsObj = this.store.get(resourceKey(nsInfo), '', ns);
    if (!nsObj) throw notFound(nsInfo, ns);
    if (nsObj.metadata.deletionTimestamp) throw forbidden('terminating');
  }

  create(info: ResourceInfo, ns: string, input: unknown, opts: WriteOptions = {}): WriteResult {
    const body: Any = clone(input);
    this.checkKind(info, body);
    const warnings: string[] = [];
    if (info.namespaced) {
      if (body.metadata.namespace && body.metadata.namespace !== ns)
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      body.metadata.namespace = ns;
    } else delete body.metadata.namespace;
    if (!body.metadata.name && body.metadata.generateName)
      body.metadata.name = `${body.metadata.generateName}${randomSuffix()}`;
    this.strict(info, body, opts.fieldValidation, warnings);
    if (body.metadata.resourceVersion) throw badRequest('resourceVersion should not be set on objects to be created');
    if (info.namespaced) {
      try {
        this.namespaceCheck(info, ns);
      } catch (e) {
        if (e instanceof ApiError && e.code === 403)
          throw forbidden(
            `${info.resource}${info.group ? `.${info.group}` : ''} "${body.metadata.name ?? ''}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
          );
        throw e;
      }
    }
    if (info.hasStatus && info.kind !== 'Namespace' && info.kind !== 'Node') delete body.status;
    delete body.metadata.managedFields;
    delete body.metadata.deletionTimestamp;
    delete body.metadata.deletionGracePeriodSeconds;
    let obj = this.admitOrThrow(info, body, warnings);
    obj.metadata.uid = randomUUID();
    obj.metadata.creationTimestamp = nowRFC3339();
    if (GENERATED_KINDS.has(info.kind)) obj.metadata.generation = 1;
    else delete obj.metadata.generation;
    if (info.kind === 'Service') obj = this.allocateClusterIP(info, obj, undefined);
    if (info.group === 'cilium.io') obj = setValidCondition(obj);
    this.checkOwnerRefs(info, obj);
    if (opts.dryRun) {
      if (this.tryGet(info, ns, obj.metadata.name ?? '')) throw alreadyExists(info, obj.metadata.name ?? '');
      return { object: obj, warnings, changed: false };
    }
    return { object: this.commit(info, obj, 0), warnings, changed: true };
  }

  private checkOwnerRefs(_info: ResourceInfo, obj: KubeObject): void {
    const refs = obj.metadata.ownerReferences ?? [];
    const errs: FieldError[] = [];
    refs.forEach((r: OwnerReference, i) => {
      if (!r.uid)
        errs.push({
          type: 'Invalid',
          field: `metadata.ownerReferences[${i}].uid`,
          value: '',
          detail: 'uid must not be empty',
        });
      if (!r.name)
        errs.push({
          type: 'Invalid',
          field: `metadata.ownerReferences[${i}].name`,
          value: '',
          detail: 'name must not be empty',
        });
    });
    if (refs.filter((r) => r.controller).length > 1)
      errs.push({
        type: 'Invalid',
        field: 'metadata.ownerReferences',
        value: refs,
        detail: 'Only one reference can have Controller set to true',
      });
    if (errs.length) throw invalid(qualifiedKind(_info), _info.group, _info.kind, obj.metadata.name ?? '', errs);
  }

  /**
   * Replaces an object (PUT). `subresource` = 'status' applies only status changes; otherwise status changes
   * are ignored for resources with a status subresource.
   */
  update(
    info: ResourceInfo,
    ns: string,
    name: string,
    input: unknown,
    opts: WriteOptions & { subresource?: 'status' | 'finalize'; requireRV?: boolean } = {},
  ): WriteResult {
    const body: Any = clone(input);
    this.checkKind(info, body);
    const warnings: string[] = [];
    const old = this.get(info, ns, name);
    if (body.metadata.name && body.metadata.name !== name)
      throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
    if (info.namespaced && body.metadata.namespace && body.metadata.namespace !== ns)
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    body.metadata.name = name;
    if (info.namespaced) body.metadata.namespace = ns;
    const rvText = body.metadata.resourceVersion;
    if (!rvText && opts.requireRV !== false)
      throw invalid(qualifiedKind(info), info.group, info.kind, name, [
        fieldInvalid('metadata.resourceVersion', 0, 'must be specified for an update'),
      ]);
    const expectRV = rvText ? Number(rvText) : Number(old.metadata.resourceVersion);
    if (rvText && expectRV !== Number(old.metadata.resourceVersion)) throw conflict(info, name, CONFLICT_MODIFIED);
    this.strict(info, body, opts.fieldValidation, warnings);
    return this.finishUpdate(info, ns, name, old, body, expectRV, warnings, opts);
  }

  private finishUpdate(
    info: ResourceInfo,
    ns: string,
    name: string,
    old: KubeObject,
    body: Any,
    expectRV: number,
    warnings: string[],
    opts: WriteOptions & { subresource?: 'status' | 'finalize' },
  ): WriteResult {
    let next: Any;
    if (opts.subresource === 'status') {
      next = clone(old);
      next.status = body.status;
    } else if (opts.subresource === 'finalize') {
      next = clone(old);
      next.spec = { ...(next.spec ?? {}), finalizers: body.spec?.finalizers ?? [] };
    } else {
      next = body;
      if (info.hasStatus && info.kind !== 'Node') {
        if ((old as Any).status === undefined) delete next.status;
        else next.status = clone((old as Any).status);
      }
    }
    // Fields the server owns.
    next.metadata.uid = old.metadata.uid;
    next.metadata.creationTimestamp = old.metadata.creationTimestamp;
    if (old.metadata.deletionTimestamp) {
      next.metadata.deletionTimestamp = old.metadata.deletionTimestamp;
      if (old.metadata.deletionGracePeriodSeconds !== undefined)
        next.metadata.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds;
    } else {
      delete next.metadata.deletionTimestamp;
      delete next.metadata.deletionGracePeriodSeconds;
    }
    delete next.metadata.managedFields;
    if (old.metadata.generation !== undefined) next.metadata.generation = old.metadata.generation;
    else delete next.metadata.generation;
    if (opts.subresource === 'status') {
      // ResetObjectMetaForStatus: only status changes through /status.
      next.metadata = { ...clone(old.metadata) };
    } else if (opts.subresource !== 'finalize') {
      next = this.admitOrThrow(info, next, warnings, this.immutableErrors(info, old, next));
      if (info.kind === 'Service') next = this.allocateClusterIP(info, next, old);
      if (GENERATED_KINDS.has(info.kind) && !sameJSON(specOf(old), specOf(next)))
        next.metadata.generation = (old.metadata.generation ?? 0) + 1;
      if (info.group === 'cilium.io' && !sameJSON(specOf(old), specOf(next))) next = setValidCondition(next);
      this.checkOwnerRefs(info, next);
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (sameJSON(comparable(old), comparable(next))) return { object: old, warnings, changed: false };
    if (opts.dryRun) return { object: next, warnings, changed: false };
    // An object being deleted whose last finalizer is removed goes away now.
    if (next.metadata.deletionTimestamp && holdsFinalizers(info, old) && !holdsFinalizers(info, next)) {
      const res = this.store.remove(resourceKey(info), info.namespaced ? ns : '', name, expectRV);
      if (!res.ok) throw res.reason === 'notfound' ? notFound(info, name) : conflict(info, name, CONFLICT_MODIFIED);
      this.publish(res.event);
      return { object: res.object, warnings, changed: true };
    }
    return { object: this.commit(info, next, expectRV, old), warnings, changed: true };
  }

  private immutableErrors(info: ResourceInfo, old: Any, next: Any): FieldError[] {
    const errs: FieldError[] = [];
    if (
      (info.kind === 'Deployment' || info.kind === 'ReplicaSet') &&
      !sameJSON(old.spec?.selector, next.spec?.selector)
    ) {
      errs.push(fieldInvalid('spec.selector', next.spec?.selector, 'field is immutable'));
    }
    if (
      info.kind === 'Service' &&
      next.spec?.clusterIP &&
      old.spec?.clusterIP &&
      next.spec.clusterIP !== old.spec.clusterIP
    ) {
      if (!(old.spec.type === 'ExternalName' || next.spec.type === 'ExternalName'))
        errs.push(fieldInvalid('spec.clusterIPs[0]', next.spec.clusterIP, 'may not change once set'));
    }
    return errs;
  }

  /** PATCH with one of the four patch content types. */
  patch(
    info: ResourceInfo,
    ns: string,
    name: string,
    contentType: string,
    patchBody: unknown,
    opts: WriteOptions & { subresource?: 'status'; force?: boolean } = {},
  ): WriteResult {
    const ct = contentType.split(';')[0].trim();
    const old = this.tryGet(info, ns, name);
    if (!old) {
      if (ct === 'application/apply-patch+yaml') return this.create(info, ns, patchBody, opts);
      throw notFound(info, name);
    }
    let patched: Any;
    try {
      switch (ct) {
        case 'application/json-patch+json':
          patched = jsonPatch(old as unknown as Json, patchBody);
          break;
        case 'application/merge-patch+json':
          patched = jsonMergePatch(old as unknown as Json, patchBody as Json);
          break;
        case 'application/strategic-merge-patch+json':
          if (!info.strategicMerge) throw unsupportedMediaType(contentType);
          patched = strategicMergePatch(old as unknown as Json, patchBody as Json, PATCH_META[info.kind]);
          break;
        case 'application/apply-patch+yaml':
          patched = applyPatch(old, patchBody, info);
          break;
        default:
          throw unsupportedMediaType(contentType);
      }
    } catch (e) {
      if (e instanceof PatchError)
        throw new ApiError({ ...badRequest(e.message).status, code: 422, reason: 'Invalid' });
      throw e;
    }
    if (!patched || typeof patched !== 'object') throw badRequest('patch produced a non-object');
    const warnings: string[] = [];
    patched.metadata ??= {};
    patched.apiVersion ??= apiVersionOf(info);
    patched.kind ??= info.kind;
    if (patched.metadata.name !== undefined && patched.metadata.name !== name)
      throw badRequest(`metadata.name: Invalid value: "${patched.metadata.name}": field is immutable`);
    patched.metadata.name = name;
    if (info.namespaced) patched.metadata.namespace = ns;
    const rv = patched.metadata.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) throw conflict(info, name, CONFLICT_MODIFIED);
    this.strict(info, patched, opts.fieldValidation, warnings);
    return this.finishUpdate(info, ns, name, old, patched, Number(old.metadata.resourceVersion), warnings, opts);
  }

  /**
   * DELETE. Returns the final object (or the object now carrying a deletionTimestamp when finalizers hold it),
   * and whether it is gone.
   */
  delete(
    info: ResourceInfo,
    ns: string,
    name: string,
    opts: DeleteOptions = {},
  ): { object: KubeObject; gone: boolean } {
    const old = this.get(info, ns, name);
    const pre = opts.preconditions;
    if (pre?.uid && pre.uid !== old.metadata.uid)
      throw conflict(
        info,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`,
      );
    if (pre?.resourceVersion && pre.resourceVersion !== old.metadata.resourceVersion)
      throw conflict(
        info,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    if (opts.dryRun) return { object: old, gone: true };
    const key = resourceKey(info);
    const nsKey = info.namespaced ? ns : '';
    const policy = opts.propagationPolicy ?? 'Background';

    if (info.kind === 'Namespace') {
      if (old.metadata.deletionTimestamp) return { object: old, gone: false };
      const next: Any = clone(old);
      next.metadata.deletionTimestamp = nowRFC3339();
      next.status = { ...(next.status ?? {}), phase: 'Terminating' };
      return { object: this.commit(info, next, Number(old.metadata.resourceVersion), old), gone: false };
    }

    const graceful =
      info.kind === 'Pod' &&
      this.opts.gracefulPodDeletion &&
      (old as Any).spec?.nodeName &&
      opts.gracePeriodSeconds !== 0 &&
      !old.metadata.deletionTimestamp;
    const finalizers = [...(old.metadata.finalizers ?? [])];
    if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion') && this.hasDependents(old))
      finalizers.push('foregroundDeletion');
    if (policy === 'Orphan') this.orphanDependents(old);

    if (graceful || finalizers.length > 0) {
      if (old.metadata.deletionTimestamp && sameJSON(finalizers, old.metadata.finalizers ?? [])) {
        // Deleting again with grace 0 force-removes a gracefully terminating pod that holds no finalizers.
        if (info.kind === 'Pod' && opts.gracePeriodSeconds === 0 && finalizers.length === 0)
          return this.removeNow(info, key, nsKey, name);
        return { object: old, gone: false };
      }
      const next: Any = clone(old);
      next.metadata.finalizers = finalizers.length ? finalizers : undefined;
      if (!next.metadata.finalizers) delete next.metadata.finalizers;
      next.metadata.deletionTimestamp ??= nowRFC3339();
      if (graceful) {
        const grace = opts.gracePeriodSeconds ?? next.spec?.terminationGracePeriodSeconds ?? 30;
        next.metadata.deletionGracePeriodSeconds = grace;
        next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      } else next.metadata.deletionGracePeriodSeconds = 0;
      return { object: this.commit(info, next, Number(old.metadata.resourceVersion), old), gone: false };
    }
    return this.removeNow(info, key, nsKey, name);
  }

  private removeNow(
    info: ResourceInfo,
    key: string,
    nsKey: string,
    name: string,
  ): { object: KubeObject; gone: boolean } {
    const res = this.store.remove(key, nsKey, name);
    if (!res.ok) throw notFound(info, name);
    this.publish(res.event);
    return { object: res.object, gone: true };
  }

  /** Every object in the store whose ownerReferences name `owner` by uid. */
  dependentsOf(owner: KubeObject): { info: ResourceInfo; object: KubeObject }[] {
    const uid = owner.metadata.uid;
    const out: { info: ResourceInfo; object: KubeObject }[] = [];
    for (const info of RESOURCES) {
      const objs = this.store.list(resourceKey(info), owner.metadata.namespace ? owner.metadata.namespace : undefined);
      for (const o of objs)
        if ((o.metadata.ownerReferences ?? []).some((r) => r.uid === uid)) out.push({ info, object: o });
    }
    return out;
  }

  private hasDependents(owner: KubeObject): boolean {
    return this.dependentsOf(owner).length > 0;
  }

  /** Removes the owner's reference from each dependent (propagationPolicy=Orphan). */
  orphanDependents(owner: KubeObject): void {
    for (const d of this.dependentsOf(owner)) {
      const next: Any = clone(d.object);
      next.metadata.ownerReferences = (next.metadata.ownerReferences ?? []).filter(
        (r: OwnerReference) => r.uid !== owner.metadata.uid,
      );
      if (next.metadata.ownerReferences.length === 0) delete next.metadata.ownerReferences;
      try {
        this.commit(d.info, next, Number(d.object.metadata.resourceVersion), d.object);
      } catch {
        // raced with another writer; the garbage collector will see the owner gone and retry
      }
    }
  }

  deleteCollection(info: ResourceInfo, ns: string | undefined, list: ListOptions, opts: DeleteOptions): KubeObject[] {
    const { items } = this.list(info, ns, { labels: list.labels, fields: list.fields });
    const out: KubeObject[] = [];
    for (const o of items) {
      try {
        out.push(this.delete(info, o.metadata.namespace ?? '', o.metadata.name ?? '', opts).object);
      } catch (e) {
        if (!(e instanceof ApiError && e.code === 404)) throw e;
      }
    }
    return out;
  }

  // ---- services ----

  private usedClusterIPs(): Set<number> {
    const used = new Set<number>();
    for (const s of this.store.list('services')) {
      const ip = (s as Any).spec?.clusterIP;
      if (ip && IPV4.test(ip)) used.add(ipToInt(ip));
    }
    return used;
  }

  private allocateClusterIP(info: ResourceInfo, obj: Any, old: Any | undefined): KubeObject {
    const spec = obj.spec;
    if (spec.type === 'ExternalName') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
      return obj;
    }
    if (old?.spec?.clusterIP && !spec.clusterIP) {
      spec.clusterIP = old.spec.clusterIP;
      spec.clusterIPs = old.spec.clusterIPs ?? [old.spec.clusterIP];
      return obj;
    }
    if (old?.spec?.clusterIP && spec.clusterIP === old.spec.clusterIP) {
      spec.clusterIPs = old.spec.clusterIPs ?? [spec.clusterIP];
      return obj;
    }
    if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
      return obj;
    }
    const used = this.usedClusterIPs();
    if (spec.clusterIP) {
      const ip = String(spec.clusterIP);
      const fail = (why: string) =>
        invalid(qualifiedKind(info), info.group, info.kind, obj.metadata.name, [
          fieldInvalid('spec.clusterIPs', [ip], `failed to allocate IP ${ip}: ${why}`),
        ]);
      if (!IPV4.test(ip)) throw fail('provided IP is not a valid IP address');
      const n = ipToInt(ip);
      if (n <= this.cidr.base || n >= this.cidr.base + this.cidr.size - 1)
        throw fail(`provided IP is not in the valid range. The range of valid IPs is ${this.serviceCIDR}`);
      if (used.has(n)) throw fail('provided IP is already allocated');
      spec.clusterIPs = [ip];
      return obj;
    }
    for (let attempt = 0; attempt < 10000; attempt++) {
      // Skip the network address, .1 (kubernetes) and .10 (cluster DNS), and the broadcast address.
      const n = this.cidr.base + 11 + randomInt(this.cidr.size - 12);
      if (!used.has(n)) {
        spec.clusterIP = intToIp(n);
        spec.clusterIPs = [spec.clusterIP];
        return obj;
      }
    }
    throw invalid(qualifiedKind(info), info.group, info.kind, obj.metadata.name, [
      fieldInvalid('spec.clusterIPs', [], 'failed to allocate IP: range is full'),
    ]);
  }

  /** The Scale view of a Deployment or ReplicaSet. */
  scaleOf(_info: ResourceInfo, obj: KubeObject): KubeObject {
    const o: Any = obj;
    return {
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name: o.metadata.name,
        namespace: o.metadata.namespace,
        uid: o.metadata.uid,
        resourceVersion: o.metadata.resourceVersion,
        creationTimestamp: o.metadata.creationTimestamp,
      },
      spec: { replicas: o.spec?.replicas ?? 1 },
      status: { replicas: o.status?.replicas ?? 0, selector: formatSelector(o.spec?.selector) },
    } as KubeObject;
  }

  /** Writes a new Scale: sets spec.replicas on the owning object. */
  updateScale(info: ResourceInfo, ns: string, name: string, scale: Any, opts: WriteOptions = {}): WriteResult {
    const old = this.get(info, ns, name);
    const replicas = scale?.spec?.replicas;
    if (typeof replicas !== 'number' || replicas < 0 || !Number.isInteger(replicas))
      throw invalid('Scale.autoscaling', 'autoscaling', 'Scale', name, [
        fieldInvalid('spec.replicas', replicas, 'must be greater than or equal to 0'),
      ]);
    const rv = scale?.metadata?.resourceVersion;
    if (rv && rv !== old.metadata.resourceVersion) throw conflict(info, name, CONFLICT_MODIFIED);
    const next: Any = clone(old);
    next.spec.replicas = replicas;
    const res = this.finishUpdate(info, ns, name, old, next, Number(old.metadata.resourceVersion), [], opts);
    return { ...res, object: this.scaleOf(info, res.object) };
  }
}

function holdsFinalizers(info: ResourceInfo, o: Any): boolean {
  if ((o.metadata?.finalizers ?? []).length > 0) return true;
  return info.kind === 'Namespace' && (o.spec?.finalizers ?? []).length > 0;
}

/** Cilium's agent reports `Valid=True` on policies it imported; admission already rejected invalid ones. */
function setValidCondition(obj: Any): KubeObject {
  const now = nowRFC3339();
  obj.status = {
    ...(obj.status ?? {}),
    conditions: [{ type: 'Valid', status: 'True', lastTransitionTime: now, message: 'Policy validation succeeded' }],
  };
  return obj;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Server-side apply without field ownership: the applied configuration is merged into the live object
 * (maps merge, lists with merge keys merge by key, other lists are replaced). Fields removed from the applied
 * configuration are not removed from the live object (that needs managedFields, which we do not track).
 */
function applyPatch(old: KubeObject, body: unknown, info: ResourceInfo): Json {
  if (!isObj(body)) throw new PatchError('apply patch must be an object');
  const merge = (a: unknown, b: unknown): unknown => {
    if (isObj(a) && isObj(b)) {
      const out: Record<string, unknown> = { ...a };
      for (const [k, v] of Object.entries(b)) out[k] = k in a ? merge(a[k], v) : v;
      return out;
    }
    return b;
  };
  const meta = PATCH_META[info.kind];
  const merged = info.strategicMerge
    ? strategicMergePatch(old as unknown as Json, body as Json, meta)
    : (merge(old, body) as Json);
  return merged;
}
