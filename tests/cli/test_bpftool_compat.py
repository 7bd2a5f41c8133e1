"""pybpf's bpftool verbs against bpftool itself, on the same kernel objects.

Each test runs a verb through pybpf and through Debian's bpftool on objects
this module loads, and compares: the same text where bpftool knows what it
prints, and for ``-j`` JSON that parses and carries every key bpftool's has
(pybpf may say more: tcx attachments, link details newer bpftools print).
bpftool missing skips the tests with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import uuid

import pytest

from conftest import SRC
from pybpf import kernel
from pybpf.cli.main import main

pytestmark = pytest.mark.kernel
BPFTOOL = shutil.which("bpftool")
if BPFTOOL is None:
    pytestmark = [pytestmark, pytest.mark.skip(
        reason="bpftool is not installed (apt-get install bpftool): nothing to compare with")]

SOURCE = textwrap.dedent("""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct point { int x; int y; char tag[8]; };
    struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 8);
        __type(key, unsigned int);
        __type(value, struct point);
    } cmp_points SEC(".maps");
    struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 2);
        __type(key, __u32);
        __type(value, __u64);
    } cmp_percpu SEC(".maps");
    struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 4);
             __uint(value_size, 4); } cmp_queue SEC(".maps");
    const volatile int cmp_knob = 3;

    SEC("xdp")
    int cmp_xdp(struct xdp_md *ctx)
    {
        unsigned int k = 1;
        struct point *p = bpf_map_lookup_elem(&cmp_points, &k);

        if (p)
            p->x += cmp_knob;
        return XDP_PASS;
    }
    SEC("tc") int cmp_tc(struct __sk_buff *skb) { return 0; }
    SEC("cgroup_skb/ingress") int cmp_cg_in(struct __sk_buff *skb) { return 1; }
    SEC("cgroup_skb/egress") int cmp_cg_out(struct __sk_buff *skb) { return 1; }
    SEC("tracepoint/syscalls/sys_enter_getppid") int cmp_tp(void *ctx) { return 0; }
    SEC("raw_tp/sched_switch") int cmp_rtp(void *ctx) { return 0; }
    char LICENSE[] SEC("license") = "GPL";
