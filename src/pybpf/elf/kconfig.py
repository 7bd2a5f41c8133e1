"""Values for ``__kconfig`` externs, from the running kernel's configuration.

An object that declares ``extern int LINUX_KERNEL_VERSION __kconfig;`` or
``extern bool CONFIG_BPF_JIT __kconfig __weak;`` reads them from a read-only
``.kconfig`` map that :func:`pybpf.elf.load_object` lays out (zeroed).
:func:`resolve_kconfig` fills it in before loading::

    spec = pybpf.load_object("prog.bpf.o")
    resolve_kconfig(spec)                                  # /proc/config.gz or /boot/config-*
    resolve_kconfig(spec, {"CONFIG_HZ": "1000"})           # or explicit values

Encodings follow libbpf's: ``bool`` takes ``y``/``n``; ``enum
libbpf_tristate`` takes ``y`` (1), ``n`` (0), ``m`` (2); a ``char`` takes the
letter itself; integers take decimal or ``0x`` hex; ``char[N]`` takes a
quoted string.  The values libbpf computes itself (``LINUX_KERNEL_VERSION``,
``LINUX_HAS_SYSCALL_WRAPPER``, ``LINUX_HAS_BPF_COOKIE``) are numbers that any
integer, ``char`` or ``bool`` extern takes.  Missing weak externs stay zero;
a missing strong extern is an error.
"""

from __future__ import annotations

import gzip
import os
import platform
from collections.abc import Mapping
from typing import Any

from ..btf import Array, EnumBase, Int
from ..errors import ObjectError
from .externs import KIND_KCONFIG, externs_of

CONFIG_PATHS = ("/proc/config.gz", "/boot/config-{release}", "/lib/modules/{release}/config")
"""Where the running kernel's configuration is looked for, in order."""

TRISTATE = {"n": 0, "y": 1, "m": 2}
"""``enum libbpf_tristate`` values."""


class KconfigError(ObjectError):
    """A ``__kconfig`` extern that cannot be given a value."""


