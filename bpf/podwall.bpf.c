/* SPDX-License-Identifier: Apache-2.0 */
/*
 * podwall's eBPF datapath (design: src/datapath/ebpf/README.md, shared layout: podwall.h).
 *
 *   from_pod  tc ingress of a pod's host-side veth: what the pod sends
 *   to_pod    tc egress of the same veth: what reaches the pod without having been judged by a from_pod
 *   sock_*    cgroup v2 socket hooks: ClusterIP → backend before a packet exists
 *
 * The tc programs keep their own connection table (`ct`) so pod traffic needs no netfilter conntrack. An entry is
 * keyed by the connection's original-direction tuple and remembers the policy generation it was judged under; the
 * agent moves `config.generation` with every change, which makes every connection be judged again on its next
 * packet (that is how a revoked policy cuts established connections).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "podwall.h"

#ifndef ECONNREFUSED
#define ECONNREFUSED 111
#endif

/* IPv4 header bits (linux/ip.h pulls in more than we need). */
#define PW_IP_MF 0x2000
#define PW_IP_OFFSET 0x1fff

#define PW_TCP_SYN 0x02
#define PW_TCP_ACK 0x10

#define PW_ICMP_ECHOREPLY 0
#define PW_ICMP_DEST_UNREACH 3
#define PW_ICMP_ECHO 8
#define PW_ICMP_TIME_EXCEEDED 11
#define PW_ICMP_PARAMETERPROB 12

#define PW_POLICY_FULL_PREFIX (PW_POLICY_PREFIX_BASE + 16)

/* ---------------------------------------------------------------------------------------------------------------
 * Maps. Pinned by name under the pin root the agent gives libbpf (its own bpffs), so a restarted agent reuses them
 * and established connections survive the restart.
 */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PW_MAX_IPCACHE);
	__type(key, struct pw_ipcache_key);
	__type(value, struct pw_ipcache_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_MAX_ENDPOINTS);
	__type(key, struct pw_endpoint_key);
	__type(value, struct pw_endpoint_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_MAX_L2);
	__type(key, struct pw_l2_key);
	__type(value, struct pw_l2_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l2 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_MAX_FRAGS);
	__type(key, struct pw_frag_key);
	__type(value, struct pw_frag_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} frags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, PW_MAX_POLICY);
	__type(key, struct pw_policy_key);
	__type(value, struct pw_policy_val);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_MAX_CT);
	__type(key, struct pw_ct_key);
	__type(value, struct pw_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_MAX_SERVICES);
	__type(key, struct pw_svc_key);
	__type(value, struct pw_svc_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_MAX_BACKENDS);
	__type(key, struct pw_backend_key);
	__type(value, struct pw_backend_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PW_MAX_REVNAT);
	__type(key, struct pw_revnat_key);
	__type(value, struct pw_revnat_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} revnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PW_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

/* ---------------------------------------------------------------------------------------------------------------
 * Parsing.
 */

/* Which connection-table lookups a packet may take. ICMP echo keys are symmetric (sport = dport = identifier), so
 * only the type tells a request from a reply: a request is never someone's reply, a reply never a new connection. */
#define PW_LOOKUP_ORIG 0x1
#define PW_LOOKUP_REPLY 0x2

struct pw_pkt {
	struct pw_ct_key tuple; /* as this packet travels */
	__u16 policy_port;      /* network order: the destination port, or htons(ICMP type) */
	__u16 ev_dport;         /* pw_event.dport: the port, or ICMP type << 8 | code in host order */
	__u8 syn;               /* TCP SYN without ACK: always judged as a new connection */
	__u8 lookups;           /* PW_LOOKUP_* */
	__u8 stateful;          /* 0: judged on every packet, never written to `ct` (ICMP other than echo) */
	__u8 icmp_error;        /* ICMP error: `inner` is the offending packet's tuple */
	__u8 ttl;
	__u32 drop_reason;      /* PW_DROP_* when parse drops for a reason worth a record, else 0 */
	struct pw_ct_key inner;
};

enum pw_parse { PW_PARSE_OK, PW_PARSE_PASS, PW_PARSE_DROP };

/* Minimal IPv4 header: the fields we read, laid out as on the wire. */
struct pw_iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__u16 tot_len;
	__u16 id;
	__u16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__u32 saddr;
	__u32 daddr;
};

struct pw_icmphdr {
	__u8 type;
	__u8 code;
	__u16 check;
	__u16 id;
	__u16 seq;
};

/* The first bytes of a TCP header: ports and flags in one load. */
struct pw_tcp_head {
	__u16 sport;
	__u16 dport;
	__u32 seq;
	__u32 ack_seq;
	__u8 doff;
	__u8 flags;
};

/* Ports of a transport header at `off` into `k` (ICMP: the echo identifier, both ways). For ICMP, type and code are
 * filled too; for TCP, the flags when `tcp_flags` is given (an ICMP error quotes only 8 bytes of the transport
 * header, too few for them). Returns < 0 when the header is not there. */
