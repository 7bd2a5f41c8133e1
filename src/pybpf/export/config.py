"""The exporter's configuration file (TOML, read with the standard
library's ``tomllib``).

::

    namespace = "ebpf"             # optional: every metric name starts "ebpf_"
    max_entries = 100000           # elements read per map and scrape (the rest: truncated)
    listen = "127.0.0.1:9435"      # where to serve /metrics (--listen overrides)
    program_stats = "loaded"       # run counts and time of the loaded programs ("all": every
                                   # program; "off", the default: none)

    [[objects]]                    # a BPF object the exporter loads and attaches
    name = "syscount"              # default: the file name without .bpf.o
    tool = "syscount"              # a tool's shipped object, or path = "prog.bpf.o"
    backend = "kernel"             # or "vm": loaded in the VM, nothing attached
    attach = true                  # attach every program where its section says
    variables = { target_pid = 0 } # const volatile knobs and globals, set before loading

    [[metrics]]
    name = "syscalls_total"
    kind = "counter"               # counter | gauge | histogram
    help = "System calls by number."
    map = "stats"                  # a map of an object above, else a kernel map of that name
    object = "syscount"            # which object's map, when several have one of that name
    value = "count"                # the value field (not needed for a plain number)
    scale = 1                      # multiplies the value (1e-9: nanoseconds as seconds)
    labels = [{ name = "syscall", decoder = "syscall" }]   # field = "" : the whole key

    [[metrics]]
    name = "run_queue_latency_seconds"
    kind = "histogram"
    pinned = "/sys/fs/bpf/runqlat/hist"   # or map_id = 42
    bucket_type = "log2"           # log2 | linear
    bucket_field = ""              # the key field holding the bucket ("": the key itself)
    bucket_multiplier = 1e-6       # bucket bounds are microseconds: seconds
    bucket_max = 26

    [otlp]                         # optional: also push the metrics over OTLP/HTTP (JSON)
    endpoint = "http://127.0.0.1:4318"   # POST {endpoint}/v1/metrics (--otlp-endpoint overrides)
    interval = 60                  # seconds between pushes (--otlp-interval overrides)
    timeout = 10                   # seconds one request may take
    compression = "gzip"           # or "none" (the default)
    headers = { authorization = "Bearer ..." }
    resource_attributes = { "service.name" = "pybpf-export", "deployment.environment" = "lab" }

Paths are relative to the file.  Any error is one line naming the file and
the table (``exporter.toml: metrics[1] ('x'): unknown key 'lables'``).
"""

from __future__ import annotations

import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BPFError
from .metrics import LabelSpec, MetricSpec

DEFAULT_MAX_ENTRIES = 100_000
"""Elements read per map and scrape unless the configuration says."""
DEFAULT_LISTEN = "127.0.0.1:9435"
"""Where the exporter listens unless told (the loopback: ``--listen
0.0.0.0:9435`` serves the network)."""
BACKENDS = ("kernel", "vm")
"""Where a configured object is loaded."""
DEFAULT_OTLP_INTERVAL = 60.0
"""Seconds between OTLP pushes unless the configuration says (the
OpenTelemetry SDKs' default export interval)."""
DEFAULT_OTLP_TIMEOUT = 10.0
"""Seconds one OTLP request may take unless the configuration says."""
OTLP_METRICS_PATH = "/v1/metrics"
"""Where OTLP/HTTP receivers take metrics, below the endpoint."""
OTLP_COMPRESSIONS = ("none", "gzip")
"""How an OTLP request body may be compressed (``Content-Encoding``)."""


class ExportConfigError(BPFError):
    """A configuration file the exporter cannot use."""


@dataclass
class ObjectConfig:
    """An object to load: ``path`` (an object file), ``name`` for labels
    and ``object =`` references, ``backend``, ``attach`` and the
    ``variables`` set before loading."""

    name: str
    path: str
    backend: str = "kernel"
    attach: bool = True
    variables: dict[str, Any] = field(default_factory=dict)


@dataclass
class MapSelector:
    """Which map a metric reads: ``map`` (a name: an object's map, else a
    kernel map), ``object`` (whose map), ``pinned`` (a bpffs path) or
    ``map_id``."""

    map: str | None = None
    object: str | None = None
    pinned: str | None = None
    map_id: int | None = None

    def describe(self) -> str:
        """The selector as a user wrote it."""
        if self.pinned:
            return f"pinned {self.pinned}"
        if self.map_id is not None:
            return f"id {self.map_id}"
        return f"{self.object + '.' if self.object else ''}{self.map}"


