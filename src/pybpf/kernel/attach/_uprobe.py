"""uprobes and USDT probes: programs on user-space functions and static
probe points.

A uprobe sits at a file offset of an executable or library; every process
that maps the file hits it (or only ``pid``).  :func:`uprobe` resolves a
symbol to that offset (:mod:`pybpf.kernel.symbols`), opens a perf event on
the kernel's ``uprobe`` PMU (a tracefs ``uprobe_events`` probe on kernels
without it) and attaches the program::

    link = uprobe(prog, "/usr/bin/bash", "readline", retprobe=True)
    link = uprobe(prog, "c", "malloc", pid=1234)       # libc, one process
    link = uprobe_multi(prog, "c", "str*")             # one link, many functions
    link = usdt(prog, "./server", "server", "request", pid=1234)

``ref_ctr_offset`` (a file offset) names a USDT semaphore the kernel
increments while the probe is attached.  :func:`usdt` puts a uprobe at
every site of a USDT probe (:mod:`pybpf.kernel.usdt` reads them from the
binary); the semaphore is raised through ``ref_ctr_offset`` (the kernel
counts it for every process) or, with ``semaphore="mem"``, by writing
``/proc/PID/mem``.  Arguments reach the BPF program through
``pybpf_usdt.bpf.h`` (shipped with the tools' headers): a program that
includes it has an array map ``pybpf_usdt_spec``; attaching writes each
site's argument spec there and gives the uprobe the spec's index as its BPF
cookie, and ``pybpf_usdt_arg(ctx, n, &value)`` reads argument ``n``.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import struct
from collections.abc import Callable, Sequence
from typing import Any

from ...errors import AttachError, BPFError, KernelError
from .. import perf as _perf
from .._abi import constant
from ..info import map_info, program_info
from ..links import KernelLink, link_create
from ..maps import KernelMap
from ..symbols import ElfBinary, find_binary
from ..usdt import SPEC_MAP, encode_spec, find
from ._base import AttachmentGroup, AttachRequest, program_label, raw_update
from ._perf_link import PerfEventLink, attach_perf_event_fd, create_probe, probe_name

__all__ = ["SemaphoreHold", "parse_target", "resolve", "uprobe", "uprobe_multi", "usdt"]


def parse_target(target: str) -> tuple[str, str | None, int]:
    """``binary:symbol[+offset]`` or ``binary:offset`` -> ``(binary, symbol,
    offset)`` (symbol None for a bare offset)."""
    binary, sep, where = target.rpartition(":")
    if not sep or not binary or not where:
        raise AttachError(f"uprobe target {target!r} is not 'binary:function[+offset]' or "
                       f"'binary:offset'")
    try:
        return binary, None, int(where, 0)
    except ValueError:
        pass
    symbol, _, off = where.partition("+")
    try:
        return binary, symbol, int(off, 0) if off else 0
    except ValueError:
        raise AttachError(f"uprobe target {target!r}: bad offset {off!r}") from None


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
        tp, remove = create_probe("uprobe", definition,
                                  probe_name(kind, os.path.basename(path)), retprobe)
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
    path = find_binary(binary, pid or None)
    with ElfBinary(path) as elf:
        names = [s.name for s in elf.functions_matching(symbols)] if isinstance(symbols, str) \
            else list(symbols)
        if not names:
            raise AttachError(f"{program_label(program)}: {symbols!r} matches no function of "
                           f"{path}")
        offsets = [elf.file_offset_of(n) for n in names]
    cpath = ctypes.create_string_buffer(os.fsencode(path))
    offs = (ctypes.c_uint64 * len(offsets))(*offsets)
    keep: list[Any] = [cpath, offs]  # the kernel reads these during the call
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


# --- USDT ----------------------------------------------------------------------------

class SemaphoreHold:
    """A USDT semaphore raised by writing ``/proc/PID/mem``; :meth:`close`
    lowers it again."""

    def __init__(self, pid: int, address: int):
        self.pid = pid
        self.address = address
        self._add(1)
        self._closed = False

    def _add(self, delta: int) -> None:
        try:
            fd = os.open(f"/proc/{self.pid}/mem", os.O_RDWR | os.O_CLOEXEC)
        except OSError as e:
            raise KernelError(f"cannot open /proc/{self.pid}/mem to set a USDT semaphore: "
                              f"{e.strerror}", errno=e.errno, operation="usdt semaphore") from None
        try:
            (value,) = struct.unpack("<H", os.pread(fd, 2, self.address))
            os.pwrite(fd, struct.pack("<H", max(0, value + delta) & 0xFFFF), self.address)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Lower the semaphore (if the process still runs)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError, KernelError):
                self._add(-1)

    def detach(self) -> None:
        """Same as :meth:`close`."""
        self.close()


def _runtime_address(pid: int, path: str, file_offset: int) -> int:
    """Where file offset ``file_offset`` of ``path`` is mapped in ``pid``."""
    real = os.path.realpath(path)
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) < 6 or os.path.realpath(parts[5].strip()) != real:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            off = int(parts[2], 16)
            if off <= file_offset < off + (hi - lo):
                return lo + file_offset - off
    raise BPFError(f"{path} offset {file_offset:#x} is not mapped in process {pid}")


def _spec_map(program: Any) -> Any:
    """The ``pybpf_usdt_spec`` map the program uses, or None."""
    with contextlib.suppress(Exception):
        for map_id in program_info(program.fd).map_ids:
            m = KernelMap.from_id(map_id)
            if m.name == SPEC_MAP[:15]:
                return m
            m.close()
    return None


_next_spec: dict[int, int] = {}
"""Next free slot of each spec map (by map id) this process writes."""


def usdt(program: Any, binary: str, provider: str, name: str, *, pid: int = -1,
         cookie: int = 0, semaphore: str = "kernel", spec_map: Any = None) -> AttachmentGroup:
    """Attach a ``kprobe``-type program to every site of USDT probe
    ``provider:name`` in ``binary`` (in process ``pid`` only, or all).

    ``semaphore`` is ``"kernel"`` (the uprobe's ``ref_ctr_offset``) or
    ``"mem"`` (written through ``/proc/PID/mem``; needs ``pid``).  When the
    program uses ``pybpf_usdt.bpf.h`` (its ``pybpf_usdt_spec`` map, or
    ``spec_map``), each site's argument spec goes there and ``cookie``
    comes back from ``pybpf_usdt_cookie(ctx)``.
    """
    if semaphore not in ("kernel", "mem"):
        raise AttachError(f"semaphore must be 'kernel' or 'mem', not {semaphore!r}")
    if semaphore == "mem" and pid <= 0:
        raise AttachError("semaphore='mem' needs the pid of the process to write to")
    sites = find(binary, provider, name, pid=pid if pid > 0 else None)
    owned_map = None
    m = spec_map
    if m is None:
        m = owned_map = _spec_map(program)
    parts: list[Any] = []
    try:
        for site in sites:
            site_cookie = cookie
            if m is not None:
                key = map_info(m.fd).id
                index = _next_spec.get(key, 0)
                if index >= m.max_entries:
                    raise BPFError(f"map {SPEC_MAP} is full ({m.max_entries} probe sites)")
                _next_spec[key] = index + 1
                raw_update(m.fd, index.to_bytes(4, "little"), encode_spec(site.args, cookie),
                           what=f"map {SPEC_MAP}")
                site_cookie = index
            ref = site.semaphore_offset if semaphore == "kernel" else 0
            if site.semaphore and semaphore == "mem":
                parts.append(SemaphoreHold(pid, _runtime_address(pid, site.path,
                                                                 site.semaphore_offset)))
            link = uprobe(program, site.path, None, offset=site.file_offset, pid=pid,
                          cookie=site_cookie, ref_ctr_offset=ref)
            link.target = f"usdt {provider}:{name} at {site.path}:{site.address:#x}"
            parts.append(link)
    except BaseException:
        for p in parts:
            p.close()
        raise
    finally:
        if owned_map is not None:
            owned_map.close()
    return AttachmentGroup(parts, program=program,
                           target=f"usdt {provider}:{name} ({len(sites)} sites) in {binary}")


def _uprobe_from(r: AttachRequest) -> PerfEventLink:
    binary, symbol, offset = parse_target(r.target)
    return uprobe(r.program, binary, symbol, offset=offset, retprobe=r.retprobe(), **r.options)


def _uprobe_multi_from(r: AttachRequest) -> KernelLink:
    binary, _, pattern = r.target.rpartition(":")
    return uprobe_multi(r.program, binary, pattern, retprobe=r.retprobe(), **r.options)


def _usdt_from(r: AttachRequest) -> AttachmentGroup:
    parts = r.target.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise r.error(f"usdt target {r.target!r} is not 'binary:provider:probe'")
    binary, provider, name = parts
    return usdt(r.program, binary, provider, name, **r.options)


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "uprobe": _uprobe_from,
    "uprobe_multi": _uprobe_multi_from,
    "usdt": _usdt_from,
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
