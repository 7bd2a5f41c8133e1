"""Classic BPF: the ``struct sock_filter`` machine of socket filters,
``tcpdump`` and seccomp, with the kernel's semantics.

- :mod:`.insn` — instructions as data, encode/decode, constructors, a builder;
- :mod:`.disasm` and :mod:`.asm` — the text forms: tcpdump's ``-d``/``-dd``/
  ``-ddd`` and the kernel's ``bpf_asm``, both ways;
- :mod:`.check` — the kernel's structural check (``bpf_check_classic``,
  and seccomp's);
- :mod:`.interp` — the interpreter, over an :class:`~.interp.Skb` or a
  ``seccomp_data``;
- :mod:`.translate` — translation to eBPF as the kernel does it, loadable
  in pybpf's VM and in the kernel;
- :mod:`.backends` — one socket filter run in the interpreter, the VM and
  the kernel's test run over the same packet;
- :mod:`.sockets` — ``SO_ATTACH_FILTER`` and friends on real sockets;
- :mod:`.seccomp` — seccomp policies: compiled, evaluated, installed;
- :mod:`.pcap_compile` — tcpdump's filter language compiled to classic BPF;
- :mod:`.pcapfile`, :mod:`.capture`, :mod:`.summary` — pcap/pcapng files,
  live capture through a filter on a packet socket, one-line summaries.

Submodules load on first use: ``import pybpf.cbpf`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from . import disasm as disasm
from .asm import assemble, parse_program, parse_tcpdump
from .check import FilterError, check, first_problem
from .disasm import bpf_asm_output, disassemble, dump, image
from .insn import FORMS, Builder, Form, Kind, SockFilter, decode, encode

_LAZY = {
    "Machine": "interp", "Skb": "interp", "run": "interp",
    "translate": "translate", "Translation": "translate", "TranslationError": "translate",
    "attach_filter": "sockets", "detach_filter": "sockets", "get_filter": "sockets",
    "compile_filter": "pcap_compile", "FilterExpressionError": "pcap_errors",
    "LiveCapture": "capture", "read_packets": "pcapfile", "write_pcap": "pcapfile",
}
_SUBMODULES = {"backends", "interp", "translate", "sockets", "packets", "seccomp", "pcap", "capture",
               "syscalls", "pcap_compile", "pcapfile", "summary"}

__all__ = ["FORMS", "Builder", "FilterError", "Form", "Kind", "Machine", "Skb", "SockFilter",
           "Translation", "TranslationError", "assemble", "attach_filter", "bpf_asm_output",
           "check", "decode", "detach_filter", "disassemble", "dump", "encode",
           "first_problem", "get_filter", "image", "parse_program", "parse_tcpdump", "run",
           "translate"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
