"""Loads through pointers to kernel structs, typed by the kernel's BTF.

A ``PTR_TO_BTF_ID`` register points at a kernel object whose layout the
running kernel's BTF (``/sys/kernel/btf/vmlinux``) describes; so does the
``struct bpf_map`` behind a map pointer.  :func:`struct_walk` finds the
member a load reads: a scalar, or a pointer to another kernel struct
(itself a ``PTR_TO_BTF_ID``).  Without kernel BTF such loads are refused
with a pybpf message saying so.
"""

from __future__ import annotations

import functools
from typing import Any

from .env import Env
from .state import PTR_TO_BTF_ID, PTR_UNTRUSTED, SCALAR_VALUE, Reg, set_known, type_str

READ = 0


@functools.cache
def kernel_btf() -> Any:
    """The running kernel's BTF, or None where it cannot be read."""
    try:
        from ..btf import BTF

        return BTF.load_vmlinux()
    except Exception:
        return None


def _strip(btf: Any, tid: int) -> tuple[int, Any]:
    for _ in range(32):
        t = btf[tid]
        kind = type(t).__name__
        if kind in ("Typedef", "Const", "Volatile", "Restrict", "TypeTag"):
            tid = t.type_id
            continue
        return tid, t
    return tid, btf[tid]


def struct_walk(env: Env, btf: Any, tname: str, off: int, size: int) -> tuple[str, str | None]:
    """``("scalar", None)`` or ``("ptr", pointee struct name)`` for a load
    of ``size`` bytes at ``off`` in ``struct tname``; raises on a bad one."""
    t = btf.get_named(tname, "struct") if hasattr(btf, "get_named") else None
    if t is None:
        raise env.error(f"pybpf: kernel BTF has no struct {tname}", "EINVAL")
    return _walk(env, btf, t, tname, off, size)


def _walk(env: Env, btf: Any, t: Any, tname: str, off: int, size: int) -> tuple[str, str | None]:
    tsize = t.size
    if off + size > tsize:
        members = t.members
        last = members[-1] if members else None
        if last is not None:
            _, lt = _strip(btf, last.type_id)
            if type(lt).__name__ == "Array" and lt.nelems == 0:
                return "scalar", None
        raise env.error(f"access beyond struct {tname} at off {off} size {size}")
    for m in t.members:
        moff = m.bit_offset // 8
        if m.bitfield_size:
            end = (m.bit_offset + m.bitfield_size + 7) // 8
            if moff <= off < end:
                return "scalar", None
            continue
        mtid, mt = _strip(btf, m.type_id)
        msize = btf.size_of(mtid) if type(mt).__name__ != "Ptr" else 8
        if moff + msize <= off:
            continue
        if moff > off:
            break
        kind = type(mt).__name__
        if kind in ("Struct", "Union"):
            return _walk(env, btf, mt, mt.name or tname, off - moff, size)
        if kind == "Array":
            etid, et = _strip(btf, mt.elem_type_id)
            esize = btf.size_of(etid) or 1
            rel = (off - moff) % esize
            if type(et).__name__ in ("Struct", "Union"):
                return _walk(env, btf, et, et.name or tname, rel, size)
            if off + size > moff + msize:
                break
            return "scalar", None
        if kind == "Ptr":
            if size != 8 or off != moff:
                raise env.error(f"cannot access ptr member {m.name} with moff {moff} in struct "
                                f"{tname} with off {off} size {size}")
            _, pt = _strip(btf, mt.type_id)
            if type(pt).__name__ in ("Struct", "Union") and pt.name:
                return "ptr", pt.name
            return "scalar", None
        if off + size > moff + msize:
            break
        return "scalar", None
    raise env.error(f"struct {tname} doesn't have field at offset {off}", "EINVAL")


def _result(env: Env, kind: str, pointee: str | None, untrusted: bool) -> Reg:
    if kind == "scalar":
        return env.unknown()
    r = Reg(PTR_TO_BTF_ID | (PTR_UNTRUSTED if untrusted else 0))
    set_known(r, 0)
    r.btf_id = pointee
    return r


def struct_access(env: Env, tname: str, off: int, size: int) -> Reg:
    """A load from the kernel object of struct ``tname`` (a map's)."""
    btf = kernel_btf()
    if btf is None:
        raise env.unmodelled("kernel objects without kernel BTF",
                             f"pybpf: reading 'struct {tname}' needs the kernel's BTF "
                             f"(/sys/kernel/btf/vmlinux)")
    kind, pointee = struct_walk(env, btf, tname, off, size)
    return _result(env, kind, pointee, True)


def btf_reg_access(env: Env, regno: int, reg: Reg, off: int, size: int, t: int,
                   value_regno: int) -> None:
    """A load or store through a ``PTR_TO_BTF_ID`` register."""
    if t != READ:
        raise env.error("only read is supported")
    if off < 0:
        raise env.error(f"R{regno} is ptr_{reg.btf_id} invalid negative access: off={off}")
    if reg.var_off[1] or reg.var_off[0]:
        raise env.error(f"R{regno} is ptr_{reg.btf_id} invalid variable offset: off={off}, "
                        f"var_off={reg.var_off}")
    btf = kernel_btf()
    if btf is None or not reg.btf_id:
        raise env.unmodelled("kernel objects without kernel BTF",
                             f"pybpf: reading through {type_str(reg.type)} needs the kernel's BTF")
    kind, pointee = struct_walk(env, btf, str(reg.btf_id), off, size)
    if value_regno >= 0:
        env.regs[value_regno] = _result(env, kind, pointee, True)


__all__ = ["SCALAR_VALUE", "btf_reg_access", "kernel_btf", "struct_access", "struct_walk"]
