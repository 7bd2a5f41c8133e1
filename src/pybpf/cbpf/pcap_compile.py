"""Compiling pcap filter expressions (tcpdump's language, pcap-filter(7))
to classic BPF, in pure Python: :func:`compile_filter`.

The expression is parsed and generated (:mod:`.pcap_parser`,
:mod:`.pcap_codegen`), the block graph optimized (:mod:`.pcap_optimize`)
and laid out as ``sock_filter`` instructions (:mod:`.pcap_ir`).  The
program accepts the packets libpcap's program for the same expression
accepts, returning ``snaplen`` for them and 0 for the rest, and is no
longer than libpcap's.  An expression libpcap refuses raises
:class:`~.pcap_errors.FilterExpressionError`.
"""

from __future__ import annotations

from ..spec import pcap_filter as P
from .insn import SockFilter
from .pcap_codegen import Generator
from .pcap_errors import REJECTS_ALL, UNSUPPORTED, FilterExpressionError, SnapshotLengthError
from .pcap_ir import finish, layout
from .pcap_names import Names
from .pcap_parser import Parser


def linktype_number(linktype: str | int) -> int:
    """The link type number of ``en10mb``/``raw``/``sll`` (or a number)."""
    if isinstance(linktype, int):
        return linktype
    try:
        return P.LINKTYPE_BY_NAME[linktype.lower()]
    except KeyError:
        raise FilterExpressionError(UNSUPPORTED, f"unknown link type {linktype!r} (known: "
                                    f"{', '.join(P.LINKTYPE_BY_NAME)})") from None


def checked_snaplen(snaplen: int) -> int:
    """``snaplen`` as tcpdump takes it: 0 means the largest, and anything
    outside 0 to MAX_SNAPLEN is a :class:`SnapshotLengthError`."""
    from ..spec.packets import MAX_SNAPLEN

    if isinstance(snaplen, bool) or not isinstance(snaplen, int) or \
            not 0 <= snaplen <= MAX_SNAPLEN:
        raise SnapshotLengthError(f"invalid snapshot length {snaplen!r} (0 to {MAX_SNAPLEN}; "
                                  f"0 means {MAX_SNAPLEN})")
    return snaplen or MAX_SNAPLEN


def compile_filter(expression: str, linktype: str | int = "en10mb",
                   snaplen: int = P.DEFAULT_SNAPLEN, *, optimize: bool = True,
                   netmask: int | None = 0, names: Names | None = None) -> list[SockFilter]:
    """The classic BPF program of a pcap filter ``expression`` for
    ``linktype`` (``en10mb``, ``raw`` or ``sll``, or the link type's
    number): it returns ``snaplen`` for the packets the expression
    matches and 0 for the others.

    ``netmask`` is the capture network's mask, for ``ip broadcast`` (None:
    unknown, which refuses it); ``names`` resolves host, port, protocol,
    network and Ethernet names (default: the system's files and resolver).
    ``optimize=False`` skips the optimizer (libpcap's ``-O``).

    >>> from pybpf.cbpf import compile_filter, dump
    >>> print(dump(compile_filter("ip")), end="")
    (000) ldh      [12]
    (001) jeq      #0x800           jt 2	jf 3
    (002) ret      #262144
    (003) ret      #0
    """
    snaplen = checked_snaplen(snaplen)
    gen = Generator(linktype_number(linktype), names, netmask)
    root = finish(Parser(expression, gen).parse(), snaplen)
    if optimize:
        from .pcap_optimize import optimize as run_optimizer

        root = run_optimizer(root)
    if root.is_leaf and root.k == 0 and not gen.has_loop:
        raise FilterExpressionError(REJECTS_ALL, REJECTS_ALL, expression=expression)
    return layout(root)
