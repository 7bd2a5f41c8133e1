"""The compiler driver behind :func:`pybpf.toolchain.compile` and ``pybpf cc``."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..cache import cache_root, private_dir, trusted_file, write_file
from ..errors import BPFError

ARCHES = {"x86": "x86", "x86_64": "x86", "amd64": "x86", "arm64": "arm64", "aarch64": "arm64"}
"""Names accepted for ``arch`` -> the ``__TARGET_ARCH_*`` suffix bpf_tracing.h reads."""

MAX_ERROR_LINES = 6

VMLINUX_H_FORMAT = 2
"""Part of the cache key of generated vmlinux.h files: raised when
:func:`pybpf.btf.dump.dump_c` changes what it writes (2: the
``__PYBPF_VMLINUX_KFUNCS`` marker), so older cached headers are not reused."""


class CompileError(BPFError):
    """The compiler rejected the source.  ``str()`` holds the first error
    lines; ``output`` the compiler's full diagnostics."""

    def __init__(self, message: str, *, output: str = "", source: str | None = None,
                 command: Sequence[str] = ()):
        self.reason = message
        self.output = output
        self.source = source
        self.command = list(command)
        super().__init__(message)


class CompilerNotFound(BPFError):
    """No usable BPF compiler: neither the ziglang wheel nor clang."""


@dataclass(frozen=True)
class Compiler:
    """A BPF-capable C compiler: its kind (``zig`` or ``clang``) and the
    command prefix that runs it."""

    kind: str
    command: tuple[str, ...]

    def target_flags(self) -> list[str]:
        """Flags selecting the BPF target (little endian)."""
        if self.kind == "zig":
            return ["-target", "bpfel-freestanding"]
        return ["-target", "bpfel" if sys.byteorder == "little" else "bpfeb"]


def include_dir() -> Path:
    """The directory holding pybpf's ``bpf/*.h`` headers."""
    return Path(__file__).resolve().parent.parent / "include"


def target_arch(arch: str | None = None) -> str:
    """The ``__TARGET_ARCH_*`` name for ``arch`` (default: this machine's)."""
    name = (arch or platform.machine()).lower()
    if name not in ARCHES:
        raise BPFError(f"unknown target architecture {arch!r}; use one of "
                       f"{', '.join(sorted(set(ARCHES.values())))}")
    return ARCHES[name]


def _zig() -> Compiler | None:
    if importlib.util.find_spec("ziglang") is None:
        return None
    return Compiler("zig", (sys.executable, "-m", "ziglang", "cc"))


def _clang() -> Compiler | None:
    path = shutil.which("clang")
    if path is None:
        for version in range(22, 13, -1):
            path = shutil.which(f"clang-{version}")
            if path:
                break
    return Compiler("clang", (path,)) if path else None


def find_compiler(kind: str = "auto") -> Compiler:
    """The compiler to use: ``zig`` (the ziglang wheel), ``clang`` (from
    PATH), or ``auto`` (zig if installed, else clang)."""
    if kind not in ("auto", "zig", "clang"):
        raise BPFError(f"unknown compiler {kind!r}; use auto, zig or clang")
    found = None
    if kind in ("auto", "zig"):
        found = _zig()
    if found is None and kind in ("auto", "clang"):
        found = _clang()
    if found is None:
        hint = {"zig": "pip install 'pybpf[tools]' (the ziglang wheel: pip install ziglang)",
                "clang": "install clang (apt-get install clang)",
                "auto": "pip install 'pybpf[tools]' (the ziglang wheel: pip install "
                        "ziglang), or install clang"}[kind]
        raise CompilerNotFound(f"no BPF C compiler found ({kind}): {hint}")
    return found


_INCLUDES_VMLINUX = re.compile(r'^\s*#\s*include\s*[<"]vmlinux\.h[">]', re.M)


def cache_dir() -> Path:
    """Where generated files (vmlinux.h, zig's cache) are kept between runs:
    this user's private pybpf cache (:func:`pybpf.cache.cache_root`)."""
    return cache_root()


