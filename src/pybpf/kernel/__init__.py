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

Modules: :mod:`~pybpf.kernel.sys` (one function per bpf() command),
:mod:`~pybpf.kernel.maps`, :mod:`~pybpf.kernel.programs`,
:mod:`~pybpf.kernel.links`, :mod:`~pybpf.kernel.kernel_btf`,
:mod:`~pybpf.kernel.pins` (bpffs), :mod:`~pybpf.kernel.features` (probes),
:mod:`~pybpf.kernel.info` (listing objects), :mod:`~pybpf.kernel.collection`,
:mod:`~pybpf.kernel.attach` (hooks, one module per family) and
:mod:`~pybpf.kernel.runner` (:func:`run`: attach everything, read the ring
buffers, perf buffers and trace pipe until stopped).
Failures raise :class:`~pybpf.errors.KernelError`; verifier rejections
:class:`~pybpf.errors.VerifierError`; map operations :class:`KernelMapError`,
also a :class:`~pybpf.errors.MapError` as the userspace maps raise.
"""

from __future__ import annotations

from ..codecs import Batch, BTFCodec, BytesCodec, Codec, IntCodec
from . import attach as _attach  # noqa: F401  installs what KernelProgram.attach() calls
from ._fd import FD
from .collection import Collection, load
from .kernel_btf import KernelBTF, load_btf
from .links import KernelLink, link_create, raw_tracepoint_open
from .maps import KernelMap, KernelMapError, KernelMapKeyError, possible_cpus
from .programs import KernelProgram, TestRunResult, probe_test_run
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
