"""Running a bpftrace program: in the kernel (attach every probe, read the
events ring buffer, print maps at exit) or in the userspace VM on synthetic
events (tracepoint records), with the same printing.

::

    from pybpf import trace
    prog = trace.compile('tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }')
    trace.run(prog, duration=5)                     # kernel (root)
    out = trace.run_vm(prog, [trace.Event("tracepoint:sched:sched_switch",
                                          {"prev_pid": 1}, comm="bash")])
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import BPFError
from . import types as T
from .errors import TraceError
from .layout import CONFIG_MAP, EVENTS_MAP, STACKS_MAP, MapLayout, Plan, decode, plan
from .output import (
    MapDump,
    Stack,
    format_map,
    format_maps,
    format_printf,
    format_value,
    json_line,
    json_map,
)

if TYPE_CHECKING:
    import subprocess

__all__ = ["Compiled", "Event", "Printer", "compile", "compile_for_run", "run", "run_vm"]


@dataclass
class Compiled:
    """A program parsed, checked and lowered: ``generated`` (its
    :class:`~pybpf.trace.layout.Plan`, with the backend module unless the
    object came from a cache) and, once built, ``spec`` (the ObjectSpec);
    ``cache_key`` names its entry in the compile cache.  A program read
    back from the start-up cache (:func:`compile_for_run`) has ``prepared``
    (the object linked for this kernel) and a plan without the analysis;
    ``start_key`` names its entry there."""

    generated: Plan
    spec: Any = None
    compile_seconds: float = 0.0
    cache_key: str | None = None
    cached: bool = False
    prepared: dict[str, Any] | None = None
    start_key: str | None = None

    @property
    def analysis(self) -> Any:
        """The semantic analysis."""
        return self.generated.analysis

    def object_spec(self) -> Any:
        """The ObjectSpec (compiled with LLVM on first use, and kept in the
        compile cache)."""
        if self.spec is None:
            start = time.perf_counter()
            self.spec = self.generated.object_spec()
            self.compile_seconds = time.perf_counter() - start
            if self.cache_key is not None:
                _cache_store(self.cache_key, self.generated.module.compile())
        return self.spec


_CACHE_SALT_FILES = ("codegen.py", "layout.py", "semantic.py", "types.py", "tracefs.py",
                     "probes.py")


def _cache_key(text: str, params: Sequence[str], unsafe: bool, pid: int | None,
               analysis: Any) -> str:
    """What the object of a program depends on: its text and parameters,
    the code generator's sources, the kernel, and the binaries it probes."""
    import hashlib

    h = hashlib.sha256()
    for part in (text, "\0".join(params), str(unsafe), str(pid), os.uname().release):
        h.update(part.encode() + b"\1")
    here = os.path.dirname(os.path.abspath(__file__))
    lang = os.path.join(os.path.dirname(here), "lang", "backend.py")
    files = [os.path.join(here, f) for f in _CACHE_SALT_FILES] + [lang]
    files += sorted({pp.target.params["binary"] for pp in analysis.programs
                     if "binary" in pp.target.params})
    for path in files:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            h.update(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def _cache_path(key: str) -> Any:
    from ..cache import private_dir

    return private_dir("trace") / f"{key}.o"


def _cache_load(key: str) -> bytes | None:
    from ..cache import read_sealed

    with contextlib.suppress(Exception):
        return read_sealed(_cache_path(key))
    return None


def _cache_store(key: str, elf: bytes) -> None:
    from ..cache import write_sealed

    with contextlib.suppress(Exception):
        write_sealed(_cache_path(key), elf)


def compile(text: str, name: str = "stdin", *, params: Sequence[str] = (),
            unsafe: bool = False, pid: int | None = None, cache: bool = True) -> Compiled:
    """Parse, check and lower program ``text`` (``name`` is what errors
    call it).  With ``cache``, an object compiled before for the same text,
    parameters, code generator and kernel is read back instead of compiled
    again.  Raises :class:`~pybpf.trace.errors.TraceError`."""
    from .parser import parse
    from .semantic import analyze

    program = parse(text, name)
    analysis = analyze(program, params=list(params), unsafe=unsafe, pid=pid)
    key = _cache_key(text, params, unsafe, pid, analysis) if cache else None
    if key is not None:
        elf = _cache_load(key)
        if elf is not None:
            from ..elf import load_object

            return Compiled(plan(analysis), load_object(elf, path=f"{name} (cached)"),
                            cache_key=key, cached=True)
    from .codegen import generate

    try:
        generated = generate(analysis)
    except TraceError:
        raise
    except BPFError as e:
        raise TraceError(f"code generation failed: {e}") from None
    return Compiled(generated, cache_key=key)


def compile_for_run(text: str, name: str = "stdin", *, params: Sequence[str] = (),
                    unsafe: bool = False, pid: int | None = None) -> Compiled:
    """The program to :func:`run` in the kernel: read back prepared from
    the start-up cache (:mod:`pybpf.trace.startup`) when this text and
    these options ran before on this kernel, without parsing it or
    importing the compiler; else :func:`compile` (and :func:`run` keeps
    the prepared object for next time)."""
    from . import startup

    key = None
    if startup.enabled():
        key = startup.start_key(text, params, unsafe, pid)
        entry = startup.read(key)
        if entry is not None:
            prepared, plan_ = entry
            return Compiled(plan_, cached=True, prepared=prepared, start_key=key)
    compiled = compile(text, name, params=params, unsafe=unsafe, pid=pid)
    compiled.start_key = key
    return compiled


# --- symbols -------------------------------------------------------------------------------

class KernelSymbols:
    """Kernel addresses -> ``name+offset`` (from kallsyms, read once)."""

    def __init__(self) -> None:
        self._addrs: list[int] | None = None
        self._names: list[str] = []

    def _load(self) -> None:
        from ..kernel import kallsyms

        pairs = sorted((s.address, s.name) for s in kallsyms.symbols() if s.address)
        self._addrs = [a for a, _ in pairs]
        self._names = [n for _, n in pairs]

    def lookup(self, addr: int, offset: bool = True) -> str:
        """``name+off`` (or ``name``) of ``addr``; hex when unknown."""
        if self._addrs is None:
            with contextlib.suppress(OSError, BPFError):
                self._load()
        addrs = self._addrs or []
        i = bisect_right(addrs, addr) - 1
        if i < 0:
            return hex(addr)
        name = self._names[i]
        off = addr - addrs[i]
        return f"{name}+{off}" if offset else name      # bpftrace prints +0 too


# --- printing ------------------------------------------------------------------------------

class Printer:
    """Turns what programs send (records of actions) and what maps hold into
    bpftrace's output on ``out``, as text or ``-f json`` lines."""

    def __init__(self, compiled: Compiled, maps: dict[str, Any], out: TextIO, *,
                 json: bool = False, unsafe: bool = False):
        self.compiled = compiled
        self.gen = compiled.generated
        self.maps = maps
        self.out = out
        self.json = json
        self.exited = False
        self.ksyms = KernelSymbols()
        self.usyms: Any = None
        self.actions = {a.id: a for a in compiled.generated.actions}

    def write(self, text: str) -> None:
        self.out.write(text)
        with contextlib.suppress(Exception):
            self.out.flush()

    def emit(self, kind: str, text: str) -> None:
        """One piece of output: text as is, or a JSON line of ``kind``."""
        if self.json:
            self.write(json_line(kind, text))
        else:
            self.write(text)

    # values as printed
    def present(self, t: Any, value: Any) -> Any:
        """A decoded value as it prints (symbols, stacks, addresses resolved)."""
        if isinstance(t, T.Symbol):
            if t.user:
                address, pid = value
                return self.user_symbol(pid, address, offset=False)
            return self.ksyms.lookup(value, offset=False)
        if isinstance(t, T.Stack):
            if t.user:
                stack_id, pid = value
                return self.stack(stack_id, True, pid)
            return self.stack(value, False)
        if isinstance(t, T.Inet):
            import socket

            family = int.from_bytes(value[:8], "little")
            if family == socket.AF_INET6:
                return socket.inet_ntop(socket.AF_INET6, value[8:24])
            return socket.inet_ntop(socket.AF_INET, value[8:12])
        if isinstance(t, T.Tuple):
            return tuple(self.present(it, v) for it, v in zip(t.items, value))
        return value

    def user_symbol(self, pid: int, address: int, offset: bool = True) -> str:
        """``name+offset`` (or ``name``) of user ``address`` in process
        ``pid``, from its mappings and the mapped files' symbols
        (:class:`pybpf.kernel.stack_symbols.UserSymbols`); hex when nothing
        names it (or the process is gone), as bpftrace prints it."""
        if self.usyms is None:
            from ..kernel.stack_symbols import UserSymbols

            self.usyms = UserSymbols()
        found = self.usyms.symbol(pid, address)
        if found is None:
            return hex(address)
        name, off = found
        return f"{name}+{off}" if offset else name

    def stack(self, stack_id: int, user: bool, pid: int = 0) -> Stack:
        if stack_id < 0 or STACKS_MAP not in self.maps:
            return Stack()
        raw = self.maps[STACKS_MAP].raw.get(stack_id.to_bytes(4, "little"))
        if raw is None:
            return Stack()
        frames = []
        for i in range(0, len(raw), 8):
            ip = int.from_bytes(raw[i:i + 8], "little")
            if not ip:
                break
            frames.append(self.user_symbol(pid, ip) if user else self.ksyms.lookup(ip))
        return Stack(frames)

    def record(self, data: bytes) -> None:
        """Handle one ring buffer record."""
        data = bytes(data)
        action = self.actions.get(int.from_bytes(data[:8], "little"))
        if action is None:
            return
        rec = self.gen.records[action.id]
        values = [self.present(t, decode(t, data[rec.fields[f"f{i}"].offset:]))
                  for i, t in enumerate(action.args)]
        kind = action.kind
        if kind == "printf":
            self.emit("printf", format_printf(action.fmt, values))
        elif kind == "print":
            if self.json:
                self.write(json_line("value", values[0]))
            else:
                self.write(format_value(values[0]) + "\n")
        elif kind == "join":
            parts = []
            for v in values:
                if not v:
                    break
                parts.append(v)
            joined = action.fmt.join(parts)
            if self.json:
                self.write(json_line("join", joined))
            else:
                self.write(joined + "\n")
        elif kind == "time":
            self.emit("time", time.strftime(action.fmt))
        elif kind == "exit":
            self.exited = True
        elif kind == "print_map":
            self.print_map(action.fmt, *action.extra)
        elif kind in ("clear", "zero"):
            self.clear(action.fmt, zero=kind == "zero")
        elif kind == "system":
            cmd = format_printf(action.fmt, values)
            import subprocess

            res = subprocess.run(cmd, shell=True, capture_output=True, text=True,
                                 errors="backslashreplace", check=False)
            self.emit("system", res.stdout)
        elif kind == "cat":
            path = format_printf(action.fmt, values)
            try:
                with open(path, errors="replace") as f:
                    self.emit("cat", f.read())
            except OSError as e:
                sys.stderr.write(f"cat: {path}: {e.strerror}\n")

    # maps
    def dump(self, name: str) -> MapDump:
        """Map ``@name`` read and reduced over CPUs."""
        lay: MapLayout = self.gen.layouts[name]
        m = self.maps[lay.name].raw
        info = lay.info
        entries: list[tuple[tuple, Any]] = []
        if lay.histogram:
            hists: dict[tuple, dict[int, int]] = {}
            for k, v in m.items():
                key, bucket = lay.decode_key(bytes(k))
                count = lay.reduce(v)
                if count:
                    hists.setdefault(key, {})[bucket] = count  # type: ignore[index]
            entries = [(self.present_key(info, k), b) for k, b in hists.items()]
        else:
            for k, v in m.items():
                key, _ = lay.decode_key(bytes(k))
                value = lay.reduce(v)
                if info.kind in ("avg", "stats") and not value[0]:
                    continue
                if info.kind == "value":
                    value = self.present(info.value, value)
                entries.append((self.present_key(info, key), value))
        return MapDump(info.name, info.kind, entries, info.lhist, keyed=info.keys is not None)

    def present_key(self, info: Any, key: tuple) -> tuple:
        return tuple(self.present(t, v) for t, v in zip(info.keys or [], key))

    def print_map(self, name: str, top: int = 0, div: int = 0) -> None:
        d = self.dump(name)
        self.write(json_map(d, top, div) if self.json else format_map(d, top, div))

    def clear(self, name: str, zero: bool = False) -> None:
        lay = self.gen.layouts[name]
        m = self.maps[lay.name].raw
        keys = list(m.keys())
        for k in keys:
            if zero:
                size = m.value_size
                blank = bytes(size)
                m.update(k, [blank] * m.num_cpus if getattr(m, "percpu", False) else blank)
            else:
                with contextlib.suppress(BPFError):
                    m.delete(k)

    def print_all(self) -> None:
        """Every map at exit, as bpftrace prints them."""
        dumps = [self.dump(n) for n in sorted(self.gen.layouts)]
        if self.json:
            self.write("\n\n")
            for d in sorted(dumps, key=lambda d: d.name):
                if d.entries:
                    self.write(json_map(d))
        else:
            self.write(format_maps([d for d in dumps if d.entries or d.kind != "value" or
                                    d.keyed]))


# --- the kernel ------------------------------------------------------------------------------

def _attach(prog: Any, target: Any, pid: int | None) -> Any:
    from ..kernel import attach

    kind, p = target.kind, target.params
    if kind == "tracepoint":
        return attach.tracepoint(prog, f"{p['category']}/{p['event']}")
    if kind == "rawtracepoint":
        return attach.raw_tracepoint(prog, p["event"])
    if kind in ("uprobe", "uretprobe"):
        return attach.uprobe(prog, p["binary"], p["symbol"], offset=p["offset"],
                             retprobe=kind == "uretprobe", pid=pid or -1)
    if kind == "usdt":
        return attach.usdt(prog, p["binary"], p["provider"], p["probe"], pid=pid or -1)
    if kind in ("interval", "profile"):
        rate = {"frequency": p["frequency"]} if "frequency" in p else \
            {"period": p["period_ns"]}
        cpus = [0] if kind == "interval" else None
        return attach.perf_event(prog, cpus=cpus, **rate)
    if kind in ("software", "hardware"):
        return attach.perf_event(prog, event=p["event"], event_type=p["event_type"],
                                 period=p["period"], pid=pid or -1)
    raise TraceError(f"cannot attach {target.name}")


@dataclass
class RunStats:
    """What :func:`run` measured: seconds from start to every probe attached
    (``attached_seconds``), and the records handled."""

    attached_seconds: float = 0.0
    records: int = 0
    attached: int = 0


def run(compiled: Compiled, *, out: TextIO | None = None, json: bool = False,
        duration: float | None = None, command: str | None = None, pid: int | None = None,
        on_attached: Callable[[], Any] | None = None, verbose: bool = False,
        start: float | None = None) -> RunStats:
    """Load ``compiled`` into the kernel, run BEGIN, attach every probe and
    print what the programs send until Ctrl-C, SIGTERM, ``exit()``,
    ``duration`` seconds or the end of ``command`` (run as a child, its pid
    is ``cpid``); then run END and print the maps."""
    from ..kernel.runner import poll, stoppable

    out = out or sys.stdout
    start = start if start is not None else time.perf_counter()
    stats = RunStats()
    from ..kernel.load_cache import load_prepared, prepare

    prepared = compiled.prepared
    if prepared is None:
        prepared = compiled.prepared = prepare(compiled.object_spec())
        if compiled.start_key is not None:
            from . import startup

            startup.write(compiled.start_key, prepared, compiled.generated)
    gen = compiled.generated
    child: subprocess.Popen | None = None
    with load_prepared(prepared, log_level=1 if verbose else 0) as coll:
        if verbose:
            for name, prog in coll.programs.items():
                log = getattr(prog, "log", None) or getattr(prog, "verifier_log", None)
                if log:
                    sys.stderr.write(f"--- verifier log of {name}\n{log}\n")
        printer = Printer(compiled, coll.maps, out, json=json)
        if command:
            child = _spawn_stopped(command)
            pid = child.pid
        cfg = coll.maps[CONFIG_MAP].raw
        cfg.update((0).to_bytes(4, "little"), time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                   .to_bytes(8, "little"))
        cfg.update((1).to_bytes(4, "little"), (pid or 0).to_bytes(8, "little"))
        reader = coll.ringbuf(EVENTS_MAP, printer.record, raw=True) \
            if EVENTS_MAP in coll.maps else None
        begin = [pi for pi in gen.programs if pi.target.kind == "BEGIN"]
        end = [pi for pi in gen.programs if pi.target.kind == "END"]
        probes = [pi for pi in gen.programs if pi.target.kind not in ("BEGIN", "END")]
        n = len(gen.programs)
        if json:
            printer.write(json_line("attached_probes", {"probes": n}))
        else:
            printer.write(f"Attaching {n} probe{'s' if n != 1 else ''}...\n")
        links = []
        try:
            for pi in begin:
                coll.programs[pi.name].test_run()
            for pi in probes:
                links.append(_attach(coll.programs[pi.name], pi.target, pid))
            stats.attached = len(links) + len(begin)
            stats.attached_seconds = time.perf_counter() - start
            if on_attached is not None:
                on_attached()
            if child is not None:
                _resume(child)
            readers = [reader] if reader is not None else []

            def finished() -> bool:
                if printer.exited:
                    return True
                return child is not None and child.poll() is not None

            if reader is not None:
                reader.consume()
            if not finished():
                with stoppable():
                    stats.records += poll(readers, duration=duration, until=finished)
        finally:
            for link in links:
                with contextlib.suppress(Exception):
                    link.close()
            if child is not None and child.poll() is None:
                child.terminate()
                with contextlib.suppress(Exception):
                    child.wait(2)
        for pi in end:
            coll.programs[pi.name].test_run()
        if reader is not None:
            reader.consume()
        printer.print_all()
    return stats


def _spawn_stopped(command: str) -> subprocess.Popen:
    """Start ``command`` stopped right after its ``execve`` (as bpftrace
    does, through ptrace: the child asks to be traced and stops with
    SIGTRAP at exec), so probes attach before it runs; :func:`_resume`
    lets it go."""
    import ctypes

    from ..spec.defines import PTRACE_TRACEME

    libc = ctypes.CDLL(None, use_errno=True)

    def traceme() -> None:
        libc.ptrace(PTRACE_TRACEME, 0, None, None)

    import shlex
    import subprocess

    child = subprocess.Popen(shlex.split(command), preexec_fn=traceme)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(child.pid, os.WUNTRACED)
    return child


def _resume(child: subprocess.Popen) -> None:
    """Let a child :func:`_spawn_stopped` started run (detach ptrace)."""
    import ctypes

    from ..spec.defines import PTRACE_DETACH

    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace(PTRACE_DETACH, child.pid, None, None)


# --- the VM ---------------------------------------------------------------------------------

@dataclass
class Event:
    """A synthetic event for :func:`run_vm`: the ``probe`` it fires
    (``tracepoint:sched:sched_switch``), its record's ``fields`` by name
    (ints, or bytes/str for char arrays; for pointer fields, a str/bytes is
    a NUL-terminated string and a list of them an array of string pointers
    ending in NULL, like ``argv``, placed in the VM's memory for the
    event), and the task it happens in."""

    probe: str
    fields: dict[str, Any] = field(default_factory=dict)
    pid: int = 1
    tid: int | None = None
    comm: str = "synthetic"
    uid: int = 0
    cpu: int = 0


def encode_record(fmt: Any, fields: dict[str, Any],
                  place: Callable[[Any], int] | None = None) -> bytes:
    """A tracepoint record of format ``fmt`` with ``fields`` set (by name).
    A pointer field given a string or a list of strings holds the address
    ``place`` puts it at (see :class:`Event`)."""
    size = max((f.offset + f.size for f in fmt.fields), default=8)
    buf = bytearray(max(size, 8))
    for name, value in fields.items():
        f = fmt.field(name)
        if f is None:
            raise TraceError(f"tracepoint:{fmt.category}:{fmt.event} has no field {name!r} "
                             f"(fields: {', '.join(x.name for x in fmt.fields)})")
        pointer = f.ctype.rstrip().endswith("*") and not f.data_loc
        if pointer and isinstance(value, (str, bytes, bytearray, list, tuple)):
            if place is None:
                raise TraceError(f"field {name!r} of tracepoint:{fmt.category}:{fmt.event} "
                                 f"is a pointer: give an address")
            value = place(value)
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, (bytes, bytearray)):
            data = bytes(value)[:f.size].ljust(f.size, b"\0")
        else:
            data = (value & ((1 << (8 * f.size)) - 1)).to_bytes(f.size, "little")
        buf[f.offset:f.offset + f.size] = data
    return bytes(buf)


