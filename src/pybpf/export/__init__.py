"""``pybpf export``: a Prometheus exporter for BPF maps.

Counters, gauges and histograms read from maps at each scrape — maps of
objects the exporter loads and attaches itself, and maps already in the
kernel (pinned, or found by id or name) — with labels decoded from the
maps' BTF-typed keys, served at ``/metrics`` in the Prometheus text format
by a threaded HTTP server of the standard library, and optionally pushed
to an OpenTelemetry receiver over OTLP/HTTP (JSON).

* :mod:`~pybpf.export.textformat` — the text format (writing, escaping);
* :mod:`~pybpf.export.fields` and :mod:`~pybpf.export.decoders` — keys and
  values taken apart through BTF, and label decoders (ksym, IP, port...);
* :mod:`~pybpf.export.metrics` — a metric's spec bound to a map, bounded reads;
* :mod:`~pybpf.export.config` — the TOML configuration file;
* :mod:`~pybpf.export.sources` — objects loaded and maps found in the kernel;
* :mod:`~pybpf.export.offsets` — counters carried across configuration reloads;
* :mod:`~pybpf.export.exporter` — scrapes, reloads, the exporter's own metrics, HTTP;
* :mod:`~pybpf.export.otlp` — the same metrics pushed over OTLP/HTTP.
"""

from __future__ import annotations

from .config import (
    ExportConfigError,
    ExporterConfig,
    OtlpConfig,
    parse_config,
    parse_listen,
    read_config,
)
from .exporter import Exporter, Listener, auto_metrics, build, serve
from .metrics import LabelSpec, MapHandle, MapMetric, MetricConfigError, MetricSpec
from .otlp import OtlpPusher, encode_metrics
from .textformat import MetricFamily, Sample, render

__all__ = ["ExportConfigError", "Exporter", "ExporterConfig", "LabelSpec", "Listener",
           "MapHandle", "MapMetric", "MetricConfigError", "MetricFamily", "MetricSpec",
           "OtlpConfig", "OtlpPusher", "Sample", "auto_metrics", "build", "encode_metrics",
           "parse_config", "parse_listen", "read_config", "render", "serve"]
