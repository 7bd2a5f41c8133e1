"""eBPF programs written in Python: a typed subset of Python compiled through
LLVM's BPF backend (:mod:`pybpf.lang.backend`, shared with other front ends)
into standard ELF objects and :class:`~pybpf.objects.ObjectSpec` s."""
