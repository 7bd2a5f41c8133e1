"""The checks before any path is walked: subprograms, ``lddw``, the CFG.

In the kernel's order: :func:`find_subprogs` (the targets of bpf-to-bpf
calls and of ``lddw`` of functions), :func:`check_subprogs` (jumps stay
inside their subprogram, each ends with ``exit`` or a jump),
:func:`resolve_ldimm64` (reserved fields, map references, opcodes the
kernel knows), :func:`check_cfg` (every instruction reachable, no jump out
of range or into the middle of an ``lddw``; for unprivileged programs no
back edge), which also marks where states are kept for pruning, and
:func:`compute_live_registers` (which registers each instruction may
still read).
"""

from __future__ import annotations

import functools

from ..isa.opcodes import (
    BPF_ABS,
    BPF_ADD,
    BPF_ALU,
    BPF_ALU64,
    BPF_AND,
    BPF_ARSH,
    BPF_ATOMIC,
    BPF_B,
    BPF_CALL,
    BPF_CMPXCHG,
    BPF_DIV,
    BPF_DW,
    BPF_END,
    BPF_EXIT,
    BPF_FETCH,
    BPF_H,
    BPF_IMM,
    BPF_IND,
    BPF_JA,
    BPF_JCOND,
    BPF_JEQ,
    BPF_JGE,
    BPF_JGT,
    BPF_JLE,
    BPF_JLT,
    BPF_JMP,
    BPF_JMP32,
    BPF_JNE,
    BPF_JSET,
    BPF_JSGE,
    BPF_JSGT,
    BPF_JSLE,
    BPF_JSLT,
    BPF_K,
    BPF_LD,
    BPF_LDX,
    BPF_LOAD_ACQ,
    BPF_LSH,
    BPF_MEM,
    BPF_MEMSX,
    BPF_MOD,
    BPF_MOV,
    BPF_MUL,
    BPF_NEG,
    BPF_OR,
    BPF_RSH,
    BPF_ST,
    BPF_STX,
    BPF_SUB,
    BPF_TO_BE,
    BPF_TO_LE,
    BPF_W,
    BPF_X,
    BPF_XOR,
    PSEUDO_BTF_ID,
    PSEUDO_CALL_KFUNC,
    PSEUDO_CALL_LOCAL,
    PSEUDO_FUNC,
    PSEUDO_MAP_FD,
    PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
    PSEUDO_MAP_VALUE,
)
from ..spec.verifier import BPF_MAX_SUBPROGS, BPF_MAX_VAR_OFF, MODE_MASK, OP_MASK
from .env import Env, Reject, Subprog

LDDW = BPF_LD | BPF_IMM | BPF_DW
CALL = BPF_JMP | BPF_CALL
ALU_OPS = (BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG,
           BPF_MOD, BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END)
JMP_COND_OPS = (BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT,
                BPF_JLE, BPF_JSLT, BPF_JSLE)


@functools.cache
def kernel_opcodes() -> frozenset[int]:
    """Every opcode the kernel's instruction table accepts."""
    ops: set[int] = set()
    for cls in (BPF_ALU, BPF_ALU64):
        for op in ALU_OPS:
            if op == BPF_NEG:
                ops.add(cls | op | BPF_K)
            elif op == BPF_END:
                ops.add(cls | op | BPF_TO_LE)
                if cls == BPF_ALU:
                    ops.add(cls | op | BPF_TO_BE)
            else:
                ops.add(cls | op | BPF_K)
                ops.add(cls | op | BPF_X)
    for cls in (BPF_JMP, BPF_JMP32):
        ops.add(cls | BPF_JA)
        for op in JMP_COND_OPS:
            ops.add(cls | op | BPF_K)
            ops.add(cls | op | BPF_X)
    ops.update({BPF_JMP | BPF_CALL, BPF_JMP | BPF_EXIT, BPF_JMP | BPF_JCOND})
    for size in (BPF_B, BPF_H, BPF_W, BPF_DW):
        ops.update({BPF_LDX | BPF_MEM | size, BPF_ST | BPF_MEM | size,
                    BPF_STX | BPF_MEM | size, BPF_STX | BPF_ATOMIC | size})
        if size != BPF_DW:
            ops.update({BPF_LDX | BPF_MEMSX | size, BPF_LD | BPF_ABS | size,
                        BPF_LD | BPF_IND | size})
    ops.add(LDDW)
    return frozenset(ops)