def _placer(memory: Any, placed: list[Any]) -> Callable[[Any], int]:
    """Puts an event's strings and string arrays in the VM's ``memory``
    (read-only regions, listed in ``placed``): their addresses."""

    def place(value: Any) -> int:
        if isinstance(value, (list, tuple)):
            pointers = [place(v) for v in value] + [0]
            data = b"".join(p.to_bytes(8, "little") for p in pointers)
        else:
            data = (value.encode() if isinstance(value, str) else bytes(value)) + b"\0"
        region = memory.map_buffer(bytearray(data), "event data", writable=False)
        placed.append(region)
        return region.start

    return place


def run_vm(compiled: Compiled, events: Iterable[Event], *, json: bool = False,
           out: TextIO | None = None) -> str:
    """Run ``compiled`` in the userspace VM: BEGIN, each event on the
    programs of its probe (in order), END; returns (and writes to ``out``)
    what bpftrace would print, maps at exit included."""
    from .. import vm
    from ..helpers.environment import Environment

    buf = io.StringIO()
    env = Environment(num_cpus=1)
    gen = compiled.generated
    with vm.load(compiled.object_spec(), env=env) as coll:
        printer = Printer(compiled, coll.maps, buf, json=json)

        def drain() -> None:
            if EVENTS_MAP in coll.maps:
                for rec in coll.ringbuf(EVENTS_MAP, raw=True):
                    printer.record(rec)

        by_probe: dict[str, list[Any]] = {}
        for pi in gen.programs:
            by_probe.setdefault(pi.target.name, []).append(pi)
        for pi in by_probe.get("BEGIN", []):
            coll.programs[pi.name].test_run(ctx=bytes(8))
        drain()
        for ev in events:
            if printer.exited:
                break
            targets = by_probe.get(ev.probe)
            if targets is None:
                raise TraceError(f"no probe {ev.probe!r} in the program (probes: "
                                 f"{', '.join(by_probe)})")
            env.pid = ev.tid if ev.tid is not None else ev.pid
            env.tgid = ev.pid
            env.comm = ev.comm.encode()[:15]
            env.uid = env.gid = ev.uid
            env.cpu = ev.cpu
            placed: list[Any] = []
            for pi in targets:
                fmt = pi.target.format
                ctx = encode_record(fmt, ev.fields, _placer(coll.vm.memory, placed)) \
                    if fmt is not None else bytes(8)
                coll.programs[pi.name].test_run(ctx=ctx)
            for region in placed:
                coll.vm.memory.unmap(region)
            drain()
        for pi in by_probe.get("END", []):
            coll.programs[pi.name].test_run(ctx=bytes(8))
        drain()
        printer.print_all()
    text = buf.getvalue()
    if out is not None:
        out.write(text)
    return text
