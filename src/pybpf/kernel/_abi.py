"""The bpf() ABI as the kernel backend uses it, read from :mod:`pybpf.spec`.

Nothing here is a number: enums, flags and struct layouts come from the
tables ``generators/gen_spec.py`` generates from the kernel's BTF
(:mod:`pybpf.spec.linux`), so a new kernel is one regeneration away.  This
module only chooses which parts of ``union bpf_attr`` each family of
commands uses, and shapes enums the way the API spells them (``"hash"``
for ``BPF_MAP_TYPE_HASH``).

Everything is built on first use: importing :mod:`pybpf.kernel` does not
load the generated tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._layout import Layout


class Table(Mapping):
    """A ``{short name: number}`` table built on first use, with the
    reverse lookup and a user-facing lookup by name or number."""

    def __init__(self, what: str, build: Callable[[], dict[str, int]]):
        self.what = what
        self._build = build
        self._data: dict[str, int] | None = None
        self._names: dict[int, str] | None = None

    def _load(self) -> dict[str, int]:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __getitem__(self, key: str) -> int:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def name_of(self, value: int) -> str:
        """The short name of ``value`` (the first non-deprecated one);
        ``unknown(N)`` for a value this table lacks."""
        if self._names is None:
            names: dict[int, str] = {}
            for k, v in self._load().items():
                if v not in names or names[v].endswith("_deprecated"):
                    names[v] = k
            self._names = names
        return self._names.get(value, f"unknown({value})")

    def id_of(self, key: str | int) -> int:
        """The number of ``key`` (a number passes through); an unknown name
        raises :class:`~pybpf.errors.BPFError` listing the known ones."""
        if isinstance(key, int):
            return key
        try:
            return self._load()[key]
        except KeyError:
            from ..errors import BPFError

            known = ", ".join(k for k in self._load() if k != "unspec")
            raise BPFError(f"unknown {self.what} {key!r} (known: {known})") from None


def _enum(enum: str, prefix: str) -> Callable[[], dict[str, int]]:
    """Enum ``enum`` of the spec with ``prefix`` dropped and lower case,
    ``__MAX`` sentinels left out."""
    def build() -> dict[str, int]:
        from ..spec.layout import enum_values

        n = len(prefix)
        return {k[n:].lower(): v for k, v in enum_values(enum).items()
                if k.startswith(prefix) and not k.startswith("__")}
    return build


COMMANDS = Table("bpf() command", _enum("bpf_cmd", "BPF_"))
"""``enum bpf_cmd``: ``{"map_create": 0, ...}``."""
MAP_TYPES = Table("map type", _enum("bpf_map_type", "BPF_MAP_TYPE_"))
"""``enum bpf_map_type``: ``{"hash": 1, ...}``."""
PROG_TYPES = Table("program type", _enum("bpf_prog_type", "BPF_PROG_TYPE_"))
"""``enum bpf_prog_type``: ``{"socket_filter": 1, ...}``."""
ATTACH_TYPES = Table("attach type", _enum("bpf_attach_type", "BPF_"))
"""``enum bpf_attach_type``: ``{"cgroup_inet_ingress": 0, ...}``."""
LINK_TYPES = Table("link type", _enum("bpf_link_type", "BPF_LINK_TYPE_"))
"""``enum bpf_link_type``: ``{"raw_tracepoint": 1, ...}``."""
STATS_TYPES = Table("stats type", _enum("bpf_stats_type", "BPF_STATS_"))
"""``enum bpf_stats_type``: ``{"run_time": 0}``."""

_MAP_FLAG_NAMES = (
    "NO_PREALLOC", "NO_COMMON_LRU", "NUMA_NODE", "RDONLY", "WRONLY", "STACK_BUILD_ID",
    "ZERO_SEED", "RDONLY_PROG", "WRONLY_PROG", "CLONE", "MMAPABLE", "PRESERVE_ELEMS",
    "INNER_MAP", "LINK", "PATH_FD", "VTYPE_BTF_OBJ_FD", "TOKEN_FD", "SEGV_ON_FAULT",
    "NO_USER_CONV")


def constant(name: str) -> int:
    """A uapi constant by its C name (``"BPF_F_LOCK"``)."""
    from ..spec.layout import constant as spec_constant

    return spec_constant(name)


def _map_flags() -> dict[str, int]:
    from ..spec.linux import CONSTANTS

    # a flag newer than the generated tables is simply absent
    return {n.lower(): CONSTANTS["BPF_F_" + n] for n in _MAP_FLAG_NAMES
            if "BPF_F_" + n in CONSTANTS}


MAP_FLAGS = Table("map flag", _map_flags)
"""Map creation / object access flags: ``{"no_prealloc": 1, ...}``."""


# --- struct layouts ------------------------------------------------------------

# Which part of ``union bpf_attr`` each family of commands fills: an
# anonymous struct found by one of its members, or a named member.
_ATTR_GROUPS: dict[str, tuple[str, str]] = {
    "map_create": ("variant", "map_type"),       # BPF_MAP_CREATE
    "map_elem": ("variant", "map_fd"),           # BPF_MAP_*_ELEM, GET_NEXT_KEY, FREEZE
    "batch": ("member", "batch"),                # BPF_MAP_*_BATCH
    "prog_load": ("variant", "prog_type"),       # BPF_PROG_LOAD
    "obj": ("variant", "pathname"),              # BPF_OBJ_PIN, BPF_OBJ_GET
    "prog_attach": ("variant", "attach_bpf_fd"),  # BPF_PROG_ATTACH, BPF_PROG_DETACH
    "test": ("member", "test"),                  # BPF_PROG_TEST_RUN
    "get_id": ("variant", "start_id"),           # *_GET_NEXT_ID, *_GET_FD_BY_ID
    "info": ("member", "info"),                  # BPF_OBJ_GET_INFO_BY_FD
    "query": ("member", "query"),                # BPF_PROG_QUERY
    "raw_tracepoint": ("member", "raw_tracepoint"),  # BPF_RAW_TRACEPOINT_OPEN
    "btf_load": ("variant", "btf_log_buf"),      # BPF_BTF_LOAD
    "link_create": ("member", "link_create"),    # BPF_LINK_CREATE
    "link_update": ("member", "link_update"),    # BPF_LINK_UPDATE
    "link_detach": ("member", "link_detach"),    # BPF_LINK_DETACH
    "enable_stats": ("member", "enable_stats"),  # BPF_ENABLE_STATS
    "iter_create": ("member", "iter_create"),    # BPF_ITER_CREATE
    "prog_bind_map": ("member", "prog_bind_map"),  # BPF_PROG_BIND_MAP
    "task_fd_query": ("member", "task_fd_query"),  # BPF_TASK_FD_QUERY
}


def _ctype(f: Any) -> str | None:
    """The :mod:`._layout` type of a spec field, None for a nested struct."""
    t = f.type
    if t.startswith(("struct", "union")) or "*" in t:
        return None
    if f.nelems:
        if f.elem_type == "char":
            return f"char[{f.nelems}]"
        return f"u8[{f.size}]"
    bits = 8 * f.size
    signed = not (t.startswith("__u") or "unsigned" in t or t.startswith("u"))
    base = f"{'s' if signed else 'u'}{bits}"
    if f.bits:
        return f"{base}:{f.bits}@{f.bit_offset - 8 * f.offset}"
    return base


def _from_spec(name: str, size: int, fields: Any, prefix: str = "") -> Layout:
    rows = []
    for f in fields:
        if prefix and not f.name.startswith(prefix):
            continue
        ctype = _ctype(f)
        if ctype is not None:
            rows.append((f.name[len(prefix):], f.offset, ctype))
    return Layout(name, size, rows)


def _attr_group(group: str) -> Layout:
    from ..spec.layout import struct_layout

    how, key = _ATTR_GROUPS[group]
    attr = struct_layout("bpf_attr")
    if how == "variant":
        v = attr.variant(key)
        return _from_spec(f"bpf_attr.{group}", v.size, v.fields)
    member = attr.field(key)
    return _from_spec(f"bpf_attr.{group}", member.size, attr.fields, prefix=key + ".")


def _info_struct(name: str) -> Layout:
    from ..spec.layout import struct_layout

    s = struct_layout(name)
    return _from_spec(name, s.size, s.fields)


class _Layouts(dict):
    """Layouts built on first lookup."""

    def __init__(self, build: Callable[[str], Layout]):
        super().__init__()
        self._build = build

    def __missing__(self, key: str) -> Layout:
        layout = self[key] = self._build(key)
        return layout


ATTR: dict[str, Layout] = _Layouts(_attr_group)
"""The ``union bpf_attr`` part of each family of commands (keys of
``_ATTR_GROUPS``: ``"map_create"``, ``"prog_load"``, ``"test"``...)."""

INFO: dict[str, Layout] = _Layouts(_info_struct)
"""Structs by C name: ``bpf_prog_info``, ``bpf_map_info``,
``bpf_link_info``, ``bpf_btf_info`` (``BPF_OBJ_GET_INFO_BY_FD``) and the
``bpf_func_info``/``bpf_line_info`` records ``BPF_PROG_LOAD`` reads."""
