"""The verifier: the Linux kernel's safety rules and messages, in userspace.

::

    from pybpf.verifier import verify, MapDescription

    result = verify(linked_program, {"counts": MapDescription("hash", 4, 8, 1024)})
    if not result.accepted:
        print(result.error)          # the kernel's words, the instruction, the state, the path

:func:`verify` proves a :class:`pybpf.linked.LinkedProgram` (or a list of
instructions) safe the way Linux 6.18 does: the same checks, in the same
order, with the same messages, so that a program accepted here loads in the
kernel and a rejected one fails there with the same error line.  It needs
no root and no maps, only their descriptions (:class:`MapDescription`).
The result carries the kernel-format log (levels 1 and 2), the counts the
kernel reports and, for accepted programs, per-instruction facts a JIT can
use (constant map pointers, proven memory accesses).

Modules: :mod:`.tnum` (bit-level knowledge), :mod:`.scalar` (ranges and ALU
propagation), :mod:`.state` (registers, stack, frames), :mod:`.log`,
:mod:`.env` (one verification's context), :mod:`.cfg` (checks before the
walk), :mod:`.memory`, :mod:`.context`, :mod:`.alu`, :mod:`.jumps`,
:mod:`.calls`, :mod:`.explore` (the walk and pruning), :mod:`.precision`,
:mod:`.maps`, :mod:`.corpus` (the kernel selftests corpus runner).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import VerifierError
from ..isa import Insn
from ..isa.opcodes import BPF_CALL, BPF_JMP, PSEUDO_CALL_KFUNC
from ..objects import ObjectSpec
from ..spec import enum_name, enum_values
from ..spec.verifier import BPF_COMPLEXITY_LIMIT_INSNS, BPF_MAXINSNS
from .cfg import check_cfg, check_subprogs, compute_live_registers, find_subprogs, resolve_ldimm64
from .env import MEMORY_PROG_TYPE, Env, Options, Reject
from .explore import check_max_stack_depth, do_check, initial_state
from .log import state_str
from .maps import MapDescription
from .state import (
    NOT_INIT_REG,
    PTR_MAYBE_NULL,
    PTR_TO_ARENA,
    PTR_TO_BTF_ID,
    PTR_TO_CTX,
    PTR_TO_MEM,
    PTR_UNTRUSTED,
    base_type,
    pointer_reg,
)

CALL_OPCODE = BPF_JMP | BPF_CALL
UNPRIVILEGED_TYPES = frozenset({"socket_filter", "cgroup_skb"})
"""Program types an unprivileged user may load."""
KNOWN_PROG_TYPES = frozenset(name.removeprefix("BPF_PROG_TYPE_").lower()
                             for name in enum_values("bpf_prog_type")) - {"unspec"}
"""The kernel's program type names."""
BPF_F_STRICT_ALIGNMENT = 1
BPF_F_ANY_ALIGNMENT = 2
BPF_F_TEST_STATE_FREQ = 8
BPF_F_SLEEPABLE = 16
BPF_F_XDP_HAS_FRAGS = 32


NOT_PROVEN_POINTERS = frozenset({PTR_TO_CTX, PTR_TO_BTF_ID, PTR_TO_ARENA})
"""Pointer types whose accesses :attr:`VerifierResult.proven_accesses` leaves out."""


@dataclass
class InsnFacts:
    """What verification proved about one instruction, for a JIT: the map a
    ``lddw`` always loads, whether a memory access was checked on every
    path (``seen``: some path reached it), the pointer type a load or store
    goes through (the verifier's type number, 0 for other instructions).
    :attr:`VerifierResult.proven_accesses` and
    :attr:`VerifierResult.const_map_pointers` summarise them."""

    const_map: Any = None
    seen: bool = False
    ptr_type: int = 0


