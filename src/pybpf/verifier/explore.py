"""Path exploration: walk every path of the program, prune equivalent states.

:func:`do_check` is the kernel's main loop: from the entry state it
interprets one instruction at a time (:func:`check_insn` dispatches to
:mod:`.alu`, :mod:`.memory`, :mod:`.jumps`, :mod:`.calls`), queues the
other side of every undecided branch, and at each prune point compares the
current state with the states already fully explored there
(:func:`states_equal`): a state no more general than an explored safe one
needs no further walk.  Loops are bounded by the same mechanism (a state
that repeats exactly inside a loop is an infinite loop) and by the limits
of :mod:`pybpf.spec.verifier`.

State comparison here treats every scalar as precise and every register
and stack slot as live: sound, and it prunes less than the kernel, which
drops what its precision and liveness analyses prove unused.
"""

from __future__ import annotations

from ..isa import Insn
from ..isa.insn import LDDW_OPCODE
from ..isa.opcodes import (
    BPF_ABS,
    BPF_ALU,
    BPF_ALU64,
    BPF_ATOMIC,
    BPF_CALL,
    BPF_EXIT,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JMP,
    BPF_JMP32,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_ST,
    BPF_STX,
    PSEUDO_CALL_KFUNC,
    PSEUDO_CALL_LOCAL,
)
from ..spec.verifier import (
    BPF_COMPLEXITY_LIMIT_INSNS,
    BPF_COMPLEXITY_LIMIT_STATES,
    LOOP_CHECKPOINT_MISS_FACTOR,
    MODE_MASK,
    OP_MASK,
    STATE_NEW_AFTER_INSNS,
    STATE_NEW_AFTER_JMPS,
    STATES_PER_INSN_MISS_FACTOR,
)
from . import tnum as tn
from .alu import check_alu_op
from .calls import (
    check_func_call,
    check_helper_call,
    check_resource_leak,
    check_return_code,
    prepare_func_exit,
)
from .env import MEMORY_PROG_TYPE, SRC_OP, Env, Reject
from .jumps import check_cond_jmp_op
from .log import state_str
from .memory import (
    check_atomic,
    check_ld_abs,
    check_ld_imm,
    check_load,
    check_store,
    check_store_imm,
)
from .precision import mark_all_scalars_imprecise, propagate_precision, push_jmp_history
from .state import (
    BPF_ADD_CONST,
    BPF_REG_FP,
    CONST_PTR_TO_DYNPTR,
    NOT_INIT,
    PTR_TO_ARENA,
    PTR_TO_BUF,
    PTR_TO_CTX,
    PTR_TO_MAP_KEY,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_PACKET,
    PTR_TO_PACKET_META,
    PTR_TO_STACK,
    PTR_TO_TP_BUFFER,
    REF_TYPE_LOCK,
    SCALAR_VALUE,
    STACK_INVALID,
    STACK_MISC,
    STACK_SPILL,
    STACK_ZERO,
    FuncState,
    IdMap,
    Reg,
    Slot,
    VerifierState,
    base_type,
    pointer_reg,
    regs_exact,
    set_known,
)

EXIT = -1
"""``check_insn`` result: the path ended (exit of the main program)."""

EXACT = 0
NOT_EXACT = 1
RANGE_WITHIN = 2


class StateEntry:
    """An explored state kept for pruning at one instruction."""

    __slots__ = ("hit_cnt", "miss_cnt", "state")

    def __init__(self, state: VerifierState):
        self.state = state
        self.hit_cnt = 0
        self.miss_cnt = 0


# --- the entry state --------------------------------------------------------------------

def frame_pointer(frameno: int) -> Reg:
    r = Reg(PTR_TO_STACK)
    set_known(r, 0)
    r.frameno = frameno
    return r


def initial_state(env: Env, subprog: int = 0) -> VerifierState:
    st = VerifierState()
    f = FuncState(0, -1, subprog)
    f.regs[BPF_REG_FP] = frame_pointer(0)
    if env.prog_type == MEMORY_PROG_TYPE and env.opts.memory_size is not None:
        size = env.opts.memory_size
        f.regs[1] = pointer_reg(PTR_TO_MEM, mem_size=size) if size else env.known(0)
        f.regs[2] = env.known(size)
    else:
        ctx = Reg(PTR_TO_CTX)
        set_known(ctx, 0)
        f.regs[1] = ctx
    st.frame = [f]
    st.curframe = 0
    st.in_sleepable = env.opts.sleepable
    return st


