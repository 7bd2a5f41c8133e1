"""xdp_count: count packets per IP protocol in a per-CPU array, and
optionally drop one protocol — examples/xdp_count.bpf.c, in Python.

Knob: drop_proto   an IPPROTO_* number to drop (0: drop nothing).
counts[proto] counts IPv4 packets by protocol; counts[0] counts the rest
(non-IPv4 and packets too short to parse).

    pybpf compile examples/lang/xdp_count.py -o xdp_count.o
"""

from pybpf.lang import Knob, PerCPUArray, function, u8, u32, u64, xdp
from pybpf.spec import constant
from pybpf.spec.net import ETH_P_IP

LICENSE = "GPL"
XDP_DROP = constant("XDP_DROP")
XDP_PASS = constant("XDP_PASS")

drop_proto = Knob(u8, 0)
counts = PerCPUArray[u32, u64](max_entries=256)


@function
def bump(proto: u32) -> int:
    """Add one to counts[proto] (a bpf-to-bpf call)."""
    counts[proto] += 1
    return 1


@xdp
def count_packets(ctx) -> int:
    data = ctx.data
    data_end = ctx.data_end
    proto: u32 = 0
    # Ethernet + IPv4 headers there, and an IPv4 EtherType
    if data + 34 <= data_end and (data[12] << 8 | data[13]) == ETH_P_IP:
        proto = data[23]
    bump(proto)
    if drop_proto != 0 and proto == drop_proto:
        return XDP_DROP
    return XDP_PASS
