"""pybpf.export without the kernel: the text format (parsed back by an
independent reader), labels from BTF-typed keys and their decoders,
counters, gauges, per-CPU sums, histograms, bounded reads, the
configuration file and its one-line errors, and HTTP scrapes (concurrent
ones too) of userspace maps."""

from __future__ import annotations

import importlib.util
import math
import threading
import urllib.error
import urllib.request

import pytest
from promtext import parse

from pybpf.btf import BTFBuilder
from pybpf.export import (
    ExportConfigError,
    Exporter,
    LabelSpec,
    MapHandle,
    MapMetric,
    MetricConfigError,
    MetricFamily,
    MetricSpec,
    parse_config,
    parse_listen,
    render,
    serve,
)
from pybpf.export.decoders import DECODERS, KernelSymbols
from pybpf.export.fields import fields_of
from pybpf.export.metrics import read_entries
from pybpf.export.textformat import escape_label_value, format_value, sanitize_name
from pybpf.maps import create_map
from pybpf.objects import MapSpec

# --- the text format ---------------------------------------------------------------------


def test_label_values_and_help_are_escaped_and_read_back():
    tricky = 'a "quoted" back\\slash\nnewline {},= end'
    fam = MetricFamily("odd_total", "counter", "Help with \\ and\nnewline.")
    fam.add((("path", tricky), ("empty", "")), 3)
    text = render([fam])
    assert "\n" not in text.splitlines()[2]
    assert r'path="a \"quoted\" back\\slash\nnewline {},= end"' in text
    parsed = parse(text)["odd_total"]
    assert parsed.help == "Help with \\ and\nnewline."
    assert parsed.type == "counter"
    assert parsed.value(path=tricky, empty="") == 3


