"""Probes: what each attach point of a program names on this system
(wildcards expanded), how it is attached, and probe listing (``-l``).

:func:`expand` turns a written probe into :class:`Target`\\ s: one per
tracepoint, function or USDT probe a wildcard matches.  Probes this kernel
cannot give (kprobes without ``CONFIG_KPROBES``; kfunc/fentry, which it
refuses with EPERM) are a :class:`~pybpf.trace.errors.TraceProbeError`
saying so.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from typing import Any

from . import ast as A
from .errors import Source, TraceProbeError
from .layout import Target
from .parser import PROVIDERS
from .tracefs import event_format, tracefs_dir

__all__ = [
    "HARDWARE_EVENTS",
    "SOFTWARE_EVENTS",
    "Target",
    "expand",
    "kernel_refusal",
    "list_probes",
]

SOFTWARE_EVENTS = {
    "cpu-clock": "cpu_clock", "cpu": "cpu_clock", "task-clock": "task_clock",
    "page-faults": "page_faults", "faults": "page_faults",
    "context-switches": "context_switches", "cs": "context_switches",
    "cpu-migrations": "cpu_migrations", "minor-faults": "page_faults_min",
    "major-faults": "page_faults_maj", "alignment-faults": "alignment_faults",
    "emulation-faults": "emulation_faults", "dummy": "dummy", "bpf-output": "bpf_output",
}
"""bpftrace's software event names -> ``PERF_COUNT_SW_*`` names (lower case)."""

HARDWARE_EVENTS = {
    "cpu-cycles": "cpu_cycles", "cycles": "cpu_cycles", "instructions": "instructions",
    "cache-references": "cache_references", "cache-misses": "cache_misses",
    "branch-instructions": "branch_instructions", "branches": "branch_instructions",
    "branch-misses": "branch_misses", "bus-cycles": "bus_cycles",
    "frontend-stalls": "stalled_cycles_frontend", "backend-stalls": "stalled_cycles_backend",
    "ref-cycles": "ref_cpu_cycles",
}
"""bpftrace's hardware event names -> ``PERF_COUNT_HW_*`` names (lower case)."""

_UNITS_NS = {"ns": 1, "us": 1000, "ms": 1000_000, "s": 1000_000_000}
_DEFAULT_SW_PERIOD = 1000
_DEFAULT_HW_PERIOD = 1000_000


def kernel_refusal(kind: str) -> str | None:
    """Why this kernel cannot give probes of ``kind`` (None when it can)."""
    if kind in ("kprobe", "kretprobe"):
        from ..kernel.attach import no_kprobes_reason

        return no_kprobes_reason()
    if kind in ("kfunc", "kretfunc"):
        from ..kernel.attach import trampoline_refusal

        reason = trampoline_refusal()
        if reason:
            return reason
        return None
    if kind in ("watchpoint", "asyncwatchpoint", "iter"):
        return f"{kind} probes are not supported by pybpf trace yet"
    return None


def _err(msg: str, probe: A.Probe, source: Source | None) -> TraceProbeError:
    return TraceProbeError(msg, source, probe.span, probe=probe.text)


def _rate(probe: A.Probe, source: Source | None) -> dict[str, Any]:
    if len(probe.parts) == 1:
        unit, count = "hz", probe.parts[0]
    elif len(probe.parts) == 2:
        unit, count = probe.parts
    else:
        raise _err(f"{probe.provider} probe must be {probe.provider}:unit:count "
                   f"(units: ns, us, ms, s, hz)", probe, source)
    try:
        n = int(float(count)) if "e" in count else int(count, 0)
    except ValueError:
        raise _err(f"{probe.provider}: invalid count '{count}'", probe, source) from None
    if n <= 0:
        raise _err(f"{probe.provider}: count must be positive", probe, source)
    if unit == "hz":
        return {"frequency": n}
    if unit not in _UNITS_NS:
        raise _err(f"{probe.provider}: invalid unit '{unit}' (ns, us, ms, s, hz)", probe,
                   source)
    return {"period_ns": n * _UNITS_NS[unit]}


def tracepoint_names() -> list[str]:
    """Every ``category:event`` of tracefs."""
    base = os.path.join(tracefs_dir(), "events")
    out = []
    for cat in sorted(os.listdir(base)):
        d = os.path.join(base, cat)
        if not os.path.isdir(d):
            continue
        for ev in sorted(os.listdir(d)):
            if os.path.isdir(os.path.join(d, ev)):
                out.append(f"{cat}:{ev}")
    return out


