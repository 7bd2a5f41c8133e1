"""The verifier's abstract state: registers, stack slots, frames, references.

A :class:`Reg` describes what a register may hold: its type (not
initialised, a scalar, or one of the pointer types, with flags such as
"may be NULL"), for scalars and pointer offsets the tnum and the signed and
unsigned 64- and 32-bit bounds, and per type the object pointed at (the map,
the packet range, the memory size, the stack frame...).  ``id`` links
registers that hold the same value (so that a NULL check or a bounds check
on one applies to all), ``ref_obj_id`` names the reference a pointer holds.

Registers are shared between states: a state copy copies the lists, not the
registers.  Code that changes a register stores a new one (``reg.copy()``
then assignment), never changes one in place unless it just made it.

A :class:`FuncState` is one call frame (11 registers and its stack of
8-byte :class:`Slot`\\ s); a :class:`VerifierState` the frames of one path
with the references and locks it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import tnum as tn
from .tnum import U32, U64

# --- register types (base types, then flags or-ed in) -------------------------------

NOT_INIT = 0
SCALAR_VALUE = 1
PTR_TO_CTX = 2
CONST_PTR_TO_MAP = 3
PTR_TO_MAP_VALUE = 4
PTR_TO_MAP_KEY = 5
PTR_TO_STACK = 6
PTR_TO_PACKET_META = 7
PTR_TO_PACKET = 8
PTR_TO_PACKET_END = 9
PTR_TO_FLOW_KEYS = 10
PTR_TO_SOCKET = 11
PTR_TO_SOCK_COMMON = 12
PTR_TO_TCP_SOCK = 13
PTR_TO_TP_BUFFER = 14
PTR_TO_XDP_SOCK = 15
PTR_TO_BTF_ID = 16
PTR_TO_MEM = 17
PTR_TO_ARENA = 18
PTR_TO_BUF = 19
PTR_TO_FUNC = 20
CONST_PTR_TO_DYNPTR = 21

BASE_TYPE_MASK = 0xFF
PTR_MAYBE_NULL = 1 << 8
MEM_RDONLY = 1 << 9
MEM_RINGBUF = 1 << 10
MEM_USER = 1 << 11
MEM_PERCPU = 1 << 12
OBJ_RELEASE = 1 << 13
PTR_UNTRUSTED = 1 << 14
MEM_UNINIT = 1 << 15
MEM_FIXED_SIZE = 1 << 16
MEM_ALLOC = 1 << 17
PTR_TRUSTED = 1 << 18
MEM_RCU = 1 << 19
NON_OWN_REF = 1 << 20
MEM_WRITE = 1 << 21

TYPE_NAMES = {
    NOT_INIT: "?", SCALAR_VALUE: "scalar", PTR_TO_CTX: "ctx", CONST_PTR_TO_MAP: "map_ptr",
    PTR_TO_MAP_VALUE: "map_value", PTR_TO_STACK: "fp", PTR_TO_PACKET: "pkt",
    PTR_TO_PACKET_META: "pkt_meta", PTR_TO_PACKET_END: "pkt_end",
    PTR_TO_FLOW_KEYS: "flow_keys", PTR_TO_SOCKET: "sock", PTR_TO_SOCK_COMMON: "sock_common",
    PTR_TO_TCP_SOCK: "tcp_sock", PTR_TO_TP_BUFFER: "tp_buffer", PTR_TO_XDP_SOCK: "xdp_sock",
    PTR_TO_BTF_ID: "ptr_", PTR_TO_MEM: "mem", PTR_TO_ARENA: "arena", PTR_TO_BUF: "buf",
    PTR_TO_FUNC: "func", PTR_TO_MAP_KEY: "map_key", CONST_PTR_TO_DYNPTR: "dynptr_ptr",
}


def base_type(t: int) -> int:
    return t & BASE_TYPE_MASK


def type_str(t: int) -> str:
    """The kernel's name of a register type (``map_value_or_null``,
    ``rdonly_mem``, ``trusted_ptr_``...)."""
    base = t & BASE_TYPE_MASK
    postfix = ""
    if t & PTR_MAYBE_NULL:
        postfix = "or_null_" if base == PTR_TO_BTF_ID else "_or_null"
    prefix = ("rdonly_" if t & MEM_RDONLY else "") + ("ringbuf_" if t & MEM_RINGBUF else "") + \
        ("user_" if t & MEM_USER else "") + ("percpu_" if t & MEM_PERCPU else "") + \
        ("rcu_" if t & MEM_RCU else "") + ("untrusted_" if t & PTR_UNTRUSTED else "") + \
        ("trusted_" if t & PTR_TRUSTED else "")
    return f"{prefix}{TYPE_NAMES.get(base, '?')}{postfix}"


S64_MIN = -(1 << 63)
S64_MAX = (1 << 63) - 1
S32_MIN = -(1 << 31)
S32_MAX = (1 << 31) - 1

BPF_ADD_CONST = 1 << 31
"""Flag in a scalar's ``id``: this register is the linked one plus ``off``."""