@dataclass
class VerifierResult:
    """The outcome of :func:`verify`."""

    verdict: str
    error: VerifierError | None
    insns_processed: int
    states: int
    peak_states: int
    max_states_per_insn: int
    log: str
    stack_depth: list[int] = field(default_factory=list)
    facts: list[InsnFacts] = field(default_factory=list)
    seconds: float = 0.0
    max_ctx_offset: int = 0
    """One past the last context byte the program reads or writes (a hook
    must give at least that much context, as the kernel checks at attach
    time for tracepoints)."""
    max_pkt_offset: int = 0
    states_at: dict[int, list[str]] = field(default_factory=dict)
    """For each instruction given to :func:`verify` as ``states_at``: the
    distinct states the verifier's paths reached it with (registers and
    stack as the kernel's log prints them; empty when no path got there,
    at most 16 kept)."""

    @property
    def proven_accesses(self) -> frozenset[int]:
        """Indexes of the load, store and atomic instructions whose memory
        access the verifier proved in bounds on every path that reaches
        them (stack, map values, packets, memory from helpers...): a JIT
        may drop its run-time bounds check there.  Left out: context
        accesses (the kernel rewrites them, the VM emulates them), loads
        through kernel pointers and arena pointers (probe-read semantics:
        they may fault by design), and instructions no path reaches.
        Empty for a rejected program."""
        return frozenset(pc for pc, f in enumerate(self.facts)
                         if f.seen and f.ptr_type and base_type(f.ptr_type) not in
                         NOT_PROVEN_POINTERS and not f.ptr_type & PTR_UNTRUSTED)

    @property
    def const_map_pointers(self) -> dict[int, MapDescription]:
        """For each ``lddw`` of a map (pointer or value address), by
        instruction index, the map it always loads."""
        return {pc: f.const_map for pc, f in enumerate(self.facts) if f.const_map is not None}

    @property
    def accepted(self) -> bool:
        return self.verdict == "accept"

    @property
    def message(self) -> str | None:
        """The kernel's words for the rejection (None when accepted)."""
        return self.error.message if self.error is not None else None

    def raise_if_rejected(self) -> None:
        if self.error is not None:
            raise self.error


class VerificationError(VerifierError):
    """A program pybpf's verifier refuses.  ``message`` is the kernel's
    error line(s) word for word; ``pc`` and ``insn`` the instruction,
    ``state`` the registers and stack at that point, ``path`` the branch
    decisions that reached it (``(from, to)`` pairs), ``line`` the source
    line when the program has line info; ``log`` the kernel-format log.
    ``unmodelled`` names the feature when the refusal is pybpf's own
    because its verifier does not model that feature yet (kfunc calls...):
    the kernel may accept such a program."""

    def __init__(self, message: str, *, log: str = "", errno: str = "EACCES",
                 program: str | None = None, pc: int | None = None, insn: str | None = None,
                 state: str = "", path: Sequence[tuple[int, int]] = (), line: str | None = None,
                 unmodelled: str | None = None):
        self.message = message
        self.errno_name = errno
        self.insn = insn
        self.state = state
        self.path = list(path)
        self.line = line
        self.unmodelled = unmodelled
        self.explanation = _explain(message, pc, insn, state, self.path, line)
        if unmodelled:
            self.explanation += (f"\n  pybpf's verifier does not model {unmodelled} yet, so it "
                                 f"cannot prove this program safe; pybpf.vm.load(..., "
                                 f"verify=False) or the CLI's --no-verify runs it unverified "
                                 f"under the VM's run-time checks")
        super().__init__(self.explanation, log=log, errno=_errno_number(errno),
                         operation=None, program=program, pc=pc)
        self.args = (self.explanation,)

    def __str__(self) -> str:
        return self.explanation


def _errno_number(name: str) -> int | None:
    import errno as _e

    return getattr(_e, name, None)


def _explain(message: str, pc: int | None, insn: str | None, state: str,
             path: list[tuple[int, int]], line: str | None) -> str:
    text = message
    if pc is not None:
        text += f"\n  at insn {pc}"
        if insn:
            text += f": {insn}"
    if line:
        text += f"\n  source: {line}"
    if state:
        text += f"\n  state:{state}"
    if path:
        text += "\n  path: " + ", ".join(f"{a}->{b}" for a, b in path[-12:])
        if len(path) > 12:
            text += f" (and {len(path) - 12} earlier)"
    return text


def _attach_name(attach: str | int | None) -> str | None:
    if attach is None or (attach == 0 and isinstance(attach, int)):
        return None
    if isinstance(attach, int):
        name = enum_name("bpf_attach_type", attach)
        return name.removeprefix("BPF_").lower() if name else None
    return attach.removeprefix("BPF_").lower()


