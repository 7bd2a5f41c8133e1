"""``pybpf map``: maps in the kernel, as bpftool shows and edits them.

``map list|show [MAP]``, ``dump MAP``, ``lookup MAP key DATA``, ``update MAP
key DATA value VALUE [any|exist|noexist]``, ``delete MAP key DATA``,
``getnext MAP [key DATA]``, ``create FILE type TYPE key N value N entries N
name NAME [flags F] [inner_map MAP]``, ``pin MAP FILE``, ``freeze MAP``,
``peek MAP``, ``push MAP value DATA``, ``pop MAP`` (``enqueue``/``dequeue``
too).  MAP is ``id N | name NAME | pinned PATH`` (or a bare id, path or
name); DATA is bytes, ``1 0 0 0`` or ``hex 01 00 00 00``.  Maps created
with BTF print their keys and values through it, as bpftool's do.
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import (
    add_output_options,
    bpftool_json,
    hex_bytes,
    hex_list,
    json_mode,
    note,
    print_json,
)
from .selectors import ArgumentError, Words, select_ids, take_bytes

MAP_HELP = ("MAP is id N | name NAME | pinned PATH (or a bare id, path or name); DATA is "
            "bytes: 1 0 0 0, or hex 01 00 00 00")
DEFAULT_MAX_ENTRIES = 1000
"""Elements ``map dump`` prints unless told otherwise."""


def map_record(m: Any) -> dict[str, Any]:
    """A map's :class:`~pybpf.kernel.info.MapInfo` under bpftool's JSON names."""
    r: dict[str, Any] = {"id": m.id, "type": m.type, "name": m.name}
    r.update(flags=m.flags, bytes_key=m.key_size, bytes_value=m.value_size,
             max_entries=m.max_entries)
    if m.memlock is not None:
        r["bytes_memlock"] = m.memlock
    if m.owner_prog_type is not None:
        r["owner_prog_type"] = m.owner_prog_type
    if m.owner_jited is not None:
        r["owner_jited"] = m.owner_jited
    if m.frozen is not None:
        r["frozen"] = int(m.frozen)
    if m.btf_id:
        r["btf_id"] = m.btf_id
    return r


def map_text(m: Any) -> str:
    """A map as ``bpftool map show`` prints it."""
    line = f"{m.id}: {m.type}  " + (f"name {m.name}  " if m.name else "") + \
        f"flags 0x{m.flags:x}"
    line += f"\n\tkey {m.key_size}B  value {m.value_size}B  max_entries {m.max_entries}"
    if m.memlock is not None:
        line += f"  memlock {m.memlock}B"
    if m.owner_prog_type is not None:
        line += f"\n\towner_prog_type {m.owner_prog_type}  "
    if m.owner_jited is not None:
        line += "owner jited" if m.owner_jited else "owner not jited"
    if m.btf_id or m.frozen:
        line += "\n\t" + (f"btf_id {m.btf_id}" if m.btf_id else "")
        if m.frozen:
            line += ("  " if m.btf_id else "") + "frozen"
    return line


def _open_one(words: Words) -> Any:
    from ..kernel.map_dump import open_map

    (map_id,) = select_ids(words, "map", one=True)
    return open_map(map_id)


def cmd_map_show(args: argparse.Namespace) -> int:
    """``pybpf map list|show [MAP]``."""
    from ..kernel import info
    from ..kernel import sys as ksys

    words = Words(args.words, "map show")
    if words:
        records = []
        for map_id in select_ids(words, "map"):
            with ksys.get_fd_by_id("map", map_id) as fd:
                records.append(info.map_info(int(fd)))
        words.done()
        single = len(records) == 1
    else:
        records, single = list(info.maps()), False
    if json_mode(args):
        out = [map_record(m) for m in records]
        print_json(args, out[0] if single else out)
    else:
        for m in records:
            print(map_text(m))
    return 0


# --- elements ---------------------------------------------------------------------------

def _entry_json(btf: Any, info: Any, entry: Any) -> dict[str, Any]:
    from ..kernel.map_dump import formatted

    out: dict[str, Any] = {"key": hex_list(entry.key)}
    if isinstance(entry.value, list):
        out["values"] = [{"cpu": i, "value": hex_list(v)} for i, v in enumerate(entry.value)]
    else:
        out["value"] = hex_list(entry.value)
    if btf is not None:
        out["formatted"] = formatted(btf, info, entry)
    return out


def _entry_text(info: Any, entry: Any) -> str:
    """An element as bpftool prints one without BTF."""
    ks, vs = info.key_size, info.value_size
    if isinstance(entry.value, list):
        lines = []
        if ks:
            lines.append(f"key:\n{hex_bytes(entry.key)}")
        for cpu, v in enumerate(entry.value):
            lines.append(f"value (CPU {cpu:02d}):{chr(10) if vs > 16 else ' '}{hex_bytes(v)}")
        return "\n".join(lines)
    wide = ks > 16 or vs > 16
    one_line = ks + vs <= 24 and not wide
    sep = "\n" if wide else " "
    text = ""
    if ks:
        text += f"key:{sep}{hex_bytes(entry.key)}" + ("  " if one_line else "\n")
    if vs:
        text += f"value:{sep}{hex_bytes(entry.value)}"
    return text.rstrip("\n")


def _btf_for(info: Any, args: argparse.Namespace) -> Any:
    from ..kernel.map_dump import map_btf

    return None if getattr(args, "hex", False) else map_btf(info)


def _keyless(info: Any, verb: str) -> None:
    if not info.key_size:
        what = {"queue": "map peek or map pop", "stack": "map peek or map pop",
                "bloom_filter": "map peek value DATA"}.get(info.type, "a reader")
        raise ArgumentError(f"map {verb}: {info.type} maps have no keys to walk (use {what})")


HIST_MAX_BUCKETS = 4096
"""The highest bucket index ``map dump --bars`` draws."""


def parse_bars(text: str) -> tuple[str, int, int]:
    """``--bars``'s argument: ``log2``, or ``linear:STEP[:LOW]`` ->
    (shape, step, low)."""
    shape, *rest = text.split(":")
    try:
        numbers = [int(x, 0) for x in rest]
    except ValueError:
        numbers = []
    if shape == "log2" and not rest:
        return "log2", 0, 0
    if shape == "linear" and len(numbers) in (1, 2) and len(numbers) == len(rest) \
            and numbers[0] > 0:
        return "linear", numbers[0], numbers[1] if len(numbers) == 2 else 0
    raise argparse.ArgumentTypeError(f"{text!r}: expected log2 or linear:STEP[:LOW] "
                                     f"(for example linear:10)")


def histogram_text(info: Any, shown: list, bars: tuple[str, int, int], as_json: bool) -> Any:
    """A map whose keys are bucket numbers and whose values are counts (the
    values of a per-CPU map summed) as bars (``pybpf.pictures``), or their
    buckets as JSON."""
    import sys

    from ..pictures import Style, linear_bars, linear_label, log2_bars, log2_label

    if not 0 < info.key_size <= 8 or not 0 < info.value_size <= 8:
        raise ArgumentError(f"map dump --bars: map {info.id} is not a histogram: keys and "
                            f"values must be integers of up to 8 bytes (its keys are "
                            f"{info.key_size} bytes, its values {info.value_size})")
    counts: dict[int, int] = {}
    for e in shown:
        bucket = int.from_bytes(e.key, sys.byteorder)
        if bucket >= HIST_MAX_BUCKETS:
            raise ArgumentError(f"map dump --bars: map {info.id} is not a histogram: key "
                                f"{bucket} is no bucket number (0..{HIST_MAX_BUCKETS - 1})")
        values = e.value if isinstance(e.value, list) else [e.value]
        counts[bucket] = counts.get(bucket, 0) + sum(int.from_bytes(v, sys.byteorder)
                                                     for v in values)
    series = [counts.get(i, 0) for i in range(max(counts, default=-1) + 1)]
    shape, step, low = bars
    labels = [log2_label(i) if shape == "log2" else linear_label(i, low, step)
              for i in range(len(series))]
    if as_json:
        return [{"bucket": labels[i], "index": i, "count": c} for i, c in enumerate(series) if c]
    title = f"@{info.name or f'map_{info.id}'}:"
    style = Style.for_stream()
    if shape == "log2":
        return log2_bars(series, title, style=style)
    return linear_bars(series, low, step, title, style=style)


def cmd_map_dump(args: argparse.Namespace) -> int:
    """``pybpf map dump MAP [--hex] [--max-entries N] [--bars log2|linear:STEP]``."""
    from ..kernel.map_dump import entries

    words = Words(args.words, "map dump")
    with _open_one(words) as m:
        words.done()
        info = m.info()
        _keyless(info, "dump")
        btf = _btf_for(info, args)
        limit = None if args.bars else args.max_entries or None
        shown, total = entries(m, limit)
    if args.bars:
        out = histogram_text(info, shown, args.bars, json_mode(args))
        if json_mode(args):
            print_json(args, out)
        else:
            print(out)
        return 0
    if json_mode(args):
        print_json(args, [_entry_json(btf, info, e) for e in shown])
    elif btf is not None:
        from ..kernel.map_dump import formatted

        print(bpftool_json([formatted(btf, info, e) for e in shown], pretty=True))
    else:
        for e in shown:
            print(_entry_text(info, e))
        print(f"Found {len(shown)} element{'s' if len(shown) != 1 else ''}")
    if total > len(shown):
        note(f"{total - len(shown)} more element{'s' if total - len(shown) != 1 else ''} "
             f"not shown (--max-entries N, 0 for all)")
    return 0


def _print_entry(args: argparse.Namespace, btf: Any, info: Any, entry: Any) -> None:
    if json_mode(args):
        print_json(args, _entry_json(btf, info, entry))
    elif btf is not None:
        from ..kernel.map_dump import formatted

        print(bpftool_json(formatted(btf, info, entry), pretty=True))
    else:
        print(_entry_text(info, entry))


def cmd_map_lookup(args: argparse.Namespace) -> int:
    """``pybpf map lookup MAP key DATA``."""
    from ..kernel.map_dump import MapEntry

    words = Words(args.words, "map lookup")
    with _open_one(words) as m:
        info = m.info()
        key = b""
        if info.key_size:
            words.expect("key", "key DATA")
            key = take_bytes(words, info.key_size, "key")
        words.done()
        try:
            value = m.raw.lookup(key or None)
        except KeyError:
            raise ArgumentError(f"map lookup: key {hex_bytes(key)}: not found") from None
        _print_entry(args, _btf_for(info, args), info, MapEntry(key, value))
    return 0


_UPDATE_FLAGS = {"any": "ANY", "exist": "EXIST", "noexist": "NOEXIST"}


_OBJECT_VALUES = {"prog_array": "prog", "array_of_maps": "map", "hash_of_maps": "map"}


def _value_bytes(words: Words, m: Any, info: Any) -> tuple[bytes, Any]:
    """The value of ``map update``: DATA, or for program arrays and maps of
    maps the object to store (``[prog|map] id N | name NAME | pinned
    PATH``): ``(bytes, the fd to close after the update or None)``."""
    from ..kernel import sys as ksys

    kind = words.accept("prog", "map") or _OBJECT_VALUES.get(info.type)
    if kind is not None:
        (ident,) = select_ids(words, kind, one=True)
        fd = ksys.get_fd_by_id(kind, ident)
        return int(fd).to_bytes(4, "little"), fd
    return take_bytes(words, info.value_size, "value"), None


def cmd_map_update(args: argparse.Namespace) -> int:
    """``pybpf map update MAP key DATA value VALUE [any|exist|noexist]``."""
    from ..kernel import maps as kmaps

    words = Words(args.words, "map update")
    with _open_one(words) as m:
        info = m.info()
        key = b""
        if info.key_size:
            words.expect("key", "key DATA")
            key = take_bytes(words, info.key_size, "key")
        words.expect("value", "value DATA")
        value, held = _value_bytes(words, m, info)
        try:
            flag = words.accept(*_UPDATE_FLAGS) or "any"
            words.done()
            raw: Any = [value] * m.num_cpus if m.percpu else value  # every CPU, as bpftool
            m.raw.update(key or None, raw, getattr(kmaps, _UPDATE_FLAGS[flag]))
        finally:
            if held is not None:
                held.close()
    if json_mode(args):
        print_json(args, None)
    return 0


def cmd_map_delete(args: argparse.Namespace) -> int:
    """``pybpf map delete MAP key DATA``."""
    words = Words(args.words, "map delete")
    with _open_one(words) as m:
        info = m.info()
        words.expect("key", "key DATA")
        key = take_bytes(words, info.key_size, "key")
        words.done()
        try:
            m.raw.delete(key)
        except KeyError:
            raise ArgumentError(f"map delete: key {hex_bytes(key)}: not found") from None
    if json_mode(args):
        print_json(args, None)
    return 0


def cmd_map_getnext(args: argparse.Namespace) -> int:
    """``pybpf map getnext MAP [key DATA]``: the key after DATA (the first
    key without one)."""
    words = Words(args.words, "map getnext")
    with _open_one(words) as m:
        info = m.info()
        _keyless(info, "getnext")
        key = None
        if words.accept("key"):
            key = take_bytes(words, info.key_size, "key")
        words.done()
        nxt = m.raw.get_next_key(key)
    if nxt is None:
        raise ArgumentError("map getnext: no next key" + (
            f" after {hex_bytes(key)}" if key is not None else ": the map is empty"))
    if json_mode(args):
        print_json(args, {"key": hex_list(key) if key is not None else None,
                          "next_key": hex_list(nxt)})
    else:
        print("key: None" if key is None else f"key:\n{hex_bytes(key)}")
        print(f"next key:\n{hex_bytes(nxt)}")
    return 0


def _keyless_element(args: argparse.Namespace, verb: str) -> int:
    from ..kernel.map_dump import MapEntry

    words = Words(args.words, f"map {verb}")
    with _open_one(words) as m:
        info = m.info()
        if info.key_size:
            raise ArgumentError(f"map {verb} is for queue, stack and bloom_filter maps; "
                                f"{info.type} maps have keys")
        if verb == "push":
            words.expect("value", "value DATA")
            value = take_bytes(words, info.value_size, "value")
            flag = words.accept(*_UPDATE_FLAGS) or "any"
            words.done()
            from ..kernel import maps as kmaps

            m.raw.push(value, getattr(kmaps, _UPDATE_FLAGS[flag]))
            if json_mode(args):
                print_json(args, None)
            return 0
        if info.type == "bloom_filter":
            words.expect("value", "value DATA")
            value = take_bytes(words, info.value_size, "value")
            words.done()
            try:
                m.raw.peek(value)
            except KeyError:
                raise ArgumentError(f"map peek: {hex_bytes(value)} is not in the filter") \
                    from None
            if json_mode(args):
                print_json(args, {"value": hex_list(value), "found": True})
            else:
                print(f"value: {hex_bytes(value)}  found")
            return 0
        words.done()
        try:
            value = m.raw.peek() if verb == "peek" else m.raw.pop()
        except KeyError:
            raise ArgumentError(f"map {verb}: the {info.type} is empty") from None
        _print_entry(args, _btf_for(info, args), info, MapEntry(b"", value))
    return 0


def cmd_map_peek(args: argparse.Namespace) -> int:
    """``pybpf map peek MAP`` (bloom filters: ``peek MAP value DATA``)."""
    return _keyless_element(args, "peek")


def cmd_map_push(args: argparse.Namespace) -> int:
    """``pybpf map push|enqueue MAP value DATA``."""
    return _keyless_element(args, "push")


def cmd_map_pop(args: argparse.Namespace) -> int:
    """``pybpf map pop|dequeue MAP``."""
    return _keyless_element(args, "pop")


def cmd_map_freeze(args: argparse.Namespace) -> int:
    """``pybpf map freeze MAP``: no more writes from user space."""
    words = Words(args.words, "map freeze")
    with _open_one(words) as m:
        words.done()
        m.freeze()
    if json_mode(args):
        print_json(args, None)
    return 0


def cmd_map_pin(args: argparse.Namespace) -> int:
    """``pybpf map pin MAP FILE``."""
    from ..kernel.bpffs import pin

    words = Words(args.words, "map pin")
    with _open_one(words) as m:
        path = words.take("FILE (a path in a bpffs)")
        words.done()
        pin(m, path)
    if json_mode(args):
        print_json(args, None)
    return 0


def _number(words: Words, what: str) -> int:
    word = words.take(what)
    try:
        return int(word, 0)
    except ValueError:
        raise ArgumentError(f"map create: {what.split()[0]} must be a number, not {word!r}") \
            from None


def cmd_map_create(args: argparse.Namespace) -> int:
    """``pybpf map create FILE type TYPE key N value N entries N name NAME
    [flags F] [inner_map MAP]``: create a map and pin it at FILE."""
    from ..kernel.bpffs import pin
    from ..kernel.maps import KernelMap

    words = Words(args.words, "map create")
    path = words.take("FILE (where to pin the new map)")
    fields: dict[str, Any] = {}
    inner = None
    try:
        while words:
            word = words.take("an attribute")
            if word == "type":
                fields["type"] = words.take("type TYPE")
            elif word in ("key", "value", "entries", "flags"):
                fields[word] = _number(words, f"{word} N")
            elif word == "name":
                fields["name"] = words.take("name NAME")
            elif word == "inner_map":
                if inner is not None:
                    raise ArgumentError("map create: inner_map given twice")
                inner = _open_one(words)
            elif word in ("dev", "offload_dev"):
                raise ArgumentError("map create: offloaded maps are not supported")
            else:
                raise ArgumentError(f"map create: unknown attribute {word!r} (type, key, "
                                    f"value, entries, name, flags, inner_map)")
        missing = [w for w in ("type", "key", "value", "entries", "name") if w not in fields]
        if missing:
            raise ArgumentError(f"map create: {', '.join(missing)} missing")
        m = KernelMap.create(fields["type"], fields["key"], fields["value"], fields["entries"],
                             flags=fields.get("flags", 0), name=fields["name"], inner=inner)
    finally:
        if inner is not None:
            inner.close()
    with m:
        pin(m, path)
    if json_mode(args):
        print_json(args, None)
    return 0


# --- registration ------------------------------------------------------------------------

_VERBS: list[tuple[tuple[str, ...], Any, str, str, str]] = [
    (("list", "show"), cmd_map_show, "every map, or the ones MAP selects", "[MAP]",
     "Show every map in the kernel, or the maps MAP selects."),
    (("dump",), cmd_map_dump, "every element of a map, through BTF when it has it", "MAP",
     "Print every element of MAP (its first --max-entries, with a note of how many more "
     "there are), formatted through the map's BTF unless --hex."),
    (("lookup",), cmd_map_lookup, "one element", "MAP key DATA",
     "Print the value of key DATA."),
    (("update",), cmd_map_update, "create or replace an element",
     "MAP key DATA value VALUE [any|exist|noexist]",
     "Set key DATA to VALUE (DATA, given once for all CPUs of a per-CPU map; for program "
     "arrays and maps of maps, [prog|map] id N | name NAME | pinned PATH). noexist: only "
     "create; exist: only replace."),
    (("delete",), cmd_map_delete, "delete an element", "MAP key DATA", "Delete key DATA."),
    (("getnext",), cmd_map_getnext, "the key after a key", "MAP [key DATA]",
     "Print the key after DATA (the first key without DATA)."),
    (("create",), cmd_map_create, "create a map and pin it",
     "FILE type TYPE key N value N entries N name NAME [flags F] [inner_map MAP]",
     "Create a map and pin it at FILE (in a bpf filesystem)."),
    (("pin",), cmd_map_pin, "pin a map at a bpffs path", "MAP FILE",
     "Pin MAP at FILE so that it outlives its users."),
    (("freeze",), cmd_map_freeze, "forbid writes from user space", "MAP",
     "Freeze MAP: user space can no longer change it (programs still can)."),
    (("peek",), cmd_map_peek, "the next element of a queue or stack", "MAP [value DATA]",
     "Print the element a pop would take, leaving it in place (bloom filters: say whether "
     "DATA may be in the filter)."),
    (("push", "enqueue"), cmd_map_push, "add an element to a queue, stack or bloom filter",
     "MAP value DATA [any|exist]", "Push DATA (exist: drop the oldest element when full)."),
    (("pop", "dequeue"), cmd_map_pop, "take the next element of a queue or stack", "MAP",
     "Print and remove the next element."),
]


def register(sub: Any) -> None:
    """Add ``map`` and its verbs to the CLI's subparsers."""
    p = sub.add_parser("map", help="inspect and edit maps in the kernel (like bpftool map)",
                       description="Inspect and edit maps in the kernel, as bpftool map "
                                   "does. " + MAP_HELP + ".")
    add_output_options(p)
    msub = p.add_subparsers(dest="map_command", metavar="COMMAND", required=True,
                             help="the verb")
    for names, func, short, usage, long in _VERBS:
        for name in names:
            q = msub.add_parser(name, help=short + (f" (as {names[0]})" if name != names[0]
                                                    else ""),
                                description=long + " " + MAP_HELP + ".")
            q.add_argument("words", nargs="*" if usage.startswith("[") else "+",
                           metavar=usage, help="what the command works on: " + usage)
            if func is cmd_map_dump:
                q.add_argument("--hex", action="store_true",
                               help="print bytes even where the map has BTF")
                q.add_argument("--max-entries", type=int, default=DEFAULT_MAX_ENTRIES,
                               metavar="N", help="print at most N elements (0: all; "
                                                 "default %(default)s)")
                q.add_argument("--bars", type=parse_bars, metavar="log2|linear:STEP[:LOW]",
                               help="a histogram map (keys: bucket numbers, values: counts, "
                                    "per-CPU values summed) drawn as bars, log2 buckets "
                                    "or linear ones STEP wide from LOW")
            elif func in (cmd_map_lookup, cmd_map_peek, cmd_map_pop):
                q.add_argument("--hex", action="store_true",
                               help="print bytes even where the map has BTF")
            add_output_options(q)
            q.set_defaults(func=func)
