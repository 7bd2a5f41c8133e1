"""eBPF programs written in Python.

A program file declares records, maps, globals and programs with the names
below and is compiled, without clang, through LLVM's BPF backend
(:mod:`pybpf.lang.backend`, the code generator every pybpf front end
shares) into a standard ELF object and an :class:`~pybpf.objects.ObjectSpec`::

    from pybpf.lang import HashMap, u32, u64, tracepoint

    counts = HashMap[u32, u64](max_entries=1024)

    @tracepoint("raw_syscalls/sys_enter")
    def count(ctx) -> int:
        counts[u32(ctx.id)] += 1
        return 0

``pybpf compile FILE.py`` writes the object; ``pybpf run-py FILE.py``
compiles, loads, attaches and prints.  :func:`compile_file` and
:func:`pybpf.lang.run.load` do the same from Python.  See :mod:`pybpf.lang.compiler` for
the subset of Python a program may use.
"""

from __future__ import annotations

from typing import Any

from . import helpers
from .cint import CInt
from .declare import (
    Array,
    ArrayOfMaps,
    Global,
    HashMap,
    HashOfMaps,
    Knob,
    LpmTrie,
    LruHash,
    LruPerCPUHash,
    PerCPUArray,
    PerCPUHash,
    PerfEventArray,
    ProgArray,
    Queue,
    RingBuf,
    Stack,
    StackTrace,
    Struct,
    bool_,
    cgroup_skb,
    char,
    function,
    inline,
    kernel,
    kprobe,
    kretprobe,
    program,
    ptr,
    raw_tracepoint,
    s8,
    s16,
    s32,
    s64,
    socket_filter,
    tc,
    tp_btf,
    tracepoint,
    u8,
    u16,
    u32,
    u64,
    uprobe,
    uretprobe,
    xdp,
)
from .errors import CompileError

_LAZY = {"compile_file": "compiler", "compile_module": "compiler", "Compilation": "compiler"}


def __getattr__(name: str) -> Any:
    if name in ("SkBuff", "XdpMd", "PtRegs", "BpfSockAddr", "BpfSockOps"):
        from . import declare

        return getattr(declare, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def sizeof(x: Any) -> int:
    """The size in bytes of a type or record (in CPython too)."""
    from .declare import ctype_of

    return ctype_of(x).size


def _swap(value: int, size: int) -> int:
    return int.from_bytes((int(value) & ((1 << 8 * size) - 1)).to_bytes(size, "big"), "little")


def htons(x: int) -> int:
    """16 bits to network byte order (in programs: a byte swap instruction)."""
    return _swap(x, 2)


def ntohs(x: int) -> int:
    """16 bits from network byte order."""
    return _swap(x, 2)


def htonl(x: int) -> int:
    """32 bits to network byte order."""
    return _swap(x, 4)


def ntohl(x: int) -> int:
    """32 bits from network byte order."""
    return _swap(x, 4)


def trace_printk(fmt: str, *args: int) -> int:
    """In a program: ``bpf_trace_printk`` (read it with ``pybpf tracepipe``);
    in CPython: print the formatted line."""
    print(fmt % args, end="" if fmt.endswith("\n") else "\n")
    return 0


def current_task() -> Any:
    """In a program: the current ``task_struct`` (read its fields through
    CO-RE: ``current_task().real_parent.tgid``)."""
    raise RuntimeError("current_task() runs in an eBPF program, not in CPython")


__all__ = [
    "Array",
    "ArrayOfMaps",
    "BpfSockAddr",
    "BpfSockOps",
    "CInt",
    "Compilation",
    "CompileError",
    "Global",
    "HashMap",
    "HashOfMaps",
    "Knob",
    "LpmTrie",
    "LruHash",
    "LruPerCPUHash",
    "PerCPUArray",
    "PerCPUHash",
    "PerfEventArray",
    "ProgArray",
    "PtRegs",
    "Queue",
    "RingBuf",
    "SkBuff",
    "Stack",
    "StackTrace",
    "Struct",
    "XdpMd",
    "bool_",
    "cgroup_skb",
    "char",
    "compile_file",
    "compile_module",
    "current_task",
    "function",
    "helpers",
    "htonl",
    "htons",
    "inline",
    "kernel",
    "kprobe",
    "kretprobe",
    "ntohl",
    "ntohs",
    "program",
    "ptr",
    "raw_tracepoint",
    "s8",
    "s16",
    "s32",
    "s64",
    "sizeof",
    "socket_filter",
    "tc",
    "tp_btf",
    "trace_printk",
    "tracepoint",
    "u8",
    "u16",
    "u32",
    "u64",
    "uprobe",
    "uretprobe",
    "xdp",
]
