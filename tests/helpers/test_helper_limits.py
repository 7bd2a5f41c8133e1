"""Helpers check what programs ask for, as the kernel's prototypes and
implementations do: sizes are bounded by the memory they describe, output
by the kernel's caps, and bad arguments give the kernel's errno (or a
HelperError naming the helper and the argument where the verifier would
have refused the program) - never a huge allocation or an internal Python
error.
"""

from __future__ import annotations

import errno
import tracemalloc

import pytest

from pybpf.errors import HelperError
from pybpf.helpers.environment import Environment
from pybpf.maps import create_map
from pybpf.objects import MapSpec
from pybpf.spec import helper_id
from pybpf.spec.defines import FIELD_WIDTH_MAX, MAX_BPRINTF_BUF
from pybpf.vm import VM

PACKET = bytes(14) + b"\x45" + bytes(63)


def vm() -> VM:
    return VM(env=Environment.fixed(comm=b"pybpf-test"), max_insns=100_000)


def run(body: str, *, prog_type: str = "socket_filter", machine: VM | None = None,
        data: bytes = PACKET):
    """Run ``body`` (r6 = ctx, r10 = the stack) and return (r0, vm)."""
    machine = machine or vm()
    text = "r6 = r1\n" + body.format(**{n: helper_id(n) for n in HELPER_NAMES}) + "\nexit"
    prog = machine.load(text, prog_type=prog_type)
    return prog.test_run(data).r0, machine


HELPER_NAMES = ["get_current_comm", "get_stack", "probe_read", "probe_read_str",
                "probe_read_kernel", "trace_printk", "snprintf", "strtol", "strtoul",
                "skb_vlan_push", "skb_vlan_pop", "ringbuf_output", "ringbuf_reserve",
                "ringbuf_query", "perf_event_output", "get_stackid", "skb_load_bytes",
                "redirect_map", "trace_vprintk", "strncmp"]


def peak_of(fn):
    """(result or exception, peak bytes of Python memory while calling fn)."""
    tracemalloc.start()
    try:
        try:
            result = fn()
        except Exception as exc:   # returned for the caller to judge
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


BIG = 1 << 29   # half a gigabyte: what a careless helper would allocate


@pytest.mark.parametrize("call", [
    "r1 = r10\nr1 += -16\nr2 = {size}\ncall {get_current_comm}",
    "r1 = r6\nr2 = r10\nr2 += -16\nr3 = {size}\nr4 = 0\ncall {get_stack}",
    "r1 = r10\nr1 += -16\nr2 = {size}\nr3 = 0\ncall {probe_read}",
    "r1 = r10\nr1 += -16\nr2 = {size}\nr3 = 0\ncall {probe_read_kernel}",
    "r1 = r10\nr1 += -16\nr2 = {size}\nr3 = 0\ncall {probe_read_str}",
    "r1 = r6\nr2 = 0\nr3 = r10\nr3 += -16\nr4 = {size}\ncall {skb_load_bytes}",
], ids=["get_current_comm", "get_stack", "probe_read", "probe_read_kernel", "probe_read_str",
        "skb_load_bytes"])
def test_a_size_beyond_the_buffer_is_refused_without_allocating_it(call):
    """A 16-byte stack buffer with a size of half a gigabyte: the verifier
    would refuse the call; the VM says which helper and which argument."""
    result, peak = peak_of(lambda: run(call.replace("{size}", str(BIG))))
    assert isinstance(result, HelperError), result
    assert "r1" in str(result) or "r2" in str(result) or "r3" in str(result)
    assert str(result).split(": ")[1].startswith("bpf_")
    assert peak < 4 << 20, f"{peak} bytes allocated"


def test_get_current_comm_still_fills_a_buffer_that_fits():
    r0, _ = run("r1 = r10\nr1 += -16\nr2 = 16\ncall {get_current_comm}\n"
                      "r0 = *(u64 *)(r10 - 16)")
    assert r0.to_bytes(8, "little") == b"pybpf-te"


FORMAT = "\n".join(f"*(u8 *)(r10 - {32 - i}) = {b}" for i, b in enumerate(b"%1000000000d\0"))


