"""The kernel's verifier as an oracle for the corpus (needs root and bpf()).

:func:`kernel_verify` loads one corpus row into the running kernel with maps
of the kinds it names (created empty: the verifier does not read contents)
and returns the verdict, the log and the kernel's own verification time.

As a script::

    python tests/verifier/kernel_oracle.py dump [OUT]   # every row's level-2 log (a cache)
    python tests/verifier/kernel_oracle.py show N|NAME  # one row: the kernel's log and ours
    python tests/verifier/kernel_oracle.py time         # the kernel's total verification time

``show`` prints the kernel's log beside pybpf's for the same row, with the
lines that differ marked, which is how the verifier's rules are checked.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pybpf.btf import BTFBuilder
from pybpf.btf.types import Member
from pybpf.errors import BPFError, VerifierError
from pybpf.isa import Insn
from pybpf.kernel import KernelBTF, KernelMap, KernelProgram
from pybpf.spec import enum_name

ROOT = Path(__file__).resolve().parents[2]
# ../shared beside the checkout, or beside the directory of worktrees
CORPUS = next((p for p in (d / "shared" / "verifier-corpus" / "kernel-selftests.jsonl"
                           for d in (ROOT.parent, ROOT.parent.parent)) if p.exists()),
              ROOT.parent / "shared" / "verifier-corpus" / "kernel-selftests.jsonl")
CACHE = ROOT / ".oracle-cache" / "kernel-logs.jsonl"


def make_cache_dir(path: Path) -> None:
    """Create the directory of a cache file, ignored by git through its own .gitignore."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")

NO_PREALLOC = 1
RDONLY_PROG = 1 << 7
WRONLY_PROG = 1 << 8


@dataclass
class KernelVerdict:
    """What the kernel said about one row."""

    verdict: str | None          # accept | reject | None (refused before verification)
    log: str
    err_line: str | None
    insns_processed: int | None
    usec: int | None              # the kernel's "verification time"


def _special_btf(kind: str):
    """BTF with the value type the selftests give spin-lock/timer maps:
    ``struct val {int cnt; struct bpf_spin_lock l;}`` / ``struct timer
    {struct bpf_timer t;}``; returns (KernelBTF, key id, value id)."""
    b = BTFBuilder()
    int_id = b.add_int("int", 4, signed=True)
    if kind == "map_timer":
        u64 = b.add_int("unsigned long long", 8)
        timer = b.add_struct("bpf_timer", 16, [Member("", u64, 0, 64), Member("", u64, 64, 64)])
        value = b.add_struct("timer", 16, [Member("t", timer, 0)])
    else:
        lock = b.add_struct("bpf_spin_lock", 4, [Member("val", int_id, 0)])
        value = b.add_struct("val", 8, [Member("cnt", int_id, 0), Member("l", lock, 32)])
    return KernelBTF.load(b.to_bytes()), int_id, value


def create_kernel_map(kind: str) -> tuple[KernelMap, list]:
    """A kernel map of corpus fixture ``kind`` and what must stay open with it."""
    keep: list = []
    if kind.startswith("map_hash_"):
        size = int(kind.removeprefix("map_hash_").removesuffix("b"))
        return KernelMap.create("hash", 8, size, 1, flags=NO_PREALLOC), keep
    if kind in ("map_array_48b", "map_array_ro", "map_array_wo"):
        flags = {"map_array_48b": 0, "map_array_ro": RDONLY_PROG,
                 "map_array_wo": WRONLY_PROG}[kind]
        return KernelMap.create("array", 4, 48, 1, flags=flags), keep
    if kind == "map_array_small":
        return KernelMap.create("array", 4, 1, 1), keep
    if kind in ("prog1", "prog2"):
        return KernelMap.create("prog_array", 4, 4, 4 if kind == "prog1" else 8), keep
    if kind == "map_in_map":
        inner = KernelMap.create("array", 4, 4, 1)
        keep.append(inner)
        return KernelMap.create("array_of_maps", 4, 4, 1, inner=inner), keep
    if kind == "map_ringbuf":
        return KernelMap.create("ringbuf", 0, 0, 4096), keep
    if kind == "map_event_output":
        return KernelMap.create("perf_event_array", 4, 4, 1), keep
    if kind == "map_stacktrace":
        return KernelMap.create("stack_trace", 4, 8, 1), keep
    if kind in ("map_sockmap", "map_sockhash", "map_xskmap"):
        return KernelMap.create(kind.removeprefix("map_"), 4, 4, 1), keep
    if kind == "map_reuseport_array":
        return KernelMap.create("reuseport_sockarray", 4, 4, 1), keep
    if kind == "cgroup_storage":
        return KernelMap.create("cgroup_storage", 16, 64, 0), keep
    if kind == "percpu_cgroup_storage":
        return KernelMap.create("percpu_cgroup_storage", 16, 64, 0), keep
    if kind in ("map_spin_lock", "map_timer", "sk_storage_map"):
        btf, key, value = _special_btf(kind)
        keep.append(btf)
        if kind == "sk_storage_map":
            m = KernelMap.create("sk_storage", 4, 8, 0, flags=NO_PREALLOC, btf=btf,
                                 btf_key_type_id=key, btf_value_type_id=value)
        else:
            m = KernelMap.create("array", 4, 16 if kind == "map_timer" else 8, 1, btf=btf,
                                 btf_key_type_id=key, btf_value_type_id=value)
        return m, keep
    raise BPFError(f"unknown corpus map kind {kind}")


