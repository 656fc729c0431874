/**
 * DNS name matching for toFQDNs and DNS rules (pkg/policy/api/fqdn.go, pkg/fqdn/matchpattern):
 * names are case-insensitive and fully qualified; in a pattern `*` is any run of DNS characters within one
 * label, a bare `*` matches every name, and a leading `**.` matches one or more labels.
 */

export function normalizeName(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n : `${n}.`;
}

const DNS_CHARS = '[-a-z0-9_]';

export function patternToRegExp(pattern: string): RegExp {
  const p = normalizeName(pattern);
  if (p === '*.') return /^.+$/;
  let body = p;
  let prefix = '';
  if (body.startsWith('**.')) {
    prefix = `(?:${DNS_CHARS}+\\.)+`;
    body = body.slice(3);
  }
  const escaped = body
    .split('')
    .map((c) => (c === '*' ? `${DNS_CHARS}*` : c.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${prefix}${escaped}$`);
}

export function fqdnMatches(sel: { matchName?: string; matchPattern?: string }, name: string): boolean {
  const n = normalizeName(name);
  if (sel.matchName !== undefined) return normalizeName(sel.matchName) === n;
  if (sel.matchPattern !== undefined) return patternToRegExp(sel.matchPattern).test(n);
  return false;
}
