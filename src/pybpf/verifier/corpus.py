"""The Linux verifier selftests corpus (``../shared/verifier-corpus``) run
through pybpf's verifier and compared with the kernel's verdicts.

``python -m pybpf.verifier.corpus [--unpriv] [--only SUBSTRING] [--show]``
prints agreement by source file; ``--show`` lists every disagreement.
:func:`run` is what the test suite's corpus test calls.

Each row's ``maps`` name fixture kinds (``map_hash_48b``, ``map_spin_lock``
...) that the selftests create; :func:`fixture_map` describes them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..isa import Insn
from ..linked import LinkedProgram, MapRef
from ..spec import constant, enum_name
from . import VerifierResult, verify
from .maps import MapDescription

NO_PREALLOC = "BPF_F_NO_PREALLOC"


def corpus_path() -> Path | None:
    """``shared/verifier-corpus/kernel-selftests.jsonl`` beside the checkout
    (or beside the directory of worktrees), or None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        p = parent / "shared" / "verifier-corpus" / "kernel-selftests.jsonl"
        if p.exists():
            return p
    return None


UNPRIV_VERDICTS = Path("tests") / "verifier" / "data" / "kernel_6_18_unpriv.json"
"""Where the checkout keeps the kernel's verdicts for the rows with an
unprivileged expectation, loaded without capabilities (the corpus itself
only has the 5.17 selftests' expectations for them)."""


