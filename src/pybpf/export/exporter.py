"""The exporter: metrics read from maps at each scrape, its own metrics,
and the HTTP server that serves them at ``/metrics``.

::

    from pybpf.export import Exporter, MapHandle, MapMetric, MetricSpec, serve

    metric = MapMetric(MetricSpec("packets_total", "counter"), MapHandle("counts", m))
    exporter = Exporter([metric])
    print(exporter.render())               # the text format, once
    server = serve(exporter, "127.0.0.1", 9435)   # a thread per request
    ...
    server.shutdown(); exporter.close()

Scrapes take turns (one lock): concurrent scrapes are each answered in
full, a map is read once per scrape however many metrics use it, and at
most ``max_entries`` elements of each map are held at a time.  A metric
whose map cannot be read is left out of that scrape and counted in
``pybpf_exporter_scrape_errors_total``.  The exporter's own metrics:

==================================================  ===============================
``pybpf_exporter_scrapes_total``                    scrapes answered
``pybpf_exporter_scrape_duration_seconds``          how long the last scrape took
``pybpf_exporter_scrape_errors_total{metric}``      metrics that failed to read
``pybpf_exporter_map_entries{map}``                 elements read at the last scrape
``pybpf_exporter_map_entries_truncated{map}``       1 when the map held more than
                                                    ``max_entries`` (the rest unread)
``pybpf_exporter_max_entries``                      the cap
``pybpf_exporter_program_attached{object,program}`` 1 attached, 0 not (objects loaded)
==================================================  ===============================

With program statistics on (:mod:`pybpf.export.programs`),
``bpf_program_runs_total`` and ``bpf_program_run_seconds_total`` say what
each program costs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import BPFError, MapError
from .config import DEFAULT_MAX_ENTRIES, ExporterConfig, MapSelector
from .metrics import MapHandle, MapMetric, MetricConfigError, MetricSpec, read_entries
from .sources import LoadedObject, kernel_map, object_map, open_object
from .textformat import CONTENT_TYPE, MetricFamily, render, sanitize_name

SELF = "pybpf_exporter"
"""The prefix of the exporter's own metrics."""
AUTO_PREFIX = "bpf_map"
"""Metric names of maps exported without a configuration start so."""
AUTO_MAP_TYPES = frozenset({"hash", "array", "percpu_hash", "percpu_array", "lru_hash",
                            "lru_percpu_hash"})
"""Map types an object exported without a configuration gives metrics for."""


