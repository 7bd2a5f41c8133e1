"""Attaching programs to this kernel's hooks: tracepoints counting real
events, raw and BTF tracepoints, uprobes and USDT probes on binaries built
here, perf_event sampling, task iterators, cgroup programs, socket filters,
sockmaps, netfilter and struct_ops — and the clear errors for the hooks this
kernel refuses (kprobes, fentry/fexit, LSM)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from pybpf import kernel
from pybpf.errors import AttachError, BPFError, KernelError
from pybpf.kernel import attach, features, info
from pybpf.objects import MapSpec, ObjectSpec, ProgramSpec

pytestmark = pytest.mark.kernel



# A program that adds 1 to element 0 of its first map (an 8-byte array) and
# returns RET.
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


def counter_spec(section: str, prog_type: str, *, attach_type: str | None = None,
                 attach_to: str | None = None, ret: int = 0, text: str = COUNT) -> ObjectSpec:
    """One counting program with section ``section`` and its counter map."""
    prog = ProgramSpec.from_assembly("count", text.format(ret=ret), type=prog_type,
                                     section=section, attach_type=attach_type,
                                     attach_to=attach_to)
    return ObjectSpec.build([prog], [MapSpec("counts", "array", 4, 8, 1)])


def load_or_skip(spec: ObjectSpec):
    """Load ``spec``, or skip the test where this kernel lacks one of its
    program or map types (the feature probe's reason in the skip message).
    The probes load a minimal known-good program, so any other refusal is
    the kernel rejecting what pybpf emitted: that fails the test."""
    for prog in spec.programs.values():
        probe = features.probe_prog_type(prog.type)
        if probe.supported is False:
            pytest.skip(f"this kernel cannot load {prog.type} programs: {probe.reason}")
    for m in spec.maps.values():
        probe = features.probe_map_type(m.type)
        if probe.supported is False:
            pytest.skip(f"this kernel cannot create {m.type} maps: {probe.reason}")
    return kernel.load(spec)


def count(coll) -> int:
    return int.from_bytes(bytes(coll.maps["counts"][0]), "little")


def wait_for(predicate, timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# --- tracepoints -----------------------------------------------------------------------

def test_tracepoint_counts_getpid_calls():
    spec = counter_spec("tracepoint/syscalls/sys_enter_getpid", "tracepoint",
                        attach_to="syscalls/sys_enter_getpid")
    with kernel.load(spec) as coll:
        link = coll.programs["count"].attach()
        assert isinstance(link, attach.Attachment)
        assert "syscalls/sys_enter_getpid" in link.target
        if link.link is not None:  # a BPF link over the perf event (Linux 5.15+)
            assert link.info().type == "perf_event"
            assert link.id in {lk.id for lk in info.links()}
        before = count(coll)
        for _ in range(50):
            os.getpid()
        assert count(coll) - before >= 50
        link.detach()
        after = count(coll)
        for _ in range(20):
            os.getpid()
        assert count(coll) == after  # detached: no more counting


def test_tracepoint_sees_process_exits():
    spec = counter_spec("tracepoint/sched/sched_process_exit", "tracepoint",
                        attach_to="sched/sched_process_exit")
    with kernel.load(spec) as coll:
        coll.programs["count"].attach()
        for _ in range(3):
            subprocess.run(["true"], check=True)
        assert wait_for(lambda: count(coll) >= 3)


def test_tracepoint_target_override_and_bad_name():
    spec = counter_spec("tracepoint", "tracepoint")
    with kernel.load(spec) as coll:
        prog = coll.programs["count"]
        with pytest.raises(AttachError, match="which tracepoint"):
            prog.attach()
        with pytest.raises(KernelError, match="no tracepoint nosuch/event"):
            prog.attach(target="nosuch/event")
        with pytest.raises(AttachError, match="category/event"):
            prog.attach(target="justone")
        with prog.attach(target="syscalls/sys_enter_getppid"):
            os.getppid()
            assert count(coll) >= 1


def test_attach_rejects_options_that_do_not_apply():
    spec = counter_spec("tracepoint/syscalls/sys_enter_getpid", "tracepoint",
                        attach_to="syscalls/sys_enter_getpid")
    with kernel.load(spec) as coll, pytest.raises(AttachError, match="interface"):
        coll.programs["count"].attach(interface="lo")


def test_raw_tracepoint_counts():
    spec = counter_spec("raw_tp/sys_enter", "raw_tracepoint", attach_to="sys_enter")
    with kernel.load(spec) as coll:
        link = coll.programs["count"].attach()
        assert isinstance(link, kernel.KernelLink)
        assert link.info().type == "raw_tracepoint"
        assert link.info().details["tp_name"] == "sys_enter"
        os.getpid()
        assert count(coll) >= 1


def test_tp_btf_counts_sched_switches():
    spec = counter_spec("tp_btf/sched_switch", "tracing", attach_type="trace_raw_tp",
                        attach_to="sched_switch")
    with load_or_skip(spec) as coll:
        link = coll.programs["count"].attach()
        assert link.info().type in ("tracing", "raw_tracepoint")
        time.sleep(0.05)
        assert wait_for(lambda: count(coll) > 0)


# --- what this kernel refuses ----------------------------------------------------------------

def test_kprobe_error_names_the_cause():
    reason = attach.no_kprobes_reason()
    if reason is None:
        pytest.skip("this kernel has kprobes")
    spec = counter_spec("kprobe/do_sys_openat2", "kprobe", attach_to="do_sys_openat2")
    with kernel.load(spec) as coll:
        with pytest.raises(KernelError) as e:
            coll.programs["count"].attach()
        assert "this kernel has no kprobe support (CONFIG_KPROBES is off)" in str(e.value)
        assert "/sys/bus/event_source/devices/kprobe is missing" in str(e.value)
        with pytest.raises(KernelError, match="CONFIG_KPROBES is off"):
            attach.kprobe(coll.programs["count"], "do_sys_openat2", retprobe=True)
        with pytest.raises(KernelError, match="CONFIG_KPROBES is off"):
            attach.kprobe_multi(coll.programs["count"], ["do_sys_openat2"])


def test_ksyscall_names_the_arch_function():
    name = attach.syscall_function("openat")
    assert name.endswith("sys_openat")
    if os.uname().machine == "x86_64":
        assert name == "__x64_sys_openat"


@pytest.mark.parametrize("section,attach_type,target", [
    ("fentry/do_unlinkat", "trace_fentry", "do_unlinkat"),
    ("fexit/do_unlinkat", "trace_fexit", "do_unlinkat"),
    ("lsm/file_open", "lsm_mac", "file_open"),
])
def test_trampoline_refusal_is_explained(section, attach_type, target):
    prog_type = "lsm" if section.startswith("lsm") else "tracing"
    spec = counter_spec(section, prog_type, attach_type=attach_type, attach_to=target)
    try:
        coll = kernel.load(spec)
    except KernelError as e:
        assert e.errno == errno.EPERM
        assert "refuses BPF trampoline programs" in str(e)
        assert "(EPERM)" in str(e)
        return
    with coll:  # a kernel that allows them: the attachment works
        link = coll.programs["count"].attach()
        assert link.info().type == "tracing"


# --- uprobes and USDT ------------------------------------------------------------------------

TARGET_C = r"""
#include <stdio.h>
#include <stdlib.h>
__attribute__((noinline)) int pybpf_add(int a, int b) { return a + b; }
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 5, s = 0;
    for (int i = 0; i < n; i++) s = pybpf_add(s, i);
    printf("%d\n", s);
    return 0;
}
"""


@pytest.fixture(scope="module")
def target_binary(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler for the uprobe target")
    d = tmp_path_factory.mktemp("uprobe")
    (d / "target.c").write_text(TARGET_C)
    subprocess.run([cc, "-O1", "-o", str(d / "target"), str(d / "target.c")], check=True)
    return str(d / "target")


def test_symbols_give_file_offsets(target_binary):
    from pybpf.kernel.symbols import ElfBinary, find_binary

    with ElfBinary(target_binary) as elf:
        sym = elf.symbol("pybpf_add")
        assert elf.is_shared or elf.type == 2
        off = elf.file_offset_of("pybpf_add")
        seg = next(s for s in elf.segments if s.vaddr <= sym.value < s.vaddr + s.memsz
                   and s.type == 1)
        assert off == sym.value - seg.vaddr + seg.offset
        with pytest.raises(BPFError, match="no symbol"):
            elf.symbol("no_such_function")
    libc = find_binary("c")
    assert "libc" in os.path.basename(libc)
    with ElfBinary(libc) as elf:
        assert elf.is_shared
        assert elf.file_offset_of("malloc") > 0  # from .dynsym


def test_uprobe_counts_calls(target_binary):
    spec = counter_spec(f"uprobe/{target_binary}:pybpf_add", "kprobe",
                        attach_to=f"{target_binary}:pybpf_add")
    with kernel.load(spec) as coll:
        link = coll.programs["count"].attach()
        assert "pybpf_add" in link.target
        subprocess.run([target_binary, "7"], check=True, capture_output=True)
        assert count(coll) == 7


def test_uretprobe_and_pid_filter(target_binary):
    spec = counter_spec("uretprobe", "kprobe")
    with kernel.load(spec) as coll:
        prog = coll.programs["count"]
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        try:
            # a probe limited to another process never fires for our runs
            with attach_uprobe(prog, target_binary, pid=proc.pid):
                subprocess.run([target_binary, "4"], check=True, capture_output=True)
                assert count(coll) == 0
        finally:
            proc.kill()
            proc.wait()
        with prog.attach(target=f"{target_binary}:pybpf_add"):
            subprocess.run([target_binary, "3"], check=True, capture_output=True)
        assert count(coll) == 3


def attach_uprobe(prog, binary, pid):
    from pybpf.kernel.attach import uprobe

    return uprobe(prog, binary, "pybpf_add", retprobe=True, pid=pid)


def test_uprobe_multi(target_binary):
    spec = counter_spec("uprobe.multi", "kprobe", attach_type="trace_uprobe_multi")
    with kernel.load(spec) as coll:
        from pybpf.kernel.attach import uprobe_multi

        try:
            link = uprobe_multi(coll.programs["count"], target_binary, "pybpf_*")
        except KernelError as e:
            pytest.skip(f"no uprobe_multi links here: {e}")
        with link:
            subprocess.run([target_binary, "5"], check=True, capture_output=True)
            assert count(coll) == 5


def test_uprobe_target_parsing():
    from pybpf.kernel.attach import parse_target

    assert parse_target("/bin/bash:readline") == ("/bin/bash", "readline", 0)
    assert parse_target("/bin/bash:readline+0x10") == ("/bin/bash", "readline", 16)
    assert parse_target("libc.so.6:0x1234") == ("libc.so.6", None, 0x1234)
    with pytest.raises(BPFError):
        parse_target("nocolon")


USDT_C = r"""
#include <stdio.h>
#include <stdlib.h>
/* a USDT probe laid out as sys/sdt.h does: a nop, a .note.stapsdt note,
   a semaphore in .probes and the .stapsdt.base anchor */
