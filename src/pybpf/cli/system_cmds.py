"""The rest of bpftool's verbs: ``link``, ``net``, ``cgroup``, ``feature``
and ``perf``.

``link list|show [LINK]``, ``link detach LINK``, ``link pin LINK FILE``
(LINK is ``id N | pinned PATH``); ``net list [dev NAME]`` (XDP, tcx, netkit
and cls_bpf programs per interface, the flow dissector, netfilter links);
``cgroup tree [ROOT] [effective]`` and ``cgroup show CGROUP [effective]``;
``feature probe [kernel] [full]``; ``perf list``.  The library does the
work (:mod:`pybpf.kernel.info`, :mod:`~pybpf.kernel.net`,
:mod:`~pybpf.kernel.cgroups`, :mod:`~pybpf.kernel.feature_report`,
:mod:`~pybpf.kernel.queries`); this module prints as bpftool does.
"""

from __future__ import annotations

import argparse
from typing import Any

from .output import add_output_options, json_mode, print_json
from .selectors import ArgumentError, Words, select_ids

# --- link ---------------------------------------------------------------------------------


def _attach_type(n: int) -> str:
    from ..kernel.programs import attach_type_name

    return attach_type_name(n)


def _ifname(index: int) -> str:
    from ..kernel.netlink import ifname

    if not index:
        return "(detached)"
    name = ifname(index)
    return f"{name}({index})" if name != str(index) else "(unknown)"


def _netfilter_words(d: dict[str, Any]) -> str:
    from ..kernel.net import netfilter_names

    family, hook = netfilter_names(d["pf"], d["hooknum"])
    text = f"{family} {hook} prio {d['priority']}"
    return text + (f" flags 0x{d['flags']:x}" if d["flags"] else "")


def link_record(lk: Any) -> dict[str, Any]:
    """A link's :class:`~pybpf.kernel.info.LinkInfo` under bpftool's JSON names."""
    d, t = lk.details, lk.type
    r: dict[str, Any] = {"id": lk.id, "type": t, "prog_id": lk.prog_id}
    if t == "raw_tracepoint":
        r["tp_name"] = d.get("tp_name", "")
        if d.get("cookie"):
            r["cookie"] = d["cookie"]
    elif t == "tracing":
        r["prog_type"] = _prog_type_of(lk.prog_id)
        r["attach_type"] = _attach_type(d["attach_type"])
        r["target_obj_id"] = d["target_obj_id"]
        r["target_btf_id"] = d["target_btf_id"]
    elif t == "cgroup":
        r["cgroup_id"] = d["cgroup_id"]
        r["attach_type"] = _attach_type(d["attach_type"])
    elif t == "iter":
        r["target_name"] = d.get("target_name", "")
        if d.get("map_id"):
            r["map_id"] = d["map_id"]
    elif t == "netns":
        r["netns_ino"] = d["netns_ino"]
        r["attach_type"] = _attach_type(d["attach_type"])
    elif t == "netfilter":
        r.update(pf=d["pf"], hook=d["hooknum"], prio=d["priority"], flags=d["flags"])
    elif t == "xdp":
        r["devname"], r["ifindex"] = _devname(d["ifindex"]), d["ifindex"]
    elif t in ("tcx", "netkit"):
        r["devname"], r["ifindex"] = _devname(d["ifindex"]), d["ifindex"]
        r["attach_type"] = _attach_type(d["attach_type"])
    elif t == "struct_ops":
        r["map_id"] = d["map_id"]
    elif t == "sockmap":
        r["map_id"] = d["map_id"]
        r["attach_type"] = _attach_type(d["attach_type"])
    elif t in ("kprobe_multi", "uprobe_multi"):
        r["func_cnt"] = d.get("count", 0)
        if t == "uprobe_multi":
            r["pid"] = d.get("pid", 0)
        if d.get("missed"):
            r["missed"] = d["missed"]
    elif t == "perf_event":
        r["event_type"] = d.get("event_type", "")
        for src, dst in (("tp_name", "tracepoint"), ("func_name", "func"),
                         ("file_name", "file"), ("offset", "offset"), ("addr", "addr"),
                         ("missed", "missed"), ("config", "config"), ("cookie", "cookie")):
            if src in d and (d[src] or src in ("tp_name", "func_name", "file_name")):
                r[dst] = d[src]
    return r


