"""Every deterministic packet and map helper, the VM against the kernel.

Each case calls one helper (or a short sequence) with arguments on both sides
of its limits — bad offsets, sizes and flags included — on several frames,
and compares the return value, the packet after the run, what the program
reads back (length, protocol, VLAN fields, hash, copied bytes) and the maps.
"""

from __future__ import annotations

import pytest

from proggen import MACS, LoadedPair, MapDef, ethernet, sample_packet, snippet

pytestmark = pytest.mark.kernel("test_run")

FRAMES = {
    "ipv4": sample_packet("ipv4", payload=b"payload!"),
    "ipv4-tcp": sample_packet("ipv4tcp", payload=b"hello world!"),
    "ipv6": sample_packet("ipv6", payload=b"v6-data"),
    "arp": sample_packet("arp"),
    "vlan": sample_packet("vlan"),
    "qinq": sample_packet("qinq"),
    "bare-14": ethernet(MACS["unicast"], 0x88B5, b""),
}

# What skb programs hand back after the call: the helper's result in the low
# half, the skb's length in the high half; and the frame's first bytes.
SKB_AFTER = ("r7 = r0; r0 = *(u32 *)(r6 + 0); r0 <<= 32; r7 <<= 32; r7 >>= 32; r0 |= r7")
XDP_AFTER = ("r7 = r0; r2 = *(u32 *)(r6 + 0); r3 = *(u32 *)(r6 + 4); r4 = *(u32 *)(r6 + 8);"
             "r0 = r3; r0 -= r2; r2 -= r4; r0 <<= 16; r0 |= r2; r0 <<= 32;"
             "r7 <<= 32; r7 >>= 32; r0 |= r7")
# Fold the 32 stack bytes at r10-32 into r0 (buffers helpers filled).
FOLD_BUFFER = ("r1 = *(u64 *)(r10 - 32); r0 ^= r1; r1 = *(u64 *)(r10 - 24); r0 += r1;"
               "r1 = *(u64 *)(r10 - 16); r0 ^= r1; r1 = *(u64 *)(r10 - 8); r0 += r1")
CLEAR_BUFFER = ("*(u64 *)(r10 - 32) = 0; *(u64 *)(r10 - 24) = 0; *(u64 *)(r10 - 16) = 0;"
                "*(u64 *)(r10 - 8) = 0")
BUFFER = "r{reg} = r10; r{reg} += -32"


def run_cases(prog_type: str, bodies: list[str], frames=FRAMES, maps=None) -> None:
    """Every body on every frame: both sides must agree."""
    kwargs = {"maps": maps} if maps else {}
    for body in bodies:
        with LoadedPair(snippet(prog_type, body, next(iter(frames.values())),
                                **kwargs)) as pair:
            assert pair.rejected is None, f"{body}: {pair.rejected}"
            for name, frame in frames.items():
                comparison = pair.run(frame)
                assert not comparison.differences, (f"{body}\non {name}:\n" +
                                                    "\n".join(comparison.differences))


def call(helper: str, *args: str | int) -> str:
    """r1 = ctx, r2.. = args (``FP`` for the 32-byte stack buffer), call."""
    lines = ["r1 = r6"]
    for i, a in enumerate(args, start=2):
        lines.append(BUFFER.format(reg=i) if a == "FP" else f"r{i} = {a}")
    return "; ".join(lines) + f"; call bpf_{helper}"