def vmlinux_header(btf_path: str | os.PathLike = "/sys/kernel/btf/vmlinux",
                   directory: str | os.PathLike | None = None) -> Path:
    """A directory holding ``vmlinux.h`` for the kernel BTF at ``btf_path``
    (the running kernel's by default), generated once and cached by the
    BTF's hash."""
    from ..btf import BTF

    try:
        raw = Path(btf_path).read_bytes()
    except OSError as e:
        raise BPFError(f"cannot read kernel BTF {btf_path}: {e.strerror or e}; write "
                       f"vmlinux.h yourself ('pybpf btf vmlinux -o vmlinux.h' on a machine "
                       f"with BTF) and pass its directory with -I") from None
    digest = hashlib.sha256(raw).hexdigest()[:16]
    if directory is not None:
        out_dir = Path(directory)
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        out_dir = private_dir(f"vmlinux-{digest}-v{VMLINUX_H_FORMAT}")
    header = out_dir / "vmlinux.h"
    usable = header.is_file() if directory is not None else trusted_file(header)
    if not usable:  # absent, or (in the cache) not ours to trust: generate it
        text = BTF.from_bytes(raw, path=os.fspath(btf_path)).dump_c()
        write_file(header, text.encode())
    return out_dir


def _needs_vmlinux(src: Path, include_dirs: list[str]) -> bool:
    try:
        text = src.read_text(errors="replace")
    except OSError:
        return False
    if not _INCLUDES_VMLINUX.search(text):
        return False
    return not any((Path(d) / "vmlinux.h").is_file()
                   for d in [*include_dirs, os.fspath(src.resolve().parent)])


def compile(source: str | os.PathLike, output: str | os.PathLike | None = None, *,
            compiler: str = "auto", include_dirs: Iterable[str | os.PathLike] = (),
            defines: Mapping[str, object] | Iterable[str] = (), arch: str | None = None,
            extra_flags: Sequence[str] = (), optimize: str = "-O2", debug: bool = True,
            vmlinux: bool = True, timeout: float = 300,
            on_command: Callable[[list[str]], object] | None = None) -> Path:
    """Compile the BPF C file ``source`` to an object file and return its path.

    ``output`` defaults to the source with ``.o`` instead of ``.c``.
    ``include_dirs`` come before pybpf's own headers; ``defines`` is a
    mapping (``{"DEBUG": 1}``) or ``NAME``/``NAME=VALUE`` strings; ``arch``
    (``x86``, ``arm64``; default this machine's) selects the pt_regs layout
    bpf_tracing.h uses.  BTF comes with ``debug`` (``-g``).  A source that
    includes ``vmlinux.h`` that no include directory holds gets one generated
    from the running kernel's BTF (cached; ``vmlinux=False`` turns this off).
    Compiler errors raise :class:`CompileError` with the first error lines.
    ``on_command`` is called with the compiler's command line before it runs.
    """
    src = Path(source)
    if not src.is_file():
        raise CompileError(f"{src}: no such source file", source=str(src))
    out = Path(output) if output is not None else src.with_suffix(".o")
    cc = find_compiler(compiler)
    cmd = [*cc.command, *cc.target_flags(), optimize]
    if debug:
        cmd.append("-g")
    tarch = target_arch(arch)
    cmd.append(f"-D__TARGET_ARCH_{tarch}")
    for d in ([f"{k}={v}" if v is not None else k for k, v in defines.items()]
              if isinstance(defines, Mapping) else list(defines)):
        cmd.append(f"-D{d}")
    include_dirs = [os.fspath(d) for d in include_dirs]
    if vmlinux and _needs_vmlinux(src, include_dirs):
        include_dirs.append(os.fspath(vmlinux_header()))
    for inc in include_dirs:
        cmd += ["-I", inc]
    cmd += ["-I", os.fspath(src.resolve().parent), "-I", os.fspath(include_dir())]
    cmd += _uapi_include_flags(cc, tarch)
    cmd.append("-fno-stack-protector")
    if cc.kind == "zig":
        # zig's clang emits DWARF unwind tables by default; BPF has no use for them
        cmd += ["-fno-unwind-tables", "-fno-asynchronous-unwind-tables"]
    cmd += [*extra_flags, "-c", os.fspath(src), "-o", os.fspath(out)]
    out.parent.mkdir(parents=True, exist_ok=True)
    if on_command is not None:
        on_command(list(cmd))
    env = dict(os.environ)
    if cc.kind == "zig":
        # per user: a cache in the shared temporary directory belongs to whoever
        # created it first, and nobody else may write to it
        if "ZIG_GLOBAL_CACHE_DIR" not in env:
            env["ZIG_GLOBAL_CACHE_DIR"] = os.fspath(private_dir("zig-cache"))
        env.setdefault("ZIG_LOCAL_CACHE_DIR", env["ZIG_GLOBAL_CACHE_DIR"])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="backslashreplace",
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise CompileError(f"{src}: the compiler ran longer than {timeout} s",
                           source=str(src), command=cmd) from None
    except OSError as e:
        raise CompilerNotFound(f"cannot run {cmd[0]}: {e.strerror or e}") from None
    if proc.returncode != 0:
        raise CompileError(_summary(proc.stderr, src, cc.kind), output=proc.stderr,
                           source=str(src), command=cmd)
    if not out.is_file():
        raise CompileError(f"{src}: the compiler produced no {out}", output=proc.stderr,
                           source=str(src), command=cmd)
    return out


