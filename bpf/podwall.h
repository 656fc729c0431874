/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The contract between podwall's eBPF programs (bpf/podwall.bpf.c) and the agent (src/datapath/ebpf/).
 * Every struct here is mirrored byte for byte by src/datapath/ebpf/layout.ts; change both together.
 *
 * Byte order: addresses and ports are network byte order everywhere (as they sit in the packet), identities,
 * counters and flags are host order, except `policy_key.peer` which is big-endian in both of its uses (an IPv4
 * address or an identity) so the LPM trie compares it as written.
 */
#ifndef PODWALL_H
#define PODWALL_H

#include <linux/types.h>

/* Map sizes. The agent checks the desired state against them before writing (an overflow is an error, never a
 * silently missing entry). */
#define PW_MAX_IPCACHE 262144
#define PW_MAX_ENDPOINTS 16384
#define PW_MAX_L2 16384
#define PW_MAX_FRAGS 16384
#define PW_MAX_POLICY 1048576
#define PW_MAX_CT 262144
#define PW_MAX_SERVICES 65536
#define PW_MAX_BACKENDS 262144
#define PW_MAX_REVNAT 65536
#define PW_EVENTS_BYTES (4 * 1024 * 1024)

/* Reserved identities (Cilium's numbering). */
#define PW_ID_HOST 1
#define PW_ID_WORLD 2
/* Cluster-local (pod) identities: the `pods` level applies to peers in this range. */
#define PW_ID_POD_MIN 256
#define PW_ID_POD_MAX 65535

/* skb->mark bits podwall owns on the host. A pod cannot forge them: veth scrubs the mark between namespaces. */
#define PW_MARK_TO_PROXY 0x80000000u /* route locally (ip rule fwmark → local table) to the L7 proxy socket */
#define PW_MARK_JUDGED 0x40000000u   /* from_pod judged this packet (both directions); to_pod lets it through */

/* ipcache: LPM trie, IP/CIDR → identity. Host IPs are /32 entries with PW_ID_HOST. A miss is PW_ID_WORLD. */
struct pw_ipcache_key {
	__u32 prefixlen; /* 0..32 */
	__u32 ip;        /* network order */
};
struct pw_ipcache_val {
	__u32 identity;
};

/* endpoints: hash, local endpoint IP → its identity, host-side ifindex and enforcement flags. */
struct pw_endpoint_key {
	__u32 ip; /* network order */
};
#define PW_EP_INGRESS_ENFORCED 0x1
#define PW_EP_EGRESS_ENFORCED 0x2
#define PW_EP_INGRESS_DEFAULT_ALLOW 0x4
#define PW_EP_EGRESS_DEFAULT_ALLOW 0x8
#define PW_EP_PEER 0x10 /* its interface has a peer in the pod (veth): host routing may hand packets to it */
struct pw_endpoint_val {
	__u32 identity;
	__u32 ifindex; /* host-side veth; from_pod drops a packet whose source IP belongs to another interface */
	__u32 flags;
	__u32 pad;
};

/* policy: LPM trie, one entry per (endpoint, direction, level, protocol, peer, port block).
 * A port range is split into aligned power-of-two blocks; a block of 2^k ports has prefixlen 96 + 16 - k,
 * all ports of a protocol prefixlen 96. Segments of one level never overlap, so a lookup with prefixlen 112
 * finds at most one block: the segment containing the port. ICMP uses the ICMP type as the port. */
#define PW_DIR_INGRESS 0
#define PW_DIR_EGRESS 1
#define PW_LEVEL_IP 0       /* peer = peer IPv4 address (Kubernetes ipBlock rules naming pod IPs) */
#define PW_LEVEL_IDENTITY 1 /* peer = peer identity, big-endian */
#define PW_LEVEL_PODS 2     /* peer = 0; only for peers with a pod identity (PW_ID_POD_MIN..PW_ID_POD_MAX) */
#define PW_LEVEL_WILDCARD 3 /* peer = 0; any peer */
#define PW_POLICY_PREFIX_BASE 96 /* bits of ep_ip, dir, level, proto, pad, peer */
struct pw_policy_key {
	__u32 prefixlen; /* 96..112 */
	__u32 ep_ip;     /* network order */
	__u8 dir;
	__u8 level;
	__u8 proto; /* IPPROTO_TCP / UDP / SCTP / ICMP */
	__u8 pad;   /* 0 */
	__u32 peer; /* big-endian: IPv4 address (level ip) or identity (level identity); 0 otherwise */
	__u16 port; /* network order; ICMP type in the low byte (htons(type)) */
	__u16 pad2; /* 0, never part of a prefix */
};
#define PW_VERDICT_ALLOW 1
#define PW_VERDICT_AUDIT 2    /* logged as AUDIT, let through (never proxied) */
#define PW_VERDICT_DENY 3     /* explicit deny: dropped, POLICY_DENY */
#define PW_VERDICT_REDIRECT 4 /* allowed, to the L7 proxy (allow for traffic from the host) */
struct pw_policy_val {
	__u32 verdict;
};

/* config: array of one element. `generation` moves with every change the agent makes: a connection-tracking
 * entry judged under another generation is judged again on its next packet (that is how a revoke cuts
 * established connections). */
#define PW_CFG_HOST_ROUTING 0x1 /* deliver pod → local pod with bpf_redirect_peer (see from_pod's deliver()) */
struct pw_config {
	__u32 generation;
	__u32 proxy_port; /* host order; 0 = no proxy: redirected traffic is dropped */
	__u32 flags;      /* PW_CFG_* */
	__u32 pad;
};

