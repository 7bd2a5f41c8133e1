"""The ``bpf()`` system call, one function per command.

Each function fills its part of ``union bpf_attr`` (layouts in
:mod:`pybpf.kernel._abi`), makes the call and either returns what the
kernel gave back — a new :class:`~pybpf.kernel._fd.FD`, a count, a
filled-in record — or raises :class:`~pybpf.errors.KernelError` with a
message naming the command, the object and, for refusals such as EPERM or
EINVAL, what is likely missing.  Pointers are passed as integer addresses
of ctypes buffers the caller keeps alive for the call.

This is the low layer: :class:`~pybpf.kernel.KernelMap`,
:class:`~pybpf.kernel.KernelProgram` and friends are built on it.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import functools
import os

from ..errors import BPFError, KernelError, VerifierError
from ..spec.defines import BPF_LOG_SIZE_MAX, BPF_SYSCALL_NR, ENOTSUPP
from ._abi import ATTR, COMMANDS
from ._fd import FD
from ._layout import Record

LOG_SIZE_START = 64 * 1024
"""First verifier-log buffer when a log is asked for; it grows as needed."""
LOG_SIZE_RETRY = 1024 * 1024
"""Log buffer of the retry that fetches a log for a refused load."""
LOG_SIZE_MAX = BPF_LOG_SIZE_MAX

_syscall = None
_MACHINE = os.uname().machine
_NR: int | None = BPF_SYSCALL_NR.get(_MACHINE)


def _bind():
    global _syscall
    if _NR is None:
        raise KernelError(f"bpf(): no system call number known for {_MACHINE}",
                          errno=_errno.ENOSYS, operation="bpf")
    libc = ctypes.CDLL(None, use_errno=True)
    fn = libc.syscall
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_ulong]
    _syscall = fn
    return fn


def raw_bpf(cmd: int, attr, size: int) -> tuple[int, int]:
    """Call ``bpf(cmd, attr, size)`` (``attr`` a ctypes buffer, bytes or
    address): ``(result, errno)`` with errno 0 on success.  Retries EINTR."""
    fn = _syscall or _bind()
    while True:
        ret = fn(_NR, cmd, attr, size)
        if ret >= 0:
            return ret, 0
        err = ctypes.get_errno()
        if err != _errno.EINTR:
            return ret, err


def errno_name(err: int) -> str:
    """``EPERM`` for 1, ``ENOTSUPP`` for 524..."""
    if err == ENOTSUPP:
        return "ENOTSUPP"
    return _errno.errorcode.get(err, f"errno {err}")


def _strerror(err: int) -> str:
    return "Operation not supported" if err == ENOTSUPP else os.strerror(err)


def _eperm_hint() -> str:
    if os.geteuid() == 0:
        return ("refused even to root: kernel lockdown, an LSM or a kernel built without "
                "support refuses this program or attach type")
    return ("bpf() needs CAP_BPF (with CAP_PERFMON for tracing or CAP_NET_ADMIN for "
            "networking programs) or root; see /proc/sys/kernel/unprivileged_bpf_disabled")


_ERRNO_HINTS = {
    _errno.EPERM: _eperm_hint,
    _errno.ENOSYS: "this kernel has no bpf() system call (CONFIG_BPF_SYSCALL is off)",
    _errno.E2BIG: ("the request sets attributes this kernel does not know: "
                   "it is older than the feature used"),
    _errno.EBADF: "a file descriptor in the request is closed or of the wrong kind",
    _errno.ENOMEM: "out of memory (or, before Linux 5.11, the RLIMIT_MEMLOCK limit)",
    ENOTSUPP: "this object type does not support the operation",
    _errno.EOPNOTSUPP: "this object type does not support the operation",
}

_COMMAND_HINTS = {
    ("map_create", _errno.EINVAL): ("the kernel rejected the map attributes: a map type or "
                                    "flag this kernel lacks, or key/value sizes or "
                                    "max_entries the type does not accept"),
    ("map_create", _errno.E2BIG): "a size or max_entries too large, or attributes this "
                                  "kernel does not know",
    ("map_update_elem", _errno.E2BIG): "the map is full (max_entries reached)",
    ("map_update_elem", _errno.EEXIST): "the key exists already (BPF_NOEXIST)",
    ("map_update_elem", _errno.ENOENT): "no such key (BPF_EXIST)",
    ("map_update_elem", _errno.EINVAL): "flags the map type does not accept, or a key "
                                        "outside an array",
    ("map_freeze", _errno.EBUSY): "the map is frozen already or mapped writable",
    ("prog_load", _errno.EINVAL): ("the kernel rejected the program attributes: a program "
                                   "type, expected attach type or flag this kernel lacks"),
    ("prog_load", _errno.E2BIG): "the program is too large or too complex for the verifier",
    ("obj_pin", _errno.EEXIST): "the path exists already",
    ("obj_pin", _errno.EPERM): "the path is not inside a bpffs mount (see pybpf.kernel.pins)",
    ("obj_get", _errno.ENOENT): "nothing is pinned at that path",
    ("obj_get", _errno.EPERM): "the path is not a bpffs pin or is not accessible",
    ("prog_test_run", _errno.EINVAL): ("data or ctx of a size this program type does not "
                                       "accept, or flags it does not support"),
    ("prog_test_run", ENOTSUPP): "this program type has no BPF_PROG_TEST_RUN support",
    ("link_create", _errno.EINVAL): ("the program cannot attach there: wrong attach type "
                                     "for the program, or a link type this kernel lacks"),
    ("prog_attach", _errno.EINVAL): "the program type does not match the attach type",
    ("raw_tracepoint_open", _errno.ENOENT): "no such raw tracepoint in this kernel",
    ("btf_load", _errno.EINVAL): "the kernel's BTF checker rejected the data",
}


def error(cmd: str, err: int, what: str = "", detail: str = "") -> KernelError:
    """The :class:`KernelError` for command ``cmd`` failing with ``err``;
    ``what`` names the object, ``detail`` replaces the generic hint."""
    op = "BPF_" + cmd.upper()
    hint = detail or _COMMAND_HINTS.get((cmd, err)) or _ERRNO_HINTS.get(err, "")
    if callable(hint):
        hint = hint()
    msg = f"{op}{' ' + what if what else ''}: {_strerror(err)} ({errno_name(err)})"
    if hint:
        msg += f": {hint}"
    return KernelError(msg, errno=err, operation=op)


def call(cmd: str, attr: Record, what: str = "") -> int:
    """Run command ``cmd`` with ``attr``; the kernel's result, or raise."""
    ret, err = raw_bpf(COMMANDS[cmd], attr.buf, attr.layout.size)
    if err:
        raise error(cmd, err, what)
    return ret


