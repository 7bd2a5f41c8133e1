"""Differences between the VM and the kernel that are known and not the VM's
to fix here, each a strict xfail that names who is wrong: when the kernel or
the other module is fixed, the test passes, fails as XPASS, and this file
shrinks.  (Multi-buffer XDP inputs are in test_differential_ctx.)
"""

from __future__ import annotations

import pytest

from proggen import LoadedPair, MapDef, kernel_unavailable, sample_packet, snippet

pytestmark = pytest.mark.kernel


@pytest.fixture(autouse=True, scope="module")
def _kernel_test_run():
    """Skip, with the reason, unless bpf() and BPF_PROG_TEST_RUN work here."""
    reason = kernel_unavailable()
    if reason:
        pytest.skip(reason)

PACKET = sample_packet("ipv4", payload=b"payload!")


def _same(pair: LoadedPair, packet: bytes) -> None:
    comparison = pair.run(packet)
    assert comparison.rejected is None, comparison.rejected
    assert not comparison.differences, "\n".join(comparison.differences)


@pytest.mark.xfail(strict=True, reason="kernel verifier bug (6.18): the precision of a value "
                   "an atomic fetches from a stack slot is not carried back to the store that "
                   "filled the slot when a helper call lies between them, so a path is pruned "
                   "as equivalent and the branch it needed is hard-wired; the kernel runs the "
                   "wrong branch (the VM's answer is the ISA's)")
@pytest.mark.parametrize("fetch", ["r8 = atomic_fetch_or((u64 *)(r10 - 8), r8)",
                                   "w8 = atomic_fetch_add((u32 *)(r10 - 8), w8)",
                                   "r8 = xchg_64(r10 - 8, r8)"])
def test_kernel_verifier_loses_atomic_fetch_precision(fetch):
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
        _same(pair, bytes(60))          # len 46: r9 = 1, 20 in both
        _same(pair, bytes(64))          # len 50: r9 = 2, should be 10; the kernel gives 20


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