def verify(program: Any, maps: Mapping[str, Any] | None = None, *,
           prog_type: str | None = None, attach_type: str | int | None = None,
           privileged: bool = True, log_level: int = 0, flags: int | None = None,
           nr_cpu_ids: int | None = None, name: str | None = None,
           memory_size: int | None = None,
           btf: Any = None, states_at: Iterable[int] = ()) -> VerifierResult:
    """Verify ``program`` as Linux 6.18 would load it.

    ``program`` is a :class:`pybpf.linked.LinkedProgram` (its map
    references name entries of ``maps``) or a sequence of
    :class:`pybpf.isa.Insn` (map loads then need ``maps`` keyed by the
    ``lddw``'s pc as a string or int).  ``maps`` gives a
    :class:`MapDescription` (or a :class:`pybpf.linked.LinkedMap`) per map.
    ``prog_type``/``attach_type`` default to the program's; ``privileged``
    False verifies as an unprivileged user would load it (the kernel's
    pointer-leak and Spectre rules).  ``log_level`` 1 or 2 keeps the
    kernel-format log; ``btf`` (the object's BTF, raw or parsed) gives it
    source lines and function names.  ``states_at`` names instructions
    (the starts of basic blocks, say) whose entry states the result keeps
    in :attr:`VerifierResult.states_at`.  The result never raises: a rejection is in
    ``result.error`` (a :class:`pybpf.errors.VerifierError`).
    """
    started = time.perf_counter()
    maps = dict(maps or {})
    if hasattr(program, "insns") and hasattr(program, "map_refs"):
        insns = list(program.insns)
        prog_type = prog_type or program.type
        attach_type = attach_type if attach_type is not None else program.attach_type
        flags = program.flags if flags is None else flags
        name = name or program.name
        map_at = {}
        for pc, ref in program.map_refs.items():
            desc = maps.get(ref.map)
            map_at[pc] = _description(desc) if desc is not None else None
        prog = program
    else:
        insns = [i if isinstance(i, Insn) else Insn(*i) for i in program]
        map_at = {int(k): _description(v) for k, v in maps.items()}
        prog = None
    flags = flags or 0
    opts = Options(privileged=privileged,
                   strict_alignment=bool(flags & BPF_F_STRICT_ALIGNMENT),
                   any_alignment=bool(flags & BPF_F_ANY_ALIGNMENT),
                   test_state_freq=bool(flags & BPF_F_TEST_STATE_FREQ),
                   sleepable=bool(flags & BPF_F_SLEEPABLE) or bool(getattr(prog, "sleepable",
                                                                          False)),
                   xdp_has_frags=bool(flags & BPF_F_XDP_HAS_FRAGS))
    if nr_cpu_ids:
        opts.nr_cpu_ids = nr_cpu_ids
    opts.memory_size = memory_size
    env = Env(insns, prog_type=prog_type or "socket_filter",
              attach_type=_attach_name(attach_type), options=opts, maps=map_at,
              log_level=log_level, prog=prog)
    env.watched = {pc: [] for pc in states_at}
    if prog is not None:
        _read_debug_info(env, prog, _btf_object(btf))
    error = None
    try:
        _verify(env)
    except Reject as e:
        error = _error(env, e, name)
    log = env.log
    if log.level:
        if error is None and log.level == 1:
            log.rewind(0)
        log.line(f"processed {env.insn_processed} insns (limit {BPF_COMPLEXITY_LIMIT_INSNS}) "
                 f"max_states_per_insn {env.max_states_per_insn} total_states "
                 f"{env.total_states} peak_states {env.peak_states} mark_read 0")
    text = log.text()
    if error is not None:
        error.log = text
    facts = [InsnFacts(a.const_map, a.seen, a.ptr_type) for a in env.aux] \
        if error is None else []
    return VerifierResult("reject" if error else "accept", error, env.insn_processed,
                          env.total_states, env.peak_states, env.max_states_per_insn, text,
                          [s.stack_depth for s in env.subprogs], facts,
                          time.perf_counter() - started, env.max_ctx_offset, env.max_pkt_offset,
                          env.watched)


def verify_object(obj: Any, *, programs: Sequence[str] | None = None,
                  prog_type: str | None = None, attach_type: str | int | None = None,
                  privileged: bool = True, log_level: int = 0,
                  states_at: Mapping[str, Iterable[int]] | None = None
                  ) -> dict[str, VerifierResult]:
    """Verify the programs of a :class:`pybpf.linked.LinkedObject` (all, or
    those named in ``programs``) against its maps, with its BTF for source
    lines and the special fields of map values.  An
    :class:`~pybpf.objects.ObjectSpec` is linked first
    (:func:`pybpf.linker.link`, knowing no kernel symbols: link it with
    ``pybpf.kernel.KernelResolver()`` yourself for ksyms and kfuncs).
    ``states_at`` names, per program, the instructions whose entry states
    to keep (:attr:`VerifierResult.states_at`)."""
    if isinstance(obj, ObjectSpec):
        from ..linker import link

        obj = link(obj)
    btf = getattr(obj, "btf_types", None)
    if btf is None and getattr(obj, "btf", None):
        btf = _btf_object(obj.btf)
    maps = {name: MapDescription.from_linked(lm, btf) for name, lm in obj.maps.items()}
    out = {}
    for name, prog in obj.programs.items():
        if programs is not None and name not in programs:
            continue
        out[name] = verify(prog, maps, prog_type=prog_type, attach_type=attach_type,
                           privileged=privileged, log_level=log_level, btf=btf,
                           states_at=(states_at or {}).get(name, ()))
    return out