# --- state comparison ----------------------------------------------------------------------

def range_within(old: Reg, cur: Reg) -> bool:
    return (old.umin <= cur.umin and old.umax >= cur.umax and old.smin <= cur.smin
            and old.smax >= cur.smax and old.u32_min <= cur.u32_min
            and old.u32_max >= cur.u32_max and old.s32_min <= cur.s32_min
            and old.s32_max >= cur.s32_max)


def regsafe(env: Env, old: Reg, cur: Reg, idmap: IdMap, exact: int) -> bool:
    if exact == EXACT:
        return regs_exact(old, cur, idmap)
    if old.type == NOT_INIT:
        return True
    if old.type != cur.type:
        return False
    b = old.type & 0xFF
    if b == SCALAR_VALUE:
        if env.explore_alu_limits:
            return old.same_value_fields(cur) and idmap.check_scalar(old.id, cur.id)
        if old is cur:
            return True
        if not old.precise and exact == NOT_EXACT and env.use_precision:
            return True
        if old.id and (old.id & BPF_ADD_CONST) != (cur.id & BPF_ADD_CONST):
            return False
        if old.id & BPF_ADD_CONST and old.off != cur.off:
            return False
        return range_within(old, cur) and tn.contains(old.var_off, cur.var_off) and \
            idmap.check_scalar(old.id, cur.id)
    if b in (PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_BUF, PTR_TO_TP_BUFFER):
        return (old.off == cur.off and old.map is cur.map and old.map_uid == cur.map_uid
                and old.mem_size == cur.mem_size and old.range == cur.range
                and old.btf_id == cur.btf_id
                and range_within(old, cur) and tn.contains(old.var_off, cur.var_off)
                and idmap.check(old.id, cur.id) and idmap.check(old.ref_obj_id, cur.ref_obj_id))
    if b in (PTR_TO_PACKET_META, PTR_TO_PACKET):
        if old.range > cur.range:
            return False
        if old.off != cur.off:
            return False
        if not idmap.check(old.id, cur.id):
            return False
        return range_within(old, cur) and tn.contains(old.var_off, cur.var_off)
    if b == PTR_TO_STACK:
        return regs_exact(old, cur, idmap) and old.frameno == cur.frameno
    if b == PTR_TO_ARENA:
        return True
    return regs_exact(old, cur, idmap)


UNBOUND = Reg(SCALAR_VALUE)
LIVE_ALWAYS = 1 << BPF_REG_FP
"""r10 is compared whatever the liveness analysis says (it is read only)."""


def _scalar_for_stack(env: Env, st) -> Reg | None:
    if st.kinds == "rrrrrrrr" and st.reg is not None and st.reg.type == SCALAR_VALUE:
        return st.reg
    for k in st.kinds:
        if not (k == STACK_MISC or (k == STACK_INVALID and env.allow_uninit_stack)):
            return None
    return UNBOUND


def stacksafe(env: Env, old: FuncState, cur: FuncState, idmap: IdMap, exact: int) -> bool:
    ostack, cstack = old.stack, cur.stack
    clen = len(cstack) * 8
    for spi, ost in enumerate(ostack):
        okinds = ost.kinds
        if exact != EXACT and okinds == "????????":
            continue
        cst = cstack[spi] if spi < len(cstack) else None
        if cst is ost:
            continue
        if cst is not None and exact != EXACT and okinds == cst.kinds and \
                (ost.reg is cst.reg or okinds[7] != STACK_SPILL):
            continue
        j = 0
        while j < 8:
            i = spi * 8 + j
            ok = okinds[j]
            if exact == EXACT and (i >= clen or ok != cst.kinds[j]):
                return False
            if ok == STACK_INVALID:
                j += 1
                continue
            if env.allow_uninit_stack and ok == STACK_MISC:
                j += 1
                continue
            if i >= clen:
                return False
            old_reg = _scalar_for_stack(env, ost)
            cur_reg = _scalar_for_stack(env, cst)
            if old_reg is not None and cur_reg is not None:
                if not regsafe(env, old_reg, cur_reg, idmap, exact):
                    return False
                break
            ck = cst.kinds[j]
            if ok == STACK_MISC and ck == STACK_ZERO:
                j += 1
                continue
            if ok != ck:
                return False
            if j != 7:
                j += 1
                continue
            if ok == STACK_SPILL:
                if not regsafe(env, ost.reg, cst.reg, idmap, exact):
                    return False
            elif ok not in (STACK_MISC, STACK_ZERO, STACK_INVALID):
                return False
            j += 1
    return True


