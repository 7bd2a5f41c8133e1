"""bpf_trace_printk's format dialect against the running kernel.

The same program (a format on the stack, three arguments) runs under
``BPF_PROG_TEST_RUN`` and in the VM: the kernel's answer (-EINVAL, or the
length of the line) and, for a fixed list, the line it writes to the trace
buffer must be the VM's.  The arguments are constants, except a pointer to
known bytes where a conversion reads memory (``%s``, ``%pks``, IP
addresses; elsewhere such conversions read 0x1234, which fails the
same way on both sides).  ``%p`` and ``%pK`` print a hash in the kernel (the VM prints
the pointer's low half): only their length is compared.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pybpf.isa import assemble, encode
from pybpf.vm import VM

pytestmark = pytest.mark.kernel("test_run")

#: What a pointer argument points at: an IPv4 address, then "hello".
DATA = bytes([192, 168, 1, 77]) + b"hello\0\0\0" + bytes(range(0x20, 0x28)) + bytes(4)
NUMBER, SECOND, THIRD = 0x1234, 0xFFFFFFFFFFFFFFFB, 77
READS_MEMORY = ("s", "pks", "pus", "pi", "pI")


def program(fmt: bytes, pointer: bool) -> list:
    """trace_printk(fmt, first, -5, 77) with ``first`` a pointer to DATA
    (``pointer``) or 0x1234; returns r0."""
    text = fmt + b"\0"
    text += b"\0" * (-len(text) % 8)
    stack = DATA + text
    lines = []
    for off in range(0, len(stack), 8):
        word = int.from_bytes(stack[off:off + 8], "little")
        lines += [f"lddw %r1, {word:#x}", f"stxdw [%r10{off - len(stack):+d}], %r1"]
    first = ["mov %r3, %r10", f"add %r3, {-len(stack)}"] if pointer else [f"mov %r3, {NUMBER}"]
    lines += ["mov %r1, %r10", f"add %r1, {len(DATA) - len(stack)}",
              f"mov %r2, {len(fmt) + 1}", *first, f"lddw %r4, {SECOND:#x}", f"mov %r5, {THIRD}",
              "call 6", "exit"]
    return assemble("\n".join(lines))


def signed32(r0: int) -> int:
    r0 &= 0xFFFFFFFF
    return r0 - (1 << 32) if r0 >> 31 else r0


def in_vm(fmt: bytes, pointer: bool = False) -> tuple[int, bytes]:
    vm = VM()
    r0 = signed32(vm.load(program(fmt, pointer)).run().r0)
    return r0, (vm.trace_pipe[-1] if r0 >= 0 else b"")


def in_kernel(fmt: bytes, pointer: bool = False, *, line: bool = False) -> tuple[int, bytes]:
    from pybpf.kernel.perf import tracefs
    from pybpf.kernel.programs import KernelProgram

    trace = os.path.join(tracefs(), "trace")
    if line:
        open(trace, "w").close()
    with KernelProgram.load(encode(program(fmt, pointer)), "socket_filter",
                            name="printf_dialect") as prog:
        r0 = signed32(prog.test_run(bytes(64)).retval)
    if not line or r0 < 0:
        return r0, b""
    marker = f"-{os.getpid()} ".encode()
    with open(trace, "rb") as f:
        found = [raw.split(b"bpf_trace_printk: ", 1)[1] for raw in f.read().split(b"\n")
                 if b"bpf_trace_printk: " in raw and marker in raw]
    return r0, found[-1] if found else b"<no line>"


CONVERSIONS = ["d", "i", "u", "x", "X", "ld", "lli", "lu", "llx", "lX", "c", "s", "p", "px",
               "pK", "pKx", "ps", "pS", "pB", "pSR", "pks", "pus", "pi4", "pI4", "pI4h", "pi6",
               "pI6", "pI6c", "p!"]
#: The conversions the kernel prints as a hash of the pointer.
HASHED = {"p", "pK", "pKx", "p!"}
REFUSED = ["o", "%", "hd", "hhd", "zd", "Lx", "ls", "lc", "lp", "l", "llld", "pa", "pb", "pk",
           "pu", "p5", "q"]
PREFIXES = ["", "-", "+", " ", "0", "5", "-5", "05", "20", "-020", "+08", " 8", "#", ".3",
            "5.3"]


#: The prefixes of the default run (all of PREFIXES under -m slow).
SOME_PREFIXES = ["", "-5", "+08", " 8", "#"]


@pytest.mark.parametrize("prefixes", [SOME_PREFIXES, pytest.param(PREFIXES, marks=pytest.mark.slow)],
                         ids=["some", "all"])
@pytest.mark.parametrize("conversion", CONVERSIONS + REFUSED)
def test_each_conversion_with_flags_and_widths_prints_the_kernels_line(conversion, prefixes):
    for prefix in prefixes:
        fmt = f"a%{prefix}{conversion} b".encode()
        pointer = conversion.startswith(READS_MEMORY)
        kernel, vm = in_kernel(fmt, pointer, line=True), in_vm(fmt, pointer)
        if conversion in HASHED:
            kernel, vm = (kernel[0], len(kernel[1])), (vm[0], len(vm[1]))
        if conversion == "pus" and kernel[0] >= 0:
            # the VM has one memory: a user read of the stack succeeds there
            kernel, vm = (kernel[0] >= 0, 0), (vm[0] >= 0, 0)
        assert vm == kernel, fmt


@pytest.mark.parametrize("fmt", [b"tab\there", b"\x0b\x0c\r\n", b"high\x80\xff", b"\x01ctl",
                                 b"del\x7f", b"esc\x1b[0m", b"%", b"trail%", b"%%%d",
                                 b"%d%d%d%d", b"%ld%ld%ld", b"%5%", b"%1234567890d|",
                                 b"%-1234567890d|", b"%08d%-8x%+d|"])
def test_bytes_argument_counts_and_widths_are_the_kernels(fmt):
    vm = in_vm(fmt)
    if b"1234567890" in fmt:         # a line of 8 MB: the lengths only
        assert vm[0] == in_kernel(fmt)[0]
        return
    kernel = in_kernel(fmt, line=True)
    assert (vm[0], vm[1].rstrip(b"\n")) == kernel      # the trace ends each line itself


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from([b"%", b"%%", b"d", b"s", b"l", b"p", b"x", b"u", b"c", b"-",
                                 b"+", b"0", b"7", b" ", b"K", b"i", b"4", b"a", b".", b"#",
                                 b"h", b"\t", b"!"]), max_size=12).map(b"".join))
def test_random_formats_are_refused_or_measured_as_the_kernel_does(fmt):
    kernel, vm = in_kernel(fmt), in_vm(fmt)
    if b"%p" in fmt and kernel[0] >= 0 and vm[0] >= 0:
        return      # a hash's digits may be fewer than 8 with a width: lengths can differ
    assert vm[0] == kernel[0], fmt
