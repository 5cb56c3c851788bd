"""Building the package's C sources: a changed source or included header builds afresh."""

import ctypes

import pytest

from wavedil.native import build as cbuild

CC = cbuild.find_compiler()


@pytest.mark.skipif(CC is None, reason="no C compiler")
def test_a_changed_header_or_second_source_builds_afresh(tmp_path):
    (tmp_path / "value.h").write_text("#define VALUE 3\n")
    (tmp_path / "one.c").write_text('#include "value.h"\nint one(void) { return VALUE; }\n')
    (tmp_path / "two.c").write_text("int one(void);\nint two(void) { return 2 * one(); }\n")
    sources = [tmp_path / "one.c", tmp_path / "two.c"]
    first = cbuild.build(CC, sources, tmp_path / "cache")
    assert cbuild.build(CC, sources, tmp_path / "cache") == first  # found, not rebuilt
    assert ctypes.CDLL(str(first)).two() == 6  # both files in one library
    (tmp_path / "value.h").write_text("#define VALUE 5\n")
    second = cbuild.build(CC, sources, tmp_path / "cache")
    assert second != first and ctypes.CDLL(str(second)).two() == 10
    (tmp_path / "two.c").write_text("int one(void);\nint two(void) { return 3 * one(); }\n")
    assert ctypes.CDLL(str(cbuild.build(CC, sources, tmp_path / "cache"))).two() == 15


def test_every_file_the_package_reads_is_in_its_package_data():
    """A wheel carries only the non-Python files pyproject's package-data names: a C source or
    header left out builds here (from the source tree) and fails on an installed copy."""
    import fnmatch
    import subprocess
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]
    tracked = subprocess.run(["git", "ls-files", "wavedil"], cwd=root, capture_output=True,
                             text=True)
    if tracked.returncode != 0:
        pytest.skip("not a git checkout")
    missing = []
    for name in tracked.stdout.split():
        path = Path(name)
        if path.suffix == ".py":
            continue
        package = ".".join(path.parent.parts)
        if not any(fnmatch.fnmatch(path.name, g) for g in globs.get(package, [])):
            missing.append(name)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"


def test_the_kernels_refuse_rows_their_c_loops_would_misread():
    """check_rows, the kernels' guard: float32 CPU rows, unit column stride (contiguous where
    asked); anything else is refused with the kernel and the layout named."""
    import torch

    rows = torch.zeros(6, 8)
    cbuild.check_rows("k", (rows, rows[2:4]))  # a slice of rows is still rows
    cbuild.check_rows("k", (rows,), whole=True)
    with pytest.raises(ValueError, match=r"^k: unit-stride float32 CPU rows expected, got "
                                         r"torch.float64"):
        cbuild.check_rows("k", (rows.double(),))
    with pytest.raises(ValueError, match=r"strides \(1, 8\)"):
        cbuild.check_rows("k", (rows.t(),))
    with pytest.raises(ValueError, match="contiguous"):
        cbuild.check_rows("k", (rows[:, :4],), whole=True)
    cbuild.check_rows("k", (rows[:, :4],))  # unit column stride is enough without whole