""")


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    from pybpf.toolchain import CompilerNotFound, compile_source

    try:
        return compile_source(SOURCE, tmp_path_factory.mktemp("cmp") / "cmp.o",
                              name="cmp.bpf.c")
    except CompilerNotFound as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def coll(obj):
    from pybpf.elf import load_object

    with kernel.load(load_object(obj)) as c:
        yield c


@pytest.fixture(scope="module")
def pin_dir(coll):
    from pybpf.kernel.pins import DEFAULT_BPFFS, mount_bpffs

    mount_bpffs(DEFAULT_BPFFS)
    path = f"{DEFAULT_BPFFS}/pybpf-cmp-{uuid.uuid4().hex[:8]}"
    coll.programs["cmp_xdp"].pin(f"{path}/xdp")
    coll.maps["cmp_points"].pin(f"{path}/points")
    yield path
    for name in os.listdir(path):
        os.unlink(os.path.join(path, name))
    os.rmdir(path)


@pytest.fixture
def cgroup_dir():
    from pybpf.kernel.cgroups import cgroup2_mount

    root = cgroup2_mount()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy")
    path = os.path.join(root, f"pybpf-cmp-{uuid.uuid4().hex[:8]}")
    os.makedirs(os.path.join(path, "child"))
    yield path
    os.rmdir(os.path.join(path, "child"))
    os.rmdir(path)


def ours(capsys, *argv: str) -> tuple[int, str]:
    status = main(list(argv))
    return status, capsys.readouterr().out


def theirs(*argv: str) -> tuple[int, str]:
    done = subprocess.run([BPFTOOL, *argv], capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout


def same(capsys, *argv: str) -> str:
    """Run ``argv`` through both; both must succeed and print the same."""
    status, mine = ours(capsys, *argv)
    code, bpftool = theirs(*argv)
    assert status == 0 and code == 0, (argv, bpftool)
    assert mine.rstrip("\n") == bpftool.rstrip("\n"), argv
    return mine


def covers(mine, bpftool) -> None:
    """``mine`` says everything ``bpftool`` says (and may say more)."""
    if isinstance(bpftool, dict):
        assert isinstance(mine, dict), (mine, bpftool)
        for key, value in bpftool.items():
            assert key in mine, (key, mine)
            covers(mine[key], value)
    elif isinstance(bpftool, list):
        assert isinstance(mine, list) and len(mine) == len(bpftool), (mine, bpftool)
        for a, b in zip(mine, bpftool):
            covers(a, b)
    else:
        assert mine == bpftool


def json_both(capsys, *argv: str):
    status, mine = ours(capsys, "-j", *argv)
    code, bpftool = theirs("-j", *argv)
    assert status == 0 and code == 0, (argv, bpftool)
    return json.loads(mine), json.loads(bpftool)


# --- prog ------------------------------------------------------------------------------------


def test_prog_show_by_every_selector(coll, pin_dir, capsys):
    prog = coll.programs["cmp_xdp"]
    pid, tag = prog.info().id, prog.tag
    for selector in (["id", str(pid)], ["name", "cmp_xdp"], ["tag", tag],
                     ["pinned", f"{pin_dir}/xdp"]):
        text = same(capsys, "prog", "show", *selector)
        assert text.startswith(f"{pid}: xdp  name cmp_xdp  tag {tag}  gpl")
        mine, bpftool = json_both(capsys, "prog", "show", *selector)
        covers(mine, bpftool)
    # pybpf prog show ID selects by id
    status, text = ours(capsys, "prog", "show", str(pid))
    assert status == 0 and text.rstrip("\n") == theirs("prog", "show", "id", str(pid))[1].rstrip()


def test_prog_list_has_every_program_bpftool_lists(coll, capsys):
    mine, bpftool = json_both(capsys, "prog", "list")
    ids = {p.info().id for p in coll.programs.values()}
    covers([p for p in mine if p["id"] in ids], [p for p in bpftool if p["id"] in ids])


@pytest.mark.parametrize("options", [[], ["linum"], ["opcodes"]])
def test_prog_dump_xlated(coll, capsys, options):
    pid = str(coll.programs["cmp_xdp"].info().id)
    text = same(capsys, "prog", "dump", "xlated", "id", pid, *options)
    assert "int cmp_xdp(struct xdp_md * ctx):" in text and "call __htab_map_lookup_elem#" in text
    assert "; p->x += cmp_knob;" in text
    mine, bpftool = json_both(capsys, "prog", "dump", "xlated", "id", pid, *options)
    assert mine == bpftool


def test_prog_dump_to_a_file_and_jited(coll, capsys, tmp_path):
    from pybpf.kernel.info import program_code

    prog = coll.programs["cmp_tc"]
    pid = str(prog.info().id)
    assert ours(capsys, "prog", "dump", "xlated", pid, "file", str(tmp_path / "x"))[0] == 0
    assert (tmp_path / "x").read_bytes() == program_code(prog.fd)
    status, text = ours(capsys, "prog", "dump", "jited", pid)
    assert status == 0 and "bpf_prog_" in text and "_cmp_tc:" in text
    assert "int cmp_tc(struct __sk_buff * skb):" in text


def test_prog_pin(coll, pin_dir, capsys):
    pid = coll.programs["cmp_tc"].info().id
    path = f"{pin_dir}/tc"
    assert ours(capsys, "prog", "pin", "name", "cmp_tc", path)[0] == 0
    assert json.loads(theirs("-j", "prog", "show", "pinned", path)[1])["id"] == pid


# --- map -------------------------------------------------------------------------------------


def test_map_show_and_dump(coll, pin_dir, capsys):
    points = coll.maps["cmp_points"]
    mid = str(points.info().id)
    points.raw.update((1).to_bytes(4, "little"), bytes.fromhex("01000000020000006162000000000000"))
    for argv in (["map", "show", "id", mid], ["map", "show", "pinned", f"{pin_dir}/points"],
                 ["map", "dump", "id", mid], ["map", "lookup", "id", mid, "key", "1", "0", "0",
                                              "0"],
                 ["map", "getnext", "id", mid], ["map", "dump", "name", "cmp_percpu"],
                 ["map", "show", "name", "cmp_queue"]):
        same(capsys, *argv)
        mine, bpftool = json_both(capsys, *argv)
        if argv[1] == "show":
            covers(mine, bpftool)
        else:
            assert mine == bpftool, argv
    dumped = json.loads(same(capsys, "map", "dump", "id", mid))
    assert dumped == [{"key": 1, "value": {"x": 1, "y": 2, "tag": "ab"}}]


def test_map_edits_seen_by_the_other_tool(coll, capsys):
    points = coll.maps["cmp_points"]
    mid = str(points.info().id)
    value = ["value", "hex", "ff", "ff", "ff", "ff", "07", "00", "00", "00", "7a", "00", "00",
             "00", "00", "00", "00", "00"]
    assert ours(capsys, "map", "update", "id", mid, "key", "2", "0", "0", "0", *value)[0] == 0
    _code, text = theirs("-j", "map", "lookup", "id", mid, "key", "2", "0", "0", "0")
    assert json.loads(text)["formatted"] == {"key": 2, "value": {"x": -1, "y": 7, "tag": "z"}}
    assert theirs("map", "update", "id", mid, "key", "hex", "03", "00", "00", "00",
                  "value", *["0"] * 16)[0] == 0
    status, text = ours(capsys, "map", "lookup", "id", mid, "key", "3", "0", "0", "0")
    assert status == 0 and json.loads(text) == {"key": 3,
                                                "value": {"x": 0, "y": 0, "tag": ""}}
    # getnext walks as bpftool walks; delete, then the key is gone for both
    first = json.loads(theirs("-j", "map", "getnext", "id", mid)[1])["next_key"]
    same(capsys, "map", "getnext", "id", mid, "key", "hex", *(b[2:] for b in first))
    assert ours(capsys, "map", "delete", "id", mid, "key", "3", "0", "0", "0")[0] == 0
    assert theirs("map", "lookup", "id", mid, "key", "3", "0", "0", "0")[0] != 0
    assert main(["map", "delete", "id", mid, "key", "3", "0", "0", "0"]) == 1
    # a per-CPU value is given once, for every CPU
    percpu = str(coll.maps["cmp_percpu"].info().id)
    assert ours(capsys, "map", "update", "id", percpu, "key", "1", "0", "0", "0", "value",
                "9", *["0"] * 7)[0] == 0
    values = json.loads(theirs("-j", "map", "lookup", "id", percpu, "key", "1", "0", "0",
                               "0")[1])["formatted"]["values"]
    assert values and all(v["value"] == 9 for v in values)
    # noexist refuses an existing key, as the kernel does
    assert main(["map", "update", "id", mid, "key", "2", "0", "0", "0", *value,
                 "noexist"]) == 1
    capsys.readouterr()


def test_queue_push_peek_pop(coll, capsys):
    q = coll.maps["cmp_queue"]
    qid = str(q.info().id)
    assert ours(capsys, "map", "push", "id", qid, "value", "5", "0", "0", "0")[0] == 0
    assert theirs("map", "enqueue", "id", qid, "value", "hex", "06", "00", "00", "00")[0] == 0
    same(capsys, "map", "peek", "id", qid)
    mine, bpftool = json_both(capsys, "map", "peek", "id", qid)
    assert mine == bpftool
    assert ours(capsys, "map", "pop", "id", qid)[1].strip() == "value: 05 00 00 00"
    assert theirs("map", "dequeue", "id", qid)[1].strip() == "value: 06 00 00 00"
    assert main(["map", "pop", "id", qid]) == 1  # empty: the action did not happen
    assert main(["map", "dump", "id", qid]) == 1  # a queue has no keys to walk
    capsys.readouterr()


def test_map_create_freeze_and_pin(pin_dir, capsys):
    path = f"{pin_dir}/created"
    assert ours(capsys, "map", "create", path, "type", "hash", "key", "4", "value", "8",
                "entries", "16", "name", "cmp_created")[0] == 0
    assert ours(capsys, "map", "update", "pinned", path, "key", "1", "0", "0", "0", "value",
                *["1", "2", "3", "4", "5", "6", "7", "8"])[0] == 0
    same(capsys, "map", "dump", "pinned", path)
    assert "hash  name cmp_created  flags 0x0" in same(capsys, "map", "show", "pinned", path)
    assert ours(capsys, "map", "freeze", "pinned", path)[0] == 0
    assert "frozen" in same(capsys, "map", "show", "pinned", path)
    assert main(["map", "update", "pinned", path, "key", "2", "0", "0", "0", "value",
                 *["0"] * 8]) == 1  # frozen: user space may not write
    assert ours(capsys, "map", "pin", "pinned", path, f"{pin_dir}/again")[0] == 0
    assert theirs("map", "show", "pinned", f"{pin_dir}/again")[0] == 0


# --- btf -------------------------------------------------------------------------------------


def test_btf_show_and_dump(coll, capsys):
    btf_id = coll.programs["cmp_xdp"].info().btf_id
    mine, bpftool = json_both(capsys, "btf", "show", "id", str(btf_id))
    assert sorted(mine.pop("prog_ids")) == sorted(bpftool.pop("prog_ids"))
    assert sorted(mine.pop("map_ids")) == sorted(bpftool.pop("map_ids"))
    assert mine == bpftool
    same(capsys, "btf", "dump", "id", str(btf_id))
    mine, bpftool = json_both(capsys, "btf", "dump", "id", str(btf_id))
    assert mine == bpftool
    status, header = ours(capsys, "btf", "dump", "map", "name", "cmp_points", "format", "c")
    assert status == 0 and "struct point {" in header
    same(capsys, "btf", "show", "id", "1")  # the kernel's own


# --- links, cgroups, perf events ---------------------------------------------------------------


def test_link_show(coll, cgroup_dir, capsys):
    cg = coll.programs["cmp_cg_in"].attach(cgroup=cgroup_dir)
    rtp = coll.programs["cmp_rtp"].attach()
    try:
        for link in (cg, rtp):
            lid = str(link.id)
            same(capsys, "link", "show", "id", lid)
            mine, bpftool = json_both(capsys, "link", "show", "id", lid)
            covers(mine, bpftool)
        mine, bpftool = json_both(capsys, "link", "list")
        ids = {cg.id, rtp.id}
        covers([x for x in mine if x["id"] in ids], [x for x in bpftool if x["id"] in ids])
    finally:
        cg.close()
        rtp.close()


def test_link_pin_and_detach(coll, pin_dir, cgroup_dir, capsys):
    link = coll.programs["cmp_cg_out"].attach(cgroup=cgroup_dir)
    try:
        path = f"{pin_dir}/link"
        assert ours(capsys, "link", "pin", str(link.id), path)[0] == 0
        assert json.loads(theirs("-j", "link", "show", "pinned", path)[1])["id"] == link.id
        assert ours(capsys, "link", "detach", "pinned", path)[0] == 0
        assert link.info().details.get("cgroup_id") == 0  # the program is gone from the hook
        os.unlink(path)
    finally:
        link.close()


def test_cgroup_tree_and_show(coll, cgroup_dir, capsys):
    from pybpf.kernel.attach import cgroup

    a = coll.programs["cmp_cg_in"].attach(cgroup=cgroup_dir)
    b = cgroup(coll.programs["cmp_cg_out"], os.path.join(cgroup_dir, "child"), use_link=False)
    try:
        text = same(capsys, "cgroup", "tree", cgroup_dir)
        assert f"{cgroup_dir}/child\n    " in text and "cmp_cg_in" in text
        mine, bpftool = json_both(capsys, "cgroup", "tree", cgroup_dir)
        assert mine == bpftool
        same(capsys, "cgroup", "show", cgroup_dir)
        same(capsys, "cgroup", "show", os.path.join(cgroup_dir, "child"), "effective")
        mine, bpftool = json_both(capsys, "cgroup", "show", cgroup_dir)
        assert mine == bpftool
    finally:
        a.close()
        b.close()


def test_perf_list(coll, capsys):
    tp = coll.programs["cmp_tp"].attach()
    rtp = coll.programs["cmp_rtp"].attach()
    try:
        mark = f"pid {os.getpid()} "
        mine = [x for x in ours(capsys, "perf", "list")[1].splitlines() if x.startswith(mark)]
        bpftool = [x for x in theirs("perf", "list")[1].splitlines() if x.startswith(mark)]
        assert mine == bpftool and len(mine) >= 2
        assert any("tracepoint  sys_enter_getppid" in x for x in mine)
        my_json = [x for x in json.loads(ours(capsys, "-j", "perf", "list")[1])
                   if x["pid"] == os.getpid()]
        their_json = [x for x in json.loads(theirs("-j", "perf", "list")[1])
                      if x["pid"] == os.getpid()]
        assert my_json == their_json
    finally:
        tp.close()
        rtp.close()


# --- net ---------------------------------------------------------------------------------------

NET_SCRIPT = """
import json, subprocess, sys
from pybpf import kernel
from pybpf.elf import load_object
from pybpf.kernel.attach import tc, xdp
subprocess.run("ip link set lo up && ip link add cmp0 type veth peer name cmp1 && "
               "ip link set cmp0 up && ip link set cmp1 up", shell=True, check=True)
