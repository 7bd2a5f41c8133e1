"""The exporter's metrics pushed over OpenTelemetry's OTLP/HTTP, JSON-encoded.

Beside ``/metrics``, an :class:`OtlpPusher` sends the same metric families
every ``interval`` seconds as ``POST {endpoint}/v1/metrics`` with
``Content-Type: application/json``: an ``ExportMetricsServiceRequest`` in
the protobuf JSON mapping OTLP uses (lowerCamelCase field names, 64-bit
integers as strings, enums as numbers), gzip-compressed with
``compression = "gzip"``, with the standard library only::

    {"resourceMetrics": [{
       "resource": {"attributes": [{"key": "service.name",
                                    "value": {"stringValue": "pybpf-export"}}, ...]},
       "scopeMetrics": [{"scope": {"name": "pybpf.export", "version": "..."},
                         "metrics": [...]}]}]}

:func:`encode_metrics` maps each family: a counter becomes a monotonic
cumulative ``sum``, a gauge (and an untyped family) a ``gauge``, a histogram
a cumulative ``histogram`` whose ``explicitBounds`` are the Prometheus
``le`` bounds without ``+Inf`` and whose ``bucketCounts`` (one more than
the bounds) count each bucket alone — Prometheus's buckets are cumulative,
OTLP's are not.  Labels become string attributes.  The values are those a
scrape serves, with the counter offsets that carry counts across reloads
(:mod:`pybpf.export.offsets`), so every cumulative series keeps the
exporter's start time as its ``startTimeUnixNano``; a series whose value
goes down anyway (its map was emptied) starts again at the previous push
(:class:`StartTimes`).

A push that fails is tried again after 0.5 s, 1 s, 2 s... (at most
:data:`ATTEMPTS` tries, within the interval; a ``Retry-After`` is honoured)
when the failure may pass — no connection, a timeout, HTTP 429, 502, 503,
504 — and given up at once otherwise.  A push given up is logged in one
line (the same error again at most once a minute) and counted in
``pybpf_exporter_otlp_exports_total{result="failure"}``; the exporter goes
on serving and pushing.  Stopping pushes once more, so the last counts
are sent too, but waits :data:`STOP_SECONDS` at most for a push under way
and for that last one: a receiver that hangs cannot hold the exporter up.
"""

from __future__ import annotations

import contextlib
import email.utils
import gzip
import http.client
import json
import math
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .. import __version__
from .config import ExporterConfig, OtlpConfig
from .exporter import SELF, Exporter, StagedChange
from .textformat import MetricFamily

AGGREGATION_TEMPORALITY_CUMULATIVE = 2
"""OTLP's ``AggregationTemporality`` for values counted from a fixed start."""
JSON_CONTENT_TYPE = "application/json"
"""The Content-Type of OTLP/HTTP's JSON encoding."""
SCOPE_NAME = "pybpf.export"
"""The instrumentation scope the metrics are reported under."""
DEFAULT_SERVICE_NAME = "pybpf-export"
"""``service.name`` unless ``resource_attributes`` give one."""
ATTEMPTS = 4
"""Tries per push at most (the first and three retries)."""
FIRST_BACKOFF = 0.5
"""Seconds before the first retry; each further one waits twice as long."""
MAX_BACKOFF = 8.0
"""Seconds a retry waits at most."""
RETRYABLE_STATUS = frozenset({429, 502, 503, 504})
"""HTTP statuses after which OTLP/HTTP clients try again."""
REPEAT_LOG_SECONDS = 60.0
"""The same push error is logged again after this long at the soonest."""
STOP_SECONDS = 5.0
"""Stopping waits this long at most for a push under way, and as long
again for the last push (whatever a receiver's timeout)."""
INT64_MAX = (1 << 63) - 1


# --- encoding ---------------------------------------------------------------------------------

