/**
 * The drop reasons podwall reports, as Hubble names and prints them: the `DropReason` enum name (the flow's
 * `drop_reason_desc`), its code (the drop event's `sub_type`) and the text `hubble observe` shows (Cilium's
 * pkg/monitor/api/drop.go). Policy drops come from both datapaths; the others from the eBPF programs only.
 */
export const DROP_REASONS = {
  INVALID_SOURCE_IP: { code: 132, text: 'Invalid source ip' },
  POLICY_DENIED: { code: 133, text: 'Policy denied' },
  FIRST_LOGICAL_DATAGRAM_FRAGMENT_NOT_FOUND: { code: 175, text: 'First logical datagram fragment not found' },
  SOCKET_LOOKUP_FAILED: { code: 178, text: 'Socket lookup failed' },
  PROXY_REDIRECTION_NOT_SUPPORTED_FOR_PROTOCOL: { code: 180, text: 'Proxy redirection not supported for protocol' },
  POLICY_DENY: { code: 181, text: 'Policy denied by denylist' },
} as const;

export type DropReasonDesc = keyof typeof DROP_REASONS;

const BY_CODE = new Map(
  (Object.entries(DROP_REASONS) as [DropReasonDesc, { code: number; text: string }][]).map(([desc, r]) => [
    r.code,
    desc,
  ]),
);

/** The reason of a Hubble drop code podwall knows, else undefined. */
export function dropReasonOf(code: number): DropReasonDesc | undefined {
  return BY_CODE.get(code);
}
