"""What the CLI says when the kernel refuses a program, and the verifier
log on request.

Commands that load programs (``load``, ``test-run --kernel``, and
``verify`` when it comes) take ``--log-level 1|2`` and ``--log-file FILE``
through :func:`add_log_options`; :func:`log_level` is what to pass to the
loader and :func:`write_logs` prints the logs (to the file, else standard
error).  A refusal prints as the verifier's message and, on a second line,
the source line of the failing instruction (:func:`refusal_lines`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from ..errors import BPFError


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` ``--log-level`` and ``--log-file``."""
    parser.add_argument("--log-level", type=int, choices=(1, 2), metavar="1|2",
                        help="keep the kernel verifier's log and print it (1: the "
                             "instructions walked and the error; 2: also the register "
                             "state after each instruction)")
    parser.add_argument("--log-file", metavar="FILE",
                        help="write the verifier log to FILE instead of standard error "
                             "(implies --log-level 1)")


def log_level(args: argparse.Namespace) -> int:
    """The verifier log level the options ask for (0: none)."""
    level = getattr(args, "log_level", None)
    if level:
        return level
    return 1 if getattr(args, "log_file", None) else 0


def write_logs(args: argparse.Namespace, logs: Iterable[tuple[str, str]]) -> None:
    """Write ``(program name, log)`` pairs where the options say, each
    headed by its program's name.  Nothing when no log was asked for."""
    if not log_level(args):
        return
    text = "".join(f"--- verifier log of {name} ---\n{log.rstrip()}\n" for name, log in logs
                   if log)
    if not text:
        return
    path = getattr(args, "log_file", None)
    if path:
        from .output import write_file

        write_file(path, text)
    else:
        sys.stderr.write(text)


def refusal_lines(error: BPFError) -> list[str]:
    """The second line of a refusal: where in the source the verifier
    stopped (empty when the log has no line info)."""
    log = getattr(error, "log", "") or ""
    if not log:
        return []
    from ..kernel.refusals import source_of_refusal

    where = source_of_refusal(log, getattr(error, "pc", None))
    return [f"  {where}"] if where is not None else []
