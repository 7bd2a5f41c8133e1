/* SPDX-License-Identifier: MIT */
/* cachestat: page cache accesses, additions and dirtyings, from
 * tracepoints (libbpf-tools' cachestat counts kernel functions with
 * kprobes or fentry; neither is available everywhere, so this one counts
 * what the filemap and writeback tracepoints see; see cachestat.py).
 *
 *  ACCESSES	pages a read(2)-family call asks the page cache for
 *		(mm_filemap_get_pages, BTF-typed: the range is cut at the
 *		file's end, and the batches of one call are counted once),
 *		plus page faults on file mappings (mm_filemap_fault)
 *  ADDED	pages added to the page cache (mm_filemap_add_to_page_cache)
 *  DIRTIED	pages newly dirtied (writeback_dirty_folio)
 *
 * Both count a folio as the pages it holds, so that misses (additions less
 * dirtyings) come out in pages like the accesses.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "tools.h"
#include "vmlinux_more.h"

#define PAGE_SHIFT 12

enum { ACCESSES, ADDED, DIRTIED, FAULTS, NR_COUNTERS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NR_COUNTERS);
	__type(key, unsigned int);
	__type(value, unsigned long long);
} counters SEC(".maps");

/* the read in progress per thread: one call's batches share its last page */
struct read_pos {
	void *mapping;
	unsigned long index;
	unsigned long last_index;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, unsigned int);
	__type(value, struct read_pos);
} reads SEC(".maps");

static __always_inline void add(unsigned int which, unsigned long long n)
{
	unsigned long long *v = bpf_map_lookup_elem(&counters, &which);

	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(on_get_pages, struct address_space *mapping, unsigned long index,
	     unsigned long last_index)
{
	unsigned int tid = (unsigned int)bpf_get_current_pid_tgid();
	struct read_pos *prev = bpf_map_lookup_elem(&reads, &tid);
	struct read_pos now = { .mapping = mapping, .index = index, .last_index = last_index };
	long long size = BPF_CORE_READ(mapping, host, i_size);
	unsigned long eof_last;

	if (prev && prev->mapping == mapping && prev->last_index == last_index &&
	    index > prev->index) {
		/* a later batch of the same call: its pages were counted */
		prev->index = index;
		return 0;
	}
	bpf_map_update_elem(&reads, &tid, &now, BPF_ANY);
	if (size <= 0)
		return 0;
	eof_last = (size - 1) >> PAGE_SHIFT;
	if (last_index > eof_last)
		last_index = eof_last;
	if (last_index >= index)
		add(ACCESSES, last_index - index + 1);
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(on_fault, struct address_space *mapping, unsigned long index)
{
	add(ACCESSES, 1);
	add(FAULTS, 1);
	return 0;
}

/* folio_nr_pages(): 1, or a large folio's page count */
static __always_inline unsigned long long folio_pages(struct folio___more *folio)
{
	unsigned long flags = 0;
	unsigned int head = bpf_core_enum_value(enum pageflags, PG_head);

	bpf_probe_read_kernel(&flags, sizeof(flags), folio);	/* the flags word */
	if (!(flags & (1UL << (head & 63))))
		return 1;
	if (bpf_core_field_exists(folio->_nr_pages))
		return BPF_CORE_READ(folio, _nr_pages);
	return 1ULL << (BPF_CORE_READ(folio, _flags_1) & 31);
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(on_add, struct folio *folio)
{
	add(ADDED, folio_pages((void *)folio));
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(on_dirty, struct folio *folio, struct address_space *mapping)
{
	add(DIRTIED, folio_pages((void *)folio));
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
