"""uprobe attachment, kept under its old name: the code is in
:mod:`pybpf.kernel.attach` (``attach.uprobe``, ``attach.uprobe_multi``,
``attach.usdt``)."""

from __future__ import annotations

from .attach import parse_target, resolve, uprobe, uprobe_multi

__all__ = ["parse_target", "resolve", "uprobe", "uprobe_multi"]