coll = kernel.load(load_object(sys.argv[1]))
held = [xdp(coll.programs["cmp_xdp"], "cmp0"),
        xdp(coll.programs["cmp_xdp"], "cmp1", mode="skb", use_link=False),
        tc(coll.programs["cmp_tc"], "cmp0", "ingress"),
        tc(coll.programs["cmp_tc"], "cmp1", "egress", use_tcx=False)]
out = {}
for name, cmd in (("ours", [sys.executable, "-m", "pybpf"]), ("theirs", [sys.argv[2]])):
    out[name] = [subprocess.run(cmd + args, capture_output=True, text=True).stdout
                 for args in (["net", "list"], ["-j", "net", "list"],
                              ["net", "list", "dev", "cmp1"])]
print(json.dumps(out))
"""


def test_net_list(obj, tmp_path):
    script = tmp_path / "net.py"
    script.write_text(NET_SCRIPT)
    done = subprocess.run(["unshare", "-n", sys.executable, str(script), str(obj), BPFTOOL],
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(SRC)))
    if done.returncode and "unshare" in done.stderr:
        pytest.skip(f"cannot make a network namespace: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    (mine, mine_json, mine_dev), (theirs_, theirs_json, theirs_dev) = out["ours"], out["theirs"]

    def section(text: str, name: str) -> list[str]:
        lines = []
        for line in text.split(f"{name}:\n", 1)[1].splitlines():
            if not line:
                break
            if " tcx/" not in line:  # bpftool 7.1 does not know tcx
                lines.append(line)
        return lines

    for name in ("xdp", "tc", "flow_dissector"):
        assert section(mine, name) == section(theirs_, name), name
    assert "cmp0(" in mine and " generic id " in mine and " driver id " in mine
    assert "clsact/egress cmp_tc id" in mine
    assert any(" tcx/ingress cmp_tc prog_id " in x and " link_id " in x
               for x in mine.splitlines())
    assert section(mine_dev, "xdp") == section(theirs_dev, "xdp")
    (mine_obj,), (their_obj,) = json.loads(mine_json), json.loads(theirs_json)
    classic = [t for t in mine_obj["tc"] if not t["kind"].startswith("tcx/")]
    covers({**mine_obj, "tc": classic}, their_obj)


# --- feature probe ---------------------------------------------------------------------------

_OURS_DECIDE_DIFFERENTLY = {"tracing", "lsm", "ext", "struct_ops"}
"""Program types pybpf's probes build a target for (or cannot decide),
where bpftool's simpler probe answers otherwise."""


