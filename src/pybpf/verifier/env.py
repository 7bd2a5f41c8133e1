"""The verification of one program: what every check reads and changes.

:class:`Env` is the kernel's ``bpf_verifier_env``: the program and its
type, the maps it loads, the privilege it is verified with, the state of
the path being walked (``cur``), what is recorded per instruction
(:class:`InsnAux`) and per subprogram (:class:`Subprog`), the log, and the
counters the kernel reports.  The check modules (:mod:`.alu`,
:mod:`.memory`, :mod:`.jumps`, :mod:`.calls`) are functions of an Env;
:mod:`.explore` drives them.

A check that fails raises :class:`Reject` (the kernel returning an error
code); the message lines it printed are the error's words.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..isa import Insn
from ..isa.insn import LDDW_OPCODE
from ..isa.opcodes import BPF_X
from ..spec import helper_id, helper_name
from ..spec.verifier import BPF_COMPLEXITY_LIMIT_JMP_SEQ
from . import tnum as tn
from .log import Log, insn_str
from .state import (
    BPF_REG_FP,
    MAX_BPF_REG,
    NOT_INIT,
    SCALAR_VALUE,
    Reg,
    VerifierState,
    set_known,
)


class Reject(Exception):
    """The program is refused: ``errno`` is the kernel's error code name
    and ``message`` the last line it printed."""

    def __init__(self, message: str, errno: str = "EACCES", *, unmodelled: str | None = None):
        super().__init__(message)
        self.message = message
        self.errno = errno
        self.unmodelled = unmodelled
        """The feature pybpf's verifier does not model yet (kfunc calls...)
        when that is why the program is refused; the kernel may accept it."""


class InsnAux:
    """What the verifier records about one instruction across all paths."""

    __slots__ = (
        "alu_limit",
        "alu_state",
        "call_imm",
        "calls_callback",
        "const_map",
        "ctx_field_size",
        "force_checkpoint",
        "is_iter_next",
        "jmp_point",
        "live_regs",
        "loop_inline",
        "map_key",
        "map_ptr",
        "nospec",
        "nospec_result",
        "prune_point",
        "ptr_type",
        "safe_access",
        "scc",
        "seen",
    )

    def __init__(self) -> None:
        self.seen = False
        self.prune_point = False
        self.jmp_point = False
        self.force_checkpoint = False
        self.calls_callback = False
        self.ptr_type = NOT_INIT
        self.map_ptr: Any = None
        self.map_key: Any = None
        self.live_regs = 0
        self.scc = 0
        self.ctx_field_size = 0
        self.nospec = False
        self.nospec_result = False
        self.safe_access: Any = None
        self.alu_state = 0
        self.alu_limit = 0
        self.const_map: Any = None
        self.is_iter_next = False
        self.loop_inline = False
        self.call_imm = 0


@dataclass
class Subprog:
    """A subprogram: where it starts, what the verifier learned about it."""

    start: int
    stack_depth: int = 0
    has_tail_call: bool = False
    has_ld_abs: bool = False
    tail_call_reachable: bool = False
    is_global: bool = False
    is_cb: bool = False
    is_async_cb: bool = False
    is_exception_cb: bool = False
    changes_pkt_data: bool = False
    might_sleep: bool = False
    arg_types: list[str] = field(default_factory=list)
    visited: bool = False


MEMORY_PROG_TYPE = "memory"
"""pybpf's own program type for raw ISA programs (as uBPF runs them): ``r1``
points to a buffer, ``r2`` holds its length.  The kernel has no such type;
the verifier checks such a program for one buffer size
(:attr:`Options.memory_size`): ``r1`` is memory of that size, ``r2`` that
number, and no helper may be called."""


@dataclass
class Options:
    """How a program is verified: privilege (the kernel's capability
    checks) and load flags."""

    privileged: bool = True
    strict_alignment: bool = False
    any_alignment: bool = False
    test_state_freq: bool = False
    sleepable: bool = False
    xdp_has_frags: bool = False

    nr_cpu_ids: int = field(default_factory=lambda: os.cpu_count() or 1)
    jit: bool = True
    memory_size: int | None = None
    """The buffer size a ``memory`` program (:data:`MEMORY_PROG_TYPE`) is verified for."""

    @property
    def allow_ptr_leaks(self) -> bool:
        return self.privileged

    @property
    def bpf_capable(self) -> bool:
        return self.privileged

    @property
    def bypass_spec_v1(self) -> bool:
        return self.privileged

    @property
    def bypass_spec_v4(self) -> bool:
        return self.privileged

    @property
    def allow_uninit_stack(self) -> bool:
        return self.privileged


GPL_COMPATIBLE = frozenset({"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL",
                            "Dual MIT/GPL", "Dual MPL/GPL"})
"""Licenses the kernel's ``license_is_gpl_compatible`` accepts."""

