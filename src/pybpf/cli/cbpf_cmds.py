"""``pybpf cbpf`` and ``pybpf seccomp``: classic BPF programs assembled,
disassembled, checked, run and translated to eBPF; seccomp policies
compiled, evaluated and applied to a command.

``pybpf cbpf asm|disasm|check|run|translate FILE`` read a classic program
in any of its text forms (``bpf_asm`` source, ``tcpdump -d``/``-dd``/
``-ddd`` output, ``bpf_asm`` output) or as raw ``struct sock_filter``
bytes.  ``pybpf seccomp compile|eval|run POLICY`` read a policy file (TOML,
or JSON for a ``.json`` name; see :mod:`pybpf.cbpf.seccomp`).  The library
does the work (:mod:`pybpf.cbpf`); this module prints.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any

from ..errors import AssemblerError, BPFError
from .output import add_output_options, json_mode, print_json

DUMP_FORMATS = ("d", "dd", "ddd")


# --- reading ----------------------------------------------------------------------------------

def read_classic_program(path: str) -> list[Any]:
    """The classic program in ``path`` (``-``: standard input): any text
    form, or raw ``struct sock_filter`` bytes."""
    from ..cbpf.asm import parse_program
    from ..cbpf.insn import decode
    from ..spec.cbpf import BPF_MAXINSNS
    from .inputs import read_bytes

    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\0" in text:
        if len(data) % 8:
            raise BPFError(f"{path}: {len(data)} bytes of binary data are not whole "
                           f"8-byte sock_filter instructions")
        if len(data) // 8 > BPF_MAXINSNS:
            raise BPFError(f"{path}: {len(data) // 8} sock_filter instructions: a classic "
                           f"program has at most {BPF_MAXINSNS}")
        program = decode(data)
    else:
        with about(path):
            program = parse_program(text, source=None if path == "-" else path)
    if not program:
        raise BPFError(f"{path}: no instructions")
    return program


@contextlib.contextmanager
def about(path: str) -> Iterator[None]:
    """Errors raised inside name ``path`` first, unless they already do."""
    try:
        yield
    except BPFError as e:
        if str(e).startswith(path):
            raise
        if isinstance(e, AssemblerError):  # keeps its line for the CLI's caret
            e.args = (f"{path}: {e}",)
            raise
        raise BPFError(f"{path}: {e}") from None


def _add_dump_options(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-d", dest="format", action="store_const", const="d",
                       help=f"print {what} as tcpdump -d does (readable, numbered)")
    group.add_argument("-dd", dest="format", action="store_const", const="dd",
                       help=f"print {what} as tcpdump -dd does (a C array)")
    group.add_argument("-ddd", dest="format", action="store_const", const="ddd",
                       help=f"print {what} as tcpdump -ddd does (decimal numbers)")
    group.add_argument("-c", dest="format", action="store_const", const="c",
                       help=f"print {what} as bpf_asm -c does (a C array)")
    group.add_argument("--asm", dest="format", action="store_const", const="asm",
                       help=f"print {what} as bpf_asm source (labels at jump targets)")
    group.add_argument("--bpf-asm", dest="format", action="store_const", const="bpf_asm",
                       help=f"print {what} as bpf_asm prints it ('N,code jt jf k,...', "
                            f"the form tc and xt_bpf take)")


def _print_program(args: argparse.Namespace, program: list[Any], default: str) -> None:
    from ..cbpf import disasm

    fmt = args.format or default
    if getattr(args, "output", None):
        from ..cbpf.insn import encode

        try:
            with open(args.output, "wb") as f:
                f.write(encode(program))
        except OSError as e:
            raise BPFError(f"{args.output}: {e.strerror or e}") from None
        return
    if json_mode(args):
        print_json(args, [{"code": i.code, "jt": i.jt, "jf": i.jf, "k": i.k} for i in program])
    elif fmt in DUMP_FORMATS:
        sys.stdout.write(disasm.dump(program, fmt))
    elif fmt == "asm":
        sys.stdout.write(disasm.disassemble(program))
    else:
        sys.stdout.write(disasm.bpf_asm_output(program, c_style=fmt == "c"))


# --- pybpf cbpf ---------------------------------------------------------------------------------

def _cmd_asm(args: argparse.Namespace) -> int:
    _print_program(args, read_classic_program(args.file), "bpf_asm")
    return 0


def _cmd_disasm(args: argparse.Namespace) -> int:
    _print_program(args, read_classic_program(args.file), "asm")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    import errno
    import os

    from ..cbpf.check import check

    program = read_classic_program(args.file)
    with about(args.file):
        check(program, seccomp=args.seccomp)
    verdicts = {"pybpf": "accepted"}
    if args.kernel:
        from ..cbpf.sockets import kernel_accepts

        err = kernel_accepts(program)
        if err:
            raise BPFError(f"{args.file}: pybpf's checker accepts it but the kernel refuses "
                           f"it as a socket filter: {errno.errorcode.get(err, err)} "
                           f"({os.strerror(err)})")
        verdicts["kernel"] = "accepted"
    kind = "seccomp filter" if args.seccomp else "socket filter"
    if json_mode(args):
        print_json(args, {"file": args.file, "instructions": len(program), "kind": kind,
                          **verdicts})
    else:
        by = " and the kernel" if args.kernel else ""
        print(f"{args.file}: {len(program)} instructions, a valid {kind} (pybpf's checker"
              f"{by})")
    return 0


def _parse_hex(text: str, option: str) -> bytes:
    import re

    cleaned = re.sub(r"[\s:]", "", text)
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise BPFError(f"{option} must be hex bytes, for example {option} "
                       f"'45 00 00 1c ...'") from None


def _parse_number(text: str, option: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise BPFError(f"{option} {text!r}: not a number") from None


BACKEND_LABELS = {"interp": "classic interpreter", "vm": "eBPF in the VM",
                  "kernel": "eBPF in the kernel (test run)"}


def _cmd_run(args: argparse.Namespace) -> int:
    from ..cbpf.backends import guess_protocol, run_everywhere

    program = read_classic_program(args.file)
    packet = _parse_hex(args.packet, "--packet")
    protocol = guess_protocol(packet) if args.protocol is None else \
        _parse_number(args.protocol, "--protocol")
    if not 0 <= protocol <= 0xFFFF:
        raise BPFError(f"--protocol {args.protocol}: an EtherType is 16 bits")
    backends = ("interp", "vm", "kernel") if args.kernel else ("interp", "vm")
    with about(args.file):
        values = run_everywhere(program, packet, backends=backends, protocol=protocol)
    agree = len(set(values.values())) == 1
    value = values["interp"]
    if json_mode(args):
        print_json(args, {"values": values, "agree": agree, "value": value,
                          "accepted": bool(value), "protocol": protocol})
    else:
        for backend, v in values.items():
            print(f"{BACKEND_LABELS[backend]}: {v}")
        if agree:
            print(f"accept, keep {min(value, len(packet))} of {len(packet)} bytes" if value
                  else "drop")
    if not agree:
        raise BPFError(f"{args.file}: the backends disagree: " + ", ".join(
            f"{b} {v}" for b, v in values.items()))
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    from ..cbpf.translate import translate
    from ..isa import disassemble, encode

    program = read_classic_program(args.file)
    with about(args.file):
        insns = translate(program, seccomp=args.seccomp).instructions
    if args.output:
        try:
            with open(args.output, "wb") as f:
                f.write(encode(insns))
        except OSError as e:
            raise BPFError(f"{args.output}: {e.strerror or e}") from None
        return 0
    if json_mode(args):
        print_json(args, [str(i) for i in insns])
        return 0
    sys.stdout.write(disassemble(insns, syntax=args.syntax, pcs=args.pcs))
    return 0


# --- pybpf seccomp -----------------------------------------------------------------------------

def _cmd_seccomp_compile(args: argparse.Namespace) -> int:
    from ..cbpf.seccomp import Policy

    policy = Policy.load(args.policy)
    program = policy.compile()
    if args.ebpf:
        from ..cbpf.translate import translate
        from ..isa import disassemble

        sys.stdout.write(disassemble(translate(program, seccomp=True).instructions,
                                     syntax="llvm"))
        return 0
    _print_program(args, program, "asm")
    return 0


def _cmd_seccomp_eval(args: argparse.Namespace) -> int:
    from ..cbpf.seccomp import Policy, parse_value, syscall_number
    from ..spec.seccomp import AUDIT_ARCHES

    policy = Policy.load(args.policy)
    values = [parse_value(a) for a in args.arg or ()]
    for text, v in zip(args.arg or (), values, strict=True):
        if not -(1 << 63) <= v < 1 << 64:
            raise BPFError(f"--arg {text}: system call arguments are 64 bits")
    if len(values) > 6:
        raise BPFError(f"{len(values)} --arg values: system calls have at most 6 arguments")
    nr = syscall_number(args.syscall, policy.arch)
    arch = args.arch or policy.arch
    if arch not in AUDIT_ARCHES:
        raise BPFError(f"--arch {arch!r}: one of {', '.join(AUDIT_ARCHES)}")
    backends = ("interp", "vm", "kernel") if args.kernel else ("interp", "vm")
    actions = {b: policy.evaluate(nr, values, arch=arch, backend=b) for b in backends}
    rules = policy.decide(nr, values) if arch == policy.arch else None
    distinct = set(actions.values()) | ({rules} if rules is not None else set())
    action = actions["interp"]
    if json_mode(args):
        print_json(args, {"syscall": args.syscall, "nr": nr, "args": values, "arch": arch,
                          "action": action.kind, "data": action.data,
                          "value": action.value,
                          "backends": {b: a.name for b, a in actions.items()}})
    else:
        call = f"{args.syscall}({', '.join(hex(v) for v in values)})"
        if args.verbose:
            for backend, a in actions.items():
                print(f"{BACKEND_LABELS[backend]}: {a}")
        print(f"{call}: {action}")
    if len(distinct) != 1:
        raise BPFError(f"{args.policy}: the backends disagree: " + ", ".join(
            f"{b} {a}" for b, a in actions.items()) + (f", the rules {rules}" if rules else ""))
    return 0


def _cmd_seccomp_run(args: argparse.Namespace) -> int:
    from ..cbpf.seccomp import Policy, run

    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise BPFError("pybpf seccomp run: give the command after the policy, for example "
                       "pybpf seccomp run policy.toml -- ls /")
    policy = Policy.load(args.policy)
    try:
        done = run(command, policy)
    except OSError as e:
        raise BPFError(f"{command[0]}: cannot run it: {e.strerror or e} (the policy must "
                       f"allow execve and what the command needs to start)") from None
    if done.returncode < 0:
        sig = -done.returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        print(f"pybpf: {command[0]} was killed by {name}", file=sys.stderr)
        return 128 + sig
    return done.returncode


# --- the parsers -------------------------------------------------------------------------------

def _file_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE",
                        help="a classic program: bpf_asm source, tcpdump -d/-dd/-ddd output, "
                             "bpf_asm output or raw sock_filter bytes ('-': standard input)")


def register(sub: Any) -> None:
    """Add ``cbpf`` and ``seccomp`` to the ``pybpf`` subcommands ``sub``."""
    top = sub.add_parser("cbpf", help="classic BPF: assemble, disassemble, check, run, "
                                      "translate to eBPF",
                         description="Classic BPF (struct sock_filter) programs: socket "
                                     "filters, tcpdump's filters, seccomp filters.")
    verbs = top.add_subparsers(dest="verb", metavar="VERB",
                               help="what to do (pybpf cbpf VERB --help for its options)")
    top.set_defaults(func=lambda args, parser=top: _no_verb(parser))

    p = verbs.add_parser("asm", help="assemble bpf_asm source",
                         description="Assemble FILE (bpf_asm source, or any other text form) "
                                     "and print it as bpf_asm does ('N,code jt jf k,...'), "
                                     "or in another form.")
    _file_argument(p)
    _add_dump_options(p, "the program")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write raw sock_filter bytes (8 per instruction) to OUT")
    add_output_options(p)
    p.set_defaults(func=_cmd_asm)

    p = verbs.add_parser("disasm", help="print a classic program as bpf_asm source",
                         description="Print FILE as bpf_asm source (which assembles back to "
                                     "the same program), or in another form.")
    _file_argument(p)
    _add_dump_options(p, "the program")
    add_output_options(p)
    p.set_defaults(func=_cmd_disasm, output=None)

    p = verbs.add_parser("check", help="check a classic program with the kernel's rules",
                         description="Check FILE as the kernel does before attaching it "
                                     "(bpf_check_classic: forward jumps in range, no "
                                     "division by a constant 0, scratch memory written before "
                                     "it is read, a return at the end...).")
    _file_argument(p)
    p.add_argument("--seccomp", action="store_true",
                   help="check it as a seccomp filter (loads from seccomp_data only)")
    p.add_argument("--kernel", action="store_true",
                   help="also attach it to a throwaway socket: the kernel's own answer")
    add_output_options(p)
    p.set_defaults(func=_cmd_check)

    p = verbs.add_parser("run", help="run a socket filter over a packet in every backend",
                         description="Run FILE over a packet in the classic interpreter and "
                                     "as translated eBPF in the VM (and the kernel with "
                                     "--kernel); prints each value and what a socket would "
                                     "do (keep N bytes, or drop). Exit 1 if they disagree.")
    _file_argument(p)
    p.add_argument("--packet", metavar="HEX", required=True,
                   help="the packet as the filter sees it from offset 0 (for a socket of "
                        "the network layer: from the IP header), in hex")
    p.add_argument("--protocol", metavar="ETHERTYPE",
                   help="skb->protocol (SKF_AD_PROTOCOL), e.g. 0x0800 (default: IPv4 or "
                        "IPv6 from the packet's first nibble, else 0x88b5)")
    p.add_argument("--kernel", action="store_true",
                   help="also run the translation in the kernel (BPF_PROG_TEST_RUN; root)")
    add_output_options(p)
    p.set_defaults(func=_cmd_run)

    p = verbs.add_parser("translate", help="print a classic program's eBPF translation",
                         description="Translate FILE to eBPF as the kernel does "
                                     "(bpf_convert_filter), in a form its verifier accepts, "
                                     "and print it.")
    _file_argument(p)
    p.add_argument("--seccomp", action="store_true",
                   help="translate a seccomp filter (a syscall program over seccomp_data)")
    p.add_argument("--syntax", choices=("llvm", "ubpf"), default="llvm",
                   help="eBPF assembly syntax (default %(default)s)")
    p.add_argument("--pcs", action="store_true", help="prefix each line with its slot index")
    p.add_argument("-o", "--output", metavar="OUT", help="write raw eBPF bytecode to OUT")
    add_output_options(p)
    p.set_defaults(func=_cmd_translate)

    top = sub.add_parser("seccomp", help="seccomp policies: compile, evaluate, run a command "
                                         "under one",
                         description="seccomp policies from a TOML or JSON file: compiled "
                                     "to classic BPF, evaluated in the VM, applied to a "
                                     "command.")
    verbs = top.add_subparsers(dest="verb", metavar="VERB",
                               help="what to do (pybpf seccomp VERB --help for its options)")
    top.set_defaults(func=lambda args, parser=top: _no_verb(parser))
    policy_help = "the policy: TOML, or JSON for a .json name (default, rules, deny/allow lists)"

    p = verbs.add_parser("compile", help="print a policy's classic program",
                         description="Compile POLICY to a classic seccomp filter (checked "
                                     "with seccomp's rules) and print it as bpf_asm source, "
                                     "tcpdump's forms or its eBPF translation.")
    p.add_argument("policy", metavar="POLICY", help=policy_help)
    _add_dump_options(p, "the filter")
    p.add_argument("--ebpf", action="store_true",
                   help="print the eBPF translation instead")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="write raw sock_filter bytes to OUT (what seccomp() takes)")
    add_output_options(p)
    p.set_defaults(func=_cmd_seccomp_compile)

    p = verbs.add_parser("eval", help="the action a policy gives one system call",
                         description="Run POLICY's filter over the seccomp_data of one call, "
                                     "in the classic interpreter and as eBPF in the VM (and "
                                     "the kernel with --kernel), and print the action. Exit 1 "
                                     "if they disagree.")
    p.add_argument("policy", metavar="POLICY", help=policy_help)
    p.add_argument("--syscall", required=True, metavar="NAME",
                   help="the system call, by name (openat) or number")
    p.add_argument("--arg", action="append", metavar="VALUE",
                   help="the next argument (repeatable, in order; numbers or constants "
                        "such as O_WRONLY; missing ones are 0)")
    p.add_argument("--arch", metavar="ARCH",
                   help="the caller's architecture (x86_64, aarch64, i386...; default the "
                        "policy's): another one gets the policy's bad_arch action")
    p.add_argument("--kernel", action="store_true",
                   help="also run the translation in the kernel (test run of a syscall "
                        "program; root)")
    p.add_argument("-v", "--verbose", action="store_true", help="print each backend's answer")
    add_output_options(p)
    p.set_defaults(func=_cmd_seccomp_eval)

    p = verbs.add_parser("run", help="run a command under a policy",
                         description="Run CMD with POLICY's filter installed (no_new_privs, "
                                     "then seccomp(SECCOMP_SET_MODE_FILTER), between fork and "
                                     "exec) and exit with its status (128+N when killed by "
                                     "signal N). The policy must allow execve.")
    p.add_argument("policy", metavar="POLICY", help=policy_help)
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]",
                   help="the command and its arguments, after --")
    p.set_defaults(func=_cmd_seccomp_run)


def _no_verb(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2
