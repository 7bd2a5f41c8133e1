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
``pybpf_exporter_config_reloads_total{result}``     reloads, ``success`` or ``failure``
``pybpf_exporter_config_last_reload_successful``    0 when the last reload failed
==================================================  ===============================

and ``pybpf_exporter_config_last_reload_success_timestamp_seconds``, when
the configuration was last loaded (Unix time).

:meth:`Exporter.reload` swaps in a new configuration while serving: it is
opened and checked in full first (a bad one changes nothing), objects and
kernel maps that did not change are kept as they are (their counts go on),
and a counter whose map had to be replaced continues from its last value
(:mod:`pybpf.export.offsets`).  ``pybpf export`` reloads on SIGHUP, and on
``POST /-/reload`` with ``--enable-reload``; a :class:`Listener` moves the
HTTP server when the new configuration listens elsewhere.

With program statistics on (:mod:`pybpf.export.programs`),
``bpf_program_runs_total`` and ``bpf_program_run_seconds_total`` say what
each program costs.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..errors import BPFError, MapError
from .config import (
    DEFAULT_LISTEN,
    DEFAULT_MAX_ENTRIES,
    ExporterConfig,
    MapSelector,
    parse_listen,
)
from .metrics import MapHandle, MapMetric, MetricConfigError, MetricSpec, read_entries
from .offsets import CounterOffsets
from .sources import (
    LoadedObject,
    kernel_map,
    object_key,
    object_map,
    open_object,
    selector_key,
)
from .textformat import CONTENT_TYPE, MetricFamily, render, sanitize_name

SELF = "pybpf_exporter"
"""The prefix of the exporter's own metrics."""
AUTO_PREFIX = "bpf_map"
"""Metric names of maps exported without a configuration start so."""
AUTO_MAP_TYPES = frozenset({"hash", "array", "percpu_hash", "percpu_array", "lru_hash",
                            "lru_percpu_hash"})
