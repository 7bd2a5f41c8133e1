"""Calls and exits: helpers, bpf-to-bpf calls, references, locks, return values.

:func:`check_helper_call` checks a helper call against its prototype
(:mod:`pybpf.spec.helper_types`): whether the program type may call it,
each argument's type and the memory it names, the map it is given, then
sets r0 from the return type and clobbers r1-r5.  References (sockets,
ring buffer records) are acquired and released here; :func:`process_spin_lock`
pairs ``bpf_spin_lock``/``bpf_spin_unlock``.  :func:`check_func_call`
enters a subprogram (a new frame), :func:`prepare_func_exit` returns from
one, and :func:`check_return_code` applies the program type's rules to
r0 at the main program's exit.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from ..isa import Insn
from ..spec import helper_name
from ..spec.helper_types import HELPER_TYPES, helper_allowed, helper_gpl_only
from ..spec.verifier import BPF_MAX_VAR_SIZ, MAX_CALL_FRAMES
from . import scalar
from . import tnum as tn
from .env import DST_OP_NO_MARK, SRC_OP, Env
from .log import frame_state_str
from .loops import find_prev_entry, widen_imprecise_scalars
from .memory import (
    READ,
    WRITE,
    check_helper_mem_access,
    check_mem_access,
    check_ptr_alignment,
    check_ptr_off_reg,
    may_access_direct_pkt_data,
)
from .precision import mark_chain_precision, mark_stack_slot_precision
from .refs import (
    acquire_reference,
    check_resource_leak,
    clear_all_pkt_pointers,
    process_spin_lock,
    release_reference,
)
from .state import (
    BPF_REG_FP,
    CONST_PTR_TO_DYNPTR,
    CONST_PTR_TO_MAP,
    MEM_ALLOC,
    MEM_PERCPU,
    MEM_RCU,
    MEM_RDONLY,
    MEM_RINGBUF,
    NOT_INIT,
    NOT_INIT_REG,
    PTR_MAYBE_NULL,
    PTR_TO_BTF_ID,
    PTR_TO_BUF,
    PTR_TO_CTX,
    PTR_TO_FUNC,
    PTR_TO_MAP_KEY,
    PTR_TO_MAP_VALUE,
    PTR_TO_MEM,
    PTR_TO_PACKET,
    PTR_TO_PACKET_META,
    PTR_TO_SOCK_COMMON,
    PTR_TO_SOCKET,
    PTR_TO_STACK,
    PTR_TO_TCP_SOCK,
    PTR_TO_XDP_SOCK,
    PTR_TRUSTED,
    S64_MAX,
    S64_MIN,
    SCALAR_VALUE,
    FuncState,
    Reg,
    base_type,
    set_known,
    type_str,
)

CALLER_SAVED = (0, 1, 2, 3, 4, 5)
MAX_ERRNO = 4095


# --- prototypes ---------------------------------------------------------------------------

class ArgType(NamedTuple):
    """One argument type of a helper, parsed from the spec table."""

    base: str
    maybe_null: bool = False
    rdonly: bool = False
    uninit: bool = False
    write: bool = False
    release: bool = False
    aligned: bool = False
    fixed_size: int = 0
    btf_struct: str = ""


@functools.cache
def parse_arg(text: str) -> ArgType:
    base, *flags = text.split("|")
    fixed = 0
    struct = ""
    if "(" in base:
        base, _, size = base.partition("(")
        fixed = int(size.rstrip(")"))
    if ":" in base:
        base, _, struct = base.partition(":")
    maybe_null = "MAYBE_NULL" in flags
    for suffix in ("_OR_NULL",):
        if base.endswith(suffix):
            base = base.removesuffix(suffix)
            maybe_null = True
    if base == "PTR_TO_UNINIT_MEM":
        base = "PTR_TO_MEM"
        flags = [*flags, "UNINIT", "WRITE"]
    return ArgType(base, maybe_null, "RDONLY" in flags, "UNINIT" in flags, "WRITE" in flags,
                   "RELEASE" in flags, "ALIGNED" in flags, fixed, struct)


MEM_TYPES = (PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY, PTR_TO_MAP_VALUE,
             PTR_TO_MEM, PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF, PTR_TO_BTF_ID | PTR_TRUSTED)
SOCK_TYPES = (PTR_TO_SOCK_COMMON, PTR_TO_SOCKET, PTR_TO_TCP_SOCK, PTR_TO_XDP_SOCK)
BTF_SOCK_TYPES = (*SOCK_TYPES, PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED)
COMPATIBLE: dict[str, tuple[int, ...]] = {
    "PTR_TO_MAP_KEY": MEM_TYPES, "PTR_TO_MAP_VALUE": MEM_TYPES,
    "CONST_SIZE": (SCALAR_VALUE,), "CONST_SIZE_OR_ZERO": (SCALAR_VALUE,),
    "CONST_ALLOC_SIZE_OR_ZERO": (SCALAR_VALUE,), "CONST_MAP_PTR": (CONST_PTR_TO_MAP,),
    "PTR_TO_CTX": (PTR_TO_CTX,), "PTR_TO_SOCK_COMMON": SOCK_TYPES,
    "PTR_TO_BTF_ID_SOCK_COMMON": BTF_SOCK_TYPES, "PTR_TO_SOCKET": (PTR_TO_SOCKET,),
    "PTR_TO_BTF_ID": (PTR_TO_BTF_ID, PTR_TO_BTF_ID | PTR_TRUSTED, PTR_TO_BTF_ID | MEM_RCU),
    "PTR_TO_SPIN_LOCK": (PTR_TO_MAP_VALUE, PTR_TO_BTF_ID | MEM_ALLOC),
    "PTR_TO_MEM": MEM_TYPES, "PTR_TO_FIXED_SIZE_MEM": MEM_TYPES,
    "PTR_TO_RINGBUF_MEM": (PTR_TO_MEM | MEM_RINGBUF,),
    "PTR_TO_PERCPU_BTF_ID": (PTR_TO_BTF_ID | MEM_PERCPU,),
    "PTR_TO_FUNC": (PTR_TO_FUNC,), "PTR_TO_STACK": (PTR_TO_STACK,),
    "PTR_TO_CONST_STR": (PTR_TO_MAP_VALUE,), "PTR_TO_TIMER": (PTR_TO_MAP_VALUE,),
    "PTR_TO_DYNPTR": (PTR_TO_STACK, CONST_PTR_TO_DYNPTR),
}

ACQUIRE_HELPERS = frozenset({"sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp",
                             "ringbuf_reserve", "kptr_xchg"})
PTR_CAST_HELPERS = frozenset({"tcp_sock", "sk_fullsock", "skc_to_tcp_sock",
                              "skc_to_tcp6_sock", "skc_to_udp6_sock", "skc_to_mptcp_sock",
                              "skc_to_tcp_timewait_sock", "skc_to_tcp_request_sock"})
RECORD_MAP_HELPERS = frozenset({"tail_call", "map_lookup_elem", "map_update_elem",
                                "map_delete_elem", "map_push_elem", "map_pop_elem",
                                "map_peek_elem", "for_each_map_elem", "redirect_map",
                                "map_lookup_percpu_elem"})
RDONLY_FORBIDDEN = frozenset({"map_delete_elem", "map_update_elem", "map_push_elem",
                              "map_pop_elem"})

# which helpers each map type accepts, and which map types each helper accepts
MAP_HELPERS: dict[str, frozenset[str]] = {
    "prog_array": frozenset({"tail_call"}),
    "perf_event_array": frozenset({"perf_event_read", "perf_event_output", "skb_output",
                                   "perf_event_read_value", "xdp_output"}),
    "ringbuf": frozenset({"ringbuf_output", "ringbuf_reserve", "ringbuf_query",
                          "ringbuf_reserve_dynptr", "ringbuf_submit_dynptr",
                          "ringbuf_discard_dynptr"}),
    "user_ringbuf": frozenset({"user_ringbuf_drain"}),
    "stack_trace": frozenset({"get_stackid"}),
    "cgroup_array": frozenset({"skb_under_cgroup", "current_task_under_cgroup"}),
    "cgroup_storage": frozenset({"get_local_storage"}),
    "percpu_cgroup_storage": frozenset({"get_local_storage"}),
    "devmap": frozenset({"redirect_map", "map_lookup_elem"}),
    "devmap_hash": frozenset({"redirect_map", "map_lookup_elem"}),
    "cpumap": frozenset({"redirect_map"}),
    "xskmap": frozenset({"redirect_map", "map_lookup_elem"}),
    "array_of_maps": frozenset({"map_lookup_elem"}),
    "hash_of_maps": frozenset({"map_lookup_elem"}),
    "sockmap": frozenset({"sk_redirect_map", "sock_map_update", "msg_redirect_map",
                          "sk_select_reuseport", "map_lookup_elem", "map_update_elem",
                          "map_delete_elem"}),
    "sockhash": frozenset({"sk_redirect_hash", "sock_hash_update", "msg_redirect_hash",
                           "sk_select_reuseport", "map_lookup_elem", "map_update_elem",
                           "map_delete_elem"}),
    "reuseport_sockarray": frozenset({"sk_select_reuseport"}),
    "queue": frozenset({"map_peek_elem", "map_pop_elem", "map_push_elem"}),
    "stack": frozenset({"map_peek_elem", "map_pop_elem", "map_push_elem"}),
    "sk_storage": frozenset({"sk_storage_get", "sk_storage_delete", "kptr_xchg"}),
    "bloom_filter": frozenset({"map_peek_elem", "map_push_elem"}),
}
HELPER_MAPS: dict[str, frozenset[str]] = {
    "tail_call": frozenset({"prog_array"}),
    "perf_event_read": frozenset({"perf_event_array"}),
    "perf_event_output": frozenset({"perf_event_array"}),
    "perf_event_read_value": frozenset({"perf_event_array"}),
    "skb_output": frozenset({"perf_event_array"}),
    "xdp_output": frozenset({"perf_event_array"}),
    "ringbuf_output": frozenset({"ringbuf"}), "ringbuf_reserve": frozenset({"ringbuf"}),
    "ringbuf_query": frozenset({"ringbuf"}),
    "get_stackid": frozenset({"stack_trace"}),
    "current_task_under_cgroup": frozenset({"cgroup_array"}),
    "skb_under_cgroup": frozenset({"cgroup_array"}),
    "redirect_map": frozenset({"devmap", "devmap_hash", "cpumap", "xskmap"}),
    "sk_redirect_map": frozenset({"sockmap"}), "msg_redirect_map": frozenset({"sockmap"}),
    "sock_map_update": frozenset({"sockmap"}),
    "sk_redirect_hash": frozenset({"sockhash"}), "msg_redirect_hash": frozenset({"sockhash"}),
    "sock_hash_update": frozenset({"sockhash"}),
    "get_local_storage": frozenset({"cgroup_storage", "percpu_cgroup_storage"}),
    "sk_select_reuseport": frozenset({"reuseport_sockarray", "sockmap", "sockhash"}),
    "map_pop_elem": frozenset({"queue", "stack"}),
    "map_peek_elem": frozenset({"queue", "stack", "bloom_filter"}),
    "map_push_elem": frozenset({"queue", "stack", "bloom_filter"}),
    "map_lookup_percpu_elem": frozenset({"percpu_array", "percpu_hash", "lru_percpu_hash"}),
    "sk_storage_get": frozenset({"sk_storage"}), "sk_storage_delete": frozenset({"sk_storage"}),
}

FOR_EACH_MAP_TYPES = frozenset({"array", "percpu_array", "hash", "percpu_hash", "lru_hash",
                                "lru_percpu_hash"})
"""Map types ``bpf_for_each_map_elem`` can walk."""


def map_type_number(name: str) -> int:
    from ..spec import enum_values

    return enum_values("bpf_map_type").get(f"BPF_MAP_TYPE_{name.upper()}", 0)


def func_id_name(func_id: int) -> str:
    name = helper_name(func_id) if func_id >= 0 else None
    return f"bpf_{name}" if name and name != "unspec" else "unknown"


def process_timer_func(env: Env, regno: int, meta: dict) -> None:
    reg = env.regs[regno]
    m = reg.map
    if reg.var_off[1]:
        raise env.error(f"R{regno} doesn't have constant offset. bpf_timer has to be at the "
                        f"constant offset", "EINVAL")
    if m is None or (not m.special_fields and m.btf_value_type is None):
        raise env.error(f"map '{m.kernel_name if m else ''}' has to have BTF in order to use "
                        f"bpf_timer", "EINVAL")
    off = m.field_at("bpf_timer")
    if off is None:
        raise env.error(f"map '{m.kernel_name}' has no valid bpf_timer", "EINVAL")
    val = reg.var_off[0] + reg.off
    if off != val:
        raise env.error(f"off {val} doesn't point to 'struct bpf_timer' that is at {off}",
                        "EINVAL")
    if meta.get("map_ptr") is not None:
        raise env.error("verifier bug. Two map pointers in a timer helper", "EFAULT")
    meta["map_uid"] = reg.map_uid
    meta["map_ptr"] = m


# --- helper calls ---------------------------------------------------------------------------

def _register_is_null(r: Reg) -> bool:
    return r.type == SCALAR_VALUE and r.var_off == (0, 0)


def check_reg_type(env: Env, regno: int, arg: ArgType, meta: dict) -> None:
    reg = env.regs[regno]
    compatible = COMPATIBLE.get(arg.base)
    if compatible is None:
        raise env.error(f"verifier internal error: unsupported arg type {arg.base}", "EFAULT")
    t = reg.type
    if arg.rdonly:
        t &= ~MEM_RDONLY
    if arg.maybe_null:
        t &= ~PTR_MAYBE_NULL
    if t in compatible:
        if base_type(t) == PTR_TO_BTF_ID and arg.base == "PTR_TO_BTF_ID" and arg.btf_struct \
                and reg.btf_id != arg.btf_struct:
            raise env.error(f"R{regno} is of type {reg.btf_id} but {arg.btf_struct} is "
                            f"expected")
        return
    expected = ", ".join(type_str(x) for x in compatible)
    raise env.error(f"R{regno} type={type_str(reg.type)} expected={expected}")


OFFSET_OK_TYPES = frozenset({PTR_TO_STACK, PTR_TO_PACKET, PTR_TO_PACKET_META, PTR_TO_MAP_KEY,
                             PTR_TO_MAP_VALUE, PTR_TO_MEM, PTR_TO_MEM | MEM_RDONLY,
                             PTR_TO_MEM | MEM_RINGBUF, PTR_TO_BUF, PTR_TO_BUF | MEM_RDONLY,
                             SCALAR_VALUE})


def check_func_arg_reg_off(env: Env, reg: Reg, regno: int, arg: ArgType) -> None:
    if arg.release:
        if reg.off:
            raise env.error(f"R{regno} must have zero offset when passed to release func or "
                            f"trusted arg to kfunc", "EINVAL")
        check_ptr_off_reg(env, reg, regno, False)
        return
    if reg.type in OFFSET_OK_TYPES:
        return
    if base_type(reg.type) == PTR_TO_BTF_ID:
        check_ptr_off_reg(env, reg, regno, True)
        return
    check_ptr_off_reg(env, reg, regno, False)


def check_mem_size_reg(env: Env, reg: Reg, regno: int, t: int, zero_size_allowed: bool,
                       meta: dict) -> None:
    meta["msize_max_value"] = reg.umax
    raw = meta.get("raw_mode", False) if reg.var_off[1] == 0 else False
    if reg.smin < 0:
        raise env.error(f"R{regno} min value is negative, either use unsigned or 'var &= "
                        f"const'")
    if reg.umin == 0 and not zero_size_allowed:
        raise env.error(f"R{regno} invalid zero-sized read: u64=[{reg.umin},{reg.umax}]")
    if reg.umax >= BPF_MAX_VAR_SIZ:
        raise env.error(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < "
                        f"const)'")
    if check_helper_mem_access(env, regno - 1, reg.umax, t, zero_size_allowed, raw_mode=raw):
        meta["access_size"] = reg.umax
        meta["access_regno"] = regno - 1
    mark_chain_precision(env, regno)


def check_func_arg(env: Env, i: int, fn_args: tuple[str, ...], meta: dict) -> None:
    if i >= len(fn_args):
        return
    regno = i + 1
    arg = parse_arg(fn_args[i])
    env.check_reg_arg(regno, SRC_OP)
    regs = env.regs
    reg = regs[regno]
    if arg.base == "ANYTHING":
        if env.is_pointer_value(regno):
            raise env.error(f"R{regno} leaks addr into helper function")
        return
    if arg.base == "PTR_TO_MEM" and arg.uninit:
        meta["raw_mode"] = True
    if reg.type in (PTR_TO_PACKET, PTR_TO_PACKET_META) and \
            not may_access_direct_pkt_data(env, meta["pkt_access"], READ):
        raise env.error("helper access to the packet is not allowed")
    if arg.base == "PTR_TO_MAP_VALUE":
        m = meta.get("map_ptr")
        if m is None:
            raise env.error("invalid map_ptr to access map->type", "EFAULT")
        if m.type in ("sockmap", "sockhash"):
            if arg.maybe_null or arg.uninit:
                raise env.error("invalid arg_type for sockmap/sockhash", "EINVAL")
            arg = ArgType("PTR_TO_BTF_ID_SOCK_COMMON")
        elif m.type == "bloom_filter" and meta["name"] == "map_peek_elem":
            arg = arg._replace(uninit=True)
    skip = _register_is_null(reg) and arg.maybe_null
    if skip:
        # NULL is allowed here, and only because the register is exactly 0
        mark_chain_precision(env, regno)
    else:
        check_reg_type(env, regno, arg, meta)
        check_func_arg_reg_off(env, reg, regno, arg)
    if arg.release:
        if not reg.ref_obj_id and not _register_is_null(reg):
            raise env.error(f"R{regno} must be referenced when passed to release function",
                            "EINVAL")
        meta["release_regno"] = regno
    if reg.ref_obj_id:
        if meta.get("ref_obj_id"):
            raise env.error(f"more than one arg with ref_obj_id R{regno} {reg.ref_obj_id} "
                            f"{meta['ref_obj_id']}", "EFAULT")
        meta["ref_obj_id"] = reg.ref_obj_id
    b = arg.base
    if b == "CONST_MAP_PTR":
        prev = meta.get("map_ptr")
        if prev is not None and (prev is not reg.map or meta.get("map_uid") != reg.map_uid):
            raise env.error(f"timer pointer in R1 map_uid={meta.get('map_uid')} doesn't match "
                            f"map pointer in R2 map_uid={reg.map_uid}", "EINVAL")
        meta["map_ptr"] = reg.map
        meta["map_uid"] = reg.map_uid
    elif b == "PTR_TO_MAP_KEY":
        m = meta.get("map_ptr")
        if m is None:
            raise env.error("invalid map_ptr to access map->key", "EFAULT")
        check_helper_mem_access(env, regno, m.key_size, READ, False)
        if m.type in ("array", "percpu_array"):
            meta["const_key"] = _constant_map_key(env, reg, m.key_size)
    elif b == "PTR_TO_MAP_VALUE":
        if skip:
            return
        m = meta["map_ptr"]
        raw = arg.uninit
        if check_helper_mem_access(env, regno, m.value_size, WRITE if arg.write else READ,
                                   False, raw_mode=raw):
            meta["access_size"] = m.value_size
            meta["access_regno"] = regno
    elif b == "PTR_TO_SPIN_LOCK":
        if meta["name"] == "spin_lock":
            process_spin_lock(env, regno, True)
        else:
            process_spin_lock(env, regno, False)
    elif b == "PTR_TO_TIMER":
        process_timer_func(env, regno, meta)
    elif b == "PTR_TO_FUNC":
        meta["subprogno"] = reg.subprogno
    elif b in ("PTR_TO_MEM", "PTR_TO_FIXED_SIZE_MEM"):
        if arg.fixed_size:
            if skip:
                return
            if check_helper_mem_access(env, regno, arg.fixed_size, WRITE if arg.write else READ,
                                       False, raw_mode=arg.uninit):
                meta["access_size"] = arg.fixed_size
                meta["access_regno"] = regno
            if arg.aligned:
                check_ptr_alignment(env, reg, 0, arg.fixed_size, True)
    elif b in ("CONST_SIZE", "CONST_SIZE_OR_ZERO"):
        prev = parse_arg(fn_args[i - 1])
        check_mem_size_reg(env, reg, regno, WRITE if prev.write else READ,
                           b == "CONST_SIZE_OR_ZERO", meta)
    elif b == "CONST_ALLOC_SIZE_OR_ZERO":
        if reg.var_off[1]:
            raise env.error(f"R{regno} is not a known constant'")
        meta["mem_size"] = reg.var_off[0]
        mark_chain_precision(env, regno)
    elif b == "PTR_TO_CONST_STR":
        _check_const_str(env, reg, regno)


def _constant_map_key(env: Env, reg: Reg, key_size: int) -> int:
    """The key's value when the stack holds it as a known constant (zeroed
    bytes or a spilled constant of the key's size), else -1; an array
    lookup with such a key in range cannot fail."""
    if not env.bpf_capable or reg.type != PTR_TO_STACK or reg.var_off[1]:
        return -1
    state = env.func_of(reg)
    v = reg.var_off[0]
    stack_off = reg.off + (v - (1 << 64) if v >> 63 else v)
    slot = -stack_off - 1
    spi, off = divmod(slot, 8)
    if spi >= len(state.stack) or spi < 0:
        return -1
    st = state.stack[spi]
    kinds = st.kinds
    zero = 0
    i = off
    while i >= 0 and kinds[i] == "0":
        zero += 1
        i -= 1
    if zero >= key_size:
        return 0
    if kinds[7] != "r" or st.reg is None or st.reg.type != SCALAR_VALUE:
        return -1
    spill = 0
    i = off
    while i >= 0 and kinds[i] == "r":
        spill += 1
        i -= 1
    if spill != key_size or st.reg.var_off[1]:
        return -1
    mark_stack_slot_precision(env, reg.frameno, spi)
    return st.reg.var_off[0]


def _check_const_str(env: Env, reg: Reg, regno: int) -> None:
    m = reg.map
    if m is None or reg.type != PTR_TO_MAP_VALUE:
        return
    if not (m.rdonly_prog and m.frozen):
        raise env.error(f"R{regno} does not point to a readonly map'")
    if reg.var_off[1]:
        raise env.error(f"R{regno} is not a constant address'")
    off = reg.off + reg.var_off[0]
    data = m.contents or b""
    if b"\0" not in data[off:]:
        raise env.error("string is not zero-terminated")


def check_helper_call(env: Env, insn: Insn) -> None:
    """A call of a helper function (``call N``)."""
    func_id = insn.imm
    name = helper_name(func_id) if func_id >= 0 else None
    display = func_id_name(func_id)
    max_id = max(_helper_ids())
    if func_id < 0 or func_id > max_id:
        raise env.error(f"invalid func {display}#{func_id}", "EINVAL")
    proto = HELPER_TYPES.get(name or "")
    if proto is None or not helper_allowed(env.prog_type, name or "",
                                           cap_bpf=env.bpf_capable,
                                           cap_perfmon=env.bpf_capable):
        raise env.error(f"program of this type cannot use helper {display}#{func_id}",
                        "EINVAL")
    if helper_gpl_only(env.prog_type, name or "") and not env.gpl_compatible():
        raise env.error("cannot call GPL-restricted function from non-GPL compatible program",
                        "EINVAL")
    if "sleep" in proto.flags and not env.opts.sleepable:
        raise env.error("helper call might sleep in a non-sleepable prog", "EINVAL")
    meta: dict[str, Any] = {"pkt_access": "pkt" in proto.flags, "name": name,
                            "func_id": func_id, "map_ptr": None, "map_uid": 0,
                            "raw_mode": False, "access_size": 0, "access_regno": 0,
                            "release_regno": 0, "ref_obj_id": 0, "mem_size": 0,
                            "msize_max_value": 0, "const_key": -1, "subprogno": 0}
    env.helpers_seen.add(func_id)
    for i in range(5):
        check_func_arg(env, i, proto.args, meta)
    _record_func_map(env, meta, name)
    if meta["access_size"]:
        for i in range(meta["access_size"]):
            check_mem_access(env, meta["access_regno"], i, 1, WRITE, -1)
    regs = env.regs
    if meta["release_regno"]:
        ok = False
        if meta["ref_obj_id"]:
            ok = release_reference(env, meta["ref_obj_id"])
        elif _register_is_null(regs[meta["release_regno"]]):
            ok = True
        if not ok:
            raise env.error(f"func {display}#{func_id} reference has not been acquired before",
                            "EINVAL")
    if name == "tail_call":
        check_resource_leak(env, False, True, "tail_call")
        env.has_tail_call = True
    elif name == "get_local_storage":
        if not _register_is_null(regs[2]):
            raise env.error("get_local_storage() doesn't support non-zero flags", "EINVAL")
    elif name == "loop":
        _update_loop_inline_state(env, meta["subprogno"])
        # whether the loop has run its course depends on r1: keep it exact
        mark_chain_precision(env, 1)
        frame = env.cur.frame[env.cur.curframe]
        if frame.callback_depth < env.regs[1].umax:
            push_callback_call(env, insn, name, meta)
        else:
            frame.callback_depth = 0
            if env.log.level >= 2:
                env.log.line(f"frame{env.cur.curframe} bpf_loop iteration limit reached")
    elif name in ("for_each_map_elem", "timer_set_callback", "find_vma", "user_ringbuf_drain"):
        push_callback_call(env, insn, name, meta)
    regs = env.regs
    for r in CALLER_SAVED:
        regs[r] = NOT_INIT_REG
        env.scratch_reg(r)
    ret = proto.ret
    r0 = _return_reg(env, ret, meta, name, func_id, display)
    regs[0] = r0
    if r0.type & PTR_MAYBE_NULL:
        r0.id = env.new_id()
    if name in PTR_CAST_HELPERS:
        r0.ref_obj_id = meta["ref_obj_id"]
    elif name in ACQUIRE_HELPERS or (name == "map_lookup_elem" and meta["map_ptr"] is not None
                                     and meta["map_ptr"].type in ("sockmap", "sockhash")):
        ref = acquire_reference(env, env.insn_idx)
        r0.id = ref
        r0.ref_obj_id = ref
    if ret == "INTEGER":
        if name in ("get_stack", "get_task_stack", "probe_read_str", "probe_read_kernel_str",
                    "probe_read_user_str"):
            m = meta["msize_max_value"]
            r0.smax = m
            r0.s32_max = scalar.s32(m) if m <= (1 << 31) - 1 else (1 << 31) - 1
            r0.smin = -MAX_ERRNO
            r0.s32_min = -MAX_ERRNO
            scalar.sync(r0)
        elif name == "get_smp_processor_id":
            n = env.nr_cpu_ids - 1
            r0.umax = r0.u32_max = r0.smax = r0.s32_max = n
            r0.umin = r0.u32_min = r0.smin = r0.s32_min = 0
            scalar.sync(r0)
    _check_map_func_compatibility(env, meta["map_ptr"], name, func_id, display)
    if "pkt_data" in proto.flags:
        clear_all_pkt_pointers(env)
        env.changes_pkt_data = True


@functools.cache
def _helper_ids() -> dict[int, str]:
    from ..spec import helpers

    return helpers()


def _record_func_map(env: Env, meta: dict, name: str | None) -> None:
    if name not in RECORD_MAP_HELPERS:
        return
    m = meta["map_ptr"]
    if m is None:
        raise env.error("kernel subsystem misconfigured verifier", "EINVAL")
    if m.rdonly_prog and name in RDONLY_FORBIDDEN:
        raise env.error("write into map forbidden")
    aux = env.aux[env.insn_idx]
    if aux.map_ptr is None:
        aux.map_ptr = m
    elif aux.map_ptr is not m:
        aux.map_ptr = "poison"


def _return_reg(env: Env, ret: str, meta: dict, name: str | None, func_id: int,
                display: str) -> Reg:
    if ret == "INTEGER":
        return env.unknown()
    if ret == "VOID":
        return NOT_INIT_REG
    r = env.known(0)
    r.precise = False
    maybe_null = ret.endswith("_OR_NULL") or "_OR_NULL:" in ret
    base = ret.split(":")[0].removesuffix("_OR_NULL")
    flag = PTR_MAYBE_NULL if maybe_null else 0
    if base == "PTR_TO_MAP_VALUE":
        m = meta["map_ptr"]
        if m is None:
            raise env.error("kernel subsystem misconfigured verifier", "EINVAL")
        if name == "map_lookup_elem" and m.type in ("array", "percpu_array") and \
                0 <= meta["const_key"] < m.max_entries:
            flag = 0
        r.map = m
        r.map_uid = meta["map_uid"]
        r.type = PTR_TO_MAP_VALUE | flag
        if not flag and m.has("bpf_spin_lock"):
            r.id = env.new_id()
    elif base == "PTR_TO_SOCKET":
        r.type = PTR_TO_SOCKET | flag
    elif base == "PTR_TO_SOCK_COMMON":
        r.type = PTR_TO_SOCK_COMMON | flag
    elif base == "PTR_TO_TCP_SOCK":
        r.type = PTR_TO_TCP_SOCK | flag
    elif base == "PTR_TO_RINGBUF_MEM":
        r.type = PTR_TO_MEM | MEM_RINGBUF | flag
        r.mem_size = meta["mem_size"]
    elif base in ("PTR_TO_BTF_ID", "PTR_TO_BTF_ID_TRUSTED"):
        r.type = PTR_TO_BTF_ID | flag | (PTR_TRUSTED if base.endswith("TRUSTED") else 0)
        r.btf_id = ret.split(":")[1] if ":" in ret else ""
    else:
        raise env.error(f"verifier internal error: unknown return type {ret} of func "
                        f"{display}#{func_id}", "EFAULT")
    return r


def _check_map_func_compatibility(env: Env, m: Any, name: str | None, func_id: int,
                                  display: str) -> None:
    if m is None:
        return
    allowed = MAP_HELPERS.get(m.type)
    ok = allowed is None or name in allowed
    if ok and name in HELPER_MAPS and m.type not in HELPER_MAPS[name]:
        ok = False
    if not ok:
        raise env.error(f"cannot pass map_type {map_type_number(m.type)} into func "
                        f"{display}#{func_id}", "EINVAL")


# --- callbacks and global functions -------------------------------------------------------

def push_callback_call(env: Env, insn: Insn, name: str, meta: dict) -> None:
    """A helper that calls a program function back.  A synchronous callback
    (``bpf_loop``, ``bpf_for_each_map_elem``, ``bpf_find_vma``) is walked
    as a new frame queued from the call, while this path continues as if it
    were never called; its ``exit`` comes back to the call instruction, so
    the call is walked again until the states converge (or, for
    ``bpf_loop``, until the loop count is reached).  A timer callback runs
    later on its own: it is queued as a path with only its own frame."""
    if name == "user_ringbuf_drain":
        raise env.unmodelled("bpf_user_ringbuf_drain (dynptrs)", "pybpf: "
                             "bpf_user_ringbuf_drain needs dynptrs, not supported yet")
    set_state = CALLBACK_STATE_SETTERS[name]
    sub = meta["subprogno"]
    sp = env.subprogs[sub]
    sp.is_cb = True
    state = env.cur
    caller = state.frame[state.curframe]
    if name == "timer_set_callback":
        sp.is_async_cb = True
        callee = FuncState(0, -1, sub)
        callee.regs[BPF_REG_FP] = _frame_pointer(0)
        callee.async_entry_cnt = caller.async_entry_cnt + 1
        set_state(env, caller, callee, meta)
        env.push_fresh_state([callee], sp.start, env.insn_idx)
        return
    st = env.push_stack(sp.start, env.insn_idx, False)
    if st.curframe + 1 >= MAX_CALL_FRAMES:
        raise env.error(f"the call stack of {st.curframe + 2} frames is too deep", "E2BIG")
    callee = FuncState(st.curframe + 1, env.insn_idx, sub)
    callee.regs[BPF_REG_FP] = _frame_pointer(st.curframe + 1)
    set_state(env, st.frame[st.curframe], callee, meta)
    st.frame.append(callee)
    st.curframe += 1
    st.callback_unroll_depth += 1
    st.frame[st.curframe - 1].callback_depth += 1
    caller.callback_depth = 0


def _update_loop_inline_state(env: Env, subprogno: int) -> None:
    """Whether this ``bpf_loop`` call could be inlined (flags always 0, the
    same callback): the kernel's bookkeeping, which marks r4 precise."""
    aux = env.aux[env.insn_idx]
    if not aux.loop_inline:
        aux.loop_inline = (_loop_flag_is_zero(env), subprogno)
    elif aux.loop_inline[0]:
        first = aux.loop_inline[1]
        aux.loop_inline = (_loop_flag_is_zero(env) and first == subprogno, first)


