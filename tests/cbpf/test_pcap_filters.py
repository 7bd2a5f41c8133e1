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


@pytest.mark.slow
@pytest.mark.parametrize("linktype", ["raw", "sll"])
@pytest.mark.parametrize("expression", X.LINK_EXPRESSIONS)
def test_other_link_types_match_tcpdump(captures, linktype, expression):
    compare(captures, linktype, expression)


@pytest.mark.slow
@pytest.mark.parametrize("expression", X.EXPRESSIONS)
def test_damaged_frames_match_tcpdump(captures, expression):
    compare(captures, "en10mb", expression, "fuzz")
