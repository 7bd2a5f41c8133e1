"""XDP and tc programs on a veth pair whose far end lives in a network
namespace made for the test: BPF links where the kernel has them, rtnetlink
(cls_bpf on clsact, IFLA_XDP) otherwise, and nothing left behind."""

from __future__ import annotations

import errno
import shutil
import socket
import subprocess
import sys
import uuid

import pytest

from pybpf import kernel
from pybpf.errors import BPFError, KernelError
from pybpf.kernel import attach, netlink
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec

pytestmark = pytest.mark.kernel

COUNT = """
    r1 = map[idx:0] ll
    r2 = 0
    *(u32 *)(r10 - 4) = r2
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
    r1 = 1
    lock *(u64 *)(r0 + 0) += r1
out:
    r0 = {ret}
    exit
"""



def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth():
    """``(host interface, namespace)``: a veth pair, 10.199.x.1 here and .2
    in a fresh namespace."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 'ip' is not installed")
    tag = uuid.uuid4().hex[:6]
    ns, host, peer = f"pybpf-{tag}", f"pyb{tag}a", f"pyb{tag}b"
    subnet = f"10.199.{int(tag[:2], 16)}"
    try:
        _ip("netns", "add", ns)
    except subprocess.CalledProcessError as e:
        pytest.skip(f"cannot create a network namespace: {e.stderr.decode().strip()}")
    try:
        _ip("link", "add", host, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", ns)
        _ip("addr", "add", f"{subnet}.1/24", "dev", host)
        _ip("link", "set", host, "up")
        _ip("netns", "exec", ns, "ip", "addr", "add", f"{subnet}.2/24", "dev", peer)
        _ip("netns", "exec", ns, "ip", "link", "set", peer, "up")
        yield host, ns, subnet
    finally:
        subprocess.run(["ip", "link", "del", host], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def send_from_namespace(ns: str, address: str, n: int = 5, port: int = 9) -> None:
    code = ("import socket, time\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"for _ in range({n}):\n"
            f"    s.sendto(b'x', ({address!r}, {port}))\n"
            "    time.sleep(0.005)\n")
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code], check=True,
                   timeout=30)


def spec_for(section: str, prog_type: str, ret: int, attach_type: str | None = None):
    prog = ProgramSpec.from_assembly("count", COUNT.format(ret=ret), type=prog_type,
                                     section=section, attach_type=attach_type)
    return ObjectSpec.build([prog], [MapSpec("counts", "array", 4, 8, 1)])


def count(coll) -> int:
    return int.from_bytes(bytes(coll.maps["counts"][0]), "little")


@pytest.mark.parametrize("mode,use_link", [(None, None), ("generic", None),
                                           ("generic", False)])
def test_xdp_counts_packets_and_detaches(veth, mode, use_link):
    host, ns, subnet = veth
    with kernel.load(spec_for("xdp", "xdp", 2, "xdp")) as coll:  # XDP_PASS
        prog = coll.programs["count"]
        att = attach.xdp(prog, host, mode=mode, use_link=use_link)
        state = netlink.xdp_query(host)
        assert state["prog_id"] == prog.info().id
        if mode == "generic":
            assert state["skb_prog_id"] == prog.info().id
        if use_link is False:
            assert isinstance(att, attach.XdpNetlinkAttachment)
        else:
            assert isinstance(att, kernel.KernelLink)
        send_from_namespace(ns, f"{subnet}.1")
        assert count(coll) >= 5
        att.close()
        assert netlink.xdp_query(host)["prog_id"] == 0


def test_xdp_from_section_needs_an_interface(veth):
    host, _ns, _subnet = veth
    with kernel.load(spec_for("xdp", "xdp", 2, "xdp")) as coll:
        with pytest.raises(BPFError, match="which interface"):
            coll.programs["count"].attach()
        with pytest.raises(BPFError, match="unknown XDP mode"):
            coll.programs["count"].attach(interface=host, mode="turbo")
        link = coll.programs["count"].attach(interface=host)
        with pytest.raises(KernelError, match="another XDP program"):
            attach.xdp(coll.programs["count"], host)
        link.close()


def test_xdp_drop_stops_traffic(veth):
    host, ns, subnet = veth
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind((f"{subnet}.1", 0))
        port = rx.getsockname()[1]
        rx.settimeout(0.3)
        with kernel.load(spec_for("xdp", "xdp", 1, "xdp")) as coll:  # XDP_DROP
            coll.programs["count"].attach(interface=host)
            send_from_namespace(ns, f"{subnet}.1", 3, port)
            with pytest.raises(TimeoutError):
                rx.recv(100)
            assert count(coll) >= 1  # whatever came (ARP first) was dropped
        rx.settimeout(5)
        send_from_namespace(ns, f"{subnet}.1", 1, port)  # detached: it gets through
        assert rx.recv(100) == b"x"


@pytest.mark.parametrize("use_tcx", [None, False])
def test_tc_ingress_counts_and_cleans_up(veth, use_tcx):
    host, ns, subnet = veth
    with kernel.load(spec_for("tc/ingress", "sched_cls", 0, "tcx_ingress")) as coll:
        prog = coll.programs["count"]
        att = attach.tc(prog, host, "ingress", use_tcx=use_tcx)
        if use_tcx is False:
            filters = netlink.bpf_filters(host, "ingress")
            assert [(f["prog_id"], f["direct_action"]) for f in filters] == [
                (prog.info().id, True)]
        else:
            assert att.info().type == "tcx"
        send_from_namespace(ns, f"{subnet}.1")
        assert count(coll) >= 5
        att.close()
    if use_tcx is False:
        assert netlink.bpf_filters(host, "ingress") == []
        qdiscs = subprocess.run(["tc", "qdisc", "show", "dev", host], capture_output=True,
                                text=True).stdout if shutil.which("tc") else ""
        assert "clsact" not in qdiscs


def test_tc_classifier_section_with_priority_uses_cls_bpf(veth):
    host, ns, subnet = veth
    with kernel.load(spec_for("classifier", "sched_cls", 0)) as coll:
        att = coll.programs["count"].attach(interface=host, priority=7)
        assert isinstance(att, attach.TcNetlinkAttachment)
        (f,) = netlink.bpf_filters(host, "ingress")
        assert f["priority"] == 7 and f["name"] == "count"
        with pytest.raises(KernelError, match="File exists"):
            netlink.bpf_filter_add(host, "ingress", coll.programs["count"].fd, priority=7)
        send_from_namespace(ns, f"{subnet}.1", 2)
        assert count(coll) >= 2
    assert netlink.bpf_filters(host, "ingress") == []


def test_netlink_errors_carry_the_kernel_message(veth):
    host, _, _ = veth
    with pytest.raises(KernelError) as e:
        netlink.bpf_filter_add(host, "ingress", 0)  # fd 0 is not a program; no clsact yet
    assert e.value.errno == errno.EINVAL
    assert "Qdisc" in str(e.value)  # the kernel's extended ack: no ingress qdisc
    with pytest.raises(KernelError, match="no network interface"):
        netlink.ifindex("pybpf-no-such-if")
