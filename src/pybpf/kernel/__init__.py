"""The kernel backend: pybpf objects loaded into Linux through ``bpf()``.

Pure Python over the system call (ctypes; no libbpf, no compiler)::

    import pybpf
    from pybpf import kernel

    prog = kernel.KernelProgram.load(pybpf.assemble("r0 = 1\\nexit"), "socket_filter")
    print(prog.test_run(b"\\0" * 64).retval)            # 1

    with kernel.KernelMap.create("hash", 4, 8, 16, key_codec="int",
                                 value_codec="int") as m:   # the map protocol of pybpf.codecs
        m[1] = 2
        print(dict(m.items()))                         # {1: 2}

    with kernel.load(spec) as coll:                    # an ObjectSpec
        coll.programs["prog"].test_run(b"\\0" * 64)

Modules, in layers (each imports only from the layers above it here):

* system calls and kernel interfaces: :mod:`~pybpf.kernel.sys` (one function
  per bpf() command, over the ABI tables of ``_abi`` and the fds of
  ``_fd``), :mod:`~pybpf.kernel.bpffs`, :mod:`~pybpf.kernel.perf`
  (perf_event_open, tracefs), :mod:`~pybpf.kernel.netlink`,
  :mod:`~pybpf.kernel.kallsyms`, :mod:`~pybpf.kernel.symbols` and
  :mod:`~pybpf.kernel.usdt` (what binaries offer to uprobes);
* kernel objects: :mod:`~pybpf.kernel.info`, :mod:`~pybpf.kernel.kernel_btf`,
  :mod:`~pybpf.kernel.features` (probes), :mod:`~pybpf.kernel.maps`,
  :mod:`~pybpf.kernel.programs`, :mod:`~pybpf.kernel.links`,
  :mod:`~pybpf.kernel.pins`;
* hooks: :mod:`~pybpf.kernel.attach` (one module per hook family, chosen by
  the table in :mod:`pybpf.spec.sections`); readers:
  :mod:`~pybpf.kernel.ringbuf`, :mod:`~pybpf.kernel.perfbuf`,
  :mod:`~pybpf.kernel.tracepipe`, :mod:`~pybpf.kernel.readers`;
* whole objects: :mod:`~pybpf.kernel.collection` (:func:`load`: objects linked by
  :mod:`pybpf.linker`, then loaded),
  :mod:`~pybpf.kernel.load_cache`, and :mod:`~pybpf.kernel.runner`
  (:func:`run`: attach everything, read the ring buffers, perf buffers and
  trace pipe until stopped).

Failures raise :class:`~pybpf.errors.KernelError`; verifier rejections
:class:`~pybpf.errors.VerifierError`; map operations :class:`KernelMapError`,
also a :class:`~pybpf.errors.MapError` as the userspace maps raise.
"""

from __future__ import annotations

from ..backend import TestRunResult
from ..codecs import Batch, BTFCodec, BytesCodec, Codec, IntCodec
from . import attach as _attach  # noqa: F401  installs what KernelProgram.attach() calls
from ._fd import FD
from .collection import Collection, KernelResolver, load
from .kernel_btf import KernelBTF, load_btf
from .links import KernelLink, link_create, raw_tracepoint_open
from .maps import KernelMap, KernelMapError, KernelMapKeyError, possible_cpus
from .programs import KernelProgram, probe_test_run
from .runner import RunResult, run
from .sys import unavailable_reason

__all__ = [
    "FD",
    "BTFCodec",
    "Batch",
    "BytesCodec",
    "Codec",
    "Collection",
    "IntCodec",
    "KernelBTF",
    "KernelLink",
    "KernelMap",
    "KernelMapError",
    "KernelMapKeyError",
    "KernelProgram",
    "KernelResolver",
    "RunResult",
    "TestRunResult",
    "link_create",
    "load",
    "load_btf",
    "possible_cpus",
    "probe_test_run",
    "raw_tracepoint_open",
    "run",
    "unavailable_reason",
]
