"""pybpf export's OTLP push: the encoder (Prometheus's cumulative buckets
as OTLP's per-bucket counts, int64 values as JSON strings, start times
kept across reloads and moved on a reset), the ``[otlp]`` table, and
pushes to a local receiver — values against the maps and events the test
makes, retries and failures that never stop the exporter, a reload that
turns pushing on and keeps counters' start time, and the command."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import urllib.request

import pytest
from otlp_receiver import attrs, metrics, number, points, resource, start_receiver, value
from promtext import parse

from conftest import EXAMPLES, SRC
from pybpf.btf import BTFBuilder
from pybpf.export import (
    ExportConfigError,
    Exporter,
    LabelSpec,
    MapHandle,
    MapMetric,
    MetricFamily,
    MetricSpec,
    OtlpConfig,
    OtlpPusher,
    build,
    encode_metrics,
    parse_config,
    read_config,
    serve,
)
from pybpf.export.metrics import read_entries
from pybpf.export.offsets import CounterOffsets
from pybpf.export.otlp import StartTimes, histogram_points
from pybpf.maps import create_map
from pybpf.objects import MapSpec

# --- the encoder --------------------------------------------------------------------------------


def hist_map():
    """struct hkey { u32 dev; u32 slot; } -> u64 count, as the tools' log2 histograms."""
    b = BTFBuilder()
    u32 = b.add_int("unsigned int", 4)
    u64 = b.add_int("unsigned long long", 8)
    hkey = b.add_struct("hkey", 8, [("dev", u32, 0), ("slot", u32, 32)])
    btf = b.build()
    m = create_map(MapSpec("hist", "hash", 8, 8, 64))
    return m, btf, hkey, u64


def put_slot(m, dev, slot, count):
    m.raw[dev.to_bytes(4, "little") + slot.to_bytes(4, "little")] = count.to_bytes(8, "little")


def lat_metric(m, btf, hkey, u64, **extra):
    spec = MetricSpec("lat_seconds", "histogram", bucket_field="slot", bucket_multiplier=1e-6,
                      labels=[LabelSpec("disk", "dev", "majorminor")], **extra)
    return MapMetric(spec, MapHandle("hist", m, btf, hkey, u64))


def test_log2_buckets_become_per_bucket_counts_one_more_than_the_bounds():
    m, *types = hist_map()
    for dev, slot, count in [(8, 0, 1), (8, 1, 2), (8, 3, 4), (9, 2, 10)]:
        put_slot(m, dev, slot, count)
    family = lat_metric(m, *types).family(read_entries(m, 100).entries)
    hists = histogram_points(family)
    disk8 = hists[(("disk", "0:8"),)]
    # log2 slot i counts [2^(i-1), 2^i) us: upper bounds 1, 2, 4, 8 us; Prometheus says
    # 1, 3, 3, 7 cumulatively; OTLP wants each bucket alone, and one bucket above them all
    assert disk8.bounds == pytest.approx([1e-6, 2e-6, 4e-6, 8e-6])
    assert disk8.counts == [1, 2, 0, 4, 0]
    assert len(disk8.counts) == len(disk8.bounds) + 1
    assert disk8.count == 7 and disk8.sum == pytest.approx(18e-6)
    disk9 = hists[(("disk", "0:9"),)]
    assert disk9.counts == [0, 0, 10, 0] and disk9.count == 10
    # what bucket_max leaves out of the bounds lands in the last (overflow) bucket
    family = lat_metric(m, *types, bucket_max=1).family(read_entries(m, 100).entries)
    disk8 = histogram_points(family)[(("disk", "0:8"),)]
    assert disk8.bounds == pytest.approx([1e-6, 2e-6])
    assert disk8.counts == [1, 2, 4]


def test_cumulative_sums_of_the_counts_give_back_the_prometheus_buckets():
    m = create_map(MapSpec("lin", "array", 4, 8, 6))
    for i, count in enumerate([5, 0, 1, 0, 3, 2]):
        m.raw[i] = count.to_bytes(8, "little")
    spec = MetricSpec("size_bytes", "histogram", bucket_type="linear", bucket_multiplier=10,
                      labels=[])
    family = MapMetric(spec, MapHandle("lin", m)).family(read_entries(m, 100).entries)
    prom = [(ls["le"], v) for n, ls, v in parse(_render(family))["size_bytes"].samples
            if n.endswith("_bucket")]
    (hist,) = histogram_points(family).values()
    running, rebuilt = 0, []
    for bound, count in zip([*hist.bounds, math.inf], hist.counts):
        running += count
        rebuilt.append(("+Inf" if math.isinf(bound) else f"{bound:g}", running))
    assert rebuilt == prom
    assert hist.counts == [5, 0, 1, 0, 3, 2, 0]


