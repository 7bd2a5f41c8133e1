"""What the running kernel supports, found by trying it.

Each probe creates a tiny map or loads a tiny program and reads the
kernel's answer; results are cached for the life of the process.
::

    from pybpf.kernel import features

    features.map_type_supported("ringbuf")                 # True
    features.prog_type_supported("lsm")                    # False where LSM loads are refused
    features.helper_supported("xdp", "bpf_redirect_map")   # True
    features.probe_prog_type("lsm").reason                 # why not
    features.btf_kind_supported("enum64")                  # True
    features.report()                                      # all of the above, as a dict

A probe answers ``True``, ``False`` or ``None`` (the probe cannot tell: the
type needs a target this module does not construct).
"""

from __future__ import annotations

import contextlib
import errno as _errno
import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import KernelError, VerifierError
from ..spec.defines import MAP_TYPES_WITH_BTF_KEY_VALUE
from . import sys as _sys
from ._abi import ATTACH_TYPES, MAP_FLAGS, MAP_TYPES, PROG_TYPES
from .kernel_btf import KernelBTF, int_btf


@dataclass(frozen=True)
class Probe:
    """A probe's answer: ``supported`` (None when undecidable), the errno
    the kernel gave and a sentence saying why."""

    supported: bool | None
    errno: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return bool(self.supported)


def _refusal(e: KernelError) -> str:
    return f"{_sys.errno_name(e.errno)}" if e.errno else str(e)


# --- map types -------------------------------------------------------------------

# The smallest attributes each map type accepts; the default is a 4-byte key
# and value with one entry.
_MAP_PROBES: dict[str, dict[str, Any]] = {
    "stack_trace": {"value_size": 8},
    "lpm_trie": {"key_size": 8, "flags": ("no_prealloc",)},
    "cgroup_storage": {"key_size": 16, "max_entries": 0},
    "percpu_cgroup_storage": {"key_size": 16, "max_entries": 0},
    "queue": {"key_size": 0},
    "stack": {"key_size": 0},
    "bloom_filter": {"key_size": 0},
    "ringbuf": {"key_size": 0, "value_size": 0, "max_entries": "page"},
    "user_ringbuf": {"key_size": 0, "value_size": 0, "max_entries": "page"},
    "arena": {"key_size": 0, "value_size": 0, "flags": ("mmapable",)},
    "sk_storage": {"max_entries": 0, "flags": ("no_prealloc",), "btf": True},
    "inode_storage": {"max_entries": 0, "flags": ("no_prealloc",), "btf": True},
    "task_storage": {"max_entries": 0, "flags": ("no_prealloc",), "btf": True},
    "cgrp_storage": {"max_entries": 0, "flags": ("no_prealloc",), "btf": True},
    "array_of_maps": {"inner": True},
    "hash_of_maps": {"inner": True},
}
_UNPROBED_MAPS = {"struct_ops": "needs a struct_ops type from the kernel's BTF",
                  "unspec": "not a map type"}


@functools.cache
def probe_map_type(name: str) -> Probe:
    """Try creating the smallest map of type ``name``."""
    if name in _UNPROBED_MAPS:
        return Probe(None, reason=_UNPROBED_MAPS[name])
    if name not in MAP_TYPES:
        return Probe(False, reason=f"map type {name!r} is not in pybpf's tables")
    p = _MAP_PROBES.get(name, {})
    flags = 0
    for f in p.get("flags", ()):
        flags |= MAP_FLAGS[f]
    max_entries = p.get("max_entries", 1)
    if max_entries == "page":  # ring buffers: one page
        max_entries = os.sysconf("SC_PAGE_SIZE")
    fields: dict[str, Any] = dict(
        map_type=MAP_TYPES[name], key_size=p.get("key_size", 4),
        value_size=p.get("value_size", 4), max_entries=max_entries,
        map_flags=flags, what=f"probe of map type {name}")
    closers = []
    try:
        if p.get("inner"):
            inner = _sys.map_create(map_type=MAP_TYPES["array"], key_size=4, value_size=4,
                                    max_entries=1)
            closers.append(inner)
            fields["inner_map_fd"] = int(inner)
        if p.get("btf"):
            btf = int_btf()
            closers.append(btf)
            fields.update(btf_fd=btf.fd, btf_key_type_id=1, btf_value_type_id=1)
        _sys.map_create(**fields).close()
        return Probe(True)
    except KernelError as e:
        return Probe(False, e.errno, f"BPF_MAP_CREATE refused it ({_refusal(e)})")
    finally:
        for c in closers:
            c.close()