def _fd_call(cmd: str, attr: Record, what: str = "") -> FD:
    return FD(call(cmd, attr, what))


@functools.cache
def unavailable_reason() -> str | None:
    """Why this process cannot use ``bpf()`` (None when it can): tries
    creating the smallest array map once."""
    from ._abi import MAP_TYPES

    try:
        map_create(map_type=MAP_TYPES["array"], key_size=4, value_size=4, max_entries=1,
                   what="probe").close()
    except KernelError as e:
        return str(e)
    return None


def _cstr(text: str | bytes) -> ctypes.Array:
    return ctypes.create_string_buffer(text.encode() if isinstance(text, str) else text)


# --- maps -----------------------------------------------------------------------

def map_create(*, what: str = "", **fields) -> FD:
    """``BPF_MAP_CREATE`` with ``bpf_attr`` fields (``map_type``,
    ``key_size``, ``value_size``, ``max_entries``, ``map_flags``,
    ``inner_map_fd``, ``map_name``, ``btf_fd``...)."""
    return _fd_call("map_create", ATTR["map_create"].new(**fields), what)


_elem_ops: tuple | None = None


def _elem():
    """(packer, size, command numbers) of the element operations, built once."""
    global _elem_ops
    if _elem_ops is None:
        layout = ATTR["map_elem"]
        _elem_ops = (layout.packer("map_fd", "key", "value", "flags").pack, layout.size,
                     COMMANDS["map_lookup_elem"], COMMANDS["map_update_elem"],
                     COMMANDS["map_delete_elem"], COMMANDS["map_get_next_key"],
                     COMMANDS["map_lookup_and_delete_elem"])
    return _elem_ops