def _devname(index: int) -> str:
    from ..kernel.netlink import ifname

    return ifname(index) if index else ""


def _prog_type_of(prog_id: int) -> str:
    from ..errors import KernelError
    from ..kernel import info
    from ..kernel import sys as ksys

    try:
        with ksys.get_fd_by_id("prog", prog_id) as fd:
            return info.program_info(int(fd)).type
    except KernelError:
        return "unknown"


def link_text(lk: Any) -> str:
    """A link as ``bpftool link show`` prints it."""
    d, t = lk.details, lk.type
    head = f"{lk.id}: {t}  " + (f"map {d['map_id']}  " if t == "struct_ops"
                                else f"prog {lk.prog_id}  ")
    body = ""
    if t == "raw_tracepoint":
        body = f"\n\ttp '{d.get('tp_name', '')}'  "
    elif t == "tracing":
        body = f"\n\tprog_type {_prog_type_of(lk.prog_id)}  " \
               f"attach_type {_attach_type(d['attach_type'])}  "
        if d["target_obj_id"] or d["target_btf_id"]:
            body += f"\n\ttarget_obj_id {d['target_obj_id']}  " \
                    f"target_btf_id {d['target_btf_id']}  "
    elif t == "cgroup":
        body = f"\n\tcgroup_id {d['cgroup_id']}  attach_type {_attach_type(d['attach_type'])}  "
    elif t == "iter":
        body = f"target_name {d.get('target_name', '')}  " + (
            f"map_id {d['map_id']}  " if d.get("map_id") else "")
    elif t == "netns":
        body = f"\n\tnetns_ino {d['netns_ino']}  attach_type {_attach_type(d['attach_type'])}  "
    elif t == "netfilter":
        body = "\n\t" + _netfilter_words(d)
    elif t == "xdp":
        body = f"\n\tifindex {_ifname(d['ifindex'])} "
    elif t in ("tcx", "netkit"):
        body = f"\n\tifindex {_ifname(d['ifindex'])}  attach_type " \
               f"{_attach_type(d['attach_type'])} "
    elif t == "sockmap":
        body = f"\n\tmap_id {d['map_id']}  attach_type {_attach_type(d['attach_type'])}  "
    elif t in ("kprobe_multi", "uprobe_multi"):
        body = f"\n\t{t.replace('_', '.')}  func_cnt {d.get('count', 0)}  "
    elif t == "perf_event":
        kind = d.get("event_type", "")
        if kind == "tracepoint":
            body = f"\n\ttracepoint {d.get('tp_name', '')}  "
        elif kind in ("kprobe", "kretprobe"):
            addr = f" {d['addr']:x}" if d.get("addr") else ""
            off = f"+{d['offset']:#x}" if d.get("offset") else ""
            body = f"\n\t{kind}{addr} {d.get('func_name', '')}{off}  "
        elif kind in ("uprobe", "uretprobe"):
            body = f"\n\t{kind} {d.get('file_name', '')}+{d.get('offset', 0):#x}  "
        elif kind:
            body = f"\n\tevent_type {kind}  "
        if d.get("cookie"):
            body += f"cookie {d['cookie']}  "
    return head + body


def cmd_link_show(args: argparse.Namespace) -> int:
    """``pybpf link list|show [LINK]``."""
    from ..kernel import info
    from ..kernel import sys as ksys

    words = Words(args.words, "link show")
    if words:
        links = []
        for link_id in select_ids(words, "link"):
            with ksys.get_fd_by_id("link", link_id) as fd:
                links.append(info.link_info(int(fd)))
        words.done()
        single = True
    else:
        links, single = list(info.links()), False
    if json_mode(args):
        records = [link_record(lk) for lk in links]
        print_json(args, records[0] if single and len(records) == 1 else records)
    else:
        for lk in links:
            print(link_text(lk))
    return 0


