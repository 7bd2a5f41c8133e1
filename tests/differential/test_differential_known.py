"""Cases where a kernel's answer has been seen to differ from the ISA's.

Each test asserts what the VM must do (the ISA's answer) and records the
running kernel's answer without pinning it: the kernel's patch level
differs between machines and over time, and a kernel bug fixed (or not)
must not turn the suite red.  (Multi-buffer XDP inputs are in
test_differential_ctx.)
"""

from __future__ import annotations

import pytest

from proggen import LoadedPair, MapDef, sample_packet, snippet

pytestmark = pytest.mark.kernel("test_run")

PACKET = sample_packet("ipv4", payload=b"payload!")


def _same(pair: LoadedPair, packet: bytes) -> None:
    comparison = pair.run(packet)
    assert comparison.rejected is None, comparison.rejected
    assert not comparison.differences, "\n".join(comparison.differences)


@pytest.mark.parametrize("fetch", ["r8 = atomic_fetch_or((u64 *)(r10 - 8), r8)",
                                   "w8 = atomic_fetch_add((u32 *)(r10 - 8), w8)",
                                   "r8 = xchg_64(r10 - 8, r8)"])
def test_atomic_fetch_from_a_spilled_slot_after_a_helper_call(fetch, record_property):
    """The VM gives the ISA's answer; the kernel's is recorded, not pinned.

    Some 6.18 kernels lose the precision of a value an atomic fetches from a
    stack slot when a helper call lies between the spill and the fetch: a
    path is pruned as equivalent, the branch it needed is hard-wired and the
    kernel returns 20 where the ISA says 10.  Later patch levels fix it.
    Whichever the running kernel does, this test asserts what pybpf must
    do and records the kernel's answer (``kernel_retval_len46/50``).
    """
    body = f"""
        r0 = *(u32 *)(r6 + 0)
        if r0 == 50 goto two
        r9 = 1
        goto spill
        two:
        r9 = 2
        spill:
        *(u64 *)(r10 - 8) = r9
        *(u32 *)(r10 - 16) = 0
        r1 = @map:out@ ll
        r2 = r10
        r2 += -16
        r3 = r10
        r3 += -8
        r4 = 0
        call bpf_map_update_elem#2
        r8 = 0
        {fetch}
        if r8 == 1 goto one
        r0 = 10
        goto done
        one:
        r0 = 20
        done:
    """
    with LoadedPair(snippet("socket_filter", body, PACKET)) as pair:
        # skb->len 46 stores r9 = 1 and fetches it back: 20; len 50 stores 2: 10.
        for length, isa_answer in ((46, 20), (50, 10)):
            comparison = pair.run(bytes(length + 14))
            assert comparison.rejected is None, comparison.rejected
            assert comparison.vm.error is None, comparison.vm.error
            assert comparison.vm.retval == isa_answer
            kernel = comparison.kernel
            record_property(f"kernel_retval_len{length}",
                            kernel.error if kernel.error else kernel.retval)


def test_array_update_checks_index_before_f_lock():
    # The kernel checks the index before BPF_F_LOCK (array_map_update_elem): E2BIG.
    maps = (MapDef("arr", "array", 4, 16, 2), MapDef("out", "array", 4, 8, 1))
    body = """
        *(u32 *)(r10 - 8) = 5
        *(u64 *)(r10 - 24) = 1
        *(u64 *)(r10 - 16) = 2
        r1 = @map:arr@ ll
        r2 = r10
        r2 += -8
        r3 = r10
        r3 += -24
        r4 = 4
        call bpf_map_update_elem#2
    """
    with LoadedPair(snippet("xdp", body, PACKET, maps=maps)) as pair:
        _same(pair, PACKET)