def test_feature_probe(capsys):
    status, text = ours(capsys, "feature", "probe", "--no-helpers")
    assert status == 0
    assert "Scanning eBPF program types..." in text and "eBPF map_type hash is available" in text
    mine = json.loads(ours(capsys, "-j", "feature", "probe", "--no-helpers")[1])
    bpftool = json.loads(theirs("-j", "feature", "probe")[1])
    assert set(bpftool) <= set(mine)
    assert mine["system_config"] == bpftool["system_config"]
    assert mine["syscall_config"] == bpftool["syscall_config"]
    assert mine["misc"] == bpftool["misc"]
    for key, value in bpftool["program_types"].items():
        name = key.removeprefix("have_").removesuffix("_prog_type")
        if name not in _OURS_DECIDE_DIFFERENTLY:
            assert mine["program_types"][key] == value, key
    for key, value in bpftool["map_types"].items():
        if mine["map_types"].get(key) is not None:
            assert mine["map_types"][key] == value, key


@pytest.mark.slow
def test_feature_probe_helpers(capsys):
    """bpftool 7.1 takes this kernel's "cannot use helper" refusal for
    support, so it lists more: every helper pybpf finds, bpftool lists."""
    mine = json.loads(ours(capsys, "-j", "feature", "probe")[1])["helpers"]
    bpftool = json.loads(theirs("-j", "feature", "probe")[1])["helpers"]
    assert mine["xdp_available_helpers"] and "bpf_redirect" in mine["xdp_available_helpers"]
    known = set().union(*bpftool.values())  # helpers newer than bpftool's libbpf aside
    for key, helpers in bpftool.items():
        if helpers:  # bpftool could not load the type (tracing without a target): no list
            assert set(mine.get(key, [])) & known <= set(helpers), key


