import { describe, expect, it } from 'vitest';
import type { AnyPolicy } from '../../api/types.js';
import { PolicyBook } from './policies.js';

const good = (rv: string, port = '80'): AnyPolicy =>
  ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 'rule1', namespace: 'default', resourceVersion: rv },
    spec: {
      endpointSelector: { matchLabels: { class: 'deathstar' } },
      ingress: [
        { fromEndpoints: [{ matchLabels: { org: 'empire' } }], toPorts: [{ ports: [{ port, protocol: 'TCP' }] }] },
      ],
    },
  }) as AnyPolicy;

describe('PolicyBook', () => {
  it('an invalid version is never enforced: the last good one stays and the problem is reported and logged', () => {
    const log: string[] = [];
    const book = new PolicyBook((l) => log.push(l));
    expect(book.upsert(good('1'))).toBe(true);
    const rev = book.revision;
    // Sanitize-only error (Cilium V14): an unparsable port; admission rejects it, a real cluster may not.
    expect(book.upsert(good('2', '6581-6586'))).toBe(false);
    expect(book.revision).toBe(rev);
    const { policies } = book.enforced();
    expect(policies.map((p) => p.metadata.resourceVersion)).toEqual(['1']);
    expect(book.problems()).toEqual([
      expect.objectContaining({ key: 'CiliumNetworkPolicy/default/rule1', resourceVersion: '2', keptPrevious: true }),
    ]);
    expect(book.problems()[0]!.message).toContain('unable to parse port');
    expect(log.join('\n')).toMatch(
      /ignoring invalid CiliumNetworkPolicy\/default\/rule1 .*previous version stays enforced/,
    );
    // Fixed: the problem goes away.
    expect(book.upsert(good('3', '8080'))).toBe(true);
    expect(book.problems()).toEqual([]);
    expect(book.remove(good('3'))).toBe(true);
    expect(book.enforced().policies).toEqual([]);
  });

  it('an invalid first version enforces nothing of it', () => {
    const book = new PolicyBook();
    expect(book.upsert(good('1', 'http-alt-x-bad!'))).toBe(false);
    expect(book.enforced().policies).toEqual([]);
    expect(book.problems()[0]!.keptPrevious).toBe(false);
  });

  it('host policies (nodeSelector) are reported as not enforced', () => {
    const book = new PolicyBook();
    book.upsert({
      apiVersion: 'cilium.io/v2',
      kind: 'CiliumClusterwideNetworkPolicy',
      metadata: { name: 'host-fw', resourceVersion: '1' },
      spec: { nodeSelector: {}, ingress: [{ fromEntities: ['cluster'] }] },
    } as AnyPolicy);
    expect(book.notEnforced()).toEqual([
      { key: 'CiliumClusterwideNetworkPolicy/host-fw', reason: expect.stringContaining('not enforced') },
    ]);
  });
});
