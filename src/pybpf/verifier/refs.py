"""References and locks a path holds, and what ends them.

A helper that acquires a resource (a socket from ``bpf_sk_lookup_tcp``, a
ring buffer record from ``bpf_ringbuf_reserve``) gives the path a
reference (:func:`acquire_reference`) that a release helper must end
(:func:`release_reference`); ``bpf_spin_lock`` takes a lock that
``bpf_spin_unlock`` must give back (:func:`process_spin_lock`).  At
``exit``, a tail call or a legacy packet load, :func:`check_resource_leak`
refuses whatever is still held.
"""

from __future__ import annotations

from .env import Env
from .state import (
    NOT_INIT,
    NOT_INIT_REG,
    PTR_TO_MAP_VALUE,
    PTR_TO_PACKET,
    PTR_TO_PACKET_END,
    PTR_TO_PACKET_META,
    REF_TYPE_LOCK,
    REF_TYPE_PTR,
    RefState,
    Reg,
    Slot,
    base_type,
)

# --- references ----------------------------------------------------------------------------

def acquire_reference(env: Env, insn_idx: int) -> int:
    ref_id = env.new_id()
    env.cur.refs.append(RefState(ref_id, insn_idx, REF_TYPE_PTR))
    return ref_id


def for_each_reg(env: Env, fn) -> None:
    """Call ``fn(reg) -> Reg | None`` on every register and spilled
    register of the current path, storing what it returns."""
    for f in env.cur.frame:
        regs = f.regs
        for i, r in enumerate(regs):
            if r.type != NOT_INIT:
                new = fn(r)
                if new is not None:
                    regs[i] = new
        stack = f.stack
        for spi, st in enumerate(stack):
            if st.kinds[7] == "r" and st.reg is not None and st.reg.type != NOT_INIT:
                new = fn(st.reg)
                if new is not None:
                    stack[spi] = Slot(st.kinds, new)


def invalid_reg(env: Env) -> Reg:
    if not env.allow_ptr_leaks:
        return NOT_INIT_REG
    return env.unknown()


def release_reference(env: Env, ref_obj_id: int) -> bool:
    refs = env.cur.refs
    for i, r in enumerate(refs):
        if r.id == ref_obj_id and r.kind == REF_TYPE_PTR:
            del refs[i]
            break
    else:
        return False
    for_each_reg(env, lambda r: invalid_reg(env) if r.ref_obj_id == ref_obj_id else None)
    return True


def clear_all_pkt_pointers(env: Env) -> None:
    def clear(r: Reg) -> Reg | None:
        if base_type(r.type) in (PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_PACKET_END):
            return invalid_reg(env)
        return None

    for_each_reg(env, clear)


def check_reference_leak(env: Env, exception_exit: bool) -> bool:
    if not exception_exit and env.cur.frame[env.cur.curframe].frameno:
        return False
    leak = False
    for r in env.cur.refs:
        if r.kind != REF_TYPE_PTR:
            continue
        env.verbose(f"Unreleased reference id={r.id} alloc_insn={r.insn_idx}")
        leak = True
    return leak


def check_resource_leak(env: Env, exception_exit: bool, check_lock: bool, prefix: str) -> None:
    cur = env.cur
    if check_lock and cur.active_locks:
        raise env.error(f"{prefix} cannot be used inside bpf_spin_lock-ed region", "EINVAL")
    if check_reference_leak(env, exception_exit):
        raise env.error(f"{prefix} would lead to reference leak", "EINVAL")
    if check_lock and cur.active_irq_id:
        raise env.error(f"{prefix} cannot be used inside bpf_local_irq_save-ed region",
                        "EINVAL")
    if check_lock and cur.active_rcu_lock:
        raise env.error(f"{prefix} cannot be used inside bpf_rcu_read_lock-ed region", "EINVAL")
    if check_lock and cur.active_preempt_locks:
        raise env.error(f"{prefix} cannot be used inside bpf_preempt_disable-ed region",
                        "EINVAL")


# --- locks -------------------------------------------------------------------------------

def process_spin_lock(env: Env, regno: int, is_lock: bool) -> None:
    reg = env.regs[regno]
    if reg.var_off[1]:
        raise env.error(f"R{regno} doesn't have constant offset. bpf_spin_lock has to be at "
                        f"the constant offset", "EINVAL")
    m = reg.map if reg.type == PTR_TO_MAP_VALUE else None
    if m is not None and not m.special_fields and m.btf_value_type is None:
        raise env.error(f"map '{m.kernel_name}' has to have BTF in order to use "
                        f"bpf_spin_lock", "EINVAL")
    off = m.field_at("bpf_spin_lock") if m is not None else None
    if off is None:
        raise env.error(f"{'map' if m else 'local'} '{m.kernel_name if m else 'kptr'}' has no "
                        f"valid bpf_spin_lock", "EINVAL")
    val = reg.var_off[0] + reg.off
    if off != val:
        raise env.error(f"off {val} doesn't point to 'struct bpf_spin_lock' that is at {off}",
                        "EINVAL")
    cur = env.cur
    if is_lock:
        if cur.active_locks and any(r.kind == REF_TYPE_LOCK for r in cur.refs):
            raise env.error("Locking two bpf_spin_locks are not allowed", "EINVAL")
        cur.refs.append(RefState(reg.id, env.insn_idx, REF_TYPE_LOCK, m))
        cur.active_locks += 1
        cur.active_lock_id = reg.id
        cur.active_lock_ptr = m
    else:
        if not cur.active_locks:
            raise env.error("bpf_spin_unlock without taking a lock", "EINVAL")
        i = next((i for i, r in enumerate(cur.refs)
                  if r.kind == REF_TYPE_LOCK and r.id == reg.id and r.ptr is m), -1)
        if i < 0:
            raise env.error("bpf_spin_unlock of different lock", "EINVAL")
        if reg.id != cur.active_lock_id or m is not cur.active_lock_ptr:
            raise env.error("bpf_spin_unlock cannot be out of order", "EINVAL")
        del cur.refs[i]
        cur.active_locks -= 1
        locks = [r for r in cur.refs if r.kind == REF_TYPE_LOCK]
        cur.active_lock_id = locks[-1].id if locks else 0
        cur.active_lock_ptr = locks[-1].ptr if locks else None