def _loop_flag_is_zero(env: Env) -> bool:
    if _register_is_null(env.regs[4]):
        mark_chain_precision(env, 4)
        return True
    return False


def _known_zero(type_: int, m: Any = None) -> Reg:
    r = Reg(type_)
    set_known(r, 0)
    r.map = m
    return r


def _set_loop_callback_state(env: Env, caller: FuncState, callee: FuncState,
                             meta: dict) -> None:
    # callback(u32 index, void *ctx)
    callee.regs[1] = env.unknown()
    callee.regs[2] = caller.regs[3]
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def _set_map_elem_callback_state(env: Env, caller: FuncState, callee: FuncState,
                                 meta: dict) -> None:
    # callback(struct bpf_map *map, void *key, void *value, void *ctx)
    m = meta["map_ptr"]
    if m is None or m.type not in FOR_EACH_MAP_TYPES:
        raise env.error("callback function not allowed for map", "ENOTSUPP")
    callee.regs[1] = caller.regs[1]
    callee.regs[2] = _known_zero(PTR_TO_MAP_KEY, m)
    callee.regs[3] = _known_zero(PTR_TO_MAP_VALUE, m)
    callee.regs[3].id = env.new_id()
    callee.regs[4] = caller.regs[3]
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


def _set_timer_callback_state(env: Env, caller: FuncState, callee: FuncState,
                              meta: dict) -> None:
    # callback(struct bpf_map *map, void *key, void *value), run later
    m = caller.regs[1].map
    callee.regs[1] = _known_zero(CONST_PTR_TO_MAP, m)
    callee.regs[2] = _known_zero(PTR_TO_MAP_KEY, m)
    callee.regs[3] = _known_zero(PTR_TO_MAP_VALUE, m)
    callee.regs[3].id = env.new_id()
    callee.in_async_callback_fn = True
    callee.callback_ret_range = (0, 0)


