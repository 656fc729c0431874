/**
 * OpenAPI v3 (`/openapi/v3` index and one document per group/version), generated from the resource table and
 * schema.ts. It is what kubectl reads to decide that the server does field validation (a PATCH operation per
 * kind carrying the `fieldValidation` query parameter) and what `kubectl explain` shows. PATCH operations
 * advertise JSON patch, merge patch and apply patch but not strategic merge patch, so kubectl computes its
 * strategic merge patches from its compiled-in types (exactly the built-in patch metadata) and not from our
 * schemas. `/openapi/v2` (protobuf) is not served: kubectl falls back gracefully.
 */
import { createHash } from 'node:crypto';
import { apiVersionOf, RESOURCES, type ResourceInfo } from './resources.js';
import { KIND_SCHEMAS, type Schema } from './schema.js';

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.5',
  gitCommit: '9894294ef13a5b32803e3ca2c0d620a088cc84d1',
  gitTreeState: 'clean',
  buildDate: '2025-05-15T09:00:00Z',
  goVersion: 'go1.23.8',
  compiler: 'gc',
  platform: 'linux/amd64',
};

function gvPath(r: { group: string; version: string }): string {
  return r.group === '' ? `api/${r.version}` : `apis/${r.group}/${r.version}`;
}

function schemaName(r: ResourceInfo): string {
  if (r.group === 'cilium.io') return `io.cilium.v2.${r.kind}`;
  const pkg = r.group === '' ? 'core' : r.group.replace('.k8s.io', '');
  return `io.k8s.api.${pkg}.${r.version}.${r.kind}`;
}

function toOpenApi(s: Schema): Record<string, unknown> {
  switch (s.t) {
    case 'string':
      return { type: 'string' };
    case 'time':
      return { type: 'string', format: 'date-time' };
    case 'integer':
      return { type: 'integer', format: 'int32' };
    case 'number':
      return { type: 'number', format: 'double' };
    case 'boolean':
      return { type: 'boolean' };
    case 'int-or-string':
      return { 'x-kubernetes-int-or-string': true };
    case 'quantity':
      return { 'x-kubernetes-int-or-string': true };
    case 'open':
      return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    case 'map':
      return { type: 'object', additionalProperties: toOpenApi(s.values) };
    case 'array':
      return { type: 'array', items: toOpenApi(s.items) };
    case 'object':
      return {
        type: 'object',
        properties: Object.fromEntries(Object.entries(s.props).map(([k, v]) => [k, toOpenApi(v)])),
      };
  }
}

const QUERY = (name: string, description: string) => ({
  name,
  in: 'query',
  description,
  schema: { type: 'string', uniqueItems: true },
});

function operations(r: ResourceInfo) {
  const gvk = { group: r.group, version: r.version, kind: r.kind };
  const ref = { $ref: `#/components/schemas/${schemaName(r)}` };
  const json = { 'application/json': { schema: ref }, 'application/yaml': { schema: ref } };
  const params = [
    QUERY('dryRun', 'When present, indicates that modifications should not be persisted.'),
    QUERY('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes.'),
    QUERY(
      'fieldValidation',
      'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict',
    ),
  ];
  const ok = { '200': { description: 'OK', content: json } };
  const kindName = `${r.group === '' ? 'Core' : r.group.split('.')[0][0].toUpperCase() + r.group.split('.')[0].slice(1)}${r.version[0].toUpperCase()}${r.version.slice(1)}${r.namespaced ? 'Namespaced' : ''}${r.kind}`;
  const prefix = `/${gvPath(r)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
  return {
    [prefix]: {
      get: {
        operationId: `list${kindName}`,
        responses: ok,
        'x-kubernetes-action': 'list',
        'x-kubernetes-group-version-kind': gvk,
      },
      post: {
        operationId: `create${kindName}`,
        parameters: params,
        requestBody: { content: json, required: true },
        responses: ok,
        'x-kubernetes-action': 'post',
        'x-kubernetes-group-version-kind': gvk,
      },
    },
    [`${prefix}/{name}`]: {
      get: {
        operationId: `read${kindName}`,
        responses: ok,
        'x-kubernetes-action': 'get',
        'x-kubernetes-group-version-kind': gvk,
      },
      put: {
        operationId: `replace${kindName}`,
        parameters: params,
        requestBody: { content: json, required: true },
        responses: ok,
        'x-kubernetes-action': 'put',
        'x-kubernetes-group-version-kind': gvk,
      },
      patch: {
        operationId: `patch${kindName}`,
        parameters: [...params, QUERY('force', 'Force is going to "force" Apply requests.')],
        requestBody: {
          content: {
            'application/json-patch+json': {
              schema: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' },
            },
            'application/merge-patch+json': {
              schema: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' },
            },
            'application/apply-patch+yaml': {
              schema: { $ref: '#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.Patch' },
            },
          },
          required: true,
        },
        responses: ok,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': gvk,
      },
      delete: {
        operationId: `delete${kindName}`,
        responses: ok,
        'x-kubernetes-action': 'delete',
        'x-kubernetes-group-version-kind': gvk,
      },
    },
  };
}

function gvDocument(group: string, version: string) {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  const schemas: Record<string, unknown> = {
    'io.k8s.apimachinery.pkg.apis.meta.v1.Patch': {
      type: 'object',
      description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.',
    },
  };
  let paths: Record<string, unknown> = {};
  for (const r of rs) {
    const s = KIND_SCHEMAS[r.kind];
    schemas[schemaName(r)] = {
      ...(s ? toOpenApi(s) : { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }),
      'x-kubernetes-group-version-kind': [{ group: r.group, kind: r.kind, version: r.version }],
    };
    paths = { ...paths, ...operations(r) };
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: SERVER_VERSION.gitVersion },
    paths,
    components: { schemas },
  };
}

interface Docs {
  root: { paths: Record<string, { serverRelativeURL: string }> };
  byPath: Map<string, { body: string; hash: string }>;
}

let cached: Docs | undefined;

function docs(): Docs {
  if (cached) return cached;
  const byPath = new Map<string, { body: string; hash: string }>();
  const root: Docs['root'] = { paths: {} };
  const gvs = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) gvs.set(apiVersionOf(r), { group: r.group, version: r.version });
  for (const gv of gvs.values()) {
    const body = JSON.stringify(gvDocument(gv.group, gv.version));
    const hash = createHash('sha512').update(body).digest('hex').slice(0, 128).toUpperCase();
    const p = gvPath(gv);
    byPath.set(p, { body, hash });
    root.paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${hash}` };
  }
  cached = { root, byPath };
  return cached;
}

export function openApiV3Root(): string {
  return JSON.stringify(docs().root);
}

/** The document for `api/v1` or `apis/G/V` (without the `/openapi/v3/` prefix). */
export function openApiV3Doc(gvPathStr: string): { body: string; hash: string } | undefined {
  return docs().byPath.get(gvPathStr);
}
