# Count packets by EtherType in the hash map counts, at the tc hook.
#
#   pybpf test-run examples/count_proto.s --prog-type sched_cls \
#       --map counts=hash:4:8:1024 --data 000000000000000000000000080045...
    r2 = *(u32 *)(r1 + 16)          # skb->protocol: the EtherType, network order
    *(u32 *)(r10 - 4) = r2
    r1 = map[idx:0] ll              # counts, the first --map
    r2 = r10
    r2 += -4
    call bpf_map_lookup_elem#1
    if r0 == 0 goto first
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
    goto done
first:
    r1 = 1
    *(u64 *)(r10 - 16) = r1
    r1 = map[idx:0] ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -16
    r4 = 0
    call bpf_map_update_elem#2
done:
    r0 = 0                          # TC_ACT_OK
    exit