MAX_BPF_REG = 11
BPF_REG_FP = 10
BPF_REG_SIZE = 8


def s64(x: int) -> int:
    x &= U64
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= U32
    return x - (1 << 32) if x >> 31 else x


class Reg:
    """One register's abstract value (see the module docstring)."""

    __slots__ = (
        "btf_id",
        "dynptr",
        "frameno",
        "id",
        "map",
        "map_uid",
        "mem_size",
        "off",
        "precise",
        "range",
        "ref_obj_id",
        "s32_max",
        "s32_min",
        "smax",
        "smin",
        "subprogno",
        "type",
        "u32_max",
        "u32_min",
        "umax",
        "umin",
        "var_off",
    )

    def __init__(self, type: int = NOT_INIT):
        self.type = type
        self.off = 0
        self.var_off = tn.UNKNOWN
        self.smin = S64_MIN
        self.smax = S64_MAX
        self.umin = 0
        self.umax = U64
        self.s32_min = S32_MIN
        self.s32_max = S32_MAX
        self.u32_min = 0
        self.u32_max = U32
        self.id = 0
        self.ref_obj_id = 0
        self.precise = False
        self.map: Any = None
        self.map_uid = 0
        self.range = 0
        self.mem_size = 0
        self.btf_id: Any = None
        self.frameno = 0
        self.subprogno = 0
        self.dynptr: Any = None

    def copy(self) -> Reg:
        r = Reg.__new__(Reg)
        r.type = self.type
        r.off = self.off
        r.var_off = self.var_off
        r.smin = self.smin
        r.smax = self.smax
        r.umin = self.umin
        r.umax = self.umax
        r.s32_min = self.s32_min
        r.s32_max = self.s32_max
        r.u32_min = self.u32_min
        r.u32_max = self.u32_max
        r.id = self.id
        r.ref_obj_id = self.ref_obj_id
        r.precise = self.precise
        r.map = self.map
        r.map_uid = self.map_uid
        r.range = self.range
        r.mem_size = self.mem_size
        r.btf_id = self.btf_id
        r.frameno = self.frameno
        r.subprogno = self.subprogno
        r.dynptr = self.dynptr
        return r

    # --- what it is ---------------------------------------------------------------

    @property
    def base(self) -> int:
        return self.type & BASE_TYPE_MASK

    def is_scalar(self) -> bool:
        return self.type == SCALAR_VALUE

    def is_pointer(self) -> bool:
        return self.type not in (NOT_INIT, SCALAR_VALUE)

    def is_const(self) -> bool:
        """A scalar with one known value."""
        return self.type == SCALAR_VALUE and self.var_off[1] == 0

    def is_pkt_pointer(self) -> bool:
        b = self.type & BASE_TYPE_MASK
        return b in (PTR_TO_PACKET, PTR_TO_PACKET_META)

    def same_value_fields(self, other: Reg) -> bool:
        """Type, offset, pointed-at object, tnum and bounds all equal (the
        kernel's comparison of a register up to its ids)."""
        return (self.type == other.type and self.off == other.off
                and self.var_off == other.var_off and self.smin == other.smin
                and self.smax == other.smax and self.umin == other.umin
                and self.umax == other.umax and self.s32_min == other.s32_min
                and self.s32_max == other.s32_max and self.u32_min == other.u32_min
                and self.u32_max == other.u32_max and self.map is other.map
                and self.map_uid == other.map_uid and self.range == other.range
                and self.mem_size == other.mem_size and self.btf_id == other.btf_id
                and self.subprogno == other.subprogno and self.dynptr == other.dynptr)

    def __repr__(self) -> str:
        return (f"<Reg type={self.type} off={self.off} var_off={self.var_off} "
                f"s=[{self.smin},{self.smax}] u=[{self.umin},{self.umax}] id={self.id}>")


NOT_INIT_REG = Reg(NOT_INIT)
"""The shared not-initialised register (never changed)."""


def known_reg(value: int) -> Reg:
    """A scalar with one known value (64-bit)."""
    r = Reg(SCALAR_VALUE)
    set_known(r, value)
    return r


def unknown_reg(precise: bool = False) -> Reg:
    """A scalar about which nothing is known."""
    r = Reg(SCALAR_VALUE)
    r.precise = precise
    return r


