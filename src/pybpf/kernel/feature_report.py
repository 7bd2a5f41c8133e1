"""Everything ``bpftool feature probe`` reports, gathered in one place.

:func:`system_config` reads the settings that govern BPF (the
``kernel.unprivileged_bpf_disabled`` and ``net.core.bpf_jit_*`` sysctls and
the kernel's build options, from ``/proc/config.gz`` or ``/boot``);
:func:`misc_features` tries the instruction-set features bpftool lists;
:func:`probe_report` adds program types, map types and the helpers each
program type may call, from the probes of :mod:`pybpf.kernel.features`.
"""

from __future__ import annotations

import gzip
import os
from typing import Any

from ..errors import KernelError
from . import features
from ._abi import MAP_TYPES, PROG_TYPES

SYSCTLS = {
    "unprivileged_bpf_disabled": "/proc/sys/kernel/unprivileged_bpf_disabled",
    "bpf_jit_enable": "/proc/sys/net/core/bpf_jit_enable",
    "bpf_jit_harden": "/proc/sys/net/core/bpf_jit_harden",
    "bpf_jit_kallsyms": "/proc/sys/net/core/bpf_jit_kallsyms",
    "bpf_jit_limit": "/proc/sys/net/core/bpf_jit_limit",
}
"""The sysctls that govern BPF, by the name bpftool reports them under."""

CONFIG_OPTIONS = (
    "CONFIG_BPF", "CONFIG_BPF_SYSCALL", "CONFIG_HAVE_EBPF_JIT", "CONFIG_BPF_JIT",
    "CONFIG_BPF_JIT_ALWAYS_ON", "CONFIG_DEBUG_INFO_BTF", "CONFIG_DEBUG_INFO_BTF_MODULES",
    "CONFIG_CGROUPS", "CONFIG_CGROUP_BPF", "CONFIG_CGROUP_NET_CLASSID",
    "CONFIG_SOCK_CGROUP_DATA", "CONFIG_BPF_EVENTS", "CONFIG_KPROBE_EVENTS",
    "CONFIG_UPROBE_EVENTS", "CONFIG_TRACING", "CONFIG_FTRACE_SYSCALLS",
    "CONFIG_FUNCTION_ERROR_INJECTION", "CONFIG_BPF_KPROBE_OVERRIDE", "CONFIG_NET",
    "CONFIG_XDP_SOCKETS", "CONFIG_LWTUNNEL_BPF", "CONFIG_NET_ACT_BPF", "CONFIG_NET_CLS_BPF",
    "CONFIG_NET_CLS_ACT", "CONFIG_NET_SCH_INGRESS", "CONFIG_XFRM", "CONFIG_IP_ROUTE_CLASSID",
    "CONFIG_IPV6_SEG6_BPF", "CONFIG_BPF_LIRC_MODE2", "CONFIG_BPF_STREAM_PARSER",
    "CONFIG_NETFILTER_XT_MATCH_BPF", "CONFIG_BPFILTER", "CONFIG_BPFILTER_UMH",
    "CONFIG_TEST_BPF", "CONFIG_HZ",
)
"""The kernel build options that matter to BPF (bpftool's list)."""

NOISY_HELPERS = ("bpf_trace_printk", "bpf_trace_vprintk", "bpf_probe_write_user")
"""Helpers whose probe makes the kernel log a warning: left out of a report
unless asked for (bpftool's ``full``)."""


def _sysctl(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kernel_config() -> dict[str, str] | None:
    """The running kernel's build options (``{"CONFIG_BPF": "y", ...}``)
    from ``/proc/config.gz`` or ``/boot/config-<release>``; None when
    neither can be read."""
    candidates = ["/proc/config.gz", f"/boot/config-{os.uname().release}"]
    for path in candidates:
        try:
            opener: Any = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt") as f:
                text = f.read()
        except OSError:
            continue
        options = {}
        for line in text.splitlines():
            name, sep, value = line.partition("=")
            if sep and name.startswith("CONFIG_"):
                options[name] = value.strip().strip('"')
        return options
    return None


def system_config() -> dict[str, Any]:
    """The sysctls of :data:`SYSCTLS` (None where unreadable) and the
    options of :data:`CONFIG_OPTIONS` (None where not set; absent entirely
    when the kernel's configuration cannot be read)."""
    out: dict[str, Any] = {name: _sysctl(path) for name, path in SYSCTLS.items()}
    config = kernel_config()
    if config is not None:
        out.update({name: config.get(name) for name in CONFIG_OPTIONS})
    return out


_MISC_PROBES = {
    # name -> (program type, assembly): what each feature needs the verifier to accept
    "have_large_insn_limit": ("sched_cls", "r0 = 1\n" * 4096 + "exit"),
    "have_bounded_loops": ("socket_filter", "r0 = 10\nr0 -= 1\nif r0 != 0 goto -2\nexit"),
    "have_v2_isa_extension": ("socket_filter", "r0 = 0\nif r0 < 1 goto +1\nr0 = 1\nexit"),
    "have_v3_isa_extension": ("socket_filter", "w0 = 0\nif w0 < 1 goto +1\nw0 = 1\nexit"),
}


def misc_features() -> dict[str, bool]:
    """Whether the verifier takes programs of more than 4096 instructions,
    bounded loops, and the v2 (``jlt``...) and v3 (``jmp32``) instructions."""
    from ..isa import assemble
    from .programs import KernelProgram

    out = {}
    for name, (prog_type, text) in _MISC_PROBES.items():
        try:
            KernelProgram.load(assemble(text), prog_type, name="probe").close()
            out[name] = True
        except KernelError:
            out[name] = False
    return out


def probe_report(*, helpers: bool = True, full: bool = False) -> dict[str, Any]:
    """Everything bpftool's ``feature probe`` reports, under its JSON names:
    ``system_config``, ``syscall_config``, ``program_types``
    (``have_<type>_prog_type``), ``map_types`` (``have_<type>_map_type``),
    ``helpers`` (``<type>_available_helpers``: helper names) and ``misc``.
    A probe that cannot decide gives None.  ``full`` keeps the
    :data:`NOISY_HELPERS`."""
    from .sys import unavailable_reason

    have_bpf = unavailable_reason() is None
    report: dict[str, Any] = {
        "system_config": system_config(),
        "syscall_config": {"have_bpf_syscall": have_bpf},
        "program_types": {}, "map_types": {}, "helpers": {}, "misc": {},
    }
    if not have_bpf:
        return report
    prog_types = [n for n in PROG_TYPES if n != "unspec"]
    for name in prog_types:
        report["program_types"][f"have_{name}_prog_type"] = features.prog_type_supported(name)
    for name in MAP_TYPES:
        if name != "unspec" and not name.endswith("_deprecated"):
            report["map_types"][f"have_{name}_map_type"] = features.map_type_supported(name)
    if helpers:
        for name in prog_types:
            found = features.supported_helpers(name) \
                if features.prog_type_supported(name) else []
            if not full:
                found = [h for h in found if h not in NOISY_HELPERS]
            report["helpers"][f"{name}_available_helpers"] = found
    report["misc"] = misc_features()
    return report
