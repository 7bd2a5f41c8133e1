"""killsnoop: trace signals sent by kill(2), tkill(2) and tgkill(2).

::

    pybpf tools killsnoop              # every signal sent, until Ctrl-C
    pybpf tools killsnoop -x -s 9      # failed SIGKILLs
    pybpf tools killsnoop -j -d 5      # JSON lines for 5 seconds
"""

from __future__ import annotations

import signal
import time

from . import _runtime as rt
from .bindings.killsnoop_bpf import KillEvent, Killsnoop

NAME = "killsnoop"
DESCRIPTION = "Trace signals issued by kill(2), tkill(2) and tgkill(2): sender, signal, " \
              "target and result."
CALLS = ("kill", "tkill", "tgkill")
"""The system calls, as the events number them."""


def signal_name(sig: int) -> str:
    """``SIGTERM`` for 15; the number for signals without a name (0, RT)."""
    try:
        return signal.Signals(sig).name
    except ValueError:
        return str(sig)


def parse_signal(text: str) -> int:
    """A signal given as a number, ``TERM`` or ``SIGTERM``."""
    if text.isdigit():
        return int(text)
    name = text.upper()
    try:
        return int(signal.Signals[name if name.startswith("SIG") else "SIG" + name])
    except KeyError:
        import argparse

        raise argparse.ArgumentTypeError(f"no signal {text!r}") from None


def format_event(e: KillEvent) -> str:
    """One output line for a signal, as bcc's killsnoop prints it."""
    return (f"{time.strftime('%H:%M:%S')} {e.pid:<7} {e.comm:<16} {e.sig:<4} {e.tpid:<7} "
            f"{e.ret}")


def event_json(e: KillEvent) -> dict:
    """One signal as a JSON object."""
    return rt.record_json(e, time=time.time(), signal=signal_name(e.sig),
                          call=CALLS[e.call] if 0 <= e.call < len(CALLS) else e.call)


def build_parser():
    """killsnoop's argument parser."""
    p = rt.parser(NAME, DESCRIPTION)
    p.add_argument("-p", "--pid", type=int, help="only signals sent by this process")
    p.add_argument("-x", "--failed", action="store_true", help="only failed calls")
    p.add_argument("-k", "--kill", action="store_true",
                   help="only kill(2), not tkill(2)/tgkill(2)")
    p.add_argument("-s", "--signal", type=parse_signal,
                   help="only this signal (a number, TERM or SIGTERM)")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run killsnoop with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)

    def show(e: KillEvent) -> None:
        if args.json:
            rt.print_json(event_json(e))
        else:
            print(format_event(e), flush=True)

    skel = Killsnoop(rt.object_path(NAME))
    skel.rodata.target_pid = args.pid or 0
    skel.rodata.target_signal = args.signal or 0
    skel.rodata.failed_only = args.failed
    skel.rodata.kill_only = args.kill
    with rt.open_tool(skel):
        rb = skel.maps.events.reader(show)
        header = "" if args.json else \
            f"{'TIME':<8} {'PID':<7} {'COMM':<16} {'SIG':<4} {'TPID':<7} RESULT"
        status = rt.run(skel, [rb], args.duration, header=header, command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