@pytest.mark.parametrize("value, text", [
    (0, "0"), (12345678901234567890, "12345678901234567890"), (1.5, "1.5"), (2.0, "2"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (1e-9, "1e-09"), (True, "1")])
def test_values_are_written_as_prometheus_reads_them(value, text):
    assert format_value(value) == text


def test_nan_is_written_as_NaN():
    assert format_value(math.nan) == "NaN"


def test_names_are_sanitized():
    assert sanitize_name("my-map.counts") == "my_map_counts"
    assert sanitize_name("9lives") == "_9lives"
    assert escape_label_value("x") == "x"


# --- maps with BTF -----------------------------------------------------------------------

def key_btf():
    """struct key { u32 pid; char comm[8]; enum state st; u16 port_be; u8 addr[4]; }
    (24 bytes) and struct stat { u64 count; u64 total_ns; } values."""
    b = BTFBuilder()
    u32 = b.add_int("unsigned int", 4)
    u16 = b.add_int("unsigned short", 2)
    u8 = b.add_int("unsigned char", 1)
    u64 = b.add_int("unsigned long long", 8)
    char = b.add_int("char", 1, char=True)
    comm = b.add_array(char, 8)
    addr = b.add_array(u8, 4)
    state = b.add_enum("state", {"RUNNING": 0, "SLEEPING": 1})
    key = b.add_struct("key", 24, [("pid", u32, 0), ("comm", comm, 32), ("st", state, 96),
                                   ("port_be", u16, 128), ("addr", addr, 160)])
    stat = b.add_struct("stat", 16, [("count", u64, 0), ("total_ns", u64, 64)])
    return b.build(), key, stat, u32, u64


def raw_key(pid, comm, st, port, addr):
    return (pid.to_bytes(4, "little") + comm.ljust(8, b"\0") + st.to_bytes(4, "little")
            + port.to_bytes(2, "big") + b"\0\0" + bytes(addr))


def stat_value(count, total):
    return count.to_bytes(8, "little") + total.to_bytes(8, "little")


@pytest.fixture
def stats_map():
    btf, key, stat, _, _ = key_btf()
    m = create_map(MapSpec("stats", "hash", 24, 16, 64))
    m.raw[raw_key(1, b"bash", 0, 80, (10, 0, 0, 1))] = stat_value(3, 300)
    m.raw[raw_key(2, b"sshd", 1, 443, (10, 0, 0, 2))] = stat_value(5, 1000)
    m.raw[raw_key(3, b"bash", 1, 80, (10, 0, 0, 1))] = stat_value(7, 700)
    return MapHandle("stats", m, btf, key, stat)


def test_fields_of_a_struct_key():
    btf, key, _, _, _ = key_btf()
    fields = fields_of(btf, key, 24)
    assert [(f.name, f.kind) for f in fields] == [
        ("pid", "int"), ("comm", "str"), ("st", "enum"), ("port_be", "int"),
        ("addr", "bytes")]
    data = raw_key(9, b"init", 1, 8080, (192, 168, 1, 2))
    assert [f.read(data) for f in fields] == [9, "init", 1, 0x901f, bytes([192, 168, 1, 2])]


def test_counter_labels_come_from_every_key_field(stats_map):
    spec = MetricSpec("calls_total", "counter", "Calls.", value="count")
    fam = parse(render([MapMetric(spec, stats_map).family(read_entries(stats_map.map,
                                                                       100).entries)]))
    calls = fam["calls_total"]
    assert calls.type == "counter"
    assert calls.value(pid="2", comm="sshd", st="SLEEPING", port_be=str(0xbb01),
                       addr="0a000002") == 5
    assert len(calls.samples) == 3


def test_labels_with_decoders_and_values_tables_sum_what_they_merge(stats_map):
    spec = MetricSpec("calls_total", "counter", value="count", labels=[
        LabelSpec("comm", "comm"), LabelSpec("port", "port_be", "port"),
        LabelSpec("addr", "addr", "ipv4"),
        LabelSpec("state", "st", values={"SLEEPING": "asleep"})])
    metric = MapMetric(spec, stats_map)
    calls = parse(render([metric.family(read_entries(stats_map.map, 100).entries)]))[
        "calls_total"]
    assert calls.value(comm="bash", port="80", addr="10.0.0.1", state="RUNNING") == 3
    assert calls.value(comm="bash", port="80", addr="10.0.0.1", state="asleep") == 7
    spec = MetricSpec("ns_total", "counter", value="total_ns", scale=1e-9,
                      labels=[LabelSpec("comm", "comm")])
    ns = parse(render([MapMetric(spec, stats_map).family(
        read_entries(stats_map.map, 100).entries)]))["ns_total"]
    assert ns.value(comm="bash") == pytest.approx(1000e-9)   # 300 + 700 ns, merged
    assert ns.value(comm="sshd") == pytest.approx(1000e-9)


def test_config_mistakes_against_the_map_are_one_line(stats_map):
    with pytest.raises(MetricConfigError) as e:
        MapMetric(MetricSpec("x", "counter"), stats_map)
    assert "not a number" in str(e.value) and "'count'" in str(e.value)
    assert "\n" not in str(e.value)
    with pytest.raises(MetricConfigError, match=r"no field 'pidd'.*'pid'"):
        MapMetric(MetricSpec("x", "gauge", value="count",
                             labels=[LabelSpec("pid", "pidd")]), stats_map)
    with pytest.raises(MetricConfigError, match="unknown decoder 'ipv5'"):
        MapMetric(MetricSpec("x", "gauge", value="count",
                             labels=[LabelSpec("a", "addr", "ipv5")]), stats_map)
    with pytest.raises(MetricConfigError, match="valid Prometheus metric name"):
        MapMetric(MetricSpec("1x", "gauge", value="count"), stats_map)


def test_per_cpu_values_are_summed():
    m = create_map(MapSpec("pc", "percpu_array", 4, 8, 4))
    ncpus = m.num_cpus
    m.raw[2] = [(i + 1).to_bytes(8, "little") for i in range(ncpus)]
    handle = MapHandle("pc", m)
    metric = MapMetric(MetricSpec("pc_total", "counter"), handle)
    fam = parse(render([metric.family(read_entries(m, 100).entries)]))["pc_total"]
    assert fam.value(key="2") == sum(range(1, ncpus + 1))
    assert fam.value(key="0") == 0
    with pytest.raises(MetricConfigError, match="not a struct and has no field 'cpu'"):
        MapMetric(MetricSpec("pc_total", "counter", labels=[LabelSpec("c", "cpu")]), handle)


def test_log2_histogram_buckets_are_cumulative():
    # struct hkey { u32 dev; u32 slot; } -> count, as the tools' histograms
    b = BTFBuilder()
    u32 = b.add_int("unsigned int", 4)
    u64 = b.add_int("unsigned long long", 8)
    hkey = b.add_struct("hkey", 8, [("dev", u32, 0), ("slot", u32, 32)])
    btf = b.build()
    m = create_map(MapSpec("hist", "hash", 8, 8, 64))
    for dev, slot, count in [(8, 0, 1), (8, 1, 2), (8, 3, 4), (9, 2, 10)]:
        m.raw[dev.to_bytes(4, "little") + slot.to_bytes(4, "little")] = \
            count.to_bytes(8, "little")
    spec = MetricSpec("lat_seconds", "histogram", bucket_field="slot",
                      bucket_multiplier=1e-6, labels=[LabelSpec("disk", "dev", "majorminor")])
    metric = MapMetric(spec, MapHandle("hist", m, btf, hkey, u64))
    fam = parse(render([metric.family(read_entries(m, 100).entries)]))["lat_seconds"]
    assert fam.type == "histogram"
    buckets = [(ls["le"], v) for n, ls, v in fam.samples
               if n == "lat_seconds_bucket" and ls["disk"] == "0:8"]
    assert buckets == [("1e-06", 1), ("2e-06", 3), ("4e-06", 3), ("8e-06", 7), ("+Inf", 7)]
    assert fam.value("_count", disk="0:8") == 7
    # _sum from lower bounds: 1*0 + 2*1 + 4*4 microseconds
    assert fam.value("_sum", disk="0:8") == pytest.approx(18e-6)
    assert fam.value("_count", disk="0:9") == 10
    # bucket_max bounds the buckets written; what lies above is in +Inf only
    spec.bucket_max = 1
    fam = parse(render([MapMetric(spec, MapHandle("hist", m, btf, hkey, u64)).family(
        read_entries(m, 100).entries)]))["lat_seconds"]
    les = [ls["le"] for n, ls, _ in fam.samples if n.endswith("_bucket") and
           ls["disk"] == "0:8"]
    assert les == ["1e-06", "2e-06", "+Inf"]
    assert fam.value("_bucket", disk="0:8", le="+Inf") == 7


def test_linear_histogram_from_an_array_indexed_by_bucket():
    m = create_map(MapSpec("lin", "array", 4, 8, 5))
    for i, count in enumerate([0, 1, 0, 3, 2]):
        m.raw[i] = count.to_bytes(8, "little")
    spec = MetricSpec("size_bytes", "histogram", bucket_type="linear", bucket_multiplier=10,
                      labels=[])
    fam = parse(render([MapMetric(spec, MapHandle("lin", m)).family(
        read_entries(m, 100).entries)]))["size_bytes"]
    assert [(ls["le"], v) for n, ls, v in fam.samples if n.endswith("_bucket")] == [
        ("10", 0), ("20", 1), ("30", 1), ("40", 4), ("50", 6), ("+Inf", 6)]
    assert fam.value("_sum") == 10 * 1 + 30 * 3 + 40 * 2


def test_histogram_from_a_value_array_of_slots():
    b = BTFBuilder()
    u32 = b.add_int("unsigned int", 4)
    slots = b.add_array(u32, 4)
    hist = b.add_struct("hist", 16, [("slots", slots, 0)])
    btf = b.build()
    m = create_map(MapSpec("h", "array", 4, 16, 1))
    m.raw[0] = b"".join(n.to_bytes(4, "little") for n in (1, 0, 2, 5))
    spec = MetricSpec("h_seconds", "histogram", value="slots", labels=[])
    fam = parse(render([MapMetric(spec, MapHandle("h", m, btf, u32, hist)).family(
        read_entries(m, 10).entries)]))["h_seconds"]
    assert fam.value("_count") == 8
    assert fam.value("_bucket", le="4") == 3


def test_reads_stop_at_max_entries_and_say_so():
    m = create_map(MapSpec("big", "hash", 4, 8, 5000))
    for i in range(3000):
        m.raw[i] = (1).to_bytes(8, "little")
    read = read_entries(m, 1000)
    assert len(read.entries) == 1000 and read.truncated
    read = read_entries(m, 3000)
    assert len(read.entries) == 3000 and not read.truncated
    exporter = Exporter([MapMetric(MetricSpec("big", "gauge", labels=[]), MapHandle("big", m))],
                        max_entries=100)
    fams = parse(exporter.render())
    assert fams["big"].value() == 100
    assert fams["pybpf_exporter_map_entries_truncated"].value(map="big") == 1
    assert fams["pybpf_exporter_map_entries"].value(map="big") == 100
    assert fams["pybpf_exporter_max_entries"].value() == 100


@pytest.mark.parametrize("decoder, raw, text", [
    ("ipv4", bytes([127, 0, 0, 1]), "127.0.0.1"),
    ("inet", bytes(15) + b"\1", "::1"),
    ("port", (443).to_bytes(2, "big"), "443"),
    ("syscall", (0).to_bytes(4, "little"), "read"),
    ("errno", (-2).to_bytes(4, "little", signed=True), "ENOENT"),
    ("majorminor", ((8 << 20) | 16).to_bytes(4, "little"), "8:16"),
    ("hex", (255).to_bytes(4, "little"), "0xff"),
    ("cpu", (3).to_bytes(4, "little"), "cpu3"),
])
def test_decoders(decoder, raw, text):
    field = fields_of(None, None, len(raw))[0]
    value = field.read(raw)
    if decoder == "errno":
        value = int.from_bytes(raw, "little", signed=True)
    assert DECODERS[decoder](value, raw, field) == text


def test_ksym_names_the_symbol_an_address_falls_in(tmp_path):
    table = KernelSymbols()
    table._addresses, table._names = [0x1000, 0x2000], ["start_kernel", "do_sys_open"]
    assert table.name(0x2000) == "do_sys_open"
    assert table.name(0x2010) == "do_sys_open+0x10"
    assert table.name(0x10) == "0x10"


# --- the configuration file --------------------------------------------------------------

GOOD = """
namespace = "ebpf"
max_entries = 500
[[metrics]]
name = "calls_total"
kind = "counter"
map = "stats"
value = "count"
labels = [{ name = "syscall", decoder = "syscall" }, { name = "x", field = "b", values = { 1 = "one" } }]
[[metrics]]
name = "lat_seconds"
kind = "histogram"
pinned = "/sys/fs/bpf/x/hist"
bucket_multiplier = 1e-6
bucket_max = 26
"""


def test_a_configuration_reads():
    cfg = parse_config(GOOD, path="e.toml")
    assert cfg.max_entries == 500
    calls, lat = cfg.metrics
    assert calls.spec.name == "ebpf_calls_total" and calls.source.map == "stats"
    assert calls.spec.labels[0] == LabelSpec("syscall", "", "syscall", None)
    assert calls.spec.labels[1].values == {"1": "one"}
    assert lat.source.pinned == "/sys/fs/bpf/x/hist" and lat.spec.bucket_max == 26


@pytest.mark.parametrize("text, message", [
    ("[[metrics]\n", "e.toml: "),
    ("[[metrics]]\nname = \"a\"\nkind = \"counter\"\nmap = \"m\"\nlables = []\n",
     "e.toml: metrics[0] ('a'): unknown key 'lables'"),
    ("[[metrics]]\nname = \"a\"\nmap = \"m\"\n", "kind = \"counter\""),
    ("[[metrics]]\nname = \"a\"\nkind = \"summary\"\nmap = \"m\"\n", "kind 'summary'"),
    ("[[metrics]]\nname = \"a\"\nkind = \"gauge\"\n", "one of map = NAME"),
    ("[[metrics]]\nname = \"a\"\nkind = \"gauge\"\nmap = \"m\"\nmap_id = 3\n",
     "one of map = NAME"),
    ("[[metrics]]\nname = \"a\"\nkind = \"gauge\"\nmap = \"m\"\n"
     "labels = [{ name = \"x\", decoder = \"nope\" }]\n", "unknown decoder 'nope'"),
    ("[[metrics]]\nname = \"a\"\nkind = \"gauge\"\nmap = \"m\"\nobject = \"o\"\n",
     "no object named 'o'"),
    ("[[objects]]\npath = \"missing.bpf.o\"\n[[metrics]]\nname = \"a\"\nkind = \"gauge\"\n"
     "map = \"m\"\n", "objects[0]: missing.bpf.o: no such file"),
    ("[[objects]]\ntool = \"nosuchtool\"\n", "no tool 'nosuchtool'"),
    ("max_entries = \"many\"\n", "max_entries must be an integer"),
    ("namespace = \"x\"\n", "nothing to export"),
    ("listen = \"9435\"\n", "e.toml: listen '9435': expected ADDR:PORT"),
])
def test_configuration_errors_are_one_line(tmp_path, text, message):
    with pytest.raises(ExportConfigError) as e:
        parse_config(text, path="e.toml", base=tmp_path)
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_listen_addresses():
    assert parse_listen("127.0.0.1:9435") == ("127.0.0.1", 9435)
    assert parse_listen(":9000") == ("0.0.0.0", 9000)
    assert parse_listen("[::1]:80") == ("::1", 80)
    with pytest.raises(Exception, match="ADDR:PORT"):
        parse_listen("9435")


def test_program_stats_setting():
    cfg = parse_config('program_stats = "all"\n', path="e.toml")
    assert cfg.program_stats == "all" and not cfg.metrics
    with pytest.raises(ExportConfigError, match="program_stats must be one of"):
        parse_config('program_stats = "some"\n', path="e.toml")


# --- HTTP --------------------------------------------------------------------------------

def scrape(server, path="/metrics", method="GET"):
    host, port = server.server_address[:2]
    req = urllib.request.Request(f"http://{host}:{port}{path}", method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, resp.headers.get("Content-Type"), resp.read().decode()


def test_http_scrapes_of_a_userspace_map_including_concurrent_ones(stats_map):
    metric = MapMetric(MetricSpec("calls_total", "counter", value="count",
                                  labels=[LabelSpec("comm", "comm")]), stats_map)
    exporter = Exporter([metric])
    server = serve(exporter, "127.0.0.1", 0)
    try:
        status, ctype, body = scrape(server)
        assert status == 200 and ctype.startswith("text/plain; version=0.0.4")
        assert parse(body)["calls_total"].value(comm="bash") == 10
        # the map changes between scrapes: the next scrape sees it
        stats_map.map.raw[raw_key(4, b"cron", 0, 1, (1, 1, 1, 1))] = stat_value(2, 0)
        assert parse(scrape(server)[2])["calls_total"].value(comm="cron") == 2

        results: list[str] = []
        failures: list[BaseException] = []

        def worker():
            try:
                for _ in range(5):
                    results.append(scrape(server)[2])
            except BaseException as e:
                failures.append(e)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures
        assert len(results) == 40
        for body in results:
            assert parse(body)["calls_total"].value(comm="sshd") == 5
        own = parse(scrape(server)[2])
        assert own["pybpf_exporter_scrapes_total"].value() == 43
        assert own["pybpf_exporter_scrape_errors_total"].value(metric="calls_total") == 0
        assert own["pybpf_exporter_scrape_duration_seconds"].value() >= 0
        assert scrape(server, "/")[0] == 200
        assert scrape(server, method="HEAD")[2] == ""
        with pytest.raises(urllib.error.HTTPError) as e:
            scrape(server, "/nothing")
        assert e.value.code == 404
    finally:
        server.shutdown()
        server.server_close()


def test_a_map_that_fails_is_counted_and_the_others_still_served(stats_map):
    class Broken:
        key_size, value_size, type, name = 4, 8, "hash", "broken"

        @property
        def raw(self):
            from pybpf.errors import MapError

            raise MapError(9, "bad file descriptor", op="lookup_batch")

    good = MapMetric(MetricSpec("calls_total", "counter", value="count",
                                labels=[LabelSpec("comm", "comm")]), stats_map)
    bad = MapMetric(MetricSpec("broken", "gauge"), MapHandle("broken", Broken()))
    fams = parse(Exporter([good, bad]).render())
    assert "broken" not in fams
    assert fams["calls_total"].value(comm="sshd") == 5
    assert fams["pybpf_exporter_scrape_errors_total"].value(metric="broken") == 1


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="no ziglang")
def test_an_object_loaded_in_the_vm_is_scraped_over_http(tmp_path):
    from conftest import EXAMPLES
    from pybpf.export import build
    from pybpf.toolchain import compile

    obj = compile(EXAMPLES / "xdp_count.bpf.c", tmp_path / "xdp_count.bpf.o", compiler="zig")
    cfg = parse_config(
        '[[objects]]\npath = "xdp_count.bpf.o"\nbackend = "vm"\n'
        '[[metrics]]\nname = "packets_total"\nkind = "counter"\nmap = "counts"\n'
        'labels = [{ name = "proto", decoder = "int" }]\n', path=str(tmp_path / "e.toml"))
    assert cfg.objects[0].path == str(obj)
    packet = (b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64,
                                                              17, 0, 0, 10, 0, 0, 1, 10, 0,
                                                              0, 2]) + bytes(8))
    with build(cfg) as exporter:
        prog = exporter.objects[0].collection.programs["count_packets"]
        for _ in range(3):
            prog.test_run(packet)
        server = serve(exporter, "127.0.0.1", 0)
        try:
            fams = parse(scrape(server)[2])
        finally:
            server.shutdown()
            server.server_close()
    assert fams["packets_total"].value(proto="17") == 3   # per-CPU counts summed
    assert fams["packets_total"].value(proto="6") == 0
