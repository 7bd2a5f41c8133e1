"""The user-space half of a program file: load what the file compiles to on
a backend (the kernel or pybpf's VM) and read its maps, globals and events
typed by the file's own declarations::

    from pybpf.lang.run import load

    with load("exitsnoop.py", knobs={"min_duration_ns": 10**6}) as f:
        f.attach()
        f.ringbuf(events, print)          # events carries Event records
        f.poll(duration=5)
        print(counts.items())             # the declaration reads the loaded map

:func:`run` is ``pybpf run-py``: compile, load, attach, print every record
and, at the end, every map.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from . import declare as d
from . import types as t
from .compiler import Compilation, compile_file, compile_module


def _decoder(ctype: t.CType | None) -> Callable[[bytes], Any] | None:
    if ctype is None:
        return None
    return lambda data: d.decode_value(ctype, bytes(data)[:ctype.size])


class LoadedFile:
    """A compiled program file loaded on a backend: ``compilation``,
    ``collection`` (the backend's :class:`~pybpf.backend.Collection`),
    ``backend`` (``"kernel"`` or ``"vm"``).  While it is open the file's map
    and global declarations read the loaded ones."""

    def __init__(self, compilation: Compilation, collection: Any, backend: str):
        self.compilation = compilation
        self.collection = collection
        self.backend = backend
        self.readers: list[Any] = []
        self.attachments: dict[str, Any] = {}
        for name, m in compilation.maps.items():
            m.bound = collection.maps[name]
        for name, g in compilation.globals.items():
            section = compilation.backend.globals[name].section
            g.bound = (lambda s=section, n=name: collection.maps[s][0][n])

    def _name(self, m: Any) -> str:
        return m.name if isinstance(m, d.MapDef) else str(m)

    def ringbuf(self, m: Any, callback: Callable[[Any], Any]) -> Any:
        """Read ring buffer ``m`` (a declaration or a name): ``callback``
        gets each record decoded as the program's record type (the Struct
        class, when it is one)."""
        name = self._name(m)
        reader = self.collection.ringbuf(name, callback,
                                         record=_decoder(self.compilation.record_types.get(name)))
        self.readers.append(reader)
        return reader

    def records(self, m: Any, *, wait: float = 0.1) -> list[Any]:
        """The records waiting in ring buffer ``m``, decoded (on the kernel,
        those that arrive within ``wait`` seconds)."""
        name = self._name(m)
        decode = _decoder(self.compilation.record_types.get(name))
        if self.backend == "vm":
            return list(self.collection.ringbuf(name, record=decode))
        from ..kernel.runner import poll

        got: list[Any] = []
        reader = self.collection.ringbuf(name, got.append, record=decode)
        try:
            poll([reader], duration=wait)
        finally:
            reader.close()
        return got

    def perfbuf(self, m: Any, callback: Callable[[Any], Any]) -> Any:
        """Read perf event array ``m`` (kernel only), records decoded likewise."""
        name = self._name(m)
        reader = self.collection.perfbuf(name, callback,
                                         record=_decoder(self.compilation.record_types.get(name)))
        self.readers.append(reader)
        return reader

    def attach(self, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Attach every program where its section says (kernel only)."""
        from ..kernel.runner import attach_all

        attached, _ = attach_all(self.collection, options)
        self.attachments.update(attached)
        return attached

    def poll(self, *, duration: float | None = None,
             until: Callable[[], bool] | None = None) -> int:
        """Run the readers' callbacks until ``duration`` seconds, ``until()``,
        Ctrl-C or SIGTERM; returns the number of records read."""
        from ..kernel.runner import Stop, poll, stoppable

        try:
            with stoppable():
                return poll(self.readers, duration=duration, until=until)
        except (KeyboardInterrupt, Stop):
            return 0

    def close(self) -> None:
        """Detach, close the readers and the collection; unbind the declarations."""
        for reader in reversed(self.readers):
            reader.close()
        for a in reversed(list(self.attachments.values())):
            a.close()
        self.readers.clear()
        self.attachments.clear()
        for m in self.compilation.maps.values():
            m.bound = None
        for g in self.compilation.globals.values():
            g.bound = None
        self.collection.close()

    def __enter__(self) -> LoadedFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def load(source: str | Path | Compilation, *, backend: str = "kernel",
         knobs: Mapping[str, Any] | None = None) -> LoadedFile:
    """Compile (unless given a :class:`Compilation`) and load a program file
    on ``backend`` (``"kernel"`` or ``"vm"``), knobs set first.  A file that
    is already running (``load(__file__)`` in a tool run as
    ``python tool.py``) is compiled from that module, so the declarations
    its code holds are the ones bound to the loaded maps."""
    if isinstance(source, Compilation):
        compilation = source
    else:
        running = running_module(Path(source))
        compilation = compile_module(running) if running is not None else compile_file(source)
    spec = compilation.object_spec()
    for name, value in (knobs or {}).items():
        g = compilation.globals.get(name)
        if g is None or not g.const:
            raise KeyError(f"{name!r} is not a Knob of {compilation.backend.path}")
        spec.set_variable(name, d.encode_value(g.ctype, value) if not isinstance(value, int)
                          else value)
    if backend == "kernel":
        from .. import kernel
        from ..errors import VerifierError

        try:
            coll = kernel.load(spec)
        except VerifierError as e:
            _name_the_python_line(e)
            raise
    elif backend == "vm":
        from .. import vm

        coll = vm.load(spec)
    else:
        raise ValueError(f"backend is 'kernel' or 'vm', not {backend!r}")
    return LoadedFile(compilation, coll, backend)