def cmd_link_detach(args: argparse.Namespace) -> int:
    """``pybpf link detach LINK``: detach the program, even if the link is pinned."""
    from ..kernel.links import KernelLink

    words = Words(args.words, "link detach")
    (link_id,) = select_ids(words, "link", one=True)
    words.done()
    with KernelLink.from_id(link_id) as link:
        link.detach()
    if json_mode(args):
        print_json(args, None)
    return 0


def cmd_link_pin(args: argparse.Namespace) -> int:
    """``pybpf link pin LINK FILE``."""
    from ..kernel.links import KernelLink

    words = Words(args.words, "link pin")
    (link_id,) = select_ids(words, "link", one=True)
    path = words.take("FILE (a path in a bpffs)")
    words.done()
    with KernelLink.from_id(link_id) as link:
        link.pin(path)
    if json_mode(args):
        print_json(args, None)
    return 0


# --- net ----------------------------------------------------------------------------------


def cmd_net_list(args: argparse.Namespace) -> int:
    """``pybpf net list [dev NAME]``."""
    from ..kernel.net import net_list, netfilter_names

    words = Words(args.words, "net list")
    dev = None
    if words.accept("dev"):
        dev = words.take("dev NAME")
    words.done()
    listing = net_list(dev)
    if json_mode(args):
        tc = []
        for t in listing.tc:
            r: dict[str, Any] = {"devname": t.devname, "ifindex": t.ifindex, "kind": t.kind}
            if t.name:
                r["name"] = t.name
            if t.kind.startswith(("tcx/", "netkit/")):
                r.update(prog_id=t.prog_id, prog_flags=_flag_words(t.prog_flags),
                         link_id=t.link_id, link_flags=_flag_words(t.link_flags))
            else:
                r["id"] = t.prog_id
            tc.append(r)
        nf = []
        for n in listing.netfilter:
            family, hook = netfilter_names(n.pf, n.hook)
            nf.append({"pf": family, "hook": hook, "prio": n.priority, "flags": n.flags,
                       "prog_id": n.prog_id})
        print_json(args, [{
            "xdp": [{"devname": x.devname, "ifindex": x.ifindex, "mode": x.mode,
                     "id": x.prog_id} for x in listing.xdp],
            "tc": tc,
            "flow_dissector": [{"id": i} for i in listing.flow_dissector],
            "netfilter": nf}])
        return 0
    out = ["xdp:"]
    out += [f"{x.devname}({x.ifindex}) {x.mode} id {x.prog_id}" for x in listing.xdp]
    out += ["", "tc:"]
    for t in listing.tc:
        name = f" {t.name}" if t.name else ""
        if t.kind.startswith(("tcx/", "netkit/")):
            line = f"{t.devname}({t.ifindex}) {t.kind}{name} prog_id {t.prog_id} "
            if t.prog_flags:
                line += f"{' '.join(_flag_words(t.prog_flags))} "
            if t.link_id:
                line += f"link_id {t.link_id} "
            out.append(line)
        else:
            out.append(f"{t.devname}({t.ifindex}) {t.kind}{name} id {t.prog_id}")
    out += ["", "flow_dissector:"]
    out += [f"id {i}" for i in listing.flow_dissector]
    out += ["", "netfilter:"]
    for n in listing.netfilter:
        family, hook = netfilter_names(n.pf, n.hook)
        out.append(f"\t{family} {hook} prio {n.priority} prog_id {n.prog_id}")
    print("\n".join(out) + "\n")
    return 0


def _flag_words(flags: int) -> list[str]:
    from ..spec import defines

    names = [("replace", defines.BPF_F_REPLACE), ("before", defines.BPF_F_BEFORE),
             ("after", defines.BPF_F_AFTER), ("id", defines.BPF_F_ID)]
    return [name for name, bit in names if flags & bit]


# --- cgroup -------------------------------------------------------------------------------

def _cgroup_header(effective: bool) -> str:
    flags = "" if effective else f" {'AttachFlags':<15}"
    return f"{'ID':<8} {'AttachType':<15}{flags} {'Name':<15}"


