"""pybpf export reloads its configuration without losing counts: counter
offsets per series, and an object in the VM scraped over HTTP across
reloads (unchanged source: counts continue from the same maps; changed
metric set: the new metric appears; changed variables: the object is
loaded again and its counter goes on from its last value; a broken file:
the old configuration keeps serving and the failure is counted), a reload
that changes ``listen`` moving the server (or failing in one line, the old
server serving on, when the new address is taken), and the command
reloading on SIGHUP."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from promtext import parse

from conftest import EXAMPLES, SRC
from pybpf.export import Listener, build, read_config, serve
from pybpf.export.offsets import CounterOffsets
from pybpf.export.textformat import MetricFamily

# --- counter offsets ---------------------------------------------------------------------


def family(kind, values, name="x_total"):
    f = MetricFamily(name, kind)
    for labels, value in values:
        f.add(labels, value)
    return f


def values(f):
    return {s.labels: s.value for s in f.samples}


def test_a_rebased_counter_carries_its_last_value_per_series():
    a, b = (("k", "a"),), (("k", "b"),)
    offsets = CounterOffsets()
    assert values(offsets.apply(family("counter", [(a, 5), (b, 7)]))) == {a: 5, b: 7}
    offsets.rebase({"other_total"})              # another metric's map: nothing moves
    assert values(offsets.apply(family("counter", [(a, 6), (b, 7)]))) == {a: 6, b: 7}
    offsets.rebase({"x_total"})                  # its map replaced: counts restart at 0
    assert values(offsets.apply(family("counter", [(a, 1)]))) == {a: 7}
    assert values(offsets.apply(family("counter", [(a, 2), (b, 3)]))) == {a: 8, b: 10}
    offsets.rebase({"x_total"})                  # a second reload stacks on the first
    assert values(offsets.apply(family("counter", [(a, 0), (b, 1)]))) == {a: 8, b: 11}
    gauge = family("gauge", [(a, 1)], name="g")  # gauges are never offset
    offsets.apply(gauge)
    offsets.rebase({"g"})
    assert values(offsets.apply(family("gauge", [(a, 0)], name="g"))) == {a: 0}
    offsets.keep_only({"g"})
    assert values(offsets.apply(family("counter", [(a, 1)]))) == {a: 1}


def test_histogram_buckets_sum_and_count_are_offset_each():
    offsets = CounterOffsets()
    h = MetricFamily("lat", "histogram")
    h.add((("le", "1"),), 2, "_bucket")
    h.add((("le", "+Inf"),), 3, "_bucket")
    h.add((), 3, "_count")
    offsets.apply(h)
    offsets.rebase({"lat"})
    h2 = MetricFamily("lat", "histogram")
    h2.add((("le", "1"),), 0, "_bucket")
    h2.add((("le", "+Inf"),), 1, "_bucket")
    h2.add((), 1, "_count")
    assert [s.value for s in offsets.apply(h2).samples] == [2, 4, 4]


# --- an object in the VM, reloaded while served --------------------------------------------

needs_zig = pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="no ziglang")

PACKET = (b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00"
          + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
          + bytes(8))
OBJECT = '[[objects]]\npath = "xdp_count.bpf.o"\nbackend = "vm"\n{variables}\n'
PACKETS = ('[[metrics]]\nname = "packets_total"\nkind = "counter"\nmap = "counts"\n'
           'labels = [{ name = "proto", decoder = "int" }]\n')
PER_PROTO = ('[[metrics]]\nname = "packets_now"\nkind = "gauge"\nmap = "counts"\n'
             'labels = [{ name = "proto", decoder = "int" }]\n')


@pytest.fixture(scope="module")
def object_dir(tmp_path_factory):
    from pybpf.toolchain import compile

    if importlib.util.find_spec("ziglang") is None:
        pytest.skip("no ziglang")
    d = tmp_path_factory.mktemp("reload")
    compile(EXAMPLES / "xdp_count.bpf.c", d / "xdp_count.bpf.o", compiler="zig")
    return d


def request(server, path="/metrics", method="GET"):
    host, port = server.server_address[:2]
    req = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def udp_packets(server):
    return parse(request(server)[1])["packets_total"].value(proto="17")


@needs_zig
def test_reloads_keep_counts_add_metrics_and_survive_a_broken_file(object_dir):
    config = object_dir / "exporter.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    logged: list[str] = []
    with build(read_config(config)) as exporter:
        exporter.loader = lambda: read_config(config)
        exporter.log = logged.append
        server = serve(exporter, "127.0.0.1", 0, enable_reload=True)
        try:
            def run(n):
                prog = exporter.objects[0].collection.programs["count_packets"]
                for _ in range(n):
                    prog.test_run(PACKET)

            run(3)
            assert udp_packets(server) == 3
            first = exporter.objects[0]

            # unchanged object, one metric more: the object is kept, counts continue
            config.write_text(OBJECT.format(variables="") + PACKETS + PER_PROTO)
            assert request(server, "/-/reload", "POST") == (200, "reloaded\n")
            assert exporter.objects[0] is first
            run(2)
            fams = parse(request(server)[1])
            assert fams["packets_total"].value(proto="17") == 5
            assert fams["packets_now"].value(proto="17") == 5

            # the object's variables changed: loaded again, the counter goes on from 6:
            # the packet counted after the last scrape is not lost either
            run(1)
            config.write_text(OBJECT.format(variables="variables = { drop_proto = 6 }")
                              + PACKETS + PER_PROTO)
            assert request(server, "/-/reload", "POST")[0] == 200
            assert exporter.objects[0] is not first
            fams = parse(request(server)[1])
            assert fams["packets_total"].value(proto="17") == 6
            assert fams["packets_now"].value(proto="17") == 0   # a gauge: the map as it is
            run(1)
            assert udp_packets(server) == 7

            # a broken file, then one that parses but names a missing map: both refused
            kept = exporter.objects[0]
            config.write_text("[[metrics]\nname = ")
            status, body = request(server, "/-/reload", "POST")
            assert status == 500 and "exporter.toml" in body
            config.write_text(OBJECT.format(variables="") + PACKETS.replace('"counts"',
                                                                            '"nosuch"'))
            assert request(server, "/-/reload", "POST")[0] == 500
            assert exporter.objects[0] is kept
            fams = parse(request(server)[1])
            assert fams["packets_total"].value(proto="17") == 7
            reloads = fams["pybpf_exporter_config_reloads_total"]
            assert reloads.value(result="success") == 2
            assert reloads.value(result="failure") == 2
            assert fams["pybpf_exporter_config_last_reload_successful"].value() == 0
            stamp = fams["pybpf_exporter_config_last_reload_success_timestamp_seconds"].value()
            assert time.time() - 60 < stamp <= time.time()
            assert len(logged) == 4 and all("\n" not in line for line in logged)
            assert "reload failed" in logged[-1]
            # the message names the map, also when bpf() refuses a non-root
            # user's lookup of a map outside the object (and then says so)
            assert "nosuch" in logged[-1]
            assert os.geteuid() == 0 or "EPERM" in logged[-1]
        finally:
            server.shutdown()
            server.server_close()
    assert not exporter.objects


@needs_zig
def test_reload_over_http_is_off_unless_enabled(object_dir):
    config = object_dir / "plain.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    with build(read_config(config)) as exporter:
        server = serve(exporter, "127.0.0.1", 0)
        try:
            assert request(server, "/-/reload", "POST")[0] == 403
            assert request(server, "/elsewhere", "POST")[0] == 404
        finally:
            server.shutdown()
            server.server_close()
        assert exporter.reloads == {"success": 0, "failure": 0}


@needs_zig
def test_the_command_reloads_on_sighup(object_dir):
    config = object_dir / "hup.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "export", str(config),
                             "--listen", "127.0.0.1:0", "-d", "60"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        line = proc.stderr.readline()
        assert "serving 1 metric at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split(";", 1)[0]
        config.write_text(OBJECT.format(variables="") + PACKETS + PER_PROTO)
        proc.send_signal(signal.SIGHUP)
        line = proc.stderr.readline()
        assert "reloaded" in line and "serving 2 metrics" in line, line
        with urllib.request.urlopen(url, timeout=30) as resp:
            fams = parse(resp.read().decode())
        assert "packets_now" in fams
        assert fams["pybpf_exporter_config_reloads_total"].value(result="success") == 1
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0


# --- a reload that changes the listening address ------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return parse(resp.read().decode())


def refused(url) -> bool:
    try:
        urllib.request.urlopen(url, timeout=10).close()
    except urllib.error.URLError as e:
        return isinstance(e.reason, ConnectionRefusedError)
    return False


@needs_zig
def test_a_reload_that_changes_listen_moves_the_server(object_dir):
    config = object_dir / "listen.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    logged: list[str] = []
    with build(read_config(config)) as exporter:
        exporter.loader = lambda: read_config(config)
        exporter.log = logged.append
        listener = Listener(exporter, "127.0.0.1:0", enable_reload=True)
        try:
            prog = exporter.objects[0].collection.programs["count_packets"]
            for _ in range(4):
                prog.test_run(PACKET)
            old_url = listener.url
            assert fetch(old_url)["packets_total"].value(proto="17") == 4

            port = free_port()
            new_url = f"http://127.0.0.1:{port}/metrics"
            config.write_text(f'listen = "127.0.0.1:{port}"\n' + OBJECT.format(variables="")
                              + PACKETS + PER_PROTO)
            # asked over HTTP of the old server, which answers before it goes
            status, body = request(listener.server, "/-/reload", "POST")
            assert (status, body) == (200, "reloaded\n")
            assert listener.url == new_url
            fams = fetch(new_url)
            assert fams["packets_total"].value(proto="17") == 4       # counts went along
            assert fams["packets_now"].value(proto="17") == 4          # the rest of the reload
            assert refused(old_url)
            assert f"now serving at {new_url} (no longer at {old_url})" in logged[-1]
            assert "\n" not in logged[-1]

            # unchanged listen: the same server goes on
            server = listener.server
            config.write_text(f'listen = "127.0.0.1:{port}"\n' + OBJECT.format(variables="")
                              + PACKETS)
            assert exporter.reload_config() is None
            assert listener.server is server and "now serving" not in logged[-1]
        finally:
            listener.close()
    assert refused(new_url)


@needs_zig
def test_a_listen_address_that_cannot_be_bound_fails_the_reload_in_one_line(object_dir):
    config = object_dir / "taken.toml"
    config.write_text(OBJECT.format(variables="") + PACKETS)
    logged: list[str] = []
    with build(read_config(config)) as exporter, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        exporter.loader = lambda: read_config(config)
        exporter.log = logged.append
        listener = Listener(exporter, "127.0.0.1:0")
        try:
            url, server = listener.url, listener.server
            config.write_text(f'listen = "127.0.0.1:{busy}"\n' + OBJECT.format(variables="")
                              + PACKETS + PER_PROTO)
            error = exporter.reload_config()
            assert error is not None and f"cannot listen on 127.0.0.1:{busy}" in error
            assert len(logged) == 1 and "\n" not in logged[0]
            assert logged[0].startswith("pybpf: export: reload failed, keeping the old "
                                        "configuration: ")
            assert "Address already in use" in logged[0]
            # the old server and the old configuration, as they were
            assert listener.server is server and listener.url == url
            fams = fetch(url)
            assert "packets_now" not in fams
            assert fams["pybpf_exporter_config_reloads_total"].value(result="failure") == 1
            assert fams["pybpf_exporter_config_last_reload_successful"].value() == 0
            # a bad address is one line too
            config.write_text('listen = "nowhere"\n' + OBJECT.format(variables="") + PACKETS)
            assert "expected ADDR:PORT" in exporter.reload_config()
            assert listener.server is server
            # a free address but a map that is not there: the new socket is closed again
            port = free_port()
            config.write_text(f'listen = "127.0.0.1:{port}"\n' + OBJECT.format(variables="")
                              + PACKETS.replace('"counts"', '"nosuch"'))
            error = exporter.reload_config()
            assert "nosuch" in error or (os.geteuid() != 0 and "EPERM" in error)
            assert listener.server is server
            assert refused(f"http://127.0.0.1:{port}/metrics")
            assert "packets_total" in fetch(url)
        finally:
            listener.close()


@needs_zig
def test_the_command_moves_its_server_on_sighup(object_dir):
    config = object_dir / "hup_listen.toml"
    config.write_text('listen = "127.0.0.1:0"\n' + OBJECT.format(variables="") + PACKETS)
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "export", str(config), "-d", "60"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        line = proc.stderr.readline()
        assert "serving 1 metric at http://127.0.0.1:" in line, line
        old_url = line.split(" at ", 1)[1].split(";", 1)[0]
        port = free_port()
        config.write_text(f'listen = "127.0.0.1:{port}"\n' + OBJECT.format(variables="")
                          + PACKETS)
        proc.send_signal(signal.SIGHUP)
        line = proc.stderr.readline()
        new_url = f"http://127.0.0.1:{port}/metrics"
        assert "reloaded" in line and f"now serving at {new_url}" in line, line
        assert "packets_total" in fetch(new_url)
        assert refused(old_url)
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0