def parse_config(text: str) -> dict[str, str]:
    """``CONFIG_X=value`` lines -> {name: value}; ``# CONFIG_X is not set``
    gives ``n``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("# CONFIG_") and line.endswith(" is not set"):
            out[line[2:-len(" is not set")]] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            out[name] = value
    return out


def read_kernel_config(path: str | None = None, *, release: str | None = None
                       ) -> dict[str, str]:
    """The running kernel's configuration (or the file at ``path``, gzipped
    or not).  Raises KconfigError when none can be read."""
    release = release or platform.release()
    candidates = [path] if path else [p.format(release=release) for p in CONFIG_PATHS]
    for candidate in candidates:
        try:
            with open(candidate, "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as e:
                raise KconfigError(f"cannot decompress: {e}", path=candidate) from None
        return parse_config(raw.decode("utf-8", "replace"))
    raise KconfigError("no kernel configuration found (tried " + ", ".join(candidates) + ")")


def kernel_version_code(release: str | None = None) -> int:
    """``KERNEL_VERSION(a, b, c)`` of a release string like ``6.8.0-45-generic``."""
    release = release or platform.release()
    parts = []
    for piece in release.split(".")[:3]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        parts.append(int(digits or 0))
        if digits != piece:
            break
    while len(parts) < 3:
        parts.append(0)
    a, b, c = parts
    return (a << 16) | (b << 8) | min(c, 255)


def special_number(name: str, release: str | None = None) -> int | None:
    """The value of a ``LINUX_*`` extern that libbpf computes itself rather
    than reading the config: ``LINUX_KERNEL_VERSION`` (``KERNEL_VERSION(a,
    b, c)``), ``LINUX_HAS_BPF_COOKIE`` and ``LINUX_HAS_SYSCALL_WRAPPER``
    (1 or 0); None for other names."""
    if name == "LINUX_KERNEL_VERSION":
        return kernel_version_code(release)
    if name == "LINUX_HAS_BPF_COOKIE":
        return int(kernel_version_code(release) >= (5 << 16) | (15 << 8))
    if name == "LINUX_HAS_SYSCALL_WRAPPER":
        return int(_has_syscall_wrapper())
    return None


def special_value(name: str, release: str | None = None) -> str | None:
    """:func:`special_number` as a kernel config would write it (decimal);
    None for other names."""
    number = special_number(name, release)
    return None if number is None else str(number)


def encode_number(name: str, number: int, btf_type: Any, size: int, btf: Any = None) -> bytes:
    """The bytes of a number libbpf computes (:func:`special_number`) for
    an extern of ``btf_type`` and ``size`` bytes, as libbpf stores it: any
    integer, ``char`` or ``bool`` extern takes it (a ``bool`` only 0 or 1);
    tristates and strings do not."""
    t = btf.resolve(btf_type.id) if btf is not None and getattr(btf_type, "id", 0) else btf_type
    if not isinstance(t, Int):
        kind = t.kind.name.lower() if hasattr(t, "kind") else type(t).__name__
        raise KconfigError(f"kconfig extern {name}: a {kind} cannot hold the number {number} "
                           f"it stands for (declare it as an integer)")
    if t.is_bool and number not in (0, 1):
        raise KconfigError(f"kconfig extern {name}: value {number} is not a boolean")
    try:
        return number.to_bytes(size, "little", signed=t.is_signed and number < 0)
    except OverflowError:
        raise KconfigError(f"kconfig extern {name}: value {number} does not fit in {size} "
                           f"bytes") from None


def encode_extern(name: str, value: str | int, btf_type: Any, size: int,
                  btf: Any = None) -> bytes:
    """The bytes of extern ``name``: ``value`` as the kernel configuration
    writes it (:func:`encode_value`), or a number libbpf computes
    (:func:`encode_number`)."""
    if isinstance(value, int):
        return encode_number(name, value, btf_type, size, btf)
    return encode_value(name, value, btf_type, size, btf)


def _has_syscall_wrapper() -> bool:
    prefix = {"x86_64": "__x64_", "aarch64": "__arm64_", "s390x": "__s390x_",
              "riscv64": "__riscv_"}.get(platform.machine())
    if prefix is None:
        return False
    try:
        from ..btf import BTF

        return bool(BTF.load_vmlinux().find_ids(prefix + "sys_bpf"))
    except (ObjectError, OSError):
        return True  # every kernel with BTF-less CO-RE targets since 4.17 has them


def encode_value(name: str, value: str, btf_type: Any, size: int, btf: Any = None) -> bytes:
    """The bytes of ``value`` (as a kernel config writes it) for an extern
    of ``btf_type`` and ``size`` bytes."""
    t = btf.resolve(btf_type.id) if btf is not None and getattr(btf_type, "id", 0) else btf_type

    def fail(why: str) -> KconfigError:
        return KconfigError(f"kconfig extern {name}: value {value!r} {why}")

    if isinstance(t, EnumBase):
        if value not in TRISTATE:
            raise fail("is not a tristate (y, n or m)")
        return TRISTATE[value].to_bytes(size, "little")
    if isinstance(t, Array):
        if not (len(value) >= 2 and value[0] == value[-1] == '"'):
            raise fail("is not a quoted string")
        raw = value[1:-1].encode()[:max(size - 1, 0)]
        return raw + bytes(size - len(raw))
    if isinstance(t, Int):
        if t.is_bool:
            if value not in ("y", "n"):
                raise fail("is not a boolean (y or n)")
            return (1 if value == "y" else 0).to_bytes(size, "little")
        if t.is_char and size == 1 and value in TRISTATE:
            return value.encode()
        if value in ("y", "n", "m"):
            raise fail("is a tristate, but the extern is an integer")
        try:
            number = int(value, 0)
        except ValueError:
            raise fail("is not a number") from None
        try:
            return number.to_bytes(size, "little", signed=t.is_signed or number < 0)
        except OverflowError:
            raise fail(f"does not fit in {size} bytes") from None
    raise KconfigError(f"kconfig extern {name}: unsupported type "
                       f"{getattr(t, 'kind', type(t)).name if hasattr(t, 'kind') else t}")


def resolve_kconfig(spec: Any, config: Mapping[str, str] | str | None = None, *,
                    release: str | None = None) -> dict[str, bytes]:
    """Fill every ``__kconfig`` extern of ``spec`` (an ObjectSpec from
    :func:`~pybpf.elf.load_object`).  ``config`` is a mapping of config names
    to values, a path to a config file, or None for the running kernel's.
    Returns what was written, by name."""
    externs = [e for e in externs_of(spec).values() if e.kind == KIND_KCONFIG]
    if not externs:
        return {}
    needs_config = any(special_number(e.name, release) is None for e in externs
                       if not e.name.startswith("LINUX_"))
    values: Mapping[str, str]
    if isinstance(config, Mapping):
        values = config
    elif needs_config:
        try:
            values = read_kernel_config(config, release=release)
        except KconfigError:
            if all(e.weak for e in externs if not e.name.startswith("LINUX_")):
                values = {}
            else:
                raise
    else:
        values = {}
    written: dict[str, bytes] = {}
    for ext in externs:
        value: str | int | None = values.get(ext.name)
        if value is None:
            value = special_number(ext.name, release)
        if value is None:
            if ext.weak:
                continue
            raise KconfigError(f"kconfig extern {ext.name} is not set in the kernel "
                               f"configuration (declare it __weak to default to zero)")
        data = encode_extern(ext.name, value, ext.type, ext.size, getattr(spec, "btf", None))
        spec.set_variable(ext.name, data)
        written[ext.name] = data
    return written


def release_of_running_kernel() -> str:
    """``uname -r``."""
    return os.uname().release


__all__ = [
    "CONFIG_PATHS",
    "TRISTATE",
    "KconfigError",
    "encode_extern",
    "encode_number",
    "encode_value",
    "kernel_version_code",
    "parse_config",
    "read_kernel_config",
    "release_of_running_kernel",
    "resolve_kconfig",
    "special_number",
    "special_value",
]
