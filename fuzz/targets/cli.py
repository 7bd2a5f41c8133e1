"""The ``pybpf`` command with hostile arguments, one process per case.

Argument vectors are built from the command's own argument parser (every
subcommand, its positionals and options) with hostile values: files that
are empty, random, not UTF-8, huge, directories, missing, symlink loops,
named ``-`` or ``--help`` or with undecodable bytes; numbers that are
huge, negative or not numbers; hex that is odd or not hex; strings with
terminal escapes, format specifiers or 100,000 characters; unknown
options and stray arguments.  The terminal is UTF-8 or strict ASCII.

Commands that change kernel objects (``map update``, ``link detach``,
``map freeze``...) get selectors only of objects the worker made itself
(or of none): kernel object ids are global, and other programs' objects
are not the fuzzer's to change.

Each case runs in its own process — forked from a worker that imported
pybpf once (fast), and for one case in fifty a fresh ``python -m
pybpf.cli`` — and must end, on its own or after a SIGINT for the commands
that run until interrupted (``load``, ``tools``), within
:data:`CASE_SECONDS`, with status 0, 1 or 2 (130 after our SIGINT), and
without ``Traceback`` on its standard error.

As root the worker first moves into a sandbox: its own cgroup, cgroup,
mount and network namespaces, a private bpffs on /sys/fs/bpf and the
sandbox cgroup as /sys/fs/cgroup — so ``load --attach`` can only reach the
namespace's loopback and cgroup, and pins vanish with the worker.  Without
the sandbox, attaching and pinning are left out of the vocabulary.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fuzz.harness import SRC, TESTS, Result

CASE_SECONDS = 30.0
"""A command must end (or stop after SIGINT) within this."""
INTERRUPT_AFTER = 1.0
"""Commands that run until interrupted get SIGINT after this long."""
CASE_TIMEOUT = 90.0
SETUP_TIMEOUT = 300.0
FRESH_PROCESS_EVERY = 50
LONG_RUNNING = ("load", "tools", "export", "trace", "run-py", "test-run", "run")
"""Commands that run until interrupted, or as long as asked (``test-run
--repeat 4294967295``, ``run --max-insns 0`` of an endless loop): these
must stop on SIGINT."""
LONG_RUNNING_SUBCOMMANDS = (("map", "dump"),)
"""Subcommands that take as long as their input is large (a map of 2**31
slots dumps for hours): these too must stop on SIGINT."""
WEIGHTS = {"cc": 0.05, "btf": 0.2, "conformance": 0.2, "tools": 0.1, "load": 0.3,
           "map": 0.2, "prog": 0.2}
"""How often each command is picked (default 1): the slow ones (compiling,
dumping the kernel's BTF, listing the kernel's objects, loading) less."""

CGROUP_PREFIX = "pybpf-fuzz-"
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWNET = 0x40000000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18


@dataclass
class Case:
    """One command line and its circumstances."""

    argv: list[str]
    stdin: bytes = b""
    encoding: str = "utf-8"
    fresh: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class State:
    scratch: Path
    files: dict[str, str]
    commands: list[tuple[list[str], Any]]
    sandboxed: bool
    sandbox_note: str = ""
    own: dict[str, list[list[str]]] = field(default_factory=dict)
    """Selectors (``id N``, ``name X``, ``pinned P``) of kernel objects this
    worker made, by kind: the only ones a command that changes objects gets."""
    keep: list[Any] = field(default_factory=list)


# --- setup: files, parser, sandbox --------------------------------------------------------------

def setup(seed: int) -> State:
    """Scratch files, the parser's command tree, and (as root) the sandbox."""
    scratch = Path(tempfile.mkdtemp(prefix="pybpf-fuzz-cli-"))
    sandboxed, note = _sandbox()
    files = _files(scratch, random.Random(seed))
    os.chdir(confined_cwd(scratch))
    from pybpf.cli.main import build_parser

    commands = list(_walk(build_parser(), []))
    _warm_up()
    atexit.register(shutil.rmtree, scratch, True)
    state = State(scratch, files, commands, sandboxed, note)
    if sandboxed:
        _own_objects(state)
    return state


TRAVERSAL = "../../../../etc/passwd"
"""A path that climbs out of the working directory: commands run as root, so
it must land inside the scratch directory, never on the host's file."""