@dataclass
class MetricConfig:
    """A metric and the map it reads."""

    spec: MetricSpec
    source: MapSelector


@dataclass
class OtlpConfig:
    """Where and how often to push the metrics over OTLP/HTTP: ``endpoint``
    (the receiver's base URL: requests go to :attr:`url`), ``interval`` and
    ``timeout`` in seconds, extra HTTP ``headers``, the
    ``resource_attributes`` every push carries and the body's
    ``compression`` (one of :data:`OTLP_COMPRESSIONS`)."""

    endpoint: str
    interval: float = DEFAULT_OTLP_INTERVAL
    timeout: float = DEFAULT_OTLP_TIMEOUT
    headers: dict[str, str] = field(default_factory=dict)
    resource_attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    compression: str = "none"

    @property
    def url(self) -> str:
        """``{endpoint}/v1/metrics`` (an endpoint that already ends so is used as it is)."""
        base = self.endpoint.rstrip("/")
        return base if base.endswith(OTLP_METRICS_PATH) else base + OTLP_METRICS_PATH


def parse_listen(text: str, *, what: str = "--listen") -> tuple[str, int]:
    """``ADDR:PORT`` (``:PORT`` for every address, ``[::1]:PORT`` for
    IPv6) as ``(host, port)``; ``what`` names the setting in errors."""
    host, sep, port = text.rpartition(":")
    if not sep:
        raise BPFError(f"{what} {text!r}: expected ADDR:PORT, e.g. 127.0.0.1:9435")
    try:
        number = int(port)
    except ValueError:
        raise BPFError(f"{what} {text!r}: the port must be a number") from None
    if not 0 <= number <= 65535:
        raise BPFError(f"{what} {text!r}: the port must be 0-65535")
    return host.strip("[]") or "0.0.0.0", number


def check_otlp_endpoint(text: str) -> str:
    """``text`` if it is an http or https URL with a host, else a one-line
    :class:`~pybpf.errors.BPFError` saying so."""
    if any(c.isspace() or not c.isprintable() for c in text):
        raise BPFError(f"OTLP endpoint {text!r}: a URL has no spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(text)
    except ValueError as e:
        raise BPFError(f"OTLP endpoint {text!r}: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BPFError(f"OTLP endpoint {text!r}: expected an http:// or https:// URL, e.g. "
                       f"http://127.0.0.1:4318")
    if parts.query or parts.fragment:
        raise BPFError(f"OTLP endpoint {text!r}: no query or fragment, please")
    try:
        _ = parts.port    # urlsplit checks the port only when asked
    except ValueError:
        raise BPFError(f"OTLP endpoint {text!r}: the port must be 0-65535") from None
    return text


@dataclass
class ExporterConfig:
    """A whole configuration (see the module docstring)."""

    objects: list[ObjectConfig] = field(default_factory=list)
    metrics: list[MetricConfig] = field(default_factory=list)
    namespace: str = ""
    max_entries: int = DEFAULT_MAX_ENTRIES
    listen: str | None = None
    path: str | None = None
    program_stats: str = "off"
    otlp: OtlpConfig | None = None


_TOP = {"namespace", "max_entries", "listen", "objects", "metrics", "program_stats", "otlp"}
PROGRAM_STATS = ("off", "loaded", "all")
"""``program_stats``: whose run counts and times to export (BPF_ENABLE_STATS)."""
_OBJECT = {"name", "path", "tool", "backend", "attach", "variables"}
_METRIC = {"name", "kind", "help", "map", "object", "pinned", "map_id", "value", "labels",
           "bucket_type", "bucket_field", "bucket_multiplier", "bucket_max", "scale"}
_LABEL = {"name", "field", "decoder", "values"}
_OTLP = {"endpoint", "interval", "timeout", "headers", "resource_attributes", "compression"}
_HEADER_NAME = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Reader:
    """Typed access to one TOML table, with errors naming where."""

    def __init__(self, file: str, where: str, table: Any, keys: set[str]):
        self.file, self.where = file, where
        if not isinstance(table, dict):
            self.fail(f"expected a table, got {type(table).__name__}")
        if where and isinstance(table.get("name"), str):
            self.where = f"{where} ({table['name']!r})"
        unknown = sorted(set(table) - keys)
        if unknown:
            self.table = table
            self.fail(f"unknown key {unknown[0]!r} (keys: {', '.join(sorted(keys))})")
        self.table = table

    def fail(self, message: str) -> None:
        prefix = f"{self.file}: {self.where}: " if self.where else f"{self.file}: "
        raise ExportConfigError(prefix + message)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.table.get(key, default)
        if value is None:
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:
            self.fail(f"{key} must be {_kind_words(kinds)}, not {value!r}")
        if not isinstance(value, kinds):
            self.fail(f"{key} must be {_kind_words(kinds)}, not {value!r}")
        return value


def _kind_words(kinds: tuple[type, ...]) -> str:
    words = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             dict: "a table", list: "a list"}
    return " or ".join(words.get(k, k.__name__) for k in kinds)


