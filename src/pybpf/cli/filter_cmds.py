"""``pybpf filter`` and ``pybpf capture``: tcpdump's filter language
compiled to classic BPF — printed as ``tcpdump -d``/``-dd``/``-ddd`` or as
its eBPF translation, run over a capture file — and live capture through
such a filter on a packet socket."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import BPFError

LINKTYPE_CHOICES = ("en10mb", "raw", "sll")


def _expression(args: argparse.Namespace) -> str:
    return " ".join(args.expression or ())


def _cmd_filter(args: argparse.Namespace) -> int:
    from ..cbpf.pcap_compile import compile_filter, linktype_number
    from .output import json_mode, print_json

    expression = _expression(args)
    if not expression:
        raise BPFError("pybpf filter: give an expression (pcap-filter(7)), for example "
                       "'tcp port 80'")
    if args.pcap:
        return _filter_capture(args, expression)
    program = compile_filter(expression, linktype_number(args.linktype), args.snaplen,
                             optimize=not args.no_optimize)
    if args.ebpf:
        from ..cbpf.translate import translate
        from ..isa import disassemble

        insns = translate(program).instructions
        if json_mode(args):
            print_json(args, [str(i) for i in insns])
        else:
            sys.stdout.write(disassemble(insns, syntax="llvm"))
        return 0
    if json_mode(args):
        print_json(args, [{"code": i.code, "jt": i.jt, "jf": i.jf, "k": i.k} for i in program])
        return 0
    from ..cbpf.disasm import dump

    sys.stdout.write(dump(program, args.format or "d"))
    return 0


def _filter_capture(args: argparse.Namespace, expression: str) -> int:
    from ..cbpf.interp import Machine
    from ..cbpf.pcap_compile import compile_filter, linktype_number
    from ..cbpf.pcapfile import CaptureReader
    from ..cbpf.summary import summarize
    from .output import json_mode, print_json

    reader = CaptureReader(args.pcap)
    if args.linktype_given and linktype_number(args.linktype) != reader.linktype:
        raise BPFError(f"{args.pcap}: its link type is {reader.linktype}, not {args.linktype}")
    program = compile_filter(expression, reader.linktype, args.snaplen,
                             optimize=not args.no_optimize)
    machine = Machine(program, check_program=False)  # libpcap's protochain jumps backwards
    matches = [i for i, packet in enumerate(reader) if machine.run(packet.data).value]
    total = len(reader)
    if json_mode(args):
        print_json(args, {"matches": matches, "count": len(matches), "frames": total})
        return 0
    packets = list(reader) if args.verbose else []
    for i in matches:
        if args.verbose:
            print(f"{i} {summarize(packets[i].data, reader.linktype)}")
        else:
            print(i)
    print(f"{len(matches)} of {total} frames match")
    return 0


def _cmd_capture(args: argparse.Namespace) -> int:
    from ..cbpf.capture import LiveCapture
    from ..cbpf.pcapfile import PcapngWriter, PcapWriter
    from ..cbpf.summary import summarize, timestamp_text
    from ..spec.capture import PACKET_DIRECTIONS

    expression = _expression(args) or None
    with LiveCapture(args.interface, expression, snaplen=args.snaplen, lock=args.lock,
                     promiscuous=args.promisc) as live:
        writer: Any = None
        if args.write:
            cls = PcapngWriter if args.write.endswith(".pcapng") else PcapWriter
            writer = cls(args.write, live.linktype, args.snaplen)
        got = 0
        try:
            for packet in live.packets(args.count, args.timeout):
                got += 1
                if writer is not None:
                    writer.write(packet)
                    if args.count is None:
                        writer.flush()
                    continue
                direction = PACKET_DIRECTIONS.get(packet.pkttype or 0, "?")
                print(f"{timestamp_text(packet.timestamp_ns)} {args.interface} {direction} "
                      f"{summarize(packet.data, live.linktype)}", flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            if writer is not None:
                writer.close()
    print(f"{got} packet{'s' if got != 1 else ''} captured", file=sys.stderr)
    return 0


class _StoreLinktype(argparse.Action):
    """--linktype, remembering that it was given (a capture file's own wins otherwise)."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.linktype_given = True


def register(sub: Any) -> None:
    """Add ``filter`` and ``capture`` to the CLI's subparsers."""
    from ..spec.packets import DEFAULT_SNAPLEN
    from .output import add_output_options

    p = sub.add_parser(
        "filter", help="compile a tcpdump filter expression to classic BPF",
        description="Compile a pcap filter expression (pcap-filter(7), tcpdump's language) "
                    "to classic BPF with libpcap's meaning and print it as tcpdump -d, -dd "
                    "or -ddd does, or its eBPF translation; with --pcap, print the 0-based "
                    "numbers of the frames of a capture file it matches and their count.  An "
                    "expression libpcap refuses ends in a one-line error and exit status 1.")
    p.add_argument("expression", nargs="*", metavar="EXPR",
                   help="the filter expression (several words are joined with spaces)")
    formats = p.add_mutually_exclusive_group()
    formats.add_argument("-d", dest="format", action="store_const", const="d",
                         help="print the program as tcpdump -d does (the default)")
    formats.add_argument("-dd", dest="format", action="store_const", const="dd",
                         help="print the program as a C array (tcpdump -dd)")
    formats.add_argument("-ddd", dest="format", action="store_const", const="ddd",
                         help="print the program as decimal numbers (tcpdump -ddd)")
    formats.add_argument("--ebpf", action="store_true",
                         help="print the program's eBPF translation (as the kernel makes it)")
    p.add_argument("--linktype", choices=LINKTYPE_CHOICES, default="en10mb",
                   action=_StoreLinktype,
                   help="the link type to compile for: Ethernet (en10mb, the default), raw IP "
                        "(raw) or Linux cooked capture (sll); with --pcap the file's own")
    p.add_argument("--pcap", metavar="FILE",
                   help="run the filter over the frames of this pcap or pcapng file and print "
                        "the numbers of those it matches")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="with --pcap, a one-line summary after each frame number")
    p.add_argument("-s", "--snaplen", type=int, default=DEFAULT_SNAPLEN,
                   help=f"what the program returns for a match (default {DEFAULT_SNAPLEN})")
    p.add_argument("-O", "--no-optimize", action="store_true",
                   help="do not optimize the program (tcpdump -O)")
    add_output_options(p)
    p.set_defaults(func=_cmd_filter, linktype_given=False)

    p = sub.add_parser(
        "capture", help="capture packets through a filter on an interface",
        description="Capture packets on an interface through a pcap filter expression "
                    "compiled to classic BPF and attached to a packet socket "
                    "(SO_ATTACH_FILTER): print a one-line summary of each, or write them "
                    "to a pcap (or .pcapng) file.  Needs root.  Ctrl-C stops.")
    p.add_argument("expression", nargs="*", metavar="EXPR",
                   help="the filter expression (none: every packet)")
    p.add_argument("-i", "--interface", required=True,
                   help="the network interface to capture on (for example lo or eth0)")
    p.add_argument("-c", "--count", type=int, metavar="N",
                   help="stop after N packets")
    p.add_argument("-w", "--write", metavar="FILE",
                   help="write the packets to FILE (pcapng if it ends in .pcapng, else pcap) "
                        "instead of printing them")
    p.add_argument("-s", "--snaplen", type=int, default=DEFAULT_SNAPLEN,
                   help=f"bytes kept of each packet (default {DEFAULT_SNAPLEN})")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop after this many seconds")
    p.add_argument("--lock", action="store_true",
                   help="lock the filter on the socket (SO_LOCK_FILTER)")
    p.add_argument("--promisc", action="store_true",
                   help="put the interface in promiscuous mode while capturing")
    p.set_defaults(func=_cmd_capture)