OFFSETS = (0, 1, 13, 14, 30, 40, 49, 50, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


@pytest.mark.parametrize("prog_type", ["socket_filter", "sched_cls"])
def test_skb_load_bytes(prog_type):
    bodies = [f"{CLEAR_BUFFER}; {call('skb_load_bytes#26', off, 'FP', size)}; {FOLD_BUFFER}"
              for off in OFFSETS for size in (1, 4, 8, 32)]
    run_cases(prog_type, bodies)


@pytest.mark.parametrize("prog_type", ["socket_filter", "sched_cls"])
def test_skb_load_bytes_relative(prog_type):
    bodies = [f"{CLEAR_BUFFER}; {call('skb_load_bytes_relative#68', off, 'FP', size, start)};"
              f"{FOLD_BUFFER}"
              for off in (0, 1, 14, 30, 0xFFFF, 0x10000) for size in (1, 8, 32)
              for start in (0, 1, 2, 0xFFFFFFFF)]
    run_cases(prog_type, bodies)


def test_skb_store_bytes():
    bodies = [f"*(u64 *)(r10 - 32) = -2; *(u64 *)(r10 - 24) = 0x11223344;"
              f"{call('skb_store_bytes#9', off, 'FP', size, flags)}; {SKB_AFTER}"
              for off in (0, 1, 12, 40, 46, 50, 0xFFFF, 0x80000000) for size in (1, 2, 8, 16)
              for flags in (0, 1, 2, 3, 4, 0x10)]
    run_cases("sched_cls", bodies)


@pytest.mark.parametrize("helper", ["l3_csum_replace#10", "l4_csum_replace#11"])
def test_csum_replace(helper):
    flag_sets = (0, 1, 2, 3, 4, 8, 0x12, 0x14, 0x22, 0x34, 0x44, 0x64, 0x82, 0x100)
    bodies = [f"{call(helper, off, old, new, flags)}; {SKB_AFTER}"
              for off in (24, 25, 36, 50, 52, 0xFFFE, 0x10000)
              for old, new in ((0, 0x1234), (0x1111, 0x2222), (0xFFFF, 0), (0xC0A80001, 0x0A000001))
              for flags in flag_sets]
    run_cases("sched_cls", bodies, frames={k: FRAMES[k] for k in ("ipv4", "ipv4-tcp", "ipv6")})


def test_csum_replace_with_csum_diff():
    # the usual pair: a diff from bpf_csum_diff fed to a size-0 replace
    bodies = []
    for helper, off in (("l3_csum_replace#10", 24), ("l4_csum_replace#11", 50)):
        for flags in (0, 0x10, 0x20, 0x30):
            bodies.append(f"*(u64 *)(r10 - 32) = 0x0100000a; *(u64 *)(r10 - 24) = 0x0200000a;"
                          f"r1 = r10; r1 += -32; r2 = 4; r3 = r10; r3 += -24; r4 = 4; r5 = 0;"
                          f"call bpf_csum_diff#28; r4 = r0; r1 = r6; r2 = {off}; r3 = 0;"
                          f"r5 = {flags}; call bpf_{helper}; {SKB_AFTER}")
    run_cases("sched_cls", bodies, frames={"ipv4-tcp": FRAMES["ipv4-tcp"]})


@pytest.mark.parametrize("prog_type", ["xdp", "sched_cls"])
def test_csum_diff(prog_type):
    sizes = (0, 1, 2, 3, 4, 7, 8, 20, 32)
    bodies = []
    for from_size in sizes:
        for to_size in sizes:
            for seed in (0, 0xFFFFFFFF, 0x12345678):
                fr = "r1 = r10; r1 += -32" if from_size else "r1 = 0"
                to = "r3 = r10; r3 += -32" if to_size else "r3 = 0"
                bodies.append(f"*(u64 *)(r10 - 32) = 0x01020304;"
                              f"*(u64 *)(r10 - 24) = -1; *(u64 *)(r10 - 16) = 0x8000;"
                              f"*(u64 *)(r10 - 8) = 0x7f7f7f7f; {fr}; r2 = {from_size};"
                              f"{to}; r4 = {to_size}; r5 = {seed} ll; call bpf_csum_diff#28")
    run_cases(prog_type, bodies, frames={"ipv4": FRAMES["ipv4"]})


def test_skb_change_tail():
    bodies = [f"{call('skb_change_tail#38', length, flags)}; {SKB_AFTER}"
              for length in (0, 13, 14, 15, 20, 42, 60, 100, 1500, 16064, 16065, 0xFFFF)
              for flags in (0, 1)]
    run_cases("sched_cls", bodies)


def test_skb_change_head():
    bodies = [f"{call('skb_change_head#43', room, flags)}; {SKB_AFTER}"
              for room in (0, 1, 4, 14, 64, 0x1000, 16000, 16011, 0xFFFFFFFF) for flags in (0, 1)]
    run_cases("sched_cls", bodies)


VLAN_READ = ("r7 = r0; r0 = *(u32 *)(r6 + 20); r0 <<= 16; r1 = *(u32 *)(r6 + 24); r0 |= r1;"
             "r0 <<= 16; r1 = *(u32 *)(r6 + 28); r0 |= r1; r0 <<= 16; r1 = *(u32 *)(r6 + 16);"
             "r0 |= r1; r0 ^= r7; r1 = *(u32 *)(r6 + 0); r1 <<= 40; r0 ^= r1")


def test_skb_vlan_push_and_pop():
    push = "r1 = r6; r2 = {proto}; r3 = {tci}; call bpf_skb_vlan_push#18; "
    pop = "r1 = r6; call bpf_skb_vlan_pop#19; "
    bodies = []
    for proto in (0x0081, 0xA888, 0x8100, 0x0008):
        for tci in (0, 100, 0xFFFF, 0x12345):
            bodies.append(push.format(proto=proto, tci=tci) + VLAN_READ)
            bodies.append(push.format(proto=proto, tci=tci) + push.format(proto=0x0081, tci=7)
                          + VLAN_READ)
    bodies += [pop + VLAN_READ, pop + pop + VLAN_READ, pop + pop + pop + VLAN_READ,
               push.format(proto=0xA888, tci=3) + pop + VLAN_READ,
               push.format(proto=0x0081, tci=1) + push.format(proto=0xA888, tci=2) + pop + pop
               + VLAN_READ]
    run_cases("sched_cls", bodies)


def test_vlan_fields_narrow_reads_after_push():
    bodies = [f"r1 = r6; r2 = 0xa888; r3 = 0xabcd; call bpf_skb_vlan_push#18;"
              f"r0 = *({t} *)(r6 + {off})"
              for base in (20, 24, 28, 16) for t, step in (("u8", 1), ("u16", 2))
              for off in range(base, base + 4, step)]
    run_cases("sched_cls", bodies, frames={"ipv4": FRAMES["ipv4"]})


def test_skb_pull_data():
    bodies = [f"{call('skb_pull_data#39', n)}; {SKB_AFTER}" for n in (0, 1, 14, 42, 100, 0xFFFF)]
    run_cases("sched_cls", bodies)


def test_set_hash():
    bodies = ["r1 = r6; r2 = 0xdeadbeef; call bpf_set_hash#48; r0 = *(u32 *)(r6 + 68)",
              "r1 = r6; r2 = 5; call bpf_set_hash#48; r1 = r6; call bpf_set_hash_invalid#41;"
              "r0 = *(u32 *)(r6 + 68)",
              "r1 = r6; r2 = 0x12345678; call bpf_set_hash#48; r0 = *(u16 *)(r6 + 70)"]
    run_cases("sched_cls", bodies)


def test_csum_level():
    level = "r1 = r6; r2 = {}; call bpf_csum_level#135; r9 <<= 8; r9 |= r0; "
    sequences = [(0,), (1, 0), (1, 1, 0), (1, 1, 1, 1, 1, 0), (1, 2, 0), (1, 1, 2, 0), (3, 0),
                 (1, 3, 0), (2, 0), (4,), (0xFFFFFFFF,)]
    bodies = ["r9 = 0; " + "".join(level.format(n) for n in seq) + "r0 = r9"
              for seq in sequences]
    run_cases("sched_cls", bodies, frames={"ipv4": FRAMES["ipv4"]})


@pytest.mark.parametrize("prog_type", ["xdp", "sched_cls"])
def test_redirect(prog_type):
    bodies = [f"r1 = {ifindex}; r2 = {flags}; call bpf_redirect#23"
              for ifindex in (0, 1, 2, 0xFFFFFFFF) for flags in (0, 1, 2, 8, 1 << 40)]
    run_cases(prog_type, bodies, frames={"ipv4": FRAMES["ipv4"]})


def test_xdp_adjust_head():
    bodies = [f"{call('xdp_adjust_head#44', delta)}; {XDP_AFTER}"
              for delta in (0, 1, -1, 14, 28, 29, -14, -64, -216, -217, -224, -256, 40, 50)]
    run_cases("xdp", bodies)


def test_xdp_adjust_tail():
    bodies = [f"{call('xdp_adjust_tail#65', delta)}; {XDP_AFTER}"
              for delta in (0, 1, -1, -28, -29, -100, 16, 1000, 3000, 3478, 3479, 4096)]
    run_cases("xdp", bodies)


def test_xdp_adjust_meta_and_metadata_access():
    access = ("r2 = *(u32 *)(r6 + 8); r3 = *(u32 *)(r6 + 0); r4 = r2; r4 += 4;"
              "if r4 > r3 goto no_meta; *(u32 *)(r2 + 0) = 0x11223344; no_meta: ")
    bodies = []
    for delta in (0, -4, -8, -32, -36, -252, -256, -3, 4, -216, -220, -212):
        bodies.append(f"{call('xdp_adjust_meta#54', delta)}; {XDP_AFTER}")
        bodies.append(f"{call('xdp_adjust_meta#54', delta)}; r8 = r0; {access} r0 = r8;"
                      f"{XDP_AFTER}")
        bodies.append(f"{call('xdp_adjust_head#44', -16)}; {call('xdp_adjust_meta#54', delta)};"
                      f"{XDP_AFTER}")
    run_cases("xdp", bodies)


MAPS = (MapDef("arr", "array", 4, 16, 4), MapDef("hsh", "hash", 4, 16, 2),
        MapDef("out", "array", 4, 8, 1))


@pytest.mark.parametrize("map_name", ["arr", "hsh"])
def test_map_helpers(map_name):
    store_kv = "*(u32 *)(r10 - 4) = {key}; *(u64 *)(r10 - 24) = {v}; *(u64 *)(r10 - 16) = -{v};"
    update = ("r1 = @map:{m}@ ll; r2 = r10; r2 += -4; r3 = r10; r3 += -24; r4 = {flags};"
              "call bpf_map_update_elem#2; r9 <<= 8; r9 |= r0;")
    delete = "r1 = @map:{m}@ ll; r2 = r10; r2 += -4; call bpf_map_delete_elem#3; r9 <<= 8; r9 |= r0;"
    lookup = ("r1 = @map:{m}@ ll; r2 = r10; r2 += -4; call bpf_map_lookup_elem#1;"
              "r9 <<= 8; if r0 == 0 goto miss{n}; r1 = *(u64 *)(r0 + 0); r9 ^= r1; "
              "lock *(u64 *)(r0 + 8) += r9; miss{n}: ")
    bodies = []
    n = 0
    for key in (0, 1, 3, 4, 100):
        for flags in (0, 1, 2, 3, 8):
            n += 1
            kv = store_kv.format(key=key, v=key + 7)
            bodies.append("r9 = 0; " + kv + update.format(m=map_name, flags=flags)
                          + lookup.format(m=map_name, n=n) + delete.format(m=map_name)
                          + lookup.format(m=map_name, n=f"{n}b") + "r0 = r9")
    # fill the hash map past max_entries, then delete and insert again
    fill = "".join(store_kv.format(key=k, v=k) + update.format(m=map_name, flags=0)
                   for k in (10, 11, 12))
    bodies.append("r9 = 0; " + fill + store_kv.format(key=10, v=1) + delete.format(m=map_name)
                  + store_kv.format(key=12, v=2) + update.format(m=map_name, flags=1)
                  + "r0 = r9")
    run_cases("xdp", bodies, frames={"ipv4": FRAMES["ipv4"]}, maps=MAPS)