def _has_wildcard(text: str) -> bool:
    return any(c in text for c in "*?[")


def expand(probe: A.Probe, source: Source | None = None, *, pid: int | None = None
           ) -> list[Target]:
    """The concrete attach points ``probe`` names (several for a wildcard)."""
    kind = probe.provider
    if kind in ("BEGIN", "END"):
        return [Target(kind, kind)]
    reason = kernel_refusal(kind)
    if reason:
        raise _err(f"{kind} probes cannot be used here: {reason}", probe, source)
    if kind == "tracepoint":
        if len(probe.parts) != 2:
            raise _err("tracepoint probe must be tracepoint:category:event", probe, source)
        cat, ev = probe.parts
        if _has_wildcard(cat) or _has_wildcard(ev):
            names = [n for n in tracepoint_names() if fnmatch.fnmatchcase(n, f"{cat}:{ev}")]
        else:
            names = [f"{cat}:{ev}"]
        out = []
        for n in names:
            c, e = n.split(":")
            fmt = event_format(c, e)
            if fmt is None:
                raise _err(f"tracepoint not found: {n}", probe, source)
            out.append(Target("tracepoint", f"tracepoint:{n}",
                              {"category": c, "event": e, "format": fmt}))
        if not out:
            raise _err(f"tracepoint not found: {cat}:{ev}", probe, source)
        return out
    if kind == "rawtracepoint":
        if len(probe.parts) != 1:
            raise _err("rawtracepoint probe must be rawtracepoint:event", probe, source)
        return [Target(kind, f"rawtracepoint:{probe.parts[0]}", {"event": probe.parts[0]})]
    if kind in ("uprobe", "uretprobe"):
        return _uprobes(probe, source, pid)
    if kind == "usdt":
        return _usdt(probe, source, pid)
    if kind in ("interval", "profile"):
        return [Target(kind, probe.name, _rate(probe, source))]
    if kind in ("software", "hardware"):
        names = SOFTWARE_EVENTS if kind == "software" else HARDWARE_EVENTS
        if not probe.parts or probe.parts[0] not in names:
            raise _err(f"{kind}: unknown event '{probe.parts[0] if probe.parts else ''}' "
                       f"(known: {', '.join(sorted(names))})", probe, source)
        count = probe.parts[1] if len(probe.parts) > 1 and probe.parts[1] else ""
        try:
            period = (int(float(count)) if "e" in count else int(count, 0)) if count else \
                (_DEFAULT_SW_PERIOD if kind == "software" else _DEFAULT_HW_PERIOD)
        except ValueError:
            raise _err(f"{kind}: invalid count '{count}'", probe, source) from None
        return [Target(kind, probe.name, {"event": names[probe.parts[0]],
                                          "event_type": kind, "period": period})]
    raise _err(f"{kind} probes are not supported", probe, source)


def _uprobes(probe: A.Probe, source: Source | None, pid: int | None) -> list[Target]:
    from ..errors import BPFError
    from ..kernel.symbols import ElfBinary, find_binary

    if len(probe.parts) != 2:
        raise _err(f"{probe.provider} probe must be {probe.provider}:binary:function",
                   probe, source)
    binary, func = probe.parts
    try:
        path = find_binary(binary, pid)
    except BPFError as e:
        raise _err(f"{probe.provider}: binary not found: {binary} ({e})", probe, source) \
            from None
    symbol, plus, off = func.partition("+")
    offset = int(off, 0) if plus else 0
    try:
        address = int(symbol, 0)
        return [Target(probe.provider, f"{probe.provider}:{binary}:{func}",
                       {"binary": path, "symbol": None, "offset": address})]
    except ValueError:
        pass
    with ElfBinary(path) as elf:
        if _has_wildcard(symbol):
            names = [s.name for s in elf.functions_matching(symbol)]
        else:
            if symbol not in elf.symbols():
                raise _err(f"{probe.provider}: {path} has no function '{symbol}'", probe, source)
            names = [symbol]
    if not names:
        raise _err(f"{probe.provider}: no function of {path} matches '{symbol}'", probe, source)
    return [Target(probe.provider, f"{probe.provider}:{binary}:{n}" + (f"+{off}" if plus else ""),
                   {"binary": path, "symbol": n, "offset": offset}) for n in names]