"""Map types an object exported without a configuration gives metrics for."""


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class StagedChange:
    """A part of a reload made ready but not yet in force (see
    :meth:`Exporter.reload`): ``commit`` puts it in force and says what
    changed in a few words (or None), ``abort`` undoes the preparation."""

    commit: Callable[[], str | None]
    abort: Callable[[], None]


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
        self.config: ExporterConfig | None = None
        self.auto_maps: list[MapSelector] = []
        self.auto_objects = False
        self.loader: Callable[[], ExporterConfig] | None = None
        """Reads the configuration again, for :meth:`reload_config`."""
        self.log: Callable[[str], None] = _log
        self.offsets = CounterOffsets()
        self.reloads = {"success": 0, "failure": 0}
        self.last_reload_success = time.time()
        self.last_reload_ok = True
        self._reload_lock = threading.RLock()
        self.start_time_ns = time.time_ns()
        """When the exporter started (Unix nanoseconds): where its counters
        count from, across reloads too (:mod:`pybpf.export.offsets`)."""
        self.own_metrics: list[Callable[[], Iterable[MetricFamily]]] = []
        """More of the exporter's own metrics, added to every collection
        (the OTLP pusher's counts, for one)."""
        self.reload_steps: list[Callable[[ExporterConfig], StagedChange | None]] = []
        """Parts of the exporter outside the maps that a new configuration
        may change (the listening address, the OTLP push): see :meth:`reload`."""

    def collect(self, *, scrape: bool = True) -> list[MetricFamily]:
        """Read every map once and return every metric family, the
        exporter's own last.  ``scrape`` False (an OTLP push) leaves the
        scrape count and duration as they are."""
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
                    families.append(self.offsets.apply(metric.family(read.entries)))
                except (BPFError, MapError, OSError, ValueError) as e:
                    self.errors[metric.spec.name] = self.errors.get(metric.spec.name, 0) + 1
                    self.last_errors[metric.spec.name] = str(e)
            if self.program_stats is not None:
                try:
                    families.extend(self.program_stats.families())
                except (BPFError, OSError) as e:
                    self.errors["program_stats"] = self.errors.get("program_stats", 0) + 1
                    self.last_errors["program_stats"] = str(e)
            if scrape:
                self.scrapes += 1
                self.last_duration = time.monotonic() - start
            families.extend(self._own())
            for more in self.own_metrics:
                families.extend(more())
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
        f = MetricFamily(f"{SELF}_config_reloads_total", "counter",
                         "Configuration reloads, by result.")
        for result, count in self.reloads.items():
            f.add((("result", result),), count)
        own.append(f)
        f = MetricFamily(f"{SELF}_config_last_reload_successful", "gauge",
                         "1 when the last reload succeeded (or none was tried).")
        f.add((), int(self.last_reload_ok))
        own.append(f)
        f = MetricFamily(f"{SELF}_config_last_reload_success_timestamp_seconds", "gauge",
                         "When the configuration was last loaded successfully.")
        f.add((), round(self.last_reload_success, 3))
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

    def reload(self, cfg: ExporterConfig) -> list[str]:
        """Serve ``cfg`` instead of the current configuration.  Everything
        is opened and checked first; on an error nothing changes (the
        error is raised).  Objects and kernel maps unchanged between the
        two are kept as they are, so their counts continue; those no longer
        needed are closed.  A counter whose map was replaced carries on
        from its last value (:class:`~pybpf.export.offsets.CounterOffsets`).

        Each of :attr:`reload_steps` is staged first (a new listening
        socket bound, say) and put in force only once the maps are in
        place; when one fails, those staged are undone and nothing changes.
        Returns what the steps changed, in words (``now serving at ...``)."""
        with self._reload_lock:
            staged: list[StagedChange] = []
            try:
                for step in self.reload_steps:
                    change = step(cfg)
                    if change is not None:
                        staged.append(change)
                new = open_sources(cfg, self.auto_maps, auto_objects=self.auto_objects,
                                   previous=self)
            except BaseException:
                for change in reversed(staged):
                    with contextlib.suppress(Exception):
                        change.abort()
                raise
            self._swap(cfg, new)
            return [note for change in staged if (note := change.commit())]

    def _swap(self, cfg: ExporterConfig, new: Sources) -> None:
        """Put the sources ``new`` opened for ``cfg`` in force; close what
        they no longer need."""
        with self._lock:
            before = {m.spec.name: m for m in self.metrics}
            replaced = [m.spec.name for m in new.metrics if m.spec.name in before
                        and before[m.spec.name].handle.map is not m.handle.map]
            for name in replaced:
                self._read_last(before[name])
            names = {m.spec.name for m in new.metrics}
            self.offsets.keep_only(names)
            self.offsets.rebase(replaced)
            old_objects, old_owned, old_stats = self.objects, self.owned, self.program_stats
            self.metrics, self.objects, self.owned = new.metrics, new.objects, new.owned
            self.program_stats = new.stats
            if new.stats is not None:
                new.stats.objects = list(new.objects)
            self.max_entries = cfg.max_entries
            self.config = cfg
            self.errors = {name: count for name, count in self.errors.items()
                           if name in names or name == "program_stats"}
            for name in names:
                self.errors.setdefault(name, 0)
            self.entries.clear()
            self.truncated.clear()
        kept_objects = {id(o) for o in new.objects}
        kept_maps = {id(h) for h in new.owned}
        for handle in old_owned:
            if id(handle) not in kept_maps:
                with contextlib.suppress(BPFError, OSError):
                    handle.map.close()
        for obj in old_objects:
            if id(obj) not in kept_objects:
                obj.close()
        if old_stats is not None and old_stats is not new.stats:
            old_stats.close()

    def _read_last(self, metric: MapMetric) -> None:
        """Read a map about to be replaced one last time, so the counts
        made since the last scrape carry over too."""
        with contextlib.suppress(BPFError, MapError, OSError, ValueError):
            read = read_entries(metric.handle.map, self.max_entries)
            self.offsets.apply(metric.family(read.entries))

    def reload_config(self) -> str | None:
        """Read the configuration again (:attr:`loader`) and :meth:`reload`
        it; log the outcome in one line and count it.  Returns the error
        (the old configuration keeps serving), or None."""
        with self._reload_lock:
            try:
                if self.loader is None:
                    raise BPFError("no configuration file to read again")
                cfg = self.loader()
                notes = self.reload(cfg)
            except Exception as e:  # any failure leaves the old configuration serving
                message = " ".join(str(e).split()) or type(e).__name__
                self.reloads["failure"] += 1
                self.last_reload_ok = False
                self.log(f"pybpf: export: reload failed, keeping the old configuration: "
                         f"{message}")
                return message
            self.reloads["success"] += 1
            self.last_reload_ok = True
            self.last_reload_success = time.time()
            self.log(f"pybpf: export: reloaded {cfg.path}: serving {len(self.metrics)} metrics"
                     + "".join(f"; {note}" for note in notes))
            return None

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


