"""Choosing the hook from the section table (pybpf.spec.sections.HOOKS) and
what ``program.attach()`` says when it lacks something: no kernel needed,
every case here fails before a system call."""

from __future__ import annotations

import importlib
import inspect
from types import SimpleNamespace

import pytest

from pybpf.errors import AttachError, BPFError
from pybpf.kernel import attach
from pybpf.kernel.attach import FAMILIES, applicable_options, attach_program, family_module
from pybpf.spec.layout import enum_values
from pybpf.spec.sections import (
    ATTACH_TYPE_HOOKS,
    HOOKS,
    PROG_TYPE_HOOKS,
    SECTIONS,
    find_definition,
    hook_for,
    lookup,
)


def fake_program(section: str = "", type: str = "", name: str = "p",
                 expected_attach_type: str | None = None) -> SimpleNamespace:
    """What the dispatcher reads of a program; it has no fd, so anything
    that reaches the kernel fails loudly."""
    info = lookup(section) if section else None
    return SimpleNamespace(
        name=name, section=section, type=type or (info.prog_type if info else ""),
        expected_attach_type=expected_attach_type or (info.attach_type if info else None),
        attach_to=info.attach_to if info else None)


# --- the table -----------------------------------------------------------------------------

@pytest.mark.parametrize("definition", SECTIONS, ids=lambda d: d.pattern)
def test_every_section_convention_names_a_hook_whose_family_exists(definition):
    hook = HOOKS[definition.hook]
    if hook.family is None:
        assert hook.note, f"{hook.name}: a hook pybpf cannot attach says what to do instead"
        return
    assert hook.family in FAMILIES
    assert hook.name in family_module(hook.family).SECTION_HOOKS


def test_every_family_module_implements_only_hooks_of_the_table():
    for family in FAMILIES:
        for name in family_module(family).SECTION_HOOKS:
            assert HOOKS[name].family == family, name


def test_every_program_type_of_the_kernel_has_a_hook():
    types = {k.removeprefix("BPF_PROG_TYPE_").lower() for k in enum_values("bpf_prog_type")
             if not k.startswith("__")} - {"unspec"}
    assert types <= set(PROG_TYPE_HOOKS), sorted(types - set(PROG_TYPE_HOOKS))
    assert set(PROG_TYPE_HOOKS.values()) | set(ATTACH_TYPE_HOOKS.values()) <= set(HOOKS)


# The function each hook's options are passed to, as keywords.
HOOK_FUNCTIONS = {
    "tracepoint": "tracepoint", "raw_tracepoint": "raw_tracepoint", "tracing": "tracing",
    "iterator": "iterator", "kprobe": "kprobe", "ksyscall": "kprobe",
    "kprobe_multi": "kprobe_multi", "uprobe": "uprobe", "uprobe_multi": "uprobe_multi",
    "usdt": "usdt", "perf_event": "perf_event", "cgroup": "cgroup", "sockmap": "sockmap",
    "netns": "netns", "xdp": "xdp", "tc": "tc", "netfilter": "netfilter",
}


@pytest.mark.parametrize("hook", sorted(HOOK_FUNCTIONS))
def test_hook_options_are_keywords_of_the_attach_function(hook):
    params = inspect.signature(getattr(attach, HOOK_FUNCTIONS[hook])).parameters
    assert set(HOOKS[hook].options) <= set(params), HOOKS[hook].options


@pytest.mark.parametrize("section, prog_type, attach_type, target, hook", [
    ("tracepoint/sched/sched_process_exit", "tracepoint", None, None, "tracepoint"),
    ("kretprobe/do_exit", "kprobe", None, None, "kprobe"),
    ("ksyscall/openat", "kprobe", None, None, "ksyscall"),
    ("uprobe//bin/bash:readline", "kprobe", None, None, "uprobe"),
    ("usdt/./app:prov:probe", "kprobe", None, None, "usdt"),
    ("kprobe.multi/tcp_*", "kprobe", "trace_kprobe_multi", None, "kprobe_multi"),
    ("fentry/do_unlinkat", "tracing", "trace_fentry", None, "tracing"),
    ("lsm/file_open", "lsm", "lsm_mac", None, "tracing"),
    ("iter/task", "tracing", "trace_iter", None, "iterator"),
    ("tc/egress", "sched_cls", "tcx_egress", None, "tc"),
    ("xdp/devmap", "xdp", "xdp_devmap", None, "xdp_map"),
    ("cgroup/connect4", "cgroup_sock_addr", "cgroup_inet4_connect", None, "cgroup"),
    ("sockops", "sock_ops", "cgroup_sock_ops", None, "cgroup"),
    ("sk_msg", "sk_msg", "sk_msg_verdict", None, "sockmap"),
    ("sk_lookup", "sk_lookup", "sk_lookup", None, "netns"),
    # sections following no convention: the attach type, then the program type
    ("", "xdp", None, None, "xdp"),
    ("my_xdp_prog", "xdp", None, None, "xdp"),
    ("", "tracing", "trace_iter", None, "iterator"),
    ("", "kprobe", None, "do_exit", "kprobe"),
    ("", "kprobe", None, "/bin/bash:readline", "uprobe"),
    ("", "syscall", None, None, "syscall"),
])
def test_hook_for_section_and_program_type(section, prog_type, attach_type, target, hook):
    assert hook_for(section, prog_type, attach_type, target).name == hook