def _usdt(probe: A.Probe, source: Source | None, pid: int | None) -> list[Target]:
    from ..errors import BPFError
    from ..kernel import usdt
    from ..kernel.symbols import find_binary

    parts = probe.parts
    if len(parts) == 2 and pid:
        raise _err("usdt probes need the binary: usdt:binary:[provider:]name", probe, source)
    if len(parts) not in (2, 3):
        raise _err("usdt probe must be usdt:binary:[provider:]name", probe, source)
    binary = parts[0]
    provider, name = (parts[1], parts[2]) if len(parts) == 3 else ("*", parts[1])
    try:
        path = find_binary(binary, pid)
        sites = usdt.probes(path, pid=pid)
    except BPFError as e:
        raise _err(f"usdt: {e}", probe, source) from None
    groups: dict[tuple[str, str], list[Any]] = {}
    for s in sites:
        if fnmatch.fnmatchcase(s.provider, provider) and fnmatch.fnmatchcase(s.name, name):
            groups.setdefault((s.provider, s.name), []).append(s)
    if not groups:
        raise _err(f"usdt: {path} has no probe {provider}:{name}", probe, source)
    return [Target("usdt", f"usdt:{binary}:{p}:{n}",
                   {"binary": path, "provider": p, "probe": n, "sites": s})
            for (p, n), s in sorted(groups.items())]


# --- listing ------------------------------------------------------------------------------

def _listing(pattern: str | None) -> Iterator[str]:
    provider = None
    rest = pattern or "*"
    if pattern and ":" in pattern:
        head, _, tail = pattern.partition(":")
        if head in PROVIDERS:
            provider, rest = PROVIDERS[head], tail
    full_glob = f"{provider}:{rest}" if provider else rest

    def match(name: str) -> bool:
        return fnmatch.fnmatchcase(name, full_glob) if provider else \
            fnmatch.fnmatchcase(name, rest) or fnmatch.fnmatchcase(name.split(":", 1)[1], rest)

    if provider in (None, "tracepoint"):
        for n in tracepoint_names():
            if match(f"tracepoint:{n}"):
                yield f"tracepoint:{n}"
    if provider in ("uprobe", "uretprobe", "usdt"):
        yield from _list_binary(provider, rest)
        return
    if provider in (None, "software"):
        for n in SOFTWARE_EVENTS:
            if match(f"software:{n}:"):
                yield f"software:{n}:"
    if provider in (None, "hardware"):
        for n in HARDWARE_EVENTS:
            if match(f"hardware:{n}:"):
                yield f"hardware:{n}:"


def _list_binary(provider: str, rest: str) -> Iterator[str]:
    from ..kernel import usdt
    from ..kernel.symbols import ElfBinary, find_binary

    binary, _, what = rest.partition(":")
    path = find_binary(binary)
    what = what or "*"
    if provider == "usdt":
        names = {f"{s.provider}:{s.name}" for s in usdt.probes(path, parse=False)}
        for name in sorted(names):
            if fnmatch.fnmatchcase(name, what) or fnmatch.fnmatchcase(name.split(":")[1], what):
                yield f"usdt:{binary}:{name}"
        return
    with ElfBinary(path) as elf:
        for s in elf.functions_matching(what):
            yield f"{provider}:{binary}:{s.name}"


def list_probes(pattern: str | None = None, *, verbose: bool = False) -> list[str]:
    """The probes matching ``pattern`` as ``bpftrace -l`` lists them
    (tracepoints from tracefs, software and hardware events; uprobes and
    USDT probes of the binary the pattern names); with ``verbose``, a
    tracepoint's fields follow it, indented."""
    out = []
    patterns = [p.strip() for p in pattern.split(",")] if pattern else [None]
    for pat in patterns:
        for name in _listing(pat):
            out.append(name)
            if verbose and name.startswith("tracepoint:"):
                _, cat, ev = name.split(":")
                fmt = event_format(cat, ev)
                for f in fmt.fields if fmt else ():
                    arr = f"[{f.array}]" if f.array else ""
                    out.append(f"    {f.ctype} {f.name}{arr}")
    return out
