"""The engine's C matrix kernel (``gemm.c``): built on first use, cached, optional.

The numba engine calls ``wd_gemm`` through its address, so numba's on-disk cache of the
engine stays valid from one process to the next. The library is compiled with the system C
compiler (``cc -O3 -march=native``; about 0.3 s here) into
``$XDG_CACHE_HOME/wavedil/native/<key>/`` (default ``~/.cache``), keyed by the source, the
compiler's version and the CPU's feature flags, and written atomically, so concurrent first
uses are safe. Without a compiler, or with ``WAVEDIL_NATIVE=0``, :func:`gemm_address`
returns 0 and the engine uses its own numba loops: the same results, slower.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("gemm.c")
FLAGS = ["-O3", "-march=native", "-shared", "-fPIC"]
_lib: ctypes.CDLL | None = None
_address: int | None = None
_packed = 0
_reason = ""
PANEL = 16
"""Columns per panel of ``wd_gemm_packed``'s B operand."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "wavedil" / "native"


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(cc: str, root: Path | None = None) -> Path:
    """Compile gemm.c (or find it compiled) under ``root`` (default :func:`cache_root`) and
    return the shared library's path."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), version, " ".join(FLAGS), _cpu_flags(),
                                    platform.machine()]).encode()).hexdigest()[:16]
    out = (root or cache_root()) / key / "libwdgemm.so"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([cc, *FLAGS, "-o", tmp, str(SOURCE)], check=True, capture_output=True,
                       text=True, timeout=120)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def gemm_address(packed: bool = False) -> int:
    """Address of ``wd_gemm`` (or, with ``packed``, of ``wd_gemm_packed``, whose B operand is
    laid out by :func:`pack`), building the library on first use; 0 where it is unavailable."""
    global _lib, _address, _packed, _reason
    if _address is not None:
        return _packed if packed and _address else _address
    _address = 0
    if os.environ.get("WAVEDIL_NATIVE", "1") == "0":
        _reason = "disabled by WAVEDIL_NATIVE=0"
        return 0
    cc = _compiler()
    if cc is None:
        _reason = "no C compiler (cc, gcc or clang) on PATH"
        return 0
    try:
        _lib = ctypes.CDLL(str(build(cc)))
        _address = ctypes.cast(_lib.wd_gemm, ctypes.c_void_p).value or 0
        _packed = ctypes.cast(_lib.wd_gemm_packed, ctypes.c_void_p).value or 0
    except (OSError, AttributeError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", "") or str(e)
        _reason = f"building gemm.c failed: {detail.strip().splitlines()[-1] if detail.strip() else e}"
        _address = _packed = 0
    return _packed if packed else _address


def pack(w: np.ndarray) -> np.ndarray:
    """Matrices (..., K, N), N a multiple of PANEL, stored for ``wd_gemm_packed``: each
    matrix keeps its place and size, its columns regrouped into contiguous (K, PANEL) panels."""
    *lead, K, N = w.shape
    if N % PANEL:
        raise ValueError(f"pack: N={N} is not a multiple of {PANEL}")
    panels = w.reshape(*lead, K, N // PANEL, PANEL).swapaxes(-3, -2)
    return np.ascontiguousarray(panels).reshape(w.shape)


def status() -> str:
    """One line: whether the C kernel is in use, and if not, why."""
    return "C kernel in use" if gemm_address() else f"numba loops ({_reason})"