def running_module(path: Path) -> Any:
    """The module already running from ``path`` — the script (``__main__``)
    or a module imported from it — or None.  Copies :func:`compile_file`
    made (``pybpf_lang_*``) do not count."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):     # RuntimeError: a symlink loop (Python < 3.13)
        return None
    main = sys.modules.get("__main__")
    others = [m for n, m in list(sys.modules.items()) if not n.startswith("pybpf_lang_")]
    for module in [main, *others]:
        where = getattr(module, "__file__", None)
        if where and Path(where).name == target.name and Path(where).resolve() == target:
            return module
    return None


def _name_the_python_line(error: Any) -> None:
    """Add the program file's line where the kernel's verifier stopped (from
    the log's line info) to a refusal's message."""
    from ..kernel.refusals import source_of_refusal

    log = getattr(error, "log", "") or ""
    where = source_of_refusal(log, getattr(error, "pc", None)) if log else None
    if where is not None and error.args and str(where) not in str(error.args[0]):
        error.args = (f"{error.args[0]}\n  {where}", *error.args[1:])


def format_value(value: Any) -> str:
    """A record or value as one line."""
    if isinstance(value, d.Struct):
        return " ".join(f"{n}={_plain(getattr(value, n))}" for n in value.__ctype__.fields)
    if isinstance(value, dict):
        return " ".join(f"{k}={_plain(v)}" for k, v in value.items())
    return str(_plain(value))


def _plain(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    if isinstance(v, d.Struct):
        return "{" + format_value(v) + "}"
    return v


def run(path: str | Path, *, duration: float | None = None,
        knobs: Mapping[str, Any] | None = None, options: Mapping[str, Any] | None = None,
        out: Callable[[str], Any] = print) -> int:
    """``pybpf run-py``: compile ``path``, load it into the kernel, attach
    every program, print each record its buffers carry until Ctrl-C or
    ``duration``, then print every hash and array map.  Returns the number
    of records."""
    from ..kernel.runner import run as run_collection

    with load(path, knobs=knobs) as f:
        readers = []
        comp = f.compilation
        for name, m in comp.maps.items():
            def show(record: Any, name: str = name) -> None:
                out(f"{name}: {format_value(record)}")
            if m.kind == "ringbuf":
                readers.append(f.collection.ringbuf(name, show,
                                                    record=_decoder(comp.record_types.get(name))))
            elif m.kind == "perf_event_array":
                readers.append(f.collection.perfbuf(name, show,
                                                    record=_decoder(comp.record_types.get(name))))
        f.readers.extend(readers)
        result = run_collection(f.collection, options=options, readers=readers,
                                duration=duration, on_ready=lambda: out(
                                    f"running {', '.join(comp.programs)}; Ctrl-C to stop"))
        for name, m in comp.maps.items():
            if m.kind in ("ringbuf", "perf_event_array", "prog_array", "stack_trace",
                          "array_of_maps", "hash_of_maps", "queue", "stack"):
                continue
            items = m.items()
            if m.kind.endswith("array"):
                items = [(k, v) for k, v in items if (sum(v) if isinstance(v, list) else v)]
            out(f"{name}:")
            for k, v in sorted(items, key=lambda kv: repr(kv[0])):
                out(f"  {_plain(k)}: {format_value(v)}")
        return result.records


__all__ = ["LoadedFile", "format_value", "load", "run"]