def _set_find_vma_callback_state(env: Env, caller: FuncState, callee: FuncState,
                                 meta: dict) -> None:
    # callback(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
    callee.regs[1] = caller.regs[1]
    vma = _known_zero(PTR_TO_BTF_ID)
    vma.btf_id = "vm_area_struct"
    callee.regs[2] = vma
    callee.regs[3] = caller.regs[4]
    callee.in_callback_fn = True
    callee.callback_ret_range = (0, 1)


CALLBACK_STATE_SETTERS = {
    "loop": _set_loop_callback_state,
    "for_each_map_elem": _set_map_elem_callback_state,
    "timer_set_callback": _set_timer_callback_state,
    "find_vma": _set_find_vma_callback_state,
}
"""How each callback-calling helper sets up its callback's registers."""


def check_global_call_args(env: Env, sub: int, regs: list[Reg]) -> None:
    """Arguments of a call to a global function against its BTF parameter
    types (the kernel's ``btf_check_subprog_call``): scalars, the context,
    or memory of the parameter's size (or NULL)."""
    args = env.func_args.get(env.subprogs[sub].start)
    bad = args is None
    for i, (kind, size) in enumerate(args or [], start=1):
        if i > 5:
            bad = True
            break
        r = regs[i]
        if r.type == NOT_INIT:
            raise env.error(f"R{i} !read_ok")
        if kind == "scalar":
            if r.type != SCALAR_VALUE:
                env.verbose(f"R{i} is not a scalar")
                bad = True
        elif kind == "ctx":
            if r.type != PTR_TO_CTX:
                env.verbose(f"arg#{i - 1} expects pointer to ctx")
                bad = True
        elif kind == "mem":
            if not _register_is_null(r):
                check_helper_mem_access(env, i, size, READ, False)
        else:
            bad = True
    if bad:
        raise env.error(f"Caller passes invalid args into func#{sub} "
                        f"('{env.subprog_name(sub)}')", "EINVAL")