def _render(family):
    from pybpf.export import render

    return render([family])


def test_request_layout_and_the_json_mapping_of_values():
    counter = MetricFamily("calls_total", "counter", "Calls.")
    counter.add((("comm", "bash"),), 10)
    counter.add((("comm", "big"),), 1 << 64)             # beyond int64: a double
    seconds = MetricFamily("busy_seconds_total", "counter")
    seconds.add((), 0.25)
    gauge = MetricFamily("queue", "gauge")
    gauge.add((), math.nan)
    untyped = MetricFamily("other", "untyped")
    untyped.add((), 3)
    hist = MetricFamily("lat", "histogram")
    hist.add((("le", "1"),), 2, "_bucket")
    hist.add((("le", "+Inf"),), 5, "_bucket")
    hist.add((), 7.5, "_sum")
    hist.add((), 5, "_count")
    request = encode_metrics([counter, seconds, gauge, untyped, hist], now_ns=2000,
                             start_ns=1000, resource={"service.name": "s", "pid": 42,
                                                      "debug": True})
    text = json.dumps(request, allow_nan=False)          # valid JSON: no bare NaN
    body = json.loads(text)
    assert resource(body) == {"service.name": "s", "pid": 42, "debug": True}
    (scope_metrics,) = body["resourceMetrics"][0]["scopeMetrics"]
    assert scope_metrics["scope"]["name"] == "pybpf.export"
    got = metrics(body)
    calls = got["calls_total"]
    assert calls["description"] == "Calls."
    assert calls["sum"]["isMonotonic"] is True
    assert calls["sum"]["aggregationTemporality"] == 2          # CUMULATIVE
    bash, big = calls["sum"]["dataPoints"]
    assert bash["asInt"] == "10" and bash["startTimeUnixNano"] == "1000"
    assert bash["timeUnixNano"] == "2000"
    assert bash["attributes"] == [{"key": "comm", "value": {"stringValue": "bash"}}]
    assert big["asDouble"] == float(1 << 64)
    assert points(got["busy_seconds_total"])[0]["asDouble"] == 0.25
    (q,) = points(got["queue"])
    assert q["asDouble"] == "NaN" and "startTimeUnixNano" not in q
    assert "gauge" in got["other"] and number(points(got["other"])[0]) == 3
    (h,) = points(got["lat"])
    assert got["lat"]["histogram"]["aggregationTemporality"] == 2
    assert h["explicitBounds"] == [1.0]
    assert h["bucketCounts"] == ["2", "3"] and h["count"] == "5" and h["sum"] == 7.5


def test_start_times_survive_reload_offsets_and_move_on_a_reset():
    offsets = CounterOffsets()
    starts = StartTimes(1000)

    def push(v, now):
        f = MetricFamily("x_total", "counter")
        f.add((), v)
        body = encode_metrics([offsets.apply(f)], now_ns=now, start_ns=1000, starts=starts)
        (p,) = points(metrics(body)["x_total"])
        return number(p), int(p["startTimeUnixNano"])

    assert push(5, 2000) == (5, 1000)
    offsets.rebase({"x_total"})             # a reload replaced the map: it counts from 0 again
    assert push(1, 3000) == (6, 1000)       # ... yet the series goes on, from the same start
    offsets.keep_only(set())                # the metric left the configuration and came back
    assert push(2, 4000) == (2, 3000)       # its value fell: a reset, started at the last push
    assert push(4, 5000) == (4, 3000)


# --- the [otlp] table ---------------------------------------------------------------------------

METRIC = '[[metrics]]\nname = "a"\nkind = "gauge"\nmap = "m"\n'


def test_the_otlp_table_reads():
    cfg = parse_config(METRIC + '[otlp]\nendpoint = "http://collector:4318/"\ninterval = 15\n'
                       'timeout = 2.5\nheaders = { authorization = "Bearer x" }\n'
                       'resource_attributes = { "service.name" = "edge", shard = 3 }\n'
                       'compression = "gzip"\n', path="e.toml")
    assert cfg.otlp == OtlpConfig("http://collector:4318/", 15.0, 2.5,
                                  {"authorization": "Bearer x"},
                                  {"service.name": "edge", "shard": 3}, "gzip")
    assert cfg.otlp.url == "http://collector:4318/v1/metrics"
    assert OtlpConfig("https://x/v1/metrics").url == "https://x/v1/metrics"
    assert parse_config(METRIC, path="e.toml").otlp is None


