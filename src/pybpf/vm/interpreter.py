"""The reference interpreter.

A program is decoded once into Python code: each basic block becomes a run
of the statements the semantics table (:mod:`pybpf.vm.semantics`) gives for
its instructions, with the registers held in local variables.  This module
adds only what surrounds them: blocks, the jumps between them, the pc an
error names, tracing and the instruction limit.  Blocks are laid out in
program order inside one ``while True`` loop and found by a tree of ``pc``
comparisons, so falling through or jumping forward costs a comparison or two
and a backward jump one pass from the top.  This keeps the interpreter
plain (the statements are the specification) while running at tens of
nanoseconds per instruction instead of hundreds.

Every memory access goes through the :class:`~pybpf.vm.memory.AddressSpace`;
bpf-to-bpf calls get a fresh stack frame region each; helpers are Python
callables looked up by id when the program is prepared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import (
    BPFError,
    CallDepthExceeded,
    HelperError,
    InstructionLimitExceeded,
    VMError,
)
from ..isa import Insn, OpForm, format_insn, lddw_value
from ..spec import constant
from ..spec.defines import CORE_POISON_HELPER_ID
from ..spec.net import SKF_LL_OFF, SKF_NET_OFF
from .memory import AddressSpace, Region
from .semantics import (
    M64,
    RUNTIME_NAMES,
    Control,
    Operands,
    Semantics,
    helper_name,
    semantics_of,
)
from .semantics import TAIL_CALL_ID as TAIL_CALL_ID  # the machine performs tail calls

Helper = Callable[[int, int, int, int, int], int]

#: The kernel's budget for may_goto loops (BPF_MAX_LOOPS).
MAY_GOTO_BUDGET = constant("BPF_MAX_LOOPS")
#: Blocks tested one after another at the leaves of the dispatch tree.
_LEAF_BLOCKS = 6


class _PacketAbort(Exception):
    """A legacy packet load went out of bounds: the program returns 0."""


class StackFrames:
    """The stack: one region of ``frame_size`` bytes per call depth.

    Frame 0 sits at the top; deeper frames below it, so a frame's r10 is the
    end of its region.  Only the frames of calls in progress are reachable.
    """

    def __init__(self, space: AddressSpace, frame_size: int = 512, max_depth: int = 8):
        self.space = space
        self.frame_size = frame_size
        self.max_depth = max_depth
        self._storage = bytearray(frame_size * max_depth)
        view = memoryview(self._storage)
        self.frames: list[Region] = []
        for depth in range(max_depth):
            lo = (max_depth - 1 - depth) * frame_size
            region = Region(f"frame{depth}", view[lo:lo + frame_size], kind="stack")
            region.active = False
            space.map(region)
            self.frames.append(region)
        self.depth = -1

    def enter(self, depth: int) -> int:
        """Activate (and zero) the frame for ``depth``; returns its r10."""
        if depth >= self.max_depth:
            raise CallDepthExceeded(f"call depth limit exceeded: more than {self.max_depth} "
                                    f"nested frames")
        region = self.frames[depth]
        region.view[:] = bytes(self.frame_size)
        region.active = True
        self.depth = depth
        return region.end

    def leave(self, depth: int) -> None:
        """Deactivate the frame for ``depth``."""
        self.frames[depth].active = False
        self.depth = depth - 1
        self.space.forget_hot()

    def reset(self) -> None:
        """Deactivate every frame (after a run ends, normally or not)."""
        for region in self.frames:
            region.active = False
        self.depth = -1
        self.space.forget_hot()


class CompiledProgram:
    """A program decoded into Python, bound to an address space and helpers.

    ``helpers`` maps helper ids to callables taking r1..r5 and returning r0.
    ``resolve_pseudo(pc, form, imm, next_imm)`` gives the value of a pseudo
    ``lddw`` (map references); ``packet()`` returns ``(buffer, start, end,
    mac, net)``, the bytes legacy packet loads read and where the link-layer
    and network headers start.  ``trace(pc, regs)`` is called after
    every instruction when given.
    """

    def __init__(self, insns: Sequence[Insn], *, space: AddressSpace, stack: StackFrames,
                 helpers: Mapping[int, Helper],
                 resolve_pseudo: Callable[[int, OpForm, int, int], int] | None = None,
                 packet: Callable[[], tuple[bytearray, int, int, int, int] | None] | None = None,
                 trace: Callable[[int, tuple[int, ...]], None] | None = None,
                 max_insns: int | None = None, name: str = "prog",
                 arena_base: int = 0, code: Region | None = None,
                 tail_call: Callable[[int, int, int, int], tuple[int, int] | None] | None = None):
        self.insns = [Insn(*i) for i in insns]
        self.name = name
        self.space = space
        self.stack = stack
        self.helpers = helpers
        self.max_insns = max_insns
        self._resolve_pseudo = resolve_pseudo
        self._packet = packet
        self._tail_call = tail_call
        self.code = code if code is not None else code_region(space, self.insns, name)
        self.entries = _function_entries(self.insns)
        self._pseudo = self._pseudo_values()
        self.source = generate(self.insns, trace=trace is not None, max_insns=max_insns,
                               pseudo=self._pseudo)
        namespace: dict[str, Any] = dict(RUNTIME_NAMES)
        namespace.update(self._runtime_names(trace, arena_base))
        exec(compile(self.source, f"<bpf program {name}>", "exec"), namespace)
        self._run = namespace["run"]
        self._namespace = namespace
        self._steps: dict[int, Callable[..., list[int]]] = {}
        self.insn_count = 0

    # --- running ----------------------------------------------------------------

    def run(self, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0, r5: int = 0) -> int:
        """Run from the first instruction in a fresh frame 0; returns r0."""
        self.insn_count = 0
        r10 = self.stack.enter(0)
        try:
            r0, n = self._run(0, r1, r2, r3, r4, r5, r10, 0)
        except _PacketAbort:
            r0, n = 0, self._aborted_count
        finally:
            self.stack.reset()
        self.insn_count += n
        return r0

    def invoke(self, address: int, r1: int = 0, r2: int = 0, r3: int = 0, r4: int = 0,
               r5: int = 0) -> int:
        """Call the subprogram at code ``address`` in a new frame (for helpers
        that take callbacks, like bpf_loop); returns its r0."""
        pc = self.function_at(address)
        if pc is None:
            raise HelperError(f"callback address {address:#x} is not a function of "
                              f"program {self.name}")
        depth = self.stack.depth + 1
        r10 = self.stack.enter(depth)
        try:
            r0, n = self._run(pc, r1 & M64, r2 & M64, r3 & M64, r4 & M64, r5 & M64, r10,
                              depth)
        finally:
            self.stack.leave(depth)
        self.insn_count += n
        return r0

    def run_in_frame(self, r1: int, depth: int) -> tuple[int, int]:
        """Run from the first instruction in the already active frame
        ``depth`` (a tail call reuses its caller's frame); returns (r0,
        instructions executed)."""
        return self._run(0, r1, 0, 0, 0, 0, self.stack.frames[depth].end, depth)

    def execute(self, pc: int, registers: list[int]) -> bool:
        """Run the one instruction at ``pc`` on ``registers`` (r0..r10,
        updated in place) as the generated code runs it; False when a legacy
        packet load went out of bounds (the program then returns 0).

        For a compiler's slow paths: the JIT hands the interpreter the
        instructions it does not translate (and accesses that need the
        address space's care), so their behaviour and errors are this
        specification's.  Control transfers are not run this way.
        """
        step = self._steps.get(pc)
        if step is None:
            insn = self.insns[pc]
            sem = semantics_of(insn.form)
            value = None
            if sem.operation == "load_imm64":
                value = lddw_value(self.insns, pc) if sem.reference is None \
                    else self._pseudo.get(pc)
            body = sem.statement_for(_operands(pc, insn, value)).splitlines() or ["pass"]
            regs = ", ".join(f"r{i}" for i in range(11))
            source = "\n".join([f"def step({regs}):", *("    " + line for line in body),
                                f"    return [{regs}]"])
            namespace = dict(self._namespace)
            exec(compile(source, f"<bpf program {self.name} pc {pc}>", "exec"), namespace)
            step = self._steps[pc] = namespace["step"]
        try:
            registers[:] = step(*registers)
        except _PacketAbort:
            return False
        return True

    def function_address(self, pc: int) -> int:
        """The code address programs see for the instruction at ``pc``."""
        return self.code.start + 8 * pc

    def function_at(self, address: int) -> int | None:
        """The pc of the function entry at code ``address``, or None."""
        off = address - self.code.start
        if off < 0 or off % 8 or off // 8 not in self.entries:
            return None
        return off // 8

    # --- the names generated code uses --------------------------------------------

    def _runtime_names(self, trace, arena_base: int) -> dict[str, Any]:
        space = self.space
        names: dict[str, Any] = {
            "ENTER": self.stack.enter, "LEAVE": self.stack.leave,
            "ARENA_BASE": arena_base, "MAY_GOTO_BUDGET": MAY_GOTO_BUDGET,
            "LOCATE": self._locate, "RAN_OFF": self._ran_off, "OVER_LIMIT": self._over_limit,
            "CALLX": self._callx, "PACKET": self._packet_load, "TRACE": trace,
            "VMError": VMError, "TAILCALL": self._tail_call_or_fall_through,
        }
        for size in (1, 2, 4, 8):
            names[f"LD{size}"] = space.loader(size)
            names[f"ST{size}"] = space.storer(size)
        for size in (1, 2, 4):
            names[f"LDS{size}"] = space.loader(size, signed=True)
        for insn in self.insns:
            form = insn.form
            if form is not None and semantics_of(form).operation == "call_helper":
                names[helper_name(insn.imm)] = self._helper(insn.imm)
        return names

    def _helper(self, helper_id: int) -> Helper:
        fn = self.helpers.get(helper_id)
        if fn is not None:
            return fn
        if helper_id == CORE_POISON_HELPER_ID:
            message = ("a CO-RE relocation of this instruction could not be resolved against "
                       "the target kernel's BTF")
        else:
            message = f"unknown helper function #{helper_id}"

        def missing(*_args: int) -> int:
            raise HelperError(message)

        return missing

    def _tail_call_or_fall_through(self, r1: int, r2: int, r3: int, depth: int
                                   ) -> tuple[int, int] | None:
        if self._tail_call is None:
            return None
        return self._tail_call(r1, r2, r3, depth)

    def _pseudo_values(self) -> dict[int, int | None]:
        """The value of every pseudo lddw, None where nothing resolves it."""
        values: dict[int, int | None] = {}
        for pc, insn in enumerate(self.insns):
            form = insn.form
            sem = semantics_of(form) if form is not None else None
            if sem is None or sem.operation != "load_imm64" or sem.reference is None:
                continue
            if sem.enters_function:  # lddw func: the function's code address
                values[pc] = self.function_address(sem.target_pc(_operands(pc, insn)))
            elif self._resolve_pseudo is not None:
                values[pc] = self._resolve_pseudo(pc, form, insn.imm, self.insns[pc + 1].imm)
            else:
                values[pc] = None
        return values

    def _callx(self, target: int) -> tuple[bool, Any]:
        pc = self.function_at(target)
        if pc is not None:
            return False, pc
        fn = self.helpers.get(target) if 0 <= target < (1 << 32) else None
        if fn is not None:
            return True, fn
        raise VMError(f"callx to {target:#x}: neither a function of this program nor a "
                      f"helper id")

    def _packet_load(self, offset: int, size: int) -> int:
        packet = self._packet() if self._packet else None
        if packet is None:
            raise VMError("legacy packet load (ld_abs/ld_ind) without a packet")
        buffer, start, end, mac, net = packet
        if offset < 0:
            # Offsets from SKF_NET_OFF and SKF_LL_OFF address the network and
            # link-layer headers whatever the program's data start.
            if offset >= SKF_NET_OFF:
                start, offset = net, offset - SKF_NET_OFF
            elif offset >= SKF_LL_OFF:
                start, offset = mac, offset - SKF_LL_OFF
            else:
                raise _PacketAbort
        if start + offset + size > end:
            raise _PacketAbort
        return int.from_bytes(buffer[start + offset:start + offset + size], "big")

    def _locate(self, error: BaseException, pc: int, n: int) -> BaseException:
        """Attach the pc and instruction to an error raised while running."""
        if isinstance(error, _PacketAbort):
            self._aborted_count = n
            return error
        text = self.describe(pc)
        if isinstance(error, VMError):
            if error.pc is None:
                error.pc, error.insn = pc, text
                error.args = (f"pc {pc} ({text}): {error.reason}",)
            return error
        if isinstance(error, BPFError):
            return error
        form = self.insns[pc].form if 0 <= pc < len(self.insns) else None
        if form is not None and semantics_of(form).operation in ("call_helper", "callx"):
            wrapped = HelperError(f"helper raised {type(error).__name__}: {error}", pc=pc,
                                  insn=text)
            wrapped.__cause__ = error
            return wrapped
        return error

    def _ran_off(self, pc: int) -> VMError:
        return VMError("execution ran past the last instruction", pc=pc, insn=self.describe(pc))

    def _over_limit(self, pc: int, n: int) -> InstructionLimitExceeded:
        return InstructionLimitExceeded(
            f"instruction limit exceeded: {n} executed, limit {self.max_insns}",
            pc=pc, insn=self.describe(pc))

    def describe(self, pc: int) -> str:
        """The instruction at ``pc`` as uBPF-syntax text."""
        if not 0 <= pc < len(self.insns):
            return "<outside the program>"
        tail = self.insns[pc + 1] if pc + 1 < len(self.insns) else None
        return format_insn(self.insns[pc], tail if self.insns[pc].is_lddw else None, pc=pc)


def code_region(space: AddressSpace, insns: Sequence[Insn], name: str) -> Region:
    """Map a program's bytecode read-only; function pointers are addresses in it."""
    from ..isa import encode

    return space.map_buffer(bytearray(encode(insns)) or bytearray(8), f"{name} code",
                            kind="code", writable=False)


# --- code generation --------------------------------------------------------------

def _forms(insns: Sequence[Insn]) -> list[OpForm | None]:
    """Each slot's form (None for an invalid slot or the second half of lddw)."""
    return [insn.form for insn in insns]


def _function_entries(insns: Sequence[Insn], forms: Sequence[OpForm | None] | None = None
                      ) -> set[int]:
    entries = {0}
    for pc, form in enumerate(forms if forms is not None else _forms(insns)):
        if form is None:
            continue
        sem = semantics_of(form)
        if sem.enters_function:
            entries.add(sem.target_pc(_operands(pc, insns[pc])))
    return entries


def _operands(pc: int, insn: Insn, value: int | None = None) -> Operands:
    return Operands(pc, insn.dst, insn.src, insn.off, insn.imm, value)


def _blocks(insns: Sequence[Insn], forms: Sequence[OpForm | None]) -> list[tuple[int, int]]:
    """Basic blocks as (start, end) slot ranges."""
    n = len(insns)
    leaders = _function_entries(insns, forms)
    pc = 0
    while pc < n:
        form = forms[pc]
        size = form.slots if form is not None else 1
        if form is not None:
            sem = semantics_of(form)
            if sem.control is not Control.NEXT:
                if sem.target is not None:
                    leaders.add(sem.target_pc(_operands(pc, insns[pc])))
                leaders.add(pc + size)
        pc += size
    starts = sorted(p for p in leaders if 0 <= p < n)
    return [(s, starts[i + 1] if i + 1 < len(starts) else n) for i, s in enumerate(starts)]


class _Writer:
    def __init__(self, insns: Sequence[Insn], pseudo: Mapping[int, int | None] | None,
                 trace: bool) -> None:
        self.lines: list[str] = []
        self.depth = 0
        self.insns = insns
        self.forms = _forms(insns)
        self.pseudo = dict(pseudo or {})
        self.trace = trace

    def __call__(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)


def generate(insns: Sequence[Insn], *, trace: bool = False, max_insns: int | None = None,
             pseudo: Mapping[int, int | None] | None = None) -> str:
    """The Python source of ``run(pc, r1, r2, r3, r4, r5, r10, depth)`` for a
    valid program; ``run`` returns ``(r0, instructions executed)``.

    ``pseudo`` gives the value of each pseudo ``lddw`` by pc (None: the
    reference could not be resolved and executing it is an error).
    """
    out = _Writer(insns, pseudo, trace)
    blocks = _blocks(insns, out.forms)
    out("def run(pc, r1, r2, r3, r4, r5, r10, depth):")
    out.depth = 1
    out("r0 = r6 = r7 = r8 = r9 = 0")
    out("n = 0")
    out("at = pc")
    out("frames = []")
    if any(f is not None and semantics_of(f).operation == "may_goto" for f in out.forms):
        out("budget = MAY_GOTO_BUDGET")
    out("try:")
    out.depth = 2
    out("while True:")
    out.depth = 3
    if max_insns is not None:
        out(f"if n > {max_insns}:")
        out("    raise OVER_LIMIT(pc, n)")
    _emit_tree(out, blocks)
    out("raise RAN_OFF(pc)")
    out.depth = 1
    out("except BaseException as error:")
    out("    raise LOCATE(error, at, n)")
    return "\n".join(out.lines) + "\n"


def _emit_tree(out: _Writer, blocks: list[tuple[int, int]]) -> None:
    if len(blocks) <= _LEAF_BLOCKS:
        for start, end in blocks:
            out(f"if pc == {start}:")
            out.depth += 1
            _emit_block(out, start, end)
            out.depth -= 1
        return
    mid = len(blocks) // 2
    out(f"if pc < {blocks[mid][0]}:")
    out.depth += 1
    _emit_tree(out, blocks[:mid])
    out.depth -= 1
    _emit_tree(out, blocks[mid:])


def _emit_block(out: _Writer, start: int, end: int) -> None:
    insns = out.insns
    count = sum(1 for pc in range(start, end) if not (pc > start and insns[pc - 1].is_lddw))
    out(f"n += {count}")
    pc = start
    while pc < end:
        form = out.forms[pc]
        assert form is not None, f"invalid instruction at {pc}: validate before compiling"
        sem = semantics_of(form)
        _emit_insn(out, pc, sem, start)
        if sem.control is Control.NEXT:
            if out.trace:
                out(_trace(pc))
            if pc + form.slots >= end:
                _goto(out, end, start, len(insns))
        pc += form.slots


def _trace(pc: int) -> str:
    return f"TRACE({pc}, (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10))"


def _emit_insn(out: _Writer, pc: int, sem: Semantics, block_start: int) -> None:
    """The instruction's statement from the semantics table, with the control
    flow around it: the trace call before a transfer, the pc an error names,
    and the jump to the target."""
    insns = out.insns
    control = sem.control
    if out.trace and control is not Control.NEXT:
        out(_trace(pc))
    if sem.faults:
        out(f"at = {pc}")
    value = None
    if sem.operation == "load_imm64":
        value = lddw_value(insns, pc) if sem.reference is None else out.pseudo.get(pc)
    operands = _operands(pc, insns[pc], value)
    for line in sem.statement_for(operands).splitlines():
        out(line)
    n = len(insns)
    if control is Control.JUMP or control is Control.CALL:
        _goto(out, sem.target_pc(operands), block_start, n)
    elif control is Control.BRANCH:
        _branch(out, sem.condition_for(operands), sem.target_pc(operands), pc + 1,
                block_start, n)


def _goto(out: _Writer, target: int, block_start: int, n: int) -> None:
    """Continue at ``target``: forward targets are found by the checks that
    follow; backward ones need a new pass of the dispatch loop."""
    if target >= n:
        out(f"raise RAN_OFF({n - 1})")
        return
    out(f"pc = {target}")
    if target <= block_start:
        out("continue")


def _branch(out: _Writer, condition: str, taken: int, fallthrough: int, block_start: int,
            n: int) -> None:
    if taken < n and fallthrough < n and taken > block_start:
        out(f"pc = {taken} if {condition} else {fallthrough}")
        return
    out(f"if {condition}:")
    out.depth += 1
    _goto(out, taken, block_start, n)
    out.depth -= 1
    _goto(out, fallthrough, block_start, n)