def refsafe(old: VerifierState, cur: VerifierState, idmap: IdMap) -> bool:
    if len(old.refs) != len(cur.refs) or old.active_locks != cur.active_locks or \
            old.active_preempt_locks != cur.active_preempt_locks or \
            old.active_rcu_lock != cur.active_rcu_lock:
        return False
    if not idmap.check(old.active_irq_id, cur.active_irq_id):
        return False
    if not idmap.check(old.active_lock_id, cur.active_lock_id) or \
            old.active_lock_ptr is not cur.active_lock_ptr:
        return False
    for o, c in zip(old.refs, cur.refs):
        if not idmap.check(o.id, c.id) or o.kind != c.kind:
            return False
        if o.kind == REF_TYPE_LOCK and o.ptr is not c.ptr:
            return False
    return True


def func_states_equal(env: Env, old: FuncState, cur: FuncState, idmap: IdMap,
                      exact: int, live: int) -> bool:
    """Registers live at the frame's instruction (``live``, a bit mask) and
    the stack compare as the kernel's ``func_states_equal``."""
    if old.callback_depth > cur.callback_depth:
        return False
    oregs, cregs = old.regs, cur.regs
    for i in range(11):
        if not live >> i & 1:
            continue
        o = oregs[i]
        c = cregs[i]
        if o is c:
            continue
        if not regsafe(env, o, c, idmap, exact):
            return False
    return stacksafe(env, old, cur, idmap, exact)


def states_equal(env: Env, old: VerifierState, cur: VerifierState, exact: int) -> bool:
    if old.curframe != cur.curframe:
        return False
    if old.speculative and not cur.speculative:
        return False
    if old.in_sleepable != cur.in_sleepable:
        return False
    idmap = IdMap()
    if not refsafe(old, cur, idmap):
        return False
    aux = env.aux
    for i in range(old.curframe + 1):
        if old.frame[i].callsite != cur.frame[i].callsite:
            return False
        at = old.insn_idx if i == old.curframe else old.frame[i + 1].callsite
        live = aux[at].live_regs | LIVE_ALWAYS
        if not func_states_equal(env, old.frame[i], cur.frame[i], idmap, exact, live):
            return False
    return True


def states_maybe_looping(old: VerifierState, cur: VerifierState) -> bool:
    fr = cur.curframe
    if old.curframe != fr:
        return False
    for o, c in zip(old.frame[fr].regs, cur.frame[fr].regs):
        if o is c:
            continue
        if o.type != c.type or o.off != c.off or o.var_off != c.var_off or \
                o.smin != c.smin or o.smax != c.smax or o.umin != c.umin or \
                o.umax != c.umax or o.s32_min != c.s32_min or o.s32_max != c.s32_max or \
                o.u32_min != c.u32_min or o.u32_max != c.u32_max or o.map is not c.map or \
                o.range != c.range or o.id != c.id or o.ref_obj_id != c.ref_obj_id:
            return False
    return True


