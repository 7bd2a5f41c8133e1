"""bpftrace's output formats, checked against what bpftrace 0.17 printed for
the same values (the expected texts below were captured from it)."""

from __future__ import annotations

from pybpf.trace.output import (
    MapDump,
    Stack,
    format_map,
    format_maps,
    format_printf,
    hist_bucket,
    hist_label,
    json_map,
    lhist_bucket,
)

BAR = "@" * 52


def hist_of(*values):
    buckets: dict[int, int] = {}
    for v in values:
        b = hist_bucket(v)
        buckets[b] = buckets.get(b, 0) + 1
    return buckets


def lhist_of(lo, hi, step, *values):
    buckets: dict[int, int] = {}
    for v in values:
        b = lhist_bucket(v, lo, hi, step)
        buckets[b] = buckets.get(b, 0) + 1
    return buckets


def test_hist_labels_follow_powers_of_two_with_units():
    assert [hist_label(i) for i in range(5)] == ["(..., 0)", "[0]", "[1]", "[2, 4)", "[4, 8)"]
    assert hist_label(hist_bucket(1000)) == "[512, 1K)"
    assert hist_label(hist_bucket(1 << 20)) == "[1M, 2M)"
    assert hist_label(hist_bucket(3 << 30)) == "[2G, 4G)"


def test_hist_matches_bpftrace():
    # bpftrace -e 'BEGIN { @h = hist(5); @h = hist(0); @h=hist(-3); @h=hist(1000); exit(); }'
    text = format_map(MapDump("h", "hist", [((), hist_of(5, 0, -3, 1000))]))
    empty = " " * 52
    assert text == (
        "@h: \n"
        f"(..., 0)               1 |{BAR}|\n"
        f"[0]                    1 |{BAR}|\n"
        f"[1]                    0 |{empty}|\n"
        f"[2, 4)                 0 |{empty}|\n"
        f"[4, 8)                 1 |{BAR}|\n"
        f"[8, 16)                0 |{empty}|\n"
        f"[16, 32)               0 |{empty}|\n"
        f"[32, 64)               0 |{empty}|\n"
        f"[64, 128)              0 |{empty}|\n"
        f"[128, 256)             0 |{empty}|\n"
        f"[256, 512)             0 |{empty}|\n"
        f"[512, 1K)              1 |{BAR}|\n"
        "\n")


def test_lhist_matches_bpftrace():
    # @h2 = lhist(5,0,10,1); @h2 = lhist(20,0,10,1)
    text = format_map(MapDump("h2", "lhist", [((), lhist_of(0, 10, 1, 5, 20))], (0, 10, 1)))
    empty = " " * 52
    assert text == ("@h2: \n"
                    f"[5, 6)                 1 |{BAR}|\n"
                    f"[6, 7)                 0 |{empty}|\n"
                    f"[7, 8)                 0 |{empty}|\n"
                    f"[8, 9)                 0 |{empty}|\n"
                    f"[9, 10)                0 |{empty}|\n"
                    f"[10, ...)              1 |{BAR}|\n\n")
    below = format_map(MapDump("", "lhist", [((), lhist_of(0, 100, 10, -5))], (0, 100, 10)))
    assert below == f"@: \n(..., 0)               1 |{BAR}|\n\n"


def test_bar_length_scales_to_the_largest_bucket():
    # the man page's lhist example: 306 of a largest 362 is 43 columns
    text = format_map(MapDump("", "lhist", [((), {1: 306, 6: 362})], (0, 10, 1)))
    rows = text.splitlines()[1:-1]
    assert rows[0].count("@") == 43 and rows[-1].count("@") == 52


def test_map_printing_at_exit_matches_bpftrace():
    # bpftrace -e 'BEGIN { @[1,"a"] = count(); @[2,"b"]=count(); @[2,"b"]=count();
    #   @a=avg(4); @a=avg(7); @m=max(3); @s=stats(3); @s=stats(4); @str["x"]="hi";
    #   @t=(1,"a"); @v=5; exit(); }'
    dumps = [MapDump("", "count", [((2, "b"), 2), ((1, "a"), 1)], keyed=True),
             MapDump("a", "avg", [((), (2, 11))]),
             MapDump("m", "max", [((), 3)]),
             MapDump("s", "stats", [((), (2, 7))]),
             MapDump("str", "value", [(("x",), "hi")], keyed=True),
             MapDump("t", "value", [((), (1, "a"))]),
             MapDump("v", "value", [((), 5)])]
    assert format_maps(dumps) == ("\n\n@[1, a]: 1\n@[2, b]: 2\n@a: 5\n\n@m: 3\n"
                                  "@s: count 2, average 3, total 7\n\n@str[x]: hi\n"
                                  "@t: (1, a)\n@v: 5\n")


def test_keyed_maps_sort_by_value_and_histograms_by_total():
    # @c[3]=1 @c[1]=2 @c[2]=3 @c[5]=1; @hk["x"]=hist(3); @hk["a"] twice hist(100)
    c = MapDump("c", "count", [((3,), 1), ((1,), 2), ((2,), 3), ((5,), 1)], keyed=True)
    assert format_map(c) == "@c[3]: 1\n@c[5]: 1\n@c[1]: 2\n@c[2]: 3\n"
    hk = MapDump("hk", "hist", [(("a",), hist_of(100, 100)), (("x",), hist_of(3))],
                 keyed=True)
    assert format_map(hk) == (f"@hk[x]: \n[2, 4)                 1 |{BAR}|\n\n"
                              f"@hk[a]: \n[64, 128)              2 |{BAR}|\n\n")
    st = MapDump("st", "stats", [((0,), (1, 10)), ((1,), (1, 2))], keyed=True)
    assert format_map(st) == ("@st[1]: count 1, average 2, total 2\n"
                              "@st[0]: count 1, average 10, total 10\n\n")