# --- errors ----------------------------------------------------------------------------------


def test_errors_are_short_and_the_status_non_zero(capsys):
    missing = str((1 << 31) - 1)
    for argv, words in ((["prog", "show", "id", missing], f"no program with id {missing}"),
                        (["prog", "show", missing], f"no program with id {missing}"),
                        (["map", "dump", "name", "pybpf_nonexistent"], "no map named"),
                        (["link", "show", "pinned", "/sys/fs/bpf/pybpf-nothing-here"],
                         "nothing is pinned"),
                        (["map", "lookup", "name", "cmp_points", "key", "1"], "expected 4 bytes")):
        assert main(argv) == 1, argv
        out, err = capsys.readouterr()
        assert out == "" and words in err, argv
        assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err
        assert main(["-j", *argv]) == 1
        assert words in json.loads(capsys.readouterr().out)["error"]


@pytest.mark.parametrize("kind", ["array", "prog_array"])
def test_dumping_part_of_a_large_indexed_map_is_bounded(kind, monkeypatch, capsys):
    # cli fuzz seed 20261206 case 87376: 'map dump' of a prog_array with 2**31
    # slots grew past 1.5 GB (a set of every key seen) and never ended
    from pybpf.kernel import KernelMap
    from pybpf.kernel.map_dump import entries

    size = 1 << 16
    m = KernelMap.create(kind, 4, 4, size, name=f"big_{kind[:4]}")
    try:
        walked = []
        real_next = type(m.raw).get_next_key
        monkeypatch.setattr(type(m.raw), "get_next_key",
                            lambda raw, key: walked.append(key) or real_next(raw, key))
        shown, total = entries(m, limit=3)
        if kind == "array":       # every slot holds a value: the walk stops at the limit
            assert (len(shown), total) == (3, size) and len(walked) <= 4
        else:                     # empty slots: walked to the end to count them
            assert shown == [] and len(walked) == size + 1
        monkeypatch.undo()
        assert main(["map", "dump", "id", str(m.info().id), "--max-entries", "2"]) == 0
        out, err = capsys.readouterr()
        if kind == "array":
            assert "Found 2 elements" in out and f"{size - 2} more elements not shown" in err
    finally:
        m.close()
