/**
 * Open resolver bugs found by the differential test (test-only data). Each one has a minimal fixture in
 * testdata/fuzz/ whose resolver check is `it.fails` until the bug is fixed, and a precise signature in
 * differential.test.ts so that random flows hitting it are attributed to it (and counted) rather than failing the run.
 * When a resolver fix lands, its fixture starts passing, `it.fails` turns red: delete the entry here.
 */
export const KNOWN_RESOLVER_BUGS = {
  /**
   * resolve/compile.ts `withOverlapping`: a more specific level (byIp, byIdentity, pods) copies a less specific
   * contribution whole when it overlaps any own range, but not the less specific contributions that do not overlap;
   * on ports outside its own ranges the copied one (e.g. the allow-any of enableDefaultDeny=false, a peer-less L4
   * allow) then answers alone, hiding less specific denies (§3.2 step 2) and allows/L7 rules (§3.2 step 4).
   */
  'segments-overlap': 'resolver-overlap-hides-wildcard-deny',
  /**
   * resolve/compile.ts: egress named ports are resolved against the union of the container ports of every pod with
   * the destination's identity (Identity.namedPorts), not the destination pod's own ports (K8s rule 6; Cilium: an
   * ambiguous name is skipped, §1.3).
   */
  'egress-named-port-per-identity': 'resolver-egress-named-port-resolved-per-identity',
  /**
   * evaluate.ts `evaluateFlow`: ranks an ingress L3/L4 denial above an egress L7 denial, but a 403 from the source's
   * egress proxy means the request never reaches the destination (§3.7): the flow is denied-l7.
   */
  'egress-l7-ranked-below-ingress-l3l4': 'resolver-egress-l7-deny-before-ingress',
} as const;

export type KnownResolverBug = keyof typeof KNOWN_RESOLVER_BUGS;