def map_lookup_elem(fd: int, key: int, value: int, flags: int = 0, what: str = "") -> bool:
    """``BPF_MAP_LOOKUP_ELEM``: copy the value of the key at address ``key``
    to address ``value``.  False when there is no such key."""
    pack, size, cmd, *_ = _elem_ops or _elem()
    _ret, err = raw_bpf(cmd, pack(fd, key, value, flags), size)
    if err:
        if err == _errno.ENOENT:
            return False
        raise error("map_lookup_elem", err, what)
    return True


def map_update_elem(fd: int, key: int, value: int, flags: int = 0, what: str = "") -> None:
    """``BPF_MAP_UPDATE_ELEM`` with ``flags`` BPF_ANY, BPF_NOEXIST,
    BPF_EXIST, optionally or-ed with BPF_F_LOCK."""
    pack, size, _, cmd, *_ = _elem_ops or _elem()
    _ret, err = raw_bpf(cmd, pack(fd, key, value, flags), size)
    if err:
        raise error("map_update_elem", err, what)


def map_delete_elem(fd: int, key: int, what: str = "") -> bool:
    """``BPF_MAP_DELETE_ELEM``.  False when there is no such key."""
    pack, size, _, _, cmd, *_ = _elem_ops or _elem()
    _ret, err = raw_bpf(cmd, pack(fd, key, 0, 0), size)
    if err:
        if err == _errno.ENOENT:
            return False
        raise error("map_delete_elem", err, what)
    return True


def map_get_next_key(fd: int, key: int, next_key: int, what: str = "") -> bool:
    """``BPF_MAP_GET_NEXT_KEY``: write the key after the one at ``key`` (the
    first key when ``key`` is 0) to ``next_key``.  False at the end."""
    pack, size, _, _, _, cmd, _ = _elem_ops or _elem()
    _ret, err = raw_bpf(cmd, pack(fd, key, next_key, 0), size)
    if err:
        if err == _errno.ENOENT:
            return False
        raise error("map_get_next_key", err, what)
    return True


def map_lookup_and_delete_elem(fd: int, key: int, value: int, flags: int = 0,
                               what: str = "") -> bool:
    """``BPF_MAP_LOOKUP_AND_DELETE_ELEM`` (``key`` 0 pops a queue or
    stack).  False when there is no such key or the queue is empty."""
    pack, size, *_, cmd = _elem_ops or _elem()
    _ret, err = raw_bpf(cmd, pack(fd, key, value, flags), size)
    if err:
        if err == _errno.ENOENT:
            return False
        raise error("map_lookup_and_delete_elem", err, what)
    return True


def map_batch(cmd: str, *, what: str = "", **fields) -> tuple[int, bool]:
    """A ``BPF_MAP_*_BATCH`` command (``cmd`` is ``map_lookup_batch``,
    ``map_lookup_and_delete_batch``, ``map_update_batch`` or
    ``map_delete_batch``): ``(elements processed, reached the end)``.  The
    end of a lookup (ENOENT) is not an error."""
    attr = ATTR["batch"].new(**fields)
    _ret, err = raw_bpf(COMMANDS[cmd], attr.buf, attr.layout.size)
    if err:
        if err == _errno.ENOENT and cmd in ("map_lookup_batch", "map_lookup_and_delete_batch"):
            return attr.count, True
        raise error(cmd, err, what)
    return attr.count, False


