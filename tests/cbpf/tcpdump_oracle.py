"""tcpdump as the oracle for the pcap filter compiler: which frames of a
capture file an expression matches (``tcpdump -r``), how long libpcap's
program is (``tcpdump -d``), and whether libpcap refuses the expression.
Results are cached per (file, expression)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

SECOND = 1_000_000
FIRST_TIMESTAMP = 1_700_000_000  # filter_frames.pcap_bytes: frame i at (this + i) s + i ms


class Verdict(NamedTuple):
    """What tcpdump made of an expression over a capture."""

    refused: str | None  # tcpdump's error line, or None
    matches: tuple[int, ...]  # 0-based frame numbers
    length: int  # instructions of ``tcpdump -d`` (0 when refused)


def available() -> bool:
    """Whether tcpdump is installed."""
    return shutil.which("tcpdump") is not None


def frame_number(line: str) -> int:
    """The frame number of a ``tcpdump -tt`` line (the timestamps the test
    captures carry encode it)."""
    seconds = int(line.split(".", 1)[0])
    return seconds - FIRST_TIMESTAMP


@functools.cache
def verdict(capture: Path, expression: str) -> Verdict:
    """tcpdump's view of ``expression`` over ``capture``."""
    dump = subprocess.run(["tcpdump", "-d", "-r", str(capture), "--", expression],
                          capture_output=True, text=True)
    if dump.returncode != 0:
        lines = [ln for ln in dump.stderr.splitlines() if ln.strip()
                 and not ln.startswith("reading from")]
        return Verdict(lines[-1] if lines else "refused", (), 0)
    length = sum(1 for ln in dump.stdout.splitlines() if ln.startswith("("))
    run = subprocess.run(["tcpdump", "-tt", "-n", "-r", str(capture), "--", expression],
                         capture_output=True, text=True, check=True)
    matches = tuple(frame_number(ln) for ln in run.stdout.splitlines() if ln[:1].isdigit())
    return Verdict(None, matches, length)
