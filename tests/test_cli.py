import json

import pytest
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
    assert d["unit"] == "samples"


def test_rf_of_a_vocoder_over_frames_counts_frames():
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[1] / "recipes" / "pitch_harmonic.yaml"
    d = json.loads(runner.invoke(app, ["rf", str(recipe), "--json"]).stdout)
    assert d["unit"] == "frames" and d["receptive_field"] == 127
    assert d["receptive_field_ms"] == pytest.approx(127 / 250 * 1000)  # hop 64 at 16 kHz
    r = runner.invoke(app, ["rf", str(recipe)])
    assert "receptive field: 127 frames = 508.00 ms at 250 frames/s" in r.stdout


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
    assert list(facts) == ["torch", "numba", "C compiler", "kernel", "threads", "cpu", "plans"]
    r = runner.invoke(app, ["info", "--system"])
    assert r.stdout.splitlines() == ([f"{k}: {v}" for k, v in facts.items() if k != "plans"]
                                     + [f"plan: {k} -> {v}" for k, v in facts["plans"].items()])
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
                       (["--kernel", "fortran"], "kernel must be one of auto, c, numba"),
                       (["--batch", "0"], "--batch must be >= 1"),
                       (["--engine", "fast"], "engine"),
                       (["--plan", "fastest"], "--plan")):
        r = runner.invoke(app, base + args)
        assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0 and text in r.stderr, r.output
    # the planner's choice is reported; with nothing to choose, the fixed default says why
    r = runner.invoke(app, base[:-1] + ["--engine", "numba", "--weights", "fast", "--plan",
                                        "fixed"])
    assert r.exit_code == 0, r.output
    assert "engine configuration: fp32, one thread: the fixed default" in r.stdout
    r = runner.invoke(app, ["tune", str(tmp_path / "run" / "best.pt"), "--batch", "1,2",
                            "--weights", "fp32,fast", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [(d["batch"], d["weights"]) for d in rows] == [(1, "fp32"), (1, "fast"), (2, "fp32"),
                                                         (2, "fast")]
    assert all(d["choice"].startswith("fp32") for d in rows)  # widths of no whole panel
    for args, text in ((["--batch", "0"], "--batch must be >= 1"),
                       (["--weights", "int8"], "--weights must be among"),
                       (["--block", "16"], "--block applies to effect models")):
        r = runner.invoke(app, ["tune", str(tmp_path / "run" / "best.pt"), *args])
        assert r.exit_code == 2 and text in r.stderr, r.output
    # an effect is tuned per block size; a vocoder of frames has nothing to tune
    r = runner.invoke(app, ["tune", "pretrained:effect", "--block", "32", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{"block": 32, "route": "panels", "how": "the fixed default "
                                     "(a whole number of panels)", "plan": "block 32: route "
                                     "panels, the fixed default (a whole number of panels)"}]
    for args, text in ((["pretrained:effect", "--weights", "fp32"], "--weights applies to "
                        "WaveNets"), (["pretrained:speech"], "has no compiled engine")):
        r = runner.invoke(app, ["tune", *args])
        assert r.exit_code == 2 and text in r.stderr, r.output


def f0_checkpoint(path, f0_input=True):
    """A tiny untrained vocoder on 8 mel bands (hop 16, 8 kHz), plus log-f0 and voicing."""
    import torch

    from wavedil import WaveNet, WaveNetConfig, save_checkpoint
    from wavedil.data import DataConfig
    from wavedil.wavenet.generate import GenerateConfig

    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=3, kernel_size=2, residual_channels=4, gate_channels=4,
                                  skip_channels=4, classes=16, local_channels=8 + 2 * f0_input,
                                  f0_input=f0_input, cond_channels=4, hop_length=16,
                                  sample_rate=8000))
    data = DataConfig(sample_rate=8000, hop_length=16, n_mels=8, f0=f0_input, f0_min=100.0,
                      f0_max=400.0)
    return save_checkpoint(path, model, data=data, generate=GenerateConfig(engine="torch"))


def test_generate_mel_takes_f0_from_a_flag_or_a_file_beside_it(tmp_path):
    import numpy as np
    import soundfile as sf

    from wavedil.dsp.f0 import f0_features

    ckpt = f0_checkpoint(tmp_path / "f0.pt")
    rng = np.random.default_rng(0)
    bands = rng.uniform(0, 1, (8, 6)).astype(np.float32)  # (n_mels, frames)
    hz = np.array([0, 0, 200, 220, 0, 180], np.float32)  # (frames,), 0 = unvoiced
    np.save(tmp_path / "mel.npy", bands)
    np.save(tmp_path / "hz.npy", hz)
    np.save(tmp_path / "full.npy", np.concatenate([bands, f0_features(hz, hz > 0).numpy()]))

    def generate(*args):
        out = tmp_path / f"{len(list(tmp_path.glob('*.wav')))}.wav"
        r = runner.invoke(app, ["generate", str(ckpt), "-o", str(out), "--seed", "3", "--json",
                                *args])
        return r, (sf.read(out, dtype="float32")[0] if r.exit_code == 0 else None)

    def fails(args, *texts):
        r, _ = generate(*args)
        assert r.exit_code == 2 and r.stderr.strip().count("\n") == 0, r.output
        for text in texts:
            assert text in r.stderr, r.stderr

    fails(["--mel", str(tmp_path / "mel.npy")], "8 mel bands without f0", "--f0 F0.npy", "mel.f0.npy")
    r, flag = generate("--mel", str(tmp_path / "mel.npy"), "--f0", str(tmp_path / "hz.npy"))
    assert r.exit_code == 0, r.output
    assert flag.shape == (6 * 16,) and json.loads(r.stdout)["samples"] == 96
    # the same frames, given whole, or with f0 beside the mel, or frames-first: the same audio
    r, full = generate("--mel", str(tmp_path / "full.npy"))
    assert r.exit_code == 0, r.output
    np.save(tmp_path / "mel.f0.npy", hz)
    r, beside = generate("--mel", str(tmp_path / "mel.npy"))
    assert r.exit_code == 0, r.output
    np.save(tmp_path / "t.npy", bands.T)
    r, transposed = generate("--mel", str(tmp_path / "t.npy"), "--f0", str(tmp_path / "hz.npy"))
    assert r.exit_code == 0, r.output
    np.testing.assert_array_equal(flag, full)
    np.testing.assert_array_equal(flag, beside)
    np.testing.assert_array_equal(flag, transposed)
    # what the model is given: the bands, then log2(f0 / 150 Hz) and voicing
    from wavedil.checkpoint import load_model
    from wavedil.synthesis import load_mel

    local = load_mel(tmp_path / "mel.npy", load_model(ckpt), tmp_path / "hz.npy")  # (10, 6)
    np.testing.assert_allclose(local.numpy()[8:], [[0, 0, np.log2(200 / 150), np.log2(220 / 150),
                                                     0, np.log2(180 / 150)], [0, 0, 1, 1, 0, 1]],
                               rtol=1e-6)
    assert np.array_equal(local.numpy()[:8], bands)

    np.save(tmp_path / "short.npy", hz[:5])
    fails(["--mel", str(tmp_path / "mel.npy"), "--f0", str(tmp_path / "short.npy")],
          "5 frames of f0", "has 6 frames")
    np.save(tmp_path / "neg.npy", -hz)
    fails(["--mel", str(tmp_path / "mel.npy"), "--f0", str(tmp_path / "neg.npy")], ">= 0 Hz")
    fails(["--mel", str(tmp_path / "mel.npy"), "--f0", str(tmp_path / "nope.npy")], "no such file")
    fails(["--mel", str(tmp_path / "full.npy"), "--f0", str(tmp_path / "hz.npy")],
          "already holds the f0 pair")
    np.save(tmp_path / "odd.npy", bands[:5])
    fails(["--mel", str(tmp_path / "odd.npy")], "(n_mels=8 or 10 with f0, frames)", "(5, 6)")
    # --from-wav estimates f0 from the audio itself
    wav = tmp_path / "in.flac"
    sf.write(wav, 0.5 * np.sin(2 * np.pi * 200 * np.arange(1600) / 8000), 8000)
    fails(["--from-wav", str(wav), "--f0", str(tmp_path / "hz.npy")], "--f0 goes with --mel")
    r, copy = generate("--from-wav", str(wav))
    assert r.exit_code == 0 and copy.shape == (1600,), r.output
    # a model without f0 input takes no --f0
    plain = f0_checkpoint(tmp_path / "plain.pt", f0_input=False)
    r = runner.invoke(app, ["generate", str(plain), "-o", str(tmp_path / "p.wav"), "--mel",
                            str(tmp_path / "mel.npy"), "--f0", str(tmp_path / "hz.npy")])
    assert r.exit_code == 2 and "--f0 applies to a model with f0 input" in r.stderr, r.output


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.strip() == f"wavedil {version('wavedil')}"


def test_help_and_version_import_no_torch():
    """`wavedil --help`, every `wavedil COMMAND --help` and `--version` start without torch
    (or numba): commands import what they use, and the package loads its names on first use."""
    import subprocess
    import sys

    code = "\n".join([
        "import sys",
        "from typer.testing import CliRunner",
        "from wavedil.cli import app",
        "names = [c.name or c.callback.__name__.replace('_', '-') for c in app.registered_commands]",
        "for args in [['--help'], ['--version']] + [[name, '--help'] for name in names]:",
        "    r = CliRunner().invoke(app, args)",
        "    assert r.exit_code == 0 and r.output, (args, r.output)",
        "print(len(names), sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'numba'}))",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    count, heavy = done.stdout.split(" ", 1)
    assert int(count) >= 8 and heavy.strip() == "[]"


def test_the_package_names_load_on_first_use_as_plain_imports_did():
    import ast
    import sys

    import wavedil

    # the names type checkers see (imports under TYPE_CHECKING) are the names the package gives
    tree = ast.parse(open(wavedil.__file__).read())
    guarded = next(n for n in tree.body if isinstance(n, ast.If)
                   and getattr(n.test, "id", None) == "TYPE_CHECKING")
    seen = {(node.module, a.name) for node in guarded.body for a in node.names}
    assert seen == {(module, name) for module, names in wavedil._EXPORTS.items() for name in names}
    for module, name in seen:
        assert getattr(wavedil, name) is getattr(sys.modules[f"wavedil.{module}"], name)
    # the public functions are the functions once their modules are imported
    import wavedil.families  # noqa: F401
    import wavedil.effect.process  # noqa: F401
    assert wavedil.generate is sys.modules["wavedil.families"].generate
    assert wavedil.process is sys.modules["wavedil.effect.process"].process
    assert wavedil.data is sys.modules["wavedil.data"] and set(wavedil.__all__) <= set(dir(wavedil))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        wavedil.nope


def test_engine_device_and_format_are_choices_in_the_help_and_bad_ones_one_line():
    from wavedil import cli
    from wavedil.wavenet.engines import ENGINES
    from wavedil.wavenet.engines.choice import CHOICES, PLANS
    from wavedil.export import FORMATS

    from wavedil.effect.process import ENGINES as EFFECT_ENGINES
    from wavedil.effect.model import TANH

    assert cli.ENGINES == ENGINES and cli.FORMATS == tuple(FORMATS)
    assert cli.EFFECT_ENGINES == EFFECT_ENGINES and cli.WEIGHTS == CHOICES and cli.TANH == TANH
    assert cli.PLANS == PLANS
    for command, shown in (("generate", ("auto|torch|numba", "cpu|cuda", "fp32|bf16")),
                           ("process", ("auto|compiled|torch", "model|fast|exact")),
                           ("evaluate", ("auto|torch|numba", "cpu|cuda")),
                           ("export", ("torchscript|onnx|nam",))):
        r = runner.invoke(app, [command, "--help"])
        assert r.exit_code == 0 and all(s in r.stdout for s in shown), r.stdout
    for args, text in ((["generate", "x.pt", "--device", "tpu"],
                        "'tpu' is not one of 'cpu', 'cuda'"),
                       (["evaluate", "x.pt", "wavs", "--engine", "fast"],
                        "'fast' is not one of 'auto', 'torch', 'numba'"),
                       (["export", "x.pt", "--format", "tflite"], "'--format'"),
                       (["generate", "x.pt", "--engin", "torch"], "No such option: --engin"),
                       (["generate"], "Missing argument")):
        r = runner.invoke(app, args)
        assert r.exit_code == 2 and r.stdout == "", r.output
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("error: ") and text in r.stderr, \
            r.stderr
        assert f" {args[0]} --help')" in r.stderr  # (see 'wavedil generate --help')


def test_arguments_found_bad_leave_no_file_behind(tmp_path):
    """A mistake in generate, evaluate --out, export or process writes nothing (no empty wav,
    no output folder), so the corrected command runs without --force."""
    import numpy as np
    import soundfile as sf

    from wavedil import EffectConfig, EffectNet, save_checkpoint
    from wavedil.checkpoint import checkpoint_dict
    from wavedil.effect.data_config import PairedDataConfig

    vocoder = f0_checkpoint(tmp_path / "voc.pt", f0_input=False)  # 8 mel bands, hop 16, 8 kHz
    np.save(tmp_path / "mel.npy", np.full((8, 4), 0.5, np.float32))
    wavs = tmp_path / "wavs"
    wavs.mkdir()
    sf.write(wavs / "a.wav", 0.5 * np.sin(np.arange(1600) / 5), 8000)
    effect = tmp_path / "fx.pt"
    net = EffectNet(EffectConfig(preset="nano", sample_rate=8000))
    save_checkpoint(effect, checkpoint_dict(net, PairedDataConfig(sample_rate=8000)))
    new = tmp_path / "new"  # every output goes below this folder, which must not appear
    cases = [
        (["generate", vocoder, "--mel", tmp_path / "mel.npy", "-o", new / "a.wav"],
         [["--temperature", "-1"], ["--seconds", "0"], ["--batch", "0"], ["--engine", "fast"]]),
        (["evaluate", vocoder, wavs, "--out", new / "eval", "--no-griffin-lim"],
         [["--temperature", "-1"], ["--limit", "0"], ["--speaker", "1"]]),
        (["export", vocoder, "-o", new / "x.nam"], [["--format", "nam"]]),
        (["process", effect, wavs / "a.wav", "-o", new / "wet.wav"],
         [["--block", "0"], ["--control", "0.5"], ["--engine", "fast"], ["--tanh", "quick"]]),
    ]
    for base, mistakes in cases:
        base = [str(a) for a in base]
        for mistake in mistakes:
            r = runner.invoke(app, base + mistake)
            assert r.exit_code == 2 and r.stderr.count("\n") == 1, (mistake, r.output)
            assert not new.exists(), (base[0], mistake, sorted(new.rglob("*")))
    r = runner.invoke(app, [str(a) for a in cases[0][0]] + ["--temperature", "0"])
    assert r.exit_code == 0 and sf.info(str(new / "a.wav")).frames == 4 * 16, r.output


def test_a_bad_mel_file_gets_a_plain_one_line_reason(tmp_path):
    import numpy as np

    ckpt = f0_checkpoint(tmp_path / "voc.pt", f0_input=False)  # 8 mel bands
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((8, 4), np.float32))
    files = {"text.npy": b"0.1 0.2 0.3\n", "empty.npy": b"", "cut.npy": good.read_bytes()[:100],
             "short.npy": good.read_bytes()[:-8]}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(tmp_path / "words.npy", np.array([["a", "b"]] * 8))
    np.save(tmp_path / "nan.npy", np.full((8, 4), np.nan, np.float32))
    reasons = {"text.npy": "not a NumPy .npy file (write frames with numpy.save)",
               "empty.npy": "empty file (0 bytes)",
               "cut.npy": "a damaged .npy file (its header cannot be read)",
               "short.npy": "a truncated or damaged .npy file",
               "objects.npy": "holds Python objects, not an array of numbers",
               "words.npy": "holds text, not an array of real numbers",
               "nan.npy": "holds NaN or infinite values"}
    for name, reason in reasons.items():
        r = runner.invoke(app, ["generate", str(ckpt), "--mel", str(tmp_path / name), "-o",
                                str(tmp_path / "out.wav")])
        assert r.exit_code == 2 and r.stderr == f"error: {tmp_path / name}: {reason}\n", r.output
    assert not (tmp_path / "out.wav").exists()


def tiny_recipe(tmp_path, **data):
    """A recipe file: a 2-layer WaveNet on two notes of the embedded corpus, one step."""
    import yaml

    raw = {
        "data": {"path": "embedded", "crop": 256, "corpus_low": 60, "corpus_high": 61,
                 "corpus_timbres": 1, "corpus_takes": 2, "validation_fraction": 0.34,
                 "cache_dir": str(tmp_path / "cache"), **data},
        "model": {"layers": 2, "residual_channels": 4, "gate_channels": 4, "skip_channels": 4,
                  "classes": 16},
        "train": {"steps": 1, "batch_size": 2, "validate_every": 1, "checkpoint_every": 1,
                  "sample_seconds": 0.002, "run_dir": str(tmp_path / "run")},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_train_prints_the_resolved_recipe_and_keeps_it_in_the_run_folder(tmp_path):
    import yaml

    from wavedil.train.recipe import load_recipe

    path = tiny_recipe(tmp_path)
    sets = ["--set", "train.lr=3e-4", "--set", "model.layers=3"]
    r = runner.invoke(app, ["train", str(path), "--print-recipe", *sets])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()  # no training
    printed = yaml.safe_load(r.stdout)
    assert printed["train"]["lr"] == 3e-4 and printed["model"]["layers"] == 3
    assert printed["model"]["sample_rate"] == printed["data"]["sample_rate"] == 16000  # filled
    assert printed["generate"] == {"seconds": 2.0, "temperature": 1.0, "voiced_temperature": None,
                                   "engine": "auto",
                                   "batch_size": 1, "seed": 0, "refine": 0,
                                   "refine_momentum": 0.9, "weights": "fp32"}  # every key
    expected = load_recipe(path, ["train.lr=3e-4", "model.layers=3"])
    r = runner.invoke(app, ["train", str(path), *sets])
    assert r.exit_code == 0, r.output
    written = tmp_path / "run" / "recipe.yaml"
    assert written.read_text() == runner.invoke(app, ["train", str(path), "--print-recipe",
                                                       *sets]).stdout
    again = load_recipe(written)
    assert again.to_dict() == expected.to_dict() and again.run_dir == tmp_path / "run"
    # the copy names its run folder, which holds a run now
    r = runner.invoke(app, ["train", str(written)])
    assert r.exit_code == 2 and "already holds a run" in r.stderr, r.output


def test_prepare_reports_used_and_skipped_files_and_the_run_then_reads_its_cache(
        tmp_path, monkeypatch):
    import numpy as np
    import soundfile as sf
    import torch

    from wavedil.data import files

    wavs = tmp_path / "wavs"
    wavs.mkdir()
    t = np.arange(4000)
    sf.write(wavs / "a.wav", 0.5 * np.sin(t / 7), 16000)
    sf.write(wavs / "b.wav", 0.5 * np.sin(t / 5), 16000)
    sf.write(wavs / "low.wav", 0.5 * np.sin(t / 3), 8000)  # resampled to 16 kHz
    sf.write(wavs / "quiet.wav", np.zeros(4000), 16000)
    sf.write(wavs / "short.wav", 0.5 * np.sin(t[:300]), 16000)
    (wavs / "text.wav").write_text("not audio")
    (wavs / "empty.wav").write_bytes(b"")
    path = tiny_recipe(tmp_path, path=str(wavs), validation_fraction=0.3)
    r = runner.invoke(app, ["prepare", str(path)])
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    skipped = {line.split(":")[0].removeprefix("skipped "): line.split(": ", 1)[1]
               for line in lines if line.startswith("skipped ")}
    assert {str(wavs / n) for n in ("empty.wav", "quiet.wav", "short.wav", "text.wav")} == \
        set(skipped) and len(lines) == 6
    assert skipped[str(wavs / "empty.wav")] == "empty file (0 bytes)"
    assert skipped[str(wavs / "quiet.wav")].startswith("silent")
    assert skipped[str(wavs / "short.wav")].startswith("too short: 300 samples")
    assert skipped[str(wavs / "text.wav")].startswith("unreadable")
    assert lines[4] == "resampled 1 file from 8000 Hz to 16000 Hz: low.wav"
    cache = next((tmp_path / "cache").glob("data-*.pt"))
    # 4000, 4000 and 8000 samples (after resampling), each cut to whole frames of 256: 0.976 s
    assert lines[5] == (f"used 3 of 7 files, 0.98 s at 16000 Hz (2 training and 1 validation "
                        f"clips); 4 skipped; cache {cache} (written)")
    assert r.stderr == ""  # the reasons are the report, not warnings besides it
    assert not (tmp_path / "run").exists()
    d = json.loads(runner.invoke(app, ["prepare", str(path), "--json"]).stdout)
    assert (d["files"], d["from_cache"], d["cache"], d["resampled"]) == \
        (3, True, str(cache), {"8000": [str(wavs / "low.wav")]})
    stored = torch.load(cache, weights_only=True)  # as a cache written before rates were kept
    torch.save({k: v for k, v in stored.items() if k != "rates"}, cache)
    r = runner.invoke(app, ["prepare", str(path)])
    assert r.stdout.splitlines()[4].startswith(f"resampled files: not recorded in {cache}")
    torch.save(stored, cache)
    # the run prepares its data the same way: it finds the cache and reads no audio file

    def refuse(*args, **kwargs):
        raise AssertionError("audio read although wavedil prepare cached it")

    monkeypatch.setattr(files, "read_clip", refuse)
    with pytest.warns(UserWarning, match="skipped 4 of 7 files"):  # the run warns, as before
        r = runner.invoke(app, ["train", str(path)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["prepare", str(path), "--set", "data.n_mels=x"])
    assert r.exit_code == 2 and r.stderr.startswith("error: --set data.n_mels=x: ")