_ERR_SKIP = re.compile(r"^(processed \d+ insns|verification time|stack depth|\(\d+\) |"
                       r"mark_precise|\d+: |func#|Live regs|\s)")


def kernel_verify(row: dict, *, log_level: int = 2) -> KernelVerdict:
    """Load ``row`` into the kernel; the verdict and the log."""
    insns = [Insn(op & 0xFF, d, s, o, i) for op, d, s, o, i in row["insns"]]
    opened: list = []
    try:
        for kind, pcs in (row.get("maps") or {}).items():
            m, keep = create_kernel_map(kind)
            opened.append(m)
            opened.extend(keep)
            for pc in pcs:
                insns[pc] = insns[pc]._replace(imm=m.fd)
        attach = row.get("expected_attach_type") or 0
        attach_name = enum_name("bpf_attach_type", attach) if attach else None
        try:
            p = KernelProgram.load(insns, row["prog_type"], log_level=log_level,
                                   flags=row.get("prog_flags") or 0,
                                   expected_attach_type=attach_name.removeprefix("BPF_").lower()
                                   if attach_name else None)
        except VerifierError as e:
            return KernelVerdict("reject", e.log, _err_line(e.log), _processed(e.log),
                                 _usec(e.log))
        except BPFError as e:
            return KernelVerdict(None, str(e), None, None, None)
        log = p.log
        p.close()
        return KernelVerdict("accept", log, None, _processed(log), _usec(log))
    finally:
        for o in opened:
            o.close()


def _processed(log: str) -> int | None:
    m = re.search(r"processed (\d+) insns", log)
    return int(m[1]) if m else None


def _usec(log: str) -> int | None:
    m = re.search(r"verification time (\d+) usec", log)
    return int(m[1]) if m else None


def _err_line(log: str) -> str | None:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    for ln in reversed(lines):
        if not _ERR_SKIP.match(ln):
            return ln
    return None


def rows() -> list[dict]:
    """Every corpus row."""
    with open(CORPUS) as f:
        return [json.loads(line) for line in f]


def find(rows_: list[dict], which: str) -> tuple[int, dict]:
    """A row by index or (part of) its name."""
    if which.isdigit():
        return int(which), rows_[int(which)]
    for i, r in enumerate(rows_):
        if r["name"] == which:
            return i, r
    for i, r in enumerate(rows_):
        if which in r["name"]:
            return i, r
    raise SystemExit(f"no row {which!r}")


UNPRIV_SYSCTL = Path("/proc/sys/kernel/unprivileged_bpf_disabled")
UNPRIV_CACHE = ROOT / ".oracle-cache" / "kernel-unpriv.json"


