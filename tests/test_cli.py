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