def map_freeze(fd: int, what: str = "") -> None:
    """``BPF_MAP_FREEZE``: no more writes from user space."""
    call("map_freeze", ATTR["map_elem"].new(map_fd=fd), what)


# --- programs -------------------------------------------------------------------

def prog_load(*, insns: bytes, license: str = "GPL", log_level: int = 0,
              log_size: int | None = None, what: str = "", program: str | None = None,
              **fields) -> tuple[FD, str]:
    """``BPF_PROG_LOAD``: ``(fd, verifier log)``.

    ``insns`` is the bytecode; other ``bpf_attr`` fields (``prog_type``,
    ``expected_attach_type``, ``prog_flags``, ``prog_name``,
    ``prog_btf_fd``, ``func_info``...) pass through.  With ``log_level``
    (1, 2, or'ed with 4 for statistics) the log is kept, its buffer growing
    until the whole log fits.  A rejected program raises
    :class:`~pybpf.errors.VerifierError` with the log: a refusal at level 0
    is repeated at level 1 to fetch one (its last ``LOG_SIZE_RETRY`` bytes
    where the kernel keeps the tail of an overlong log).
    """
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = _cstr(license)
    level = log_level
    size = log_size or (LOG_SIZE_START if level else 0)
    first_err = 0
    again = 3
    while True:
        attr = ATTR["prog_load"].new(insns=ctypes.addressof(code), insn_cnt=len(insns) // 8,
                                     license=ctypes.addressof(lic), **fields)
        log = None
        if level:
            log = ctypes.create_string_buffer(size)
            attr.log_buf, attr.log_size, attr.log_level = ctypes.addressof(log), size, level
        ret, err = raw_bpf(COMMANDS["prog_load"], attr.buf, attr.layout.size)
        text = log.value.decode("utf-8", "replace") if log is not None else ""
        if not err:
            return FD(ret), text
        if err == _errno.EAGAIN and again:
            again -= 1
            continue
        retrying = first_err != 0
        if err == _errno.ENOSPC and level:
            if retrying and attr.log_true_size:
                err = first_err  # the kernel kept the log's tail: enough to say why
            elif size < LOG_SIZE_MAX:
                size = min(LOG_SIZE_MAX, max(attr.log_true_size, size * 4))
                continue
        elif not level and err in (_errno.EACCES, _errno.EINVAL, _errno.E2BIG):
            first_err, level, size = err, 1, LOG_SIZE_RETRY
            continue
        if text.strip():
            raise _verifier_error(text, first_err or err, program, what)
        raise error("prog_load", first_err or err, what)


def _verifier_error(log: str, err: int, program: str | None, what: str) -> VerifierError:
    from .verifier_log import summarize

    s = summarize(log)
    who = what or (f"program {program!r}" if program else "program")
    at = ""
    if s.pc is not None:
        at = f" at insn {s.pc}" + (f" ({s.insn})" if s.insn else "")
    return VerifierError(f"{who} rejected by the verifier{at}: {s.message}", log=log,
                         errno=err, program=program, pc=s.pc)


def prog_test_run(*, what: str = "", **fields) -> Record:
    """``BPF_PROG_TEST_RUN``: the attr record after the run (``retval``,
    ``duration``, ``data_size_out``, ``ctx_size_out``)."""
    attr = ATTR["test"].new(**fields)
    call("prog_test_run", attr, what)
    return attr


def prog_bind_map(prog_fd: int, map_fd: int, what: str = "") -> None:
    """``BPF_PROG_BIND_MAP``: keep a map alive as long as the program."""
    call("prog_bind_map", ATTR["prog_bind_map"].new(prog_fd=prog_fd, map_fd=map_fd), what)


# --- BTF ------------------------------------------------------------------------