@pytest.mark.parametrize("table, message", [
    ('interval = 5\n', "otlp: endpoint = "),
    ('endpoint = "collector:4318"\n', "expected an http:// or https:// URL"),
    ('endpoint = "http://c:99999"\n', "the port must be 0-65535"),
    ('endpoint = "http://[::1"\n', "Invalid IPv6 URL"),
    ('endpoint = "http://c /x"\n', "no spaces or control characters"),
    ('endpoint = "http://c"\ninterval = 0\n', "interval must be a positive number"),
    ('endpoint = "http://c"\ntimeout = -1\n', "timeout must be a positive number"),
    ('endpoint = "http://c"\nheaders = { "a b" = "x" }\n', "not an HTTP header name"),
    ('endpoint = "http://c"\nheaders = { a = "x\\ny" }\n', "headers.a must be a string on one"),
    ('endpoint = "http://c"\nresource_attributes = { a = [1] }\n', "resource_attributes.a"),
    ('endpoint = "http://c"\nintervall = 5\n', "otlp: unknown key 'intervall'"),
    ('endpoint = "http://c"\ncompression = "zstd"\n', "compression must be one of none, gzip"),
])
def test_otlp_table_errors_are_one_line(table, message):
    with pytest.raises(ExportConfigError) as e:
        parse_config(METRIC + "[otlp]\n" + table, path="e.toml")
    assert message in str(e.value) and str(e.value).startswith("e.toml: ")
    assert "\n" not in str(e.value)


# --- pushes to a receiver -----------------------------------------------------------------------

@pytest.fixture
def receiver():
    r = start_receiver()
    yield r
    r.close()


def counts_exporter():
    """A counter over a userspace map and a histogram: the 'events' are the
    map updates the tests make."""
    counts = create_map(MapSpec("counts", "hash", 4, 8, 16))
    m, *types = hist_map()
    exporter = Exporter([
        MapMetric(MetricSpec("events_total", "counter", "Events.",
                             labels=[LabelSpec("cpu", "", "cpu")]), MapHandle("counts", counts)),
        lat_metric(m, *types)])
    return exporter, counts, m


def bump(m, key, n=1):
    old = int.from_bytes(m.raw[key], "little") if key in m.raw else 0
    m.raw[key] = (old + n).to_bytes(8, "little")


def test_pushes_carry_the_values_a_scrape_serves(receiver):
    exporter, counts, hist = counts_exporter()
    config = OtlpConfig(receiver.url, interval=0.2, headers={"x-tenant": "lab"},
                        resource_attributes={"service.name": "edge"}, compression="gzip")
    pusher = OtlpPusher.for_exporter(exporter, config)
    server = serve(exporter, "127.0.0.1", 0)
    try:
        for _ in range(3):
            bump(counts, 0)
        bump(counts, 1, 5)
        put_slot(hist, 8, 1, 4)
        put_slot(hist, 8, 3, 1)
        pusher.start()
        first = receiver.wait(1)[0]
        assert first.path == "/v1/metrics"
        assert first.headers["content-type"] == "application/json"
        assert first.headers["content-encoding"] == "gzip"
        assert first.headers["x-tenant"] == "lab"
        assert resource(first.body)["service.name"] == "edge"
        assert resource(first.body)["host.name"]
        assert value(first.body, "events_total", cpu="cpu0") == 3
        assert value(first.body, "events_total", cpu="cpu1") == 5
        (h,) = points(metrics(first.body)["lat_seconds"])
        assert attrs(h) == {"disk": "0:8"}
        assert [int(c) for c in h["bucketCounts"]] == [0, 4, 0, 1, 0]
        assert h["explicitBounds"] == pytest.approx([1e-6, 2e-6, 4e-6, 8e-6])
        # more events: a later push counts them, from the same start time
        for _ in range(7):
            bump(counts, 0)
        seen = len(receiver.requests)
        later = receiver.wait(seen + 1)[-1].body
        assert value(later, "events_total", cpu="cpu0") == 10
        start = {p["startTimeUnixNano"] for r in receiver.requests
                 for p in points(metrics(r.body)["events_total"])}
        assert start == {str(exporter.start_time_ns)}
        # the same numbers as /metrics, and the pushes counted there, not as scrapes
        host, port = server.server_address[:2]
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=30) as resp:
            fams = parse(resp.read().decode())
        assert fams["events_total"].value(cpu="cpu0") == 10
        assert fams["pybpf_exporter_otlp_exports_total"].value(result="success") >= 2
        assert fams["pybpf_exporter_otlp_exports_total"].value(result="failure") == 0
        assert fams["pybpf_exporter_scrapes_total"].value() == 1
    finally:
        pusher.stop(flush=False)
        server.shutdown()
        server.server_close()