def _cgroup_program_text(p: Any, indent: bool, effective: bool) -> str:
    flags = "" if effective else f" {p.attach_flags:<15}"
    return (f"{'    ' if indent else ''}{p.id:<8} {p.attach_type:<15}{flags} "
            f"{p.name:<15} {p.attach_btf_name:<15}")


def _cgroup_program_json(p: Any, effective: bool) -> dict[str, Any]:
    r: dict[str, Any] = {"id": p.id, "attach_type": p.attach_type}
    if not effective:
        r["attach_flags"] = p.attach_flags
    r.update(name=p.name, attach_btf_name=p.attach_btf_name,
             attach_btf_obj_id=p.attach_btf_obj_id, attach_btf_id=p.attach_btf_id)
    return r


def cmd_cgroup_tree(args: argparse.Namespace) -> int:
    """``pybpf cgroup tree [ROOT] [effective]``."""
    from ..kernel.cgroups import cgroup_tree

    words = Words(args.words, "cgroup tree")
    effective = False
    root = None
    while words:
        word = words.take("ROOT | effective")
        if word == "effective":
            effective = True
        elif root is None:
            root = word
        else:
            raise ArgumentError(f"cgroup tree: unexpected {word!r}")
    groups = [g for g in cgroup_tree(root, effective=effective) if g.programs]
    if json_mode(args):
        print_json(args, [{"cgroup": g.path,
                           "programs": [_cgroup_program_json(p, effective)
                                        for p in g.programs]}
                          for g in groups])
        return 0
    print("CgroupPath")
    print(_cgroup_header(effective))
    for g in groups:
        print(g.path)
        for p in g.programs:
            print(_cgroup_program_text(p, g.level > 0, effective))
    return 0


def cmd_cgroup_show(args: argparse.Namespace) -> int:
    """``pybpf cgroup show CGROUP [effective]``."""
    from ..kernel.cgroups import cgroup_programs

    words = Words(args.words, "cgroup show")
    path = words.take("CGROUP (a cgroup v2 directory)")
    effective = words.accept("effective") is not None
    words.done()
    programs = cgroup_programs(path, effective=effective)
    if json_mode(args):
        print_json(args, [_cgroup_program_json(p, effective) for p in programs])
        return 0
    if programs:
        print(_cgroup_header(effective))
    for p in programs:
        print(_cgroup_program_text(p, False, effective))
    return 0


# --- feature ------------------------------------------------------------------------------

_SYSCTL_TEXT = {
    "unprivileged_bpf_disabled": {
        0: "bpf() syscall for unprivileged users is enabled",
        1: "bpf() syscall restricted to privileged users (without recovery)",
        2: "bpf() syscall restricted to privileged users (admin can change)",
        None: "Unable to retrieve required privileges for bpf() syscall"},
    "bpf_jit_enable": {
        0: "JIT compiler is disabled", 1: "JIT compiler is enabled",
        2: "JIT compiler is enabled with debugging traces in kernel logs",
        None: "Unable to retrieve JIT-compiler status"},
    "bpf_jit_harden": {
        0: "JIT compiler hardening is disabled",
        1: "JIT compiler hardening is enabled for unprivileged users",
        2: "JIT compiler hardening is enabled for all users",
        None: "Unable to retrieve JIT hardening status"},
    "bpf_jit_kallsyms": {
        0: "JIT compiler kallsyms exports are disabled",
        1: "JIT compiler kallsyms exports are enabled for root",
        2: "JIT compiler kallsyms exports are enabled for all users",
        None: "Unable to retrieve JIT kallsyms export status"},
}
_MISC_TEXT = {"have_large_insn_limit": "Large program size limit",
              "have_bounded_loops": "Bounded loop support",
              "have_v2_isa_extension": "ISA extension v2",
              "have_v3_isa_extension": "ISA extension v3"}


def _available(value: bool | None) -> str:
    return "is available" if value else ("availability unknown" if value is None
                                         else "is NOT available")