def btf_load(data: bytes, *, log_level: int = 0, what: str = "") -> tuple[FD, str]:
    """``BPF_BTF_LOAD``: ``(fd, log)``.  A rejection raises
    :class:`~pybpf.errors.VerifierError` (operation ``BPF_BTF_LOAD``) with
    the kernel's BTF log, fetched at level 1 if none was asked for."""
    raw = ctypes.create_string_buffer(data, len(data))
    level = log_level
    size = LOG_SIZE_START if level else 0
    while True:
        attr = ATTR["btf_load"].new(btf=ctypes.addressof(raw), btf_size=len(data))
        log = None
        if level:
            log = ctypes.create_string_buffer(size)
            attr.btf_log_buf, attr.btf_log_size = ctypes.addressof(log), size
            attr.btf_log_level = level
        ret, err = raw_bpf(COMMANDS["btf_load"], attr.buf, attr.layout.size)
        text = log.value.decode("utf-8", "replace") if log is not None else ""
        if not err:
            return FD(ret), text
        if err == _errno.ENOSPC and level and size < LOG_SIZE_MAX:
            size = min(LOG_SIZE_MAX, max(attr.btf_log_true_size, size * 4))
            continue
        if not level and err in (_errno.EINVAL, _errno.EACCES):
            level, size = 1, LOG_SIZE_START
            continue
        lines = [ln for ln in text.splitlines() if ln.strip()]
        if lines:
            raise VerifierError(f"BPF_BTF_LOAD{' ' + what if what else ''}: the kernel "
                                f"rejected the BTF: {lines[-1]}", log=text, errno=err,
                                operation="BPF_BTF_LOAD")
        raise error("btf_load", err, what)


# --- pins -----------------------------------------------------------------------

def _c_path(path: str) -> ctypes.Array:
    raw = os.fsencode(path)
    if b"\0" in raw:  # the kernel would read a shorter path: another file
        raise BPFError(f"path {raw.split(bytes(1))[0]!r}... holds a NUL byte: refused")
    return _cstr(raw)


def obj_pin(fd: int, path: str, what: str = "") -> None:
    """``BPF_OBJ_PIN``: pin the object at ``path`` (inside a bpffs)."""
    name = _c_path(path)
    call("obj_pin", ATTR["obj"].new(pathname=ctypes.addressof(name), bpf_fd=fd),
         what or f"at {path}")


def obj_get(path: str, flags: int = 0, what: str = "") -> FD:
    """``BPF_OBJ_GET``: a new fd for the object pinned at ``path``
    (``flags`` BPF_F_RDONLY / BPF_F_WRONLY)."""
    name = _c_path(path)
    return _fd_call("obj_get", ATTR["obj"].new(pathname=ctypes.addressof(name),
                                               file_flags=flags), what or f"at {path}")


# --- ids and info ---------------------------------------------------------------

_KINDS = ("prog", "map", "link", "btf")


def get_next_id(kind: str, start: int = 0) -> int | None:
    """``BPF_{PROG,MAP,LINK,BTF}_GET_NEXT_ID``: the first id after
    ``start``, or None at the end."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
    cmd = f"{kind}_get_next_id"
    attr = ATTR["get_id"].new(start_id=start)
    _ret, err = raw_bpf(COMMANDS[cmd], attr.buf, attr.layout.size)
    if err:
        if err == _errno.ENOENT:
            return None
        raise error(cmd, err, f"after {kind} id {start}")
    return attr.next_id


def get_fd_by_id(kind: str, ident: int, flags: int = 0) -> FD:
    """``BPF_{PROG,MAP,LINK,BTF}_GET_FD_BY_ID``: a new fd for the object."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
    cmd = f"{kind}_get_fd_by_id"
    attr = ATTR["get_id"].new(start_id=ident, open_flags=flags)
    ret, err = raw_bpf(COMMANDS[cmd], attr.buf, attr.layout.size)
    if err:
        detail = f"no {kind} with id {ident} (it was unloaded)" \
            if err == _errno.ENOENT else ""
        raise error(cmd, err, f"{kind} id {ident}", detail)
    return FD(ret)


