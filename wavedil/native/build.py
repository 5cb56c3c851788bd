"""The package's C sources compiled with the system C compiler, once per machine.

``build(cc, source)`` compiles ``source``, a C file or several that make one library (``cc -O3
-march=native -shared -fPIC``; about a second here), into
``$XDG_CACHE_HOME/wavedil/native/<key>/libwd<name>.so`` (default ``~/.cache``, the name the
first file's), keyed by the sources and the local headers they include (``vec8.h``,
``vmath8.h``), the compiler's version, the flags and the CPU's feature flags, and written
atomically (a temporary file, then a rename), so concurrent first uses are safe and a changed
source or machine builds afresh. Callers fall back to their own slower code, with the same
results, where there is no compiler or the build fails. :func:`load_library` is the one
loader: the built library, or an :class:`Unavailable` that says why there is none. Used by the
generation engines' kernel (``kernel.py``: ``gemm.c``, ``stack.c``, ``sampler.c``), the
chunked training pass's gate (``gate.py``, ``gate.c``) and the effect training pass's layer
(``effect_layer.py``, ``effect_layer.c``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

FLAGS = ["-O3", "-march=native", "-shared", "-fPIC"]


def cache_home() -> Path:
    """The package's folder in the user's cache: ``$XDG_CACHE_HOME/wavedil`` (default
    ``~/.cache/wavedil``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "wavedil"


def cache_root() -> Path:
    """Where built libraries go: ``cache_home() / "native"``."""
    return cache_home() / "native"


def cpu_model() -> str:
    """This CPU in one line: its model name, and family/model/stepping where /proc/cpuinfo
    gives them (cloud CPUs often share a model name), else ``platform.processor()``."""
    facts: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "stepping") and key not in facts:
                facts[key] = value.strip()
            if not line.strip() and facts:
                break
    except OSError:
        pass
    if "model name" not in facts:
        return platform.processor() or platform.machine()
    ids = ", ".join(f"{k} {facts[k]}" for k in ("cpu family", "model", "stepping") if k in facts)
    return f"{facts['model name']} ({ids})" if ids else facts["model name"]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def _texts(sources: list[Path]) -> list[str]:
    """The sources' texts and those of the local headers they include (``#include "..."``)."""
    texts = []
    for source in sources:
        text = source.read_text()
        texts.append(text)
        texts += [(source.parent / name).read_text()
                  for name in re.findall(r'^#include "([^"]+)"', text, re.M)]
    return texts


def check_rows(kernel: str, tensors: Sequence, whole: bool = False,
               dtype: str = "float32") -> None:
    """Raise ValueError unless every tensor is ``dtype`` (float32 or bfloat16) on the CPU with
    unit column stride (``whole``: contiguous): what a kernel's C loops assume of the rows they
    are handed (the passes hand them only such rows; the check keeps a wrong call from reading
    past them)."""
    for t in tensors:  # the dtype by name: this module does not import torch
        laid = t.is_contiguous() if whole else t.stride(-1) == 1
        if str(t.dtype) != f"torch.{dtype}" or t.device.type != "cpu" or not laid:
            raise ValueError(f"{kernel}: {'contiguous' if whole else 'unit-stride'} {dtype} "
                             f"CPU rows expected, got {t.dtype} on {t.device} with strides "
                             f"{t.stride()}")


def find_compiler() -> str | None:
    """The C compiler to build with: $CC, else cc, gcc or clang on PATH; None if none."""
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(cc: str, source: Path | Sequence[Path], root: Path | None = None) -> Path:
    """Compile ``source`` (one C file, or several linked into one library) or find it compiled
    under ``root`` (default :func:`cache_root`) and return the shared library's path; raises
    what the compiler run raises."""
    sources = [source] if isinstance(source, Path) else list(source)
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256("\0".join([*_texts(sources), version, " ".join(FLAGS), _cpu_flags(),
                                    platform.machine()]).encode()).hexdigest()[:16]
    out = (root or cache_root()) / key / f"libwd{sources[0].stem}.so"
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([cc, *FLAGS, "-o", tmp, *map(str, sources)], check=True,
                       capture_output=True, text=True, timeout=120)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def failure(cc: str, source: Path | Sequence[Path], error: Exception) -> str:
    """One line saying why building ``source`` with ``cc`` failed: the compiler's last line of
    error output, or the error's type."""
    detail = (getattr(error, "stderr", "") or str(error)).strip()
    names = source.name if isinstance(source, Path) else " and ".join(s.name for s in source)
    return (f"building {names} with {cc} failed: "
            f"{detail.splitlines()[-1] if detail else type(error).__name__}")


@dataclass(frozen=True)
class Unavailable:
    """No kernel: why not, in one line. False in a condition, so ``kernel or None`` reads as
    the kernel where there is one; callers fall back to their own slower code."""

    reason: str
    available: ClassVar[bool] = False

    def __bool__(self) -> bool:
        return False

    @property
    def status(self) -> str:
        return f"no C kernel ({self.reason})"


def load_library(source: Path | Sequence[Path], compiler: str | None = None,
                 root: Path | None = None) -> tuple[ctypes.CDLL, str] | Unavailable:
    """The library built from ``source`` with ``compiler`` (default :func:`find_compiler`)
    under ``root`` (default :func:`cache_root`), loaded, with the compiler's name; or an
    :class:`Unavailable` with the reason (no compiler, or the build's error)."""
    cc = compiler or find_compiler()
    if cc is None:
        return Unavailable("no C compiler (cc, gcc or clang) on PATH")
    try:
        return ctypes.CDLL(str(build(cc, source, root))), cc
    except (OSError, AttributeError, subprocess.SubprocessError) as e:
        return Unavailable(failure(cc, source, e))