class Exporter:
    """Metrics read from maps, rendered in the Prometheus text format.

    ``objects`` (loaded objects) and the maps of ``owned`` handles belong to
    the exporter: :meth:`close` closes them; other maps stay the caller's.
    At most ``max_entries`` elements of each map are read per scrape."""

    def __init__(self, metrics: Iterable[MapMetric], *, max_entries: int = DEFAULT_MAX_ENTRIES,
                 objects: Iterable[LoadedObject] = (), owned: Iterable[MapHandle] = (),
                 program_stats: Any = None):
        self.metrics = list(metrics)
        self.program_stats = program_stats
        self.owned = list(owned)
        self.max_entries = max_entries
        self.objects = list(objects)
        self._lock = threading.Lock()
        self.scrapes = 0
        self.errors: dict[str, int] = {m.spec.name: 0 for m in self.metrics}
        self.last_duration = 0.0
        self.entries: dict[str, int] = {}
        self.truncated: dict[str, bool] = {}
        self.last_errors: dict[str, str] = {}

    def collect(self) -> list[MetricFamily]:
        """Read every map once and return every metric family, the
        exporter's own last."""
        with self._lock:
            start = time.monotonic()
            families: list[MetricFamily] = []
            reads: dict[int, Any] = {}
            for metric in self.metrics:
                handle = metric.handle
                try:
                    read = reads.get(id(handle.map))
                    if read is None:
                        read = reads[id(handle.map)] = read_entries(handle.map,
                                                                    self.max_entries)
                        self.entries[handle.name] = len(read.entries)
                        self.truncated[handle.name] = read.truncated
                    families.append(metric.family(read.entries))
                except (BPFError, MapError, OSError, ValueError) as e:
                    self.errors[metric.spec.name] = self.errors.get(metric.spec.name, 0) + 1
                    self.last_errors[metric.spec.name] = str(e)
            if self.program_stats is not None:
                try:
                    families.extend(self.program_stats.families())
                except (BPFError, OSError) as e:
                    self.errors["program_stats"] = self.errors.get("program_stats", 0) + 1
                    self.last_errors["program_stats"] = str(e)
            self.scrapes += 1
            self.last_duration = time.monotonic() - start
            families.extend(self._own())
            return families

    def render(self) -> str:
        """One scrape in the text format."""
        return render(self.collect())

    def _own(self) -> list[MetricFamily]:
        own = []
        f = MetricFamily(f"{SELF}_scrapes_total", "counter", "Scrapes answered.")
        f.add((), self.scrapes)
        own.append(f)
        f = MetricFamily(f"{SELF}_scrape_duration_seconds", "gauge",
                         "How long the last scrape took to read the maps.")
        f.add((), round(self.last_duration, 6))
        own.append(f)
        f = MetricFamily(f"{SELF}_scrape_errors_total", "counter",
                         "Scrapes in which a metric's map could not be read.")
        for name, count in self.errors.items():
            f.add((("metric", name),), count)
        own.append(f)
        f = MetricFamily(f"{SELF}_map_entries", "gauge", "Elements read at the last scrape.")
        for name, count in self.entries.items():
            f.add((("map", name),), count)
        own.append(f)
        f = MetricFamily(f"{SELF}_map_entries_truncated", "gauge",
                         "1 when the map held more elements than the exporter reads "
                         "(max_entries); the rest were not read.")
        for name, flag in self.truncated.items():
            f.add((("map", name),), int(flag))
        own.append(f)
        f = MetricFamily(f"{SELF}_max_entries", "gauge", "Elements read per map at most.")
        f.add((), self.max_entries)
        own.append(f)
        if self.objects:
            f = MetricFamily(f"{SELF}_program_attached", "gauge",
                             "1 for each program the exporter attached, 0 where it failed.")
            for obj in self.objects:
                for prog in obj.attached:
                    f.add((("object", obj.name), ("program", prog)), 1)
                for prog in obj.failed:
                    f.add((("object", obj.name), ("program", prog)), 0)
            own.append(f)
        return own

    def close(self) -> None:
        """Close the maps opened and the objects loaded."""
        if self.program_stats is not None:
            self.program_stats.close()
            self.program_stats = None
        for handle in self.owned:
            with contextlib.suppress(BPFError, OSError):
                handle.map.close()
        self.owned.clear()
        for obj in self.objects:
            obj.close()
        self.objects.clear()

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def auto_metrics(handle: MapHandle, prefix: str = AUTO_PREFIX) -> list[MapMetric]:
    """Gauges for a map exported without a configuration: one per numeric
    field of its value (``PREFIX_MAP`` for a plain number,
    ``PREFIX_MAP_FIELD`` for a struct's fields), labelled by every key
    field."""
    base = sanitize_name(f"{prefix}_{handle.name.strip('/').replace('/', '_')}")
    out = []
    fields = [f for f in handle.value_fields if f.numeric]
    for f in fields:
        name = base if f.name == "" else f"{base}_{sanitize_name(f.name)}"
        spec = MetricSpec(name, "gauge", f"{handle.name}: value"
                          + (f" field {f.name}" if f.name else "") + " by key.", value=f.name)
        out.append(MapMetric(spec, handle))
    if not out:
        raise MetricConfigError(f"map {handle.name!r}: its value has no numeric field to "
                                f"export (a configuration can name one)")
    return out