def obj_get_info_by_fd(fd: int, info: Record, what: str = "") -> Record:
    """``BPF_OBJ_GET_INFO_BY_FD``: fill ``info`` (a ``bpf_*_info`` record,
    with any array pointers and counts already set) and return it."""
    attr = ATTR["info"].new(bpf_fd=fd, info_len=info.layout.size, info=info.address)
    call("obj_get_info_by_fd", attr, what)
    return info


# --- attachments and links ------------------------------------------------------

def prog_attach(*, what: str = "", **fields) -> None:
    """``BPF_PROG_ATTACH`` (``target_fd``, ``attach_bpf_fd``,
    ``attach_type``, ``attach_flags``, ``replace_bpf_fd``...)."""
    call("prog_attach", ATTR["prog_attach"].new(**fields), what)


def prog_detach(*, what: str = "", **fields) -> None:
    """``BPF_PROG_DETACH`` (``target_fd``, ``attach_bpf_fd``, ``attach_type``)."""
    call("prog_detach", ATTR["prog_attach"].new(**fields), what)


def prog_query(*, target_fd: int, attach_type: int, query_flags: int = 0, max_progs: int = 64,
               what: str = "") -> tuple[Record, list[int]]:
    """``BPF_PROG_QUERY``: the query record (``attach_flags``,
    ``revision``...) and the ids of the attached programs."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = ATTR["query"].new(target_fd=target_fd, attach_type=attach_type,
                             query_flags=query_flags, prog_ids=ctypes.addressof(ids),
                             prog_cnt=max_progs)
    call("prog_query", attr, what)
    return attr, list(ids[:min(attr.prog_cnt, max_progs)])


def link_create(*, what: str = "", **fields) -> FD:
    """``BPF_LINK_CREATE`` (``prog_fd``, ``target_fd``/``target_ifindex``,
    ``attach_type``, ``flags`` and the per-link-type fields such as
    ``target_btf_id``, ``iter_info``, ``perf_event.bpf_cookie``)."""
    return _fd_call("link_create", ATTR["link_create"].new(**fields), what)


def link_update(link_fd: int, new_prog_fd: int, *, flags: int = 0, old_prog_fd: int = 0,
                what: str = "") -> None:
    """``BPF_LINK_UPDATE``: swap the program of a link (with BPF_F_REPLACE,
    only if ``old_prog_fd`` is the current one)."""
    call("link_update", ATTR["link_update"].new(link_fd=link_fd, new_prog_fd=new_prog_fd,
                                                flags=flags, old_prog_fd=old_prog_fd), what)


def link_detach(link_fd: int, what: str = "") -> None:
    """``BPF_LINK_DETACH``: detach the link's program; the fd stays valid."""
    call("link_detach", ATTR["link_detach"].new(link_fd=link_fd), what)


def raw_tracepoint_open(name: str | None, prog_fd: int, cookie: int = 0,
                        what: str = "") -> FD:
    """``BPF_RAW_TRACEPOINT_OPEN``: attach to raw tracepoint ``name`` (None
    for BTF-typed tracing programs that carry their target); a link fd."""
    buf = _cstr(name) if name else None
    attr = ATTR["raw_tracepoint"].new(name=ctypes.addressof(buf) if buf else 0,
                                      prog_fd=prog_fd, cookie=cookie)
    return _fd_call("raw_tracepoint_open", attr, what or f"tracepoint {name!r}")


def iter_create(link_fd: int, flags: int = 0, what: str = "") -> FD:
    """``BPF_ITER_CREATE``: a readable fd that runs an iterator link."""
    return _fd_call("iter_create", ATTR["iter_create"].new(link_fd=link_fd, flags=flags), what)


def enable_stats(stats_type: int = 0) -> FD:
    """``BPF_ENABLE_STATS``: run-time statistics stay on while the fd is open."""
    return _fd_call("enable_stats", ATTR["enable_stats"].new(type=stats_type))