def attribute_value(value: str | int | float | bool) -> dict[str, Any]:
    """An OTLP ``AnyValue`` in the JSON mapping (``intValue`` as a string)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        if -INT64_MAX - 1 <= value <= INT64_MAX:
            return {"intValue": str(value)}
        return {"stringValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": json_double(value)}
    return {"stringValue": str(value)}


def attributes(pairs: Iterable[tuple[str, Any]]) -> list[dict[str, Any]]:
    """``[{key, value}]`` for ``(name, value)`` pairs."""
    return [{"key": key, "value": attribute_value(value)} for key, value in pairs]


def json_double(value: float) -> float | str:
    """A double as the JSON mapping writes it: a number, or ``"NaN"``,
    ``"Infinity"``, ``"-Infinity"``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def number_value(value: float) -> dict[str, Any]:
    """A data point's value: ``asInt`` (a string) for an integer that
    fits in 64 signed bits, else ``asDouble``."""
    if isinstance(value, int) and not isinstance(value, bool) \
            and -INT64_MAX - 1 <= value <= INT64_MAX:
        return {"asInt": str(value)}
    return {"asDouble": json_double(float(value))}


@dataclass
class HistogramPoint:
    """One histogram series taken back from Prometheus's cumulative
    samples: the upper ``bounds`` (``+Inf`` left out), ``counts`` per
    bucket (``len(bounds) + 1`` of them, the last above every bound), and
    ``sum``."""

    bounds: list[float]
    counts: list[int]
    sum: float

    @property
    def count(self) -> int:
        """Every value counted."""
        return sum(self.counts)


def histogram_points(family: MetricFamily
                     ) -> dict[tuple[tuple[str, str], ...], HistogramPoint]:
    """Per label set (without ``le``), the histogram a Prometheus histogram
    family's ``_bucket``/``_sum``/``_count`` samples describe, its bucket
    counts made non-cumulative."""
    buckets: dict[tuple, list[tuple[float, float]]] = {}
    sums: dict[tuple, float] = {}
    totals: dict[tuple, float] = {}
    for sample in family.samples:
        suffix = sample.name[len(family.name):]
        if suffix == "_bucket":
            labels = tuple(p for p in sample.labels if p[0] != "le")
            le = dict(sample.labels).get("le", "+Inf")
            buckets.setdefault(labels, []).append((float(le), sample.value))
        elif suffix == "_sum":
            sums[sample.labels] = sample.value
        elif suffix == "_count":
            totals[sample.labels] = sample.value
    out = {}
    for labels in sorted(set(buckets) | set(totals)):
        rows = sorted(buckets.get(labels, []))
        bounds = [le for le, _ in rows if not math.isinf(le)]
        finite = [cumulative for le, cumulative in rows if not math.isinf(le)]
        total = next((c for le, c in rows if math.isinf(le)), totals.get(labels))
        if total is None:
            total = finite[-1] if finite else 0
        counts, below = [], 0
        for cumulative in [*finite, total]:
            counts.append(max(0, int(cumulative) - below))
            below = max(below, int(cumulative))
        out[labels] = HistogramPoint(bounds, counts, float(sums.get(labels, 0.0)))
    return out


class StartTimes:
    """The start time of every cumulative series: the exporter's start
    (``start_ns``), unless a series' value went down since the previous
    push, when it starts again at that push's time.  Series missing from
    a push are forgotten."""

    def __init__(self, start_ns: int):
        self.start_ns = start_ns
        self.previous_ns = start_ns
        self.series: dict[tuple, tuple[int, float]] = {}
        self._seen: dict[tuple, tuple[int, float]] = {}

    def start(self, key: tuple, value: float) -> int:
        """The start time of series ``key``, now at ``value``."""
        start, last = self.series.get(key, (self.start_ns, value))
        if value < last:
            start = self.previous_ns
        self._seen[key] = (start, value)
        return start

    def done(self, now_ns: int) -> None:
        """A push at ``now_ns`` is encoded."""
        self.series, self._seen = self._seen, {}
        self.previous_ns = now_ns


