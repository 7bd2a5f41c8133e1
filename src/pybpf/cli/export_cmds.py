"""``pybpf export``: serve BPF maps as Prometheus metrics.

``pybpf export CONFIG.toml`` loads the objects the configuration names,
attaches their programs and serves the metrics it describes at
``http://ADDR:PORT/metrics``; ``--map NAME`` (or ``id:N``, or a bpffs
path) adds gauges for a map already in the kernel and ``--object FILE.o``
loads an object and exports every hash and array map it has, both without
a configuration.  ``--once`` prints one scrape and exits.  SIGHUP (and
``POST /-/reload`` with ``--enable-reload``) reads the configuration again
without losing counts, and moves the server when ``listen`` changed.  An
``[otlp]`` table or ``--otlp-endpoint URL`` also pushes the metrics to an
OpenTelemetry receiver (OTLP/HTTP, JSON) every ``--otlp-interval`` seconds.
The library side is :mod:`pybpf.export`.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from typing import Any


def _config(args: argparse.Namespace) -> Any:
    """The configuration the command line asks for: the file's (read
    afresh), with the options' additions and overrides."""
    from pathlib import Path

    from ..errors import BPFError
    from ..export.config import (
        DEFAULT_MAX_ENTRIES,
        ExporterConfig,
        ObjectConfig,
        OtlpConfig,
        check_otlp_endpoint,
        read_config,
    )

    if args.config:
        cfg = read_config(args.config)
    else:
        if not (args.map or args.object or args.program_stats):
            raise BPFError("export: give a configuration file, or --map NAME / --object "
                           "FILE.o / --program-stats to export without one")
        cfg = ExporterConfig(path="<command line>")
    for path in args.object or ():
        name = Path(path).name.removesuffix(".o").removesuffix(".bpf")
        if not Path(path).is_file():
            raise BPFError(f"--object {path}: no such file")
        cfg.objects.append(ObjectConfig(name=name, path=path))
    if args.max_entries is not None:
        if args.max_entries <= 0:
            raise BPFError("--max-entries must be positive")
        cfg.max_entries = args.max_entries
    elif not args.config:
        cfg.max_entries = DEFAULT_MAX_ENTRIES
    if args.program_stats:
        cfg.program_stats = args.program_stats
    if args.listen:
        cfg.listen = args.listen
    if args.otlp_endpoint:
        check_otlp_endpoint(args.otlp_endpoint)
        if cfg.otlp is None:
            cfg.otlp = OtlpConfig(endpoint=args.otlp_endpoint)
        else:
            cfg.otlp.endpoint = args.otlp_endpoint
    if args.otlp_interval is not None:
        if not 0 < args.otlp_interval < float("inf"):
            raise BPFError("--otlp-interval must be a positive number of seconds")
        if cfg.otlp is None:
            raise BPFError("--otlp-interval: no OTLP endpoint to push to (--otlp-endpoint URL, "
                           "or an [otlp] table in the configuration)")
        cfg.otlp.interval = args.otlp_interval
    return cfg


def cmd_export(args: argparse.Namespace) -> int:
    """Run the exporter until Ctrl-C, SIGTERM or ``--duration``; SIGHUP
    reloads the configuration."""
    from ..export.config import DEFAULT_LISTEN
    from ..export.exporter import Listener, build, parse_listen
    from ..export.otlp import OtlpPusher
    from ..export.sources import parse_map_argument
    from ..export.textformat import render
    from ..kernel.runner import Stop, stoppable

    cfg = _config(args)
    listen = cfg.listen or DEFAULT_LISTEN
    if not args.once:
        parse_listen(listen)          # a mistake is reported before anything is loaded
    selectors = [parse_map_argument(text) for text in args.map or ()]
    exporter = build(cfg, selectors, auto_objects=bool(args.object))
    exporter.loader = lambda: _config(args)
    with exporter:
        for obj in exporter.objects:
            for prog, error in obj.failed.items():
                print(f"pybpf: export: {obj.name}: cannot attach {prog}: {error}",
                      file=sys.stderr)
        pusher = OtlpPusher.for_exporter(exporter, cfg.otlp)
        if args.once:
            families = exporter.collect()
            sys.stdout.write(render(families))
            sys.stdout.flush()
            return 0 if cfg.otlp is None or pusher.push(families) else 1
        listener = Listener(exporter, listen, quiet=not args.verbose,
                            enable_reload=args.enable_reload)
        try:
            with stoppable(), _on_sighup() as hangups:
                pusher.start()
                # announced only once SIGHUP is handled: a supervisor that
                # reloads right after this line must not kill the exporter
                pushing = f"; {pusher.describe()}" if cfg.otlp is not None else ""
                print(f"serving {len(exporter.metrics)} "
                      f"metric{'s' if len(exporter.metrics) != 1 else ''}"
                      f" at {listener.url}{pushing}; Ctrl-C to stop", file=sys.stderr,
                      flush=True)
                _wait(args.duration, hangups, exporter.reload_config)
        except (KeyboardInterrupt, Stop):
            pass
        finally:
            pusher.stop(flush=True)
            listener.close()
    return 0