static __always_inline int load_ports(struct __sk_buff *skb, __u32 off, struct pw_ct_key *k, __u8 *type, __u8 *code,
				      __u8 *tcp_flags)
{
	if (k->proto == IPPROTO_TCP && tcp_flags) {
		struct pw_tcp_head th;

		if (bpf_skb_load_bytes(skb, off, &th, sizeof(th)) < 0)
			return -1;
		k->sport = th.sport;
		k->dport = th.dport;
		*tcp_flags = th.flags;
	} else if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP || k->proto == IPPROTO_SCTP) {
		__u16 ports[2];

		if (bpf_skb_load_bytes(skb, off, ports, sizeof(ports)) < 0)
			return -1;
		k->sport = ports[0];
		k->dport = ports[1];
	} else if (k->proto == IPPROTO_ICMP) {
		struct pw_icmphdr ic;

		if (bpf_skb_load_bytes(skb, off, &ic, sizeof(ic)) < 0)
			return -1;
		*type = ic.type;
		*code = ic.code;
		if (ic.type == PW_ICMP_ECHO || ic.type == PW_ICMP_ECHOREPLY) {
			k->sport = ic.id;
			k->dport = ic.id;
		}
	}
	/* Other protocols carry no ports: the tuple is the address pair, the policy port 0. */
	return 0;
}

static __always_inline int is_icmp_error(__u8 type)
{
	return type == PW_ICMP_DEST_UNREACH || type == PW_ICMP_TIME_EXCEEDED || type == PW_ICMP_PARAMETERPROB;
}

/* The packet an ICMP error quotes (at `off`: its IP header, then at least 8 bytes of its transport header). */
static __always_inline int parse_icmp_inner(struct __sk_buff *skb, __u32 off, struct pw_ct_key *inner)
{
	struct pw_iphdr ip;
	__u8 type = 0, code = 0;

	if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
		return -1;
	if ((ip.ver_ihl >> 4) != 4 || (ip.ver_ihl & 0xf) < 5)
		return -1;
	inner->saddr = ip.saddr;
	inner->daddr = ip.daddr;
	inner->proto = ip.protocol;
	return load_ports(skb, off + (ip.ver_ihl & 0xf) * 4, inner, &type, &code, NULL);
}

/*
 * Fragments. The first fragment carries the transport header: its ports (ICMP: type, code, identifier) are
 * recorded under (saddr, daddr, IP id, proto). A later fragment takes them from there, so every fragment of a
 * datagram gets the datagram's verdict (the first one's connection entry lets the rest through) and arrives for
 * the destination to reassemble. Returns < 0 for a later fragment nobody recorded.
 */
static __always_inline struct pw_frag_key frag_key(const struct pw_iphdr *ip)
{
	struct pw_frag_key fk = { .saddr = ip->saddr, .daddr = ip->daddr, .id = ip->id, .proto = ip->protocol };

	return fk;
}

static __always_inline int later_fragment_ports(const struct pw_iphdr *ip, struct pw_ct_key *k, __u8 *type,
						__u8 *code)
{
	struct pw_frag_key fk = frag_key(ip);
	struct pw_frag_val *fv = bpf_map_lookup_elem(&frags, &fk);

	if (!fv)
		return -1;
	k->sport = fv->sport;
	k->dport = fv->dport;
	*type = fv->icmp_type;
	*code = fv->icmp_code;
	return 0;
}

static __always_inline void record_first_fragment(const struct pw_iphdr *ip, const struct pw_ct_key *k, __u8 type,
						  __u8 code)
{
	struct pw_frag_key fk = frag_key(ip);
	struct pw_frag_val fv = { .sport = k->sport, .dport = k->dport, .icmp_type = type, .icmp_code = code };

	bpf_map_update_elem(&frags, &fk, &fv, BPF_ANY);
}

