"""BPF helpers by name, for program files: ``from pybpf.lang.helpers import
bpf_ktime_get_ns`` (or ``from pybpf.lang import helpers as bpf`` and
``bpf.ktime_get_ns()``).  Each name is a :class:`Helper` whose id and
prototype come from :mod:`pybpf.spec`; the compiler turns a call into the
helper call.  In CPython, calling one raises: helpers run in the kernel."""

from __future__ import annotations

from typing import Any

from ..spec import helper_id


class Helper:
    """A BPF helper: ``name`` without ``bpf_``, ``id`` from spec."""

    def __init__(self, name: str):
        self.name = name
        self.id = helper_id(name)

    def __call__(self, *args: Any) -> Any:
        raise RuntimeError(f"bpf_{self.name}() runs in an eBPF program, not in CPython")

    def __repr__(self) -> str:
        return f"<BPF helper bpf_{self.name}#{self.id}>"


def __getattr__(name: str) -> Helper:
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        return Helper(name.removeprefix("bpf_"))
    except KeyError:
        raise AttributeError(f"no BPF helper named {name!r}") from None
