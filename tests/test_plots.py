"""Receptive-field pictures: the per-level path counts, the PNG, and ``wavedil rf --plot``."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wavedil import path_counts
from wavedil.cli import app
from wavedil.plots import level_paths, plot_receptive_field
from wavedil.train import load_recipe

pytest.importorskip("matplotlib", reason="plots need matplotlib (pip install matplotlib)")

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG, data[:8]
    assert data[12:16] == b"IHDR" and len(data) > 5000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 400 and height >= 300


def test_level_paths_reads_the_stack_from_the_output_down():
    assert level_paths(2, [1, 2]) == [[1, 1, 1, 1], [1, 0, 1], [1]]
    levels = level_paths(3, [2, 2, 2])
    assert levels[0] == path_counts(3, [2, 2, 2])
    assert levels[-1] == [1] and levels[-2] == [1, 0, 1, 0, 1]
    assert [len(level) for level in levels] == [13, 9, 5, 1]
    assert level_paths([2, 3], [1, 1])[0] == path_counts([2, 3], [1, 1])


@pytest.mark.parametrize("kernel, dilations", [
    (3, [2, 2, 2]),                          # dots and edges, holes
    (2, [2 ** i for i in range(10)] * 2),    # 2 x (1 .. 512): the raster form
])
def test_plot_is_a_png(tmp_path, kernel, dilations):
    out = plot_receptive_field(kernel, dilations, tmp_path / "rf.png", sample_rate=16000,
                               title="test")
    assert out == tmp_path / "rf.png"
    assert_png(out)
    assert [p.name for p in tmp_path.iterdir()] == ["rf.png"]


@pytest.mark.parametrize("path, message", [
    ("missing/rf.png", "does not exist"),
    (".", "is a folder"),
    ("rf.jpg", ".png"),
])
def test_plot_bad_paths_raise(tmp_path, path, message):
    with pytest.raises(ValueError, match=message):
        plot_receptive_field(3, [1, 2], tmp_path / path)
    with pytest.raises(ValueError, match="kernel size"):
        plot_receptive_field(0, [1, 2], tmp_path / "rf.png")
    assert not (tmp_path / "rf.png").exists()


def test_cli_plot_from_flags_keeps_the_json(tmp_path):
    out = tmp_path / "rf.png"
    args = ["rf", "-k", "3", "-d", "1,2,9", "--json"]
    plain = json.loads(runner.invoke(app, args).stdout)
    r = runner.invoke(app, args + ["--plot", str(out)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d.pop("plot") == str(out) and d == plain
    assert_png(out)
    r = runner.invoke(app, ["rf", "-k", "3", "-d", "2,2,2", "--plot", str(tmp_path / "t.png")])
    assert r.exit_code == 0 and f"plot: {tmp_path / 't.png'}" in r.stdout.replace("\n", "")
    assert_png(tmp_path / "t.png")


def test_cli_plot_from_a_recipe(tmp_path):
    out = tmp_path / "quickstart.png"
    r = runner.invoke(app, ["rf", str(ROOT / "recipes" / "quickstart.yaml"), "--plot", str(out),
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    assert d["plot"] == str(out) and d["receptive_field"] == recipe.model.receptive_field
    assert_png(out)


def test_cli_plot_bad_path_one_line_exit_2(tmp_path):
    r = runner.invoke(app, ["rf", "-k", "3", "-d", "1,2", "--plot", str(tmp_path / "no" / "rf.png")])
    assert r.exit_code == 2 and r.stdout == ""
    assert r.stderr.strip().count("\n") == 0 and "does not exist" in r.stderr
    assert "Traceback" not in r.output
