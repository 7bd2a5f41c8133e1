"""What every tool shares: finding its BPF object (shipped in the package,
:mod:`pybpf.tools.prebuilt`; compiled once per source only where the
sources were edited), loading it through its generated bindings
(``tools/bindings/NAME_bpf.py``, ``pybpf gen bindings``: typed knobs, maps
and records) fast (:mod:`pybpf.kernel.load_cache`), the common options,
and running it (:func:`pybpf.kernel.run`: attach, poll,
stop cleanly on Ctrl-C, SIGTERM or after ``--duration``).

Environment variables for measuring and testing:

* ``PYBPF_TOOL_ATTACHED_MARK`` — print this line (to stderr) as soon as the
  programs are attached;
* ``PYBPF_TOOL_EXIT_AFTER_ATTACH`` — exit (status 0) right after attaching.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from ..bindings.runtime import ObjectBindings

B = TypeVar("B", bound="ObjectBindings")

HERE = Path(__file__).resolve().parent
INCLUDE = HERE / "include"


def source_key(name: str) -> str:
    """A hash of everything that makes up tool ``name``'s object when it is
    compiled here: its C source, the tools' headers and pybpf's BPF
    headers (the objects are CO-RE: the kernel does not enter into it)."""
    h = hashlib.sha256()
    inc = HERE.parent / "include" / "bpf"
    for path in [HERE / f"{name}.bpf.c", *sorted(INCLUDE.glob("*.h")), *sorted(inc.glob("*.h"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:24]


def object_path(name: str, *, quiet: bool = False) -> Path:
    """Tool ``name``'s object: the one shipped in the package
    (:mod:`pybpf.tools.prebuilt`), or — when the sources changed since it
    was built (a checkout being edited) — one compiled here on first use
    (the ziglang wheel, or clang) into this user's private pybpf cache
    (``$XDG_CACHE_HOME/pybpf/tools``; :func:`pybpf.cache.private_dir`; an
    object there that this user does not own is compiled again, not used).
    Without a compiler a stale shipped object is used, with a warning."""
    import tempfile

    from .prebuilt import shipped_object

    shipped, why = shipped_object(name)
    if shipped is not None:
        return shipped

    from ..cache import private_dir, trusted_file

    out = private_dir("tools") / f"{name}-{source_key(name)}.bpf.o"
    if trusted_file(out):
        return out
    from ..toolchain import CompilerNotFound, compile, find_compiler
    from .prebuilt import OBJECTS

    try:
        find_compiler()
    except CompilerNotFound as e:
        stale = OBJECTS / f"{name}.bpf.o"
        if stale.is_file():
            print(f"{name}: warning: {why}; no compiler here to rebuild it ({e}): using it "
                  f"as it is", file=sys.stderr)
            return stale
        raise CompilerNotFound(f"{name}: {why}, and {e}") from None
    if not quiet:
        print(f"{name}: compiling {name}.bpf.c ({why}; once: cached in {out.parent})",
              file=sys.stderr)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".o", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        compile(HERE / f"{name}.bpf.c", tmp, include_dirs=[INCLUDE], vmlinux=False)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out


def open_tool(skel: B) -> B:
    """Load a tool's object into the kernel through its generated bindings
    (``tools/bindings/NAME_bpf.py``: ``Exitsnoop(object_path("exitsnoop"))``,
    knobs set as ``skel.rodata.target_pid = 42``), by the prepared-object
    cache (:mod:`pybpf.kernel.load_cache`: later runs start fast).  Returns
    ``skel``, loaded: use it as a ``with`` block."""
    return skel.load("kernel", cache=True)


def attached() -> None:
    """Call once the programs are attached: honours the measuring hooks."""
    mark = os.environ.get("PYBPF_TOOL_ATTACHED_MARK")
    if mark:
        print(mark, file=sys.stderr, flush=True)
    if os.environ.get("PYBPF_TOOL_EXIT_AFTER_ATTACH"):
        raise SystemExit(0)


def parser(name: str, description: str, epilog: str = "") -> argparse.ArgumentParser:
    """An argument parser with the options every tool has."""
    p = argparse.ArgumentParser(prog=f"pybpf tools {name}", description=description,
                                epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--duration", type=float, metavar="SECONDS",
                   help="stop after SECONDS (default: run until Ctrl-C)")
    p.add_argument("command", nargs="*", metavar="-- CMD",
                   help="run CMD once tracing has started and stop when it exits "
                        "(the tool then exits with CMD's status)")
    return p


def parse_args(p: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse a tool's arguments: everything after the first ``--`` is the
    command to run (``args.command``), options included."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    args = p.parse_args(argv)
    if command:
        args.command = command
    return args


def add_json_option(p: argparse.ArgumentParser) -> None:
    """Give a tool ``-j``/``--json``: JSON lines instead of text columns."""
    p.add_argument("-j", "--json", action="store_true",
                   help="print one JSON object per line (event or table row) instead of "
                        "text columns, with no header")


def print_json(obj: dict[str, Any]) -> None:
    """Print ``obj`` as one JSON line (``-j``), flushed."""
    import json

    print(json.dumps(obj, separators=(",", ":")), flush=True)


def record_json(record: Any, **extra: Any) -> dict[str, Any]:
    """A decoded record (a generated record class, or a named tuple) as a
    dict for :func:`print_json`, keyed by its C field names, without its
    padding fields, with ``extra`` keys added (or replaced)."""
    fields = record.to_value() if hasattr(record, "to_value") else record._asdict()
    out = {k: (list(v) if isinstance(v, tuple) else v)
           for k, v in fields.items() if not k.startswith("pad")}
    out.update(extra)
    return out


COMMAND_DRAIN_SECONDS = 0.25


def run(skel: ObjectBindings, readers: list[Any], duration: float | None, *,
        header: str = "", optional: Iterable[str] = (), every: float | None = None,
        tick: Callable[[], Any] | None = None, command: list[str] | None = None,
        options: dict[str, Any] | None = None,
        attach_with: Callable[[], list[Any]] | None = None,
        at_end: Callable[[], Any] | None = None) -> int:
    """Attach every program of ``skel`` (a tool's bindings, loaded by
    :func:`open_tool`; those in ``optional`` may fail;
    ``options`` are given to the programs whose hook takes them, as
    :func:`pybpf.kernel.runner.attach_all` does) — or, with ``attach_with``,
    call it to attach them: it returns the attachments, closed at the end —
    honour the measuring hooks (:func:`attached`), print ``header``, then
    poll ``readers`` until Ctrl-C, SIGTERM or ``duration`` seconds, calling
    ``tick()`` every ``every`` seconds and once at the end
    (:func:`pybpf.kernel.run`).

    With ``command``, start it once everything is attached and stop when it
    has exited (after :data:`COMMAND_DRAIN_SECONDS` more, so its last
    events are read).  ``at_end()`` is called once everything is detached,
    however the run ended (Ctrl-C included), if it got as far as attaching:
    where a tool that reports at the end (a profile) reports.  Returns the
    command's exit status (a signal ``N``
    as ``128 + N``, as shells do), or 0 without one."""
    import subprocess

    from ..errors import BPFError
    from ..kernel.runner import run as run_collection

    coll = skel.collection
    child: list[subprocess.Popen] = []
    ended: list[float] = []
    attachments: list[Any] = []
    started: list[bool] = []

    def ready() -> None:
        if attach_with is not None:
            attachments.extend(attach_with())
        started.append(True)
        attached()
        if header:
            print(header, flush=True)
        if command:
            try:
                child.append(subprocess.Popen(command))
            except OSError as e:
                raise BPFError(f"cannot run {command[0]!r}: {e.strerror or e}") from None

    def command_done() -> bool:
        if not child or child[0].poll() is None:
            return False
        if not ended:
            ended.append(time.monotonic())
        return time.monotonic() - ended[0] >= COMMAND_DRAIN_SECONDS

    try:
        run_collection(coll, attach=attach_with is None, options=options, optional=optional,
                       readers=readers, on_ready=ready, duration=duration, every=every,
                       tick=tick, until=command_done if command else None)
    finally:
        for attachment in reversed(attachments):
            attachment.close()
        if at_end is not None and started:
            at_end()
        if child and child[0].poll() is None:
            child[0].terminate()
            child[0].wait()
    if not child:
        return 0
    code = child[0].returncode
    return 128 - code if code < 0 else code


def main_wrapper(run_tool: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Print pybpf errors in one line, as the CLI does."""
    def main(argv: list[str] | None = None) -> int:
        from ..errors import BPFError
        from ..kernel.runner import stoppable

        # SIGTERM ends a tool like Ctrl-C does, from the start: whatever was
        # loaded or attached is closed on the way out
        try:
            with stoppable():
                return run_tool(argv)
            return 0  # stopped
        except BPFError as e:
            print(f"pybpf: error: {e}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            return 0
    main.__doc__ = run_tool.__doc__
    return main


def ktime_now_ns() -> int:
    """``bpf_ktime_get_ns()``'s clock (CLOCK_MONOTONIC) now."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def boot_ns_now() -> int:
    """CLOCK_BOOTTIME now (task start times count from boot)."""
    return time.clock_gettime_ns(time.CLOCK_BOOTTIME)
