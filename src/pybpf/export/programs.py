"""What BPF programs cost, as metrics: run counts and run time from the
kernel's statistics (``BPF_ENABLE_STATS``, held on while the exporter
runs — as bpftop does — since the kernel counts nothing otherwise).

``scope`` ``"loaded"`` reports the programs of the objects the exporter
loaded (labelled with their object), ``"all"`` every program in the kernel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from ..errors import BPFError
from .textformat import MetricFamily

SCOPES = ("off", "loaded", "all")
"""Which programs' costs are exported."""
PREFIX = "bpf_program"
"""The metric names' prefix."""
NS_PER_SECOND = 1_000_000_000


class ProgramStats:
    """Run counts and run time of programs, read at each scrape."""

    def __init__(self, scope: str, objects: Iterable[Any] = ()):
        if scope not in SCOPES[1:]:
            raise BPFError(f"program statistics: scope must be loaded or all, not {scope!r}")
        from ..kernel import sys as ksys
        from ..spec.linux import ENUMS

        self.scope = scope
        self.objects = list(objects)
        self._stats = ksys.enable_stats(ENUMS["bpf_stats_type"]["BPF_STATS_RUN_TIME"])

    def _rows(self) -> list[tuple[tuple[tuple[str, str], ...], Any]]:
        rows = []
        if self.scope == "all":
            from ..kernel.info import programs

            for info in programs():
                rows.append(((("id", str(info.id)), ("name", info.name),
                              ("type", info.type)), info))
            return rows
        for obj in self.objects:
            for name, prog in obj.collection.programs.items():
                info_of = getattr(prog, "info", None)
                if info_of is None:
                    continue
                info = info_of()
                rows.append(((("object", obj.name), ("program", name), ("id", str(info.id)),
                              ("type", info.type)), info))
        return rows

    def families(self) -> list[MetricFamily]:
        """``bpf_program_runs_total`` and ``bpf_program_run_seconds_total``."""
        runs = MetricFamily(f"{PREFIX}_runs_total", "counter",
                            "Times each program ran (since statistics were enabled).")
        seconds = MetricFamily(f"{PREFIX}_run_seconds_total", "counter",
                               "Time each program spent running.")
        for labels, info in self._rows():
            runs.add(labels, info.run_cnt)
            seconds.add(labels, info.run_time_ns / NS_PER_SECOND)
        return [runs, seconds]

    def close(self) -> None:
        """Stop holding the statistics on."""
        with contextlib.suppress(OSError, BPFError):
            self._stats.close()


__all__ = ["PREFIX", "SCOPES", "ProgramStats"]
