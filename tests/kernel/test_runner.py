"""pybpf.kernel.run and its parts: attaching a collection's programs with the
options that apply, polling until a duration, SIGTERM or Ctrl-C, closing
what was opened.  The parts run on stand-in programs (no kernel); the last
test runs a real collection."""

from __future__ import annotations

import os
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from pybpf import kernel
from pybpf.errors import AttachError, KernelError
from pybpf.kernel.runner import Stop, attach_all, poll, run, stoppable, uses_printk
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec
from pybpf.spec.sections import lookup


class Attachment:
    def __init__(self, name: str, log: list[str]):
        self.name, self.log, self.target = name, log, f"hook of {name}"

    def close(self) -> None:
        self.log.append(f"close {self.name}")


class Program:
    """A stand-in program: what the dispatcher reads, and an attach() that
    records its options or fails as told."""

    def __init__(self, name: str, section: str, log: list[str], fail: Exception | None = None):
        info = lookup(section)
        self.name, self.section, self.type = name, section, info.prog_type
        self.expected_attach_type, self.attach_to = info.attach_type, info.attach_to
        self.log, self.fail = log, fail

    def attach(self, **options):
        self.log.append(f"attach {self.name} {sorted(options.items())}")
        if self.fail is not None:
            raise self.fail
        return Attachment(self.name, self.log)


def collection(*programs: Program) -> SimpleNamespace:
    return SimpleNamespace(programs={p.name: p for p in programs}, maps={}, spec=None)


def test_attach_all_gives_each_program_the_options_its_hook_takes():
    log: list[str] = []
    coll = collection(Program("x", "xdp", log), Program("c", "cgroup_skb/ingress", log),
                      Program("t", "tracepoint/a/b", log))
    attached, failed = attach_all(coll, {"interface": "lo", "cgroup": "/app"})
    assert list(attached) == ["x", "c", "t"] and failed == {}
    assert log == ["attach x [('interface', 'lo')]", "attach c [('cgroup', '/app')]",
                   "attach t []"]


def test_attach_all_lets_optional_programs_fail_and_raises_for_the_others():
    log: list[str] = []
    missing = KernelError("no such tracepoint", errno=2)
    coll = collection(Program("a", "tp/a/b", log), Program("b", "tp/c/d", log, fail=missing))
    attached, failed = attach_all(coll, optional=["b"])
    assert list(attached) == ["a"] and failed == {"b": missing}
    with pytest.raises(KernelError, match="no such tracepoint"):
        attach_all(coll)


def test_attach_all_reports_every_failure_to_on_error_and_goes_on():
    log: list[str] = []
    bad = AttachError("needs an interface")
    coll = collection(Program("a", "xdp", log, fail=bad), Program("b", "tp/c/d", log))
    errors, done = [], []
    attached, failed = attach_all(coll, on_error=lambda n, e: errors.append((n, e)),
                                  on_attach=lambda n, a: done.append((n, a.target)))
    assert errors == [("a", bad)] and failed == {"a": bad}
    assert done == [("b", "hook of b")] and list(attached) == ["b"]


def test_poll_stops_after_the_duration_ticking_on_the_way_and_at_the_end():
    ticks = []
    start = time.monotonic()
    assert poll([], duration=0.35, every=0.1, tick=lambda: ticks.append(time.monotonic())) == 0
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 3
    assert 3 <= len(ticks) <= 5  # about every 0.1 s, then once more at the end
    assert ticks[-1] >= start + 0.35


def test_stoppable_turns_sigterm_into_a_quiet_end_and_restores_the_handler():
    before = signal.getsignal(signal.SIGTERM)
    reached = []
    with stoppable():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted by the handler
        reached.append("after sleep")
    assert reached == []
    assert signal.getsignal(signal.SIGTERM) is before
    for stop in (KeyboardInterrupt, Stop):
        with stoppable():  # swallows both, or the test fails here
            raise stop


def test_run_attaches_polls_and_detaches_what_it_attached():
    log: list[str] = []
    coll = collection(Program("a", "tp/a/b", log), Program("b", "tp/c/d", log))
    ready = []
    result = run(coll, duration=0.05, on_ready=lambda: ready.append(list(log)))
    assert ready == [["attach a []", "attach b []"]]  # ready once everything is attached
    assert list(result.attached) == ["a", "b"] and not result.failed
    assert not result.interrupted
    assert log[-2:] == ["close b", "close a"]


def test_run_ends_quietly_on_sigterm_and_still_closes():
    log: list[str] = []
    coll = collection(Program("a", "tp/a/b", log))
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    try:
        result = run(coll)  # no duration: only the signal ends it
    finally:
        timer.cancel()
    assert result.interrupted and log == ["attach a []", "close a"]


def test_uses_printk_reads_the_programs_helper_calls():
    quiet = ProgramSpec.from_assembly("q", "r0 = 0\nexit", type="socket_filter")
    loud = ProgramSpec.from_assembly("l", "r1 = r10\nr1 += -8\nr2 = 8\ncall 6\nr0 = 0\nexit",
                                     type="socket_filter")
    assert not uses_printk(SimpleNamespace(spec=ObjectSpec.build([quiet])))
    assert uses_printk(SimpleNamespace(spec=ObjectSpec.build([quiet, loud])))
    assert not uses_printk(SimpleNamespace(spec=None))


RINGBUF_OUTPUT = """
    r1 = map[idx:0] ll
    r2 = 8
    r3 = 0
    call 131
    if r0 == 0 goto out
    r1 = 42
    *(u64 *)(r0 + 0) = r1
    r1 = r0
    r2 = 0
    call 132
out:
    r0 = 0
    exit
"""


@pytest.mark.kernel
def test_run_reads_every_ring_buffer_of_a_real_collection():
    prog = ProgramSpec.from_assembly("emit", RINGBUF_OUTPUT, type="socket_filter")
    spec = ObjectSpec.build([prog], [MapSpec("out", "ringbuf", 0, 0, 4096)])
    records = []
    with kernel.load(spec) as coll:
        def ready() -> None:
            coll.programs["emit"].test_run(bytes(64), repeat=2)

        result = run(coll, attach=False, duration=0.3, on_ready=ready,
                     on_record=lambda name, rec: records.append((name, rec)))
        assert coll.readers and all(r.closed for r in coll.readers)
    assert [name for name, _ in records] == ["out", "out"]
    assert all(bytes(rec)[:8] == (42).to_bytes(8, "little") for _, rec in records)
    assert result.records == 2