def is_pseudo_call(insn) -> bool:
    return insn.opcode == CALL and insn.src == PSEUDO_CALL_LOCAL


def is_pseudo_func(insn) -> bool:
    return insn.opcode == LDDW and insn.src == PSEUDO_FUNC


def is_kfunc_call(insn) -> bool:
    return insn.opcode == CALL and insn.src == PSEUDO_CALL_KFUNC


def find_subprogs(env: Env) -> None:
    """Subprogram starts: 0 and every bpf-to-bpf call or function-address
    target (the kernel's ``add_subprog_and_kfunc``)."""
    insns = env.insns
    n = len(insns)
    starts = [0]
    for i, insn in enumerate(insns):
        if not (is_pseudo_func(insn) or is_pseudo_call(insn) or is_kfunc_call(insn)):
            continue
        if not env.bpf_capable:
            raise env.error("loading/calling other bpf or kernel functions are allowed for "
                            "CAP_BPF and CAP_SYS_ADMIN", "EPERM")
        if is_kfunc_call(insn):
            _add_kfunc_call(env, insn)
            continue
        off = i + insn.imm + 1
        if off >= n or off < 0:
            raise env.error("call to invalid destination", "EINVAL")
        if off not in starts:
            if len(starts) >= BPF_MAX_SUBPROGS:
                raise env.error("too many subprograms", "E2BIG")
            starts.append(off)
    starts.sort()
    env.subprogs = [Subprog(s) for s in starts]
    env.subprog_starts = starts
    linkage = {}
    for insn_off, kind in env.func_linkage.items():
        linkage[insn_off] = kind
    for sp in env.subprogs:
        sp.is_global = linkage.get(sp.start, "static") == "global" and sp.start != 0
    if env.log.level >= 2:
        for i, sp in enumerate(env.subprogs):
            env.log.line(f"func#{i} @{sp.start}")


def _add_kfunc_call(env: Env, insn) -> None:
    """A kfunc call must name a function of the kernel's BTF (the kernel's
    ``add_kfunc_call``); a zero id is the placeholder of a weak kfunc that
    dead code elimination must remove."""
    if not insn.imm and not insn.off:
        return
    if not env.gpl_compatible():
        raise env.error("cannot call kernel function from non-GPL compatible program", "EINVAL")
    if insn.off:
        raise env.unmodelled("kfuncs of kernel modules", "pybpf: kfuncs of kernel modules (a "
                             "BTF fd index in off) are not supported")
    from .btfaccess import kernel_btf

    btf = kernel_btf()
    if btf is None:
        raise env.error("calling kernel function is not supported without "
                        "CONFIG_DEBUG_INFO_BTF", "ENOTSUPP")
    func = btf.get(insn.imm) if insn.imm > 0 else None
    if func is None or type(func).__name__ != "Func":
        raise env.error(f"kernel btf_id {insn.imm & 0xFFFFFFFF} is not a function", "EINVAL")
    proto = btf.get(func.type_id)
    if proto is None or type(proto).__name__ != "FuncProto":
        raise env.error(f"kernel function btf_id {insn.imm} does not have a valid func_proto",
                        "EINVAL")
    env.kfunc_names[(insn.imm, insn.off)] = func.name


def check_subprogs(env: Env) -> None:
    insns = env.insns
    subs = env.subprogs
    n = len(insns)
    cur = 0
    start = subs[0].start
    end = subs[1].start if len(subs) > 1 else n
    for i in range(n):
        insn = insns[i]
        code = insn.opcode
        cls = code & 7
        if code == CALL and insn.src == 0 and insn.imm == env.tail_call_id:
            subs[cur].has_tail_call = True
        if cls == BPF_LD and code & MODE_MASK in (BPF_ABS, BPF_IND):
            subs[cur].has_ld_abs = True
        if cls in (BPF_JMP, BPF_JMP32) and code & OP_MASK not in (BPF_EXIT, BPF_CALL):
            off = i + (insn.imm if code == BPF_JMP32 | BPF_JA else insn.off) + 1
            if off < start or off >= end:
                raise env.error(f"jump out of range from insn {i} to {off}", "EINVAL")
        if i == end - 1:
            if code not in (BPF_JMP | BPF_EXIT, BPF_JMP32 | BPF_JA, BPF_JMP | BPF_JA):
                raise env.error("last insn is not an exit or jmp", "EINVAL")
            start = end
            cur += 1
            if cur < len(subs):
                end = subs[cur + 1].start if cur + 1 < len(subs) else n