def build(cfg: ExporterConfig, auto_maps: Iterable[MapSelector] = (), *,
          auto_objects: bool = False) -> Exporter:
    """An exporter for a configuration: objects loaded and attached, maps
    opened, metrics checked against the maps' BTF.  Besides, automatic
    gauges (:func:`auto_metrics`) for the kernel maps ``auto_maps`` select
    and, with ``auto_objects``, for every hash and array map of the loaded
    objects.  Errors name the file and the metric; whatever was opened is
    closed again."""
    objects: list[LoadedObject] = []
    metrics: list[MapMetric] = []
    opened: list[MapHandle] = []
    stats = None
    try:
        for ocfg in cfg.objects:
            try:
                objects.append(open_object(ocfg))
            except BPFError as e:
                raise BPFError(f"{cfg.path}: object {ocfg.name!r}: {e}") from None
        by_name = {o.name: o for o in objects}
        for mcfg in cfg.metrics:
            source = mcfg.source
            try:
                if source.map is not None and (source.object or any(
                        source.map in o.collection.maps for o in objects)):
                    owners = [by_name[source.object]] if source.object else \
                        [o for o in objects if source.map in o.collection.maps]
                    if len(owners) > 1:
                        raise BPFError(f"objects {', '.join(o.name for o in owners)} all have "
                                       f"a map {source.map!r}: say which with object = ...")
                    handle = object_map(owners[0], source.map)
                else:
                    handle = kernel_map(source)
                    opened.append(handle)
                metrics.append(MapMetric(mcfg.spec, handle))
            except BPFError as e:
                where = f"metric {mcfg.spec.name!r}"
                message = str(e)
                message = message[len(where):] if message.startswith(where) else ": " + message
                raise BPFError(f"{cfg.path}: {where}{message}") from None
        if auto_objects:
            for obj in objects:
                for name, m in obj.collection.maps.items():
                    if m.type in AUTO_MAP_TYPES and not name.startswith("."):
                        handle = object_map(obj, name)
                        metrics.extend(auto_metrics(handle, cfg.namespace or AUTO_PREFIX))
        for selector in auto_maps:
            handle = kernel_map(selector)
            opened.append(handle)
            metrics.extend(auto_metrics(handle, cfg.namespace or AUTO_PREFIX))
        if cfg.program_stats != "off":
            from .programs import ProgramStats

            stats = ProgramStats(cfg.program_stats, objects)
    except BaseException:
        for handle in opened:
            handle.map.close()
        for obj in objects:
            obj.close()
        raise
    return Exporter(metrics, max_entries=cfg.max_entries, objects=objects, owned=opened,
                    program_stats=stats)


class MetricsHandler(BaseHTTPRequestHandler):
    """``GET /metrics``: one scrape; ``GET /``: a page linking to it."""

    exporter: Exporter
    server_version = "pybpf-exporter"
    quiet = True

    def do_GET(self) -> None:
        """Answer a GET."""
        self._answer(body=True)

    def do_HEAD(self) -> None:
        """Answer a HEAD."""
        self._answer(body=False)

    def _answer(self, body: bool) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                data = self.exporter.render().encode()
            except Exception as e:  # a scrape must answer, whatever failed
                self._send(500, "text/plain; charset=utf-8",
                           f"scrape failed: {e}\n".encode(), body)
                return
            self._send(200, CONTENT_TYPE, data, body)
        elif path == "/":
            page = (b"<html><head><title>pybpf exporter</title></head><body>"
                    b"<h1>pybpf exporter</h1><p><a href=\"/metrics\">Metrics</a></p>"
                    b"</body></html>\n")
            self._send(200, "text/html; charset=utf-8", page, body)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /metrics\n", body)

    def _send(self, status: int, content_type: str, data: bytes, body: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged unless ``quiet`` is False."""
        if not self.quiet:
            super().log_message(format, *args)


class MetricsServer(ThreadingHTTPServer):
    """The exporter's HTTP server: a thread per request."""

    daemon_threads = True
    allow_reuse_address = True


def parse_listen(text: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``:PORT`` for every address, ``[::1]:PORT`` for
    IPv6) as ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise BPFError(f"--listen {text!r}: expected ADDR:PORT, e.g. 127.0.0.1:9435")
    try:
        number = int(port)
    except ValueError:
        raise BPFError(f"--listen {text!r}: the port must be a number") from None
    if not 0 <= number <= 65535:
        raise BPFError(f"--listen {text!r}: the port must be 0-65535")
    return host.strip("[]") or "0.0.0.0", number


def serve(exporter: Exporter, host: str, port: int, *, quiet: bool = True) -> MetricsServer:
    """Serve ``exporter`` on ``host:port`` (port 0: any free one; the
    server's ``server_address`` says which) from a background thread;
    ``server.shutdown()`` stops it."""
    import socket

    handler = type("Handler", (MetricsHandler,), {"exporter": exporter, "quiet": quiet})
    server_class = MetricsServer
    if ":" in host:
        server_class = type("MetricsServer6", (MetricsServer,),
                            {"address_family": socket.AF_INET6})
    try:
        server = server_class((host, port), handler)
    except OSError as e:
        raise BPFError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    thread = threading.Thread(target=server.serve_forever, name="pybpf-exporter",
                              daemon=True)
    thread.start()
    return server


__all__ = ["AUTO_MAP_TYPES", "AUTO_PREFIX", "SELF", "Exporter", "MetricsHandler",
           "MetricsServer", "auto_metrics", "build", "parse_listen", "serve"]
