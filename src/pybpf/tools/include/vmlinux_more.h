/* SPDX-License-Identifier: MIT */
/* More kernel types and uapi constants, for profile, offcputime,
 * funclatency, bashreadline and cachestat: written like vmlinux.h (names
 * and kinds matter, CO-RE fits offsets to the running kernel) but kept
 * apart from it, so that adding them changed nothing the older tools are
 * built from.  Struct names carry a "___more" flavour suffix where
 * vmlinux.h already declares the struct: CO-RE drops the suffix when it
 * matches them against the kernel's BTF.
 */
#ifndef __VMLINUX_MORE_H__
#define __VMLINUX_MORE_H__

/* uapi (include/uapi/linux/bpf.h) */
#define BPF_MAP_TYPE_STACK_TRACE	7
#define BPF_F_USER_STACK		(1ULL << 8)
#define BPF_F_FAST_STACK_CMP		(1ULL << 9)

#define PERF_MAX_STACK_DEPTH		127	/* frames of a stack trace map value */

/* the context of perf_event programs: passed on to helpers only */
struct bpf_perf_event_data;
struct folio;

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct task_struct___more {
	unsigned int __state;
	unsigned int flags;		/* PF_KTHREAD for kernel threads */
	int pid;
	int tgid;
	char comm[16];
};

struct inode___more {
	long long i_size;
};

struct address_space {
	struct inode___more *host;
};

/* mm_filemap_add_to_page_cache's record (filemap/mm_filemap_op_page_cache) */
struct trace_event_raw_mm_filemap_op_page_cache {
	struct trace_entry ent;
	unsigned long pfn;
	unsigned long i_ino;
	unsigned long index;
	unsigned int s_dev;
	unsigned char order;		/* the folio's pages are 1 << order (Linux 6.11+) */
};

/* a large folio's page count (Linux 6.10+: _nr_pages; before, 1 << the
 * order kept in the low byte of _flags_1).  A folio starts with its first
 * page's flags word (PG_head set on a large folio): read at offset 0, as
 * its type changed (unsigned long; memdesc_flags_t on 6.17+) */
struct folio___more {
	unsigned long _flags_1;
	unsigned int _nr_pages;
};

#pragma clang attribute pop

/* include/linux/page-flags.h: bit numbers of the page flags word (the
 * value comes from the running kernel's BTF, by name) */
enum pageflags {
	PG_head = 6,
};

/* include/linux/sched.h */
#define PF_KTHREAD	0x00200000

#endif /* __VMLINUX_MORE_H__ */