def confined_cwd(scratch: Path) -> Path:
    """The working directory cases run in: deep enough inside ``scratch``
    that :data:`TRAVERSAL` resolves to a decoy there (a case whose command
    writes to a path it was given once truncated the host's /etc/passwd)."""
    cwd = scratch.joinpath("cwd", "a", "b", "c")
    cwd.mkdir(parents=True, exist_ok=True)
    decoy = (cwd / TRAVERSAL).resolve()
    if not decoy.is_relative_to(scratch.resolve()):
        raise RuntimeError(f"{TRAVERSAL} escapes the scratch directory from {cwd}")
    decoy.parent.mkdir(parents=True, exist_ok=True)
    decoy.write_text("root:x:0:0:decoy:/nonexistent:/bin/false\n")
    return cwd


def _own_objects(state: State) -> None:
    """Maps, a program and a link of this worker's own, pinned in the
    sandbox's bpffs: what commands that change kernel objects may change."""
    from pybpf.isa import assemble
    from pybpf.kernel import KernelMap, KernelProgram

    tag = f"fz{os.getpid() % 100000}"
    own: dict[str, list[list[str]]] = {"map": [], "prog": [], "link": []}
    for kind, key, value, entries in (("hash", 4, 8, 16), ("array", 4, 8, 4),
                                      ("queue", 0, 8, 4), ("stack", 0, 8, 4),
                                      ("lru_hash", 4, 4, 8), ("percpu_array", 4, 8, 2)):
        name = f"{tag}_{kind[:6]}"
        with contextlib.suppress(Exception):
            m = KernelMap.create(kind, key, value, entries, name=name)
            m.pin(f"/sys/fs/bpf/fuzz/{name}")
            state.keep.append(m)
            own["map"] += [["id", str(m.info().id)], ["name", name],
                           ["pinned", f"/sys/fs/bpf/fuzz/{name}"]]
    with contextlib.suppress(Exception):
        prog = KernelProgram.load(assemble("r0 = 2\nexit"), "xdp", name=f"{tag}_xdp")
        prog.pin(f"/sys/fs/bpf/fuzz/{tag}_xdp")
        state.keep.append(prog)
        own["prog"] += [["id", str(prog.id)], ["name", f"{tag}_xdp"],
                        ["pinned", f"/sys/fs/bpf/fuzz/{tag}_xdp"]]
        from pybpf.kernel.attach import xdp

        link = xdp(prog, "lo")  # the loopback of the sandbox's network namespace
        state.keep.append(link)
        with contextlib.suppress(Exception):
            link.pin(f"/sys/fs/bpf/fuzz/{tag}_link")
            own["link"].append(["pinned", f"/sys/fs/bpf/fuzz/{tag}_link"])
        own["link"].append(["id", str(link.id)])
    state.own = own


def _warm_up() -> None:
    """Import what the commands import, and parse the kernel's BTF, once in
    the worker, so forked children start warm."""
    import importlib

    for name in ("pybpf.cli.object_cmds", "pybpf.cli.kernel_cmds", "pybpf.cli.inputs",
                 "pybpf.kernel", "pybpf.kernel.info", "pybpf.kernel.runner", "pybpf.elf",
                 "pybpf.btf", "pybpf.btf.dump", "pybpf.btf.values", "pybpf.vm",
                 "pybpf.conformance", "pybpf.toolchain", "pybpf.linker", "pybpf.tools"):
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):
        from pybpf.btf import BTF

        BTF.load_vmlinux()


