import { describe, expect, it } from 'vitest';
import { normalizePath } from './path.js';

describe('normalizePath', () => {
  const ok: [string, string][] = [
    ['/', '/'],
    ['/public', '/public'],
    ['/v1/request-landing/../exhaust-port', '/v1/exhaust-port'],
    ['/v1/./a/./b', '/v1/a/b'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/../../etc/passwd', '/etc/passwd'],
    ['/%2e%2e/admin', '/admin'],
    ['/public/%2E%2E/admin', '/admin'],
    ['/public/%2e/x', '/public/x'],
    ['/%7euser/%41%42', '/~user/AB'],
    ['/a%20b', '/a%20b'],
    ['/a%3fb', '/a%3Fb'],
    ['//admin', '/admin'],
    ['/a//b///c', '/a/b/c'],
    ['/a//../b', '/a/b'],
    ['/a\\..\\admin', '/admin'],
    ['/public;jsessionid=1', '/public;jsessionid=1'],
    ['/public?a=1', '/public?a=1'],
    ['/public/../admin?x=/../y', '/admin?x=/../y'],
    ['/q?a=%2F', '/q?a=%2F'],
    ['/é', '/%C3%A9'],
  ];
  it.each(ok)('%s → %s', (raw, want) => {
    expect(normalizePath(raw)).toEqual({ path: want });
  });

  const bad: [string, RegExp][] = [
    ['/public#frag', /fragment/],
    ['/a%2Fb', /encoded slash/],
    ['/a%2f..%2fadmin', /encoded slash/],
    ['/a%5Cb', /encoded slash/],
    ['/a%zz', /malformed/],
    ['/a%4', /malformed/],
    ['/public/..;/admin', /dot segment with parameters/],
    ['/public/%2e;x/admin', /dot segment with parameters/],
    ['http://host/x', /absolute path/],
    ['*', /absolute path/],
  ];
  it.each(bad)('%s is rejected', (raw, why) => {
    const r = normalizePath(raw);
    expect(r.path).toBe('');
    expect(r.error).toMatch(why);
  });
});