def test_an_empty_map_prints_a_blank_line():
    assert format_map(MapDump("b", "hist", [])) == "\n"


def test_print_top_and_div():
    m = MapDump("", "value", [((i,), i) for i in range(1, 11)], keyed=True)
    assert format_map(m, top=2) == "@[9]: 9\n@[10]: 10\n"
    assert format_map(m, top=2, div=2) == "@[9]: 4\n@[10]: 5\n"


def test_printf_uses_c_integer_widths():
    # bpftrace printed: 705032704 4294967295 ffffffff 18446744073709551615 1    ab|cd   |B
    got = format_printf("%d %u %x %lu %hhx %5s|%-5s|%c %llx %08x %ld\n",
                        [5000000000, -1, -1, -1, 257, "ab", "cd", 66, -1, 255, -1])
    assert got == ("705032704 4294967295 ffffffff 18446744073709551615 1    ab|cd   |B "
                   "ffffffffffffffff 000000ff -1\n")
    assert format_printf("%d%% %s\n", [-3, b"bash\0junk"]) == "-3% bash\n"
    assert format_printf("%r|%rx|%rh", [b"a\x00", b"a", b"\x0a\xfe"]) == \
        "a\\x00|\\x61|0a fe"


def test_json_matches_bpftrace():
    # bpftrace -f json -e 'BEGIN { @[1,"a"] = count(); @h = hist(5); @h2 = lhist(5,0,10,1);
    #   @s=stats(3); @a=avg(4); @c["x"]=count(); exit(); }'
    assert json_map(MapDump("", "count", [((1, "a"), 1)], keyed=True)) == \
        '{"type": "map", "data": {"@": {"1,a": 1}}}\n'
    assert json_map(MapDump("a", "avg", [((), (1, 4))])) == \
        '{"type": "stats", "data": {"@a": 4}}\n'
    assert json_map(MapDump("h", "hist", [((), hist_of(5))])) == \
        '{"type": "hist", "data": {"@h": [{"min": 4, "max": 7, "count": 1}]}}\n'
    assert json_map(MapDump("h2", "lhist", [((), lhist_of(0, 10, 1, 5))], (0, 10, 1))) == \
        '{"type": "hist", "data": {"@h2": [{"min": 5, "max": 5, "count": 1}]}}\n'
    assert json_map(MapDump("s", "stats", [((), (1, 3))])) == \
        '{"type": "stats", "data": {"@s": {"count": 1, "average": 3, "total": 3}}}\n'
    assert json_map(MapDump("t", "value", [((), (1, "x"))])) == \
        '{"type": "map", "data": {"@t": [1,"x"]}}\n'
    # @l=lhist(-1,0,10,5); @l=lhist(30,0,10,5)
    assert json_map(MapDump("l", "lhist", [((), lhist_of(0, 10, 5, -1, 30))], (0, 10, 5))) == (
        '{"type": "hist", "data": {"@l": [{"max": -1, "count": 1}, {"min": 0, "max": 4, '
        '"count": 0}, {"min": 5, "max": 9, "count": 0}, {"min": 10, "count": 1}]}}\n')


def test_user_symbols_print_as_bpftrace_prints_them():
    import ctypes
    import io
    import os

    from pybpf.trace import types as T
    from pybpf.trace.layout import Plan
    from pybpf.trace.runtime import Compiled, Printer

    printer = Printer(Compiled(Plan(None, [], [], [])), {}, io.StringIO())
    libc = ctypes.CDLL("libc.so.6")
    malloc = ctypes.cast(libc.malloc, ctypes.c_void_p).value
    assert printer.present(T.Symbol(True), (malloc, os.getpid())) == "malloc"
    assert printer.user_symbol(os.getpid(), malloc + 5) == "malloc+5"
    assert printer.present(T.Symbol(True), (8, os.getpid())) == "0x8"   # unnamed: hex
    assert format_printf("%s|", [Stack(["a+1", "b+2"])]) == "\n        a+1\n        b+2\n|"


def test_kernel_frames_print_their_offset_even_when_zero(monkeypatch):
    from types import SimpleNamespace

    from pybpf.kernel import kallsyms
    from pybpf.trace.runtime import KernelSymbols

    table = [SimpleNamespace(address=0xFFFF0000, name="do_one"),
             SimpleNamespace(address=0xFFFF0100, name="do_two")]
    monkeypatch.setattr(kallsyms, "symbols", lambda: table)
    syms = KernelSymbols()
    assert syms.lookup(0xFFFF0000) == "do_one+0"          # as bpftrace prints kstack
    assert syms.lookup(0xFFFF0104) == "do_two+4"
    assert syms.lookup(0xFFFF0104, offset=False) == "do_two"      # ksym()
    assert syms.lookup(0x10) == "0x10"
