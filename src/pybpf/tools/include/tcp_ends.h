/* SPDX-License-Identifier: MIT */
/* Copying a connection's ends out of the sock/tcp tracepoints' records. */
#ifndef __PYBPF_TCP_ENDS_H
#define __PYBPF_TCP_ENDS_H

#include <bpf/bpf_core_read.h>
#include "tools.h"

/* e: an event with TCP_ENDS_FIELDS; ctx: a tracepoint record with family,
 * sport, dport, saddr[4], daddr[4],
 * saddr_v6[16] and daddr_v6[16] (inet_sock_set_state, tcp_retransmit_skb) */
#define TCP_ENDS_READ(e, ctx) ({						\
	(e)->family = BPF_CORE_READ(ctx, family);				\
	(e)->sport = BPF_CORE_READ(ctx, sport);				\
	(e)->dport = BPF_CORE_READ(ctx, dport);				\
	(e)->pad_ends = 0;							\
	__builtin_memset((e)->saddr, 0, sizeof((e)->saddr));		\
	__builtin_memset((e)->daddr, 0, sizeof((e)->daddr));		\
	if ((e)->family == AF_INET) {					\
		bpf_core_read((e)->saddr, 4, &(ctx)->saddr);			\
		bpf_core_read((e)->daddr, 4, &(ctx)->daddr);			\
	} else {								\
		bpf_core_read((e)->saddr, 16, &(ctx)->saddr_v6);		\
		bpf_core_read((e)->daddr, 16, &(ctx)->daddr_v6);		\
	}									\
})

#endif