@contextlib.contextmanager
def _on_sighup() -> Iterator[list[int]]:
    """Within the block each SIGHUP appends to the list yielded (the wait
    loop reloads then, outside the signal handler)."""
    import threading

    hangups: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield hangups     # signals reach the main thread only
        return
    old = signal.signal(signal.SIGHUP, lambda signum, frame: hangups.append(signum))
    try:
        yield hangups
    finally:
        signal.signal(signal.SIGHUP, old)


def _wait(duration: float | None, hangups: list[int], reload: Callable[[], Any]) -> None:
    import time

    end = None if duration is None else time.monotonic() + duration
    while end is None or time.monotonic() < end:
        if hangups:
            hangups.clear()
            reload()
        time.sleep(0.2 if end is None else max(0.0, min(0.2, end - time.monotonic())))


def register(sub: Any) -> None:
    """Add ``export`` to the CLI's subparsers."""
    p = sub.add_parser(
        "export", help="serve BPF maps as Prometheus metrics (/metrics over HTTP)",
        description="Serve BPF maps as Prometheus metrics: counters, gauges and log2/linear "
                    "histograms with labels decoded from the maps' BTF-typed keys, from "
                    "objects the exporter loads and attaches (a TOML configuration, or "
                    "--object) and maps already in the kernel (pinned, or by id or name). "
                    "See the README's 'Prometheus metrics' section for the file format.")
    p.add_argument("config", nargs="?", metavar="CONFIG.toml",
                   help="the configuration: objects to load and the metrics to serve")
    p.add_argument("--listen", metavar="ADDR:PORT",
                   help="where to serve /metrics (default: the configuration's listen, else "
                        "127.0.0.1:9435; :9435 for every address)")
    p.add_argument("--map", action="append", metavar="MAP",
                   help="also export a kernel map as gauges: NAME, id:N or a bpffs path "
                        "(repeatable)")
    p.add_argument("--object", action="append", metavar="FILE.o",
                   help="load and attach an object and export every hash and array map it "
                        "has (repeatable)")
    p.add_argument("--max-entries", type=int, metavar="N",
                   help="read at most N elements per map and scrape (default: the "
                        "configuration's, else 100000)")
    p.add_argument("--program-stats", choices=("loaded", "all"),
                   help="also export run counts and run time (BPF_ENABLE_STATS) of the "
                        "programs the exporter loaded, or of every program")
    p.add_argument("--otlp-endpoint", metavar="URL",
                   help="also push the metrics to an OpenTelemetry receiver: POST "
                        "URL/v1/metrics, OTLP/HTTP in JSON (overrides the configuration's "
                        "[otlp] endpoint)")
    p.add_argument("--otlp-interval", type=float, metavar="S",
                   help="seconds between OTLP pushes (default: the configuration's, else 60)")
    p.add_argument("--enable-reload", action="store_true",
                   help="reload the configuration on POST /-/reload too (SIGHUP always "
                        "does)")
    p.add_argument("--once", action="store_true",
                   help="print one scrape on standard output and exit")
    p.add_argument("-d", "--duration", type=float, metavar="SECONDS",
                   help="stop after SECONDS")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    p.set_defaults(func=cmd_export)