def test_passing_failures_are_retried_and_lasting_ones_logged_counted_and_survived(receiver):
    exporter, counts, _ = counts_exporter()
    bump(counts, 2, 9)
    logged: list[str] = []
    exporter.log = logged.append
    pusher = OtlpPusher.for_exporter(exporter, OtlpConfig(receiver.url, interval=30))
    receiver.statuses = [503, 429]                       # retried: the third try lands
    receiver.retry_after = "0"
    assert pusher.push() is True
    assert pusher.retries == 2 and len(receiver.requests) == 1
    assert value(receiver.requests[0].body, "events_total", cpu="cpu2") == 9
    assert not logged

    receiver.statuses = [400]                            # refused: not tried again
    assert pusher.push() is False
    assert pusher.retries == 2
    assert len(logged) == 1 and "\n" not in logged[0]
    assert "OTLP push to " + receiver.url + "/v1/metrics failed: HTTP 400" in logged[0]
    assert "(1 try)" in logged[0]

    receiver.statuses = [503] * 4                        # still failing after every try
    receiver.retry_after = None
    start = time.monotonic()
    assert pusher.push() is False
    assert time.monotonic() - start < 10                 # backoff 0.5 + 1 + 2 s: bounded
    assert "HTTP 503" in logged[-1] and "(4 tries)" in logged[-1]

    assert pusher.push() is True                         # the receiver is back
    assert "works again (after 2 failed)" in logged[-1]
    fams = parse(exporter.render())
    assert fams["pybpf_exporter_otlp_exports_total"].value(result="failure") == 2
    assert fams["pybpf_exporter_otlp_exports_total"].value(result="success") == 2
    assert fams["pybpf_exporter_otlp_retries_total"].value() == 5
    assert fams["events_total"].value(cpu="cpu2") == 9   # /metrics served all along


def test_an_unreachable_receiver_never_stops_the_pushing_thread():
    import socket

    with socket.socket() as s:                           # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exporter, _, _ = counts_exporter()
    logged: list[str] = []
    exporter.log = logged.append
    pusher = OtlpPusher.for_exporter(exporter, OtlpConfig(f"http://127.0.0.1:{port}",
                                                          interval=0.1, timeout=1))
    pusher.start()
    try:
        deadline = time.monotonic() + 30
        while pusher.exports["failure"] < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pusher.exports["failure"] >= 3
        assert pusher.running
    finally:
        pusher.stop(flush=False)
    # the same error again within a minute is counted, not logged again
    assert len(logged) == 1 and "refused" in logged[0].lower() and "\n" not in logged[0]


def test_a_receiver_that_never_answers_cannot_hold_up_stopping(monkeypatch):
    import socket

    from pybpf.export import otlp

    monkeypatch.setattr(otlp, "STOP_SECONDS", 0.5)
    with socket.socket() as silent:              # takes connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        exporter, _, _ = counts_exporter()
        exporter.log = lambda line: None
        pusher = OtlpPusher.for_exporter(exporter, OtlpConfig(
            f"http://127.0.0.1:{silent.getsockname()[1]}", interval=0.05, timeout=60))
        pusher.start()
        time.sleep(0.3)                          # a push is waiting for its answer
        start = time.monotonic()
        pusher.stop(flush=True)
        assert time.monotonic() - start < 5      # 0.5 s for the thread, 0.5 s for the flush
        assert not pusher.running


# --- reloads and the command (an object in the VM, packets run through it) ----------------------

needs_zig = pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="no ziglang")

PACKET = (b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
          + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
          + bytes(8))
OBJECT = '[[objects]]\npath = "xdp_count.bpf.o"\nbackend = "vm"\n{variables}\n'
PACKETS = ('[[metrics]]\nname = "packets_total"\nkind = "counter"\nmap = "counts"\n'
           'labels = [{ name = "proto", decoder = "int" }]\n')