def set_known(r: Reg, value: int) -> None:
    """Make ``r`` (fresh) a known 64-bit value, keeping its type."""
    v = value & U64
    r.var_off = (v, 0)
    r.smin = r.smax = s64(v)
    r.umin = r.umax = v
    r.s32_min = r.s32_max = s32(v)
    r.u32_min = r.u32_max = v & U32


def set_known32(r: Reg, value: int) -> None:
    """Make the low 32 bits of ``r`` (fresh) a known value."""
    v = value & U32
    r.var_off = tn.const_subreg(r.var_off, v)
    r.s32_min = r.s32_max = s32(v)
    r.u32_min = r.u32_max = v


def set_unbounded(r: Reg) -> None:
    r.smin = S64_MIN
    r.smax = S64_MAX
    r.umin = 0
    r.umax = U64
    r.s32_min = S32_MIN
    r.s32_max = S32_MAX
    r.u32_min = 0
    r.u32_max = U32


def set_unbounded64(r: Reg) -> None:
    r.smin = S64_MIN
    r.smax = S64_MAX
    r.umin = 0
    r.umax = U64


def set_unbounded32(r: Reg) -> None:
    r.s32_min = S32_MIN
    r.s32_max = S32_MAX
    r.u32_min = 0
    r.u32_max = U32


def pointer_reg(type: int, **fields: Any) -> Reg:
    """A pointer of ``type`` at offset 0 with ``fields`` set."""
    r = Reg(type)
    set_known(r, 0)
    for k, v in fields.items():
        setattr(r, k, v)
    return r


# --- stack slots --------------------------------------------------------------------

STACK_INVALID = "?"
STACK_SPILL = "r"
STACK_MISC = "m"
STACK_ZERO = "0"
STACK_DYNPTR = "d"
STACK_ITER = "i"
STACK_IRQ_FLAG = "f"


class Slot:
    """Eight bytes of stack: the kind of each byte (a string of 8 of
    ``?rm0dif``, index 0 the highest address as the kernel counts) and the
    register spilled there (or the scalar a partial spill keeps).  Shared
    between states like registers: replaced, never changed."""

    __slots__ = ("kinds", "reg")

    def __init__(self, kinds: str, reg: Reg | None = None):
        self.kinds = kinds
        self.reg = reg

    def is_spill(self) -> bool:
        return self.kinds[7] == STACK_SPILL

    def is_full_spill(self) -> bool:
        return self.kinds == "rrrrrrrr"

    def __repr__(self) -> str:
        return f"<Slot {self.kinds} {self.reg!r}>"


EMPTY_SLOT = Slot("????????")


# --- references -----------------------------------------------------------------------

REF_TYPE_PTR = 1
REF_TYPE_IRQ = 2
REF_TYPE_LOCK = 4
REF_TYPE_RES_LOCK = 8


@dataclass(frozen=True)
class RefState:
    """An acquired reference (a socket, a ring buffer record...) or a held
    lock: its id, the instruction that acquired it, and for locks the
    object locked."""

    id: int
    insn_idx: int
    kind: int = REF_TYPE_PTR
    ptr: Any = None


class FuncState:
    """One call frame: its registers and stack."""

    __slots__ = ("async_entry_cnt", "callback_depth", "callback_ret_range", "callsite",
                 "frameno", "in_async_callback_fn", "in_callback_fn",
                 "in_exception_callback_fn", "regs", "stack", "subprogno")

    def __init__(self, frameno: int, callsite: int, subprogno: int):
        self.regs: list[Reg] = [NOT_INIT_REG] * MAX_BPF_REG
        self.stack: list[Slot] = []
        self.frameno = frameno
        self.callsite = callsite
        self.subprogno = subprogno
        self.in_callback_fn = False
        self.in_async_callback_fn = False
        self.in_exception_callback_fn = False
        self.callback_ret_range: tuple[int, int] = (0, 0)
        self.async_entry_cnt = 0
        self.callback_depth = 0

    def copy(self) -> FuncState:
        f = FuncState.__new__(FuncState)
        f.regs = self.regs[:]
        f.stack = self.stack[:]
        f.frameno = self.frameno
        f.callsite = self.callsite
        f.subprogno = self.subprogno
        f.in_callback_fn = self.in_callback_fn
        f.in_async_callback_fn = self.in_async_callback_fn
        f.in_exception_callback_fn = self.in_exception_callback_fn
        f.callback_ret_range = self.callback_ret_range
        f.async_entry_cnt = self.async_entry_cnt
        f.callback_depth = self.callback_depth
        return f

    @property
    def allocated_stack(self) -> int:
        return len(self.stack) * BPF_REG_SIZE

    def grow_stack(self, size: int) -> None:
        """Allocate the stack down to ``size`` bytes (rounded up to slots)."""
        n = (size + BPF_REG_SIZE - 1) // BPF_REG_SIZE
        if n > len(self.stack):
            self.stack.extend([EMPTY_SLOT] * (n - len(self.stack)))