def cmd_feature_probe(args: argparse.Namespace) -> int:
    """``pybpf feature probe [kernel] [full]``: what this kernel supports."""
    from ..kernel.feature_report import probe_report

    words = Words(args.words, "feature probe")
    full = False
    while words:
        word = words.take("kernel | full")
        if word == "full":
            full = True
        elif word != "kernel":
            raise ArgumentError(f"feature probe: only 'kernel' and 'full' are supported, "
                                f"not {word!r}")
    report = probe_report(helpers=not args.no_helpers, full=full)
    if json_mode(args):
        print_json(args, report)
        return 0
    out = ["Scanning system configuration..."]
    config = report["system_config"]
    for name, texts in _SYSCTL_TEXT.items():
        value = config.get(name)
        out.append(texts.get(value, f"{name} has unknown value {value}"))
    limit = config.get("bpf_jit_limit")
    out.append(f"Global memory limit for JIT compiler for unprivileged users is {limit} bytes"
               if limit is not None else "Unable to retrieve global memory limit for JIT "
                                         "compiler for unprivileged users")
    options = [k for k in config if k.startswith("CONFIG_")]
    if not options:
        out.append("Unable to find kernel config file")
    for name in options:
        value = config[name]
        out.append(f"{name} is set to {value}" if value is not None else f"{name} is not set")
    out += ["", "Scanning system call availability..."]
    out.append("bpf() syscall is available" if report["syscall_config"]["have_bpf_syscall"]
               else "bpf() syscall is NOT available")
    out += ["", "Scanning eBPF program types..."]
    for key, value in report["program_types"].items():
        name = key.removeprefix("have_").removesuffix("_prog_type")
        out.append(f"eBPF program_type {name} {_available(value)}")
    out += ["", "Scanning eBPF map types..."]
    for key, value in report["map_types"].items():
        name = key.removeprefix("have_").removesuffix("_map_type")
        out.append(f"eBPF map_type {name} {_available(value)}")
    if report["helpers"]:
        out += ["", "Scanning eBPF helper functions..."]
        for key, helpers in report["helpers"].items():
            name = key.removesuffix("_available_helpers")
            out.append(f"eBPF helpers supported for program type {name}:")
            available = report["program_types"].get(f"have_{name}_prog_type")
            if available is False:
                out.append("\tProgram type not supported")
            elif available is None:
                out.append("\tCould not determine which helpers are available")
            out += [f"\t- {h}" for h in helpers]
    out += ["", "Scanning miscellaneous eBPF features..."]
    for key, value in report["misc"].items():
        out.append(f"{_MISC_TEXT.get(key, key)} {_available(value)}")
    print("\n".join(out) + "\n")
    return 0


# --- perf ---------------------------------------------------------------------------------


def cmd_perf_list(args: argparse.Namespace) -> int:
    """``pybpf perf list``: programs attached through perf events and raw
    tracepoints, by the process and fd that hold them."""
    from ..kernel.queries import perf_attachments

    Words(getattr(args, "words", []), "perf list").done()
    found = list(perf_attachments())
    if json_mode(args):
        out = []
        for q in found:
            r: dict[str, Any] = {"pid": q.pid, "fd": q.fd, "prog_id": q.prog_id,
                                 "fd_type": q.fd_type}
            if q.fd_type in ("tracepoint", "raw_tracepoint"):
                r["tracepoint"] = q.name
            elif q.fd_type in ("kprobe", "kretprobe"):
                if q.name:
                    r.update(func=q.name, offset=q.offset)
                else:
                    r["addr"] = q.address
            elif q.fd_type in ("uprobe", "uretprobe"):
                r.update(filename=q.name, offset=q.offset)
            out.append(r)
        print_json(args, out)
        return 0
    for q in found:
        line = f"pid {q.pid}  fd {q.fd}: prog_id {q.prog_id}  {q.fd_type}  "
        if q.fd_type in ("tracepoint", "raw_tracepoint"):
            line += q.name
        elif q.fd_type in ("kprobe", "kretprobe"):
            line += f"func {q.name}  offset {q.offset}" if q.name else f"addr {q.address}"
        elif q.fd_type in ("uprobe", "uretprobe"):
            line += f"filename {q.name}  offset {q.offset}"
        print(line.rstrip())
    return 0


# --- registration -------------------------------------------------------------------------