def encode_metrics(families: Iterable[MetricFamily], *, now_ns: int, start_ns: int,
                   resource: dict[str, Any] | None = None,
                   starts: StartTimes | None = None) -> dict[str, Any]:
    """An ``ExportMetricsServiceRequest`` (as JSON-ready data) of
    ``families`` observed at ``now_ns``, the cumulative ones counted from
    ``start_ns`` (or as ``starts`` says, which learns from this push)."""
    starts = starts if starts is not None else StartTimes(start_ns)
    now = str(now_ns)
    metrics = []
    for family in families:
        metric: dict[str, Any] = {"name": family.name}
        if family.help:
            metric["description"] = family.help
        if family.type == "counter":
            points = []
            for sample in family.samples:
                start = starts.start((family.name, sample.labels), sample.value)
                points.append({"attributes": attributes(sample.labels),
                               "startTimeUnixNano": str(start), "timeUnixNano": now,
                               **number_value(sample.value)})
            metric["sum"] = {"dataPoints": points, "isMonotonic": True,
                             "aggregationTemporality": AGGREGATION_TEMPORALITY_CUMULATIVE}
        elif family.type == "histogram":
            points = []
            for labels, hist in histogram_points(family).items():
                start = starts.start((family.name, labels), hist.count)
                points.append({"attributes": attributes(labels),
                               "startTimeUnixNano": str(start), "timeUnixNano": now,
                               "count": str(hist.count), "sum": json_double(hist.sum),
                               "bucketCounts": [str(c) for c in hist.counts],
                               "explicitBounds": hist.bounds})
            metric["histogram"] = {
                "dataPoints": points,
                "aggregationTemporality": AGGREGATION_TEMPORALITY_CUMULATIVE}
        else:
            metric["gauge"] = {"dataPoints": [
                {"attributes": attributes(sample.labels), "timeUnixNano": now,
                 **number_value(sample.value)} for sample in family.samples]}
        metrics.append(metric)
    starts.done(now_ns)
    return {"resourceMetrics": [{
        "resource": {"attributes": attributes((resource or {}).items())},
        "scopeMetrics": [{"scope": {"name": SCOPE_NAME, "version": __version__},
                          "metrics": metrics}]}]}


def resource_of(config: OtlpConfig) -> dict[str, Any]:
    """The resource attributes a push carries: ``service.name`` and
    ``host.name`` unless the configuration gives them, then its own."""
    return {"service.name": DEFAULT_SERVICE_NAME, "host.name": socket.gethostname(),
            **config.resource_attributes}


# --- pushing ----------------------------------------------------------------------------------

class PushError(Exception):
    """One try of a push failed; ``retry`` says whether trying again may
    help, ``after`` how long the receiver asked to wait (or None)."""

    def __init__(self, message: str, retry: bool, after: float | None = None):
        super().__init__(message)
        self.retry, self.after = retry, after