def explain_refusal(error: VerifierError, program: Any, maps: Mapping[str, Any],
                    btf: Any = None) -> VerificationError | None:
    """pybpf's account of the kernel's refusal ``error`` of ``program`` (a
    :class:`pybpf.linked.LinkedProgram`, its maps by name in ``maps``):
    the :class:`VerificationError` of verifying it in userspace when pybpf
    refuses it at the same instruction, else None (then pybpf has nothing
    to add).  Never raises."""
    try:
        descs = {name: _description(m) for name, m in maps.items()}
        ours = verify(program, descs, btf=btf).error
    except Exception:  # an explanation is a bonus: never hide the kernel's error
        return None
    if ours is None or ours.unmodelled or (error.pc is not None and ours.pc != error.pc):
        return None
    return ours


def _description(desc: Any) -> MapDescription:
    if isinstance(desc, MapDescription):
        return desc
    return MapDescription.from_linked(desc)


def _btf_object(btf: Any) -> Any:
    if btf is None or hasattr(btf, "string_at"):
        return btf
    from ..btf import BTF

    return BTF.from_bytes(bytes(btf))


def _read_debug_info(env: Env, prog: Any, btf: Any) -> None:
    """Subprogram names and linkage (static or global) from func_info and
    source lines from line_info, when the program's BTF is at hand."""
    if getattr(prog, "func_info", None):
        env.func_info = prog.func_info
    if btf is None:
        return
    for insn_off, type_id in getattr(prog, "func_info", ()) or ():
        try:
            f = btf[type_id]
        except Exception:  # a record naming no function: skip it
            continue
        env.func_names[insn_off] = getattr(f, "name", "") or ""
        linkage = getattr(f, "linkage", 0)
        env.func_linkage[insn_off] = "global" if int(getattr(linkage, "value", linkage)) == 1 \
            else "static"
        env.func_args[insn_off] = _arg_kinds(btf, f)
    rows = []
    for insn_off, file_off, line_off, line_col in getattr(prog, "line_info", ()) or ():
        try:
            rows.append((insn_off, btf.string_at(file_off), btf.string_at(line_off),
                         line_col >> 10))
        except Exception:  # an offset outside the strings: no line
            continue
    env.line_info = sorted(rows)


CTX_TYPE_NAMES = frozenset({"__sk_buff", "xdp_md", "bpf_sock", "bpf_sock_addr", "bpf_sock_ops",
                            "sk_msg_md", "bpf_sk_lookup", "sk_reuseport_md", "bpf_sysctl",
                            "bpf_cgroup_dev_ctx", "bpf_sockopt", "bpf_perf_event_data",
                            "bpf_raw_tracepoint_args", "pt_regs"})


def _arg_kinds(btf: Any, func: Any) -> list[tuple[str, int]]:
    """A function's parameters as the kernel's ``btf_prepare_func_args``
    sees them: ``("scalar", 0)``, ``("ctx", 0)``, ``("mem", size)``, or
    ``("unsupported", 0)``."""
    out: list[tuple[str, int]] = []
    try:
        proto = btf.func_proto(func.id)
    except Exception:  # no prototype: the kernel refuses global functions without one
        return [("unsupported", 0)]
    for p in proto.params:
        try:
            t = btf.resolve(p.type_id)
        except Exception:
            out.append(("unsupported", 0))
            continue
        kind = type(t).__name__
        if kind in ("Int", "Enum", "Enum64"):
            out.append(("scalar", 0))
        elif kind == "Ptr":
            target = btf.resolve(t.type_id)
            name = getattr(target, "name", "") or ""
            if name in CTX_TYPE_NAMES:
                out.append(("ctx", 0))
            else:
                try:
                    size = btf.size_of(t.type_id)
                except Exception:
                    size = 0
                out.append(("mem", size) if size else ("unsupported", 0))
        else:
            out.append(("unsupported", 0))
    return out