static __always_inline enum pw_parse parse(struct __sk_buff *skb, struct pw_pkt *p)
{
	struct pw_iphdr ip;
	__u8 tcp_flags = 0, type = 0, code = 0;
	__u32 l4;
	int later;

	/* The cluster is IPv4-only: IPv6 to or from a pod could only dodge the policy (say, to the host over link-local
	 * addresses). Dropped, as Cilium drops it when IPv6 is disabled; without a record (pw_event carries IPv4). */
	if (skb->protocol == bpf_htons(ETH_P_IPV6))
		return PW_PARSE_DROP;
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return PW_PARSE_PASS;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return PW_PARSE_DROP;
	if ((ip.ver_ihl >> 4) != 4 || (ip.ver_ihl & 0xf) < 5)
		return PW_PARSE_DROP;
	later = (ip.frag_off & bpf_htons(PW_IP_OFFSET)) != 0;

	p->tuple.saddr = ip.saddr;
	p->tuple.daddr = ip.daddr;
	p->tuple.proto = ip.protocol;
	p->ttl = ip.ttl;
	p->lookups = PW_LOOKUP_ORIG | PW_LOOKUP_REPLY;
	p->stateful = 1;
	l4 = ETH_HLEN + (ip.ver_ihl & 0xf) * 4;

	if (later) {
		if (later_fragment_ports(&ip, &p->tuple, &type, &code) < 0) {
			p->drop_reason = PW_DROP_FRAGMENT_NOT_FOUND;
			return PW_PARSE_DROP;
		}
	} else {
		if (load_ports(skb, l4, &p->tuple, &type, &code, &tcp_flags) < 0)
			return PW_PARSE_DROP;
		if (ip.frag_off & bpf_htons(PW_IP_MF))
			record_first_fragment(&ip, &p->tuple, type, code);
	}
	p->policy_port = p->tuple.dport;
	p->ev_dport = p->tuple.dport;

	if (ip.protocol == IPPROTO_TCP) {
		p->syn = (tcp_flags & (PW_TCP_SYN | PW_TCP_ACK)) == PW_TCP_SYN;
	} else if (ip.protocol == IPPROTO_ICMP) {
		/* The ICMP type is the policy "port"; events show type and code. */
		p->policy_port = bpf_htons(type);
		p->ev_dport = (__u16)type << 8 | code;
		if (type == PW_ICMP_ECHO) {
			p->lookups = PW_LOOKUP_ORIG;
		} else if (type == PW_ICMP_ECHOREPLY) {
			p->lookups = PW_LOOKUP_REPLY;
		} else if (is_icmp_error(type)) {
			/* An error quotes at most 576 bytes and is never fragmented; a fragmented one is forged. */
			if (later || (ip.frag_off & bpf_htons(PW_IP_MF)))
				return PW_PARSE_DROP;
			if (parse_icmp_inner(skb, l4 + sizeof(struct pw_icmphdr), &p->inner) < 0)
				return PW_PARSE_DROP;
			p->icmp_error = 1;
		} else {
			/* Informational types without an identifier we track: judged packet by packet. */
			p->stateful = 0;
		}
	}
	return PW_PARSE_OK;
}

static __always_inline void swap_tuple(const struct pw_ct_key *in, struct pw_ct_key *out)
{
	out->saddr = in->daddr;
	out->daddr = in->saddr;
	out->sport = in->dport;
	out->dport = in->sport;
	out->proto = in->proto;
}

/* The policy port of a connection known only by its original tuple: ICMP connections in `ct` are echo requests. */
static __always_inline __u16 orig_policy_port(const struct pw_ct_key *orig)
{
	return orig->proto == IPPROTO_ICMP ? bpf_htons(PW_ICMP_ECHO) : orig->dport;
}

static __always_inline __u16 orig_ev_dport(const struct pw_ct_key *orig)
{
	return orig->proto == IPPROTO_ICMP ? PW_ICMP_ECHO << 8 : orig->dport;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Lookups.
 */

static __always_inline struct pw_config *config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&config, &zero);
}

static __always_inline struct pw_endpoint_val *endpoint_of(__u32 ip)
{
	struct pw_endpoint_key k = { .ip = ip };

	return bpf_map_lookup_elem(&endpoints, &k);
}