def map_type_supported(name: str) -> bool | None:
    """Whether this kernel can create maps of type ``name``."""
    return probe_map_type(name).supported


def _sized_btf(sizes: Iterable[int]) -> tuple[KernelBTF, dict[int, int]]:
    """A loaded BTF holding, for each size, a type of exactly that many
    bytes (an unsigned integer of 1, 2, 4 or 8 bytes, else ``unsigned
    char[size]``), and those types' ids by size."""
    from ..btf import BTFBuilder

    b = BTFBuilder()
    ints = {n: b.add_int(f"__u{n * 8}", n) for n in (1, 2, 4, 8)}
    ids = {size: ints[size] if size in ints else b.add_array(ints[1], size, ints[4])
           for size in sorted(set(sizes)) if size}
    return KernelBTF.load(b.to_bytes()), ids


@functools.cache
def probe_map_btf_ids(name: str) -> Probe:
    """Whether maps of type ``name`` may be created with BTF key and value
    type ids.  Some map types (``perf_event_array``, ``cgroup_array``,
    ``sockmap``, ``sockhash``, ``stack_trace``...) refuse any BTF
    description with ENOTSUPP; a loader creates those without one, as
    libbpf does.  Answers None when the map type itself cannot be probed
    or created here."""
    base = probe_map_type(name)
    if base.supported is not True:
        return Probe(None, base.errno, f"map type {name} cannot be probed: {base.reason}")
    p = _MAP_PROBES.get(name, {})
    if p.get("btf"):  # the type's probe already needed (and got) BTF ids
        return Probe(True)
    if name in MAP_TYPES_WITH_BTF_KEY_VALUE:  # no BTF built and loaded just to ask
        return Probe(True, reason="map BTF came with this map type")
    key_size, value_size = p.get("key_size", 4), p.get("value_size", 4)
    if not key_size and not value_size:
        return Probe(True, reason="maps of this type have no key or value to describe")
    flags = 0
    for f in p.get("flags", ()):
        flags |= MAP_FLAGS[f]
    max_entries = p.get("max_entries", 1)
    if max_entries == "page":
        max_entries = os.sysconf("SC_PAGE_SIZE")
    closers: list[Any] = []
    try:
        btf, ids = _sized_btf((key_size, value_size))
        closers.append(btf)
        fields: dict[str, Any] = dict(
            map_type=MAP_TYPES[name], key_size=key_size, value_size=value_size,
            max_entries=max_entries, map_flags=flags, btf_fd=btf.fd,
            btf_key_type_id=ids.get(key_size, 0), btf_value_type_id=ids.get(value_size, 0),
            what=f"probe of BTF ids on map type {name}")
        if p.get("inner"):
            inner = _sys.map_create(map_type=MAP_TYPES["array"], key_size=4, value_size=4,
                                    max_entries=1)
            closers.append(inner)
            fields["inner_map_fd"] = int(inner)
        _sys.map_create(**fields).close()
        return Probe(True)
    except KernelError as e:
        if e.errno in _NO_BTF_ERRNOS:  # the type's map_check_btf refuses any description
            return Probe(False, e.errno, f"BPF_MAP_CREATE with BTF key/value ids refused "
                                         f"it ({_refusal(e)})")
        # the probe's byte-sized types may not be what the type insists on (a struct key)
        return Probe(None, e.errno, f"undecided: BTF key/value ids of the probe's types were "
                                    f"refused ({_refusal(e)})")
    finally:
        for c in closers:
            c.close()


_NO_BTF_ERRNOS = frozenset({_sys.ENOTSUPP, _errno.EOPNOTSUPP})
"""Refusals that mean a map type takes no BTF description at all."""


def map_btf_ids_supported(name: str) -> bool | None:
    """Whether maps of type ``name`` accept BTF key/value type ids (see
    :func:`probe_map_btf_ids`)."""
    return probe_map_btf_ids(name).supported


# --- program types ----------------------------------------------------------------