def _verb(parent: Any, names: tuple[str, ...], func: Any, short: str, long: str,
          usage: str, nargs: str) -> argparse.ArgumentParser:
    q = None
    for name in names:
        q = parent.add_parser(name, help=short + (f" (as {names[0]})" if name != names[0]
                                                  else ""), description=long)
        if usage:
            q.add_argument("words", nargs=nargs, metavar=usage,
                           help="what to work on: " + usage)
        add_output_options(q)
        q.set_defaults(func=func)
    assert q is not None
    return q


def register(sub: Any) -> None:
    """Add ``link``, ``net``, ``cgroup``, ``feature`` and ``perf``."""
    link_help = "LINK is id N | pinned PATH (or a bare id or path)."
    p = sub.add_parser("link", help="inspect and detach links (like bpftool link)",
                       description="BPF links: programs attached to hooks. " + link_help)
    add_output_options(p)
    s = p.add_subparsers(dest="link_command", metavar="COMMAND", required=True,
                             help="the verb")
    _verb(s, ("list", "show"), cmd_link_show, "every link, or the one LINK selects",
          "Show every link, or the one LINK selects. " + link_help, "[LINK]", "*")
    _verb(s, ("detach",), cmd_link_detach, "detach a link's program",
          "Detach the program of LINK now, even if the link is pinned. " + link_help,
          "LINK", "+")
    _verb(s, ("pin",), cmd_link_pin, "pin a link at a bpffs path",
          "Pin LINK at FILE so that the attachment outlives its process. " + link_help,
          "LINK FILE", "+")

    p = sub.add_parser("net", help="networking programs per interface (like bpftool net)",
                       description="List the XDP and tc programs (tcx links, netkit, "
                                   "cls_bpf filters) of each interface, the flow dissector "
                                   "and netfilter programs.")
    add_output_options(p)
    s = p.add_subparsers(dest="net_command", metavar="COMMAND", required=True,
                             help="the verb")
    _verb(s, ("list", "show"), cmd_net_list, "networking programs, per interface",
          "List networking programs, of every interface or of dev NAME.", "[dev NAME]", "*")

    p = sub.add_parser("cgroup", help="programs attached to cgroups (like bpftool cgroup)",
                       description="Programs attached to cgroup v2 directories.")
    add_output_options(p)
    s = p.add_subparsers(dest="cgroup_command", metavar="COMMAND", required=True,
                             help="the verb")
    _verb(s, ("tree",), cmd_cgroup_tree, "every cgroup with programs, below a root",
          "Walk the cgroup hierarchy from ROOT (default: the cgroup v2 mount) and list the "
          "programs of each cgroup; 'effective' includes inherited ones.",
          "[ROOT] [effective]", "*")
    _verb(s, ("show", "list"), cmd_cgroup_show, "the programs of one cgroup",
          "List the programs attached to CGROUP; 'effective' includes inherited ones.",
          "CGROUP [effective]", "+")

    p = sub.add_parser("feature", help="what this kernel supports (like bpftool feature)",
                       description="Probe the kernel for BPF features.")
    add_output_options(p)
    s = p.add_subparsers(dest="feature_command", metavar="COMMAND", required=True,
                             help="the verb")
    q = _verb(s, ("probe",), cmd_feature_probe,
              "program types, map types, helpers and settings",
              "Report the system's BPF settings, then probe program types, map types, the "
              "helpers each program type may call and ISA features by loading small "
              "programs ('full' includes helpers whose probe makes the kernel log a "
              "warning). The helper scan loads thousands of programs: --no-helpers skips "
              "it.", "[kernel] [full]", "*")
    q.add_argument("--no-helpers", action="store_true",
                   help="skip the helper scan (the slow part)")

    p = sub.add_parser("perf", help="programs attached through perf events (like bpftool "
                                    "perf)",
                       description="Programs attached to tracepoints, kprobes and uprobes "
                                   "through perf events, by the process and fd holding them.")
    add_output_options(p)
    s = p.add_subparsers(dest="perf_command", metavar="COMMAND", required=True,
                             help="the verb")
    _verb(s, ("list", "show"), cmd_perf_list, "every perf event attachment",
          "List programs attached through perf event and raw tracepoint fds.", "", "*")
