import json

from typer.testing import CliRunner

from wavedil.cli import app

runner = CliRunner()


def test_rf_json():
    r = runner.invoke(app, ["rf", "--kernel", "3", "--dilations", "1,2,4", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["receptive_field"] == 15 and d["layers"] == [3, 7, 15]
    assert d["holes"] == [] and d["coverage"] == 1.0 and d["hdc_ok"] is True


def test_rf_table_with_milliseconds():
    r = runner.invoke(app, ["rf", "-k", "2", "-d", "1,2,4,8,16,32,64,128,256,512", "-r", "16000"])
    assert r.exit_code == 0
    assert "1024 samples = 64.00 ms" in r.stdout


def test_rf_gridding_holes():
    r = runner.invoke(app, ["rf", "-k", "3", "-d", "2,2,2", "--json"])
    d = json.loads(r.stdout)
    assert d["holes"] == [1, 3, 5, 7, 9, 11] and d["hdc_ok"] is False


def test_rf_from_recipe(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("data:\n  sample_rate: 16000\nmodel:\n  kernel_size: 2\n  layers: 20\n")
    r = runner.invoke(app, ["rf", str(p), "--json"])
    d = json.loads(r.stdout)
    assert d["receptive_field"] == 2047 and d["receptive_field_ms"] == 2047 / 16


def test_bad_input_one_line_exit_2():
    r = runner.invoke(app, ["rf", "-k", "0", "-d", "1,2"])
    assert r.exit_code == 2
    assert r.stderr.strip().count("\n") == 0 and "kernel size" in r.stderr
    r = runner.invoke(app, ["rf", "-d", "1,x"])
    assert r.exit_code == 2 and "--dilations" in r.stderr
    r = runner.invoke(app, ["rf", "missing.yaml"])
    assert r.exit_code == 2 and "no such file" in r.stderr


def test_info_system_one_fact_a_line():
    r = runner.invoke(app, ["info", "--system", "--json"])
    assert r.exit_code == 0, r.output
    facts = json.loads(r.stdout)
    assert list(facts) == ["torch", "numba", "C compiler", "kernel", "threads"]
    r = runner.invoke(app, ["info", "--system"])
    assert r.stdout.splitlines() == [f"{k}: {v}" for k, v in facts.items()]
    r = runner.invoke(app, ["info"])
    assert r.exit_code == 2 and "--system" in r.stderr


def test_generate_kernel_option(tmp_path):
    from wavedil.train import recipe_from_dict, train

    raw = {
        "data": {"path": "embedded", "crop": 256, "corpus_low": 60, "corpus_high": 61,
                 "corpus_timbres": 1, "corpus_takes": 2, "validation_fraction": 0.34,
                 "cache_dir": str(tmp_path / "cache")},
        "model": {"layers": 2, "residual_channels": 4, "gate_channels": 4, "skip_channels": 4,
                  "classes": 16},
        "train": {"steps": 1, "batch_size": 2, "validate_every": 1, "checkpoint_every": 1,
                  "sample_seconds": 0.002, "run_dir": str(tmp_path / "run")},
    }
    train(recipe_from_dict(raw, "tiny"), echo=lambda _: None)
    base = ["generate", str(tmp_path / "run" / "best.pt"), "-o", str(tmp_path / "a.wav"),
            "--samples", "32", "--force", "--json"]
    r = runner.invoke(app, base + ["--engine", "numba", "--kernel", "numba"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["engine"] == "numba" and d["kernel"] == "numba loops (kernel='numba')"
    assert json.loads(runner.invoke(app, base + ["--engine", "torch"]).stdout)["kernel"] == "none"
    for args, text in ((["--engine", "torch", "--kernel", "c"], "torch engine"),
                       (["--kernel", "fortran"], "kernel must be one of auto, c, numba")):
        r = runner.invoke(app, base + args)
        assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0 and text in r.stderr, r.output