def test_trace_printk_with_a_huge_width_keeps_a_kernel_sized_line():
    body = FORMAT + "\nr1 = r10\nr1 += -32\nr2 = 13\nr3 = 42\ncall {trace_printk}"
    (r0, machine), peak = peak_of(lambda: run(body))
    line = machine.trace_pipe[-1]
    assert len(line) == MAX_BPRINTF_BUF - 1 and line.endswith(b" ") and line.strip() == b""
    assert r0 == FIELD_WIDTH_MAX           # what the whole line would have held
    assert peak < 4 << 20, f"{peak} bytes allocated"


def snprintf_of(fmt: bytes, machine=None):
    """(r0, the first 8 bytes written, bytes allocated at the peak) of
    bpf_snprintf of ``fmt`` (from a map, as the verifier wants it) with the
    argument 7 into a 16-byte buffer."""
    machine = machine or vm()
    ro = machine.create_map(MapSpec("fmt", "array", 4, 32, 1))
    ro.raw.update(0, fmt.ljust(32, b"\0"))
    body = (f"r3 = map[fd:{machine.fd_of(ro)}][0]+0 ll\n"
            "*(u64 *)(r10 - 8) = 7\nr4 = r10\nr4 += -8\nr5 = 8\n"
            "r1 = r10\nr1 += -32\nr2 = 16\ncall {snprintf}\n"
            "r7 = r0\nr0 = *(u64 *)(r10 - 32)\nr0 ^= r7")
    result, peak = peak_of(lambda: run(body, machine=machine))
    if isinstance(result, Exception):
        raise result
    return result[0], peak


def test_snprintf_with_a_huge_width_writes_what_fits():
    r0, peak = snprintf_of(b"%-100000000d|\0")
    assert peak < 4 << 20, f"{peak} bytes allocated"
    total = FIELD_WIDTH_MAX + 2           # the clamped field, "|", the NUL
    assert r0 ^ int.from_bytes(b"7       ", "little") == total


def test_snprintf_refuses_what_the_kernel_refuses():
    # the kernel's verifier checks bpf_snprintf's constant format: no
    # precision, no '#', no 'h'
    for fmt in (b"%-.100000000d|\0", b"%#x\0", b"%hd\0"):
        with pytest.raises(HelperError):
            snprintf_of(fmt)


def test_snprintf_output_beyond_its_buffer_is_refused():
    machine = vm()
    ro = machine.create_map(MapSpec("fmt", "array", 4, 8, 1))
    ro.raw.update(0, b"hi\0".ljust(8, b"\0"))
    body = (f"r3 = map[fd:{machine.fd_of(ro)}][0]+0 ll\nr4 = 0\nr5 = 0\n"
            f"r1 = r10\nr1 += -16\nr2 = {BIG}\ncall {{snprintf}}")
    with pytest.raises(HelperError, match=r"bpf_snprintf: r1 .* r2"):
        run(body, machine=machine)


@pytest.mark.parametrize("name,text,flags,expect,value", [
    ("strtol", b"12\xb2", 0, 2, 12),            # a non-ASCII "digit" ends the number
    ("strtoul", b"  0x1fz", 0, 6, 0x1F),
    ("strtol", b"-42", 10, 3, -42),
    ("strtoul", b"-42", 10, -errno.EINVAL, None),   # the kernel's strtoul refuses a sign
    ("strtol", b"+42", 10, -errno.EINVAL, None),    # ... and knows no plus sign
    ("strtol", b"9223372036854775808", 10, -errno.ERANGE, None),
    ("strtol", b"-9223372036854775808", 10, 20, -(1 << 63)),
    ("strtoul", b"18446744073709551616", 10, -errno.ERANGE, None),
    ("strtoul", b"0x", 16, -errno.EINVAL, None),
    ("strtoul", b"0xg", 0, 1, 0),                   # base 0: "0x" without a hex digit is octal 0
    ("strtoul", b"7", 7, -errno.EINVAL, None),
    ("strtoul", b"   ", 10, -errno.EINVAL, None),
])
def test_strtol_and_strtoul_parse_as_the_kernel(name, text, flags, expect, value):
    machine = vm()
    out = machine.create_map(MapSpec("res", "array", 4, 8, 1))
    out.raw.update(0, (0x5A5A).to_bytes(8, "little"))
    store = "\n".join(f"*(u8 *)(r10 - {32 - i}) = {b}" for i, b in enumerate(text))
    body = (f"{store}\nr1 = r10\nr1 += -32\nr2 = {len(text)}\nr3 = {flags}\n"
            f"r4 = map[fd:{machine.fd_of(out)}][0]+0 ll\ncall {{{name}}}")
    r0, _ = run(body, machine=machine)
    assert (r0 - (1 << 64) if r0 >> 63 else r0) == expect
    stored = int.from_bytes(out.raw.lookup(0), "little", signed=True)
    assert stored == (0x5A5A if value is None else value)     # nothing written on failure


