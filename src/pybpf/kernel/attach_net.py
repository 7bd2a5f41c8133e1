"""XDP and tc attachment, kept under its old name: the code is in
:mod:`pybpf.kernel.attach` (``attach.xdp``, ``attach.tc``)."""

from __future__ import annotations

from .attach import TcNetlinkAttachment, XdpNetlinkAttachment, tc, xdp

__all__ = ["TcNetlinkAttachment", "XdpNetlinkAttachment", "tc", "xdp"]
