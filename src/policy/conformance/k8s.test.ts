import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSharedYaml, sharedPath } from '../../testing/shared.js';
import { formatFieldError } from '../../util/field.js';
import { validateObject } from '../../validation/index.js';
import { type K8sCase, type K8sModel, runK8sSuite } from './k8s.js';

const validate = (o: Parameters<typeof validateObject>[0]) =>
  validateObject(o)
    .filter((e) => (e.severity ?? 'error') === 'error')
    .map(formatFieldError);

const model = loadSharedYaml<K8sModel>('conformance/k8s-netpol/model.yaml');
const files = readdirSync(sharedPath('conformance/k8s-netpol/cases'))
  .filter((f) => f.endsWith('.yaml'))
  .sort();

describe('shared Kubernetes NetworkPolicy cases (offline)', () => {
  it.each(files)('%s', (file) => {
    const c = loadSharedYaml<K8sCase>(`conformance/k8s-netpol/cases/${file}`);
    const r = runK8sSuite([c], model, { validate });
    expect(r.failures).toEqual([]);
    expect(r.checks.passed).toBeGreaterThan(0);
  });
});