class VerifierState:
    """The state of one path: its frames (the current one last), the
    references and locks held, and what pruning and loops need."""

    __slots__ = (
        "active_irq_id",
        "active_lock_id",
        "active_lock_ptr",
        "active_locks",
        "active_preempt_locks",
        "active_rcu_lock",
        "branches",
        "callback_unroll_depth",
        "cleaned",
        "curframe",
        "dfs_depth",
        "first_insn_idx",
        "frame",
        "in_sleepable",
        "insn_idx",
        "jmp_history",
        "last_insn_idx",
        "may_goto_depth",
        "parent",
        "precise_done",
        "refs",
        "speculative",
        "trail",
    )

    def __init__(self) -> None:
        self.frame: list[FuncState] = []
        self.curframe = 0
        self.refs: list[RefState] = []
        self.active_locks = 0
        self.active_lock_id = 0
        self.active_lock_ptr: Any = None
        self.active_preempt_locks = 0
        self.active_irq_id = 0
        self.active_rcu_lock = False
        self.speculative = False
        self.in_sleepable = False
        self.branches = 1
        self.parent: VerifierState | None = None
        self.insn_idx = 0
        self.first_insn_idx = 0
        self.last_insn_idx = 0
        self.jmp_history: list[tuple[int, int, int]] = []
        self.may_goto_depth = 0
        self.callback_unroll_depth = 0
        self.precise_done = False
        self.dfs_depth = 0
        self.cleaned = False
        self.trail: tuple | None = None

    def copy(self) -> VerifierState:
        """A copy whose frames may change without touching this one."""
        s = VerifierState.__new__(VerifierState)
        s.frame = [f.copy() for f in self.frame]
        s.curframe = self.curframe
        s.refs = self.refs[:]
        s.active_locks = self.active_locks
        s.active_lock_id = self.active_lock_id
        s.active_lock_ptr = self.active_lock_ptr
        s.active_preempt_locks = self.active_preempt_locks
        s.active_irq_id = self.active_irq_id
        s.active_rcu_lock = self.active_rcu_lock
        s.speculative = self.speculative
        s.in_sleepable = self.in_sleepable
        s.branches = 1
        s.parent = self.parent
        s.insn_idx = self.insn_idx
        s.first_insn_idx = self.first_insn_idx
        s.last_insn_idx = self.last_insn_idx
        s.jmp_history = self.jmp_history[:]
        s.may_goto_depth = self.may_goto_depth
        s.callback_unroll_depth = self.callback_unroll_depth
        s.precise_done = False
        s.dfs_depth = self.dfs_depth
        s.cleaned = False
        s.trail = self.trail
        return s

    @property
    def cur(self) -> FuncState:
        return self.frame[self.curframe]

    @property
    def regs(self) -> list[Reg]:
        return self.frame[self.curframe].regs

    def path(self) -> list[tuple[int, int]]:
        """The jumps this path took, ``(from, to)``, oldest first."""
        out = []
        t = self.trail
        while t is not None:
            t, a, b = t
            out.append((a, b))
        out.reverse()
        return out

    def find_ref(self, ref_id: int) -> RefState | None:
        for r in self.refs:
            if r.id == ref_id and r.kind == REF_TYPE_PTR:
                return r
        return None


# --- comparing states ----------------------------------------------------------------------

class IdMap:
    """Old-to-current id correspondence built while comparing two states."""

    __slots__ = ("cur_seen", "map", "tmp")

    def __init__(self) -> None:
        self.map: dict[int, int] = {}
        self.cur_seen: set[int] = set()
        self.tmp = 1 << 40

    def check(self, old: int, cur: int) -> bool:
        if bool(old) != bool(cur):
            return False
        if not old:
            return True
        m = self.map.get(old)
        if m is not None:
            return m == cur
        if cur in self.cur_seen:
            return False
        self.map[old] = cur
        self.cur_seen.add(cur)
        return True

    def check_scalar(self, old: int, cur: int) -> bool:
        if not old:
            return True
        if not cur:
            self.tmp += 1
            cur = self.tmp
        return self.check(old, cur)


def regs_exact(old: Reg, cur: Reg, idmap: IdMap) -> bool:
    """The same value and type, with ids that correspond under ``idmap``."""
    return old.same_value_fields(cur) and idmap.check(old.id, cur.id) and \
        idmap.check(old.ref_obj_id, cur.ref_obj_id)