def _cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (``/sys/fs/cgroup`` or, on a
    hybrid system, ``/sys/fs/cgroup/unified``)."""
    with contextlib.suppress(OSError), open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[2] == "cgroup2":
                return Path(parts[1])
    return None


def _sandbox() -> tuple[bool, str]:
    """Move this worker into a cgroup of its own and new cgroup, mount and
    network namespaces; mount cgroup2 (showing only that cgroup) and a new
    bpffs over the usual places.  (sandboxed, what happened)."""
    if os.geteuid() != 0:
        return False, "not root: no namespaces; attach and pin left out"
    libc = ctypes.CDLL(None, use_errno=True)
    mount = _cgroup2_mount()
    if mount is None:
        return False, "no cgroup2 hierarchy; attach and pin left out"
    group = mount / f"{CGROUP_PREFIX}{os.getpid()}"
    try:
        group.mkdir(exist_ok=True)
        (group / "cgroup.procs").write_text(str(os.getpid()))
    except OSError as e:
        return False, f"no cgroup of our own ({e}); attach and pin left out"
    if libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWCGROUP) != 0:
        return False, f"unshare: {os.strerror(ctypes.get_errno())}; attach and pin left out"
    ok = libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) == 0
    # over /sys/fs/cgroup (hiding a hybrid system's v1 controllers and unified/):
    # pybpf then takes it as the cgroup2 root, which is now our cgroup
    ok = ok and libc.mount(b"cgroup2", b"/sys/fs/cgroup", b"cgroup2", 0, None) == 0
    ok = ok and libc.mount(b"bpf", b"/sys/fs/bpf", b"bpf", 0, None) == 0
    if not ok:
        return False, f"mounts: {os.strerror(ctypes.get_errno())}; attach and pin left out"
    with open("/proc/self/cgroup") as f:
        if "0::/\n" not in f.read():  # the namespace's root must be our own cgroup
            return False, "the cgroup namespace does not start at our cgroup"
    return True, f"sandboxed in {group}: own cgroup, mount and network namespaces"


def cleanup() -> None:
    """Remove the sandbox cgroups of workers that have exited."""
    mount = _cgroup2_mount()
    if mount is None:
        return
    for group in mount.glob(f"{CGROUP_PREFIX}*"):
        with contextlib.suppress(OSError):
            if not (group / "cgroup.procs").read_text().strip():
                group.rmdir()


def _files(scratch: Path, rng: random.Random) -> dict[str, str]:
    """Hostile input files by role; values are paths (str, maybe undecodable)."""
    out: dict[str, str] = {}

    def put(name: str, data: bytes | str, role: str | None = None) -> str:
        path = scratch / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        out[role or name] = str(path)
        return str(path)

    put("ok.s", "mov r0, 7\nexit\n")
    put("loop.s", "l: ja l\n")
    put("bigimm.s", "mov r0, " + "9" * 5000 + "\nexit\n")
    put("labels.s", " ".join(f"l{i}:" for i in range(20000)) + " exit\n")
    put("escape.s", "\x1b[2J\x1b]0;owned\x07 mov r0, 1\nexit\n")
    put("latin1.s", b"mov r0, 1 ; caf\xe9\nexit\n\xff\xfe\n")
    put("nul.s", b"mov r0, 1\x00\nexit\n")
    put("memread.s", "ldxdw r0, [r1+0]\nexit\n")
    put("stack.s", "mov r1, r10\nadd r1, -600\nstxdw [r1], r1\nexit\n")
    put("hex.txt", "b700000007000000\n9500000000000000\n")
    put("badhex.txt", "b70000000700000\n")
    put("raw.bin", bytes.fromhex("b7000000070000009500000000000000"))
    put("random.bin", bytes(rng.randrange(256) for _ in range(4096)))
    put("random7.bin", bytes(rng.randrange(256) for _ in range(7)))
    put("empty", b"")
    put("big.bin", bytes(rng.randrange(256) for _ in range(1 << 16)) * 64)  # 4 MiB
    put("long-line.s", "mov r0, 1 " + "x" * 2_000_000 + "\n")
    put("bad.c", "int main( {\n")
    put("xdp.c", '#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC("xdp") '
                 'int p(struct xdp_md *c) { return XDP_PASS; }\nchar LICENSE[] SEC("license")'
                 ' = "GPL";\n')
    put("bad.data", "-- asm\nmov r0, 1\nexit\n-- result\nnotanumber\n")
    put("conformance.data", "-- asm\nmov r0, 1\nexit\n-- result\n0x1\n")
    for obj in sorted((TESTS / "data").glob("*.o")):
        data = obj.read_bytes()
        put(obj.name, data, f"obj:{obj.name}")
        bad = bytearray(data)
        for _ in range(8):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        put(f"mutated-{obj.name}", bytes(bad), f"mutobj:{obj.name}")
        put(f"cut-{obj.name}", data[:len(data) // 3], f"mutobj:cut-{obj.name}")
    (scratch / "dir").mkdir()
    out["dir"] = str(scratch / "dir")
    (scratch / "dir" / "x.data").write_text("-- asm\nja -1\n-- result\n0\n")
    os.symlink("loop2", scratch / "loop1")
    os.symlink("loop1", scratch / "loop2")
    out["symloop"] = str(scratch / "loop1")
    out["missing"] = str(scratch / "no" / "such" / "file")
    out["dash-name"] = put("-", "mov r0, 1\nexit\n")
    put("--help", "mov r0, 2\nexit\n", "help-name")
    undecodable = os.fsdecode(b"caf\xe9-\xff.s")
    Path(scratch, undecodable).write_bytes(b"mov r0, 3\nexit\n")
    out["undecodable"] = str(scratch / undecodable)
    out["long-name"] = str(scratch / ("n" * 5000))
    out["bpffs"] = "/sys/fs/bpf/fuzz"
    out["proc"] = "/proc/self/status"
    out["dev-null"] = "/dev/null"
    return out


def _walk(parser: Any, path: list[str]):
    """(command path, parser) for every leaf command of ``parser``."""
    import argparse

    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    if path:
        yield path, parser  # the command alone, without its subcommand
    for name, sub in subs[0].choices.items():
        yield from _walk(sub, [*path, name])


# --- generating ----------------------------------------------------------------------------------

STRINGS = ("", "-", "--", "x", "\x1b[2J\x1b[31m", "%s%s%n", "a" * 100_000, "\u00e9\u2603",
           os.fsdecode(b"\xff\xfe"), "0", "-1", "1e309", "nan", "inf", "=", "a=b", "x=",
           "=1", TRAVERSAL, "lo", "eth0", "nonexistent0",
           "9" * 5000, "NAME=" + "7" * 5000, "counts=hash:4:8:1024", "m=array:4:4:4294967295",
           "m=hash:0:0:0", "m=nosuch:4:4:4", "m=hash:a:b:c", ":::", "'", '"', "\\")
NUMBERS = ("0", "1", "-1", "7", "4096", "2147483648", "18446744073709551616", "9" * 5000,
           "0x10", "1e3", "-0", "abc", "", " 1", "1_000", "nan", "inf", "-inf")
HEX = ("", "00", "0", "zz", "01 02 aa", "ff" * 100_000, "0" * 7, "b7 00", "\u00e9",
       "00" * 14 + "0800" + "45" * 40)


def _value(rng: random.Random, state: State, action: Any, command: list[str]) -> str:
    name = (action.dest or "") + " " + str(action.metavar or "")
    name = name.upper()
    files = state.files
    if action.choices and rng.random() < 0.8:
        return str(rng.choice(list(action.choices)))
    if action.type in (int, float) or any(w in name for w in ("ID", "MAX", "REPEAT",
                                                              "SECONDS", " N")):
        return rng.choice(NUMBERS)
    if "HEX" in name:
        return rng.choice(HEX)
    if any(w in name for w in ("FILE", "DIR", "PATH", "OUT", "MAP")) or action.dest in (
            "file", "directory", "output", "include", "btf", "pin", "cgroup"):
        if action.dest in ("output",):
            return rng.choice((str(state.scratch / "out.bin"), files["dir"], files["missing"],
                               "/dev/null", files["long-name"], files["undecodable"],
                               str(state.scratch / "out" / "deeper.o")))
        if action.dest in ("pin", "cgroup"):
            if not state.sandboxed:
                return files["missing"]
            return rng.choice((files["bpffs"], files["dir"], "/sys/fs/cgroup",
                               files["missing"], ""))
        pool = list(files.values())
        if command[:1] in (["object"], ["load"], ["btf"], ["disasm"], ["test-run"]):
            pool += [v for k, v in files.items() if k.startswith(("obj:", "mutobj:"))] * 3
        return rng.choice(pool)
    return rng.choice(STRINGS)


def generate(state: State, rng: random.Random) -> Case:
    """A command line built from the parser, with hostile values."""
    case = Case([], encoding=rng.choice(("utf-8", "utf-8", "ascii")))
    pick = rng.random()
    if pick < 0.03:
        case.argv = rng.choice((["--version"], ["-h"], [], ["nosuch"], ["--"], ["-"],
                                ["\x1b[2J"], [os.fsdecode(b"\xff")]))
        return _finish(state, rng, case)
    weights = [WEIGHTS.get(cmd[0], 1.0) for cmd, _ in state.commands]
    command, parser = rng.choices(state.commands, weights)[0]
    argv = list(command)
    for action in parser._actions:
        if action.dest in ("help", "version") or (not action.option_strings and \
                action.dest == "command"):
            continue
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            continue  # a subparsers action
        if action.option_strings:
            if rng.random() > 0.35:
                continue
            opt = rng.choice(action.option_strings)
            if action.nargs == 0:
                argv.append(opt)
            else:
                value = _value(rng, state, action, command)
                argv += [f"{opt}={value}"] if rng.random() < 0.2 else [opt, value]
        else:
            if rng.random() < 0.05:
                continue  # a missing positional
            if action.nargs in ("*", "+", "...", "A..."):
                argv += [_value(rng, state, action, command)
                         for _ in range(rng.choice((0, 1, 2)))]
            else:
                argv.append(_value(rng, state, action, command))
    if rng.random() < 0.1:
        argv.insert(rng.randrange(len(argv) + 1),
                    rng.choice(("--nosuch", "-x", "--", "extra", "--json", "-o")))
    if command == ["tools"] and rng.random() < 0.7:
        argv = ["tools", rng.choice(("execsnoop", "exitsnoop", "opensnoop", "syscount",
                                     "runqlat", "nosuch")), *rng.choice(
            ([], ["-d", "1"], ["-d", "-1"], ["--nosuch"], ["-d", "1e309"]))]
    if len(command) == 2 and command[0] in ("map", "link", "prog"):
        options = [a for a in argv[2:] if a.startswith("-")]
        if tuple(command) in CHANGES:  # never free words: only the grammar's selectors
            argv = [*command, *_verb_words(state, rng, command), *options]
        elif rng.random() < 0.7:
            argv = [*command, *_verb_words(state, rng, command), *argv[2:]]
    case.argv = argv
    return _finish(state, rng, case)


CHANGES = {("map", "update"), ("map", "delete"), ("map", "freeze"), ("map", "push"),
           ("map", "enqueue"), ("map", "pop"), ("map", "dequeue"), ("map", "pin"),
           ("map", "create"), ("link", "detach"), ("link", "pin"), ("prog", "pin")}
"""Verbs that change kernel objects (or the file system)."""


def _data(rng: random.Random) -> list[str]:
    pick = rng.random()
    if pick < 0.5:
        return [f"{rng.randrange(256):#04x}" for _ in range(rng.choice((1, 4, 8, 3, 100)))]
    if pick < 0.7:
        return [str(rng.randrange(-300, 300)) for _ in range(rng.choice((1, 4, 8)))]
    return [rng.choice(STRINGS) for _ in range(rng.choice((0, 1, 4)))]


def _selector(state: State, rng: random.Random, kind: str, changes: bool) -> list[str]:
    own = state.own.get(kind, [])
    bad = [["id", rng.choice(("0", "-1", "4000000000", "18446744073709551616", "x",
                              "9" * 5000))],
           ["name", rng.choice(("", "nosuch_name", "\x1b[2J", "a" * 300))],
           ["pinned", rng.choice((state.files["missing"], state.files["ok.s"], "/sys/fs/bpf",
                                  "/sys/fs/bpf/fuzz/nosuch", ""))],
           ["tag", "00"], ["id"], []]
    if not changes and rng.random() < 0.3:  # reading anyone's objects is harmless
        return ["id", str(rng.randrange(1, 3000))]
    if own and rng.random() < 0.7:
        return list(rng.choice(own))
    return rng.choice(bad)


def _verb_words(state: State, rng: random.Random, command: list[str]) -> list[str]:
    """The words of a bpftool-style verb: a selector (own objects for verbs
    that change them), then the verb's keywords with hostile data."""
    kind, verb = command
    changes = (kind, verb) in CHANGES
    if not state.sandboxed and changes:
        return _selector(state, rng, "none", True)  # a selector that names nothing
    if verb == "create":
        name = state.scratch.name[-6:]
        flags = rng.choice(([], ["flags", rng.choice(NUMBERS)]))
        return [f"/sys/fs/bpf/fuzz/new{rng.randrange(1000)}", "type",
                rng.choice(("hash", "array", "nosuch", "ringbuf", "queue")), "key",
                rng.choice(NUMBERS), "value", rng.choice(NUMBERS), "entries",
                rng.choice(NUMBERS), "name", rng.choice((name, "a" * 100, "\x1b")), *flags]
    words = _selector(state, rng, kind, changes)
    if verb in ("update", "lookup", "delete", "getnext"):
        words += ["key", *_data(rng)] if rng.random() < 0.9 else []
    if verb in ("update", "push", "enqueue", "peek"):
        words += ["value", *_data(rng)]
        words += rng.choice(([], ["any"], ["exist"], ["noexist"], ["bogus"]))
    if verb == "pin":
        words.append(rng.choice(("/sys/fs/bpf/fuzz/repin", state.files["missing"],
                                 state.files["dir"], "/sys/fs/bpf/fuzz/sub/dir/pin")))
    if verb == "dump" and kind == "prog":
        words += rng.choice(([], ["file", str(state.scratch / "dumped")], ["opcodes"],
                             ["linum"]))
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words) + 1), rng.choice(STRINGS))
    return words