# What a minimal program of each type needs beyond its type.
_PROG_PROBES: dict[str, dict[str, Any]] = {
    "cgroup_sock_addr": {"expected_attach_type": "cgroup_inet4_connect"},
    "cgroup_sockopt": {"expected_attach_type": "cgroup_getsockopt"},
    "sk_lookup": {"expected_attach_type": "sk_lookup"},
    "netfilter": {"expected_attach_type": "netfilter"},
    "syscall": {"sleepable": True},
    "tracing": {"expected_attach_type": "trace_raw_tp", "btf_target": "btf_trace_sched_switch"},
    "lsm": {"expected_attach_type": "lsm_mac", "btf_target": "bpf_lsm_file_open"},
}
_UNPROBED_PROGS = {"ext": "needs a program to extend",
                   "struct_ops": "needs a struct_ops type from the kernel's BTF",
                   "unspec": "not a program type"}


@functools.cache
def _vmlinux_id(name: str) -> int | None:
    try:
        from ..btf import BTF

        ids = BTF.load_vmlinux().find_ids(name)
    except Exception:  # no kernel BTF: the probe cannot name a target
        return None
    return ids[0] if ids else None


@functools.cache
def probe_prog_type(name: str) -> Probe:
    """Try loading ``r0 = 0; exit`` as a program of type ``name``."""
    if name in _UNPROBED_PROGS:
        return Probe(None, reason=_UNPROBED_PROGS[name])
    if name not in PROG_TYPES:
        return Probe(False, reason=f"program type {name!r} is not in pybpf's tables")
    ok, err = _load_probe(name)
    if ok:
        return Probe(True)
    if isinstance(err, VerifierError):  # the type exists: the verifier looked at it
        return Probe(True, err.errno, f"loads, but the probe program was rejected: {err}")
    if err is not None and err.errno == _errno.EPERM:
        return Probe(False, err.errno, "the kernel refuses to load it (EPERM)")
    return Probe(False, err.errno if err else None,
                 f"BPF_PROG_LOAD refused it ({_refusal(err)})" if err else "")


PROBE_LOG_SIZE = 4096
"""The verifier log buffer of a probe (grown by ``prog_load`` if it is short)."""


@functools.cache
def _probe_code(body: str) -> bytes:
    from ..isa import assemble, encode

    return encode(assemble(body))


def _load_probe(name: str, body: str = "r0 = 0\nexit") -> tuple[bool, KernelError | None]:
    """Load ``body`` as a program of type ``name``: (loaded, the refusal).
    Goes straight to the system call: KernelProgram's explanation of
    refusals asks these probes."""
    p = _PROG_PROBES.get(name, {})
    fields: dict[str, Any] = {"prog_type": PROG_TYPES[name]}
    if "expected_attach_type" in p:
        fields["expected_attach_type"] = ATTACH_TYPES.id_of(p["expected_attach_type"])
    if p.get("sleepable"):
        from ..spec.defines import BPF_F_SLEEPABLE

        fields["prog_flags"] = BPF_F_SLEEPABLE
    if "btf_target" in p:
        target = _vmlinux_id(p["btf_target"])
        if target is None:
            return False, KernelError(f"no kernel BTF id for {p['btf_target']}")
        fields["attach_btf_id"] = target
    try:
        # one system call with a small log: the probes' logs are a few lines
        fd, _ = _sys.prog_load(insns=_probe_code(body), what=f"probe of {name}",
                               log_level=1, log_size=PROBE_LOG_SIZE, **fields)
        fd.close()
        return True, None
    except KernelError as e:
        return False, e


def prog_type_supported(name: str) -> bool | None:
    """Whether this kernel loads programs of type ``name``."""
    return probe_prog_type(name).supported


# --- BPF trampolines -------------------------------------------------------------

def trampoline_refusal() -> str:
    """Why this kernel refuses BPF trampoline programs (fentry, fexit,
    fmod_ret, LSM, struct_ops), as far as can be told."""
    lockdown = ""
    with contextlib.suppress(OSError):
        with open("/sys/kernel/security/lockdown") as f:
            text = f.read()
        if "[" in text:
            lockdown = text[text.index("[") + 1:text.index("]")]
    why = "this kernel refuses BPF trampoline programs (fentry/fexit/fmod_ret/lsm) " \
          "even to root"
    if lockdown and lockdown != "none":
        why += f"; kernel lockdown is in '{lockdown}' mode"
    return why + ": use a tracepoint, raw_tp or tp_btf program instead"


# --- helpers --------------------------------------------------------------------

