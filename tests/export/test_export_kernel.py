"""pybpf export in the kernel: a shipped tool's object loaded and attached
from a configuration, scraped over HTTP while a workload runs (the counts
match the calls made), the same counts pushed over OTLP, a pinned map
exported with --map, and the command serving until its duration ends."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import pytest
from otlp_receiver import start_receiver, value
from promtext import parse

from conftest import SRC
from pybpf.export import OtlpConfig, OtlpPusher, build, parse_config, serve

pytestmark = pytest.mark.kernel

CONFIG = """
namespace = "test"
program_stats = "loaded"
[[objects]]
tool = "syscount"
variables = {{ target_pid = {pid} }}

[[metrics]]
name = "syscalls_total"
kind = "counter"
help = "System calls of the test process, by name."
map = "stats"
value = "count"
labels = [{{ name = "syscall", decoder = "syscall" }}]

[[metrics]]
name = "syscall_seconds_total"
kind = "counter"
map = "stats"
value = "total_ns"
scale = 1e-9
labels = [{{ name = "syscall", decoder = "syscall" }}]
"""


def scrape(server) -> dict:
    host, port = server.server_address[:2]
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=30) as resp:
        assert resp.status == 200
        return parse(resp.read().decode())


def getppid_count(families) -> float:
    fam = families["test_syscalls_total"]
    found = [v for _, labels, v in fam.samples if labels == {"syscall": "getppid"}]
    return found[0] if found else 0


def test_a_tool_object_is_loaded_attached_and_its_counts_scraped(tmp_path):
    cfg = parse_config(CONFIG.format(pid=os.getpid()), path=str(tmp_path / "e.toml"))
    with build(cfg) as exporter:
        (obj,) = exporter.objects
        assert set(obj.attached) == {"sys_enter", "sys_exit"} and not obj.failed
        server = serve(exporter, "127.0.0.1", 0)
        try:
            before = getppid_count(scrape(server))
            for _ in range(250):
                os.getppid()
            families = scrape(server)
            assert getppid_count(families) - before == 250
            seconds = families["test_syscall_seconds_total"]
            assert seconds.type == "counter"
            assert seconds.value(syscall="getppid") > 0
            attached = families["pybpf_exporter_program_attached"]
            assert attached.value(object="syscount", program="sys_enter") == 1
            runs = families["bpf_program_runs_total"]
            (enter,) = [v for _, labels, v in runs.samples
                        if labels["program"] == "sys_enter"]
            assert enter >= 250      # statistics on: the kernel counted each run
        finally:
            server.shutdown()
            server.server_close()
    assert not obj.attached   # closed with the exporter


def test_the_counts_pushed_over_otlp_match_the_calls_made(tmp_path):
    cfg = parse_config(CONFIG.format(pid=os.getpid()), path=str(tmp_path / "e.toml"))
    receiver = start_receiver()
    try:
        with build(cfg) as exporter:
            pusher = OtlpPusher.for_exporter(exporter, OtlpConfig(receiver.url))
            assert pusher.push()
            body = receiver.requests[-1].body
            before = value(body, "test_syscalls_total", 0, syscall="getppid")
            for _ in range(250):
                os.getppid()
            assert pusher.push()
            after = receiver.requests[-1].body
            assert value(after, "test_syscalls_total", syscall="getppid") - before == 250
            assert value(after, "test_syscall_seconds_total", syscall="getppid") > 0
    finally:
        receiver.close()


def test_a_pinned_map_is_exported_with_map(tmp_path):
    from pybpf.kernel import KernelMap
    from pybpf.kernel.bpffs import is_bpffs

    if not is_bpffs("/sys/fs/bpf"):
        pytest.skip("no bpf filesystem at /sys/fs/bpf")
    path = f"/sys/fs/bpf/pybpf_export_test_{os.getpid()}"
    with KernelMap.create("hash", 4, 8, 16, name="exp_counts", key_codec="int",
                          value_codec="int") as m:
        m[7] = 70
        m[9] = 90
        m.pin(path)
    try:
        out = subprocess.run([sys.executable, "-m", "pybpf", "export", "--map", path, "--once"],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": str(SRC)})
        assert out.returncode == 0, out.stderr
        fam = parse(out.stdout)["bpf_map_exp_counts"]
        assert fam.type == "gauge"
        assert fam.value(key="7") == 70 and fam.value(key="9") == 90
    finally:
        os.unlink(path)


def test_the_command_serves_until_its_duration_ends(tmp_path):
    config = tmp_path / "e.toml"
    config.write_text(CONFIG.format(pid=0))
    proc = subprocess.Popen([sys.executable, "-m", "pybpf", "export", str(config),
                             "--listen", "127.0.0.1:0", "-d", "60"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    try:
        line = ""
        deadline = time.monotonic() + 120
        while "serving" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line and proc.poll() is not None:
                break
        assert "serving 2 metrics at http://127.0.0.1:" in line, line
        url = line.split(" at ", 1)[1].split(";", 1)[0]
        with urllib.request.urlopen(url, timeout=30) as resp:
            families = parse(resp.read().decode())
        assert families["test_syscalls_total"].samples   # every process's calls: some
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode == 0


def test_a_config_error_is_one_line(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('[[metrics]]\nname = "x"\nkind = "counter"\nmap = "nosuchmap_zz"\n')
    out = subprocess.run([sys.executable, "-m", "pybpf", "export", str(config), "--once"],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1, out.stderr
    assert "metric 'x'" in out.stderr and "nosuchmap_zz" in out.stderr


def test_a_reload_keeps_unchanged_kernel_maps_and_closes_removed_ones(tmp_path):
    from pybpf.export import read_config
    from pybpf.kernel import KernelMap

    tag = f"{os.getpid() % 100000}"
    metric = ('[[metrics]]\nname = "{name}"\nkind = "counter"\nmap = "{map}"\n'
              'labels = [{{ name = "k", decoder = "int" }}]\n')
    with KernelMap.create("hash", 4, 8, 16, name=f"rla{tag}", key_codec="int",
                          value_codec="int") as a, \
            KernelMap.create("hash", 4, 8, 16, name=f"rlb{tag}", key_codec="int",
                             value_codec="int") as b:
        a[1], b[1] = 10, 20
        config = tmp_path / "e.toml"
        config.write_text(metric.format(name="a_total", map=f"rla{tag}"))
        with build(read_config(config)) as exporter:
            exporter.loader = lambda: read_config(config)
            exporter.log = lambda line: None
            (first,) = exporter.owned
            assert parse(exporter.render())["a_total"].value(k="1") == 10
            config.write_text(metric.format(name="a_total", map=f"rla{tag}")
                              + metric.format(name="b_total", map=f"rlb{tag}"))
            assert exporter.reload_config() is None
            assert exporter.owned[0] is first and not first.map.closed   # kept, not reopened
            a[1] = 11
            fams = parse(exporter.render())
            assert fams["a_total"].value(k="1") == 11 and fams["b_total"].value(k="1") == 20
            config.write_text(metric.format(name="b_total", map=f"rlb{tag}"))
            assert exporter.reload_config() is None
            assert first.map.closed                                      # removed: closed
            assert "a_total" not in parse(exporter.render())
