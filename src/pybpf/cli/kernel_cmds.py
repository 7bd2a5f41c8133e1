"""Kernel commands of the ``pybpf`` CLI: ``prog list|show``, ``map list|dump``,
``load`` and ``tools``.

:func:`register` adds them to the CLI's subparsers; each ``cmd_*`` function
takes the parsed arguments and returns the exit status.  Everything here is
a thin layer over :mod:`pybpf.kernel` (listing, BTF formatting, loading,
attaching and the readers), and importing this module costs only argparse.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

# --- prog list / show ------------------------------------------------------------------


def _prog_record(p: Any) -> dict[str, Any]:
    return {"id": p.id, "type": p.type, "name": p.name, "tag": p.tag,
            "gpl_compatible": p.gpl_compatible,
            "loaded_at": p.loaded_at.isoformat(timespec="seconds"), "uid": p.created_by_uid,
            "bytes_xlated": p.xlated_size, "bytes_jited": p.jited_size,
            "map_ids": list(p.map_ids), "btf_id": p.btf_id,
            "run_cnt": p.run_cnt, "run_time_ns": p.run_time_ns,
            "verified_insns": p.verified_insns}


def _prog_text(r: dict[str, Any]) -> str:
    line = f"{r['id']}: {r['type']}  name {r['name'] or '-'}  tag {r['tag']}" + \
        ("  gpl" if r["gpl_compatible"] else "")
    if r["run_cnt"]:
        line += f"  run_time_ns {r['run_time_ns']} run_cnt {r['run_cnt']}"
    line += f"\n\tloaded_at {r['loaded_at']}  uid {r['uid']}"
    line += f"\n\txlated {r['bytes_xlated']}B  jited {r['bytes_jited']}B"
    if r["map_ids"]:
        line += f"  map_ids {','.join(map(str, r['map_ids']))}"
    if r["btf_id"]:
        line += f"  btf_id {r['btf_id']}"
    return line


def cmd_prog_list(args: argparse.Namespace) -> int:
    """``pybpf prog list [--json]``: every program loaded in the kernel."""
    from ..kernel import info

    records = [_prog_record(p) for p in info.programs()]
    if args.json:
        print(json.dumps(records, indent=2 if args.pretty else None))
    else:
        for r in records:
            print(_prog_text(r))
    return 0


def cmd_prog_show(args: argparse.Namespace) -> int:
    """``pybpf prog show ID [--json]``: one program, with its links."""
    from ..errors import BPFError
    from ..kernel import info
    from ..kernel import sys as ksys

    try:
        fd = ksys.get_fd_by_id("prog", args.id)
    except BPFError:
        raise BPFError(f"no program with id {args.id}") from None
    with fd:
        r = _prog_record(info.program_info(int(fd)))
    r["links"] = [{"id": lk.id, "type": lk.type, **lk.details} for lk in info.links()
                  if lk.prog_id == args.id]
    if args.json:
        print(json.dumps(r, indent=2 if args.pretty else None))
    else:
        print(_prog_text(r))
        for lk in r["links"]:
            extra = "  ".join(f"{k} {v}" for k, v in lk.items() if k not in ("id", "type"))
            print(f"\tlink {lk['id']}: {lk['type']}" + (f"  {extra}" if extra else ""))
    return 0


# --- map list / dump -------------------------------------------------------------------


def _map_record(m: Any) -> dict[str, Any]:
    return {"id": m.id, "type": m.type, "name": m.name, "key_size": m.key_size,
            "value_size": m.value_size, "max_entries": m.max_entries, "flags": m.flags,
            "btf_id": m.btf_id, "frozen": m.frozen, "memlock": m.memlock}


def cmd_map_list(args: argparse.Namespace) -> int:
    """``pybpf map list [--json]``: every map in the kernel."""
    from ..kernel import info

    records = [_map_record(m) for m in info.maps()]
    if args.json:
        print(json.dumps(records, indent=2 if args.pretty else None))
        return 0
    for r in records:
        line = f"{r['id']}: {r['type']}  name {r['name'] or '-'}  flags {r['flags']:#x}\n" \
               f"\tkey {r['key_size']}B  value {r['value_size']}B  " \
               f"max_entries {r['max_entries']}"
        if r["memlock"] is not None:
            line += f"  memlock {r['memlock']}B"
        if r["btf_id"]:
            line += f"\n\tbtf_id {r['btf_id']}"
        if r["frozen"]:
            line += "\n\tfrozen"
        print(line)
    return 0


def find_map_id(name_or_id: str) -> int:
    """The id of the map called ``name_or_id`` (or with that id)."""
    from ..errors import BPFError
    from ..kernel import info

    if name_or_id.isdigit():
        return int(name_or_id)
    found = [m.id for m in info.maps() if m.name == name_or_id[:15]]
    if not found:
        raise BPFError(f"no map named {name_or_id!r} (see 'pybpf map list')")
    if len(found) > 1:
        raise BPFError(f"{len(found)} maps are named {name_or_id!r} (ids "
                       f"{', '.join(map(str, found))}): give the id")
    return found[0]


def dump_map(map_id: int) -> tuple[Any, list[dict[str, Any]]]:
    """``(map info, entries)`` of map ``map_id``; each entry has ``key`` and
    ``value`` (a list of per-CPU values for per-CPU maps) as raw bytes, and
    ``key_text``/``value_text``/``key_obj``/``value_obj`` when the map has BTF."""
    import ctypes

    from ..kernel import info
    from ..kernel import sys as ksys
    from ..kernel.maps import PERCPU_TYPES, possible_cpus

    with ksys.get_fd_by_id("map", map_id) as fd:
        mi = info.map_info(int(fd))
        btf = _map_btf(mi)
        percpu = mi.type in PERCPU_TYPES
        ncpu = possible_cpus() if percpu else 1
        stride = (mi.value_size + 7) & ~7 if percpu else mi.value_size
        key = ctypes.create_string_buffer(max(mi.key_size, 1))
        nxt = ctypes.create_string_buffer(max(mi.key_size, 1))
        value = ctypes.create_string_buffer(max(stride * ncpu, 1))
        entries = []
        if mi.key_size == 0:  # queues, stacks, ring buffers: nothing to walk
            return mi, entries
        first = True
        while ksys.map_get_next_key(int(fd), 0 if first else ctypes.addressof(key),
                                    ctypes.addressof(nxt)):
            first = False
            ctypes.memmove(key, nxt, mi.key_size)
            try:
                found = ksys.map_lookup_elem(int(fd), ctypes.addressof(key),
                                             ctypes.addressof(value))
            except Exception:  # fd-valued maps refuse lookups from user space
                found = False
            if not found:
                continue
            k = key.raw[:mi.key_size]
            vals = [value.raw[i * stride:i * stride + mi.value_size] for i in range(ncpu)]
            entry: dict[str, Any] = {"key": k, "value": vals if percpu else vals[0]}
            if btf is not None:
                entry.update(_btf_entry(btf, mi, k, vals, percpu))
            entries.append(entry)
    return mi, entries


def _map_btf(mi: Any) -> Any:
    if not mi.btf_id or not (mi.btf_key_type_id or mi.btf_value_type_id):
        return None
    try:
        from ..btf import BTF
        from ..kernel.kernel_btf import KernelBTF

        with KernelBTF.from_id(mi.btf_id) as kb:
            return BTF.from_bytes(kb.raw())
    except Exception:  # BTF the parser cannot read: dump bytes
        return None


def _btf_entry(btf: Any, mi: Any, key: bytes, vals: list[bytes], percpu: bool
               ) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if mi.btf_key_type_id:
        out["key_text"] = btf.format(mi.btf_key_type_id, key)
        out["key_obj"] = btf.decode(mi.btf_key_type_id, key)
    if mi.btf_value_type_id:
        texts = [btf.format(mi.btf_value_type_id, v) for v in vals]
        objs = [btf.decode(mi.btf_value_type_id, v) for v in vals]
        out["value_text"] = texts if percpu else texts[0]
        out["value_obj"] = objs if percpu else objs[0]
    return out


def _hex(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return [f"0x{b:02x}" for b in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def cmd_map_dump(args: argparse.Namespace) -> int:
    """``pybpf map dump NAME|ID [--json]``: every entry, through BTF when the
    map has it."""
    _mi, entries = dump_map(find_map_id(args.map))
    if args.json:
        out = []
        for e in entries:
            out.append({"key": _jsonable(e.get("key_obj", e["key"])),
                        "value": _jsonable(e.get("value_obj", e["value"]))})
        print(json.dumps(out, indent=2 if args.pretty else None))
        return 0
    for e in entries:
        key = e.get("key_text") or _hex(e["key"])
        if "value_text" in e:
            value = e["value_text"]
        else:
            value = [_hex(v) for v in e["value"]] if isinstance(e["value"], list) \
                else _hex(e["value"])
        if isinstance(value, list):
            print(f"key: {key}")
            for cpu, v in enumerate(value):
                print(f"\tcpu{cpu}: {v}")
        else:
            print(f"key: {key}  value: {value}")
    print(f"Found {len(entries)} element{'s' if len(entries) != 1 else ''}")
    return 0


# --- load ----------------------------------------------------------------------------------


def parse_assignment(text: str) -> tuple[str, int | bytes]:
    """``NAME=VALUE`` with VALUE an integer (``10``, ``0x1f``, ``-1``) or a
    string (stored NUL-padded): ``(name, value)``."""
    from ..errors import BPFError

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise BPFError(f"--set {text!r} is not NAME=VALUE")
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value.encode()


def _set_variable(spec: Any, name: str, value: int | bytes) -> None:
    if isinstance(value, bytes):
        size = spec.variables[name][2] if name in spec.variables else len(value)
        value = value[:size].ljust(size, b"\0")
    spec.set_variable(name, value)


def record_types(texts: Any, coll: Any) -> dict[str, str]:
    """``--record-type [MAP=]TYPE`` options -> {map name: type}: a TYPE
    without a map is for every ring and perf buffer of ``coll``."""
    from ..errors import BPFError

    buffers = [n for n, m in coll.maps.items() if m.type in ("ringbuf", "perf_event_array")]
    out: dict[str, str] = {}
    for text in texts:
        name, sep, type_ = text.rpartition("=")
        if sep and name not in buffers:
            raise BPFError(f"--record-type {text!r}: no ring or perf buffer {name!r} "
                           f"(buffers: {', '.join(buffers) or 'none'})")
        out.update({n: type_ for n in ([name] if sep else buffers)})
    return out


def _print_record(source: str, record: Any) -> None:
    if isinstance(record, bytes):
        text = record.hex()
    elif hasattr(record, "_asdict"):
        text = " ".join(f"{k}={v!r}" for k, v in record._asdict().items())
    elif isinstance(record, dict):
        text = " ".join(f"{k}={v!r}" for k, v in record.items())
    else:
        text = repr(record)
    print(f"{source}: {text}", flush=True)


def cmd_load(args: argparse.Namespace) -> int:
    """``pybpf load FILE.o [--attach] [--pin DIR] [--set NAME=VALUE...]
    [--record-type [MAP=]TYPE...]``:
    load every program (and attach them), then print ring-buffer, perf-buffer
    and ``bpf_printk`` output until Ctrl-C or SIGTERM (:func:`pybpf.kernel.run`);
    everything is closed on the way out (pinned objects stay).  The status
    is 1 when a program could not be attached."""
    import os

    from .. import kernel
    from ..elf import load_object
    from ..errors import BPFError
    from ..kernel.runner import stoppable

    spec = load_object(args.file)
    for text in args.set or ():
        _set_variable(spec, *parse_assignment(text))
    options: dict[str, Any] = {}
    if args.interface:
        options["interface"] = args.interface
    if args.cgroup:
        options["cgroup"] = args.cgroup

    def attached(name: str, link: Any) -> None:
        print(f"attached {name} to {link.target}", flush=True)
        if args.pin:
            try:
                link.pin(os.path.join(args.pin, f"link_{name}"))
            except BPFError as e:  # not a BPF link: it ends with the command
                print(f"pybpf: {e}", file=sys.stderr)

    def not_attached(name: str, error: BPFError) -> None:
        print(f"pybpf: cannot attach {name}: {error}", file=sys.stderr)

    def ready(coll: Any) -> None:  # how each buffer's records print, said once
        for reader in coll.readers:
            if getattr(reader, "record", None) is not None:
                print(reader.record.describe(), file=sys.stderr)
        print("running; Ctrl-C to stop", file=sys.stderr, flush=True)

    def lost(name: str, cpu: int, count: int) -> None:
        print(f"{name}: lost {count} samples on cpu {cpu}", file=sys.stderr)

    def printk(line: Any) -> None:
        print(f"printk: {line.comm}-{line.pid} [{line.cpu}] {line.timestamp:.6f}: "
              f"{line.message}", flush=True)

    failed: dict[str, BPFError] = {}
    with stoppable(), kernel.load(spec, pin_dir=args.pin, skip_failed=args.skip_failed) as coll:
        for name, error in coll.failed.items():
            print(f"pybpf: not loaded {name}: {error}", file=sys.stderr)
        for name, prog in coll.programs.items():
            info = prog.info()
            print(f"loaded {name} ({prog.type}, id {info.id}, "
                  f"{info.xlated_size // 8} insns)", flush=True)
            if args.pin:
                prog.pin(os.path.join(args.pin, name))
        if args.pin:
            for name, m in coll.maps.items():
                path = os.path.join(args.pin, name.lstrip("."))
                if not os.path.exists(path):
                    m.pin(path)
        coll.record_hints = record_types(args.record_type or (), coll)
        result = kernel.run(
            coll, attach=args.attach, options=options, on_attach=attached,
            on_attach_error=not_attached, on_record=_print_record, on_lost=lost,
            on_printk=printk, duration=args.duration, on_ready=lambda: ready(coll))
        failed = result.failed
    print("closed", file=sys.stderr)
    if failed:
        print(f"pybpf: {len(failed)} program{'s' if len(failed) > 1 else ''} not attached: "
              f"{', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


# --- tools ---------------------------------------------------------------------------------


def cmd_tools(args: argparse.Namespace) -> int:
    """``pybpf tools NAME [ARGS...]``: run one of :mod:`pybpf.tools`."""
    from ..tools import TOOLS, run_tool

    if not args.name:
        print("tools:")
        for name, text in TOOLS.items():
            print(f"  {name:<12} {text}")
        return 0
    return run_tool(args.name, args.args)


# --- registration ----------------------------------------------------------------------------


def register(sub: Any) -> None:
    """Add ``prog``, ``map``, ``load`` and ``tools`` to the CLI's subparsers."""
    p = sub.add_parser("prog", help="list and show programs loaded in the kernel",
                       description="Inspect programs loaded in the kernel (like bpftool prog).")
    psub = p.add_subparsers(dest="prog_command", metavar="COMMAND", required=True)
    q = psub.add_parser("list", help="every loaded program")
    _json_options(q)
    q.set_defaults(func=cmd_prog_list)
    q = psub.add_parser("show", help="one program and its links")
    q.add_argument("id", type=int, metavar="ID")
    _json_options(q)
    q.set_defaults(func=cmd_prog_show)

    p = sub.add_parser("map", help="list and dump maps in the kernel",
                       description="Inspect maps in the kernel (like bpftool map).")
    msub = p.add_subparsers(dest="map_command", metavar="COMMAND", required=True)
    q = msub.add_parser("list", help="every map")
    _json_options(q)
    q.set_defaults(func=cmd_map_list)
    q = msub.add_parser("dump", help="every entry of one map, through BTF when it has it")
    q.add_argument("map", metavar="NAME|ID")
    _json_options(q)
    q.set_defaults(func=cmd_map_dump)

    p = sub.add_parser("load", help="load an object's programs into the kernel and watch them",
                       description="Load every program of FILE.o (attaching them with "
                                   "--attach), print ring-buffer, perf-buffer and bpf_printk "
                                   "output until Ctrl-C or SIGTERM, then close everything.")
    p.add_argument("file", metavar="FILE.o")
    p.add_argument("--attach", action="store_true",
                   help="attach each program where its section says")
    p.add_argument("--pin", metavar="DIR", help="pin programs, maps and links under DIR "
                                                "(a bpffs directory; they outlive the command)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="set a global variable (a const volatile knob) before loading")
    p.add_argument("--skip-failed", action="store_true",
                   help="load the other programs when one is refused (and say why)")
    p.add_argument("--interface", metavar="IFACE", help="interface for xdp and tc programs")
    p.add_argument("--cgroup", metavar="PATH", help="cgroup for cgroup programs "
                                                    "(default: the root)")
    p.add_argument("--record-type", action="append", metavar="[MAP=]TYPE",
                   help="decode MAP's records (every buffer's without MAP=) as BTF type "
                        "TYPE, e.g. 'events=struct event' (default: the type the object "
                        "names with BPF_RECORD or the map's value type)")
    p.add_argument("-d", "--duration", type=float, metavar="SECONDS",
                   help="stop after SECONDS")
    p.set_defaults(func=cmd_load)

    p = sub.add_parser("tools", help="run a tracing tool (exitsnoop, execsnoop, ...)",
                       description="Run one of pybpf's tracing tools; "
                                   "'pybpf tools NAME --help' for its options.",
                       add_help=True)
    p.add_argument("name", nargs="?", metavar="NAME")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS")
    p.set_defaults(func=cmd_tools)


def _json_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--pretty", action="store_true", help="indent the JSON")