/* Identity of an address: longest ipcache prefix; a miss is the world. */
static __always_inline __u32 identity_of(__u32 ip)
{
	struct pw_ipcache_key k = { .prefixlen = 32, .ip = ip };
	struct pw_ipcache_val *v = bpf_map_lookup_elem(&ipcache, &k);

	return v ? v->identity : PW_ID_WORLD;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Judging (mirrors evaluateDirection in src/datapath/fake/fake-driver.ts).
 */

/* What one direction decided. verdict is a PW_EV_VERDICT_*, 0 when the direction is not enforced (no event). */
struct pw_decision {
	__u8 verdict;
	__u8 level;
	__u8 dir;
	__u8 pad;
	__u32 peer_identity;
};

static __always_inline int decision_drops(const struct pw_decision *d)
{
	return d->verdict == PW_EV_VERDICT_DENY || d->verdict == PW_EV_VERDICT_DENIED;
}

static __always_inline struct pw_policy_val *policy_level(struct pw_policy_key *k, __u8 level, __u32 peer_be)
{
	k->level = level;
	k->peer = peer_be;
	return bpf_map_lookup_elem(&policy, k);
}

/* One direction of one endpoint. `peer_ip`/`peer_id` are the other side; `port_be` the policy port. The segments
 * of one level never overlap, so one full-length LPM lookup per level finds the segment holding the port, if any;
 * the first level with a hit decides. */
static __always_inline void judge_direction(__u32 ep_ip, const struct pw_endpoint_val *ep, __u8 dir, __u32 peer_ip,
					    __u32 peer_id, __u8 proto, __u16 port_be, struct pw_decision *d)
{
	__u32 enforced = dir == PW_DIR_INGRESS ? PW_EP_INGRESS_ENFORCED : PW_EP_EGRESS_ENFORCED;
	__u32 default_allow = dir == PW_DIR_INGRESS ? PW_EP_INGRESS_DEFAULT_ALLOW : PW_EP_EGRESS_DEFAULT_ALLOW;
	/* The host reaching a pod: allowed unless a segment says otherwise, never proxied (allow-localhost). */
	int from_host = dir == PW_DIR_INGRESS && peer_id == PW_ID_HOST;
	struct pw_policy_key k = {
		.prefixlen = PW_POLICY_FULL_PREFIX,
		.ep_ip = ep_ip,
		.dir = dir,
		.proto = proto,
		.port = port_be,
	};
	struct pw_policy_val *v = NULL;
	__u8 level = PW_LEVEL_IP;

	d->dir = dir;
	d->peer_identity = peer_id;
	d->verdict = 0;
	if (!(ep->flags & enforced))
		return;

	/* The ip level holds pod IPs named by ipBlock rules; the host is not judged by address. */
	if (!from_host)
		v = policy_level(&k, PW_LEVEL_IP, peer_ip);
	if (!v) {
		level = PW_LEVEL_IDENTITY;
		v = policy_level(&k, PW_LEVEL_IDENTITY, bpf_htonl(peer_id));
	}
	if (!v && peer_id >= PW_ID_POD_MIN && peer_id <= PW_ID_POD_MAX) {
		level = PW_LEVEL_PODS;
		v = policy_level(&k, PW_LEVEL_PODS, 0);
	}
	if (!v) {
		level = PW_LEVEL_WILDCARD;
		v = policy_level(&k, PW_LEVEL_WILDCARD, 0);
	}

	if (v) {
		d->level = level;
		switch (v->verdict) {
		case PW_VERDICT_ALLOW:
			d->verdict = PW_EV_VERDICT_ALLOW;
			break;
		case PW_VERDICT_AUDIT:
			d->verdict = PW_EV_VERDICT_AUDIT;
			break;
		case PW_VERDICT_REDIRECT:
			d->verdict = from_host ? PW_EV_VERDICT_ALLOW : PW_EV_VERDICT_REDIRECT;
			break;
		default: /* PW_VERDICT_DENY, and anything we do not know: fail closed */
			d->verdict = PW_EV_VERDICT_DENY;
			break;
		}
		return;
	}
	if (from_host) {
		d->verdict = PW_EV_VERDICT_ALLOW;
		d->level = PW_EV_LEVEL_HOST;
	} else if (ep->flags & default_allow) {
		d->verdict = PW_EV_VERDICT_ALLOW;
		d->level = PW_EV_LEVEL_DEFAULT;
	} else {
		d->verdict = PW_EV_VERDICT_DENIED;
		d->level = PW_EV_LEVEL_DEFAULT;
	}
}

enum pw_action { PW_ACT_DROP, PW_ACT_PASS, PW_ACT_PROXY };

struct pw_judgment {
	struct pw_decision eg; /* egress of the source endpoint */
	struct pw_decision in; /* ingress of the destination endpoint */
};

/* A connection `t`: egress of `src_ep` (when given), then ingress of `dst_ep` (when given, and egress did not
 * drop). The identities of both peers come from the ipcache, never from `endpoints`: the ipcache is what the
 * agent says an address is (a pod without a /32 entry is seen through its CIDR, as evaluateDirection sees it). */
static __always_inline enum pw_action judge_connection(const struct pw_ct_key *t, __u16 port_be,
						       const struct pw_endpoint_val *src_ep,
						       const struct pw_endpoint_val *dst_ep, struct pw_judgment *j)
{
	int redirect = 0;

	if (src_ep) {
		judge_direction(t->saddr, src_ep, PW_DIR_EGRESS, t->daddr, identity_of(t->daddr), t->proto, port_be,
				&j->eg);
		if (decision_drops(&j->eg))
			return PW_ACT_DROP;
		redirect = j->eg.verdict == PW_EV_VERDICT_REDIRECT;
	}
	if (dst_ep) {
		judge_direction(t->daddr, dst_ep, PW_DIR_INGRESS, t->saddr, identity_of(t->saddr), t->proto, port_be,
				&j->in);
		if (decision_drops(&j->in))
			return PW_ACT_DROP;
		redirect |= j->in.verdict == PW_EV_VERDICT_REDIRECT;
	}
	return redirect ? PW_ACT_PROXY : PW_ACT_PASS;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Events.
 */

static __always_inline void emit_record(struct __sk_buff *skb, const struct pw_ct_key *t, __u16 ev_dport,
					const struct pw_decision *d, __u8 verdict, __u32 flags, __u32 drop_reason)
{
	struct pw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return; /* the reader is behind: losing a log record never changes a verdict */
	e->ts_ns = bpf_ktime_get_ns();
	e->saddr = t->saddr;
	e->daddr = t->daddr;
	e->sport = t->proto == IPPROTO_ICMP ? 0 : t->sport;
	e->dport = ev_dport;
	e->proto = t->proto;
	e->dir = d->dir;
	e->verdict = verdict;
	e->level = d->level;
	e->peer_identity = d->peer_identity;
	e->flags = flags;
	e->ifindex = skb->ifindex;
	e->drop_reason = drop_reason;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void emit(struct __sk_buff *skb, const struct pw_ct_key *t, __u16 ev_dport,
				 const struct pw_decision *d, __u8 verdict, __u32 flags)
{
	emit_record(skb, t, ev_dport, d, verdict, flags, 0);
}

/* A drop that is not a policy's: which way the packet went (PW_DIR_*) and why (PW_DROP_*). */
static __always_inline void emit_drop(struct __sk_buff *skb, const struct pw_pkt *p, __u8 dir, __u32 reason)
{
	struct pw_decision d = { .dir = dir };

	emit_record(skb, &p->tuple, p->ev_dport, &d, PW_EV_VERDICT_DROPPED, 0, reason);
}

/* Redirect wanted, the proxy cannot take it: the decision that wanted it, and why it could not. */
static __always_inline void emit_no_proxy(struct __sk_buff *skb, const struct pw_pkt *p, const struct pw_decision *d)
{
	__u32 reason = p->tuple.proto == IPPROTO_TCP ? PW_DROP_SOCKET_LOOKUP_FAILED : PW_DROP_PROXY_UNSUPPORTED_PROTO;

	emit_record(skb, &p->tuple, p->ev_dport, d, PW_EV_VERDICT_NO_PROXY, 0, reason);
}

/* One record per enforced direction judged for a new connection. */
static __always_inline void emit_judgment(struct __sk_buff *skb, const struct pw_ct_key *t, __u16 ev_dport,
					  const struct pw_judgment *j)
{
	if (j->eg.verdict)
		emit(skb, t, ev_dport, &j->eg, j->eg.verdict, 0);
	if (j->in.verdict)
		emit(skb, t, ev_dport, &j->in, j->in.verdict, 0);
}

/* The direction that wanted the proxy (egress first), for the NO_PROXY record. */
static __always_inline const struct pw_decision *redirecting(const struct pw_judgment *j)
{
	return j->eg.verdict == PW_EV_VERDICT_REDIRECT ? &j->eg : &j->in;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Connection table.
 */

static __always_inline void ct_write(const struct pw_ct_key *k, __u32 gen, __u32 flags)
{
	struct pw_ct_val v = { .generation = gen, .flags = flags, .created_ns = bpf_ktime_get_ns() };

	bpf_map_update_elem(&ct, k, &v, BPF_ANY);
}

static __always_inline enum pw_action ct_action(const struct pw_ct_val *v)
{
	if (v->flags & PW_CT_DENIED)
		return PW_ACT_DROP;
	return (v->flags & PW_CT_PROXY) ? PW_ACT_PROXY : PW_ACT_PASS;
}

/*
 * A connection judged under an older generation: judge its original tuple again, both directions whose endpoint is
 * local. A drop cuts it: the entry keeps PW_CT_DENIED (packets are dropped silently until a new SYN is judged) and
 * one CUT record is written, unless it was already cut. A proxied connection stays proxied (the proxy holds its
 * socket and applies L7 rules itself); a plain one whose policy now wants the proxy moves there (the proxy's
 * kernel resets the unknown stream, as with nftables' tproxy).
 */
static __always_inline enum pw_action rejudge(struct __sk_buff *skb, const struct pw_ct_key *orig, struct pw_ct_val *v,
					      __u32 gen)
{
	struct pw_endpoint_val *src_ep = endpoint_of(orig->saddr);
	struct pw_endpoint_val *dst_ep = endpoint_of(orig->daddr);
	struct pw_judgment j = {};
	enum pw_action act;
	__u32 flags = 0;

	act = judge_connection(orig, orig_policy_port(orig), src_ep, dst_ep, &j);
	if (act == PW_ACT_DROP) {
		if (!(v->flags & PW_CT_DENIED)) {
			const struct pw_decision *d = decision_drops(&j.eg) ? &j.eg : &j.in;

			emit(skb, orig, orig_ev_dport(orig), d, d->verdict, PW_EV_FLAG_CUT);
		}
		flags = PW_CT_DENIED;
	} else if (act == PW_ACT_PROXY || (v->flags & PW_CT_PROXY)) {
		flags = PW_CT_PROXY;
		act = PW_ACT_PROXY;
	}
	v->generation = gen;
	v->flags = flags;
	return act;
}

/* ICMP errors are let through when they quote a packet of a connection we passed (either direction). */
static __always_inline int icmp_error_related(const struct pw_pkt *p)
{
	struct pw_ct_key rev = {};
	struct pw_ct_val *v = bpf_map_lookup_elem(&ct, &p->inner);

	if (!v) {
		swap_tuple(&p->inner, &rev);
		v = bpf_map_lookup_elem(&ct, &rev);
	}
	return v && !(v->flags & PW_CT_DENIED);
}

/* ---------------------------------------------------------------------------------------------------------------
 * L7 redirect: hand the packet to the proxy's socket right here (no TPROXY, no netfilter). The mark makes policy
 * routing deliver the packet locally although its destination is not a local address.
 */
static __always_inline int to_proxy(struct __sk_buff *skb, const struct pw_ct_key *t, const struct pw_config *cfg)
{
	struct bpf_sock_tuple tup = {};
	struct bpf_sock *sk;
	long err;

	if (t->proto != IPPROTO_TCP || !cfg || !cfg->proxy_port)
		return -1;
	tup.ipv4.saddr = t->saddr;
	tup.ipv4.daddr = t->daddr;
	tup.ipv4.sport = t->sport;
	tup.ipv4.dport = t->dport;
	/* The proxy's accepted socket for this very connection (it is bound to the original destination)... */
	sk = bpf_skc_lookup_tcp(skb, &tup, sizeof(tup.ipv4), BPF_F_CURRENT_NETNS, 0);
	if (sk && sk->state == BPF_TCP_LISTEN) {
		/* ...not some local listener on the original port. */
		bpf_sk_release(sk);
		sk = NULL;
	}
	if (!sk) {
		/* ...else its listener (0.0.0.0:proxy_port, IP_TRANSPARENT) takes the SYN. */
		tup.ipv4.dport = bpf_htons((__u16)cfg->proxy_port);
		sk = bpf_skc_lookup_tcp(skb, &tup, sizeof(tup.ipv4), BPF_F_CURRENT_NETNS, 0);
	}
	if (!sk)
		return -1;
	err = bpf_sk_assign(skb, sk, 0);
	bpf_sk_release(sk);
	if (err)
		return -1;
	skb->mark |= PW_MARK_TO_PROXY;
	return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Host routing: pod → local pod without the host's IP stack.
 */

/* The Ethernet addresses of what a pod sends, learned from its packets: the source is the pod's interface, the
 * destination its gateway (the host-side veth). A broadcast or multicast destination says nothing about the
 * gateway and is not learned. One lookup per packet; a write only when the pod is new or moved. */
static __always_inline void learn_l2(struct __sk_buff *skb, __u32 ip)
{
	struct pw_l2_key k = { .ip = ip };
	struct pw_l2_val *known = bpf_map_lookup_elem(&l2, &k);
	struct pw_l2_val v = { .ifindex = skb->ifindex };
	__u8 macs[12]; /* destination, source: the frame's first 12 bytes */

	if (known && known->ifindex == skb->ifindex)
		return;
	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) < 0 || (macs[0] & 1))
		return;
	__builtin_memcpy(v.gw_mac, macs, 6);
	__builtin_memcpy(v.pod_mac, macs + 6, 6);
	bpf_map_update_elem(&l2, &k, &v, BPF_ANY);
}

/*
 * Hand a packet from_pod has judged and passed to its destination. A local pod whose addresses are known gets it
 * straight into its namespace (bpf_redirect_peer onto its veth's peer), addressed as the kernel's forwarding would
 * have addressed it: TTL decremented, the pod's gateway as source MAC, the pod's interface as destination. This
 * skips the host's routing, netfilter hooks and the second veth hop, as Cilium's BPF host routing does; both
 * directions were judged here, so to_pod has nothing to add. Anything else (the host, another node, an unknown
 * or moved pod, a TTL about to expire, host routing off) goes through the host's stack with PW_MARK_JUDGED.
 * `dst_ep`: the destination's endpoint when the caller has it, else NULL (looked up here, only when needed).
 */
static __always_inline int deliver(struct __sk_buff *skb, const struct pw_pkt *p, const struct pw_endpoint_val *dst_ep,
				   const struct pw_config *cfg)
{
	struct pw_l2_key k = { .ip = p->tuple.daddr };
	struct pw_l2_val *dst;
	__u8 macs[12];
	__u16 old_word, new_word;

	if (!cfg || !(cfg->flags & PW_CFG_HOST_ROUTING) || p->ttl <= 1)
		goto stack;
	if (!dst_ep)
		dst_ep = endpoint_of(p->tuple.daddr);
	/* bpf_redirect_peer drops what it cannot deliver: only an interface with a peer in the pod (veth) qualifies. */
	if (!dst_ep || !dst_ep->ifindex || !(dst_ep->flags & PW_EP_PEER))
		goto stack;
	dst = bpf_map_lookup_elem(&l2, &k);
	if (!dst || dst->ifindex != dst_ep->ifindex)
		goto stack;
	__builtin_memcpy(macs, dst->pod_mac, 6);
	__builtin_memcpy(macs + 6, dst->gw_mac, 6);
	/* TTL and protocol share the header's fifth 16-bit word; the checksum is updated for it. */
	old_word = bpf_htons((__u16)p->ttl << 8 | p->tuple.proto);
	new_word = bpf_htons((__u16)(p->ttl - 1) << 8 | p->tuple.proto);
	/* A failed write (no memory to unshare the header) leaves a half-rewritten packet: drop it, as the stack
	 * drops what it cannot copy. */
	if (bpf_skb_store_bytes(skb, ETH_HLEN + 8, &new_word, sizeof(new_word), 0) < 0 ||
	    bpf_l3_csum_replace(skb, ETH_HLEN + 10, old_word, new_word, sizeof(new_word)) < 0 ||
	    bpf_skb_store_bytes(skb, 0, macs, sizeof(macs), 0) < 0)
		return TC_ACT_SHOT;
	return bpf_redirect_peer(dst_ep->ifindex, 0);
stack:
	skb->mark |= PW_MARK_JUDGED;
	return TC_ACT_OK;
}

/* ---------------------------------------------------------------------------------------------------------------
 * from_pod: tc ingress of the pod's host-side veth.
 */

static __always_inline int from_pod_new(struct __sk_buff *skb, const struct pw_pkt *p,
					const struct pw_endpoint_val *src_ep, const struct pw_config *cfg, __u32 gen)
{
	struct pw_endpoint_val *dst_ep = endpoint_of(p->tuple.daddr);
	struct pw_judgment j = {};
	enum pw_action act;

	/* Both ends judged here when the destination is local: its to_pod lets the packet through (PW_MARK_JUDGED). */
	act = judge_connection(&p->tuple, p->policy_port, src_ep, dst_ep, &j);
	emit_judgment(skb, &p->tuple, p->ev_dport, &j);
	if (act == PW_ACT_DROP)
		return TC_ACT_SHOT;
	if (act == PW_ACT_PROXY) {
		if (to_proxy(skb, &p->tuple, cfg) < 0) {
			const struct pw_decision *d = redirecting(&j);

			emit_no_proxy(skb, p, d);
			return TC_ACT_SHOT;
		}
		ct_write(&p->tuple, gen, PW_CT_PROXY);
		return TC_ACT_OK;
	}
	if (p->stateful)
		ct_write(&p->tuple, gen, 0);
	return deliver(skb, p, dst_ep, cfg);
}

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	struct pw_pkt p = {};
	struct pw_endpoint_val *src_ep;
	struct pw_config *cfg;
	struct pw_ct_val *v;
	enum pw_action act;
	__u32 gen;

	switch (parse(skb, &p)) {
	case PW_PARSE_PASS:
		return TC_ACT_OK;
	case PW_PARSE_DROP:
		if (p.drop_reason)
			emit_drop(skb, &p, PW_DIR_EGRESS, p.drop_reason);
		return TC_ACT_SHOT;
	default:
		break;
	}

	/* Anti-spoofing: every identity below is derived from the source address, so it must be this pod's. */
	src_ep = endpoint_of(p.tuple.saddr);
	if (!src_ep || src_ep->ifindex != skb->ifindex) {
		emit_drop(skb, &p, PW_DIR_EGRESS, PW_DROP_INVALID_SOURCE_IP);
		return TC_ACT_SHOT;
	}
	learn_l2(skb, p.tuple.saddr);

	cfg = config_get();
	gen = cfg ? cfg->generation : 0;

	if (p.icmp_error) {
		if (!icmp_error_related(&p))
			return TC_ACT_SHOT;
		skb->mark |= PW_MARK_JUDGED;
		return TC_ACT_OK;
	}

	/* Fast path: an established connection, original direction, judged under the current generation. */
	if (p.stateful && (p.lookups & PW_LOOKUP_ORIG) && !p.syn) {
		v = bpf_map_lookup_elem(&ct, &p.tuple);
		if (v) {
			act = v->generation == gen ? ct_action(v) : rejudge(skb, &p.tuple, v, gen);
			if (act == PW_ACT_DROP)
				return TC_ACT_SHOT;
			if (act == PW_ACT_PROXY)
				return to_proxy(skb, &p.tuple, cfg) < 0 ? TC_ACT_SHOT : TC_ACT_OK;
			return deliver(skb, &p, NULL, cfg);
		}
	}

	/* A reply (the pod answering a connection made to it): never proxied. */
	if (p.stateful && (p.lookups & PW_LOOKUP_REPLY) && !p.syn) {
		struct pw_ct_key orig = {};

		swap_tuple(&p.tuple, &orig);
		v = bpf_map_lookup_elem(&ct, &orig);
		if (v) {
			act = v->generation == gen ? ct_action(v) : rejudge(skb, &orig, v, gen);
			if (act == PW_ACT_DROP)
				return TC_ACT_SHOT;
			return deliver(skb, &p, NULL, cfg);
		}
	}

	/* An echo reply nobody asked for (conntrack calls it invalid): it must not open the way for "replies". */
	if (!(p.lookups & PW_LOOKUP_ORIG))
		return TC_ACT_SHOT;
	return from_pod_new(skb, &p, src_ep, cfg, gen);
}

/* ---------------------------------------------------------------------------------------------------------------
 * to_pod: tc egress of the pod's host-side veth, for packets no from_pod judged (from the host, the proxy, or
 * another node). Only the destination's ingress policy applies.
 */

static __always_inline int to_pod_new(struct __sk_buff *skb, const struct pw_pkt *p, __u32 gen)
{
	struct pw_endpoint_val *dst_ep = endpoint_of(p->tuple.daddr);
	struct pw_judgment j = {};
	enum pw_action act;

	if (!dst_ep)
		return TC_ACT_OK; /* not addressed to the pod: nothing of ours to judge */
	act = judge_connection(&p->tuple, p->policy_port, NULL, dst_ep, &j);
	emit_judgment(skb, &p->tuple, p->ev_dport, &j);
	if (act == PW_ACT_DROP)
		return TC_ACT_SHOT;
	if (act == PW_ACT_PROXY) {
		/* A redirect for a non-host peer arriving here cannot reach the proxy: bpf_sk_assign works at tc ingress
		 * only. Fail closed. (The host's redirects were turned into allows by judge_direction.) */
		emit_no_proxy(skb, p, &j.in);
		return TC_ACT_SHOT;
	}
	if (p->stateful)
		ct_write(&p->tuple, gen, 0);
	return TC_ACT_OK;
}

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	struct pw_pkt p = {};
	struct pw_config *cfg;
	struct pw_ct_val *v;
	enum pw_action act;
	__u32 gen;

	if (skb->mark & PW_MARK_JUDGED) {
		skb->mark &= ~PW_MARK_JUDGED;
		return TC_ACT_OK;
	}

	switch (parse(skb, &p)) {
	case PW_PARSE_PASS:
		return TC_ACT_OK;
	case PW_PARSE_DROP:
		if (p.drop_reason)
			emit_drop(skb, &p, PW_DIR_INGRESS, p.drop_reason);
		return TC_ACT_SHOT;
	default:
		break;
	}

	cfg = config_get();
	gen = cfg ? cfg->generation : 0;

	if (p.icmp_error)
		return icmp_error_related(&p) ? TC_ACT_OK : TC_ACT_SHOT;

	if (p.stateful && (p.lookups & PW_LOOKUP_ORIG) && !p.syn) {
		v = bpf_map_lookup_elem(&ct, &p.tuple);
		if (v) {
			act = v->generation == gen ? ct_action(v) : rejudge(skb, &p.tuple, v, gen);
			/* The proxy is reachable from tc ingress only; a proxied connection's packets never come here. */
			return act == PW_ACT_PASS ? TC_ACT_OK : TC_ACT_SHOT;
		}
	}

	if (p.stateful && (p.lookups & PW_LOOKUP_REPLY) && !p.syn) {
		struct pw_ct_key orig = {};

		swap_tuple(&p.tuple, &orig);
		v = bpf_map_lookup_elem(&ct, &orig);
		if (v) {
			act = v->generation == gen ? ct_action(v) : rejudge(skb, &orig, v, gen);
			return act == PW_ACT_DROP ? TC_ACT_SHOT : TC_ACT_OK;
		}
	}

	if (!(p.lookups & PW_LOOKUP_ORIG))
		return TC_ACT_SHOT;
	return to_pod_new(skb, &p, gen);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Socket load balancing: a connect()/sendmsg() to a ClusterIP is rewritten to one backend before any packet
 * exists, so the tc programs only ever see (and judge) the real destination.
 */

/* The backend for a service address; NULL: not a service. *refuse: a service without (reachable) backends. */
static __always_inline struct pw_backend_val *pick_backend(struct bpf_sock_addr *ctx, int *refuse)
{
	struct pw_svc_key sk = {
		.vip = ctx->user_ip4,
		.vport = (__u16)ctx->user_port, /* network order in the low 16 bits */
		.proto = (__u8)ctx->protocol,
	};
	struct pw_backend_key bk = {};
	struct pw_svc_val *svc;
	struct pw_backend_val *be;

	*refuse = 0;
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return NULL;
	svc = bpf_map_lookup_elem(&services, &sk);
	if (!svc)
		return NULL;
	if (!svc->count) {
		*refuse = 1;
		return NULL;
	}
	bk.svc_id = svc->svc_id;
	bk.slot = bpf_get_prandom_u32() % svc->count;
	be = bpf_map_lookup_elem(&backends, &bk);
	/* A slot the agent has not written (yet): refusing beats sending to a ClusterIP nothing answers. */
	if (!be)
		*refuse = 1;
	return be;
}

/* Rewrite a service address to a backend. Returns the program's verdict: 1 = go on, 0 = refuse. A refusal
 * reports ECONNREFUSED (bpf_set_retval) instead of the EPERM a bare 0 gives. */
static __always_inline int translate(struct bpf_sock_addr *ctx)
{
	struct pw_backend_val *be;
	int refuse;

	be = pick_backend(ctx, &refuse);
	if (!be) {
		if (!refuse)
			return 1;
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}
	if (ctx->protocol == IPPROTO_UDP) {
		/* UDP sees the backend's address on every datagram: remember what the socket asked for. TCP needs no
		 * entry (a connected stream is addressed once). */
		struct pw_revnat_key rk = { .cookie = bpf_get_socket_cookie(ctx), .ip = be->ip, .port = be->port };
		struct pw_revnat_val rv = { .vip = ctx->user_ip4, .vport = (__u16)ctx->user_port };

		bpf_map_update_elem(&revnat, &rk, &rv, BPF_ANY);
	}
	ctx->user_ip4 = be->ip;
	ctx->user_port = be->port;
	return 1;
}

/* Backend address → the service address the socket used (recvmsg's source, getpeername's peer). */
static __always_inline void reverse(struct bpf_sock_addr *ctx)
{
	struct pw_revnat_key rk = {
		.cookie = bpf_get_socket_cookie(ctx),
		.ip = ctx->user_ip4,
		.port = (__u16)ctx->user_port,
	};
	struct pw_revnat_val *rv;

	if (ctx->protocol != IPPROTO_UDP)
		return;
	rv = bpf_map_lookup_elem(&revnat, &rk);
	if (!rv)
		return;
	ctx->user_ip4 = rv->vip;
	ctx->user_port = rv->vport;
}

SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	return translate(ctx);
}

SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return translate(ctx);
}

SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	reverse(ctx);
	return 1; /* the only value the kernel accepts here */
}

SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	reverse(ctx);
	return 1;
}

/* Apache-2.0 is not a GPL-compatible string for the kernel; the helpers used here are not GPL-only. */
char LICENSE[] SEC("license") = "Apache-2.0";