# --- bpf-to-bpf calls ---------------------------------------------------------------------

def clear_caller_saved(env: Env, regs: list[Reg]) -> None:
    for r in CALLER_SAVED:
        regs[r] = NOT_INIT_REG
        env.scratch_reg(r)


def check_func_call(env: Env, insn: Insn) -> int:
    """A bpf-to-bpf call: enter the callee (returns the next insn index)."""
    target = env.insn_idx + insn.imm + 1
    sub = env.subprog_index(target)
    state = env.cur
    caller = state.frame[state.curframe]
    sp = env.subprogs[sub]
    if sp.is_global:
        if state.active_locks:
            raise env.error("global function calls are not allowed while holding a lock,\n"
                            "use static function instead", "EINVAL")
        check_global_call_args(env, sub, caller.regs)
        if env.log:
            env.log.line(f"Func#{sub} ('{env.subprog_name(sub)}') is global and assumed valid.")
        if sp.changes_pkt_data:
            clear_all_pkt_pointers(env)
        sp.visited = True
        clear_caller_saved(env, caller.regs)
        caller.regs[0] = env.unknown()
        return env.insn_idx + 1
    if state.curframe + 1 >= MAX_CALL_FRAMES:
        raise env.error(f"the call stack of {state.curframe + 2} frames is too deep", "E2BIG")
    callee = FuncState(state.curframe + 1, env.insn_idx, sub)
    callee.regs[BPF_REG_FP] = _frame_pointer(state.curframe + 1)
    for i in range(1, 6):
        callee.regs[i] = caller.regs[i]
    state.frame.append(callee)
    clear_caller_saved(env, caller.regs)
    state.curframe += 1
    if env.log:
        env.log.line("caller:")
        env.log.line(" " + frame_state_str(state, caller.frameno))
        env.log.line("callee:")
        env.log.line(" " + frame_state_str(state, callee.frameno))
    return sp.start