def test_skb_helpers_in_an_xdp_program_are_refused_by_name():
    for call in ("r1 = r6\nr2 = 0x81\nr3 = 5\ncall {skb_vlan_push}",
                 "r1 = r6\ncall {skb_vlan_pop}"):
        with pytest.raises(HelperError) as info:
            run(call, prog_type="xdp")
        assert "xdp" in str(info.value) and "bpf_skb_vlan_p" in str(info.value)
        assert info.value.__cause__ is None


@pytest.mark.parametrize("call,helper", [
    ("r1 = {map} ll\nr2 = r10\nr2 += -8\nr3 = 8\nr4 = 0\ncall {ringbuf_output}",
     "ringbuf_output"),
    ("r1 = {map} ll\nr2 = 8\nr3 = 0\ncall {ringbuf_reserve}", "ringbuf_reserve"),
    ("r1 = {map} ll\nr2 = 0\ncall {ringbuf_query}", "ringbuf_query"),
    ("r1 = r6\nr2 = {map} ll\nr3 = 0\nr4 = r10\nr4 += -8\nr5 = 8\ncall {perf_event_output}",
     "perf_event_output"),
    ("r1 = r6\nr2 = {map} ll\nr3 = 0\ncall {get_stackid}", "get_stackid"),
])
def test_map_helpers_refuse_maps_of_the_wrong_kind_by_name(call, helper):
    machine = vm()
    h = machine.create_map(MapSpec("h", "hash", 4, 8, 4))
    body = "*(u64 *)(r10 - 8) = 0\n" + call.replace("{map}", f"map[fd:{machine.fd_of(h)}]")
    with pytest.raises(HelperError) as info:
        run(body, machine=machine)
    assert f"bpf_{helper}" in str(info.value) and "hash" in str(info.value)
    assert info.value.__cause__ is None


def test_redirect_map_on_a_keyless_map_is_refused_not_an_overflow():
    machine = vm()
    q = machine.create_map(MapSpec("q", "queue", 0, 8, 4))
    body = f"r1 = map[fd:{machine.fd_of(q)}] ll\nr2 = 300\nr3 = 0\ncall {{redirect_map}}"
    with pytest.raises(HelperError) as info:
        run(body, prog_type="xdp", machine=machine)
    assert "bpf_redirect_map" in str(info.value) and info.value.__cause__ is None


def test_spin_lock_outside_a_map_value_is_refused_by_name():
    with pytest.raises(HelperError, match=r"bpf_spin_lock: r1"):
        run("r1 = r10\nr1 += -8\ncall 93")


def test_a_program_exiting_with_a_lock_held_makes_the_next_taker_fail_not_hang():
    machine = vm()
    m = create_map(MapSpec("locked", "array", 4, 8, 1), num_cpus=2, spin_lock_offset=0)
    fd = machine.adopt_map(m)
    take = (f"*(u32 *)(r10 - 4) = 0\nr1 = map[fd:{fd}] ll\nr2 = r10\nr2 += -4\n"
            f"call {helper_id('map_lookup_elem')}\nif r0 == 0 goto out\nr1 = r0\n"
            f"call {helper_id('spin_lock')}\nout:\nr0 = 0")
    run(take, machine=machine)                        # leaves the lock held
    with pytest.raises(HelperError, match="already holds"):
        run(take, machine=machine)                    # same thread: a deadlock, reported


def test_perf_event_output_and_ringbuf_output_sizes_are_bounded_by_their_buffer():
    machine = vm()
    rb = machine.create_map(MapSpec("rb", "ringbuf", 0, 0, 4096))
    body = (f"r1 = map[fd:{machine.fd_of(rb)}] ll\nr2 = r10\nr2 += -8\nr3 = {BIG}\nr4 = 0\n"
            "call {ringbuf_output}")
    result, peak = peak_of(lambda: run(body, machine=machine))
    assert isinstance(result, HelperError) and "r3" in str(result)
    assert peak < 4 << 20