unsigned short pybpftest_tick_semaphore __attribute__((section(".probes"), used));
#define TICK(a1, a2) \
    __asm__ __volatile__ ("990: nop\n" \
        ".pushsection .note.stapsdt,\"?\",\"note\"\n" \
        ".balign 4\n" \
        ".4byte 992f-991f, 994f-993f, 3\n" \
        "991: .asciz \"stapsdt\"\n" \
        "992: .balign 4\n" \
        "993: .8byte 990b\n" \
        ".8byte _.stapsdt.base\n" \
        ".8byte pybpftest_tick_semaphore\n" \
        ".asciz \"pybpftest\"\n" \
        ".asciz \"tick\"\n" \
        ".asciz \"-4@%0 8@%1\"\n" \
        "994: .balign 4\n" \
        ".popsection\n" \
        ".ifndef _.stapsdt.base\n" \
        ".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
        ".weak _.stapsdt.base\n" \
        ".hidden _.stapsdt.base\n" \
        "_.stapsdt.base: .space 1\n" \
        ".size _.stapsdt.base, 1\n" \
        ".popsection\n" \
        ".endif\n" \
        :: "nor"(a1), "nor"(a2))

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 3;
    if (argc > 2) {            /* "wait": let the test attach first */
        printf("ready\n");
        fflush(stdout);
        getchar();
    }
    for (int i = 0; i < n; i++) {
        long big = 1000L * i;
        if (pybpftest_tick_semaphore)
            TICK(-i, big);
    }
    printf("%d\n", pybpftest_tick_semaphore);
    return 0;
}
"""

USDT_BPF_C = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "pybpf_usdt.bpf.h"
struct tick { long a; long b; unsigned long long cookie; int cnt; int pad; };
const struct tick *unused_tick __attribute__((unused));
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } out SEC(".maps");
SEC("usdt")
int on_tick(struct pt_regs *ctx)
{
    struct tick *t = bpf_ringbuf_reserve(&out, sizeof(*t), 0);
    if (!t)
        return 0;
    pybpf_usdt_arg(ctx, 0, &t->a);
    pybpf_usdt_arg(ctx, 1, &t->b);
    t->cookie = pybpf_usdt_cookie(ctx);
    t->cnt = pybpf_usdt_arg_cnt(ctx);
    t->pad = 0;
    bpf_ringbuf_submit(t, 0);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def usdt_binary(tmp_path_factory):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None or os.uname().machine != "x86_64":
        pytest.skip("the USDT test binary is written for x86-64 with gcc")
    d = tmp_path_factory.mktemp("usdt")
    (d / "app.c").write_text(USDT_C)
    subprocess.run([cc, "-O2", "-o", str(d / "app"), str(d / "app.c")], check=True)
    return str(d / "app")


def test_usdt_notes_and_argument_specs(usdt_binary):
    from pybpf.kernel import usdt

    (probe,) = usdt.probes(usdt_binary)
    assert (probe.provider, probe.name) == ("pybpftest", "tick")
    assert probe.semaphore and probe.semaphore_offset
    assert [(a.size, a.signed, a.kind) for a in probe.args] == [(4, True, usdt.ARG_REG),
                                                               (8, False, usdt.ARG_REG)]
    assert usdt.parse_arg("8@-8(%rbp)", "x86_64")[:3] == (8, False, usdt.ARG_DEREF)
    assert usdt.parse_arg("8@-8(%rbp)", "x86_64").offset == -8
    assert usdt.parse_arg("-4@$5", "x86_64").value == 5
    assert usdt.parse_arg("-2@%ax", "x86_64").register == "ax"
    with pytest.raises(BPFError, match="not supported"):
        usdt.parse_arg("8@(%rax,%rdx,8)", "x86_64")
    with pytest.raises(BPFError, match="no USDT probe"):
        usdt.find(usdt_binary, "pybpftest", "nosuch")


def test_usdt_attach_reads_arguments_and_raises_semaphore(usdt_binary, tmp_path):
    from pybpf.elf import load_object
    from pybpf.toolchain import CompilerNotFound, compile

    src = tmp_path / "probe.bpf.c"
    src.write_text(USDT_BPF_C)
    import pybpf.tools

    include = os.path.join(os.path.dirname(pybpf.tools.__file__), "include")
    try:
        obj = compile(src, tmp_path / "probe.bpf.o", include_dirs=[include])
    except CompilerNotFound as e:
        pytest.skip(str(e))
    spec = load_object(obj)
    with kernel.load(spec) as coll:
        rb = coll.ringbuf("out")
        # without the probe attached the program's semaphore stays 0
        assert subprocess.run([usdt_binary, "2"], capture_output=True,
                              text=True).stdout.strip() == "0"
        group = coll.programs["on_tick"].attach(target=f"{usdt_binary}:pybpftest:tick",
                                                cookie=77)
        assert len(group) == 1
        out = subprocess.run([usdt_binary, "3"], capture_output=True, text=True).stdout
        assert out.strip() == "1"  # the kernel raised the semaphore
        events = rb.read(1.0)
        assert [(e.a, e.b, e.cookie, e.cnt) for e in events] == [
            (0, 0, 77, 2), (-1, 1000, 77, 2), (-2, 2000, 77, 2)]


# --- perf events, iterators ---------------------------------------------------------------

def test_perf_event_sampling_on_every_cpu():
    spec = counter_spec("perf_event", "perf_event")
    with load_or_skip(spec) as coll:
        group = coll.programs["count"].attach(frequency=1000)
        assert len(group) == len(kernel.perf.online_cpus())
        end = time.monotonic() + 0.3
        while time.monotonic() < end:  # keep a CPU busy so cpu-clock samples it
            sum(range(1000))
        assert count(coll) > 10
        group.close()
        assert all(p.closed for p in group.parts)


TASK_ITER = """
    r6 = r1
    r7 = *(u64 *)(r6 + 8)
    if r7 == 0 goto out
    r1 = *(u64 *)(r6 + 0)
    r1 = *(u64 *)(r1 + 0)
    r8 = *(u32 *)(r7 + {pid_off})
    *(u64 *)(r10 - 8) = r8
    r2 = map[idx:0][0]+0 ll
    r3 = 4
    r4 = r10
    r4 += -8
    r5 = 8
    call 126
