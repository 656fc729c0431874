import { describe, expect, it } from 'vitest';
import type { HttpRule } from '../types.js';
import { applyHeaderActions, matchHttp } from './http.js';

const ref = { kind: 'CiliumNetworkPolicy' as const, namespace: 'default', name: 'p', path: 'spec.ingress[0]' };
let n = 0;
function rule(r: Omit<HttpRule, 'ref' | 'httpPath'>): HttpRule {
  return { ...r, ref, httpPath: `spec.ingress[0].toPorts[0].rules.http[${n++}]` };
}
function req(method: string, path: string, headers: Record<string, string | string[]> = {}, host = 'deathstar') {
  return { method, path, host, headers };
}

describe('matchHttp', () => {
  const postLanding = rule({ method: 'POST', path: '/v1/request-landing' });
  const getPublic = rule({ method: 'GET', path: '/public/.*' });
  const hostOnly = rule({ host: 'api\\.example\\.com' });
  const needsHeader = rule({ path: '/h', headers: [{ name: 'X-Token' }] });
  const headerValue = rule({ path: '/hv', headers: [{ name: 'X-Mode', value: 'on' }] });

  const cases: [string, HttpRule[], ReturnType<typeof req>, boolean, HttpRule | undefined][] = [
    ['exact method+path', [postLanding], req('POST', '/v1/request-landing'), true, postLanding],
    ['method is full-string', [postLanding], req('POSTX', '/v1/request-landing'), false, undefined],
    ['path is full-string', [postLanding], req('POST', '/v1/request-landing/x'), false, undefined],
    ['query is part of path', [postLanding], req('POST', '/v1/request-landing?a=1'), false, undefined],
    ['other path denied', [postLanding], req('PUT', '/v1/exhaust-port'), false, undefined],
    ['prefix regex', [getPublic], req('GET', '/public/a/b'), true, getPublic],
    ['OR across rules', [postLanding, getPublic], req('GET', '/public/x'), true, getPublic],
    ['host regex', [hostOnly], req('GET', '/x', {}, 'api.example.com'), true, hostOnly],
    ['host regex anchored', [hostOnly], req('GET', '/x', {}, 'evil-api.example.com'), false, undefined],
    ['header presence', [needsHeader], req('GET', '/h', { 'x-token': '' }), true, needsHeader],
    ['header missing', [needsHeader], req('GET', '/h'), false, undefined],
    ['header exact value', [headerValue], req('GET', '/hv', { 'x-mode': 'on' }), true, headerValue],
    ['header wrong value', [headerValue], req('GET', '/hv', { 'x-mode': 'onn' }), false, undefined],
    ['empty rule matches all', [rule({})], req('DELETE', '/anything'), true, undefined],
    ['no rules admit nothing', [], req('GET', '/'), false, undefined],
  ];
  it.each(cases)('%s', (_name, rules, r, allowed, matched) => {
    const res = matchHttp(rules, r);
    expect(res.allowed).toBe(allowed);
    if (matched) expect(res.matched).toBe(matched);
  });

  it('invalid regex never matches', () => {
    expect(matchHttp([rule({ path: '*' })], req('GET', '*')).allowed).toBe(false);
  });

  it('headerMatches: mismatch without action fails the rule', () => {
    const r = rule({ headerMatches: [{ name: 'X-Env', value: 'prod' }] });
    expect(matchHttp([r], req('GET', '/', { 'x-env': 'dev' })).allowed).toBe(false);
    expect(matchHttp([r], req('GET', '/', { 'x-env': 'prod' })).allowed).toBe(true);
  });

  it.each(['LOG', 'ADD', 'DELETE', 'REPLACE'] as const)('headerMatches mismatch %s still matches', (kind) => {
    const r = rule({ headerMatches: [{ name: 'X-Env', value: 'prod', mismatch: kind }] });
    const res = matchHttp([r], req('GET', '/', { 'x-env': 'dev' }));
    expect(res.allowed).toBe(true);
    expect(res.actions.map((a) => a.kind)).toEqual([kind]);
    const h = applyHeaderActions({ 'x-env': 'dev' }, res.actions);
    const want = { LOG: 'dev', ADD: ['dev', 'prod'], DELETE: undefined, REPLACE: 'prod' }[kind];
    expect(h['x-env']).toEqual(want);
  });

  it('collects header actions of every matching rule when headerMatches are present', () => {
    const a = rule({ path: '/x', headerMatches: [{ name: 'A', value: '1', mismatch: 'ADD' }] });
    const b = rule({ path: '/.*', headerMatches: [{ name: 'B', value: '2', mismatch: 'REPLACE' }] });
    const res = matchHttp([a, b], req('GET', '/x'));
    expect(res.matched).toBe(a);
    expect(res.actions.map((x) => `${x.kind}:${x.name}`)).toEqual(['ADD:A', 'REPLACE:B']);
  });

  it('multi-valued header is matched joined with ","', () => {
    const r = rule({ headers: [{ name: 'X-A', value: '1,2' }] });
    expect(matchHttp([r], req('GET', '/', { 'x-a': ['1', '2'] })).allowed).toBe(true);
  });
});
