"""uprobes: programs on user-space functions.

A uprobe sits at a file offset of an executable or library; every process
that maps the file hits it (or only ``pid``).  :func:`uprobe` resolves a
symbol to that offset (:mod:`pybpf.kernel.symbols`), opens a perf event on
the kernel's ``uprobe`` PMU (a tracefs ``uprobe_events`` probe on kernels
without it) and attaches the program::

    link = uprobe(prog, "/usr/bin/bash", "readline", retprobe=True)
    link = uprobe(prog, "c", "malloc", pid=1234)       # libc, one process
    link = uprobe_multi(prog, "c", "str*")             # one link, many functions

``ref_ctr_offset`` (a file offset) names a USDT semaphore the kernel
increments while the probe is attached.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence
from typing import Any

from ..errors import BPFError
from . import perf as _perf
from .attach import PerfEventLink, _legacy_probe, _pname, _unique_name, attach_perf_event_fd
from .links import KernelLink, link_create
from .symbols import ElfBinary, find_binary


def parse_target(target: str) -> tuple[str, str | None, int]:
    """``binary:symbol[+offset]`` or ``binary:offset`` -> ``(binary, symbol,
    offset)`` (symbol None for a bare offset)."""
    binary, sep, where = target.rpartition(":")
    if not sep or not binary or not where:
        raise BPFError(f"uprobe target {target!r} is not 'binary:function[+offset]' or "
                       f"'binary:offset'")
    try:
        return binary, None, int(where, 0)
    except ValueError:
        pass
    symbol, _, off = where.partition("+")
    try:
        return binary, symbol, int(off, 0) if off else 0
    except ValueError:
        raise BPFError(f"uprobe target {target!r}: bad offset {off!r}") from None


def resolve(binary: str, symbol: str | None, offset: int = 0, pid: int | None = None
            ) -> tuple[str, int]:
    """``(path, file offset)`` of ``symbol + offset`` in ``binary`` (or of
    file offset ``offset`` when ``symbol`` is None)."""
    path = find_binary(binary, pid)
    if symbol is None:
        return path, offset
    with ElfBinary(path) as elf:
        return path, elf.file_offset_of(symbol, offset)


def uprobe(program: Any, binary: str, symbol: str | None = None, *, offset: int = 0,
           retprobe: bool = False, pid: int = -1, cookie: int = 0,
           ref_ctr_offset: int = 0) -> PerfEventLink:
    """Attach a ``kprobe``-type program to ``symbol`` (plus ``offset``) of
    ``binary``, or to file offset ``offset`` when ``symbol`` is None; to
    the function's return with ``retprobe``; in process ``pid`` only, or
    every process (-1)."""
    path, file_off = resolve(binary, symbol, offset, pid if pid > 0 else None)
    kind = "uretprobe" if retprobe else "uprobe"
    where = f"{symbol}+{offset:#x}" if symbol and offset else symbol or f"{file_off:#x}"
    target = f"{kind} {path}:{where}" + (f" pid {pid}" if pid > 0 else "")
    pmu = _perf.pmu_type("uprobe")
    cpu = 0 if pid <= 0 else -1
    pid = -1 if pid <= 0 else pid
    if pmu is None:
        definition = f"{path}:{file_off:#x}" + (f"({ref_ctr_offset:#x})" if ref_ctr_offset
                                                else "")
        tp, remove = _legacy_probe("uprobe", definition,
                                   _unique_name(kind, os.path.basename(path)), retprobe)
        ev = _perf.PerfEvent(_perf.perf_event_open(
            _perf.attr(type=_perf.perf_type("tracepoint"), config=tp, sample_period=1,
                       disabled=1), pid, cpu, what=target), target)
        return attach_perf_event_fd(program, ev, target=target, cookie=cookie, cleanup=remove)
    config = 0
    if retprobe:
        bit = _perf.pmu_config_bit("uprobe", "retprobe")
        config |= 1 << (bit if bit is not None else 0)
    if ref_ctr_offset:
        shift = _perf.pmu_config_shift("uprobe", "ref_ctr_offset")
        if shift is None:
            raise BPFError(f"{target}: this kernel's uprobe PMU has no ref_ctr_offset "
                           f"(Linux 4.20+): increment the semaphore through /proc/PID/mem")
        config |= ref_ctr_offset << shift
    name = ctypes.create_string_buffer(os.fsencode(path))
    a = _perf.attr(type=pmu, config=config, uprobe_path=ctypes.addressof(name),
                   probe_offset=file_off, sample_period=1, disabled=1)
    ev = _perf.PerfEvent(_perf.perf_event_open(a, pid, cpu, what=target), target)
    return attach_perf_event_fd(program, ev, target=target, cookie=cookie)


def uprobe_multi(program: Any, binary: str, symbols: str | Sequence[str], *,
                 retprobe: bool = False, pid: int = 0, cookies: Sequence[int] | None = None,
                 ref_ctr_offsets: Sequence[int] | None = None) -> KernelLink:
    """Attach a program loaded with expected attach type
    ``trace_uprobe_multi`` to many functions of ``binary`` with one link
    (Linux 6.6+): ``symbols`` is a list of names or a glob."""
    from ._abi import constant

    path = find_binary(binary, pid or None)
    with ElfBinary(path) as elf:
        names = [s.name for s in elf.functions_matching(symbols)] if isinstance(symbols, str) \
            else list(symbols)
        if not names:
            raise BPFError(f"{_pname(program)}: {symbols!r} matches no function of {path}")
        offsets = [elf.file_offset_of(n) for n in names]
    cpath = ctypes.create_string_buffer(os.fsencode(path))
    offs = (ctypes.c_uint64 * len(offsets))(*offsets)
    keep: list[Any] = [cpath, offs]
    extra: dict[str, Any] = {"uprobe_multi.path": ctypes.addressof(cpath),
                             "uprobe_multi.offsets": ctypes.addressof(offs),
                             "uprobe_multi.cnt": len(offsets), "uprobe_multi.pid": pid,
                             "uprobe_multi.flags": constant("BPF_F_UPROBE_MULTI_RETURN")
                             if retprobe else 0}
    for field, values in (("cookies", cookies), ("ref_ctr_offsets", ref_ctr_offsets)):
        if values:
            arr = (ctypes.c_uint64 * len(values))(*values)
            keep.append(arr)
            extra[f"uprobe_multi.{field}"] = ctypes.addressof(arr)
    return link_create(program, 0, "trace_uprobe_multi",
                       target=f"uprobe.multi {path} ({len(names)} functions)", **extra)
