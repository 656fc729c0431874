import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../util/field.js';
import { validatePod } from './pod.js';

const fmt = (errs: { field: string }[]) => errs.map((e) => formatFieldError(e as never));
const pod = (spec: unknown, metadata: unknown = { name: 'web', namespace: 'default' }) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata,
  spec,
});

describe('validatePod', () => {
  it.each<[string, unknown, string[]]>([
    ['valid', pod({ containers: [{ name: 'app', image: 'nginx', ports: [{ containerPort: 80, name: 'http' }] }] }), []],
    ['no containers', pod({ containers: [] }), ['spec.containers: Required value']],
    ['no spec', pod(undefined), ['spec.containers: Required value']],
    [
      'container problems',
      pod({
        containers: [
          {
            name: 'app',
            image: 'nginx',
            ports: [{ containerPort: 0 }, { containerPort: 70000, protocol: 'ICMP', name: 'HTTP' }],
          },
          { name: 'app' },
          { image: 'x' },
        ],
        restartPolicy: 'Sometimes',
      }),
      [
        'spec.containers[0].ports[0].containerPort: Required value',
        'spec.containers[0].ports[1].name: Invalid value: "HTTP": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
        'spec.containers[0].ports[1].name: Invalid value: "HTTP": must contain at least one letter (a-z)',
        'spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
        'spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
        'spec.containers[1].name: Duplicate value: "app"',
        'spec.containers[1].image: Required value',
        'spec.containers[2].name: Required value',
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
      ],
    ],
    [
      'probe ports',
      pod({
        containers: [{ name: 'a', image: 'x', readinessProbe: { httpGet: { port: 'Http' } }, livenessProbe: {} }],
      }),
      [
        'spec.containers[0].livenessProbe: Required value: must specify a handler type',
        'spec.containers[0].readinessProbe.httpGet.port: Invalid value: "Http": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)',
      ],
    ],
  ])('%s', (_name, obj, want) => {
    expect(fmt(validatePod(obj))).toEqual(want);
  });
});
