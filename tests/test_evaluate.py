"""wavedil evaluate: copy synthesis through generate's path, scores beside Griffin-Lim, outputs,
and one line with exit 2 for bad input."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from wavedil.cli import app
from wavedil.evaluate import METRICS, evaluate, vocode
from wavedil.checkpoint import load_model
from wavedil.synthesis import mel_from_wav, synthesize

RATE = 16000
runner = CliRunner()


def write_checkpoint(path, local_channels=16, f0=False):
    """A tiny untrained checkpoint, mel-conditioned (16 bands, hop 64) unless local_channels=0;
    with ``f0``, log-f0 and voicing follow the bands."""
    from wavedil.checkpoint import save_checkpoint
    from wavedil.features import DataConfig
    from wavedil.wavenet.generate import GenerateConfig
    from wavedil.wavenet.model import WaveNet, WaveNetConfig

    config = WaveNetConfig(layers=4, cycle_length=4, kernel_size=2, residual_channels=8,
                           gate_channels=16, skip_channels=16,
                           local_channels=local_channels + 2 * f0, f0_input=f0,
                           cond_channels=8, hop_length=64)
    torch.manual_seed(0)
    data = DataConfig(hop_length=64, n_mels=16, f0=f0, f0_min=100.0, f0_max=400.0)
    return save_checkpoint(path, WaveNet(config), data=data,
                           generate=GenerateConfig(engine="torch"), name="tiny")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    ckpt = write_checkpoint(root / "tiny.pt")
    data = root / "test"
    (data / "sub").mkdir(parents=True)
    t = np.arange(int(0.3 * RATE)) / RATE
    sf.write(data / "a.wav", 0.4 * np.sin(2 * np.pi * 180 * t) + 0.1 * np.sin(2 * np.pi * 360 * t), RATE)
    sf.write(data / "sub" / "b.wav", 0.5 * np.sin(2 * np.pi * 240 * t), RATE)
    return root, ckpt, data


def test_copy_synthesis_follows_generate_from_wav(setup, tmp_path):
    root, ckpt, data = setup
    wav = data / "a.wav"
    loaded = load_model(ckpt)
    mel = mel_from_wav(wav, loaded)
    ours = vocode(loaded.model, mel, mel.shape[-1] * 64, seed=3, temperature=1.0, engine="torch")
    result = synthesize(ckpt, tmp_path / "g.wav", from_wav=wav, seed=3, engine="torch")
    theirs, _ = sf.read(result.files[0], dtype="float32")
    assert ours.shape == theirs.shape == (4800 // 64 * 64,)
    # generate writes 16-bit PCM
    np.testing.assert_allclose(ours, theirs, atol=1.5 / 32768)


def test_reference_is_what_the_features_saw(setup):
    from wavedil.evaluate import _features

    _, ckpt, data = setup
    loaded = load_model(ckpt)
    mel, ref = _features(data / "a.wav", loaded)
    assert ref.shape == (mel.shape[-1] * 64,) and np.abs(ref).max() == pytest.approx(0.95, abs=1e-6)
    # the features of the reference are the features the model is given
    torch.testing.assert_close(loaded.data.log_mel()(torch.from_numpy(ref)), mel, atol=2e-5, rtol=0)


def test_evaluate_end_to_end_with_outputs(setup):
    root, ckpt, data = setup
    out = root / "out"
    report = evaluate(ckpt, data, out=out, seed=1)
    assert report.files == 2 and report.systems == ["wavedil", "griffin-lim"] and not report.skipped
    assert [(r.file.endswith(name), r.system) for r, name in
            zip(report.rows, ["a.wav", "a.wav", "b.wav", "b.wav"])] == [
        (True, "wavedil"), (True, "griffin-lim"), (True, "wavedil"), (True, "griffin-lim")]
    for row in report.rows:
        assert row.seconds == pytest.approx(4800 // 64 * 64 / RATE) and set(row.scores) == set(METRICS)
        assert row.scores["log_mel_db"] > 0 and 0 <= row.scores["vde"] <= 1
    means = report.means
    # an untrained model makes noise; Griffin-Lim keeps the tones' envelope
    assert means["griffin-lim"]["log_mel_db"] < means["wavedil"]["log_mel_db"]
    assert means["wavedil"]["log_mel_db"] == pytest.approx(
        np.mean([r.scores["log_mel_db"] for r in report.rows if r.system == "wavedil"]))
    for name in ("a", "sub/b"):
        for suffix in (".wavedil.wav", ".griffin-lim.wav", ".png"):
            assert (out / f"{name}{suffix}").is_file()
        w, rate = sf.read(out / f"{name}.wavedil.wav")
        assert rate == RATE and w.shape == (4800 // 64 * 64,)
    saved = json.loads((out / "report.json").read_text())
    assert saved["means"] == json.loads(json.dumps(report.to_dict()))["means"]
    # same seed, same audio, same scores
    again = evaluate(ckpt, data, griffin_lim=False, seed=1, limit=1)
    assert again.systems == ["wavedil"] and again.files == 1
    assert again.rows[0].scores == report.rows[0].scores


def test_an_f0_model_is_given_f0_and_griffin_lim_the_mel_bands_alone(setup, tmp_path):
    from wavedil.dsp import metrics as M
    from wavedil.dsp.audio import save_audio

    _, _, data = setup
    ckpt = write_checkpoint(tmp_path / "f0.pt", f0=True)
    loaded = load_model(ckpt)
    mel = mel_from_wav(data / "a.wav", loaded)
    assert mel.shape == (18, 4800 // 64) and mel[17, 4:-4].eq(1).all()  # voiced at 180 Hz
    report = evaluate(ckpt, data, out=tmp_path / "out", seed=1, limit=1)
    assert report.files == 1 and report.systems == ["wavedil", "griffin-lim"]
    expected = M.griffin_lim(mel[:16].numpy(), RATE, 64, 256, seed=1)
    save_audio(tmp_path / "expected.wav", expected, RATE)
    np.testing.assert_array_equal(sf.read(tmp_path / "out" / "a.griffin-lim.wav")[0],
                                  sf.read(tmp_path / "expected.wav")[0])


def test_cli_json_and_table(setup, tmp_path):
    _, ckpt, data = setup
    r = runner.invoke(app, ["evaluate", str(ckpt), str(data), "--json", "--no-griffin-lim",
                            "--limit", "1", "--engine", "torch", "--seed", "2", "--temperature", "0.5"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["files"] == 1 and d["systems"] == ["wavedil"] and len(d["rows"]) == 1
    assert d["seed"] == 2 and d["temperature"] == 0.5 and d["engine"] == "torch"
    assert set(d["means"]["wavedil"]) == set(METRICS)
    r = runner.invoke(app, ["evaluate", str(ckpt), str(data), "--limit", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "griffin-lim" in r.stdout and "log-mel dB" in r.stdout and (tmp_path / "o" / "report.json").is_file()
    r = runner.invoke(app, ["evaluate", str(ckpt), str(data), "--limit", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--force" in r.stderr


def test_unusable_files_are_skipped_with_a_warning(setup, tmp_path):
    _, ckpt, data = setup
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "notes.txt").write_text("not audio, not looked at")
    (mixed / "broken.wav").write_text("text with a .wav name")
    sf.write(mixed / "silent.wav", np.zeros(4000), RATE)
    sf.write(mixed / "good.wav", sf.read(data / "a.wav")[0], RATE)
    warnings = []
    report = evaluate(ckpt, mixed, griffin_lim=False, warn=warnings.append)
    assert report.files == 1 and report.rows[0].file.endswith("good.wav")
    assert len(warnings) == 2 and any("broken.wav" in w for w in warnings)
    assert any("silent.wav" in w for w in warnings) and len(report.skipped) == 2


def one_line_exit_2(args):
    r = runner.invoke(app, ["evaluate", *map(str, args)])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().count("\n") == 0 and "Traceback" not in r.stderr
    return r.stderr


def test_bad_input_one_line_exit_2(setup, tmp_path):
    _, ckpt, data = setup
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no audio files" in one_line_exit_2([ckpt, empty])
    assert "no such folder" in one_line_exit_2([ckpt, tmp_path / "missing"])
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.wav").write_text("not audio")
    assert "none of its 1 audio files is usable" in one_line_exit_2([ckpt, junk])
    plain = write_checkpoint(tmp_path / "plain.pt", local_channels=0)
    assert "no mel conditioning" in one_line_exit_2([plain, data])
    assert "no such checkpoint" in one_line_exit_2([tmp_path / "none.pt", data])
    assert "--limit" in one_line_exit_2([ckpt, data, "--limit", "0"])
    assert "engine" in one_line_exit_2([ckpt, data, "--engine", "fast"])
    assert "--speaker" in one_line_exit_2([ckpt, data, "--speaker", "1"])
    assert "--device" in one_line_exit_2([ckpt, data, "--device", "tpu"])


def test_output_names_mirror_the_folder(tmp_path):
    from wavedil.evaluate import _out_names

    files = [tmp_path / "a.wav", tmp_path / "a.flac", tmp_path / "s" / "b.ogg"]
    assert [str(p) for p in _out_names(files, tmp_path)] == ["a-wav", "a-flac", "s/b"]


def test_reconstructions_in_an_inner_out_folder_are_not_references(setup, tmp_path):
    _, ckpt, data = setup
    inner = tmp_path / "test"
    inner.mkdir()
    sf.write(inner / "a.wav", sf.read(data / "a.wav")[0], RATE)
    first = evaluate(ckpt, inner, out=inner / "eval", griffin_lim=False, limit=1)
    again = evaluate(ckpt, inner, out=inner / "eval", griffin_lim=False, force=True)
    assert first.files == again.files == 1 and (inner / "eval" / "a.wavedil.wav").is_file()


def test_notes_are_scored_for_pitch_and_harmonic_to_noise_ratio():
    """A steady note: the same note is in tune with a high HNR, the note a fifth up is out of
    tune, the note under noise 10 dB down reads about 10 dB; a glide (speech-like) is no note."""
    from wavedil.evaluate import score

    t = np.arange(RATE) / RATE
    note = lambda f: sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6)) * 0.3  # noqa: E731
    ref = note(220.0)
    same = score(ref, ref, RATE, extras=False)
    assert same["in_tune"] == 1.0 and same["hnr_db"] > 40
    assert score(ref, note(330.0), RATE, extras=False)["in_tune"] == 0.0
    noise = np.random.default_rng(0).standard_normal(RATE) * np.sqrt(np.mean(ref ** 2) / 10)
    assert score(ref, ref + noise, RATE, extras=False)["hnr_db"] == pytest.approx(10, abs=1.5)
    glide = np.sin(2 * np.pi * np.cumsum(np.linspace(120, 300, RATE)) / RATE) * 0.3
    assert score(glide, glide, RATE, extras=False)["in_tune"] is None