def post(config: OtlpConfig, body: bytes) -> dict[str, Any]:
    """Send one request; the receiver's JSON answer (``{}`` for none), or
    :class:`PushError`."""
    headers = {"Content-Type": JSON_CONTENT_TYPE, "Accept": JSON_CONTENT_TYPE,
               "User-Agent": f"pybpf-exporter/{__version__}", **config.headers}
    if config.compression == "gzip":
        body = gzip.compress(body, compresslevel=6)
        headers["Content-Encoding"] = "gzip"
    request = urllib.request.Request(config.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=config.timeout) as response:
            answer = response.read()
    except urllib.error.HTTPError as e:
        detail = _detail(e)
        raise PushError(f"HTTP {e.code} {e.reason}{': ' + detail if detail else ''}",
                        e.code in RETRYABLE_STATUS, _retry_after(e.headers)) from None
    except urllib.error.URLError as e:
        reason = e.reason
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        raise PushError(str(text), True) from None
    except (TimeoutError, OSError) as e:   # a read timing out, a connection reset
        raise PushError(e.strerror or str(e) or type(e).__name__, True) from None
    except http.client.HTTPException as e:  # a garbled answer
        raise PushError(f"bad answer: {' '.join(str(e).split()) or type(e).__name__}",
                        True) from None
    except ValueError as e:                  # a URL urllib cannot use
        raise PushError(str(e), False) from None
    try:
        data = json.loads(answer) if answer.strip() else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _detail(error: urllib.error.HTTPError) -> str:
    """A receiver's error text, on one line and short."""
    with contextlib.suppress(Exception):
        text = error.read(500).decode(errors="replace")
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict) and isinstance(data.get("message"), str):
                text = data["message"]
        return " ".join(text.split())[:200]
    return ""


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(TypeError, ValueError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class OtlpPusher:
    """Pushes what ``collect`` returns to ``config``'s endpoint every
    ``config.interval`` seconds from a thread (:meth:`start`,
    :meth:`stop`), or once (:meth:`push`).  ``config`` None: idle until a
    reload gives one (:meth:`stage`).  ``start_ns`` is when the counters
    started counting."""

    def __init__(self, collect: Callable[[], list[MetricFamily]], config: OtlpConfig | None,
                 *, start_ns: int | None = None, log: Callable[[str], None] = _log):
        self.collect = collect
        self.config = config
        self.log = log
        self.starts = StartTimes(time.time_ns() if start_ns is None else start_ns)
        self.exports = {"success": 0, "failure": 0}
        self.retries = 0
        self.last_error: str | None = None
        self._last_logged: tuple[str, float] | None = None
        self._failing = 0
        self._wanted = False
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._thread: threading.Thread | None = None
        self._push_lock = threading.Lock()

    @classmethod
    def for_exporter(cls, exporter: Exporter, config: OtlpConfig | None) -> OtlpPusher:
        """A pusher of ``exporter``'s metrics: its counts join the
        exporter's own metrics and a reload's ``[otlp]`` table applies to
        it (:attr:`Exporter.reload_steps`)."""
        pusher = cls(lambda: exporter.collect(scrape=False), config,
                     start_ns=exporter.start_time_ns, log=lambda line: exporter.log(line))
        exporter.own_metrics.append(pusher.families)
        exporter.reload_steps.append(pusher.stage)
        return pusher

    @property
    def running(self) -> bool:
        """Whether the pushing thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def describe(self) -> str:
        """Where and how often it pushes, in words."""
        if self.config is None:
            return "not pushing over OTLP"
        return f"pushing to {self.config.url} every {self.config.interval:g} s"

    # -- one push --

    def push(self, families: list[MetricFamily] | None = None, *,
             attempts: int = ATTEMPTS) -> bool:
        """Collect (unless ``families`` are given), encode and send once,
        retrying as the module says; True when the receiver took it."""
        config = self.config
        if config is None:
            return False
        stop = self._stop
        with self._push_lock:
            if families is None:
                families = self.collect()
            now_ns = time.time_ns()
            body = json.dumps(encode_metrics(families, now_ns=now_ns,
                                             start_ns=self.starts.start_ns,
                                             resource=resource_of(config),
                                             starts=self.starts),
                              separators=(",", ":"), allow_nan=False).encode()
            budget_end = time.monotonic() + config.interval
            delay, tries = FIRST_BACKOFF, 0
            while True:
                tries += 1
                try:
                    answer = post(config, body)
                except PushError as e:
                    wait = min(e.after if e.after is not None else delay, MAX_BACKOFF)
                    if (not e.retry or tries >= attempts
                            or time.monotonic() + wait > budget_end
                            or stop.wait(wait)):
                        self._failed(config, f"{e} ({tries} tr{'y' if tries == 1 else 'ies'})")
                        return False
                    self.retries += 1
                    delay *= 2
                    continue
                self._succeeded(config, answer)
                return True

    def _failed(self, config: OtlpConfig, message: str) -> None:
        self.exports["failure"] += 1
        self._failing += 1
        self.last_error = message
        now = time.monotonic()
        if self._last_logged is not None and self._last_logged[0] == message \
                and now - self._last_logged[1] < REPEAT_LOG_SECONDS:
            return
        self._last_logged = (message, now)
        self.log(f"pybpf: export: OTLP push to {config.url} failed: {message}")

    def _succeeded(self, config: OtlpConfig, answer: dict[str, Any]) -> None:
        self.exports["success"] += 1
        if self._failing:
            self.log(f"pybpf: export: OTLP push to {config.url} works again "
                     f"(after {self._failing} failed)")
        self._failing, self.last_error, self._last_logged = 0, None, None
        partial = answer.get("partialSuccess")
        if isinstance(partial, dict):
            rejected = partial.get("rejectedDataPoints")
            with contextlib.suppress(TypeError, ValueError):
                if int(rejected or 0) > 0:
                    message = " ".join(str(partial.get("errorMessage") or "").split())
                    self.log(f"pybpf: export: OTLP receiver {config.url} rejected {rejected} "
                             f"data points{': ' + message if message else ''}")

    # -- the thread --

    def start(self) -> None:
        """Push every interval from a background thread (until :meth:`stop`;
        with no configuration, from when a reload gives one)."""
        self._wanted = True
        if self._thread is not None or self.config is None:
            return
        # events of this thread's own: one that outlives stop() (a push stuck
        # in a request) still sees that it was told to stop
        self._stop, self._changed = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop, self._changed),
                                        name="pybpf-otlp", daemon=True)
        self._thread.start()

    def _run(self, stop: threading.Event, changed: threading.Event) -> None:
        next_push = time.monotonic() + self._interval()
        while not stop.is_set():
            if changed.wait(max(0.0, next_push - time.monotonic())):
                changed.clear()            # a new interval: count it from now
                next_push = time.monotonic() + self._interval()
                continue
            if stop.is_set() or self.config is None:
                return
            with contextlib.suppress(Exception):   # a push must never end the thread
                self.push()
            next_push = max(next_push + self._interval(), time.monotonic())

    def _interval(self) -> float:
        config = self.config
        return config.interval if config is not None else 1.0

    def stop(self, *, flush: bool = True) -> None:
        """Stop the thread; ``flush``: push once more (a single try), so
        the last counts are not lost."""
        self._wanted = False
        if self._stop_thread() and flush and self.config is not None:
            def last() -> None:
                with contextlib.suppress(Exception):
                    self.push(attempts=1)

            flusher = threading.Thread(target=last, name="pybpf-otlp-flush", daemon=True)
            flusher.start()
            flusher.join(STOP_SECONDS)

    def _stop_thread(self) -> bool:
        """Tell the thread to end and wait for it (:data:`STOP_SECONDS` at
        most); whether one ran."""
        thread, self._thread = self._thread, None
        if thread is None:
            return False
        self._stop.set()
        self._changed.set()
        thread.join(STOP_SECONDS)
        self._stop = threading.Event()   # push() once more, outside any thread
        return True

    # -- reloads and own metrics --

    def stage(self, cfg: ExporterConfig) -> StagedChange | None:
        """Apply a reloaded configuration's ``[otlp]`` table on commit (a
        :class:`~pybpf.export.exporter.StagedChange`; None when unchanged)."""
        new = cfg.otlp
        if new == self.config:
            return None

        def commit() -> str:
            self.config = new
            if new is None:
                self._stop_thread()
                return "no longer pushing over OTLP"
            if self._wanted and self._thread is None:
                self.start()
            self._changed.set()       # the thread counts the new interval from now
            return f"now {self.describe()}"

        return StagedChange(commit, lambda: None)

    def families(self) -> list[MetricFamily]:
        """The pusher's own metrics."""
        f = MetricFamily(f"{SELF}_otlp_exports_total", "counter",
                         "OTLP pushes, by result (a failure: every try failed).")
        for result, count in self.exports.items():
            f.add((("result", result),), count)
        r = MetricFamily(f"{SELF}_otlp_retries_total", "counter",
                         "OTLP requests tried again after a failure that may pass.")
        r.add((), self.retries)
        return [f, r]


__all__ = ["AGGREGATION_TEMPORALITY_CUMULATIVE", "ATTEMPTS", "DEFAULT_SERVICE_NAME",
           "FIRST_BACKOFF", "JSON_CONTENT_TYPE", "MAX_BACKOFF", "RETRYABLE_STATUS",
           "SCOPE_NAME", "STOP_SECONDS", "HistogramPoint", "OtlpPusher", "PushError", "StartTimes",
           "attribute_value", "attributes", "encode_metrics", "histogram_points",
           "number_value", "post", "resource_of"]
