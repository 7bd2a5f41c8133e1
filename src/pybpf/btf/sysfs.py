"""Where the running kernel exposes its BTF (a module of its own so that
:mod:`pybpf.btf.dumpcache` can name it without importing the parser)."""

SYSFS_BTF_DIR = "/sys/kernel/btf"
"""The kernel's BTF: ``vmlinux`` and one split BTF file per loaded module."""
VMLINUX_PATH = "/sys/kernel/btf/vmlinux"
"""The running kernel's own BTF."""

__all__ = ["SYSFS_BTF_DIR", "VMLINUX_PATH"]
