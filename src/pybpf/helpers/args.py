"""What a helper checks about its arguments before it acts on them.

The kernel's verifier proves, from each helper's prototype, that a pointer
argument and its size describe memory the program may use (a buffer on the
stack, in a map value, in the packet...), that a map argument is a map of
the kind the helper takes, and that a helper exists for the program's type.
The VM may run programs nobody verified (``pybpf.vm.load(...,
verify=False)``, the ``VM`` class itself), so helpers check the same
things when they are called: a call the verifier would have refused raises
:class:`~pybpf.errors.HelperError` naming the helper and the argument,
before anything is read, written or allocated.  A size is the whole 64-bit
register, as the verifier bounds it.
"""

from __future__ import annotations

from typing import Any

from ..errors import HelperError
from .registry import HelperContext


def check_mem(ctx: HelperContext, helper: str, ptr_arg: int, address: int, size_arg: int,
              size: int, *, write: bool) -> None:
    """``size`` bytes at ``address`` (registers ``r<ptr_arg>`` and
    ``r<size_arg>``) must lie in one region the program may read, or write
    when ``write``.  A size of 0 needs no memory (ARG_CONST_SIZE_OR_ZERO)."""
    if not size:
        return
    region = ctx.memory.find(address, size) if size < 1 << 63 else None
    if region is not None and (region.writable if write else region.readable):
        return
    what = "writable" if write else "readable"
    where = "" if region is None else f" ({region.kind} region {region.name} is not {what})"
    raise HelperError(f"bpf_{helper}: r{ptr_arg} ({address:#x}) with size r{size_arg} "
                      f"({size}) is not {size} bytes of {what} program memory{where}; the "
                      f"verifier would refuse the call")


def check_fixed_mem(ctx: HelperContext, helper: str, ptr_arg: int, address: int, size: int,
                    *, write: bool) -> None:
    """A pointer argument to a fixed-size object (``long *res``...)."""
    region = ctx.memory.find(address, size)
    if region is not None and (region.writable if write else region.readable):
        return
    raise HelperError(f"bpf_{helper}: r{ptr_arg} ({address:#x}) does not point to {size} "
                      f"{'writable' if write else 'readable'} bytes; the verifier would "
                      f"refuse the call")


def map_arg(ctx: HelperContext, helper: str, arg: int, address: int,
            *types: str) -> Any:
    """The map whose pointer register ``r<arg>`` holds, of one of ``types``
    when given."""
    m = ctx.map_at(address)
    if m is None:
        raise HelperError(f"bpf_{helper}: {address:#x} is not a map pointer (r{arg})")
    if types and m.type not in types:
        raise HelperError(f"bpf_{helper}: r{arg} is map {m.name!r}, a {m.type}; the helper "
                          f"takes a {' or '.join(types)} (the verifier would refuse the call)")
    return m


def unavailable(ctx: HelperContext, helper: str, needs: str) -> HelperError:
    """The error for a helper the program's type cannot call."""
    return HelperError(f"bpf_{helper} is not available to {ctx.prog_type} programs (it needs "
                       f"{needs}); the verifier would refuse the call")