@dataclass
class Sources:
    """What a configuration opened: the metrics bound to their maps, the
    objects loaded, the kernel maps opened (``owned``) and the program
    statistics."""

    metrics: list[MapMetric]
    objects: list[LoadedObject]
    owned: list[MapHandle]
    stats: Any = None


def open_sources(cfg: ExporterConfig, auto_maps: Iterable[MapSelector] = (), *,
                 auto_objects: bool = False, previous: Exporter | None = None) -> Sources:
    """Open what ``cfg`` needs and check every metric against its map.
    Objects and kernel maps that ``previous`` already holds, unchanged
    (:func:`~pybpf.export.sources.object_key`,
    :func:`~pybpf.export.sources.selector_key`), are taken from it as they
    are, not loaded again.  On an error whatever was newly opened is closed
    again (``previous`` is left untouched) and the error names the file
    and the metric."""
    object_pool = {o.key: o for o in previous.objects} if previous else {}
    map_pool: dict[Any, list[MapHandle]] = {}
    for handle in previous.owned if previous else ():
        map_pool.setdefault(handle.source, []).append(handle)
    objects: list[LoadedObject] = []
    metrics: list[MapMetric] = []
    opened: list[MapHandle] = []
    fresh_objects: list[LoadedObject] = []
    fresh_maps: list[MapHandle] = []
    stats = None
    fresh_stats = False

    def kernel_handle(selector: MapSelector) -> MapHandle:
        kept = map_pool.get(selector_key(selector))
        if kept:
            handle = kept.pop(0)
        else:
            handle = kernel_map(selector)
            fresh_maps.append(handle)
        opened.append(handle)
        return handle

    try:
        for ocfg in cfg.objects:
            kept_object = object_pool.pop(object_key(ocfg), None)
            if kept_object is not None:
                objects.append(kept_object)
                continue
            try:
                obj = open_object(ocfg)
            except BPFError as e:
                raise BPFError(f"{cfg.path}: object {ocfg.name!r}: {e}") from None
            fresh_objects.append(obj)
            objects.append(obj)
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
                    handle = kernel_handle(source)
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
            metrics.extend(auto_metrics(kernel_handle(selector), cfg.namespace or AUTO_PREFIX))
        if cfg.program_stats != "off":
            old = previous.program_stats if previous else None
            if old is not None and old.scope == cfg.program_stats:
                stats = old      # its objects are swapped in with the rest
            else:
                from .programs import ProgramStats

                stats = ProgramStats(cfg.program_stats, objects)
                fresh_stats = True
    except BaseException:
        if fresh_stats:
            stats.close()
        for handle in fresh_maps:
            with contextlib.suppress(BPFError, OSError):
                handle.map.close()
        for obj in fresh_objects:
            obj.close()
        raise
    return Sources(metrics, objects, opened, stats)


def build(cfg: ExporterConfig, auto_maps: Iterable[MapSelector] = (), *,
          auto_objects: bool = False) -> Exporter:
    """An exporter for a configuration: objects loaded and attached, maps
    opened, metrics checked against the maps' BTF.  Besides, automatic
    gauges (:func:`auto_metrics`) for the kernel maps ``auto_maps`` select
    and, with ``auto_objects``, for every hash and array map of the loaded
    objects.  Errors name the file and the metric; whatever was opened is
    closed again.  :meth:`Exporter.reload` applies a new configuration
    with the same ``auto_maps`` and ``auto_objects``."""
    auto_maps = list(auto_maps)
    sources = open_sources(cfg, auto_maps, auto_objects=auto_objects)
    exporter = Exporter(sources.metrics, max_entries=cfg.max_entries, objects=sources.objects,
                        owned=sources.owned, program_stats=sources.stats)
    exporter.config = cfg
    exporter.auto_maps = auto_maps
    exporter.auto_objects = auto_objects
    return exporter


class MetricsHandler(BaseHTTPRequestHandler):
    """``GET /metrics``: one scrape; ``GET /``: a page linking to it;
    ``POST /-/reload`` (with ``enable_reload``): read the configuration
    again (200, or 500 and the error)."""

    exporter: Exporter
    server_version = "pybpf-exporter"
    quiet = True
    enable_reload = False

    def do_POST(self) -> None:
        """Answer a POST: only ``/-/reload``."""
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.split("?", 1)[0] != "/-/reload":
            self._send(404, "text/plain; charset=utf-8", b"not found\n", True)
        elif not self.enable_reload:
            self._send(403, "text/plain; charset=utf-8",
                       b"reloading over HTTP is off (--enable-reload turns it on)\n", True)
        else:
            error = self.exporter.reload_config()
            if error is None:
                self._send(200, "text/plain; charset=utf-8", b"reloaded\n", True)
            else:
                self._send(500, "text/plain; charset=utf-8",
                           f"reload failed: {error}\n".encode(), True)

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


