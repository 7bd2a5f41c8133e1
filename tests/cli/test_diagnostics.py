"""What the CLI says when the kernel refuses a program, the verifier log on
request, and test runs with knobs set and maps printed through BTF."""

from __future__ import annotations

import json
import textwrap

import pytest

from pybpf.cli.main import main

REFUSED = textwrap.dedent("""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4);
             __type(key, int); __type(value, long); } vals SEC(".maps");
    SEC("xdp")
    int refused(struct xdp_md *ctx)
    {
        int k = 1;
        long *v = bpf_map_lookup_elem(&vals, &k);
        return *v;   /* no NULL check */
    }
    char LICENSE[] SEC("license") = "GPL";
""")

COUNTER = textwrap.dedent("""
    #include <linux/bpf.h>
    #include <bpf/bpf_helpers.h>
    struct hit { int times; char last[8]; };
    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
             __type(key, __u32); __type(value, struct hit); } hits SEC(".maps");
    const volatile __u32 step = 1;
    const volatile __u32 keys = 1;

    SEC("xdp")
    int count(struct xdp_md *ctx)
    {
        for (__u32 i = 0; i < keys && i < 64; i++) {
            __u32 k = i + 1;
            struct hit zero = {}, *h;

            bpf_map_update_elem(&hits, &k, &zero, BPF_NOEXIST);
            h = bpf_map_lookup_elem(&hits, &k);
            if (h) {
                h->times += step;
                h->last[0] = 'x';
            }
        }
        return XDP_PASS;
    }
    char LICENSE[] SEC("license") = "GPL";
""")

PACKET = "00" * 12 + "0800" + "00" * 40


def _compile(source: str, tmp_path, name: str):
    from pybpf.toolchain import CompilerNotFound, compile_source

    try:
        return str(compile_source(source, tmp_path / f"{name}.o", name=f"{name}.bpf.c"))
    except CompilerNotFound as e:
        pytest.skip(str(e))


@pytest.mark.kernel
def test_a_refusal_shows_the_message_and_the_source_line(tmp_path, capsys):
    obj = _compile(REFUSED, tmp_path, "refused")
    assert main(["load", obj]) == 1
    _out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith("pybpf: error: program 'refused' (xdp) rejected by the verifier")
    assert "invalid mem access 'map_value_or_null'" in lines[0]
    assert lines[1] == "  refused.bpf.c:11: return *v;   /* no NULL check */"
    # the full log, on request: to a file, or to standard error
    log = tmp_path / "verifier.log"
    assert main(["load", obj, "--log-file", str(log)]) == 1
    text = log.read_text()
    assert text.startswith("--- verifier log of refused ---")
    assert "R0 invalid mem access" in text and "processed" in text
    capsys.readouterr()
    assert main(["test-run", obj, "--kernel", "--data", PACKET, "--log-level", "2"]) == 1
    err = capsys.readouterr().err
    assert "--- verifier log of refused ---" in err and "R10=fp0" in err
    assert err.strip().splitlines()[-1].startswith("  refused.bpf.c:11:")


@pytest.mark.kernel
def test_load_writes_the_logs_of_loaded_programs(tmp_path, capsys):
    obj = _compile(COUNTER, tmp_path, "counter")
    log = tmp_path / "ok.log"
    assert main(["load", obj, "--log-file", str(log), "-d", "0"]) == 0
    text = log.read_text()
    assert text.startswith("--- verifier log of count ---") and "processed" in text
    capsys.readouterr()


@pytest.mark.parametrize("backend", ["vm", pytest.param("kernel", marks=pytest.mark.kernel)])
def test_test_run_sets_knobs_and_prints_maps_through_btf(tmp_path, capsys, backend):
    obj = _compile(COUNTER, tmp_path, "counter")
    extra = ["--kernel"] if backend == "kernel" else []
    assert main(["test-run", obj, "--data", PACKET, "--set", "step=5", "--repeat", "2",
                 *extra]) == 0
    out = capsys.readouterr().out
    assert "retval: 2 0x2 (XDP_PASS)" in out
    assert 'map hits: 1: {"times": 10, "last": "x"}' in out
    assert main(["test-run", obj, "--data", PACKET, "--hex", *extra]) == 0
    out = capsys.readouterr().out
    assert "map hits: 01000000: 010000007800000000000000" in out
    # bounded: 40 keys set, 5 shown, and a note of the rest
    assert main(["-j", "test-run", obj, "--data", PACKET, "--set", "keys=40",
                 "--max-entries", "5", *extra]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["maps"]["hits"]) == 5 and result["maps_not_shown"] == {"hits": 35}
    assert len(result["maps_btf"]["hits"]) == 5
    assert main(["test-run", obj, "--data", PACKET, "--set", "keys=40", "--max-entries", "5",
                 *extra]) == 0
    assert "(35 more not shown: --max-entries)" in capsys.readouterr().out


def test_test_run_options_that_cannot_apply(tmp_path, capsys):
    prog = tmp_path / "p.s"
    prog.write_text("r0 = 1\nexit\n")
    assert main(["test-run", str(prog), "--set", "x=1"]) == 1
    assert "--set needs an object file" in capsys.readouterr().err
    assert main(["test-run", str(prog), "--log-level", "1"]) == 0
    captured = capsys.readouterr()
    assert "retval: 1" in captured.out and "the VM keeps no verifier log" in captured.err
    obj = _compile(COUNTER, tmp_path, "counter")
    assert main(["test-run", obj, "--set", "nope=1"]) == 1
    assert "no global variable 'nope'" in capsys.readouterr().err
