import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../util/field.js';
import { validateDeployment } from './deployment.js';

const fmt = (errs: { field: string }[]) => errs.map((e) => formatFieldError(e as never));
const deploy = (spec: unknown) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'default' },
  spec,
});
const tmpl = (labels: unknown, containers: unknown = [{ name: 'app', image: 'nginx' }]) => ({
  metadata: { labels },
  spec: { containers },
});

describe('validateDeployment', () => {
  it.each<[string, unknown, string[]]>([
    [
      'valid',
      deploy({ replicas: 2, selector: { matchLabels: { app: 'web' } }, template: tmpl({ app: 'web', tier: 'fe' }) }),
      [],
    ],
    [
      'selector does not match template labels',
      deploy({ selector: { matchLabels: { app: 'web' } }, template: tmpl({ app: 'api' }) }),
      ['spec.template.metadata.labels: Invalid value: {"app":"api"}: `selector` does not match template `labels`'],
    ],
    [
      'matchExpressions are evaluated',
      deploy({
        selector: { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['db'] }] },
        template: tmpl({ app: 'x' }),
      }),
      [],
    ],
    [
      'missing selector and template',
      deploy({ replicas: -1 }),
      [
        'spec.replicas: Invalid value: -1: must be greater than or equal to 0',
        'spec.selector: Required value',
        'spec.template: Required value',
      ],
    ],
    [
      'empty selector, restartPolicy and containers in the template',
      deploy({
        selector: {},
        template: { metadata: { labels: { app: 'web' } }, spec: { restartPolicy: 'Never', containers: [] } },
      }),
      [
        'spec.selector: Invalid value: {}: empty selector is invalid for deployment',
        'spec.template.spec.containers: Required value',
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
      ],
    ],
  ])('%s', (_name, obj, want) => {
    expect(fmt(validateDeployment(obj))).toEqual(want);
  });
});
