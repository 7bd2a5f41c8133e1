"""netfilter hooks: a ``netfilter`` program at one of the IPv4/IPv6 hooks
(Linux 6.4+)::

    with netfilter(prog, family="ipv4", hook="local_in", priority=-128):
        ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...errors import AttachError
from ...spec.layout import enum_values
from ...spec.netlink import BPF_F_NETFILTER_IP_DEFRAG, NFPROTO_NAMES
from ..links import KernelLink, link_create
from ._base import AttachRequest

__all__ = ["netfilter"]

_NF_HOOKS = ("pre_routing", "local_in", "forward", "local_out", "post_routing")


def netfilter(program: Any, *, family: str | int = "ipv4", hook: str | int = "local_in",
              priority: int = 0, defrag: bool = False) -> KernelLink:
    """Attach a ``netfilter`` program at ``hook`` (``pre_routing``,
    ``local_in``, ``forward``, ``local_out``, ``post_routing``) of
    ``family`` (``ipv4``/``ipv6``) with ``priority`` (not 0 nor the
    extremes; lower runs first) — Linux 6.4+."""
    pf = NFPROTO_NAMES[family] if isinstance(family, str) else family
    if isinstance(hook, str):
        hooks = {k.removeprefix("NF_INET_").lower(): v
                 for k, v in enum_values("nf_inet_hooks").items()}
        if hook not in hooks:
            raise AttachError(f"unknown netfilter hook {hook!r} (known: {', '.join(_NF_HOOKS)})")
        hooknum = hooks[hook]
    else:
        hooknum = hook
    if priority == 0:
        priority = 1  # the kernel refuses 0
    return link_create(program, 0, "netfilter", target=f"netfilter {family} {hook} "
                       f"priority {priority}", **{
                           "netfilter.pf": pf, "netfilter.hooknum": hooknum,
                           "netfilter.priority": priority,
                           "netfilter.flags": BPF_F_NETFILTER_IP_DEFRAG if defrag else 0})


SECTION_HOOKS: dict[str, Callable[[AttachRequest], Any]] = {
    "netfilter": lambda r: netfilter(r.program, **r.options),
}
"""How :func:`pybpf.kernel.attach.attach_program` attaches each hook of this
family (keys are :data:`pybpf.spec.sections.HOOKS` names)."""
