"""Where the exporter's maps come from: objects it loads itself, and maps
already in the kernel (pinned in a bpf filesystem, or found by id or name).

:func:`open_object` loads an object file into the kernel (attaching every
program, as ``pybpf load --attach`` does) or into the VM;
:func:`object_map` and :func:`kernel_map` give
:class:`~pybpf.export.metrics.MapHandle`\\ s with the BTF each map has —
the object's for its own maps, the map's own BTF (``btf_id``) for maps
found in the kernel.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import BPFError, KernelError
from .config import MapSelector, ObjectConfig
from .metrics import MapHandle


@dataclass
class LoadedObject:
    """An object the exporter loaded: its spec, the collection, what was
    attached and what could not be (program name -> error text)."""

    name: str
    spec: Any
    collection: Any
    attached: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    key: tuple = ()
    """What it was made from (:func:`object_key`): a reload keeps an
    object whose key is unchanged."""

    def close(self) -> None:
        """Detach and close everything."""
        for attachment in reversed(list(self.attached.values())):
            with contextlib.suppress(BPFError, OSError):
                attachment.close()
        self.attached.clear()
        self.collection.close()


def object_key(cfg: ObjectConfig) -> tuple:
    """Everything an object loaded from ``cfg`` depends on: its settings
    and the file's identity (device, inode, size, modification time), so a
    rebuilt file counts as changed."""
    try:
        st = os.stat(cfg.path)
        file: tuple = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        file = ()
    variables = tuple(sorted((name, repr(value)) for name, value in cfg.variables.items()))
    return (cfg.name, cfg.path, cfg.backend, cfg.attach, variables, file)


def selector_key(selector: MapSelector) -> tuple:
    """Which kernel map a selector names, as a comparable value: a reload
    keeps the map it opened for an unchanged selector."""
    return (selector.pinned, selector.map_id, selector.map)


def open_object(cfg: ObjectConfig) -> LoadedObject:
    """Load (and with ``cfg.attach``, attach) the object ``cfg`` names.
    A program that cannot be attached is reported in ``failed``; the
    others run."""
    from ..elf import load_object

    key = object_key(cfg)
    spec = load_object(cfg.path)
    for name, value in cfg.variables.items():
        if isinstance(value, str):
            size = spec.variables[name][2] if name in spec.variables else len(value)
            spec.set_variable(name, value.encode()[:size].ljust(size, b"\0"))
        else:
            spec.set_variable(name, value)
    if cfg.backend == "vm":
        from .. import vm

        return LoadedObject(cfg.name, spec, vm.load(spec), key=key)
    from .. import kernel

    coll = kernel.load(spec)
    loaded = LoadedObject(cfg.name, spec, coll, key=key)
    if cfg.attach:
        from ..kernel.runner import attach_all

        try:
            attached, failed = attach_all(coll, on_error=lambda name, error: None)
        except BaseException:
            coll.close()
            raise
        loaded.attached = attached
        loaded.failed = {name: str(error) for name, error in failed.items()}
    return loaded


def object_map(obj: LoadedObject, name: str) -> MapHandle:
    """Map ``name`` of a loaded object, typed by the object's BTF."""
    if name not in obj.collection.maps:
        raise BPFError(f"object {obj.name!r} has no map {name!r} (maps: "
                       f"{', '.join(obj.collection.maps) or 'none'})")
    mspec = obj.spec.maps.get(name)
    btf = (getattr(mspec, "btf", None) or obj.spec.btf) if mspec is not None else None
    return MapHandle(f"{obj.name}.{name}", obj.collection.maps[name], btf,
                     getattr(mspec, "key_type", None), getattr(mspec, "value_type", None))


def kernel_map(selector: MapSelector) -> MapHandle:
    """The kernel map ``selector`` names (pinned path, id or name; a name
    several maps share is an error), typed by the BTF it was created with."""
    from ..kernel.info import select
    from ..kernel.map_dump import map_btf, open_map

    if selector.pinned:
        how, value = "pinned", selector.pinned
    elif selector.map_id is not None:
        how, value = "id", selector.map_id
    else:
        how, value = "name", selector.map or ""
    try:
        ids = select("map", how, value)
    except KernelError as e:
        raise KernelError(f"looking for the kernel map {how} {value!r}: {e}", errno=e.errno,
                          operation=e.operation) from e
    if len(ids) > 1:
        raise BPFError(f"{len(ids)} kernel maps are named {selector.map!r} (ids "
                       f"{', '.join(map(str, ids))}): select one with map_id = N or pinned")
    m = open_map(ids[0])
    info = m.info()
    btf = map_btf(info)
    label = info.name or selector.pinned or f"id{info.id}"
    return MapHandle(label, m, btf, info.btf_key_type_id or None,
                     info.btf_value_type_id or None, source=selector_key(selector))


def parse_map_argument(text: str) -> MapSelector:
    """A ``--map`` argument: ``NAME``, ``id:N`` (or a bare number) or a
    bpffs path."""
    if text.startswith("/"):
        return MapSelector(pinned=text)
    if text.startswith("id:") or text.isdigit():
        try:
            return MapSelector(map_id=int(text.removeprefix("id:"), 0))
        except ValueError:
            raise BPFError(f"--map {text!r}: id:N needs a number") from None
    return MapSelector(map=text)


__all__ = ["LoadedObject", "kernel_map", "object_key", "object_map", "open_object",
           "parse_map_argument", "selector_key"]