def _finish(state: State, rng: random.Random, case: Case) -> Case:
    if not state.sandboxed:  # nothing that attaches or pins outside a sandbox
        case.argv = [a for a in case.argv if a not in ("--attach", "--pin")]
    if "--attach" in case.argv and any("/mutated-" in a or "/cut-" in a for a in case.argv):
        case.argv.remove("--attach")  # only pristine objects are attached
        case.notes.append("--attach dropped for a mutated object")
    if "-" in case.argv or rng.random() < 0.1:
        case.stdin = rng.choice((b"", b"mov r0, 1\nexit\n", b"\xff\xfe\x00",
                                 b"b700000001000000\n9500000000000000\n", bytes(4096)))
    case.fresh = rng.randrange(FRESH_PROCESS_EVERY) == 0
    return case


# --- running ---------------------------------------------------------------------------------

def execute(state: State, case: Case) -> Result:
    """Run the command in a child process and judge how it ended."""
    out = state.scratch / "stdout"
    err = state.scratch / "stderr"
    long_running = bool(case.argv) and (case.argv[0] in LONG_RUNNING or
                                        tuple(case.argv[:2]) in LONG_RUNNING_SUBCOMMANDS)
    start = time.monotonic()
    if case.fresh and execable(case.argv):
        status, interrupted, killed = _run_fresh(state, case, out, err, long_running)
    else:
        status, interrupted, killed = _run_forked(state, case, out, err, long_running)
    elapsed = time.monotonic() - start
    stderr = err.read_bytes()[-20000:].decode(errors="replace") if err.exists() else ""
    shown = " ".join(repr(a) if len(a) < 60 else repr(a[:60]) + "..." for a in case.argv)
    if killed:
        return Result("hang", f"{(case.argv or ['-'])[0]}",
                      f"still running {elapsed:.0f} s after start"
                      f"{' and SIGINT' if interrupted else ''}: {shown}")
    if "Traceback (most recent call last)" in stderr:
        last = [ln for ln in stderr.splitlines() if ln.strip()][-1:]
        return Result("traceback", _exception_name(stderr),
                      f"{shown} [{case.encoding}]: {last[0][:300] if last else ''}")
    allowed = {0, 1, 2} | ({130, -signal.SIGINT} if interrupted else set())
    if status not in allowed:
        return Result("exit", str(status), f"{shown}: exit status {status}; "
                                           f"stderr {stderr[-300:]!r}")
    return Result("ok" if status == 0 else "rejected", str(status))


