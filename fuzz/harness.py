"""The fuzz harness: workers that run cases, a supervisor that watches them.

A *target* (a module of :mod:`fuzz.targets`) turns a case number into an
input (:func:`generate`, from a ``random.Random`` seeded by the run's seed
and the case number, so any case can be replayed alone) and runs it
(:func:`execute`), returning a :class:`Result`: ``ok``, ``rejected`` (a
clean :class:`~pybpf.errors.BPFError`: the input was refused as it should
be), or a finding — ``unexpected`` (another exception type escaped),
``escape`` (memory or map access outside what the input may reach),
``budget`` (a run beyond its instruction budget or time bound), ``mismatch``
(a concurrent map disagrees with the serial model), ``traceback`` / ``exit``
(the command line printed a traceback or exited with another status).

Cases run in worker processes (``python -m fuzz.worker``), so a hard crash
(a segfault through ctypes, an abort) kills a worker, not the run: the
supervisor records a ``crash`` for the case in progress, a ``hang`` when a
case runs past the target's time limit, and restarts the worker after it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
TESTS = ROOT / "tests"

def shared_dir() -> Path:
    """The shared material (conformance suite, verifier corpus): $PYBPF_SHARED,
    or ``shared`` beside the checkout or beside its worktree folder."""
    if os.environ.get("PYBPF_SHARED"):
        return Path(os.environ["PYBPF_SHARED"])
    for base in (ROOT.parent, ROOT.parent.parent):
        if (base / "shared").is_dir():
            return base / "shared"
    return ROOT.parent / "shared"


FINDINGS = ("unexpected", "escape", "budget", "mismatch", "traceback", "exit", "crash",
            "hang")
"""Result kinds that are problems; ``ok`` and ``rejected`` are not."""

MAX_EXAMPLES = 5
"""Examples kept per distinct finding (kind and what)."""


@dataclass
class Result:
    """What one case gave: ``kind`` (ok, rejected or a finding), ``what``
    (an exception type or the check that failed) and a short ``detail``."""

    kind: str
    what: str = ""
    detail: str = ""


def exception_result(e: BaseException, expected: tuple[type[BaseException], ...]) -> Result:
    """``rejected`` for an expected exception type, else ``unexpected`` with
    the innermost frames of its traceback."""
    if isinstance(e, expected):
        return Result("rejected", type(e).__name__)
    frames = traceback.extract_tb(e.__traceback__)[-3:]
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames))
    return Result("unexpected", type(e).__name__, f"{str(e)[:200]} [{where}]")


def case_rng(seed: int, index: int) -> random.Random:
    """The random source of case ``index`` of a run with ``seed``."""
    return random.Random(f"{seed}:{index}")


def quick() -> bool:
    """Whether this worker runs a quick (seconds) version: light setups."""
    return bool(os.environ.get("FUZZ_QUICK"))


def load_target(name: str) -> Any:
    """The target module ``fuzz.targets.<name>``."""
    import importlib

    from .targets import TARGETS

    if name not in TARGETS:
        raise SystemExit(f"unknown target {name!r}; choose from {', '.join(TARGETS)}")
    return importlib.import_module(f"fuzz.targets.{name}")


# --- the worker ---------------------------------------------------------------------------

def worker_main(argv: list[str]) -> int:
    """``python -m fuzz.worker TARGET SEED START END [MEMORY_MB]``: run cases
    START..END-1 and print one JSON line per case."""
    import faulthandler
    import resource

    name, seed, start, end = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    memory_mb = int(argv[4]) if len(argv) > 4 else 0
    if memory_mb:
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    faulthandler.enable()
    target = load_target(name)
    try:
        state = target.setup(seed)
    except Exception:
        traceback.print_exc()
        print(f"fuzz worker: {name} failed in setup", file=sys.stderr)
        return 3
    out = sys.stdout
    for index in range(start, end):
        t0 = time.perf_counter()
        try:
            result = target.execute(state, target.generate(state, case_rng(seed, index)))
        except MemoryError as e:  # the harness's own limit, not the target's choice
            result = Result("unexpected", "MemoryError", str(e)[:200])
        except Exception as e:
            result = exception_result(e, ())
            result.detail = "in the harness: " + result.detail
        line = {"i": index, "k": result.kind, "w": result.what,
                "t": round(time.perf_counter() - t0, 4)}
        if result.kind in FINDINGS:
            line["d"] = result.detail[:2000]
        out.write(json.dumps(line) + "\n")
        out.flush()
    return 0


def replay(name: str, seed: int, index: int) -> int:
    """Run one case in this process, print its input and what happened."""
    os.environ.setdefault("PYBPF_SHARED", str(shared_dir()))
    for path in (SRC, TESTS):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    target = load_target(name)
    state = target.setup(seed)
    case = target.generate(state, case_rng(seed, index))
    print(f"--- {name} seed {seed} case {index}")
    print(target.show(case))
    result = target.execute(state, case)
    print(f"--- result: {result.kind} {result.what}\n{result.detail}")
    return 0 if result.kind not in FINDINGS else 1


# --- the supervisor -----------------------------------------------------------------------

@dataclass
class Report:
    """The counts of one target's run."""

    target: str
    seed: int
    cases: int = 0
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)
    whats: dict[str, Counter] = field(default_factory=dict)
    examples: dict[str, list[dict]] = field(default_factory=dict)
    slowest: float = 0.0
    setup_error: str = ""

    def add(self, index: int, kind: str, what: str = "", detail: str = "",
            seconds: float = 0.0) -> None:
        """Count one case."""
        self.cases += 1
        self.kinds[kind] += 1
        self.whats.setdefault(kind, Counter())[what] += 1
        self.slowest = max(self.slowest, seconds)
        if kind in FINDINGS:
            key = f"{kind}:{what}"
            kept = self.examples.setdefault(key, [])
            if len(kept) < MAX_EXAMPLES:
                kept.append({"case": index, "detail": detail})

    def findings(self) -> int:
        """How many cases found a problem (a target that could not start counts one)."""
        return sum(self.kinds[k] for k in FINDINGS) + bool(self.setup_error)

    def to_json(self) -> dict:
        """The report as plain data."""
        return {"target": self.target, "seed": self.seed, "cases": self.cases,
                "seconds": round(self.seconds, 1), "kinds": dict(self.kinds),
                "whats": {k: dict(v) for k, v in self.whats.items()},
                "examples": self.examples, "slowest_case_s": round(self.slowest, 3),
                "setup_error": self.setup_error}