out:
    r0 = 0
    exit
"""


def test_task_iterator_writes_text():
    from pybpf.btf import BTF
    from pybpf.kernel._abi import constant

    vmlinux = BTF.load_vmlinux()
    task = next(t for t in vmlinux.find_all("task_struct") if hasattr(t, "members"))
    pid_off = next(m for m in task.members if m.name == "tgid").offset
    prog = ProgramSpec.from_assembly("dump_task", TASK_ITER.format(pid_off=pid_off),
                                     type="tracing", section="iter/task",
                                     attach_type="trace_iter", attach_to="task")
    fmt = MapSpec("fmt", "array", 4, 8, 1, flags=constant("BPF_F_RDONLY_PROG"),
                  contents=[(0, b"%d\n".ljust(8, b"\0"))], freeze=True)
    with load_or_skip(ObjectSpec.build([prog], [fmt])) as coll:
        link = coll.programs["dump_task"].attach()
        assert isinstance(link, attach.IterLink)
        text = link.read_text()
        pids = {int(x) for x in text.split()}
        assert os.getpid() in pids, sorted(pids)
        assert link.read_text().split()[:3] == text.split()[:3]  # each read runs it again


# --- cgroups, sockets ------------------------------------------------------------------------

@pytest.fixture
def test_cgroup():
    try:
        root = attach.cgroup_root()
    except KernelError as e:
        pytest.skip(str(e))
    path = os.path.join(root, f"pybpf-test-{uuid.uuid4().hex[:8]}")
    os.mkdir(path)
    yield path
    os.rmdir(path)


@pytest.mark.parametrize("use_link", [None, False])
def test_cgroup_skb_counts_packets_of_a_process_in_the_cgroup(test_cgroup, use_link):
    spec = counter_spec("cgroup_skb/egress", "cgroup_skb", attach_type="cgroup_inet_egress",
                        ret=1)
    with load_or_skip(spec) as coll:
        link = coll.programs["count"].attach(cgroup=test_cgroup, use_link=use_link)
        if use_link is False:
            assert isinstance(link, attach.ProgAttachment)
            _, ids = kernel.sys.prog_query(target_fd=int(link._target_fd),
                                           attach_type=link.attach_type)
            assert ids == [coll.programs["count"].info().id]
        else:
            assert link.info().type == "cgroup"
        code = textwrap.dedent(f"""
            import os, socket
            with open({os.path.join(test_cgroup, 'cgroup.procs')!r}, "w") as f:
                f.write(str(os.getpid()))
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(5):
                s.sendto(b"x", ("127.0.0.1", 9))
        """)
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
        assert count(coll) >= 5
        # our own packets are outside the cgroup
        before = count(coll)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"x", ("127.0.0.1", 9))
        assert count(coll) == before
        link.close()


def test_socket_filter_on_udp_pair():
    # keep the UDP header and the first byte of every packet
    spec = counter_spec("socket", "socket_filter", ret=9)
    with kernel.load(spec) as coll, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2)
        att = coll.programs["count"].attach(socket=rx)
        tx.sendto(b"hello", rx.getsockname())
        assert rx.recv(100) == b"h"
        assert count(coll) == 1
        att.close()
        tx.sendto(b"hello", rx.getsockname())
        assert rx.recv(100) == b"hello"  # detached: whole packets again


def test_sockmap_sk_msg_program_attaches():
    prog = ProgramSpec.from_assembly("verdict", "r0 = 1\nexit", type="sk_msg",
                                     section="sk_msg", attach_type="sk_msg_verdict")
    spec = ObjectSpec.build([prog], [MapSpec("socks", "sockmap", 4, 4, 4)])
    with load_or_skip(spec) as coll:
        prog = coll.programs["verdict"]
        with pytest.raises(AttachError, match="which sockmap"):
            prog.attach()
        for use_link in (None, False):
            att = prog.attach(map=coll.maps["socks"], use_link=use_link)
            assert att.target.startswith("sockmap")
            if use_link is False:
                assert isinstance(att, attach.ProgAttachment)
            att.close()
            assert att.closed


def test_netfilter_link():
    prog = ProgramSpec.from_assembly("accept", "r0 = 1\nexit", type="netfilter",
                                     section="netfilter", attach_type="netfilter")
    with load_or_skip(ObjectSpec.build([prog])) as coll:
        link = coll.programs["accept"].attach(hook="local_out", priority=-128)
        info = link.info()
        assert info.type == "netfilter"
        assert info.details["hooknum"] == 3  # NF_INET_LOCAL_OUT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"x", ("127.0.0.1", 9))  # accepted: no error
        with pytest.raises(BPFError, match="unknown netfilter hook"):
            attach.netfilter(coll.programs["accept"], hook="sideways")


def test_struct_ops_tcp_congestion_control_or_clear_refusal():
    from pybpf import assemble

    progs = {}
    try:
        for member, text in (("ssthresh", "r0 = 10\nexit"), ("undo_cwnd", "r0 = 10\nexit"),
                             ("cong_avoid", "r0 = 0\nexit")):
            progs[member] = attach.load_struct_ops_program(assemble(text),
                                                           "tcp_congestion_ops", member)
        name = f"pyb{uuid.uuid4().hex[:8]}"
        try:
            reg = attach.struct_ops("tcp_congestion_ops", progs, {"name": name})
        except KernelError as e:
            assert "struct_ops" in str(e)
            return
        with reg, open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
            assert name in f.read().split()
        with open("/proc/sys/net/ipv4/tcp_available_congestion_control") as f:
            assert name not in f.read().split()
    finally:
        for p in progs.values():
            p.close()


def test_usdt_semaphore_through_proc_mem(usdt_binary):
    spec = counter_spec("usdt", "kprobe")
    with kernel.load(spec) as coll:
        prog = coll.programs["count"]
        with pytest.raises(BPFError, match="needs the pid"):
            prog.attach(target=f"{usdt_binary}:pybpftest:tick", semaphore="mem")
        proc = subprocess.Popen([usdt_binary, "4", "wait"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "ready"
            group = prog.attach(target=f"{usdt_binary}:pybpftest:tick", pid=proc.pid,
                                semaphore="mem")
            holds = [p for p in group.parts if not isinstance(p, attach.PerfEventLink)]
            assert len(holds) == 1
            out, _ = proc.communicate("\n", timeout=10)
            assert out.strip() == "1"  # raised by writing /proc/PID/mem
            assert count(coll) == 4
            group.close()
        finally:
            proc.kill()
            proc.wait()


def test_sockops_attaches_to_a_cgroup(test_cgroup):
    prog = ProgramSpec.from_assembly("ops", "r0 = 1\nexit", type="sock_ops", section="sockops",
                                     attach_type="cgroup_sock_ops")
    with load_or_skip(ObjectSpec.build([prog])) as coll:
        link = coll.programs["ops"].attach(cgroup=test_cgroup)
        info = link.info()
        assert info.type == "cgroup"
        assert info.details["attach_type"] == kernel.programs.attach_type_id("cgroup_sock_ops")