def bind(exporter: Exporter, host: str, port: int, *, quiet: bool = True,
         enable_reload: bool = False) -> MetricsServer:
    """A server for ``exporter`` bound to ``host:port`` and listening, not
    yet answering (:func:`start` does); errors are one line."""
    import socket

    handler = type("Handler", (MetricsHandler,), {"exporter": exporter, "quiet": quiet,
                                                   "enable_reload": enable_reload})
    server_class = MetricsServer
    if ":" in host:
        server_class = type("MetricsServer6", (MetricsServer,),
                            {"address_family": socket.AF_INET6})
    try:
        return server_class((host, port), handler)
    except (OSError, OverflowError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise BPFError(f"cannot listen on {url_host(host)}:{port}: {reason}") from None


def start(server: MetricsServer) -> MetricsServer:
    """Answer requests on ``server`` from a background thread."""
    thread = threading.Thread(target=server.serve_forever, name="pybpf-exporter",
                              daemon=True)
    thread.start()
    return server


def serve(exporter: Exporter, host: str, port: int, *, quiet: bool = True,
          enable_reload: bool = False) -> MetricsServer:
    """Serve ``exporter`` on ``host:port`` (port 0: any free one; the
    server's ``server_address`` says which) from a background thread;
    ``server.shutdown()`` stops it.  ``enable_reload``: ``POST /-/reload``
    calls :meth:`Exporter.reload_config`."""
    return start(bind(exporter, host, port, quiet=quiet, enable_reload=enable_reload))


def url_host(host: str) -> str:
    """``host`` as a URL writes it (IPv6 addresses in brackets)."""
    return f"[{host}]" if ":" in host else host


def metrics_url(server: MetricsServer) -> str:
    """Where ``server`` serves the metrics, as a URL."""
    host, port = server.server_address[:2]
    return f"http://{url_host(str(host))}:{port}/metrics"


class Listener:
    """The exporter's HTTP server, moved when a reload changes ``listen``.

    ``listen`` is ``ADDR:PORT`` (:func:`parse_listen`).  The listener adds
    itself to the exporter's :attr:`~Exporter.reload_steps`: a configuration
    with another address gets a new server bound first, which answers once
    the rest of the reload is in place, and only then is the old server
    stopped; when the new address cannot be bound the reload fails and the
    old server goes on.  (An address that overlaps the old one on the same
    port, ``0.0.0.0:9435`` after ``127.0.0.1:9435``, cannot be bound while
    the old one listens: restart the exporter for that.)  A configuration
    without ``listen`` asks for :data:`~pybpf.export.config.DEFAULT_LISTEN`."""

    def __init__(self, exporter: Exporter, listen: str, *, quiet: bool = True,
                 enable_reload: bool = False):
        self.exporter = exporter
        self.quiet, self.enable_reload = quiet, enable_reload
        self.requested = parse_listen(listen)
        self.server = start(bind(exporter, *self.requested, quiet=quiet,
                                 enable_reload=enable_reload))
        exporter.reload_steps.append(self.stage)

    @property
    def url(self) -> str:
        """Where the metrics are served now."""
        return metrics_url(self.server)

    def stage(self, cfg: ExporterConfig) -> StagedChange | None:
        """Bind the address ``cfg`` asks for if it is another one (a
        :class:`StagedChange`; None when it is the same)."""
        wanted = parse_listen(cfg.listen or DEFAULT_LISTEN, what="listen")
        if wanted == self.requested:
            return None
        server = bind(self.exporter, *wanted, quiet=self.quiet,
                      enable_reload=self.enable_reload)

        def commit() -> str:
            old, old_url = self.server, self.url
            self.server, self.requested = start(server), wanted
            old.shutdown()
            old.server_close()
            return f"now serving at {self.url} (no longer at {old_url})"

        return StagedChange(commit, server.server_close)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
        with contextlib.suppress(ValueError):
            self.exporter.reload_steps.remove(self.stage)


__all__ = ["AUTO_MAP_TYPES", "AUTO_PREFIX", "SELF", "Exporter", "Listener", "MetricsHandler",
           "MetricsServer", "Sources", "StagedChange", "auto_metrics", "bind", "build",
           "metrics_url", "open_sources", "parse_listen", "serve", "start", "url_host"]
