"""The registry of helper functions: id -> implementation.

A helper is a Python callable ``fn(ctx, r1, r2, r3, r4, r5) -> int``.
``ctx`` is the running program's :class:`HelperContext` (its memory, its
environment, a way to call back into the program); the five integers are the
argument registers as unsigned 64-bit values; the result becomes r0.
Helpers raise :class:`~pybpf.errors.BPFError` subclasses for misuse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Protocol

HelperFunction = Callable[..., int]


class HelperContext(Protocol):
    """What a helper can reach while a program runs (the VM's Program)."""

    memory: Any        # the AddressSpace: load/store/read/write/read_cstring, and
    #                    from_host/to_host between the VM's addresses and the host's
    env: Any           # the Environment: pid, comm, clock, cpu, random source
    prog_type: str     # the running program's type (xdp, sched_cls, ...)
    packet: Any        # the packet of skb/xdp runs (buffer offsets meta/data/end/mac)
    ctx: Any           # the context struct (StructContext) when the type has one
    trace_pipe: list[bytes]
    redirect: Any      # set by redirect helpers: where the packet should go

    def invoke(self, address: int, *args: int) -> int:
        """Call a subprogram of the running program (callbacks)."""
        ...

    def map_at(self, address: int) -> Any:
        """The map whose pointer is ``address``, or None."""
        ...

    def map_owning(self, address: int) -> Any:
        """The map whose memory holds ``address`` (ring buffer records), or None."""
        ...

    def map_pointer(self, m: Any) -> int:
        """The address of map ``m`` in the program's VM (a map of maps'
        lookup returns it)."""
        ...


@dataclass(frozen=True)
class Helper:
    """A registered helper: its id, name and implementation."""

    id: int
    name: str
    fn: HelperFunction


class HelperRegistry:
    """Helpers by id.  Registries can be layered: a child sees its parent's
    helpers unless it registers its own under the same id."""

    def __init__(self, parent: HelperRegistry | None = None):
        self._own: dict[int, Helper] = {}
        self.parent = parent
        self._changes = 0               # counts add(): when functions() is out of date
        self._functions: tuple[tuple, Mapping[int, HelperFunction]] | None = None

    def add(self, helper_id: int, fn: HelperFunction, name: str | None = None) -> Helper:
        """Register ``fn`` as helper ``helper_id``; returns the entry."""
        entry = Helper(helper_id, name or getattr(fn, "__name__", f"helper_{helper_id}"), fn)
        self._own[helper_id] = entry
        self._changes += 1
        return entry

    def functions(self) -> Mapping[int, HelperFunction]:
        """The implementation of every helper this registry sees, by id (as
        iterating it gives them: its own over its parents'), read-only.
        Made again only after an :meth:`add` here or in a parent: each
        program a VM loads asks for it."""
        chain = []
        registry: HelperRegistry | None = self
        while registry is not None:
            chain.append(registry)
            registry = registry.parent
        changes = tuple((r, r._changes) for r in chain)     # the layers as they are now
        known = self._functions
        if known is None or known[0] != changes:
            table: dict[int, HelperFunction] = {}
            for r in reversed(chain):
                table.update({helper_id: entry.fn for helper_id, entry in r._own.items()})
            known = self._functions = (changes, MappingProxyType(table))
        return known[1]

    def register(self, helper_id: int, name: str | None = None
                 ) -> Callable[[HelperFunction], HelperFunction]:
        """Decorator form of :meth:`add`."""
        def decorate(fn: HelperFunction) -> HelperFunction:
            self.add(helper_id, fn, name)
            return fn
        return decorate

    def get(self, helper_id: int) -> Helper | None:
        """The helper with this id, or None."""
        entry = self._own.get(helper_id)
        if entry is None and self.parent is not None:
            return self.parent.get(helper_id)
        return entry

    def by_name(self, name: str) -> Helper | None:
        """The helper with this name (with or without the ``bpf_`` prefix)."""
        short = name.removeprefix("bpf_")
        for entry in self:
            if entry.name.removeprefix("bpf_") == short:
                return entry
        return None

    def child(self) -> HelperRegistry:
        """A registry that adds to (or overrides) this one."""
        return HelperRegistry(self)

    def __contains__(self, helper_id: object) -> bool:
        return isinstance(helper_id, int) and self.get(helper_id) is not None

    def __iter__(self) -> Iterator[Helper]:
        seen: set[int] = set()
        registry: HelperRegistry | None = self
        while registry is not None:
            for helper_id, entry in sorted(registry._own.items()):
                if helper_id not in seen:
                    seen.add(helper_id)
                    yield entry
            registry = registry.parent

    def __len__(self) -> int:
        return sum(1 for _ in self)