def is_state_visited(env: Env, insn_idx: int) -> bool:
    """Whether the current state is covered by one explored at
    ``insn_idx`` (prune it); otherwise maybe keep it for later pruning."""
    cur = env.cur
    aux = env.aux[insn_idx]
    force_new = env.opts.test_state_freq or aux.force_checkpoint or \
        len(cur.jmp_history) > 40
    add_new = force_new
    if env.jmps_processed - env.prev_jmps_processed >= 2 and \
            env.insn_processed - env.prev_insn_processed >= 8:
        add_new = True
    entries = env.explored.get(insn_idx)
    states_cnt = 0
    if entries:
        keep = []
        for sl in entries:
            states_cnt += 1
            old = sl.state
            if old.branches:
                if aux.calls_callback:
                    if states_equal(env, old, cur, RANGE_WITHIN):
                        return _hit(env, sl, cur, aux)
                elif aux.force_checkpoint and old.may_goto_depth != cur.may_goto_depth and \
                        states_equal(env, old, cur, RANGE_WITHIN):
                    return _hit(env, sl, cur, aux)
                elif states_maybe_looping(old, cur) and \
                        states_equal(env, old, cur, EXACT) and \
                        old.may_goto_depth == cur.may_goto_depth and \
                        old.callback_unroll_depth == cur.callback_unroll_depth:
                    env.verbose(f"infinite loop detected at insn {insn_idx}")
                    env.log.line("cur state:" + state_str(cur))
                    env.log.line("old state:" + state_str(old))
                    raise Reject(f"infinite loop detected at insn {insn_idx}", "EINVAL")
                if not force_new and \
                        env.jmps_processed - env.prev_jmps_processed < STATE_NEW_AFTER_JMPS and \
                        env.insn_processed - env.prev_insn_processed < STATE_NEW_AFTER_INSNS:
                    add_new = False
            elif states_equal(env, old, cur, NOT_EXACT):
                return _hit(env, sl, cur, aux)
            if add_new:
                sl.miss_cnt += 1
            n = LOOP_CHECKPOINT_MISS_FACTOR if aux.force_checkpoint and old.branches > 0 \
                else STATES_PER_INSN_MISS_FACTOR
            if sl.miss_cnt > sl.hit_cnt * n + n:
                continue
            keep.append(sl)
        if len(keep) != len(entries):
            env.explored[insn_idx] = keep
    if env.max_states_per_insn < states_cnt:
        env.max_states_per_insn = states_cnt
    if not env.bpf_capable and states_cnt > BPF_COMPLEXITY_LIMIT_STATES:
        return False
    if not add_new:
        return False
    env.total_states += 1
    env.cur_states += 1
    if env.cur_states > env.peak_states:
        env.peak_states = env.cur_states
    env.prev_jmps_processed = env.jmps_processed
    env.prev_insn_processed = env.insn_processed
    if env.bpf_capable:
        mark_all_scalars_imprecise(cur)
    clear_singular_ids(cur)
    new = cur.copy()
    new.insn_idx = insn_idx
    new.branches = 1
    new.parent = cur.parent
    cur.parent = new
    cur.first_insn_idx = insn_idx
    cur.dfs_depth = new.dfs_depth + 1
    cur.jmp_history = []
    env.explored.setdefault(insn_idx, []).append(StateEntry(new))
    return False


def _hit(env: Env, sl: StateEntry, cur: VerifierState, aux) -> bool:
    """``cur`` is covered by the explored state ``sl``: what the explored
    state's continuation needed precise is needed precise here too."""
    sl.hit_cnt += 1
    if aux.jmp_point:
        push_jmp_history(env, cur)
    propagate_precision(env, sl.state)
    return True


def clear_singular_ids(st: VerifierState) -> None:
    """Scalar ids only one register or slot carries link nothing: drop them,
    so that they do not keep equivalent states apart."""
    count: dict[int, int] = {}
    for f in st.frame:
        for r in f.regs:
            if r.type == SCALAR_VALUE and r.id:
                k = r.id & ~BPF_ADD_CONST
                count[k] = count.get(k, 0) + 1
        for slot in f.stack:
            r = slot.reg
            if slot.kinds[7] == STACK_SPILL and r is not None and r.type == SCALAR_VALUE \
                    and r.id:
                k = r.id & ~BPF_ADD_CONST
                count[k] = count.get(k, 0) + 1
    single = {k for k, n in count.items() if n == 1}
    if not single:
        return
    for f in st.frame:
        regs = f.regs
        for i, r in enumerate(regs):
            if r.type == SCALAR_VALUE and r.id and (r.id & ~BPF_ADD_CONST) in single:
                n = r.copy()
                n.id = 0
                n.off = 0
                regs[i] = n
        for spi, slot in enumerate(f.stack):
            r = slot.reg
            if slot.kinds[7] == STACK_SPILL and r is not None and r.type == SCALAR_VALUE \
                    and r.id and (r.id & ~BPF_ADD_CONST) in single:
                n = r.copy()
                n.id = 0
                n.off = 0
                f.stack[spi] = Slot(slot.kinds, n)


def update_branch_counts(env: Env, st: VerifierState | None) -> None:
    while st is not None:
        st.branches -= 1
        if st.branches > 0:
            break
        st = st.parent


# --- one instruction --------------------------------------------------------------------