def _frame_pointer(frameno: int) -> Reg:
    r = Reg(PTR_TO_STACK)
    set_known(r, 0)
    r.frameno = frameno
    return r


def prepare_func_exit(env: Env) -> int:
    """``exit`` from a subprogram: back to the caller (returns the next
    insn index)."""
    state = env.cur
    callee = state.frame[state.curframe]
    r0 = callee.regs[0]
    if r0.type == PTR_TO_STACK:
        raise env.error("cannot return stack pointer to the caller", "EINVAL")
    caller = state.frame[state.curframe - 1]
    in_callback = False
    if callee.in_callback_fn:
        if r0.type != SCALAR_VALUE:
            raise env.error("R0 not a scalar value")
        mark_chain_precision(env, 0)
        lo, hi = callee.callback_ret_range
        r0 = env.regs[0]
        if not (lo <= r0.smin and r0.smax <= hi):
            raise env.error(_invalid_scalar_text(r0, (lo, hi), "At callback return", "R0"),
                            "EINVAL")
        nxt = callee.callsite
        in_callback = True
    else:
        caller.regs[0] = r0
        nxt = callee.callsite + 1
    if env.log:
        env.log.line("returning from callee:")
        env.log.line(" " + frame_state_str(state, callee.frameno))
        env.log.line(f"to caller at {nxt}:")
        env.log.line(" " + frame_state_str(state, caller.frameno))
    state.frame.pop()
    state.curframe -= 1
    if in_callback:
        prev = find_prev_entry(env, state, nxt)
        if prev is not None:
            widen_imprecise_scalars(env, prev, state)
    return nxt