def resolve_ldimm64(env: Env) -> None:
    """Reserved fields of loads, ``lddw`` forms and their maps, and the
    opcodes the kernel knows (the kernel's ``resolve_pseudo_ldimm64``)."""
    insns = env.insns
    n = len(insns)
    known = kernel_opcodes()
    i = 0
    while i < n:
        insn = insns[i]
        code = insn.opcode
        if code & 7 == BPF_LDX and (code & MODE_MASK not in (BPF_MEM, BPF_MEMSX) or insn.imm != 0):
            raise env.error("BPF_LDX uses reserved fields", "EINVAL")
        if code == LDDW:
            if i == n - 1 or insns[i + 1].opcode != 0 or insns[i + 1].dst != 0 or \
                    insns[i + 1].src != 0 or insns[i + 1].off != 0:
                raise env.error("invalid bpf_ld_imm64 insn", "EINVAL")
            src = insn.src
            if src in (0, PSEUDO_FUNC):
                i += 2
                continue
            if src == PSEUDO_BTF_ID:
                i += 2
                continue
            if src in (PSEUDO_MAP_FD, PSEUDO_MAP_IDX):
                if insns[i + 1].imm != 0:
                    raise env.error("unrecognized bpf_ld_imm64 insn", "EINVAL")
            elif src not in (PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX_VALUE):
                raise env.error("unrecognized bpf_ld_imm64 insn", "EINVAL")
            m = env.map_at.get(i)
            if m is None:
                raise env.error(f"fd {insn.imm} is not pointing to valid bpf_map", "EBADF")
            if m.type == "arena":
                raise env.unmodelled("arena maps", "pybpf: arena maps (and the pointers into "
                                                   "them) are not modelled yet")
            _check_map_prog_compatibility(env, m)
            if src in (PSEUDO_MAP_VALUE, PSEUDO_MAP_IDX_VALUE):
                off = insns[i + 1].imm & 0xFFFFFFFF
                if off >= BPF_MAX_VAR_OFF:
                    raise env.error(f"direct value offset of {off} is not allowed", "EINVAL")
                if m.type not in ("array", "insn_array"):
                    raise env.error("no direct value access support for this map type",
                                    "EINVAL")
                if m.max_entries != 1 or off >= m.value_size:
                    raise env.error(f"invalid access to map value pointer, "
                                    f"value_size={m.value_size} off={off}", "EINVAL")
            if m not in env.used_maps:
                env.used_maps.append(m)
            i += 2
            continue
        if code not in known:
            raise env.error(f"unknown opcode {code:02x}", "EINVAL")
        i += 1


TRACING_TYPES = frozenset({"kprobe", "tracepoint", "perf_event", "raw_tracepoint",
                           "raw_tracepoint_writable"})
SLEEPABLE_MAPS = frozenset({"hash", "lru_hash", "array", "percpu_hash", "percpu_array",
                            "lru_percpu_hash", "array_of_maps", "hash_of_maps", "ringbuf",
                            "user_ringbuf", "inode_storage", "sk_storage", "task_storage",
                            "cgrp_storage", "queue", "stack", "arena"})


def _check_map_prog_compatibility(env: Env, m) -> None:
    pt = env.prog_type
    if (m.has("bpf_list_head") or m.has("bpf_rb_root")) and pt in TRACING_TYPES:
        raise env.error("tracing progs cannot use bpf_{list_head,rb_root} yet", "EINVAL")
    if m.has("bpf_spin_lock") or m.has("bpf_res_spin_lock"):
        if pt == "socket_filter":
            raise env.error("socket filter progs cannot use bpf_spin_lock yet", "EINVAL")
        if pt in TRACING_TYPES:
            raise env.error("tracing progs cannot use bpf_spin_lock yet", "EINVAL")
    if m.has("bpf_timer") and pt in TRACING_TYPES:
        raise env.error("tracing progs cannot use bpf_timer yet", "EINVAL")
    if m.type == "struct_ops":
        raise env.error("bpf_struct_ops map cannot be used in prog", "EINVAL")
    if env.opts.sleepable and m.type not in SLEEPABLE_MAPS:
        raise env.error("Sleepable programs can only use array, hash, ringbuf and local "
                        "storage maps", "EINVAL")
    if m.type in ("cgroup_storage", "percpu_cgroup_storage"):
        prev = env.cgroup_storage.get(m.type)
        if prev is not None and prev is not m:
            raise env.error("only one cgroup storage of each type is allowed", "EBUSY")
        env.cgroup_storage[m.type] = m


