"""The pcap filter compiler against libpcap, through tcpdump: for each
expression, the frames of a capture our program accepts are the frames
``tcpdump -r`` prints, our program is no longer than ``tcpdump -d``'s, and
what tcpdump refuses we refuse.  The capture (tests/cbpf/filter_frames.py)
holds Ethernet, VLAN/QinQ, MPLS, IPv4 with options and fragments, IPv6 with
extension headers, ARP/RARP, TCP, UDP, ICMP, ICMPv6, SCTP, LLC and
truncated frames, and the same traffic as raw IP and Linux cooked frames."""

from __future__ import annotations

import filter_expressions as X
import filter_frames as F
import pytest
import tcpdump_oracle as T

from pybpf.cbpf.interp import Machine
from pybpf.cbpf.pcap_compile import compile_filter
from pybpf.cbpf.pcap_errors import FilterExpressionError

pytestmark = pytest.mark.skipif(not T.available(),
                                reason="tcpdump is not installed (apt-get install tcpdump)")


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """The test captures, written from the frame builder: linktype -> (path, frames)."""
    root = tmp_path_factory.mktemp("captures")
    out = {}
    for linktype, number in F.LINKTYPES.items():
        frames = [f for _, f in F.link_frames(linktype)]
        path = root / f"filters-{linktype}.pcap"
        path.write_bytes(F.pcap_bytes(frames, number))
        out[linktype] = (path, frames)
    out["fuzz"] = (root / "fuzz.pcap", F.fuzz_frames())
    out["fuzz"][0].write_bytes(F.pcap_bytes(out["fuzz"][1], F.LINKTYPES["en10mb"]))
    return out


def our_matches(program, frames) -> tuple[int, ...]:
    """The frames ``program`` accepts, through the cBPF interpreter."""
    machine = Machine(program, check_program=False)  # protochain loops backwards
    return tuple(i for i, frame in enumerate(frames) if machine.run(frame).value)


STRONGER_THAN_LIBPCAP = {
    # libpcap's optimizer keeps "ip[9] == 6 -> ip[9] == 17" on the path it
    # merges from ip and ip6, so its program (which accepts nothing) stands;
    # ours sees that nothing is accepted and refuses the expression.
    "tcp and ip[9] = 17",
}


def compare(captures, linktype: str, expression: str, capture: str | None = None) -> None:
    path, frames = captures[capture or linktype]
    expected = T.verdict(path, expression)
    if expression in STRONGER_THAN_LIBPCAP:
        assert expected.refused is None and not expected.matches
        with pytest.raises(FilterExpressionError, match="rejects all packets"):
            compile_filter(expression, linktype)
        return
    if expected.refused is not None:
        with pytest.raises(FilterExpressionError):
            compile_filter(expression, linktype)
        return
    program = compile_filter(expression, linktype)
    assert our_matches(program, frames) == expected.matches, expression
    assert len(program) <= expected.length, \
        f"{expression}: {len(program)} instructions, libpcap {expected.length}"


@pytest.mark.parametrize("expression", X.EXPRESSIONS)
def test_matches_tcpdump(captures, expression):
    compare(captures, "en10mb", expression)


@pytest.mark.parametrize("expression", X.REFUSED)
def test_refuses_what_tcpdump_refuses(captures, expression):
    path, _ = captures["en10mb"]
    assert T.verdict(path, expression).refused is not None, f"tcpdump accepts {expression!r}"
    with pytest.raises(FilterExpressionError) as caught:
        compile_filter(expression)
    assert str(caught.value)


@pytest.mark.slow
@pytest.mark.parametrize("expression", X.MORE_EXPRESSIONS)
def test_more_matches_tcpdump(captures, expression):
    compare(captures, "en10mb", expression)


@pytest.mark.parametrize("linktype", ["raw", "sll"])
@pytest.mark.parametrize("expression", X.LINK_DEFAULT)
def test_other_link_types_by_default(captures, linktype, expression):
    compare(captures, linktype, expression)


@pytest.mark.slow
@pytest.mark.parametrize("linktype", ["raw", "sll"])
@pytest.mark.parametrize("expression", X.LINK_EXPRESSIONS)
def test_other_link_types_match_tcpdump(captures, linktype, expression):
    compare(captures, linktype, expression)


@pytest.mark.slow
@pytest.mark.parametrize("expression", X.EXPRESSIONS)
def test_damaged_frames_match_tcpdump(captures, expression):
    compare(captures, "en10mb", expression, "fuzz")


def random_expressions(seed: int, count: int) -> list[str]:
    """``count`` random and/or/not combinations of the single primitives of
    the expression list (negative slice offsets left out: libpcap's
    userspace filter and the kernel disagree on them)."""
    import random

    rng = random.Random(seed)
    atoms = [e for e in X.EXPRESSIONS
             if " and " not in e and " or " not in e and "[-" not in e]

    def one(depth: int = 0) -> str:
        if depth > 2 or rng.random() < 0.4:
            atom = rng.choice(atoms)
            return f"not {atom}" if rng.random() < 0.2 else atom
        return f"({one(depth + 1)}){rng.choice([' and ', ' or '])}({one(depth + 1)})"
    return [one() for _ in range(count)]


WHOLE = [i for i, (name, _) in enumerate(F.build_frames())
         if not name.startswith("trunc-") and not name.endswith("-short")
         and name != "ipv4-short-hdr"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_combinations_match_tcpdump(captures, seed):
    """On whole frames the matches agree; programs are never longer;
    what tcpdump refuses we refuse.  (On truncated frames libpcap's
    optimizer keeps or drops a load that refuses a short packet by rules
    of its own; and our stronger analysis may find that a combination
    accepts nothing where libpcap's program, accepting nothing too,
    stands.)"""
    path, frames = captures["en10mb"]
    stronger = 0
    for expression in random_expressions(seed, 60):
        expected = T.verdict(path, expression)
        try:
            program = compile_filter(expression)
        except FilterExpressionError as e:
            assert expected.refused is not None or (
                "rejects all" in str(e) and not expected.matches), expression
            stronger += expected.refused is None
            continue
        assert expected.refused is None, f"{expression}: tcpdump refuses: {expected.refused}"
        assert len(program) <= expected.length, expression
        ours = set(our_matches(program, frames))
        assert ours & set(WHOLE) == set(expected.matches) & set(WHOLE), expression
    assert stronger <= 6


@pytest.mark.parametrize("digits", ["9" * 5000, "0x" + "f" * 5000, "0" + "7" * 5000])
def test_thousands_of_digits_are_refused_as_an_overflow_in_a_short_message(digits):
    with pytest.raises(FilterExpressionError, match="overflows 32 bits") as caught:
        compile_filter(f"port {digits}")
    assert len(str(caught.value)) < 200