def parse_config(text: str, *, path: str = "<config>", base: Path | None = None
                 ) -> ExporterConfig:
    """A configuration from TOML text; ``path`` names it in errors and
    ``base`` is where relative object paths start (``path``'s directory)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ExportConfigError(f"{path}: {e}") from None
    base = base if base is not None else Path(path).resolve().parent
    top = _Reader(path, "", data, _TOP)
    cfg = ExporterConfig(path=path)
    cfg.namespace = top.get("namespace", str, "")
    cfg.max_entries = top.get("max_entries", int, DEFAULT_MAX_ENTRIES)
    if cfg.max_entries <= 0:
        top.fail("max_entries must be positive")
    cfg.listen = top.get("listen", str)
    if cfg.listen is not None:
        try:
            parse_listen(cfg.listen, what="listen")
        except BPFError as e:
            top.fail(str(e))
    cfg.program_stats = top.get("program_stats", str, "off")
    if cfg.program_stats not in PROGRAM_STATS:
        top.fail(f"program_stats must be one of {', '.join(PROGRAM_STATS)}")
    for i, table in enumerate(top.get("objects", list, [])):
        cfg.objects.append(_object(path, i, table, base))
    names = [o.name for o in cfg.objects]
    for name in names:
        if names.count(name) > 1:
            raise ExportConfigError(f"{path}: two objects are named {name!r}: give one a "
                                    f"name = ...")
    metrics = top.get("metrics", list, [])
    for i, table in enumerate(metrics):
        cfg.metrics.append(_metric(path, i, table, cfg))
    if "otlp" in data:
        cfg.otlp = _otlp(path, data["otlp"])
    if not cfg.metrics and cfg.program_stats == "off":
        top.fail("no [[metrics]]: nothing to export")
    seen: set[str] = set()
    for m in cfg.metrics:
        if m.spec.name in seen:
            raise ExportConfigError(f"{path}: two metrics are named {m.spec.name!r}")
        seen.add(m.spec.name)
    return cfg


def read_config(path: str | Path) -> ExporterConfig:
    """The configuration in file ``path``."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise ExportConfigError(f"{path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ExportConfigError(f"{path}: not UTF-8 text") from None
    return parse_config(text, path=str(path), base=p.resolve().parent)


def _object(file: str, i: int, table: Any, base: Path) -> ObjectConfig:
    r = _Reader(file, f"objects[{i}]", table, _OBJECT)
    path, tool = r.get("path", str), r.get("tool", str)
    if (path is None) == (tool is None):
        r.fail("give path = \"FILE.bpf.o\" or tool = \"NAME\" (one of them)")
    if tool is not None:
        from ..tools.prebuilt import OBJECTS, tool_names

        if tool not in tool_names():
            r.fail(f"no tool {tool!r} (tools: {', '.join(tool_names())})")
        resolved = OBJECTS / f"{tool}.bpf.o"
    else:
        resolved = (base / path).resolve() if not Path(path).is_absolute() else Path(path)
        if not resolved.is_file():
            r.fail(f"{path}: no such file")
    default_name = resolved.name.removesuffix(".o").removesuffix(".bpf")
    backend = r.get("backend", str, "kernel")
    if backend not in BACKENDS:
        r.fail(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    variables = r.get("variables", dict, {})
    for name, value in variables.items():
        if not isinstance(value, int | str) or isinstance(value, bool):
            r.fail(f"variables.{name} must be an integer or a string")
    if "name" not in table:
        r.where = f"objects[{i}] ({default_name!r})"
    return ObjectConfig(name=r.get("name", str, default_name), path=str(resolved),
                        backend=backend, attach=r.get("attach", bool, True),
                        variables=dict(variables))


def _otlp(file: str, table: Any) -> OtlpConfig:
    r = _Reader(file, "otlp", table, _OTLP)
    endpoint = r.get("endpoint", str)
    if not endpoint:
        r.fail("endpoint = \"http://HOST:4318\" is missing")
    try:
        check_otlp_endpoint(endpoint)
    except BPFError as e:
        r.fail(str(e))
    interval = float(r.get("interval", (int, float), DEFAULT_OTLP_INTERVAL))
    timeout = float(r.get("timeout", (int, float), DEFAULT_OTLP_TIMEOUT))
    for key, value in (("interval", interval), ("timeout", timeout)):
        if not 0 < value < float("inf"):
            r.fail(f"{key} must be a positive number of seconds")
    headers = r.get("headers", dict, {})
    for name, value in headers.items():
        if not name or not set(name) <= _HEADER_NAME:
            r.fail(f"headers: {name!r} is not an HTTP header name")
        if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
            r.fail(f"headers.{name} must be a string on one line")
    attributes = r.get("resource_attributes", dict, {})
    for name, value in attributes.items():
        if not isinstance(value, str | int | float | bool):
            r.fail(f"resource_attributes.{name} must be a string, a number or true/false")
    compression = r.get("compression", str, "none")
    if compression not in OTLP_COMPRESSIONS:
        r.fail(f"compression must be one of {', '.join(OTLP_COMPRESSIONS)}, not "
               f"{compression!r}")
    return OtlpConfig(endpoint=endpoint, interval=interval, timeout=timeout,
                      headers=dict(headers), resource_attributes=dict(attributes),
                      compression=compression)


def _metric(file: str, i: int, table: Any, cfg: ExporterConfig) -> MetricConfig:
    r = _Reader(file, f"metrics[{i}]", table, _METRIC)
    name = r.get("name", str)
    if not name:
        r.fail("a metric needs a name")
    kind = r.get("kind", str)
    if kind is None:
        r.fail("kind = \"counter\", \"gauge\" or \"histogram\" is missing")
    source = MapSelector(map=r.get("map", str), object=r.get("object", str),
                         pinned=r.get("pinned", str), map_id=r.get("map_id", int))
    given = [k for k in ("map", "pinned", "map_id") if getattr(source, k) is not None]
    if len(given) != 1:
        r.fail("name the map with one of map = NAME, pinned = PATH or map_id = N")
    if source.object is not None:
        if source.map is None:
            r.fail("object = ... goes with map = NAME")
        if source.object not in {o.name for o in cfg.objects}:
            r.fail(f"no object named {source.object!r} (objects: "
                   f"{', '.join(o.name for o in cfg.objects) or 'none'})")
    labels = None
    if "labels" in r.table:
        labels = []
        for j, lt in enumerate(r.get("labels", list, [])):
            lr = _Reader(file, f"{r.where}: labels[{j}]", lt, _LABEL)
            label_name = lr.get("name", str)
            if not label_name:
                lr.fail("a label needs a name")
            values = lr.get("values", dict)
            if values is not None:
                values = {str(k): str(v) for k, v in values.items()}
            labels.append(LabelSpec(label_name, lr.get("field", str, ""),
                                    lr.get("decoder", str), values))
    spec = MetricSpec(
        name=cfg.namespace + "_" + name if cfg.namespace else name, kind=kind,
        help=r.get("help", str, ""), value=r.get("value", str, ""), labels=labels,
        bucket_type=r.get("bucket_type", str, "log2"),
        bucket_field=r.get("bucket_field", str, ""),
        bucket_multiplier=float(r.get("bucket_multiplier", (int, float), 1.0)),
        bucket_max=r.get("bucket_max", int),
        scale=float(r.get("scale", (int, float), 1.0)))
    try:
        spec.check()
    except BPFError as e:
        r.fail(str(e).removeprefix(f"metric {spec.name!r}: "))
    return MetricConfig(spec, source)


__all__ = ["BACKENDS", "DEFAULT_LISTEN", "DEFAULT_MAX_ENTRIES", "DEFAULT_OTLP_INTERVAL",
           "DEFAULT_OTLP_TIMEOUT", "OTLP_COMPRESSIONS", "OTLP_METRICS_PATH", "PROGRAM_STATS", "ExportConfigError",
           "ExporterConfig", "MapSelector", "MetricConfig", "ObjectConfig", "OtlpConfig",
           "check_otlp_endpoint", "parse_config", "parse_listen", "read_config"]