# --- the CFG --------------------------------------------------------------------------------

DISCOVERED = 0x10
EXPLORED = 0x20
FALLTHROUGH = 1
BRANCH = 2


def check_cfg(env: Env) -> None:
    """Depth-first walk of the control flow (the kernel's ``check_cfg``):
    marks prune points and rejects unreachable code, jumps out of range,
    jumps into ``lddw`` and, unprivileged, loops."""
    insns = env.insns
    n = len(insns)
    aux = env.aux
    state = [0] * n
    stack = [0]
    state[0] = DISCOVERED
    postorder: list[int] = []

    def mark_prune(t: int) -> None:
        aux[t].prune_point = True

    def mark_jmp(t: int) -> None:
        aux[t].jmp_point = True

    def push(t: int, w: int, e: int) -> int:
        """1: keep exploring (w pushed); 0: done with this edge."""
        if e == FALLTHROUGH and state[t] >= (DISCOVERED | FALLTHROUGH):
            return 0
        if e == BRANCH and state[t] >= (DISCOVERED | BRANCH):
            return 0
        if w < 0 or w >= n:
            raise env.error(f"jump out of range from insn {t} to {w}", "EINVAL")
        if e == BRANCH:
            mark_prune(w)
            mark_jmp(w)
        if state[w] == 0:
            state[t] = DISCOVERED | e
            state[w] = DISCOVERED
            stack.append(w)
            return 1
        if (state[w] & OP_MASK) == DISCOVERED:
            if env.bpf_capable:
                return 0
            raise env.error(f"back-edge from insn {t} to {w}", "EINVAL")
        if state[w] == EXPLORED:
            state[t] = DISCOVERED | e
            return 0
        raise env.error("insn state internal bug", "EFAULT")

    def visit_call(t: int, visit_callee: bool) -> int:
        sz = 2 if insns[t].opcode == LDDW else 1
        r = push(t, t + sz, FALLTHROUGH)
        if r:
            return r
        mark_prune(t + sz)
        mark_jmp(t + sz)
        if visit_callee:
            mark_prune(t)
            return push(t, t + insns[t].imm + 1, BRANCH)
        return 0

    while stack:
        t = stack[-1]
        insn = insns[t]
        code = insn.opcode
        cls = code & 7
        if is_pseudo_func(insn):
            r = visit_call(t, True)
        elif cls not in (BPF_JMP, BPF_JMP32):
            r = push(t, t + (2 if code == LDDW else 1), FALLTHROUGH)
        else:
            op = code & OP_MASK
            if op == BPF_EXIT:
                r = 0
            elif op == BPF_CALL:
                if insn.src == 0 and insn.imm in env.callback_helpers:
                    aux[t].calls_callback = True
                    aux[t].force_checkpoint = True
                    mark_prune(t)
                    mark_jmp(t)
                if insn.src == 0 and insn.imm in env.async_callback_helpers:
                    mark_prune(t)
                r = visit_call(t, insn.src == PSEUDO_CALL_LOCAL)
            elif op == BPF_JA:
                if code & BPF_X:
                    raise Reject("", "EINVAL")
                off = insn.off if cls == BPF_JMP else insn.imm
                r = push(t, t + off + 1, FALLTHROUGH)
                if not r:
                    mark_prune(t + off + 1)
                    mark_jmp(t + off + 1)
                else:
                    mark_prune(t + off + 1)
                    mark_jmp(t + off + 1)
            else:
                mark_prune(t)
                if code == BPF_JMP | BPF_JCOND:
                    aux[t].force_checkpoint = True
                r = push(t, t + 1, FALLTHROUGH)
                if not r:
                    r = push(t, t + insn.off + 1, BRANCH)
        if not r:
            state[t] = EXPLORED
            stack.pop()
            postorder.append(t)
    i = 0
    while i < n:
        if state[i] != EXPLORED:
            raise env.error(f"unreachable insn {i}", "EINVAL")
        if insns[i].opcode == LDDW:
            if i + 1 < n and state[i + 1] != 0:
                raise env.error(f"jump into the middle of ldimm64 insn {i}", "EINVAL")
            i += 1
        i += 1
    env.postorder = postorder


