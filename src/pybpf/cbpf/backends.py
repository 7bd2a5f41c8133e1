"""One classic socket filter run on each backend over the same packet: the
classic interpreter, its eBPF translation in pybpf's VM, and that
translation in the kernel (``BPF_PROG_TEST_RUN``).

A socket-filter test run takes an Ethernet frame and hands the filter the
data after its 14-byte header (``eth_type_trans`` pulls it), so a packet
the filter should see from offset 0 goes in behind a made-up Ethernet
header (:func:`frame_for_test_run`) whose EtherType becomes
``skb->protocol``; :func:`skb_for_test_run` is the skb the kernel builds from
it, which the interpreter runs over.  Every backend then sees the same
bytes at offset 0, ``SKF_LL_OFF`` pointing at the made-up header and the
network header at offset 0.

>>> from pybpf.cbpf import assemble
>>> runner = FilterRunner(assemble("ldb [0]\\nret a"), "interp")
>>> runner(bytes([0x45]))
69
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..spec import net as N
from ..spec import packets as P
from .insn import SockFilter
from .interp import Machine, Skb

TEST_RUN_ETHERNET_ADDRESSES = bytes(N.ETH_ALEN) + bytes.fromhex("02000000000a")
"""The made-up header's destination (the loopback's all-zero address, so
the packet counts as the host's) and source addresses."""

BACKENDS = ("interp", "vm", "kernel")
"""Where a filter can run: the classic interpreter, the translation in the
VM, the translation in the kernel."""


def guess_protocol(packet: bytes) -> int:
    """The EtherType a packet seen from its network header most likely has:
    IPv4 or IPv6 by its version nibble when it is long enough for the
    header (a test run refuses shorter IP packets), else a protocol no
    stack handles (``ETH_P_802_EX1``)."""
    if packet[:1] and packet[0] >> 4 == 4 and len(packet) >= P.IPV4_MIN_HLEN:
        return N.ETH_P_IP
    if packet[:1] and packet[0] >> 4 == 6 and len(packet) >= P.IPV6_HLEN:
        return N.ETH_P_IPV6
    return N.ETH_P_802_EX1


def frame_for_test_run(packet: bytes, protocol: int | None = None) -> bytes:
    """The bytes to give a socket-filter test run for the filter to see
    ``packet`` at offset 0 (with ``protocol`` as skb->protocol)."""
    if protocol is None:
        protocol = guess_protocol(packet)
    return TEST_RUN_ETHERNET_ADDRESSES + protocol.to_bytes(2, "big") + bytes(packet)


def skb_for_test_run(packet: bytes, protocol: int | None = None, **fields: Any) -> Skb:
    """The skb a socket-filter test run of :func:`frame_for_test_run` builds:
    data after the made-up header, on the loopback device (ifindex 1),
    the packet addressed to the host; ``fields`` override (``mark``...)."""
    data = frame_for_test_run(packet, protocol)
    proto = int.from_bytes(data[N.ETH_HLEN - 2:N.ETH_HLEN], "big")
    if proto < N.ETH_P_802_3_MIN:   # what eth_type_trans makes of a length field
        proto = N.ETH_P_802_3 if data[N.ETH_HLEN:N.ETH_HLEN + 2] == b"\xff\xff" else N.ETH_P_802_2
    values: dict[str, Any] = dict(data=N.ETH_HLEN, mac=0, network=N.ETH_HLEN, protocol=proto,
                                  pkttype=N.PACKET_HOST, ifindex=1)
    values.update(fields)
    return Skb(data, **values)


class FilterRunner:
    """A classic socket filter loaded once on one backend (see
    :data:`BACKENDS`), called with a packet (what the filter sees at
    offset 0) and returning the filter's value: how many bytes to keep,
    0 to drop.  Close it (or use ``with``) to unload a kernel program."""

    def __init__(self, program: Sequence[SockFilter], backend: str = "interp", *,
                 protocol: int | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r}: one of {', '.join(BACKENDS)}")
        self.program = list(program)
        self.backend = backend
        self.protocol = protocol
        self._kernel: Any = None
        self._vm: Any = None
        if backend == "interp":
            self._machine = Machine(self.program)
            return
        from .translate import translate

        insns = translate(self.program).instructions
        if backend == "vm":
            from ..vm import VM

            self._vm = VM().load(insns, prog_type="socket_filter")
        else:
            from ..kernel import KernelProgram

            self._kernel = KernelProgram.load(insns, "socket_filter", name="cbpf")

    def __call__(self, packet: bytes) -> int:
        if self.backend == "interp":
            return self._machine.run(skb_for_test_run(packet, self.protocol)).value
        data = frame_for_test_run(packet, self.protocol)
        prog = self._vm if self._vm is not None else self._kernel
        return prog.test_run(data).retval

    def run_many(self, packets: Sequence[bytes], repeat: int = 1) -> list[int]:
        """The value for each packet (each run ``repeat`` times: the last
        value; the kernel repeats inside one ``BPF_PROG_TEST_RUN``)."""
        if self.backend == "kernel":
            return [self._kernel.test_run(frame_for_test_run(p, self.protocol), repeat=repeat).retval
                    for p in packets]
        out = []
        for packet in packets:
            for _ in range(repeat):
                value = self(packet)
            out.append(value)
        return out

    def close(self) -> None:
        """Unload the kernel program, if any."""
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None

    def __enter__(self) -> FilterRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_everywhere(program: Sequence[SockFilter], packet: bytes, *,
                   backends: Sequence[str] = ("interp", "vm"),
                   protocol: int | None = None) -> dict[str, int]:
    """The filter's value over ``packet`` on each of ``backends``."""
    out = {}
    for backend in backends:
        with FilterRunner(program, backend, protocol=protocol) as runner:
            out[backend] = runner(packet)
    return out