_HELPER_REFUSALS = ("unknown func", "invalid func", "cannot use helper",
                    "not supported for program type", "supported only for",
                    "cannot call GPL-restricted")


def helper_id(helper: str | int) -> int:
    """The id of a helper given as ``"bpf_map_lookup_elem"``,
    ``"map_lookup_elem"`` or a number."""
    if isinstance(helper, int):
        return helper
    from ..spec.layout import helper_id as spec_helper_id

    return spec_helper_id(helper)


def helper_label(helper: str | int) -> str:
    """``bpf_<name>`` for a helper id or name."""
    from ..spec.layout import helper_name

    hid = helper_id(helper)
    return f"bpf_{helper_name(hid) or f'helper#{hid}'}"


@functools.cache
def probe_helper(prog_type: str, helper: str | int) -> Probe:
    """Whether programs of ``prog_type`` may call ``helper``: load a program
    that calls it and look at what the verifier objects to."""
    base = probe_prog_type(prog_type)
    if base.supported is not True:
        return Probe(base.supported, base.errno,
                     f"program type {prog_type} is not available: {base.reason}")
    hid = helper_id(helper)
    ok, err = _load_probe(prog_type, f"call {hid}\nr0 = 0\nexit")
    if ok:
        return Probe(True)
    log = getattr(err, "log", "") or ""
    if isinstance(err, VerifierError) and not any(r in log for r in _HELPER_REFUSALS):
        return Probe(True)  # the call was accepted; only its arguments were wrong
    label = helper_label(hid)
    return Probe(False, err.errno if err else None,
                 f"helper {label} is not allowed in program type {prog_type}")


def helper_supported(prog_type: str, helper: str | int) -> bool | None:
    """Whether ``helper`` may be called from programs of ``prog_type``."""
    return probe_helper(prog_type, helper).supported


def supported_helpers(prog_type: str) -> list[str]:
    """Names (``bpf_...``) of every helper programs of ``prog_type`` may call."""
    from ..spec.layout import helpers

    return [f"bpf_{name}" for hid, name in sorted(helpers().items())
            if hid and helper_supported(prog_type, hid)]


# --- BTF kinds ------------------------------------------------------------------

def _btf_with(kind: str) -> bytes:
    from ..btf import BTFBuilder

    b = BTFBuilder()
    i = b.add_int("int", 4, signed=True)
    if kind in ("func", "func_proto", "func_global"):
        proto = b.add_func_proto(i, [("a", i)])
        b.add_func("f", proto, linkage=1 if kind == "func_global" else 0)
    elif kind in ("var", "datasec"):
        v = b.add_var("x", i, linkage=0)
        b.add_datasec(".data", 4, [(v, 0, 4)])
    elif kind == "float":
        b.add_float("float", 4)
    elif kind == "decl_tag":
        s = b.add_struct("s", 4, [("a", i, 0)])
        b.add_decl_tag("tag", s, 0)
    elif kind == "type_tag":
        t = b.add_type_tag("tag", i)
        b.add_ptr(t)
    elif kind == "enum64":
        b.add_enum("e", {"BIG": 1 << 40}, 8)
    elif kind != "int":
        raise ValueError(f"unknown BTF kind probe {kind!r}")
    return b.to_bytes()


BTF_KINDS = ("int", "func", "func_proto", "func_global", "var", "datasec", "float",
             "decl_tag", "type_tag", "enum64")
"""The BTF features :func:`btf_kind_supported` can probe."""


@functools.cache
def btf_kind_supported(kind: str) -> bool:
    """Whether the kernel accepts BTF using ``kind`` (one of :data:`BTF_KINDS`)."""
    try:
        KernelBTF.load(_btf_with(kind)).close()
        return True
    except KernelError:
        return False


# --- everything -----------------------------------------------------------------

def report(*, helpers_for: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every probe's answer: ``{"map_types": {...}, "prog_types": {...},
    "btf_kinds": {...}, "helpers": {prog_type: [...]}}``."""
    return {
        "map_types": {n: map_type_supported(n) for n in MAP_TYPES
                      if n != "unspec" and not n.endswith("_deprecated")},
        "prog_types": {n: prog_type_supported(n) for n in PROG_TYPES if n != "unspec"},
        "btf_kinds": {k: btf_kind_supported(k) for k in BTF_KINDS},
        "helpers": {t: supported_helpers(t) for t in helpers_for},
    }