class _Worker:
    def __init__(self, target: str, seed: int, start: int, end: int, memory_mb: int,
                 log_dir: Path, timeout: float, setup_timeout: float, quick: bool = False):
        self.target, self.seed, self.end = target, seed, end
        self.quick = quick
        self.memory_mb, self.log_dir = memory_mb, log_dir
        self.timeout, self.setup_timeout = timeout, setup_timeout
        self.next = start
        self.produced = 0
        self.setup_failures = 0
        self.proc: subprocess.Popen | None = None
        self.buffer = b""
        self.deadline = 0.0
        self.stderr_path = log_dir / f"{target}-{start}.stderr"
        self.spawn()

    def spawn(self) -> None:
        # PYTHONPATH first: `PYTHONPATH=other/src python -m fuzz` fuzzes another tree
        path = [os.environ.get("PYTHONPATH", ""), str(SRC), str(ROOT), str(TESTS)]
        env = {**os.environ, "PYBPF_SHARED": str(shared_dir()),
               "FUZZ_SCRATCH": str(self.log_dir), "FUZZ_QUICK": "1" if self.quick else "",
               "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "fuzz.worker", self.target, str(self.seed),
                 str(self.next), str(self.end), str(self.memory_mb)],
                stdout=subprocess.PIPE, stderr=err, cwd=ROOT, env=env,
                start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.produced = 0
        self.buffer = b""
        self.deadline = time.monotonic() + self.setup_timeout + self.timeout

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stderr_tail(self, limit: int = 1500) -> str:
        try:
            data = self.stderr_path.read_bytes()
        except OSError:
            return ""
        return data[-limit:].decode(errors="replace")