@pytest.fixture(scope="module")
def object_dir(tmp_path_factory):
    from pybpf.toolchain import compile

    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("no ziglang")
    d = tmp_path_factory.mktemp("otlp")
    compile(EXAMPLES / "xdp_count.bpf.c", d / "xdp_count.bpf.o", compiler="zig")
    return d


@needs_zig
def test_a_reload_turns_pushing_on_and_counters_keep_their_start(object_dir, receiver):
    config = object_dir / "reload.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    logged: list[str] = []
    with build(read_config(config)) as exporter:
        exporter.loader = lambda: read_config(config)
        exporter.log = logged.append
        pusher = OtlpPusher.for_exporter(exporter, None)
        pusher.start()                                  # idle: nothing to push to yet

        def run(n):
            prog = exporter.objects[0].collection.programs["count_packets"]
            for _ in range(n):
                prog.test_run(PACKET)

        try:
            run(3)
            otlp = f'[otlp]\nendpoint = "{receiver.url}"\ninterval = 30\n'
            config.write_text(OBJECT.format(variables="") + PACKETS + otlp)
            assert exporter.reload_config() is None
            assert f"now pushing to {receiver.url}/v1/metrics every 30 s" in logged[-1]
            assert pusher.push()
            first = receiver.requests[-1].body
            assert value(first, "packets_total", proto="17") == 3
            # new variables: the object is loaded again, its map counts from zero, but
            # the pushed counter goes on from 3, with the start time it had
            config.write_text(OBJECT.format(variables="variables = { drop_proto = 6 }")
                              + PACKETS + otlp.replace("30", "20"))
            assert exporter.reload_config() is None
            assert "every 20 s" in logged[-1]
            run(2)
            assert pusher.push()
            later = receiver.requests[-1].body
            assert value(later, "packets_total", proto="17") == 5
            (before,) = [p for p in points(metrics(first)["packets_total"])
                         if attrs(p) == {"proto": "17"}]
            (after,) = [p for p in points(metrics(later)["packets_total"])
                        if attrs(p) == {"proto": "17"}]
            assert after["startTimeUnixNano"] == before["startTimeUnixNano"] \
                == str(exporter.start_time_ns)
            assert int(after["timeUnixNano"]) > int(before["timeUnixNano"])
            # the table removed: pushing stops
            config.write_text(OBJECT.format(variables="") + PACKETS)
            assert exporter.reload_config() is None
            assert "no longer pushing over OTLP" in logged[-1]
            assert not pusher.running
        finally:
            pusher.stop(flush=False)


def run_export(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "pybpf", "export", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(SRC)})


@needs_zig
def test_the_command_pushes_once_with_once(object_dir, receiver):
    config = object_dir / "once.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    out = run_export(config, "--once", "--otlp-endpoint", receiver.url)
    assert out.returncode == 0, out.stderr
    assert parse(out.stdout)["packets_total"].value(proto="17") == 0
    (request,) = receiver.requests
    assert value(request.body, "packets_total", proto="17") == 0
    assert metrics(request.body)["packets_total"]["sum"]["isMonotonic"] is True

    receiver.statuses = [500]                            # a failed push: exit status 1
    out = run_export(config, "--once", "--otlp-endpoint", receiver.url)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "HTTP 500" in out.stderr, out.stderr

    for bad, message in [(["--otlp-endpoint", "ftp://x"], "expected an http://"),
                         (["--otlp-interval", "5"], "no OTLP endpoint"),
                         (["--otlp-endpoint", receiver.url, "--otlp-interval", "0"],
                          "must be a positive number")]:
        out = run_export(config, "--once", *bad)
        assert out.returncode != 0 and message in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1, out.stderr


@needs_zig
def test_the_command_pushes_every_interval_and_once_more_when_it_stops(object_dir, receiver):
    config = object_dir / "serve.toml"
    config.write_text(OBJECT.format(variables="")
                      + PACKETS + f'[otlp]\nendpoint = "{receiver.url}"\ninterval = 60\n')
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "export", str(config),
                             "--listen", "127.0.0.1:0", "--otlp-interval", "0.2", "-d", "60"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        line = proc.stderr.readline()
        assert f"pushing to {receiver.url}/v1/metrics every 0.2 s" in line, line
        receiver.wait(2)
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
    count = len(receiver.requests)
    assert all(r.path == "/v1/metrics" for r in receiver.requests)
    assert all(value(r.body, "packets_total", proto="17") == 0 for r in receiver.requests)
    assert count >= 3     # two or more every 0.2 s, and the last one on the way out