def _uapi_include_flags(cc: Compiler, arch: str) -> list[str]:
    """Where <linux/bpf.h> and <asm/...> come from for programs that include
    the kernel's uapi headers rather than vmlinux.h: the Linux headers the
    ziglang wheel bundles, or the system's multiarch directory for clang."""
    if cc.kind == "zig":
        spec = importlib.util.find_spec("ziglang")
        if spec is None or not spec.origin:
            return []
        libc = Path(spec.origin).parent / "lib" / "libc" / "include"
        arch_dir = libc / ("aarch64-linux-any" if arch == "arm64" else "x86-linux-any")
        flags = []
        if (libc / "any-linux-any").is_dir():
            flags += ["-isystem", os.fspath(libc / "any-linux-any")]
        if arch_dir.is_dir():
            flags += ["-idirafter", os.fspath(arch_dir)]
        return flags
    multiarch = {"x86": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[arch]
    path = Path("/usr/include") / multiarch
    return ["-idirafter", os.fspath(path)] if path.is_dir() else []


def compile_source(text: str, output: str | os.PathLike, *, name: str = "prog.bpf.c",
                   **options) -> Path:
    """Compile C ``text`` (written to a temporary file called ``name``);
    options as for :func:`compile`."""
    with tempfile.TemporaryDirectory(prefix="pybpf-cc-") as tmp:
        src = Path(tmp) / name
        src.write_text(text)
        includes = list(options.pop("include_dirs", ()))
        return compile(src, output, include_dirs=includes, **options)


def _summary(stderr: str, src: Path, kind: str) -> str:
    """The first error lines of a compiler's diagnostics."""
    lines = [ln.rstrip() for ln in stderr.splitlines() if ln.strip()]
    errors = [i for i, ln in enumerate(lines) if "error:" in ln]
    if errors:
        first = errors[0]
        picked = lines[first:first + 3]  # the first error, its source line and caret
        picked = [ln for i, ln in enumerate(picked) if i == 0 or "error:" not in ln]
    else:
        picked = lines[:MAX_ERROR_LINES]
    if not picked:
        picked = [f"{kind} failed without a message"]
    count = len(errors)
    tail = f" ({count} errors)" if count > 1 else ""
    return f"{src}: compilation failed{tail}\n" + "\n".join(picked[:MAX_ERROR_LINES])
