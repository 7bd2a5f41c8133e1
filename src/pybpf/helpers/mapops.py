"""Map helpers: element operations, queues, ring and perf buffers, iteration,
stack ids and tail calls.

The map a program passes is the address its ``lddw`` loaded, the map's
address in the program's VM; ``ctx.map_at`` turns it back into the map (a
map the VM does not have is no map).  Keys and values are read from and
written to program memory as raw bytes.  Helpers that take one kind of map
(ring buffers, perf event arrays, stack traces, program arrays) refuse the
others as the verifier does.

ADDRESSES: maps name their values by host address (``bpf_lookup``,
``bpf_for_each``, ``bpf_ringbuf_reserve``); a program must only ever see
its VM's addresses.  Every address a helper hands a program goes through
``ctx.memory.from_host`` (0, NULL, for memory the VM does not map), every
address a program hands a map goes through ``ctx.memory.to_host``, and a
map of maps returns the inner map's pointer in the program's VM
(``ctx.map_pointer``).
"""

from __future__ import annotations

import errno as E

from ..errors import HelperError
from .args import check_mem, map_arg
from .core import builtin, stack_for
from .registry import HelperContext


def the_map(ctx: HelperContext, address: int, helper: str):
    """The map at ``address`` (register r1); anything else is a program
    error.  (The common helpers' path: one lookup, no more.)"""
    m = ctx.map_at(address)
    if m is None:
        return map_arg(ctx, helper, 1, address)     # raises, naming the register
    return m


def map_of_type(ctx: HelperContext, address: int, helper: str, arg: int, *types: str):
    """The map at ``address`` (register ``r<arg>``), which must be one of
    ``types`` (the verifier refuses a helper's call with another kind)."""
    return map_arg(ctx, helper, arg, address, *types)


_MAPS_OF_MAPS = ("array_of_maps", "hash_of_maps")


@builtin("map_lookup_elem")
def map_lookup_elem(ctx: HelperContext, map_ptr: int, key: int, *_: int) -> int:
    """The address of the value for ``key`` (for a map of maps, the inner
    map's pointer), or NULL."""
    m = the_map(ctx, map_ptr, "map_lookup_elem")
    raw_key = ctx.memory.read(key, m.key_size)
    if m.type in _MAPS_OF_MAPS:
        inner = m.bpf_lookup_map(raw_key)
        return 0 if inner is None else ctx.map_pointer(inner)
    value = m.bpf_lookup(raw_key, ctx.env.cpu)
    return ctx.memory.from_host(value) if value else 0


@builtin("map_update_elem")
def map_update_elem(ctx: HelperContext, map_ptr: int, key: int, value: int, flags: int,
                    *_: int) -> int:
    """Create or update an element; 0 or a negative errno."""
    m = the_map(ctx, map_ptr, "map_update_elem")
    return m.bpf_update(ctx.memory.read(key, m.key_size), ctx.memory.read(value, m.value_size),
                        flags, ctx.env.cpu)


@builtin("map_delete_elem")
def map_delete_elem(ctx: HelperContext, map_ptr: int, key: int, *_: int) -> int:
    """Delete an element; 0 or a negative errno."""
    m = the_map(ctx, map_ptr, "map_delete_elem")
    return m.bpf_delete(ctx.memory.read(key, m.key_size), ctx.env.cpu)


@builtin("map_lookup_percpu_elem")
def map_lookup_percpu_elem(ctx: HelperContext, map_ptr: int, key: int, cpu: int,
                           *_: int) -> int:
    """The address of ``key``'s value on another CPU, or NULL."""
    m = the_map(ctx, map_ptr, "map_lookup_percpu_elem")
    value = m.bpf_lookup_percpu(ctx.memory.read(key, m.key_size), cpu & 0xFFFFFFFF)
    return ctx.memory.from_host(value) if value else 0


@builtin("map_push_elem")
def map_push_elem(ctx: HelperContext, map_ptr: int, value: int, flags: int, *_: int) -> int:
    """Push onto a queue, stack or bloom filter."""
    m = the_map(ctx, map_ptr, "map_push_elem")
    return m.bpf_push(ctx.memory.read(value, m.value_size), flags)


def _pop_or_peek(ctx: HelperContext, map_ptr: int, value: int, helper: str) -> int:
    m = the_map(ctx, map_ptr, helper)
    out = bytearray(m.value_size)
    if helper == "map_peek_elem" and m.type == "bloom_filter":
        return m.bpf_peek(memoryview(bytearray(ctx.memory.read(value, m.value_size))))
    ret = m.bpf_pop(out) if helper == "map_pop_elem" else m.bpf_peek(out)
    if ret == 0:
        ctx.memory.write(value, out)
    return ret


@builtin("map_pop_elem")
def map_pop_elem(ctx: HelperContext, map_ptr: int, value: int, *_: int) -> int:
    """Pop from a queue or stack into ``value``."""
    return _pop_or_peek(ctx, map_ptr, value, "map_pop_elem")