def unpriv_verdicts() -> dict[int, dict] | None:
    """The kernel's unprivileged verdicts by row index, or None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        p = parent / UNPRIV_VERDICTS
        if p.exists():
            return {int(k): v for k, v in json.loads(p.read_text()).items()}
    return None


def load_rows(path: Path | None = None) -> list[dict]:
    path = path or corpus_path()
    if path is None:
        raise FileNotFoundError("the verifier corpus (shared/verifier-corpus) is absent")
    with open(path) as f:
        return [json.loads(line) for line in f]


def fixture_map(kind: str) -> MapDescription:
    """The map a selftest fixture kind stands for."""
    nopre = constant(NO_PREALLOC)
    if kind.startswith("map_hash_"):
        size = int(kind.removeprefix("map_hash_").removesuffix("b"))
        return MapDescription("hash", 8, size, 1, nopre)
    if kind == "map_array_48b":
        return MapDescription("array", 4, 48, 1)
    if kind == "map_array_ro":
        return MapDescription("array", 4, 48, 1, constant("BPF_F_RDONLY_PROG"))
    if kind == "map_array_wo":
        return MapDescription("array", 4, 48, 1, constant("BPF_F_WRONLY_PROG"))
    if kind == "map_array_small":
        return MapDescription("array", 4, 1, 1)
    if kind == "prog1":
        return MapDescription("prog_array", 4, 4, 4)
    if kind == "prog2":
        return MapDescription("prog_array", 4, 4, 8)
    if kind == "map_in_map":
        return MapDescription("array_of_maps", 4, 4, 1, inner=MapDescription("array", 4, 4, 1))
    if kind == "map_ringbuf":
        return MapDescription("ringbuf", 0, 0, 4096)
    if kind == "map_event_output":
        return MapDescription("perf_event_array", 4, 4, 1)
    if kind == "map_stacktrace":
        return MapDescription("stack_trace", 4, 8, 1)
    if kind in ("map_sockmap", "map_sockhash", "map_xskmap"):
        return MapDescription(kind.removeprefix("map_"), 4, 4, 1)
    if kind == "map_reuseport_array":
        return MapDescription("reuseport_sockarray", 4, 4, 1)
    if kind == "cgroup_storage":
        return MapDescription("cgroup_storage", 16, 64, 0)
    if kind == "percpu_cgroup_storage":
        return MapDescription("percpu_cgroup_storage", 16, 64, 0)
    if kind == "map_spin_lock":
        return MapDescription("array", 4, 8, 1, special_fields={4: "bpf_spin_lock"},
                              btf_value_type="val")
    if kind == "map_timer":
        return MapDescription("array", 4, 16, 1, special_fields={0: "bpf_timer"},
                              btf_value_type="timer")
    if kind == "sk_storage_map":
        return MapDescription("sk_storage", 4, 8, 0, nopre, special_fields={4: "bpf_spin_lock"},
                              btf_value_type="val")
    raise KeyError(f"unknown corpus map kind {kind}")


def row_program(row: dict) -> tuple[LinkedProgram, dict[str, MapDescription]]:
    """A row as a linked program and its map descriptions."""
    insns = [Insn(op & 0xFF, d, s, o, i) for op, d, s, o, i in row["insns"]]
    refs: dict[int, MapRef] = {}
    maps: dict[str, MapDescription] = {}
    for kind, pcs in (row.get("maps") or {}).items():
        maps[kind] = fixture_map(kind)
        for pc in pcs:
            refs[pc] = MapRef(kind, insns[pc].src == 2)
    attach = row.get("expected_attach_type") or 0
    attach_name = enum_name("bpf_attach_type", attach) if attach else None
    prog = LinkedProgram(row["name"], insns, refs, type=row["prog_type"],
                         attach_type=attach_name.removeprefix("BPF_").lower()
                         if attach_name else None, flags=row.get("prog_flags") or 0)
    return prog, maps


def verify_row(row: dict, *, privileged: bool = True, log_level: int = 0) -> VerifierResult:
    prog, maps = row_program(row)
    return verify(prog, maps, privileged=privileged, log_level=log_level)


@dataclass
class Outcome:
    """One row compared with the kernel."""

    index: int
    name: str
    source: str
    expected: str | None
    expected_err: str | None
    verdict: str
    message: str | None
    seconds: float
    processed: int
    kernel_processed: int | None

    @property
    def agrees(self) -> bool:
        return self.expected is None or self.verdict == self.expected

    @property
    def message_matches(self) -> bool:
        """On a rejection both agree on: the kernel's error line is part of
        our message."""
        if self.expected != "reject" or self.verdict != "reject":
            return True
        return bool(self.expected_err) and self.expected_err in (self.message or "")


def run(rows: list[dict] | None = None, *, privileged: bool = True,
        only: str | None = None, every: int = 1) -> list[Outcome]:
    """Verify every row (privileged: against ``kernel_6_18``; unprivileged:
    rows with an unprivileged expectation, against it); with ``every`` N,
    only every Nth row (a quick sample)."""
    rows = rows if rows is not None else load_rows()
    kernel_unpriv = None if privileged else unpriv_verdicts()
    out = []
    for i, row in enumerate(rows):
        if i % every or (only and only not in row["name"]):
            continue
        if privileged:
            k = row["kernel_6_18"]
            expected, err = k["verdict"], k["err_line"]
            kproc = k["insn_processed"]
        else:
            if not row.get("expected_unpriv"):
                continue
            if kernel_unpriv is not None and i in kernel_unpriv:
                k = kernel_unpriv[i]
                expected, err, kproc = k["verdict"], k["err_line"], k["insn_processed"]
            else:
                expected, err = row["expected_unpriv"], row.get("errstr_unpriv")
                kproc = None
        t = time.perf_counter()
        try:
            res = verify_row(row, privileged=privileged)
            verdict, message, processed = res.verdict, res.message, res.insns_processed
        except Exception as e:
            verdict, message, processed = "crash", f"{type(e).__name__}: {e}", 0
        out.append(Outcome(i, row["name"], row["source"]["path"].rsplit("/", 1)[-1], expected,
                           err, verdict, message, time.perf_counter() - t, processed, kproc))
    return out


def summary(outcomes: list[Outcome]) -> dict[str, Any]:
    compared = [o for o in outcomes if o.expected is not None]
    agree = sum(o.agrees for o in compared)
    rejects = [o for o in compared if o.expected == "reject" and o.verdict == "reject"]
    msg = sum(o.message_matches for o in rejects)
    unsafe = [o for o in compared if o.expected == "reject" and o.verdict == "accept"]
    return {"rows": len(compared), "agree": agree,
            "agreement": agree / len(compared) if compared else 1.0,
            "rejects_both": len(rejects), "message_match": msg,
            "message_rate": msg / len(rejects) if rejects else 1.0,
            "unsafe_accepts": len(unsafe),
            "seconds": sum(o.seconds for o in outcomes)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pybpf.verifier.corpus",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--unpriv", action="store_true", help="unprivileged rows and verdicts")
    ap.add_argument("--only", help="rows whose name contains this")
    ap.add_argument("--show", action="store_true", help="list the disagreements")
    args = ap.parse_args(argv)
    outcomes = run(privileged=not args.unpriv, only=args.only)
    by_file: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_file[o.source].append(o)
    print(f"{'source':32} {'rows':>5} {'agree':>6} {'msg':>5} {'ms':>8}")
    for src in sorted(by_file):
        os_ = by_file[src]
        s = summary(os_)
        print(f"{src:32} {s['rows']:5} {s['agree']:6} "
              f"{s['message_match']:2}/{s['rejects_both']:<2} {s['seconds'] * 1000:8.1f}")
    s = summary(outcomes)
    print(f"\nagreement {s['agree']}/{s['rows']} = {s['agreement']:.1%}; messages "
          f"{s['message_match']}/{s['rejects_both']} = {s['message_rate']:.1%}; unsafe accepts "
          f"{s['unsafe_accepts']}; {s['seconds']:.2f}s")
    if args.show:
        kinds = Counter()
        for o in outcomes:
            if not o.agrees or not o.message_matches:
                kinds[o.source] += 1
                print(f"\n[{o.index}] {o.name} ({o.source}): kernel {o.expected} "
                      f"{o.expected_err!r}\n      pybpf  {o.verdict} {o.message!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
