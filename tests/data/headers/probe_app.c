/* The user-space target of uprobes.bpf.c and usdt.bpf.c, built with the
 * host's C compiler (x86-64): functions to put uprobes on, and USDT probes
 * written out as sys/sdt.h lays them out (a nop, a .note.stapsdt note with
 * the argument locations, the .stapsdt.base anchor).
 *
 *     probe_app N        calls everything N times, then prints "done TOTAL
 *                        ADDRESS" (ADDRESS: where pybpf_hdr_eight is mapped)
 *     probe_app N wait   first prints "ready" and waits for a line on stdin
 *                        (time to attach to this process)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/utsname.h>

/* laid out as the kernel's struct list_head and struct filename begin (and
 * struct utsname as its struct new_utsname), so the CO-RE reads of user
 * memory find their fields */
struct hdr_list {
	struct hdr_list *next, *prev;
};

struct hdr_filename {
	const char *name;
	const char *uptr;
};

/* a type of our own for the plain (non-CO-RE) reads */
struct hdr_node {
	struct hdr_node *next;
	long value;
	char label[16];
};

/* One USDT probe site with the argument string SPEC for operands %0.. */
#define HDR_USDT(name, spec, ...) \
	__asm__ __volatile__("990: nop\n" \
		".pushsection .note.stapsdt,\"?\",\"note\"\n" \
		".balign 4\n" \
		".4byte 992f-991f, 994f-993f, 3\n" \
		"991: .asciz \"stapsdt\"\n" \
		"992: .balign 4\n" \
		"993: .8byte 990b\n" \
		".8byte _.stapsdt.base\n" \
		".8byte 0\n" \
		".asciz \"pybpf_hdr\"\n" \
		".asciz \"" name "\"\n" \
		".asciz \"" spec "\"\n" \
		"994: .balign 4\n" \
		".popsection\n" \
		".ifndef _.stapsdt.base\n" \
		".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
		".weak _.stapsdt.base\n" \
		".hidden _.stapsdt.base\n" \
		"_.stapsdt.base: .space 1\n" \
		".size _.stapsdt.base, 1\n" \
		".popsection\n" \
		".endif\n" \
		:: __VA_ARGS__)

__attribute__((noinline)) long pybpf_hdr_eight(long a1, long a2, long a3, long a4, long a5,
					       long a6, long a7, long a8)
{
	__asm__ __volatile__("" ::: "memory");
	return a1 + 2 * a2 + 3 * a3 + 4 * a4 + 5 * a5 + 6 * a6 + 7 * a7 + 8 * a8;
}

__attribute__((noinline)) int pybpf_hdr_walk(struct hdr_node *node, struct hdr_list *list,
					     struct hdr_filename *file, struct utsname *uts)
{
	__asm__ __volatile__("" ::: "memory");
	return (int)node->value + (list->next != NULL) + (file->name != NULL) + uts->nodename[0];
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1;
	struct hdr_node second = { NULL, 22, "second" };
	struct hdr_node first = { &second, 11, "first" };
	struct hdr_list tail = { NULL, NULL };
	struct hdr_list mid = { &tail, NULL };
	struct hdr_list head = { &mid, NULL };
	struct hdr_filename file = { "/pybpf/name", "/pybpf/uptr" };
	struct utsname uts;
	long total = 0;

	if (uname(&uts) != 0)
		return 1;
	if (argc > 2) {
		char line[8];

		printf("ready\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}

	for (int i = 1; i <= n; i++) {
		volatile long in_memory = 1000L * i;
		int in_register = -i;

		total += pybpf_hdr_eight(i, 2, 3, 4, 5, 6, 7 * i, 8 * i);
		total += pybpf_hdr_walk(&first, &head, &file, &uts);
		/* a register (signed 4 bytes), memory (8 bytes), a constant */
		HDR_USDT("mixed", "-4@%0 8@%1 -2@$-7", "r"(in_register), "m"(in_memory));
		/* twelve constant arguments */
		HDR_USDT("twelve", "1@$1 1@$2 1@$3 1@$4 1@$5 1@$6 1@$7 1@$8 1@$9 1@$10 1@$11 -8@$-12");
	}
	printf("done %ld %p\n", total, (void *)pybpf_hdr_eight);
	return 0;
}