# --- attach_program: what it says ------------------------------------------------------------

@pytest.mark.parametrize("section, keyword", [
    ("tracepoint", "target"),
    ("raw_tp", "target"),
    ("kprobe", "target"),
    ("ksyscall", "target"),
    ("kprobe.multi", "target"),
    ("uprobe", "target"),
    ("usdt", "target"),
    ("xdp", "interface"),
    ("tc", "interface"),
    ("socket", "socket"),
    ("sk_reuseport", "socket"),
    ("sk_msg", "map"),
])
def test_missing_target_raises_attach_error_naming_program_section_and_keyword(section,
                                                                               keyword):
    prog = fake_program(section, name="prog_x")
    with pytest.raises(AttachError, match=rf"{keyword}=") as e:
        attach_program(prog)
    message = str(e.value)
    assert "'prog_x'" in message and f"section {section!r}" in message
    assert e.value.program == "prog_x"
    assert e.value.target == find_definition(section).hook


def test_unknown_options_raise_attach_error_listing_what_the_hook_takes():
    prog = fake_program("tracepoint/sched/sched_process_exit")
    with pytest.raises(AttachError, match=r"interface does not apply to tracepoint programs "
                                          r"\(options they take: cookie, target\)"):
        attach_program(prog, interface="eth0")
    with pytest.raises(AttachError, match=r"bogus, frequency do not apply to xdp"):
        attach_program(fake_program("xdp"), interface="lo", frequency=1, bogus=2)
    with pytest.raises(AttachError, match="cookie does not apply to xdp"):
        attach_program(fake_program("xdp"), interface="lo", cookie=1)


def test_hooks_pybpf_cannot_attach_say_what_to_do_instead():
    with pytest.raises(AttachError, match="test_run"):
        attach_program(fake_program("syscall"))
    with pytest.raises(AttachError, match="devmap"):
        attach_program(fake_program("xdp/devmap"))
    with pytest.raises(AttachError, match=r"attach\.struct_ops\(struct, programs, data\)"):
        attach_program(fake_program("struct_ops/dctcp_init"))
    with pytest.raises(AttachError, match="no automatic attachment for unspec programs"):
        attach_program(fake_program("", type="unspec"))


def test_attach_error_is_a_bpf_error_and_not_a_kernel_error():
    from pybpf.errors import KernelError

    with pytest.raises(BPFError) as e:
        attach_program(fake_program("kprobe"))
    assert not isinstance(e.value, KernelError)


def test_applicable_options_give_each_program_what_its_hook_takes():
    options = {"interface": "eth0", "cgroup": "/sys/fs/cgroup/app"}
    assert applicable_options(fake_program("xdp"), options) == {"interface": "eth0"}
    assert applicable_options(fake_program("tc/ingress"), options) == {"interface": "eth0"}
    assert applicable_options(fake_program("cgroup_skb/egress"), options) == {
        "cgroup": "/sys/fs/cgroup/app"}
    assert applicable_options(fake_program("tracepoint/a/b"), options) == {}
    assert applicable_options(fake_program("", type="unspec"), options) == {}


def test_section_target_and_options_reach_the_hook(monkeypatch):
    calls = []
    tracing = family_module("tracing")
    monkeypatch.setitem(tracing.SECTION_HOOKS, "tracepoint",
                        lambda r: calls.append((r.target, r.options)) or "link")
    assert attach_program(fake_program("tp/sched/sched_switch"), cookie=7) == "link"
    assert attach_program(fake_program("tp"), target="a/b") == "link"
    assert calls == [("sched/sched_switch", {"cookie": 7}), ("a/b", {})]


def test_return_probes_follow_the_section_unless_told(monkeypatch):
    seen = []
    kprobe = family_module("kprobe")
    monkeypatch.setitem(kprobe.SECTION_HOOKS, "kprobe",
                        lambda r: seen.append(r.retprobe()) or "link")
    attach_program(fake_program("kretprobe/do_exit"))
    attach_program(fake_program("kprobe/do_exit"))
    attach_program(fake_program("kretprobe/do_exit"), retprobe=False)
    assert seen == [True, False, False]


# --- the package's public names ------------------------------------------------------------

def test_public_names_of_the_attach_package_resolve():
    for name in attach.__all__:
        assert getattr(attach, name) is not None, name


def test_old_module_paths_still_work():
    attach_net = importlib.import_module("pybpf.kernel.attach_net")
    uprobe = importlib.import_module("pybpf.kernel.uprobe")
    assert attach_net.xdp is attach.xdp and attach_net.tc is attach.tc
    assert uprobe.uprobe is attach.uprobe and uprobe.parse_target is attach.parse_target


def test_kernel_program_attach_goes_through_the_dispatcher():
    from pybpf.kernel import KernelProgram

    prog = KernelProgram.__new__(KernelProgram)  # no fd: nothing may reach the kernel
    prog.name, prog.section, prog.type = "p", "kprobe", "kprobe"
    prog.expected_attach_type, prog.attach_to, prog.attachments = None, None, []
    with pytest.raises(AttachError, match=r"section 'kprobe'.*target="):
        prog.attach()
    assert prog.attachments == []