def check_insn(env: Env, insn: Insn) -> int:
    """Check the instruction at ``env.insn_idx``; the index of the next
    one on this path, or EXIT."""
    code = insn.opcode
    cls = code & 7
    pc = env.insn_idx
    if cls in (BPF_ALU, BPF_ALU64):
        check_alu_op(env, insn)
        return pc + 1
    if cls == BPF_LDX:
        check_load(env, insn)
        return pc + 1
    if cls == BPF_STX:
        if code & MODE_MASK == BPF_ATOMIC:
            check_atomic(env, insn)
        else:
            check_store(env, insn)
        return pc + 1
    if cls == BPF_ST:
        check_store_imm(env, insn)
        return pc + 1
    if cls in (BPF_JMP, BPF_JMP32):
        op = code & OP_MASK
        env.jmps_processed += 1
        if op == BPF_CALL:
            if code & 0x08 or (insn.src != PSEUDO_CALL_KFUNC and insn.off != 0) or \
                    insn.src not in (0, PSEUDO_CALL_LOCAL, PSEUDO_CALL_KFUNC) or \
                    insn.dst != 0 or cls == BPF_JMP32:
                raise env.error("BPF_CALL uses reserved fields", "EINVAL")
            if env.cur.active_locks and ((insn.src == 0 and insn.imm != env.spin_unlock_id)
                                         or insn.src == PSEUDO_CALL_KFUNC):
                raise env.error("function calls are not allowed while holding a lock",
                                "EINVAL")
            if insn.src == PSEUDO_CALL_LOCAL:
                nxt = check_func_call(env, insn)
                env.scratch_reg(0)
                env.scratched_all = True
                return nxt
            if insn.src == PSEUDO_CALL_KFUNC:
                if not insn.imm:
                    # a weak kfunc's placeholder: dead code elimination must
                    # remove it (checked after the walk)
                    return pc + 1
                name = env.kfunc_names.get((insn.imm, insn.off), "kernel-function")
                raise env.unmodelled("kfunc calls", f"pybpf: kfunc {name} is not modelled yet "
                                                    f"(pybpf does not verify kfunc calls)")
            check_helper_call(env, insn)
            env.scratch_reg(0)
            return pc + 1
        if op == BPF_JA:
            if code & 0x08 or insn.src != 0 or insn.dst != 0 or \
                    (cls == BPF_JMP and insn.imm != 0) or (cls == BPF_JMP32 and insn.off != 0):
                raise env.error("BPF_JA uses reserved fields", "EINVAL")
            return pc + (insn.off if cls == BPF_JMP else insn.imm) + 1
        if op == BPF_EXIT:
            if code & 0x08 or insn.imm != 0 or insn.src != 0 or insn.dst != 0 or \
                    cls == BPF_JMP32:
                raise env.error("BPF_EXIT uses reserved fields", "EINVAL")
            check_resource_leak(env, False, not env.cur.curframe,
                                "BPF_EXIT instruction in main prog")
            if env.cur.curframe:
                nxt = prepare_func_exit(env)
                env.do_print_state = True
                return nxt
            check_return_code(env)
            return EXIT
        return check_cond_jmp_op(env, insn)
    if cls == BPF_LD:
        mode = code & MODE_MASK
        if mode in (BPF_ABS, BPF_IND):
            check_ld_abs(env, insn)
            return pc + 1
        if mode == BPF_IMM:
            check_ld_imm(env, insn)
            return pc + 2
        raise env.error("invalid BPF_LD mode", "EINVAL")
    raise env.error(f"unknown insn class {cls}", "EINVAL")


RECOVERABLE_ON_SPECULATION = frozenset({"EPERM", "EACCES", "EINVAL"})


WATCHED_STATES = 16
"""Distinct entry states kept per watched instruction (``Env.watched``)."""