def _exception_name(stderr: str) -> str:
    for line in reversed(stderr.splitlines()):
        head = line.split(":", 1)[0].strip()
        if head and head.replace(".", "").replace("_", "").isalnum() and \
                (head.endswith(("Error", "Exception", "Interrupt", "Exit")) or "." in head):
            return head.rsplit(".", 1)[-1]
    return "unknown"


def _wait(pid_or_proc: Any, long_running: bool, start: float) -> tuple[int | None, bool, bool]:
    """Wait for the child: SIGINT long-running ones, kill at the limit.
    Returns (status, interrupted, killed)."""
    interrupted = False
    while True:
        if isinstance(pid_or_proc, int):
            pid, raw = os.waitpid(pid_or_proc, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(raw), interrupted, False
        else:
            code = pid_or_proc.poll()
            if code is not None:
                return code, interrupted, False
        now = time.monotonic() - start
        target = pid_or_proc if isinstance(pid_or_proc, int) else pid_or_proc.pid
        if long_running and not interrupted and now > INTERRUPT_AFTER:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGINT)
            interrupted = True
        if now > CASE_SECONDS:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(target, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, signal.SIGKILL)
            if isinstance(pid_or_proc, int):
                os.waitpid(pid_or_proc, 0)
            else:
                pid_or_proc.wait()
            return None, interrupted, True
        time.sleep(0.002 if now < 0.5 else 0.02)


