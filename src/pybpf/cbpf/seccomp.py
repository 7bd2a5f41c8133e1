"""seccomp: policies compiled to classic BPF, evaluated in pybpf's VM,
installed in this process or a child.

A :class:`Policy` is a default action, the action for system calls of
another architecture, and rules: a system call by name, conditions on
its 64-bit arguments (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, and
``& mask ==``, all unsigned) and an action (``allow``, ``errno N``,
``deny`` = ``errno EPERM``, ``trap``, ``log``, ``user_notif``, ``trace
N``, ``kill_thread``, ``kill_process``/``kill``).  For one system call,
the first rule whose conditions all hold decides.

>>> policy = Policy(default="allow")
>>> _ = policy.add("openat", "errno EACCES", "arg2 & 3 != 0")   # opening to write
>>> policy.evaluate("openat", [0, 0, 1]).name
'errno 13'

:meth:`Policy.compile` gives the classic program (checked with seccomp's
rules); :meth:`Policy.evaluate` runs it over a ``struct seccomp_data`` in
the VM (its eBPF translation, :mod:`pybpf.cbpf.translate`) or in the
classic interpreter; :func:`install` applies a program to the calling
process (``PR_SET_NO_NEW_PRIVS``, then ``seccomp(SECCOMP_SET_MODE_FILTER)``)
and :func:`run` to a child command.

Policy files are TOML (read with the standard library's ``tomllib``:
comments, no new dependency) or JSON with the same structure::

    default = "allow"              # when no rule matches
    bad_arch = "kill_process"      # for system calls of another ABI (default)
    deny = ["ptrace"]              # shorthands: allow/deny/kill/trap/log lists

    [[rule]]
    syscall = "openat"             # or syscalls = ["open", "openat"]
    action = "errno EPERM"
    args = ["arg1 & 3 != 0"]       # all must hold
"""

from __future__ import annotations

import ctypes
import errno as _errno
import json
import os
import platform
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BPFError, KernelError
from ..spec import seccomp as S
from .check import check
from .insn import Builder, SockFilter, ld_abs, ret
from .sockets import sock_fprog

U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1


class PolicyError(BPFError):
    """A seccomp policy that cannot be read or compiled: names the file,
    the rule and what is wrong."""

    def __init__(self, message: str, *, path: str | None = None, rule: int | None = None):
        self.reason = message
        self.path = path
        self.rule = rule
        where = [p for p in (path, f"rule {rule}" if rule is not None else None) if p]
        super().__init__(("" if not where else ", ".join(where) + ": ") + message)


# --- architectures and system call numbers --------------------------------------------