@builtin("map_peek_elem")
def map_peek_elem(ctx: HelperContext, map_ptr: int, value: int, *_: int) -> int:
    """Peek at a queue or stack (or test a bloom filter for ``value``)."""
    return _pop_or_peek(ctx, map_ptr, value, "map_peek_elem")


@builtin("for_each_map_elem")
def for_each_map_elem(ctx: HelperContext, map_ptr: int, callback: int, callback_ctx: int,
                      flags: int, *_: int) -> int:
    """Call ``callback(map, key, value, ctx)`` for each element until it
    returns non-zero; returns the number of elements visited."""
    if flags:
        return -E.EINVAL
    m = the_map(ctx, map_ptr, "for_each_map_elem")
    count = 0
    from_host = ctx.memory.from_host
    for key_address, value_address in m.bpf_for_each(ctx.env.cpu):
        count += 1
        if ctx.invoke(callback, map_ptr, from_host(key_address), from_host(value_address),
                      callback_ctx):
            break
    return count


# --- ring buffers ---------------------------------------------------------------------

@builtin("ringbuf_output")
def ringbuf_output(ctx: HelperContext, map_ptr: int, data: int, size: int, flags: int,
                   *_: int) -> int:
    """Copy ``size`` bytes into a ring buffer record."""
    m = map_of_type(ctx, map_ptr, "ringbuf_output", 1, "ringbuf")
    check_mem(ctx, "ringbuf_output", 2, data, 3, size, write=False)
    return m.bpf_ringbuf_output(ctx.memory.read(data, size), flags)


@builtin("ringbuf_reserve")
def ringbuf_reserve(ctx: HelperContext, map_ptr: int, size: int, flags: int, *_: int) -> int:
    """Reserve a record; its address, or NULL when the buffer is full."""
    m = map_of_type(ctx, map_ptr, "ringbuf_reserve", 1, "ringbuf")
    record = m.bpf_ringbuf_reserve(size, flags)
    return ctx.memory.from_host(record) if record else 0


def _ring_of(ctx: HelperContext, address: int, helper: str):
    """The ring buffer holding the record at ``address`` and the record's
    host address (what the map knows it by)."""
    owner = ctx.map_owning(address)
    host = ctx.memory.to_host(address)
    if getattr(owner, "type", None) != "ringbuf" or host is None:
        raise HelperError(f"bpf_{helper}: {address:#x} is not a reserved ring buffer record")
    return owner, host


@builtin("ringbuf_submit")
def ringbuf_submit(ctx: HelperContext, data: int, flags: int, *_: int) -> int:
    """Commit a reserved record."""
    ring, record = _ring_of(ctx, data, "ringbuf_submit")
    ring.bpf_ringbuf_submit(record, flags)
    return 0


@builtin("ringbuf_discard")
def ringbuf_discard(ctx: HelperContext, data: int, flags: int, *_: int) -> int:
    """Drop a reserved record."""
    ring, record = _ring_of(ctx, data, "ringbuf_discard")
    ring.bpf_ringbuf_discard(record, flags)
    return 0


@builtin("ringbuf_query")
def ringbuf_query(ctx: HelperContext, map_ptr: int, flags: int, *_: int) -> int:
    """Ring buffer state: available data, size, positions."""
    return map_of_type(ctx, map_ptr, "ringbuf_query", 1, "ringbuf").bpf_ringbuf_query(flags)


# --- perf events and stacks --------------------------------------------------------------

@builtin("perf_event_output")
def perf_event_output(ctx: HelperContext, _ctx_ptr: int, map_ptr: int, flags: int, data: int,
                      size: int) -> int:
    """Send a sample to a perf event array's buffer."""
    m = map_of_type(ctx, map_ptr, "perf_event_output", 2, "perf_event_array")
    check_mem(ctx, "perf_event_output", 4, data, 5, size, write=False)
    packet = ctx.packet
    ctx_data = packet.payload() if packet is not None else None
    return m.bpf_perf_event_output(ctx.memory.read(data, size), flags, ctx.env.cpu,
                                   ctx_data=ctx_data)


@builtin("get_stackid")
def get_stackid(ctx: HelperContext, _ctx_ptr: int, map_ptr: int, flags: int, *_: int) -> int:
    """The id of the current stack in a stack trace map."""
    m = map_of_type(ctx, map_ptr, "get_stackid", 2, "stack_trace")
    return m.bpf_get_stackid(stack_for(ctx, flags), flags)


@builtin("tail_call")
def tail_call(ctx: HelperContext, _ctx_ptr: int, map_ptr: int, index: int, *_: int):
    """The program a tail call through ``map_ptr[index]`` jumps to, or None
    to fall through.  The interpreter performs the jump itself."""
    m = map_of_type(ctx, map_ptr, "tail_call", 2, "prog_array")
    return m.bpf_tail_call_target(index & 0xFFFFFFFF)