/* l2: LRU hash, local pod IP → the Ethernet addresses its packets carry and the host-side interface they came
 * through. Learned by from_pod from the pod's own unicast IPv4 packets (the agent never writes it); host routing
 * uses it to hand a packet straight to a local pod as the kernel's forwarding would have addressed it. A stale
 * entry (the IP moved to another interface) is ignored: its ifindex no longer matches `endpoints`. */
struct pw_l2_key {
	__u32 ip; /* network order */
};
struct pw_l2_val {
	__u32 ifindex;     /* the pod's host-side veth, where the packets were seen */
	__u8 pod_mac[6];   /* their source: the pod's own interface */
	__u8 gw_mac[6];    /* their destination: the pod's gateway, i.e. the host-side veth */
};

/* frags: LRU hash, one entry per fragmented datagram: what its first fragment carried in its transport header, so
 * the later fragments (no transport header) are judged as the datagram they belong to. A later fragment without
 * an entry (its first fragment never came, or came after it) is dropped. */
struct pw_frag_key {
	__u32 saddr;
	__u32 daddr;
	__u16 id; /* the IP header's identification, network order */
	__u8 proto;
	__u8 pad;
};
struct pw_frag_val {
	__u16 sport; /* network order; ICMP echo: the identifier */
	__u16 dport;
	__u8 icmp_type;
	__u8 icmp_code;
	__u16 pad;
};

/* ct: LRU hash, one entry per connection keyed by its original-direction tuple (post load-balancing). Replies
 * are found by swapping the tuple. ICMP echo: sport = dport = echo identifier. */
struct pw_ct_key {
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};
#define PW_CT_PROXY 0x1  /* original-direction packets go to the L7 proxy */
#define PW_CT_DENIED 0x2 /* cut by a policy change: dropped silently until a new SYN is judged */
struct pw_ct_val {
	__u32 generation;
	__u32 flags;
	__u64 created_ns;
};

/* Socket load-balancing (cgroup connect4/sendmsg4/recvmsg4/getpeername4): ClusterIP → backend at the socket,
 * so packets leave already addressed to the backend and the tc programs judge the real destination. */
struct pw_svc_key {
	__u32 vip;   /* network order */
	__u16 vport; /* network order */
	__u8 proto;  /* IPPROTO_TCP / UDP */
	__u8 pad;
};
struct pw_svc_val {
	__u32 svc_id; /* > 0, stable per service port */
	__u32 count;  /* backends in slots 0..count-1; 0 = no backends (connect gets ECONNREFUSED) */
};
struct pw_backend_key {
	__u32 svc_id;
	__u32 slot;
};
struct pw_backend_val {
	__u32 ip;   /* network order */
	__u16 port; /* network order */
	__u16 pad;
};
/* revnat: LRU hash, (socket cookie, backend) → the service address the socket asked for (recvmsg4/getpeername4). */
struct pw_revnat_key {
	__u64 cookie;
	__u32 ip;
	__u16 port;
	__u16 pad;
};
struct pw_revnat_val {
	__u32 vip;
	__u16 vport;
	__u16 pad;
};

/* events: ring buffer of policy verdicts for the flow observer. One record per judged, enforced direction of a
 * new connection, and one when an established connection is cut. */
#define PW_EV_VERDICT_ALLOW 1
#define PW_EV_VERDICT_AUDIT 2
#define PW_EV_VERDICT_DENY 3     /* explicit deny (POLICY_DENY) */
#define PW_EV_VERDICT_REDIRECT 4 /* to the L7 proxy */
#define PW_EV_VERDICT_DENIED 5   /* no rule allows it (default deny, POLICY_DENIED) */
#define PW_EV_VERDICT_NO_PROXY 6 /* redirect wanted but no proxy socket: dropped (fail closed) */
#define PW_EV_VERDICT_DROPPED 7  /* dropped by the datapath itself, not by a policy: see drop_reason */
/* pw_event.drop_reason: Hubble's DropReason codes (Cilium's pkg/monitor/api), for DROPPED and NO_PROXY records. */
#define PW_DROP_INVALID_SOURCE_IP 132      /* anti-spoofing: the source address is not the interface's pod */
#define PW_DROP_FRAGMENT_NOT_FOUND 175     /* a later fragment whose first fragment was not seen */
#define PW_DROP_SOCKET_LOOKUP_FAILED 178   /* L7 redirect: no proxy socket */
#define PW_DROP_PROXY_UNSUPPORTED_PROTO 180 /* L7 redirect of a protocol the proxy does not take (not TCP) */
#define PW_EV_LEVEL_IP 0
#define PW_EV_LEVEL_IDENTITY 1
#define PW_EV_LEVEL_PODS 2
#define PW_EV_LEVEL_WILDCARD 3
#define PW_EV_LEVEL_DEFAULT 4
#define PW_EV_LEVEL_HOST 5 /* host → pod with no matching segment: allowed (allow-localhost) */
#define PW_EV_FLAG_CUT 0x1 /* an established connection dropped after a policy change */
struct pw_event {
	__u64 ts_ns; /* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u32 saddr;
	__u32 daddr;
	__u16 sport;
	__u16 dport; /* ICMP: type << 8 | code, in host order */
	__u8 proto;
	__u8 dir; /* PW_DIR_*: whose policy decided (egress of the source, ingress of the destination) */
	__u8 verdict;
	__u8 level;
	__u32 peer_identity; /* identity of the other side, as the decision used it */
	__u32 flags;
	__u32 ifindex;     /* interface the program ran on */
	__u32 drop_reason; /* PW_DROP_* for DROPPED and NO_PROXY records, else 0 */
};

#endif
