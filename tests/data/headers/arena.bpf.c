/* __arg_arena: a global function's pointer argument into the program's
 * arena (BPF_MAP_TYPE_ARENA, Linux 6.9+). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARENA);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);	/* pages */
} arena SEC(".maps");

__noinline int arena_first(int *p __arg_arena)
{
	return p ? *p : 0;
}

long out;

SEC("syscall")
int use_arena(void *ctx)
{
	int *page = bpf_arena_alloc_pages(&arena, NULL, 1, -1, 0);

	if (!page)
		return 1;
	*page = 5;
	out = arena_first(page);
	bpf_arena_free_pages(&arena, page, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
