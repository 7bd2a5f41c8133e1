"""``pybpf gen``: code generated from objects (placeholder until bindings land)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add ``gen`` to the CLI's subparsers."""