def _run_forked(state: State, case: Case, out: Path, err: Path,
                long_running: bool) -> tuple[int | None, bool, bool]:
    stdin = state.scratch / "stdin"
    stdin.write_bytes(case.stdin)
    start = time.monotonic()
    # SIGINT stays blocked until the child's handler is in place: on a
    # loaded machine our SIGINT can come before the child reaches its try,
    # and a KeyboardInterrupt there would unwind the worker's own stack in
    # the child (removing the scratch directory every later case needs)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    pid = -1
    try:
        pid = os.fork()
    finally:
        if pid != 0:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    if pid == 0:  # the child: become `pybpf ARGV` with these streams
        # the worker's exit handlers (one removes the scratch directory) are
        # not the child's: should an exception ever escape to the top here,
        # the interpreter's exit must not run them
        atexit._clear()
        code = 1
        try:
            os.setpgid(0, 0)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
            fd_in = os.open(stdin, os.O_RDONLY)
            fd_out = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            fd_err = os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(fd_in, 0)
            os.dup2(fd_out, 1)
            os.dup2(fd_err, 2)
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False),
                                         encoding=case.encoding)
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False),
                                          encoding=case.encoding, errors="strict",
                                          write_through=True)
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False),
                                          encoding=case.encoding, errors="backslashreplace",
                                          write_through=True)
            sys.argv = ["pybpf", *case.argv]
            from pybpf.cli.main import main

            code = main(case.argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not isinstance(e.code, int) and e.code is not None:
                with contextlib.suppress(Exception):
                    print(e.code, file=sys.stderr)
        except KeyboardInterrupt:
            import traceback

            with contextlib.suppress(Exception):
                traceback.print_exc()
            code = 130
        except BaseException:
            import traceback

            with contextlib.suppress(Exception):
                traceback.print_exc()
            code = 1
        finally:
            try:
                _exit_child(code)
            finally:        # our one SIGINT raised on the way: exit all the same
                os._exit(code if isinstance(code, int) and 0 <= code < 256 else 1)
    return _wait(pid, long_running, start)


def _exit_child(code: object) -> None:
    """End a forked child with ``code``, whatever happens meanwhile (a late
    SIGINT raising in a flush must not unwind into the worker's code)."""
    status = code if isinstance(code, int) and 0 <= code < 256 else 1
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
    finally:
        os._exit(status)


def execable(argv: list[str]) -> bool:
    """Whether the kernel would exec these arguments (each string below
    ``MAX_ARG_STRLEN``, 32 pages, and all together well below ``ARG_MAX``);
    a case it would refuse runs in the forked worker instead."""
    sizes = [len(os.fsencode(a)) + 1 for a in argv]
    return all(n < 32 * 4096 for n in sizes) and sum(sizes) < 1 << 20


def _run_fresh(state: State, case: Case, out: Path, err: Path,
               long_running: bool) -> tuple[int | None, bool, bool]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (os.environ.get("PYTHONPATH", ""), str(SRC)) if p)}
    if case.encoding == "ascii":
        env.update({"LC_ALL": "C", "PYTHONIOENCODING": "ascii", "PYTHONUTF8": "0",
                    "PYTHONCOERCECLOCALE": "0"})
    start = time.monotonic()
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "pybpf.cli", *case.argv],
                                stdin=subprocess.PIPE, stdout=fo, stderr=fe, env=env,
                                cwd=os.getcwd(), start_new_session=True)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(case.stdin)
            proc.stdin.close()
        return _wait(proc, long_running, start)


def show(case: Case) -> str:
    """The case as a shell-ish line."""
    import shlex

    args = " ".join(shlex.quote(a if len(a) < 200 else a[:200] + "...") for a in case.argv)
    return (f"pybpf {args}\n  (encoding {case.encoding}, stdin {case.stdin[:40]!r}, "
            f"fresh process {case.fresh}, {case.notes})")