CALLBACK_HELPERS = ("for_each_map_elem", "loop", "find_vma", "user_ringbuf_drain")
"""Helpers that call a program function back synchronously."""


def _insn_starts(insns: Sequence[Insn]) -> frozenset[int]:
    """Indexes where instructions start (not second halves of ``lddw``)."""
    out = set()
    i = 0
    while i < len(insns):
        out.add(i)
        i += 2 if insns[i].opcode == LDDW_OPCODE else 1
    return frozenset(out)


SRC_OP = 0
DST_OP = 1
DST_OP_NO_MARK = 2


class Env:
    """One program's verification (see the module docstring)."""

    def __init__(self, insns: Sequence[Insn], *, prog_type: str, attach_type: str | None,
                 options: Options, maps: dict[int, Any], log_level: int = 0,
                 prog: Any = None):
        self.insns = list(insns)
        self.prog_type = prog_type
        self.attach_type = attach_type
        self.opts = options
        self.allow_ptr_leaks = options.allow_ptr_leaks
        self.bpf_capable = options.bpf_capable
        self.bypass_spec_v1 = options.bypass_spec_v1
        self.bypass_spec_v4 = options.bypass_spec_v4
        self.allow_uninit_stack = options.allow_uninit_stack
        self.strict_alignment = options.strict_alignment and not options.any_alignment
        self.map_at = maps            # pc of a map lddw -> MapDescription (or None: bad fd)
        self.prog = prog              # the LinkedProgram, when there is one
        self.log = Log(log_level)
        self.aux = [InsnAux() for _ in self.insns]
        self.subprogs: list[Subprog] = []
        self.id_gen = 0
        self.cur: VerifierState = VerifierState()
        self.insn_idx = 0
        self.prev_insn_idx = -1
        self.insn_processed = 0
        self.prev_insn_processed = 0
        self.jmps_processed = 0
        self.prev_jmps_processed = 0
        self.total_states = 0
        self.peak_states = 0
        self.max_states_per_insn = 0
        self.scratched_regs: set[int] = set()
        self.scratched_slots: set[int] = set()
        self.scratched_all = True
        self.messages: list[str] = []  # error words printed at the current instruction
        self.seen_direct_write = False
        self.changes_pkt_data = False
        self.used_maps: list[Any] = []
        self.max_pkt_offset = 0
        self.max_ctx_offset = 0
        self.prog_info: Any = None
        self.helpers_seen: set[int] = set()
        self.has_tail_call = False
        self.has_ld_abs = False
        self.kfunc_names: dict = {}
        self.btf: Any = None
        self.func_info: Any = None
        self.path: list[tuple[int, int]] = []
        self.explored: dict[int, list] = {}
        self.cur_hist_state: VerifierState | None = None
        self.watched: dict[int, list[str]] = {}
        """The distinct states paths entered these instructions with, as the
        log prints them (``verify(..., states_at=...)``; at most
        ``WATCHED_STATES`` each)."""
        self.line_info: list[tuple[int, str, str, int]] = []  # (insn, file, line, line number)
        self.prev_linfo = -1
        self.pending: list = []
        self.cur_states = 0
        self.explore_alu_limits = False
        self.use_precision = self.bpf_capable
        self.do_print_state = False
        self.postorder: list[int] = []
        self.subprog_starts: list[int] = [0]
        self.func_linkage: dict[int, str] = {}
        self.func_names: dict[int, str] = {}
        self.func_args: dict[int, list[tuple[str, int]]] = {}
        self.cgroup_storage: dict[str, Any] = {}
        self.nr_cpu_ids = options.nr_cpu_ids
        self.jit = options.jit
        self.insn_starts = _insn_starts(self.insns)
        self.tail_call_id = helper_id("tail_call")
        self.spin_unlock_id = helper_id("spin_unlock")
        self.callback_helpers = frozenset(helper_id(n) for n in CALLBACK_HELPERS)
        self.async_callback_helpers = frozenset({helper_id("timer_set_callback")})

    # --- messages -------------------------------------------------------------------

    def verbose(self, text: str) -> None:
        """A line of the kernel's words about the current instruction."""
        self.messages.append(text)
        self.log.line(text)

    def error(self, text: str, errno: str = "EACCES") -> Reject:
        """Print ``text`` and return the rejection to raise."""
        self.verbose(text)
        return Reject(text, errno)

    def unmodelled(self, feature: str, text: str) -> Reject:
        """Print ``text`` and return the rejection of a program that uses
        ``feature``, which pybpf's verifier does not model yet."""
        self.verbose(text)
        return Reject(text, "EINVAL", unmodelled=feature)

    def insn_text(self, pc: int) -> str:
        return insn_str(self.insns, pc, allow_ptr_leaks=self.allow_ptr_leaks,
                        kfunc_names=self.kfunc_names)

    # --- ids and registers ------------------------------------------------------------

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    @property
    def regs(self) -> list[Reg]:
        return self.cur.frame[self.cur.curframe].regs

    def unknown(self) -> Reg:
        """A fresh unknown scalar (precise when unprivileged, as the kernel
        marks every unprivileged scalar precise)."""
        r = Reg(SCALAR_VALUE)
        r.precise = not self.bpf_capable
        return r

    def known(self, value: int) -> Reg:
        """A fresh scalar holding ``value`` (after ``mark_reg_unknown``)."""
        r = Reg(SCALAR_VALUE)
        r.precise = not self.bpf_capable
        set_known(r, value)
        return r

    def const_zero(self) -> Reg:
        return self.known(0)

    def mark_unknown(self, regno: int) -> None:
        self.regs[regno] = self.unknown()

    def scratch_reg(self, regno: int) -> None:
        self.scratched_regs.add(regno)

    def scratch_slot(self, spi: int) -> None:
        self.scratched_slots.add(spi)

    def check_reg_arg(self, regno: int, kind: int) -> None:
        """The kernel's ``check_reg_arg``: a source must be initialised, a
        destination must not be the frame pointer (and ``DST_OP`` makes it
        unknown)."""
        if regno >= MAX_BPF_REG:
            raise self.error(f"R{regno} is invalid", "EINVAL")
        self.scratched_regs.add(regno)
        regs = self.regs
        if kind == SRC_OP:
            if regs[regno].type == NOT_INIT:
                raise self.error(f"R{regno} !read_ok")
        else:
            if regno == BPF_REG_FP:
                raise self.error("frame pointer is read only")
            if kind == DST_OP:
                regs[regno] = self.unknown()

    def is_pointer_value(self, regno: int) -> bool:
        """Whether the register holds a pointer and pointers may not leak."""
        if self.allow_ptr_leaks:
            return False
        return self.regs[regno].type != SCALAR_VALUE

    def func_of(self, reg: Reg):
        """The frame a stack pointer points into."""
        return self.cur.frame[reg.frameno]

    def tnum_str(self, t: tn.Tnum) -> str:
        return tn.to_str(t)

    # --- source lines -------------------------------------------------------------------

    def linfo_index(self, pc: int) -> int:
        """The line_info record covering instruction ``pc`` (-1: none)."""
        import bisect

        if not self.line_info:
            return -1
        return bisect.bisect_right(self.line_info, (pc, "\uffff")) - 1

    def source_line(self, pc: int) -> str | None:
        """``<line> @ <file>:<n>`` for instruction ``pc``, or None."""
        i = self.linfo_index(pc)
        if i < 0:
            return None
        _, fname, line, num = self.line_info[i]
        return f"{line.lstrip()} @ {fname.rsplit('/', 1)[-1]}:{num}"

    def verbose_linfo(self, pc: int, prefix: str = "; ") -> None:
        """The kernel's source line before an instruction, when it changed."""
        if not self.log.level:
            return
        i = self.linfo_index(pc)
        if i < 0 or i == self.prev_linfo:
            return
        prev = self.prev_linfo
        self.prev_linfo = i
        if prev >= 0 and self.line_info[prev][1] == self.line_info[i][1] and \
                self.line_info[prev][3] == self.line_info[i][3]:
            return
        self.log.line(prefix + (self.source_line(pc) or ""))

    # --- program structure ------------------------------------------------------------

    def subprog_index(self, start: int) -> int:
        """The subprogram starting at instruction ``start``."""
        return self.subprog_starts.index(start)

    def subprog_of(self, pc: int) -> int:
        """The subprogram instruction ``pc`` belongs to."""
        import bisect

        return bisect.bisect_right(self.subprog_starts, pc) - 1

    def subprog_name(self, sub: int) -> str:
        return self.func_names.get(self.subprogs[sub].start, f"func#{sub}")

    def gpl_compatible(self) -> bool:
        """Whether the program's license allows GPL-only helpers and kfuncs."""
        lic = getattr(self.prog, "license", "GPL") if self.prog is not None else "GPL"
        return lic in GPL_COMPATIBLE

    def helper_nargs(self, insn: Insn) -> int:
        """Arguments a helper call reads (5 when unknown)."""
        from ..spec.helper_types import HELPER_TYPES

        if insn.src != 0:
            return 5
        proto = HELPER_TYPES.get(helper_name(insn.imm) or "")
        return len(proto.args) if proto is not None else 5

    # --- paths --------------------------------------------------------------------------

    def push_stack(self, insn_idx: int, prev_insn_idx: int,
                   speculative: bool) -> VerifierState:
        """Queue a copy of the current state to explore from ``insn_idx``."""
        cur = self.cur
        st = cur.copy()
        st.speculative = cur.speculative or speculative
        self.pending.append((st, insn_idx, prev_insn_idx, self.log.mark()))
        if len(self.pending) > BPF_COMPLEXITY_LIMIT_JMP_SEQ:
            raise self.error(f"The sequence of {len(self.pending)} jumps is too complex.",
                             "E2BIG")
        if st.parent is not None:
            st.parent.branches += 1
        return st

    def push_fresh_state(self, frames: list, insn_idx: int, prev_insn_idx: int) -> VerifierState:
        """Queue a path that starts afresh with ``frames`` (an async callback,
        which runs later, independently of the path that registered it)."""
        st = VerifierState()
        st.frame = frames
        st.curframe = len(frames) - 1
        st.trail = self.cur.trail
        self.pending.append((st, insn_idx, prev_insn_idx, self.log.mark()))
        if len(self.pending) > BPF_COMPLEXITY_LIMIT_JMP_SEQ:
            raise self.error(f"The sequence of {len(self.pending)} jumps is too complex for "
                             f"async cb.", "E2BIG")
        return st

    def push_speculative(self, next_idx: int, curr_idx: int, insn: Insn | None) -> None:
        """Unprivileged: the side a branch never takes is still walked, as
        the CPU may speculate into it (errors there end the path quietly)."""
        st = self.push_stack(next_idx, curr_idx, True)
        if insn is not None:
            regs = st.frame[st.curframe].regs
            regs[insn.dst] = self.unknown()
            if insn.opcode & BPF_X:
                regs[insn.src] = self.unknown()

    def print_insn_state(self) -> None:
        """At log levels 1-2: the registers and slots touched since the
        last print (all of them after a path starts)."""
        if not self.log.level:
            return
        from .log import state_str

        if self.scratched_all:
            text = state_str(self.cur)
        elif self.scratched_regs or self.scratched_slots:
            text = state_str(self.cur, self.scratched_regs, self.scratched_slots)
        else:
            return
        self.log.state_after(self.insn_idx, text)
        self.scratched_all = False
        self.scratched_regs = set()
        self.scratched_slots = set()
