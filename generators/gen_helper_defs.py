#!/usr/bin/env python3
"""Generate ``src/pybpf/include/bpf/bpf_helper_defs.h``: one declaration per
BPF helper, so that BPF C programs can call ``bpf_map_lookup_elem(...)``.

Helper ids and names come from :mod:`pybpf.spec` (generated from the kernel's
``enum bpf_func_id``), signatures from :mod:`pybpf.spec.helper_protos`.  When
the running kernel's BTF is readable, the parameter count of every helper is
checked against it (the kernel's BTF names each helper's real parameters and
pads the rest with ``__ur_N``).

    python generators/gen_helper_defs.py                 # write the header
    python generators/gen_helper_defs.py --check         # exit 1 if the header is stale
    python generators/gen_helper_defs.py --refresh-protos /usr/include/linux/bpf.h
                                                    # re-read signatures from a uapi header

Each helper becomes a constant function pointer whose value is the helper
id: a call through it compiles to ``call <id>``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

OUTPUT = ROOT / "src" / "pybpf" / "include" / "bpf" / "bpf_helper_defs.h"
PROTOS = ROOT / "src" / "pybpf" / "spec" / "helper_protos.py"

# Kernel-internal types in helper documentation -> what a BPF program sees.
STRUCT_RENAMES = {
    "sk_buff": "__sk_buff",
    "xdp_buff": "xdp_md",
    "sk_msg_buff": "sk_msg_md",
    "bpf_map": None,          # maps are passed as plain pointers
}
SCALARS = {
    "u8": "__u8", "u16": "__u16", "u32": "__u32", "u64": "__u64",
    "s8": "__s8", "s16": "__s16", "s32": "__s32", "s64": "__s64",
    "size_t": "__u64",
}
HIDDEN_ARGUMENT = {"sk_storage_get", "inode_storage_get", "task_storage_get",
                   "cgrp_storage_get", "timer_set_callback"}
"""Helpers whose kernel implementation takes one more argument than programs
pass (the verifier supplies it: allocation flags, the program's aux data)."""
_WORD = re.compile(r"\b(u8|u16|u32|u64|s8|s16|s32|s64|size_t)\b")
_STRUCT = re.compile(r"\bstruct\s+(\w+)")


def translate(ctype: str) -> str:
    """A kernel-side type spelled as a BPF program declares it."""
    def struct(m: re.Match) -> str:
        name = m.group(1)
        if name in STRUCT_RENAMES:
            new = STRUCT_RENAMES[name]
            return "void" if new is None else f"struct {new}"
        return m.group(0)

    ctype = _STRUCT.sub(struct, ctype)
    return _WORD.sub(lambda m: SCALARS[m.group(1)], ctype)


def split_params(params: str) -> list[str]:
    """The parameter list split at its top-level commas."""
    params = params.strip()
    if params in ("", "void"):
        return []
    return [p.strip() for p in params.split(",")]


def param_name(param: str) -> str:
    """The declared name of one parameter (``...`` for varargs)."""
    if param == "...":
        return "..."
    m = re.search(r"(\w+)\s*(\[\s*\w*\s*\])?$", param)
    return m.group(1) if m else ""


def btf_arities() -> dict[str, int]:
    """Helper name -> parameter count from the running kernel's BTF (empty
    when the kernel exposes no BTF)."""
    try:
        from pybpf.btf import BTF
        from pybpf.errors import BPFError

        btf = BTF.load_vmlinux()
    except (ImportError, OSError, BPFError):
        return {}
    from pybpf.spec import helpers

    out = {}
    for name in helpers().values():
        ids = btf.find_ids("bpf_" + name)
        for tid in ids:
            try:
                proto = btf.func_proto(tid)
            except BPFError:
                continue
            out[name] = sum(1 for p in proto.params if not p.name.startswith("__ur_"))
            break
    return out


def generate() -> str:
    """The text of ``bpf_helper_defs.h``."""
    from pybpf.spec import helpers
    from pybpf.spec.helper_protos import HELPER_PROTOS

    decls: list[str] = []
    structs: set[str] = set()
    missing: list[str] = []
    for hid, name in sorted(helpers().items()):
        if hid == 0:
            continue
        proto = HELPER_PROTOS.get(name)
        if proto is None:
            missing.append(name)
            continue
        ret, params = proto
        ret_c = translate(ret)
        params_c = [translate(p) for p in split_params(params)]
        for text in [ret_c, *params_c]:
            structs.update(m.group(1) for m in _STRUCT.finditer(text))
        star = "" if ret_c.endswith("*") else " "
        plist = ", ".join(params_c) or "void"
        sep = "" if ret.endswith("*") else " "
        decls.append(f"/* helper {hid}: {ret}{sep}bpf_{name}({params or 'void'}) */\n"
                     f"static {ret_c}{star}(* const bpf_{name})({plist}) = (void *) {hid};\n")
    if missing:
        raise SystemExit("no signature for helpers " + ", ".join(missing) +
                         f"; add them to {PROTOS.relative_to(ROOT)}")
    head = (
        "/* SPDX-License-Identifier: MIT */\n"
        "/* BPF helper declarations for pybpf's BPF C headers.\n"
        " *\n"
        " * GENERATED by generators/gen_helper_defs.py from pybpf.spec (helper ids) and\n"
        " * pybpf.spec.helper_protos (signatures) -- do not edit.\n"
        " *\n"
        " * Each helper is a constant function pointer whose value is its id, so a\n"
        " * call compiles to the BPF 'call <id>' instruction.\n"
        " */\n"
        "#ifndef __PYBPF_BPF_HELPER_DEFS_H\n"
        "#define __PYBPF_BPF_HELPER_DEFS_H\n\n")
    forward = "".join(f"struct {s};\n" for s in sorted(structs)) + "\n"
    return head + forward + "\n".join(decls) + "\n#endif /* __PYBPF_BPF_HELPER_DEFS_H */\n"


def check_arities() -> list[str]:
    """Helpers whose table signature has a different parameter count than
    the kernel's BTF says."""
    from pybpf.spec.helper_protos import HELPER_PROTOS

    problems = []
    for name, arity in btf_arities().items():
        proto = HELPER_PROTOS.get(name)
        if proto is None:
            continue
        params = [p for p in split_params(proto[1]) if p != "..."]
        ours = len(params)
        if name == "trace_printk" or name in HIDDEN_ARGUMENT:
            continue
        if ours != arity:
            problems.append(f"bpf_{name}: table has {ours} parameters, kernel BTF {arity}")
    return problems


def refresh_protos(header: Path) -> None:
    """Re-read helper signatures from a uapi ``linux/bpf.h``'s documentation
    into helper_protos.py, keeping entries the header lacks."""
    from pybpf.spec.helper_protos import HELPER_PROTOS

    text = header.read_text()
    found = dict(HELPER_PROTOS)
    for m in re.finditer(r"^ \* ([a-z_0-9 ]+?\s\**)bpf_([a-z_0-9]+)\((.*)\)$", text, re.M):
        found.setdefault(m.group(2), (m.group(1).strip(), m.group(3)))
        found[m.group(2)] = (m.group(1).strip(), m.group(3))
    source = PROTOS.read_text()
    start = source.index("HELPER_PROTOS: dict")
    end = source.index("}\n", start) + 2
    body = "".join(f"    {k!r}: ({r!r}, {p!r}),\n" for k, (r, p) in found.items())
    PROTOS.write_text(source[:start] + "HELPER_PROTOS: dict[str, tuple[str, str]] = {\n" +
                      body + "}\n" + source[end:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the checked-in header instead of writing it")
    parser.add_argument("--refresh-protos", metavar="HEADER", type=Path,
                        help="re-read signatures from a uapi linux/bpf.h first")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    if args.refresh_protos:
        refresh_protos(args.refresh_protos)
    for problem in check_arities():
        print(f"warning: {problem}", file=sys.stderr)
    text = generate()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run generators/gen_helper_defs.py", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output} ({text.count('static ')} helpers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