def drop_capabilities() -> None:
    """Clear every capability of this process (it stays uid 0, so it can
    still read its files, but the kernel sees an unprivileged caller)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header = Header(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def unprivileged_verdicts(indexes: list[int]) -> dict[int, dict]:
    """The kernel's verdicts for corpus rows loaded without capabilities.
    Needs root: turns unprivileged BPF on for the run and restores the
    sysctl afterwards."""
    import subprocess

    old = UNPRIV_SYSCTL.read_text().strip()
    try:
        UNPRIV_SYSCTL.write_text("0")
        out = subprocess.run([sys.executable, __file__, "unpriv-child",
                              ",".join(map(str, indexes))],
                             capture_output=True, text=True, check=True,
                             env={**__import__("os").environ})
    finally:
        UNPRIV_SYSCTL.write_text(old)
    return {int(k): v for k, v in json.loads(out.stdout).items()}


def compare_object(path: str | Path, *, log_level: int = 1) -> list[dict]:
    """Each program of an ELF object: the kernel's verdict and pybpf's."""
    from pybpf.elf import load_object
    from pybpf.kernel import KernelResolver
    from pybpf.kernel.collection import load_linked
    from pybpf.linker import link
    from pybpf.verifier import verify_object

    spec = load_object(Path(path).read_bytes(), path=str(path))
    obj = link(spec, KernelResolver())
    ours = verify_object(obj)
    out = []
    for name, res in ours.items():
        kv: dict = {"program": name, "pybpf": res.verdict, "pybpf_error": res.message,
                    "pybpf_processed": res.insns_processed}
        one = link(spec, KernelResolver())
        one.programs = {name: one.programs[name]}
        try:
            coll = load_linked(one, log_level=log_level | 4)
            log = coll.programs[name].log
            kv.update(kernel="accept", kernel_error=None)
            coll.close()
        except VerifierError as e:
            log = e.log
            kv.update(kernel="reject", kernel_error=_err_line(log))
        except BPFError as e:
            log = ""
            kv.update(kernel=None, kernel_error=str(e))
        kv["kernel_processed"] = _processed(log)
        out.append(kv)
    return out


def _ours(row: dict, privileged: bool = True):
    from pybpf.verifier.corpus import verify_row

    return verify_row(row, log_level=2, privileged=privileged)


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "show"
    all_rows = rows()
    if cmd == "dump":
        out = Path(argv[1]) if len(argv) > 1 else CACHE
        make_cache_dir(out)
        with open(out, "w") as f:
            for i, r in enumerate(all_rows):
                kv = kernel_verify(r)
                f.write(json.dumps({"index": i, "name": r["name"], "verdict": kv.verdict,
                                    "err_line": kv.err_line, "processed": kv.insns_processed,
                                    "log": kv.log}) + "\n")
        print(f"wrote {out}")
        return 0
    if cmd == "object":
        for path in argv[1:]:
            for r in compare_object(path):
                same = "same" if r["kernel"] == r["pybpf"] else "DIFFERENT"
                print(f"{path}:{r['program']}: kernel {r['kernel']} "
                      f"({r['kernel_processed']}) pybpf {r['pybpf']} ({r['pybpf_processed']}) "
                      f"{same}")
                if r["kernel"] != r["pybpf"]:
                    print(f"    kernel: {r['kernel_error']}\n    pybpf:  {r['pybpf_error']}")
        return 0
    if cmd == "unpriv-child":
        drop_capabilities()
        result = {}
        for i in map(int, argv[1].split(",")):
            try:
                kv = kernel_verify(all_rows[i])
            except BPFError as e:  # a map the unprivileged caller cannot create
                kv = KernelVerdict(None, str(e), None, None, None)
            result[i] = {"verdict": kv.verdict, "err_line": kv.err_line,
                         "processed": kv.insns_processed,
                         "log": kv.log if kv.verdict != "accept" else ""}
        print(json.dumps(result))
        return 0
    if cmd == "dump-unpriv":
        idx = [i for i, r in enumerate(all_rows) if r.get("expected_unpriv")]
        res = unprivileged_verdicts(idx)
        make_cache_dir(UNPRIV_CACHE)
        UNPRIV_CACHE.write_text(json.dumps(res, indent=0))
        print(f"wrote {UNPRIV_CACHE}: {len(res)} rows")
        return 0
    if cmd == "time":
        total_us = 0
        total_insns = 0
        started = time.perf_counter()
        for r in all_rows:
            kv = kernel_verify(r, log_level=4)
            total_us += kv.usec or 0
            total_insns += kv.insns_processed or 0
        print(f"kernel: {total_us} usec verification time, {total_insns} insns processed, "
              f"{time.perf_counter() - started:.2f}s wall")
        return 0
    if cmd == "show":
        i, r = find(all_rows, argv[1])
        priv = "--unpriv" not in argv
        print(f"# row {i}: {r['name']} ({r['prog_type']}) corpus: {r['kernel_6_18']}")
        kv = kernel_verify(r)
        print("## kernel:", kv.verdict, "|", kv.err_line)
        res = _ours(r, priv)
        print("## pybpf: ", res.verdict, "|", res.message)
        ours = res.log.splitlines()
        theirs = [ln for ln in kv.log.splitlines()]
        for ln in difflib.unified_diff(theirs, ours, "kernel", "pybpf", n=1000, lineterm=""):
            print(ln)
        return 0
    raise SystemExit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