def _invalid_scalar_text(reg: Reg, rng: tuple[int, int], ctx: str, name: str) -> str:
    text = f"{ctx} the register {name} has"
    unknown = True
    if reg.smin > S64_MIN:
        text += f" smin={reg.smin}"
        unknown = False
    if reg.smax < S64_MAX:
        text += f" smax={reg.smax}"
        unknown = False
    if unknown:
        text += " unknown scalar value"
    return text + f" should have been in [{rng[0]}, {rng[1]}]"


def retval_range(env: Env) -> tuple[int, int] | None:
    """The range r0 must be in at the main program's exit, or None."""
    pt = env.prog_type
    at = env.attach_type or ""
    if pt == "cgroup_sock_addr":
        if at in ("cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg", "cgroup_unix_recvmsg",
                  "cgroup_inet4_getpeername", "cgroup_inet6_getpeername",
                  "cgroup_unix_getpeername", "cgroup_inet4_getsockname",
                  "cgroup_inet6_getsockname", "cgroup_unix_getsockname"):
            return (1, 1)
        if at in ("cgroup_inet4_bind", "cgroup_inet6_bind"):
            return (0, 3)
        return (0, 1)
    if pt == "cgroup_skb":
        if at == "cgroup_inet_egress":
            return (0, 3)
        return (0, 1)
    if pt in ("cgroup_sock", "sock_ops", "cgroup_device", "cgroup_sysctl", "cgroup_sockopt"):
        return (0, 1)
    if pt == "raw_tracepoint":
        return None if not at else (0, 1)
    if pt == "tracing":
        if at in ("trace_fentry", "trace_fexit"):
            return (0, 0)
        if at == "trace_iter":
            return (0, 1)
        return None
    if pt == "kprobe":
        if at in ("trace_kprobe_session", "trace_uprobe_session"):
            return (0, 1)
        return None
    if pt == "sk_lookup":
        return (0, 1)
    if pt == "netfilter":
        return (0, 1)
    return None