def do_check(env: Env, state: VerifierState) -> None:
    """Walk every path from ``state`` at ``env.subprogs[...]`` start."""
    env.cur = state
    env.pending = []
    insns = env.insns
    n = len(insns)
    aux = env.aux
    log = env.log
    limit = BPF_COMPLEXITY_LIMIT_INSNS
    idx = env.insn_idx
    env.do_print_state = False
    env.scratched_all = True
    while True:
        env.insn_idx = idx
        env.insn_processed += 1
        if env.insn_processed > limit:
            raise env.error(f"BPF program is too large. Processed {env.insn_processed} insn",
                            "E2BIG")
        if idx >= n or idx < 0:
            raise env.error(f"invalid insn idx {idx} insn_cnt {n}", "EFAULT")
        insn = insns[idx]
        a = aux[idx]
        cur = env.cur
        cur.last_insn_idx = env.prev_insn_idx
        env.cur_hist_state = None
        ended = False
        if a.prune_point and is_state_visited(env, idx):
            if log:
                if env.do_print_state:
                    spec = " (speculative execution)" if cur.speculative else ""
                    log.line(f"\nfrom {env.prev_insn_idx} to {idx}{spec}: safe")
                else:
                    log.line(f"{idx}: safe")
            ended = True
        if not ended and cur.speculative and a.nospec:
            ended = True
        if not ended and a.jmp_point:
            push_jmp_history(env, cur)
        if not ended:
            if env.watched and idx in env.watched and len(env.watched[idx]) < WATCHED_STATES:
                text = state_str(cur).lstrip()
                if text not in env.watched[idx]:
                    env.watched[idx].append(text)
            if log:
                if log.level >= 2 and env.do_print_state:
                    spec = " (speculative execution)" if cur.speculative else ""
                    log.line(f"\nfrom {env.prev_insn_idx} to {idx}{spec}:" + state_str(cur))
                    env.do_print_state = False
                env.print_insn_state()
                if env.line_info:
                    env.verbose_linfo(idx)
                log.insn(idx, env.insn_text(idx))
            env.messages = []
            a.seen = True
            try:
                nxt = check_insn(env, insn)
            except Reject as e:
                if cur.speculative and e.errno in RECOVERABLE_ON_SPECULATION:
                    a.nospec = True
                    a.alu_state = 0
                    nxt = EXIT
                else:
                    raise
            if nxt == EXIT or (cur.speculative and a.nospec_result):
                ended = True
            else:
                if nxt != idx + 1 and not (nxt == idx + 2 and insn.opcode == LDDW_OPCODE):
                    cur.trail = (cur.trail, idx, nxt)
                env.prev_insn_idx = idx
                idx = nxt
                if env.do_print_state:
                    continue
                continue
        # the path ended: exit, pruned, or a quiet end of a speculative path
        update_branch_counts(env, env.cur)
        if not env.pending:
            return
        st, idx, prev, mark = env.pending.pop()
        if log.level == 1:
            log.rewind(mark)
        st.trail = (st.trail, prev, idx)
        env.cur = st
        env.prev_insn_idx = prev
        env.do_print_state = True
        env.scratched_all = True


def check_max_stack_depth(env: Env) -> None:
    """The stack of every chain of calls stays within 512 bytes (checked
    statically along the call graph, as the kernel does after the walk)."""
    from .cfg import is_pseudo_call, is_pseudo_func

    subs = env.subprogs
    insns = env.insns
    starts = [s.start for s in subs] + [len(insns)]

    def rounded(depth: int) -> int:
        return (depth + 15) // 16 * 16 if env.jit else (max(depth, 1) + 31) // 32 * 32

    for root in range(len(subs)):
        if root and not (subs[root].is_global or subs[root].is_async_cb):
            continue
        if root and not subs[root].visited:
            continue
        frames: list[tuple[int, int]] = []
        idx = root
        i = starts[idx]
        depth = rounded(subs[idx].stack_depth)
        if depth > 512:
            raise env.error(f"combined stack size of 1 calls is {depth}. Too large")
        while True:
            end = starts[idx + 1]
            called = False
            while i < end:
                insn = insns[i]
                if is_pseudo_call(insn) or is_pseudo_func(insn):
                    target = i + insn.imm + 1
                    sidx = starts.index(target)
                    if subs[sidx].is_async_cb and not is_pseudo_call(insn):
                        i += 1
                        continue
                    frames.append((i + 1, idx))
                    if len(frames) >= 8:
                        raise env.error(f"the call stack of {len(frames)} frames is too deep !",
                                        "E2BIG")
                    idx = sidx
                    i = starts[idx]
                    if idx and subs[idx].has_tail_call and depth >= 256:
                        raise env.error(f"tail_calls are not allowed when call stack of "
                                        f"previous frames is {depth} bytes. Too large")
                    depth += rounded(subs[idx].stack_depth)
                    if depth > 512:
                        raise env.error(f"combined stack size of {len(frames) + 1} calls is "
                                        f"{depth}. Too large")
                    called = True
                    break
                i += 1
            if called:
                continue
            if not frames:
                break
            depth -= rounded(subs[idx].stack_depth)
            i, idx = frames.pop()


__all__ = [
    "BPF_K",
    "CONST_PTR_TO_DYNPTR",
    "EXIT",
    "SRC_OP",
    "base_type",
    "check_insn",
    "do_check",
    "initial_state",
    "states_equal",
]
