/* SPDX-License-Identifier: MIT */
/* log2 histogram slots, for the tools that count latencies. */
#ifndef __PYBPF_TOOLS_HIST_H
#define __PYBPF_TOOLS_HIST_H

#define MAX_SLOTS 32

/* slot i counts values in [2^(i-1), 2^i); slot 0 counts 0 */
static __always_inline unsigned int log2_slot(unsigned long long v)
{
	unsigned int slot = 0;

#pragma unroll
	for (int i = 0; i < 64; i++) {
		if (!v)
			break;
		v >>= 1;
		slot++;
	}
	return slot < MAX_SLOTS ? slot : MAX_SLOTS - 1;
}

#endif
