"""What a backend gives back: one :class:`Collection` / :class:`Program`
interface and one :class:`TestRunResult` for the userspace VM and the
kernel.

``pybpf.vm.load(spec)`` and ``pybpf.kernel.load(spec)`` both return a
:class:`Collection` — programs and maps by name, a ring buffer reader,
``close()`` and a ``with`` block — whose programs are :class:`Program`\\ s
with ``test_run()``; both test runs return a :class:`TestRunResult`.  The
classes here are abstract base classes rather than ``typing.Protocol``\\ s:
the backends subclass them, so "the same interface" is checked when a class
is defined (an abstract method left out makes it uninstantiable) and by
``isinstance``, and the with-block logic lives here once.  (A runtime
Protocol's ``isinstance`` only checks that attribute names exist.)

This module sits below both backends: it imports only :mod:`pybpf.isa` and :mod:`pybpf.spec`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any, NamedTuple

_U32 = 0xFFFFFFFF


class TestRunResult(NamedTuple):
    """What a test run returns, in either backend, like
    ``BPF_PROG_TEST_RUN``: ``retval`` is the low 32 bits of r0,
    ``data_out`` the packet (or memory) after the run, ``ctx_out`` the
    context after it (None when the run had no context to return),
    ``duration_ns`` the average time of one run.

    ``r0`` has all 64 bits of r0 where the backend knows them (the VM; the
    kernel reports only ``retval``: None); ``verdict`` says what the return
    value means for the program type (``XDP_PASS``, ``TC_ACT_OK``...);
    ``redirect`` where a redirect helper sent the packet (the VM).
    """

    __test__ = False  # not a pytest test class

    retval: int
    data_out: bytes
    ctx_out: bytes | None
    duration_ns: int
    r0: int | None = None
    verdict: str | None = None
    redirect: Any = None


def verdict(prog_type: str, r0: int) -> str | None:
    """What return value ``r0`` means for a program of ``prog_type``, in
    the kernel's words (None where the type gives it no name)."""
    if prog_type == "xdp":
        from .spec import enum_values

        names = {v: k for k, v in enum_values("xdp_action").items()}
        return names.get(r0 & _U32, f"unknown XDP action {r0 & _U32}")
    if prog_type in ("sched_cls", "sched_act"):
        from .isa import s32
        from .spec import net

        value = s32(r0)
        return net.TC_ACT_NAMES.get(value, f"TC action {value}")
    if prog_type == "socket_filter":
        keep = r0 & _U32
        return "drop" if keep == 0 else f"keep {keep} bytes"
    if prog_type == "cgroup_skb":
        return {0: "drop", 1: "allow"}.get(r0 & 1)
    return None


def checked_repeat(repeat: int, what: str = "test run") -> int:
    """``repeat`` for ``BPF_PROG_TEST_RUN`` as the kernel takes it: 0 and 1
    both mean once; more than its 32-bit field holds is refused with
    :class:`~pybpf.errors.BPFError` (the kernel would see it truncated)."""
    from .errors import BPFError

    if not isinstance(repeat, int) or not 0 <= repeat <= _U32:
        raise BPFError(f"{what}: repeat {repeat} is out of range: 0 to {_U32} "
                       f"(BPF_PROG_TEST_RUN's field is 32 bits)")
    return max(repeat, 1)


class Program(abc.ABC):
    """A loaded program: ``name``, ``type`` (the kernel's program type
    name: ``xdp``, ``sched_cls``...) and :meth:`test_run`."""

    name: str
    type: str

    @abc.abstractmethod
    def test_run(self, data: bytes = b"", ctx: bytes | None = None, *,
                 repeat: int = 1) -> TestRunResult:
        """Run the program as ``BPF_PROG_TEST_RUN`` does: ``data`` is the
        packet (or memory), ``ctx`` the context struct's bytes; ``repeat``
        runs on the same input."""


class Collection(abc.ABC):
    """Programs and maps loaded together from one
    :class:`~pybpf.objects.ObjectSpec`.

    ``programs`` and ``maps`` are keyed by the spec's names (maps follow
    :class:`pybpf.codecs.MapProtocol`); ``spec`` is the spec loaded (None
    when it was loaded from a prepared form).  ``close()``, or leaving a
    ``with`` block, releases everything.
    """

    programs: dict[str, Program]
    maps: dict[str, Any]
    spec: Any

    @abc.abstractmethod
    def ringbuf(self, name: str, *, type: Any = None, raw: bool = False) -> Iterable[Any]:
        """The records of ring buffer map ``name``, decoded as BTF type
        ``type`` (inferred from the object when not given; bytes when
        ``raw`` or when no type can be told)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the programs, maps and everything opened through them."""

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Collection", "Program", "TestRunResult", "verdict"]