def supervise(target: str, *, seed: int, cases: int, budget: float, jobs: int = 1,
              start: int = 0, memory_mb: int = 3072, log_dir: Path | None = None,
              progress: bool = False, quick: bool = False,
              checkpoint: str | os.PathLike | None = None) -> Report:
    """Run cases ``start`` to ``start + cases - 1`` of ``target`` in ``jobs``
    worker processes, for at most ``budget`` seconds; the report counts each
    case's result, and a crash or hang for the case a worker died in.
    ``quick`` asks targets for a light setup (fewer seed programs) for
    runs of seconds.  With ``checkpoint``, the report so far is written
    there (JSON) every minute; SIGTERM or SIGINT ends the run early with the
    report of the cases done."""
    module = load_target(target)
    timeout = getattr(module, "CASE_TIMEOUT", 30.0)
    setup_timeout = getattr(module, "SETUP_TIMEOUT", 120.0)
    if log_dir is None:
        import tempfile

        log_dir = Path(tempfile.mkdtemp(prefix=f"pybpf-fuzz-{target}-"))  # private, 0700
    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    report = Report(target, seed)
    jobs = max(1, min(jobs, cases))
    bounds = [start + cases * j // jobs for j in range(jobs + 1)]
    workers = [_Worker(target, seed, bounds[j], bounds[j + 1], memory_mb, log_dir, timeout,
                       setup_timeout, quick) for j in range(jobs) if bounds[j] < bounds[j + 1]]
    sel = selectors.DefaultSelector()
    for w in workers:
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
    began = time.monotonic()
    last_progress = last_checkpoint = began
    live = set(workers)
    stop = []
    previous = {sig: signal.signal(sig, lambda *_: stop.append(True))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while live and not stop:
            now = time.monotonic()
            if now - began > budget:
                break
            wait = min([w.deadline for w in live] + [began + budget]) - now
            for key, _ in sel.select(timeout=max(0.05, min(wait, 1.0))):
                w = key.data
                try:
                    chunk = os.read(key.fileobj.fileno(), 1 << 16)
                except BlockingIOError:
                    continue
                if chunk:
                    w.buffer += chunk
                    *lines, w.buffer = w.buffer.split(b"\n")
                    for raw in lines:
                        rec = json.loads(raw)
                        report.add(rec["i"], rec["k"], rec.get("w", ""), rec.get("d", ""),
                                   rec.get("t", 0.0))
                        w.next = rec["i"] + 1
                        w.produced += 1
                        w.deadline = time.monotonic() + w.timeout
                    continue
                # end of output: the worker finished or died
                sel.unregister(key.fileobj)
                rc = w.proc.wait()
                w.proc.stdout.close()
                if rc == 0 and w.next >= w.end:
                    live.discard(w)
                    continue
                how = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
                if w.produced == 0 and rc > 0 and "in setup" in w.stderr_tail():
                    # the target cannot start: no case ran, so none is counted
                    w.setup_failures += 1
                    if w.setup_failures >= 2 or not _restart(w, w.next, sel):
                        report.setup_error = w.stderr_tail()
                        live.discard(w)
                    continue
                report.add(w.next, "crash", how, f"worker died with {how}:\n{w.stderr_tail()}")
                if _restart(w, w.next + 1, sel):
                    continue
                live.discard(w)
            now = time.monotonic()
            for w in list(live):
                if now > w.deadline and w.proc.poll() is None:
                    w.kill()
                    sel.unregister(w.proc.stdout)
                    w.proc.stdout.close()
                    report.add(w.next, "hang", f"over {w.timeout:g} s",
                               f"case ran longer than {w.timeout:g} s")
                    if not _restart(w, w.next + 1, sel):
                        live.discard(w)
            if progress and now - last_progress > 30:
                last_progress = now
                print(f"  {target}: {report.cases} cases, {report.findings()} findings, "
                      f"{now - began:.0f} s", file=sys.stderr, flush=True)
            if checkpoint and now - last_checkpoint > 60:
                last_checkpoint = now
                report.seconds = now - began
                _write_json(checkpoint, report)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for w in workers:
            w.kill()
        sel.close()
        if hasattr(module, "cleanup"):
            module.cleanup()
    report.seconds = time.monotonic() - began
    return report


def _write_json(path: str | os.PathLike, report: Report) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(report.to_json(), f, indent=1)
    os.replace(tmp, path)


def _restart(w: _Worker, index: int, sel: selectors.BaseSelector) -> bool:
    w.next = index
    if index >= w.end:
        return False
    w.spawn()
    sel.register(w.proc.stdout, selectors.EVENT_READ, w)
    return True


# --- the table ------------------------------------------------------------------------------

COLUMNS = ("cases", "ok", "rejected", "unexpected", "crash", "hang", "escape", "budget",
           "mismatch", "traceback", "exit")


def table(reports: list[Report]) -> str:
    """A Markdown table of the reports' counts, with the distinct finding types below."""
    head = ["target", *COLUMNS, "seconds"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in reports:
        cells = [r.target, str(r.cases)] + [str(r.kinds.get(k, 0)) for k in COLUMNS[1:]]
        rows.append("| " + " | ".join([*cells, f"{r.seconds:.0f}"]) + " |")
    notes = []
    for r in reports:
        if r.setup_error:
            notes.append(f"- {r.target}: the worker could not start:\n{r.setup_error}")
        for key, examples in sorted(r.examples.items()):
            kind, what = key.split(":", 1)
            count = r.whats.get(kind, Counter()).get(what, 0)
            first = examples[0]
            detail = first["detail"].strip().splitlines()
            notes.append(f"- {r.target} {kind} `{what}` x{count}: case {first['case']} "
                         f"(replay: `python -m fuzz --target {r.target} --seed {r.seed} "
                         f"--replay {first['case']}`): {detail[0][:300] if detail else ''}")
    return "\n".join(rows + (["", *notes] if notes else []))