def _verify_global_functions(env: Env) -> None:
    """Each global function a verified path called is verified on its own,
    from its BTF argument types (the kernel's ``do_check_subprogs``)."""
    done: set[int] = set()
    while True:
        todo = [i for i, sp in enumerate(env.subprogs)
                if i and sp.is_global and sp.visited and i not in done]
        if not todo:
            return
        for i in todo:
            done.add(i)
            sp = env.subprogs[i]
            if env.log:
                env.log.line(f"Validating {env.subprog_name(i)}() func#{i}...")
            state = initial_state(env, i)
            regs = state.frame[0].regs
            for n, (kind, size) in enumerate(env.func_args.get(sp.start, []), start=1):
                if n > 5:
                    break
                if kind == "scalar":
                    regs[n] = env.unknown()
                elif kind == "ctx":
                    regs[n] = pointer_reg(PTR_TO_CTX)
                elif kind == "mem":
                    r = pointer_reg(PTR_TO_MEM | PTR_MAYBE_NULL, mem_size=size)
                    r.id = env.new_id()
                    regs[n] = r
                else:
                    raise Reject(f"pybpf: global function {env.subprog_name(i)} takes an "
                                 f"argument type pybpf does not model yet", "EINVAL",
                                 unmodelled="this global function argument type")
            for n in range(len(env.func_args.get(sp.start, [])) + 1, 6):
                regs[n] = NOT_INIT_REG
            env.insn_idx = sp.start
            env.prev_insn_idx = -1
            env.explored = {}
            do_check(env, state)


def _verify(env: Env) -> None:
    n = len(env.insns)
    if n == 0:
        raise Reject("pybpf: empty program", "EINVAL")
    if env.prog_type == MEMORY_PROG_TYPE:
        if env.opts.memory_size is None:
            raise Reject("pybpf: a 'memory' program (r1 = a buffer, r2 = its length) is "
                         "verified for one buffer size (verify(..., memory_size=N))", "EINVAL",
                         unmodelled="'memory' programs without a buffer size")
    elif env.prog_type not in KNOWN_PROG_TYPES:
        raise Reject(f"pybpf: unknown program type {env.prog_type!r} (the kernel refuses it "
                     f"before verification, EINVAL)", "EINVAL")
    if not env.bpf_capable and env.prog_type not in UNPRIVILEGED_TYPES:
        raise Reject(f"pybpf: {env.prog_type} programs need CAP_BPF (the kernel refuses to "
                     f"load them unprivileged, EPERM)", "EPERM")
    if not env.bpf_capable and n > BPF_MAXINSNS:
        raise Reject(f"pybpf: {n} instructions exceed the {BPF_MAXINSNS} an unprivileged "
                     f"program may have", "E2BIG")
    if env.prog_type == "syscall" and not env.opts.sleepable:
        raise Reject("Syscall programs can only be sleepable", "EINVAL")
    find_subprogs(env)
    check_subprogs(env)
    resolve_ldimm64(env)
    check_cfg(env)
    compute_live_registers(env)
    env.insn_idx = 0
    env.prev_insn_idx = -1
    do_check(env, initial_state(env))
    _verify_global_functions(env)
    check_max_stack_depth(env)
    _check_fixups(env)


def _check_fixups(env: Env) -> None:
    """What the kernel refuses while rewriting the verified program: a
    reachable kfunc placeholder, an unprivileged tail call through
    different maps on different paths."""
    for pc, a in enumerate(env.aux):
        insn = env.insns[pc]
        if a.seen and insn.opcode == CALL_OPCODE and insn.src == PSEUDO_CALL_KFUNC and \
                not insn.imm:
            env.insn_idx = pc
            raise env.error("invalid kernel function call not eliminated in verifier pass",
                            "EINVAL")
    if env.bpf_capable:
        return
    for pc, a in enumerate(env.aux):
        insn = env.insns[pc]
        if insn.opcode == CALL_OPCODE and insn.src == 0 and insn.imm == env.tail_call_id and \
                a.map_ptr == "poison":
            env.insn_idx = pc
            raise env.error("tail_call abusing map_ptr", "EINVAL")


def _error(env: Env, e: Reject, name: str | None) -> VerificationError:
    message = "\n".join(env.messages) if env.messages and e.message in env.messages \
        else e.message
    pc = env.insn_idx if env.insn_processed else None
    insn = env.insn_text(pc) if pc is not None and pc < len(env.insns) else None
    state = state_str(env.cur) if env.insn_processed else ""
    path = env.cur.path() if env.insn_processed else []
    line = env.source_line(pc) if pc is not None else None
    return VerificationError(message, errno=e.errno, program=name, pc=pc, insn=insn,
                             state=state, path=path, line=line, unmodelled=e.unmodelled)


__all__ = ["InsnFacts", "MapDescription", "VerificationError", "VerifierResult",
           "explain_refusal", "verify", "verify_object"]
