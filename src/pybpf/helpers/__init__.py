"""Helper functions for the userspace VM: the registry and the built-ins.

:func:`default_registry` returns a fresh registry holding every built-in
helper under its kernel id; add your own with ``registry.add(id, fn)``.
"""

from __future__ import annotations

from .environment import Environment
from .registry import Helper, HelperContext, HelperRegistry


def default_registry() -> HelperRegistry:
    """A registry of the built-in helpers under their kernel ids."""
    from ..spec import helper_id
    from . import mapops, net  # noqa: F401 - they register their helpers
    from .core import BUILTINS

    registry = HelperRegistry()
    for name, fn in BUILTINS.items():
        registry.add(helper_id(name), fn, name)  # type: ignore[arg-type]
    return registry


__all__ = ["Environment", "Helper", "HelperContext", "HelperRegistry", "default_registry"]