def native_arch() -> str:
    """This machine's architecture, as :data:`pybpf.spec.seccomp.AUDIT_ARCHES` names it."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "arm64": "aarch64", "i686": "i386", "i586": "i386"}.get(
        machine, machine)


def syscall_table(arch: str | None = None) -> dict[str, int]:
    """System call name -> number for ``arch`` (default: this machine's)."""
    arch = arch or native_arch()
    if arch == "x86_64":
        from ..spec.syscalls_x86_64 import SYSCALLS

        return SYSCALLS
    raise PolicyError(f"no system call table for architecture {arch!r} (pybpf has x86_64's)")


def syscall_number(name: str | int, arch: str | None = None) -> int:
    """The number of system call ``name`` (a number is returned as is)."""
    if isinstance(name, int):
        return name
    if name.isdigit():
        return int(name)
    table = syscall_table(arch)
    if name not in table:
        close = [n for n in table if n.startswith(name[:4])][:5]
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise PolicyError(f"unknown system call {name!r}{hint}")
    return table[name]


def syscall_name(number: int, arch: str | None = None) -> str:
    """The name of system call ``number`` (the number as text when unknown)."""
    for name, n in syscall_table(arch).items():
        if n == number:
            return name
    return str(number)


# --- actions ------------------------------------------------------------------------------

_ACTION_ALIASES = {"kill": "kill_process", "deny": "errno", "notify": "user_notif"}
_TAKES_DATA = ("errno", "trace")


@dataclass(frozen=True)
class Action:
    """A filter verdict: ``kind`` (a key of
    :data:`pybpf.spec.seccomp.ACTIONS`) and its 16-bit ``data`` (the errno
    of ``errno``, the message of ``trace``)."""

    kind: str
    data: int = 0

    @property
    def value(self) -> int:
        """The 32-bit return value of a filter that decides this."""
        return S.ACTIONS[self.kind] | (self.data & S.SECCOMP_RET_DATA)

    @property
    def name(self) -> str:
        """``allow``, ``errno 13``..."""
        return f"{self.kind} {self.data}" if self.kind in _TAKES_DATA else self.kind

    def __str__(self) -> str:
        if self.kind == "errno" and self.data in _errno.errorcode:
            return f"errno {self.data} ({_errno.errorcode[self.data]})"
        return self.name

    @classmethod
    def parse(cls, text: str | Action) -> Action:
        """``allow``, ``deny`` (errno EPERM), ``errno EACCES``, ``errno 13``,
        ``trap``, ``log``, ``user_notif``, ``trace 7``, ``kill``,
        ``kill_thread``, ``kill_process``."""
        if isinstance(text, Action):
            return text
        words = str(text).strip().lower().replace("-", "_").split()
        if not words:
            raise PolicyError("an empty action")
        kind = words[0]
        data = 0
        if kind == "deny" and len(words) == 1:
            data = _errno.EPERM
        kind = _ACTION_ALIASES.get(kind, kind)
        if kind not in S.ACTIONS:
            raise PolicyError(f"unknown action {text!r} (one of allow, deny, errno N, trap, "
                              f"log, user_notif, trace N, kill_thread, kill_process)")
        if len(words) > 2 or (len(words) == 2 and kind not in _TAKES_DATA):
            raise PolicyError(f"action {text!r}: only errno and trace take a value")
        if len(words) == 2:
            arg = words[1].upper()
            if hasattr(_errno, arg):
                data = getattr(_errno, arg)
            else:
                try:
                    data = int(words[1], 0)
                except ValueError:
                    raise PolicyError(f"action {text!r}: {words[1]!r} is neither a number "
                                      f"nor an errno name") from None
            if not 0 <= data <= S.SECCOMP_RET_DATA:
                raise PolicyError(f"action {text!r}: the value must fit in 16 bits")
        elif kind == "errno" and not data:
            data = _errno.EPERM
        return cls(kind, data)

    @classmethod
    def of(cls, value: int) -> Action:
        """The action a filter's 32-bit return ``value`` means (an unknown
        action means kill_process, as in the kernel)."""
        value &= U32
        full = value & S.SECCOMP_RET_ACTION_FULL
        for kind, base in S.ACTIONS.items():
            if full == base:
                data = value & S.SECCOMP_RET_DATA
                return cls(kind, data if kind in _TAKES_DATA else 0)
        return cls("kill_process")


# --- argument conditions ----------------------------------------------------------------------

_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_CONDITION = re.compile(r"^\s*arg([0-5])\s*(?:&\s*(\S+?)\s*)?(==|!=|<=|>=|<|>)\s*(\S+)\s*$")


def parse_value(text: str) -> int:
    """A number, or the name of a constant Python's standard library knows
    (``O_WRONLY``, ``AF_INET``, ``PROT_EXEC``...)."""
    try:
        return int(text, 0)
    except ValueError:
        pass
    import mmap
    import socket

    for module in (os, socket, mmap):
        value = getattr(module, text, None)
        if isinstance(value, int) and text.isupper():
            return int(value)
    raise PolicyError(f"{text!r} is neither a number nor a known constant (O_*, AF_*, "
                      f"SOCK_*, PROT_*, MAP_*)")


@dataclass(frozen=True)
class Arg:
    """A condition on argument ``index`` (0-5): ``arg OP value``, or with
    ``mask``, ``(arg & mask) == value`` (``op`` ``==`` or ``!=``).
    Values are 64-bit and compare unsigned; negative numbers are taken as
    their two's complement (``-1`` is all ones)."""

    index: int
    op: str
    value: int
    mask: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index < S.SECCOMP_DATA_NARGS:
            raise PolicyError(f"argument index {self.index}: system calls have arguments 0 "
                              f"to {S.SECCOMP_DATA_NARGS - 1}")
        if self.op not in _OPERATORS:
            raise PolicyError(f"operator {self.op!r}: one of {', '.join(_OPERATORS)}")
        if self.mask is not None and self.op not in ("==", "!="):
            raise PolicyError("a masked condition compares with == or !=")
        object.__setattr__(self, "value", self.value & U64)
        if self.mask is not None:
            object.__setattr__(self, "mask", self.mask & U64)

    @classmethod
    def parse(cls, text: str | Arg) -> Arg:
        """``arg2 == 5``, ``arg1 & 0x3 != 0``, ``arg0 >= 0x1000``,
        ``arg1 & O_ACCMODE == O_RDONLY``."""
        if isinstance(text, Arg):
            return text
        m = _CONDITION.match(str(text))
        if not m:
            raise PolicyError(f"cannot read condition {text!r} (like 'arg1 == 5' or "
                              f"'arg2 & 0x3 != 0')")
        index, mask, op, value = m.groups()
        return cls(int(index), op, parse_value(value), parse_value(mask) if mask else None)

    def holds(self, args: Sequence[int]) -> bool:
        """Whether the condition holds for argument values ``args``."""
        arg = (args[self.index] if self.index < len(args) else 0) & U64
        if self.mask is not None:
            arg &= self.mask
        return {"==": arg == self.value, "!=": arg != self.value, "<": arg < self.value,
                "<=": arg <= self.value, ">": arg > self.value,
                ">=": arg >= self.value}[self.op]

    def __str__(self) -> str:
        mask = f" & {self.mask:#x}" if self.mask is not None else ""
        return f"arg{self.index}{mask} {self.op} {self.value:#x}"


@dataclass(frozen=True)
class Rule:
    """``syscall``, when all ``conditions`` hold, gets ``action``."""

    syscall: str
    action: Action
    conditions: tuple[Arg, ...] = ()


def seccomp_data(syscall: str | int, args: Sequence[int] = (), *, arch: str | int | None = None,
                 instruction_pointer: int = 0) -> bytes:
    """The 64 bytes of ``struct seccomp_data`` for a call of ``syscall``
    with ``args`` (missing ones 0) on ``arch`` (a name or AUDIT_ARCH value;
    default this machine)."""
    if len(args) > S.SECCOMP_DATA_NARGS:
        raise PolicyError(f"{len(args)} arguments: system calls have at most "
                          f"{S.SECCOMP_DATA_NARGS}")
    arch_name = arch if isinstance(arch, str) else native_arch()
    nr = syscall_number(syscall, arch_name if isinstance(syscall, str) else None)
    if isinstance(arch, int):
        audit = arch
    else:
        audit = S.AUDIT_ARCHES.get(arch_name, 0)
    values = [a & U64 for a in args] + [0] * (S.SECCOMP_DATA_NARGS - len(args))
    order = "<" if sys.byteorder == "little" else ">"
    import struct

    return struct.pack(f"{order}iIQ6Q", nr, audit, instruction_pointer & U64, *values)


# --- policies --------------------------------------------------------------------------------

@dataclass
class Policy:
    """A seccomp policy: ``default`` action, ``bad_arch`` action for
    system calls of another architecture (or of x86-64's x32 ABI), the
    architecture ``arch`` (default this machine's) and ``rules``."""

    default: Action | str = "allow"
    bad_arch: Action | str = "kill_process"
    arch: str = field(default_factory=native_arch)
    rules: list[Rule] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.default = Action.parse(self.default)
        self.bad_arch = Action.parse(self.bad_arch)
        if self.arch not in S.AUDIT_ARCHES:
            raise PolicyError(f"unknown architecture {self.arch!r} (known: "
                              f"{', '.join(S.AUDIT_ARCHES)})")

    # --- building ----------------------------------------------------------------------

    def add(self, syscalls: str | Iterable[str], action: Action | str,
            *conditions: Arg | str) -> Policy:
        """Add a rule for one system call or several (same action and
        conditions); returns the policy, for chaining."""
        names = [syscalls] if isinstance(syscalls, str) else list(syscalls)
        parsed = tuple(Arg.parse(c) for c in conditions)
        act = Action.parse(action)
        for name in names:
            syscall_number(name, self.arch)  # an unknown name fails here
            self.rules.append(Rule(name, act, parsed))
        return self

    def allow(self, *syscalls: str) -> Policy:
        """Allow these system calls unconditionally."""
        return self.add(syscalls, "allow")

    def deny(self, *syscalls: str, errno: int = _errno.EPERM) -> Policy:
        """Make these system calls fail with ``errno`` (EPERM)."""
        return self.add(syscalls, Action("errno", errno))

    def kill(self, *syscalls: str) -> Policy:
        """Kill the process on these system calls."""
        return self.add(syscalls, "kill_process")

    def trap(self, *syscalls: str) -> Policy:
        """Send SIGSYS on these system calls (they do not run)."""
        return self.add(syscalls, "trap")

    def log(self, *syscalls: str) -> Policy:
        """Allow these system calls and log them (the audit log)."""
        return self.add(syscalls, "log")

    def user_notif(self, *syscalls: str) -> Policy:
        """Hand these system calls to a supervisor listening on the
        filter's notification fd (``SECCOMP_FILTER_FLAG_NEW_LISTENER``)."""
        return self.add(syscalls, "user_notif")

    # --- compiling ---------------------------------------------------------------------

    def compile(self) -> list[SockFilter]:
        """The classic program (checked with seccomp's rules)."""
        table = syscall_table(self.arch)
        assert isinstance(self.default, Action) and isinstance(self.bad_arch, Action)
        b = Builder()
        b.emit(ld_abs("w", S.SECCOMP_DATA_ARCH))
        b.jump("jeq", S.AUDIT_ARCHES[self.arch], "arch_ok", None)
        b.emit(ret(self.bad_arch.value))
        b.label("arch_ok")
        b.emit(ld_abs("w", S.SECCOMP_DATA_NR))
        if self.arch == "x86_64":
            b.jump("jge", S.X32_SYSCALL_BIT, None, "native")  # the x32 ABI's numbers
            b.emit(ret(self.bad_arch.value))
            b.label("native")
        by_syscall: dict[str, list[Rule]] = {}
        for rule in self.rules:
            by_syscall.setdefault(rule.syscall, []).append(rule)
        simple: dict[Action, list[int]] = {}
        complex_: list[tuple[int, list[Rule]]] = []
        for name, rules in by_syscall.items():
            nr = table[name] if not name.isdigit() else int(name)
            if not rules[0].conditions:
                simple.setdefault(rules[0].action, []).append(nr)  # later rules never match
            else:
                complex_.append((nr, rules))
        for g, (action, numbers) in enumerate(simple.items()):
            for chunk_start in range(0, len(numbers), 200):
                chunk = sorted(numbers)[chunk_start:chunk_start + 200]
                label = f"simple{g}_{chunk_start}"
                for nr in chunk:
                    b.jump("jeq", nr, label, None)
                b.jump("ja", jt=f"after_{label}")
                b.label(label)
                b.emit(ret(action.value))
                b.label(f"after_{label}")
        for i, (nr, rules) in enumerate(complex_):
            # jeq, then ja past the block: a block may be longer than a
            # conditional jump reaches
            b.jump("jeq", nr, f"is{i}", None)
            b.jump("ja", jt=f"not{i}")
            b.label(f"is{i}")
            for j, rule in enumerate(rules):
                fail = f"rule{i}_{j}_fail"
                for k, cond in enumerate(rule.conditions):
                    self._condition(b, cond, f"rule{i}_{j}_{k}_pass", fail)
                    b.label(f"rule{i}_{j}_{k}_pass")
                b.emit(ret(rule.action.value))
                b.label(fail)
            b.emit(ret(self.default.value))
            b.label(f"not{i}")
        b.emit(ret(self.default.value))
        try:
            program = b.build()
        except ValueError as e:
            raise PolicyError(f"the policy does not compile: {e}") from None
        check(program, seccomp=True)
        return program

    @staticmethod
    def _condition(b: Builder, cond: Arg, passed: str, failed: str) -> None:
        """Compare a 64-bit argument as two 32-bit halves; jump to
        ``passed`` or ``failed`` (falls through to ``passed`` when it is
        the next label)."""
        low_first = sys.byteorder == "little"
        base = S.SECCOMP_DATA_ARGS + 8 * cond.index
        hi_off, lo_off = (base + 4, base) if low_first else (base, base + 4)
        value, op = cond.value, cond.op
        v_hi, v_lo = value >> 32, value & U32

        def load(offset: int, mask: int | None) -> None:
            b.emit(ld_abs("w", offset))
            if mask is not None and mask != U32:
                from .insn import alu

                b.emit(alu("and", mask))

        m_hi = (cond.mask >> 32) if cond.mask is not None else None
        m_lo = (cond.mask & U32) if cond.mask is not None else None
        if op in ("==", "!="):
            equal, differ = (passed, failed) if op == "==" else (failed, passed)
            if m_hi == 0 and v_hi:
                b.jump("ja", jt=differ)  # the masked high half is 0: never equal
                return
            if m_hi != 0:  # a mask with no high bits leaves 0 == 0 there
                load(hi_off, m_hi)
                b.jump("jeq", v_hi, None, differ)
            if m_lo == 0:
                b.jump("ja", jt=differ if v_lo else equal)
                return
            load(lo_off, m_lo)
            b.jump("jeq", v_lo, equal, differ)
            return
        # unsigned 64-bit order: the high halves decide unless they are equal
        above, below = (passed, failed) if op in (">", ">=") else (failed, passed)
        load(hi_off, None)
        b.jump("jgt", v_hi, above, None)
        b.jump("jeq", v_hi, None, below)
        load(lo_off, None)
        if op in (">", "<="):
            b.jump("jgt", v_lo, above, below)
        else:
            b.jump("jge", v_lo, above, below)

    # --- evaluating --------------------------------------------------------------------

    def decide(self, syscall: str | int, args: Sequence[int] = ()) -> Action:
        """What the policy means for a call, read from its rules (no BPF):
        the reference :meth:`evaluate` is tested against."""
        nr = syscall_number(syscall, self.arch)
        for rule in self.rules:
            if syscall_number(rule.syscall, self.arch) != nr:
                continue
            if all(c.holds(args) for c in rule.conditions):
                return rule.action
        assert isinstance(self.default, Action)
        return self.default

    def evaluate(self, syscall: str | int, args: Sequence[int] = (), *,
                 arch: str | int | None = None, instruction_pointer: int = 0,
                 backend: str = "vm") -> Action:
        """The action the compiled policy gives a call: its program run
        over the call's ``seccomp_data`` in the VM (``backend="vm"``, the
        eBPF translation), the classic interpreter (``"interp"``) or the
        kernel (``"kernel"``: the translation as a test-run ``syscall``
        program)."""
        nr = syscall_number(syscall, self.arch)
        data = seccomp_data(nr, args, arch=arch if arch is not None else self.arch,
                            instruction_pointer=instruction_pointer)
        return Action.of(run_filter(self.compile(), data, backend=backend))

    # --- files ---------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, path: str | None = None) -> Policy:
        """A policy from the structure of a policy file."""
        known = {"default", "bad_arch", "arch", "rule", "rules", "allow", "deny", "kill", "trap",
                 "log", "user_notif"}
        unknown = set(data) - known
        if unknown:
            raise PolicyError(f"unknown keys {sorted(unknown)} (known: {sorted(known)})",
                              path=path)
        try:
            policy = cls(default=data.get("default", "allow"),
                         bad_arch=data.get("bad_arch", "kill_process"),
                         arch=data.get("arch", native_arch()))
        except PolicyError as e:
            raise PolicyError(e.reason, path=path) from None
        for key in ("allow", "deny", "kill", "trap", "log", "user_notif"):
            names = data.get(key, [])
            if isinstance(names, str):
                names = [names]
            try:
                policy.add(names, key)
            except PolicyError as e:
                raise PolicyError(f"{key}: {e.reason}", path=path) from None
        rules = data.get("rule", data.get("rules", []))
        if isinstance(rules, dict):
            rules = [rules]
        for n, rule in enumerate(rules, 1):
            try:
                if not isinstance(rule, dict):
                    raise PolicyError("a rule is a table (syscall, action, args)")
                extra = set(rule) - {"syscall", "syscalls", "action", "args"}
                if extra:
                    raise PolicyError(f"unknown keys {sorted(extra)}")
                names = rule.get("syscalls", rule.get("syscall"))
                if not names or "action" not in rule:
                    raise PolicyError("a rule needs a syscall (or syscalls) and an action")
                args = rule.get("args", [])
                if isinstance(args, str):
                    args = [args]
                policy.add(names, rule["action"], *args)
            except PolicyError as e:
                raise PolicyError(e.reason, path=path, rule=n) from None
        return policy

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read a policy file: TOML, or JSON for a ``.json`` name."""
        p = Path(path)
        try:
            text = p.read_text()
        except OSError as e:
            raise PolicyError(f"cannot read: {e.strerror}", path=str(p)) from None
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                import tomllib

                data = tomllib.loads(text)
        except ValueError as e:  # json.JSONDecodeError and tomllib.TOMLDecodeError
            raise PolicyError(f"not valid {'JSON' if p.suffix == '.json' else 'TOML'}: {e}",
                              path=str(p)) from None
        if not isinstance(data, dict):
            raise PolicyError("the policy is a table at the top level", path=str(p))
        return cls.from_dict(data, path=str(p))


# --- running and installing ------------------------------------------------------------------

class FilterRunner:
    """A seccomp filter loaded once for many runs over ``seccomp_data``
    bytes: in the VM (``backend="vm"``, the eBPF translation as a
    ``syscall`` program), the classic interpreter (``"interp"``) or the
    kernel (``"kernel"``: the translation test-run as a ``syscall``
    program).  Call it with the data; it returns the filter's 32-bit value."""

    BACKENDS = ("vm", "interp", "kernel")

    def __init__(self, program: Sequence[SockFilter] | Policy, backend: str = "vm"):
        if backend not in self.BACKENDS:
            raise ValueError(f"backend {backend!r}: one of {', '.join(self.BACKENDS)}")
        self.program = program.compile() if isinstance(program, Policy) else list(program)
        self.backend = backend
        self._kernel: Any = None
        if backend == "interp":
            from .interp import Machine

            self._machine = Machine(self.program, seccomp=True)
            return
        from .translate import translate

        insns = translate(self.program, seccomp=True).instructions
        if backend == "vm":
            from ..vm import VM

            self._vm_prog = VM().load(insns, prog_type="syscall")
        else:
            from ..kernel import KernelProgram

            self._kernel = KernelProgram.load(insns, "syscall", sleepable=True, name="seccomp")

    def __call__(self, data: bytes) -> int:
        if self.backend == "interp":
            return self._machine.run(data).value
        if self.backend == "vm":
            return self._vm_prog.test_run(ctx=data).retval
        return self._kernel.test_run(ctx=data).retval

    def close(self) -> None:
        """Unload the kernel program, if any."""
        if self._kernel is not None:
            self._kernel.close()
            self._kernel = None

    def __enter__(self) -> FilterRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_filter(program: Sequence[SockFilter], data: bytes, *, backend: str = "vm") -> int:
    """The 32-bit value a seccomp filter returns over ``seccomp_data`` bytes
    (one run; :class:`FilterRunner` for many)."""
    with FilterRunner(program, backend) as runner:
        return runner(data)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def install(program: Sequence[SockFilter] | Policy, *, flags: int = 0,
            no_new_privs: bool = True) -> int:
    """Install a seccomp filter in the calling thread (and, with
    ``SECCOMP_FILTER_FLAG_TSYNC``, the whole process): irreversible.

    Sets ``PR_SET_NO_NEW_PRIVS`` first (which unprivileged callers need)
    unless ``no_new_privs`` is False.  Returns the listener fd when
    ``flags`` has ``SECCOMP_FILTER_FLAG_NEW_LISTENER``, else 0.
    """
    if isinstance(program, Policy):
        program = program.compile()
    program = list(program)
    check(program, seccomp=True)
    libc = _libc()
    if no_new_privs and libc.prctl(S.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise KernelError(f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(err)}", errno=err,
                          operation="prctl(PR_SET_NO_NEW_PRIVS)")
    fprog, buffer = sock_fprog(program)
    arg = ctypes.create_string_buffer(fprog, len(fprog))
    nr = S.NR_SECCOMP.get(native_arch())
    if nr is None:
        raise PolicyError(f"no seccomp() system call number for {native_arch()}")
    libc.syscall.restype = ctypes.c_long
    rc = libc.syscall(ctypes.c_long(nr), ctypes.c_long(S.SECCOMP_SET_MODE_FILTER),
                      ctypes.c_long(flags), arg)
    del buffer
    if rc < 0:
        err = ctypes.get_errno()
        raise KernelError(f"seccomp(SECCOMP_SET_MODE_FILTER): {os.strerror(err)}", errno=err,
                          operation="seccomp(SECCOMP_SET_MODE_FILTER)")
    return int(rc)


def run(command: Sequence[str], program: Sequence[SockFilter] | Policy, **popen: Any
        ) -> subprocess.CompletedProcess:
    """Run ``command`` under the filter and wait for it: the filter is
    installed in the child between fork and exec (so it must allow what
    exec needs: ``execve`` and, with Python's subprocess, ``close_range``
    or ``close``).  ``popen`` goes to :func:`subprocess.run`."""
    filt = program.compile() if isinstance(program, Policy) else list(program)
    check(filt, seccomp=True)
    fprog, buffer = sock_fprog(filt)
    prepared = ctypes.create_string_buffer(fprog, len(fprog))
    nr = S.NR_SECCOMP.get(native_arch())
    if nr is None:
        raise PolicyError(f"no seccomp() system call number for {native_arch()}")
    libc = _libc()
    libc.syscall.restype = ctypes.c_long

    def in_child() -> None:
        # between fork and exec: ctypes calls only; an exception here makes
        # subprocess raise SubprocessError in the parent
        if libc.prctl(S.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if libc.syscall(ctypes.c_long(nr), ctypes.c_long(S.SECCOMP_SET_MODE_FILTER),
                        ctypes.c_long(0), prepared) < 0:
            raise OSError(ctypes.get_errno(), "seccomp(SECCOMP_SET_MODE_FILTER)")

    try:
        return subprocess.run(list(command), preexec_fn=in_child, **popen)
    except subprocess.SubprocessError as e:
        raise KernelError(f"{command[0]}: the filter could not be installed in the child "
                          f"({e})", operation="seccomp(SECCOMP_SET_MODE_FILTER)") from None
    finally:
        del buffer
