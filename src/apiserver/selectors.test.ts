import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../api/types.js';
import { ApiError } from './errors.js';
import { formatSelector, matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';

describe('label selectors (apimachinery semantics)', () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ['a=b', { a: 'b' }, true],
    ['a==b', { a: 'c' }, false],
    ['a!=b', {}, true],
    ['a notin (x,y)', {}, true],
    ['a in (x, y),!c', { a: 'y' }, true],
    ['a in (x,y),!c', { a: 'y', c: '' }, false],
    ['a', { a: '' }, true],
    ['a,b=1', { a: 'x' }, false],
    ['n>3', { n: '4' }, true],
  ];
  for (const [sel, labels, want] of cases)
    it(`${sel} on ${JSON.stringify(labels)} → ${want}`, () =>
      expect(matchLabels(parseLabelSelector(sel), labels)).toBe(want));
  it('rejects garbage with a 400', () => {
    expect(() => parseLabelSelector('a b c')).toThrow(ApiError);
  });
  it('formats structured selectors like kubectl', () => {
    expect(formatSelector({ matchLabels: { org: 'empire', class: 'deathstar' } })).toBe('class=deathstar,org=empire');
    expect(formatSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: ['y', 'x'] }] })).toBe('a in (x,y)');
  });
});

describe('field selectors', () => {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p', namespace: 'n' },
    status: { phase: 'Running' },
  } as KubeObject;
  it('matches supported fields', () => {
    expect(matchFields(parseFieldSelector('metadata.name=p,status.phase!=Pending', 'pods'), pod)).toBe(true);
    expect(matchFields(parseFieldSelector('spec.nodeName=', 'pods'), pod)).toBe(true);
  });
  it('refuses unsupported field labels like the apiserver', () => {
    expect(() => parseFieldSelector('spec.foo=1', 'pods')).toThrow('field label not supported: spec.foo');
  });
});
