"""cachestat: page cache hits and misses, per interval.

::

    pybpf tools cachestat                  # every second, until Ctrl-C
    pybpf tools cachestat -i 5 -c 3 -T     # three 5-second lines, with the time
    pybpf tools cachestat -j -- ./build.sh

How it counts, and how that differs from libbpf-tools' cachestat
----------------------------------------------------------------

libbpf-tools' cachestat puts kprobes (or fentry programs) on four kernel
functions — ``folio_mark_accessed`` (accesses), ``mark_buffer_dirty``,
``filemap_add_folio`` (additions) and ``folio_account_dirtied`` (dirtied)
— and computes ``total = accesses - buffer dirties``, ``misses = additions
- dirtied``, ``hits = total - misses``.  Kernels without kprobes
(``CONFIG_KPROBES`` off) and where fentry is refused cannot run that, and
those functions are internal: they are renamed and inlined from release to
release.  This cachestat counts stable tracepoints instead:

* **accesses** — the pages each ``read(2)``-family call asks the page
  cache for (``filemap:mm_filemap_get_pages``, BTF-typed so that the range
  can be cut at the file's end and the batches of one call counted once),
  plus page faults on file mappings (``filemap:mm_filemap_fault``).
  Writes are not accesses here (libbpf-tools counts the pages a write
  touches as accessed, less the buffer-head dirtyings); pages that
  ``sendfile``/``splice`` read are counted as reads are (they take the same
  path); pages mapped around a fault without faults of their own
  (``mm_filemap_map_pages``) are not counted.
* **misses** — pages added to the page cache
  (``filemap:mm_filemap_add_to_page_cache``, a folio counting as its
  pages) less the folios newly dirtied (``writeback:writeback_dirty_folio``),
  at least 0: the additions that were not made by writes, as libbpf-tools
  computes it.  Readahead adds pages before they are read, so a cold
  sequential read shows its misses up to a readahead window early.
* **hits** — accesses less misses (at least 0); **dirties** — the folios
  dirtied; the hit ratio is hits / accesses.

So on a read-mostly workload the two tools agree; on writes, this one
reports fewer accesses (and so fewer hits) than libbpf-tools.
``BUFFERS_MB`` and ``CACHED_MB`` come from ``/proc/meminfo`` as there.
"""

from __future__ import annotations

import argparse
import time

from . import _runtime as rt
from ._hist import read_u64_array
from .bindings.cachestat_bpf import Cachestat

NAME = "cachestat"
DESCRIPTION = "Count page cache hits and misses, from the filemap and writeback tracepoints."
EPILOG = """\
how it counts (libbpf-tools' cachestat uses kprobes on internal kernel functions;
this kernel has none, so these tracepoints instead):
  accesses  pages asked for by read(2)-family calls (filemap:mm_filemap_get_pages, cut
            at the end of file) + page faults on file mappings (mm_filemap_fault);
            writes are not counted as accesses, unlike libbpf-tools
  misses    pages added to the page cache (mm_filemap_add_to_page_cache) - pages
            newly dirtied (writeback:writeback_dirty_folio), at least 0
  hits      accesses - misses, at least 0;  HITRATIO = hits / accesses"""
COUNTERS = ("accesses", "added", "dirtied", "faults")
"""The counters map's slots, in order (``enum`` of cachestat.bpf.c)."""


def meminfo_mb(path: str = "/proc/meminfo") -> tuple[int, int]:
    """``(Buffers, Cached)`` in MiB."""
    values = {}
    try:
        with open(path) as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in ("Buffers", "Cached"):
                    values[name] = int(rest.split()[0]) // 1024
    except OSError:
        pass
    return values.get("Buffers", 0), values.get("Cached", 0)


def cache_stats(accesses: int, added: int, dirtied: int) -> tuple[int, int, float]:
    """``(hits, misses, ratio)`` from the counts (see the module's text)."""
    misses = max(0, added - dirtied)
    total = max(0, accesses)
    hits = total - misses
    if hits < 0:
        misses, hits = total, 0
    ratio = hits / total if total else 0.0
    return hits, misses, ratio


def build_parser() -> argparse.ArgumentParser:
    """cachestat's argument parser."""
    p = rt.parser(NAME, DESCRIPTION, EPILOG)
    p.add_argument("-T", "--timestamp", action="store_true", help="print timestamp")
    p.add_argument("-i", "--interval", type=float, default=1.0,
                   help="output interval, in seconds (default 1)")
    p.add_argument("-c", "--count", type=int, help="number of outputs")
    rt.add_json_option(p)
    return p


def run(argv: list[str] | None = None) -> int:
    """Run cachestat with command-line arguments ``argv``."""
    args = rt.parse_args(build_parser(), argv)
    if args.interval <= 0:
        from ..errors import BPFError

        raise BPFError(f"-i {args.interval}: the interval must be positive")
    duration = args.duration
    if args.count:
        limit = args.count * args.interval + args.interval / 2
        duration = min(duration, limit) if duration else limit
    printed = [0]
    with rt.open_tool(Cachestat(rt.object_path(NAME))) as skel:
        counters = skel.maps.counters

        def tick() -> None:
            if args.count and printed[0] >= args.count:
                return
            values = dict(zip(COUNTERS, read_u64_array(counters, len(COUNTERS), clear=True),
                              strict=True))
            hits, misses, ratio = cache_stats(values["accesses"], values["added"],
                                              values["dirtied"])
            buffers, cached = meminfo_mb()
            printed[0] += 1
            if args.json:
                rt.print_json({"time": time.time(), "hits": hits, "misses": misses,
                               "dirties": values["dirtied"], "ratio": round(ratio, 4),
                               "buffers_mb": buffers, "cached_mb": cached, **values})
                return
            stamp = f"{time.strftime('%H:%M:%S'):<8} " if args.timestamp else ""
            print(f"{stamp}{hits:>8} {misses:>8} {values['dirtied']:>8} {100 * ratio:>7.2f}% "
                  f"{buffers:>12} {cached:>10}", flush=True)

        header = "" if args.json else (f"{'TIME':<8} " if args.timestamp else "") + \
            f"{'HITS':>8} {'MISSES':>8} {'DIRTIES':>8} {'HITRATIO':>8} {'BUFFERS_MB':>12} " \
            f"{'CACHED_MB':>10}"
        status = rt.run(skel, [], duration, header=header, every=args.interval, tick=tick,
                        command=args.command)
    return status


main = rt.main_wrapper(run)

if __name__ == "__main__":
    raise SystemExit(main())