def check_return_code(env: Env) -> None:
    env.check_reg_arg(0, SRC_OP)
    if env.is_pointer_value(0):
        raise env.error("R0 leaks addr as return value")
    frame = env.cur.frame[0]
    reg = env.regs[0]
    if frame.in_async_callback_fn:
        rng: tuple[int, int] | None = frame.callback_ret_range
        ctx = "At async callback return"
    else:
        if frame.subprogno and not frame.in_exception_callback_fn:
            if reg.type != SCALAR_VALUE:
                raise env.error(f"At subprogram exit the register R0 is not a scalar value "
                                f"({type_str(reg.type)})", "EINVAL")
            return
        rng = retval_range(env)
        ctx = "At program exit"
    if rng is None:
        return
    if reg.type != SCALAR_VALUE:
        raise env.error(f"{ctx} the register R0 is not a known value ({type_str(reg.type)})",
                        "EINVAL")
    mark_chain_precision(env, 0)
    reg = env.regs[0]
    if not (rng[0] <= reg.smin and reg.smax <= rng[1]):
        raise env.error(_invalid_scalar_text(reg, rng, ctx, "R0"), "EINVAL")


def tnum_of(reg: Reg) -> tn.Tnum:
    return reg.var_off


__all__ = ["DST_OP_NO_MARK", "check_func_call", "check_helper_call", "check_resource_leak",
           "check_return_code", "prepare_func_exit", "process_spin_lock"]
