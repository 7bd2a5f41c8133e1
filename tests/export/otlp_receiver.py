"""A stand-in OTLP/HTTP receiver for the tests: a local ``http.server``
that takes ``POST /v1/metrics`` requests, decodes their JSON and keeps
them, answering with the statuses it is told to (one per request, then
200), and readers of the decoded requests written from the OTLP JSON
mapping, independently of the exporter's encoder."""

from __future__ import annotations

import gzip
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request received: path, headers (lower-case names) and the decoded body."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """The receiver's state; :attr:`url` is its base URL."""

    server: ThreadingHTTPServer
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer with, first to last, before answering 200 again."""
    retry_after: str | None = None
    answer: dict = field(default_factory=dict)
    """The JSON body of a 200 answer."""

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def wait(self, count: int, timeout: float = 30.0) -> list[Request]:
        """The requests received, once there are ``count`` (or the timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.requests) >= count, f"{len(self.requests)} requests, not {count}"
        return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_receiver() -> Receiver:
    """A receiver on a free loopback port, answering from a thread."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = state["r"]
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            status = receiver.statuses.pop(0) if receiver.statuses else 200
            if status == 200:
                receiver.requests.append(Request(
                    self.path, {k.lower(): v for k, v in self.headers.items()},
                    json.loads(data)))
                body = json.dumps(receiver.answer).encode()
            else:
                body = json.dumps({"code": 14, "message": f"try later ({status})"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status != 200 and receiver.retry_after is not None:
                self.send_header("Retry-After", receiver.retry_after)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["r"] = receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


# --- reading a decoded ExportMetricsServiceRequest ----------------------------------------------

def any_value(value: dict) -> Any:
    """An ``AnyValue`` as Python: 64-bit integers come as strings."""
    (kind, v), = value.items()
    if kind == "intValue":
        assert isinstance(v, str), "int64 is a JSON string in the mapping"
        return int(v)
    return v


def attrs(point: dict) -> dict[str, Any]:
    return {a["key"]: any_value(a["value"]) for a in point.get("attributes", [])}


def metrics(body: dict) -> dict[str, dict]:
    """Every metric of a request, by name."""
    out = {}
    for rm in body["resourceMetrics"]:
        for sm in rm["scopeMetrics"]:
            for m in sm["metrics"]:
                out[m["name"]] = m
    return out


def resource(body: dict) -> dict[str, Any]:
    (rm,) = body["resourceMetrics"]
    return {a["key"]: any_value(a["value"]) for a in rm["resource"]["attributes"]}


def number(point: dict) -> float:
    """A NumberDataPoint's value (``asInt`` is a string, ``asDouble`` a number)."""
    if "asInt" in point:
        assert isinstance(point["asInt"], str)
        return int(point["asInt"])
    return float(point["asDouble"])


def points(metric: dict) -> list[dict]:
    (kind,) = [k for k in ("sum", "gauge", "histogram") if k in metric]
    return metric[kind]["dataPoints"]


def value(body: dict, name: str, default: float | None = None, **labels: Any) -> float:
    """The value of metric ``name``'s data point with exactly ``labels``
    (``default`` when there is none and a default is given)."""
    found = [p for p in points(metrics(body)[name]) if attrs(p) == labels]
    if not found and default is not None:
        return default
    assert len(found) == 1, f"{name}{labels}: {len(found)} points"
    return number(found[0])
