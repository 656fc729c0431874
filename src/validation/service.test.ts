import { describe, expect, it } from 'vitest';
import { formatFieldError } from '../util/field.js';
import { defaultService, validateService } from './service.js';

const fmt = (errs: { field: string }[]) => errs.map((e) => formatFieldError(e as never));
const svc = (spec: unknown, name = 'web') => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec,
});

describe('validateService', () => {
  it.each<[string, unknown, string[]]>([
    ['valid', svc({ selector: { app: 'web' }, ports: [{ port: 80, targetPort: 'http' }] }), []],
    ['headless without ports', svc({ clusterIP: 'None' }), []],
    ['ports required', svc({ selector: { app: 'web' } }), ['spec.ports: Required value']],
    [
      'name must be a DNS-1035 label',
      svc({ ports: [{ port: 80 }] }, '1web'),
      [
        "metadata.name: Invalid value: \"1web\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
      ],
    ],
    [
      'port problems',
      svc({
        type: 'Fancy',
        ports: [
          { port: 0, name: 'a' },
          { port: 80, protocol: 'HTTP', targetPort: 70000 },
          { port: 80, name: 'a', nodePort: 30080 },
          { port: 80, name: 'b' },
        ],
      }),
      [
        'spec.type: Unsupported value: "Fancy": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
        'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
        'spec.ports[1].name: Required value',
        'spec.ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        'spec.ports[1].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
        'spec.ports[2].name: Duplicate value: "a"',
        "spec.ports[2].nodePort: Forbidden: may not be used when `type` is 'Fancy'",
        'spec.ports[3]: Duplicate value: {"port":80,"protocol":"TCP"}',
      ],
    ],
  ])('%s', (_name, obj, want) => {
    expect(fmt(validateService(obj))).toEqual(want);
  });

  it('defaultService fills type, protocol and targetPort on a copy', () => {
    const input = svc({ ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 5353 }] });
    expect(defaultService(input).spec).toEqual({
      type: 'ClusterIP',
      ports: [
        { port: 80, protocol: 'TCP', targetPort: 80 },
        { port: 53, protocol: 'UDP', targetPort: 5353 },
      ],
    });
    expect(input.spec).toEqual({ ports: [{ port: 80 }, { port: 53, protocol: 'UDP', targetPort: 5353 }] });
  });
});
