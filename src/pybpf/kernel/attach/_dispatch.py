"""Attaching a program where its section says: the hook comes from the
table in :mod:`pybpf.spec.sections` (:data:`~pybpf.spec.sections.HOOKS`),
the code from the hook family's module here.

:func:`attach_program` is what ``KernelProgram.attach()`` calls: importing
this module installs it (:func:`pybpf.kernel.programs.set_attacher`),
since programs sit below the hooks they attach to.  The family modules are
imported when a program first needs one (the table names them), so that
importing :mod:`pybpf.kernel` does not pull in every hook's dependencies
(netlink sockets, ELF symbol reading...).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ...errors import AttachError
from ...spec.sections import Hook, hook_for, lookup
from ..programs import set_attacher
from ._base import AttachRequest, program_label

__all__ = ["FAMILIES", "applicable_options", "attach_program", "family_module", "hook_of"]

FAMILIES = ("cgroup", "iterator", "kprobe", "net", "netfilter", "perf_event", "socket",
            "struct_ops", "tracing", "uprobe")
"""The hook families (:attr:`Hook.family <pybpf.spec.sections.Hook.family>`),
each implemented by module ``_<family>`` of this package, whose
``SECTION_HOOKS`` maps each of its hook names to a function of an
:class:`AttachRequest`."""


def family_module(family: str) -> ModuleType:
    """The module implementing hook family ``family`` (imported on first use)."""
    if family not in FAMILIES:
        raise KeyError(f"no hook family {family!r} (families: {', '.join(FAMILIES)})")
    return importlib.import_module(f"{__package__}._{family}")


def _section_target(program: Any) -> str | None:
    section = getattr(program, "section", "") or ""
    info = lookup(section) if section else None
    return info.attach_to if info is not None else None


def hook_of(program: Any, target: Any = None) -> Hook | None:
    """The hook ``program`` attaches to: its section's (``program.section``),
    else its expected attach type's or program type's; None when nothing
    says.  ``target`` is the target it will be given, when known (a
    sectionless ``kprobe`` program aimed at ``binary:function`` is a
    uprobe)."""
    at = getattr(program, "expected_attach_type", None)
    return hook_for(getattr(program, "section", "") or "", getattr(program, "type", "") or "",
                    at if isinstance(at, str) else None,
                    target if isinstance(target, str) else None)


def applicable_options(program: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The part of ``options`` that ``program``'s hook takes (the rest would
    be refused): how one set of options (an interface, a cgroup) is given
    to every program of a collection."""
    hook = hook_of(program, options.get("target"))
    if hook is None:
        return {}
    return {k: v for k, v in options.items() if hook.accepts(k)}


def attach_program(program: Any, **options: Any) -> Any:
    """Attach ``program`` where its section name says (``program.section``,
    ``program.attach_to``); ``options`` fill in or override what the section
    cannot say.  Which options a hook takes is in
    :data:`pybpf.spec.sections.HOOKS`:

    * ``target`` — the tracepoint, function, ``binary:symbol`` ...
    * ``interface`` (xdp, tc), ``mode`` (xdp: generic/driver/offload),
      ``direction`` (tc: ingress/egress), ``priority``
    * ``cgroup`` (a path; cgroup programs), ``socket`` (socket filters),
      ``map`` (sk_msg/sk_skb), ``pid`` (uprobes, usdt), ``frequency``,
      ``period`` and ``cpus`` (perf_event), ``cookie``
    * ``retprobe`` (kprobes, uprobes), ``family``/``hook`` (netfilter)

    Missing or inapplicable information raises
    :class:`~pybpf.errors.AttachError` naming the keyword to pass; the
    kernel's refusals are :class:`~pybpf.errors.KernelError`.
    """
    section = getattr(program, "section", "") or ""
    options = dict(options)
    hook = hook_of(program, options.get("target") or getattr(program, "attach_to", None))
    if hook is None:
        ptype = getattr(program, "type", "") or "?"
        where = program_label(program) + (f" (section {section!r})" if section else "")
        raise AttachError(f"{where}: no automatic attachment for {ptype} programs; use an "
                          f"attach function of pybpf.kernel.attach",
                          program=getattr(program, "name", None) or None)
    request = AttachRequest(program, section, hook)
    if hook.family is None:
        raise request.error(hook.note)
    unknown = sorted(k for k in options if not hook.accepts(k))
    if unknown:
        takes = ", ".join(hook.accepted()) or "none"
        raise request.error(f"option{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(unknown)} {'do' if len(unknown) > 1 else 'does'} not "
                            f"apply to {hook.name} programs (options they take: {takes})")
    if hook.keyword is not None:
        given = options.pop(hook.keyword, None)
        generic = options.pop("target", None)
        request.target = given if given is not None else generic
        if request.target is None:
            request.target = getattr(program, "attach_to", None) or _section_target(program)
        if request.target is None and hook.required:
            raise request.error(f"the section does not say {hook.what}: pass "
                                f"{hook.keyword}=..., for example "
                                f"attach({hook.keyword}={hook.example})")
    request.options = options
    return family_module(hook.family).SECTION_HOOKS[hook.name](request)


set_attacher(attach_program)
