/* Test object for pybpf.elf: legacy 'maps' section definitions. */
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH, .key_size = 4, .value_size = 8, .max_entries = 16,
};
struct bpf_map_def SEC("maps") legacy_array = {
	.type = BPF_MAP_TYPE_ARRAY, .key_size = 4, .value_size = 4, .max_entries = 2,
	.map_flags = 0,
};

static void *(*map_lookup)(void *map, const void *key) = (void *)1;

SEC("socket")
int filter(void *skb)
{
	int key = 0;
	int *v = map_lookup(&legacy_array, &key);
	long *w = map_lookup(&legacy_hash, &key);

	return (v ? *v : 0) + (w ? (int)*w : 0);
}

char _license[] SEC("license") = "GPL";