# --- register liveness ----------------------------------------------------------------------

def _uses_defs(env: Env, i: int) -> tuple[int, int]:
    """Registers instruction ``i`` reads and writes (bit masks)."""
    insn = env.insns[i]
    code = insn.opcode
    cls = code & 7
    dst, src = 1 << insn.dst, 1 << insn.src
    caller_saved = 0b111111
    if cls in (BPF_ALU, BPF_ALU64):
        op = code & OP_MASK
        if op == BPF_MOV:
            return (src if code & BPF_X else 0), dst
        if op in (BPF_NEG, BPF_END):
            return dst, dst
        return dst | (src if code & BPF_X else 0), dst
    if cls == BPF_LDX:
        return src, dst
    if cls == BPF_ST:
        return dst, 0
    if cls == BPF_STX:
        if code & MODE_MASK == BPF_ATOMIC:
            imm = insn.imm
            if imm == BPF_CMPXCHG:
                return dst | src | 1, 1
            if imm == BPF_LOAD_ACQ:
                return src, dst
            if imm & BPF_FETCH:
                return dst | src, src
            return dst | src, 0
        return dst | src, 0
    if cls == BPF_LD:
        mode = code & MODE_MASK
        if mode == BPF_IMM:
            return 0, dst
        if mode == BPF_ABS:
            return 1 << 6, caller_saved
        if mode == BPF_IND:
            return (1 << 6) | src, caller_saved
        return 0, 0
    if cls in (BPF_JMP, BPF_JMP32):
        op = code & OP_MASK
        if op == BPF_EXIT:
            return 1, 0
        if op == BPF_CALL:
            if insn.src == PSEUDO_CALL_LOCAL:
                return 0b111110, caller_saved
            nargs = env.helper_nargs(insn)
            return ((1 << (nargs + 1)) - 2), caller_saved
        if op == BPF_JA or code == BPF_JMP | BPF_JCOND:
            return 0, 0
        return dst | (src if code & BPF_X else 0), 0
    return 0, 0


def successors(env: Env, i: int) -> tuple[int, ...]:
    insn = env.insns[i]
    code = insn.opcode
    cls = code & 7
    if code == LDDW:
        return (i + 2,)
    if cls not in (BPF_JMP, BPF_JMP32):
        return (i + 1,)
    op = code & OP_MASK
    if op == BPF_EXIT:
        return ()
    if op == BPF_CALL:
        return (i + 1,)
    if op == BPF_JA:
        return (i + 1 + (insn.off if cls == BPF_JMP else insn.imm),)
    return (i + 1, i + 1 + insn.off)


def compute_live_registers(env: Env) -> None:
    """For each instruction, the registers some path from it reads before
    writing (r10 excluded), per subprogram; the kernel prints this table at
    log level 2 and skips dead registers when comparing states."""
    insns = env.insns
    n = len(insns)
    ud = [_uses_defs(env, i) if i in env.insn_starts else (0, 0) for i in range(n)]
    live_in = [0] * n
    changed = True
    order = env.postorder
    while changed:
        changed = False
        for i in order:
            out = 0
            for s in successors(env, i):
                if 0 <= s < n:
                    out |= live_in[s]
            uses, defs = ud[i]
            new = (uses | (out & ~defs)) & 0x3FF
            if new != live_in[i]:
                live_in[i] = new
                changed = True
    for i in range(n):
        env.aux[i].live_regs = live_in[i]
    if env.log.level >= 2:
        env.log.line("Live regs before insn:")
        i = 0
        while i < n:
            mask = live_in[i]
            live = "".join(str(r) if mask & (1 << r) else "." for r in range(10))
            env.log.line(f"   {i:4d}: {live} {env.insn_text(i)}")
            i += 2 if insns[i].opcode == LDDW else 1
