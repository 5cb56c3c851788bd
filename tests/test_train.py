"""Training: it learns, resumes exactly, checkpoints safely, and runs data-parallel."""

import json
import os
import subprocess
import socket
import sys
from pathlib import Path

import pytest
import torch

from wavedil.checkpoint import load_checkpoint, save_checkpoint
from wavedil.train import load_recipe, lr_factor, recipe_from_dict, train
from wavedil.train.checkpoint import step_checkpoints, training_times

ROOT = Path(__file__).resolve().parents[1]


def tiny(tmp_path, **train_kw):
    """A small mel-conditioned model on a 6-file slice of the embedded corpus."""
    raw = {
        "data": {"path": "embedded", "hop_length": 64, "n_mels": 16, "crop": 512,
                 "corpus_low": 60, "corpus_high": 62, "corpus_timbres": 1, "corpus_takes": 2,
                 "validation_fraction": 0.34, "cache_dir": str(tmp_path.parent / "wavedil-cache")},
        "model": {"layers": 10, "cycle_length": 5, "kernel_size": 3, "residual_channels": 16,
                  "gate_channels": 32, "skip_channels": 32, "local_channels": 16,
                  "cond_channels": 16, "hop_length": 64},
        "train": {"steps": 40, "batch_size": 4, "lr": 3e-3, "warmup_steps": 5,
                  "validate_every": 20, "checkpoint_every": 10, "log_every": 1,
                  "sample_seconds": 0.05, "run_dir": str(tmp_path / "run"), **train_kw},
        "generate": {"engine": "torch"},
    }
    return recipe_from_dict(raw, "tiny")


def quiet(_msg):
    pass


def test_lr_schedule():
    t = tiny(Path("/tmp/x")).train
    assert lr_factor(0, t) == pytest.approx(1 / 5)
    assert lr_factor(4, t) == pytest.approx(1.0)
    assert lr_factor(39, t) == pytest.approx(t.min_lr_ratio, abs=0.01)


def test_training_learns_and_writes_a_run(tmp_path):
    # validation crops include note onsets, whose noise bursts no model can predict
    result = train(tiny(tmp_path, steps=300, lr=5e-3, validation_crops=4, validate_every=100,
                        checkpoint_every=100), echo=quiet)
    assert result.final_val < 0.85 * result.untrained_val
    run = tmp_path / "run"
    assert (run / "best.pt").exists() and (run / "loss.png").exists()
    assert list((run / "samples").glob("*.wav")) and list((run / "samples").glob("*.png"))
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_bits" in r for r in records) and any("samples_per_second" in r for r in records)
    assert len(step_checkpoints(run / "checkpoints")) == 3  # keep_last
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["best_step"] == ckpt["step"] == 300 and set(ckpt) >= {"model", "ema", "optimizer", "scheduler", "rng"}
    assert (ckpt["format"], ckpt["version"]) == ("wavedil", 1) and set(ckpt["recipe"]) == {
        "data", "model", "train", "generate"}


def test_bf16_precision_trains_on_the_cpu_through_the_chunked_bf16_pass(tmp_path, monkeypatch):
    """train.precision: bf16 on the CPU: the blocks' products in bfloat16 by the chunked pass
    (crops of 2,048 x 32 gate channels are long enough for it), and the model learns."""
    from wavedil.train import chunked_bf16
    calls = []
    monkeypatch.setattr(chunked_bf16, "forward_stream",
                        lambda *a, f=chunked_bf16.forward_stream: calls.append(1) or f(*a))
    recipe = tiny(tmp_path, steps=150, lr=5e-3, validation_crops=4, validate_every=150,
                  checkpoint_every=150, precision="bf16")
    recipe.data.crop = 2048
    result = train(recipe, echo=quiet)
    assert calls, "the chunked bf16 pass did not run"
    assert result.final_val < 0.85 * result.untrained_val


def test_a_run_with_f0_conditions_on_it_from_data_to_generation(tmp_path):
    from wavedil.checkpoint import load_model
    from wavedil.synthesis import synthesize

    raw = tiny(tmp_path, steps=2, validate_every=2, checkpoint_every=2).to_dict()
    raw["data"].update(f0=True, f0_min=100.0, f0_max=600.0)
    raw["model"].update(local_channels=18, f0_input=True)
    result = train(recipe_from_dict(raw, "tiny-f0"), echo=quiet)
    assert result.final_val > 0
    loaded = load_model(tmp_path / "run" / "best.pt")
    assert loaded.data.f0 and loaded.config.f0_input and loaded.config.local_channels == 18
    wav = tmp_path / "note.wav"
    import numpy as np
    import soundfile as sf

    sf.write(wav, 0.5 * np.sin(2 * np.pi * 262 * np.arange(4000) / 16000), 16000)
    feats = loaded.features(torch.from_numpy(sf.read(wav, dtype="float32")[0]))
    assert feats.shape == (18, 4000 // 64) and feats[17, 4:-4].eq(1).all()
    out = synthesize(tmp_path / "run" / "best.pt", tmp_path / "out.wav", from_wav=wav)
    assert out.samples == 4000 // 64 * 64


def _flushing() -> bool:
    return torch.tensor(1e-39).item() == 0.0  # a subnormal float32 reads 0 where flushed


@pytest.mark.parametrize("before", [False, True])
def test_training_flushes_subnormals_only_while_it_runs(tmp_path, before, monkeypatch):
    from wavedil.train.loop import Trainer

    seen = []
    step = Trainer.train_step
    monkeypatch.setattr(Trainer, "train_step", lambda self: seen.append(_flushing()) or step(self))
    torch.set_flush_denormal(before)
    try:
        train(tiny(tmp_path, steps=3), echo=quiet)
        assert seen == [True] * 3  # flushed in the steps: they cost 100x on x86
        assert _flushing() == before  # and the caller's setting after
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("quantile", [0.0, 0.5])
def test_resume_matches_an_uninterrupted_run(tmp_path, quantile):
    """Also with AutoClip's ceiling (grad_clip_quantile): its history of norms is resumed."""
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    train(tiny(a, steps=24, grad_clip_quantile=quantile), echo=quiet)
    first = train(tiny(b, steps=24, grad_clip_quantile=quantile), stop_after=13, echo=quiet)
    assert first.interrupted and first.step == 13
    train(tiny(b, steps=24, grad_clip_quantile=quantile), resume=True, echo=quiet)

    def losses(folder):
        lines = (folder / "run" / "metrics.jsonl").read_text().splitlines()
        return {r["step"]: r["train_bits"] for r in map(json.loads, lines) if "train_bits" in r}

    la, lb = losses(a), losses(b)
    assert sorted(la) == sorted(lb) == list(range(1, 25))
    assert all(la[s] == lb[s] for s in la), [(s, la[s], lb[s]) for s in la if la[s] != lb[s]]
    wa = load_checkpoint(a / "run" / "checkpoints" / "step-00000024.pt")["model"]
    wb = load_checkpoint(b / "run" / "checkpoints" / "step-00000024.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_time_limit_stops_with_a_checkpoint_and_the_count_carries_over(tmp_path):
    said = []
    first = train(tiny(tmp_path, steps=6, minutes=1e-6), echo=said.append)
    assert first.interrupted and first.step == 1  # the limit is checked after every step
    assert any("stopped at train.minutes=1e-06" in line for line in said), said
    one = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000001.pt")
    assert one["trained_seconds"] > 0
    done = train(tiny(tmp_path, steps=6), resume=True, echo=quiet)  # 0: no limit
    assert not done.interrupted and done.step == 6
    six = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000006.pt")
    assert six["trained_seconds"] > one["trained_seconds"]
    times = training_times(tmp_path / "run" / "checkpoints")  # the stop's and the end's
    assert [step for _, step, _ in times] == [1, 6]
    assert times[-1][2] == six["trained_seconds"] and times[0][2] < times[-1][2]
    with pytest.raises(Exception, match="minutes"):
        tiny(tmp_path, minutes=-1)


def test_existing_run_needs_resume_or_force(tmp_path):
    train(tiny(tmp_path, steps=2, checkpoint_every=1), echo=quiet)
    with pytest.raises(ValueError, match="--resume .* or --force"):
        train(tiny(tmp_path, steps=2), echo=quiet)
    train(tiny(tmp_path, steps=2), force=True, echo=quiet)
    with pytest.raises(ValueError, match="model section differs"):
        r = tiny(tmp_path, steps=4)
        r.model.residual_channels = 8
        train(r, resume=True, echo=quiet)


def test_failed_checkpoint_write_keeps_the_previous(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(3)}, "recipe": {}})

    def broken_save(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, {"model": {"w": torch.zeros(3)}, "recipe": {}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_pickled_code_in_a_checkpoint_never_runs(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"model": {}, "recipe": {}, "x": Payload()}, path)
    with pytest.raises(ValueError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(junk)


def _run_cli(args, env_extra=None, timeout=300):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def _recipe_file(tmp_path, **train_kw):
    import yaml

    r = tiny(tmp_path, **train_kw)
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(r.to_dict()))
    return p


def test_ddp_two_processes_equal_one(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    kw = dict(steps=6, checkpoint_every=6, validate_every=6, ema_decay=0.0, threads=1)
    r1 = _run_cli([sys.executable, "-m", "wavedil", "train", str(_recipe_file(one, **kw))])
    assert r1.returncode == 0, r1.stderr[-2000:]
    with socket.socket() as probe:  # a free port, so parallel test runs do not collide
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    r2 = _run_cli([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
                   "--master-port", str(port), "-m", "wavedil", "train", str(_recipe_file(two, **kw))])
    assert r2.returncode == 0, r2.stderr[-2000:]
    w1 = load_checkpoint(one / "run" / "checkpoints" / "step-00000006.pt")["model"]
    w2 = load_checkpoint(two / "run" / "checkpoints" / "step-00000006.pt")["model"]
    worst = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    assert worst < 1e-4, worst


def test_cli_train_then_generate_and_info(tmp_path):
    recipe = _recipe_file(tmp_path, steps=4, checkpoint_every=2, validate_every=2)
    r = _run_cli([sys.executable, "-m", "wavedil", "train", str(recipe)])
    assert r.returncode == 0, r.stderr[-2000:]
    assert "validation NLL: untrained" in r.stdout
    best = tmp_path / "run" / "best.pt"
    wav = tmp_path / "note.wav"
    import soundfile as sf
    import numpy as np

    sf.write(wav, 0.5 * np.sin(np.linspace(0, 200, 4000)), 16000)
    r = _run_cli([sys.executable, "-m", "wavedil", "generate", str(best), "--from-wav", str(wav),
                  "-o", str(tmp_path / "out.wav"), "--json", "--plot", "--batch", "2"])
    assert r.returncode == 0, r.stderr[-2000:]
    d = json.loads(r.stdout)
    assert d["samples"] == 4000 // 64 * 64 and len(d["files"]) == 2 and d["samples_per_second"] > 0
    assert all(Path(f).exists() for f in d["files"] + d["plots"])
    r = _run_cli([sys.executable, "-m", "wavedil", "generate", str(best), "--from-wav", str(wav),
                  "-o", str(tmp_path / "out.wav"), "--batch", "2"])
    assert r.returncode == 2 and "exists" in r.stderr and "Traceback" not in r.stderr
    r = _run_cli([sys.executable, "-m", "wavedil", "info", str(best), "--json"])
    d = json.loads(r.stdout)
    assert d["step"] == 4 and d["receptive_field"] == 1 + 2 * 2 * (1 + 2 + 4 + 8 + 16)


def test_input_noise_perturbs_what_the_model_reads_not_what_it_predicts():
    from wavedil.wavenet.model import WaveNet, WaveNetConfig
    from wavedil.train.objective import batch_nll

    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4,
                                  skip_channels=4, head="gaussian"))
    audio = torch.sin(torch.arange(2 * 300, dtype=torch.float32) / 5.0).reshape(2, 300) * 0.5
    batch = {"audio": audio, "classes": torch.zeros(2, 300, dtype=torch.long)}
    seen = []
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    clean = batch_nll(model, batch, 100)
    noisy = batch_nll(model, batch, 100, input_noise=0.05)
    assert torch.equal(seen[0], audio[:, :-1])
    assert 0.03 < (seen[1] - audio[:, :-1]).std() < 0.07
    assert clean != noisy  # the same targets, scored from perturbed inputs
    with pytest.raises(ValueError, match="train.input_noise"):
        recipe_from_dict({"train": {"input_noise": 0.01}})  # the default model reads classes


VOCODER_SECTIONS = {
    "harmonic_noise": ({"kind": "harmonic_noise", "local_channels": 18, "hop_length": 64,
                        "dilations": [1, 2, 4], "residual_channels": 16, "gate_channels": 32,
                        "skip_channels": 16, "harmonics": 40, "noise_bands": 16}, {}),
    "istft": ({"kind": "istft", "local_channels": 18, "hop_length": 64, "dilations": [1, 2, 4],
               "residual_channels": 16, "gate_channels": 32, "skip_channels": 16},
              {"phase_weight": 1.0, "mel_weight": 1.0}),
}


@pytest.mark.parametrize("kind", list(VOCODER_SECTIONS))
def test_a_vocoder_learns_and_goes_through_generate_info_and_evaluate(tmp_path, kind):
    """A frames-to-waveform vocoder (model.kind harmonic_noise, istft) trains on the STFT loss
    (falling), writes the usual run, and its checkpoint vocodes through generate --from-wav and
    evaluate like a WaveNet's."""
    import numpy as np
    import soundfile as sf

    from wavedil.checkpoint import load_model
    from wavedil.evaluate import evaluate
    from wavedil.families import family_named
    from wavedil.synthesis import describe, synthesize

    raw = tiny(tmp_path, steps=60, lr=3e-3, validate_every=30, checkpoint_every=30).to_dict()
    raw["data"].update(f0=True, f0_min=100.0, f0_max=600.0, crop=2048)
    raw["model"], train_keys = VOCODER_SECTIONS[kind]
    raw["train"].update(train_keys)
    result = train(recipe_from_dict(raw, "tiny-vocoder"), echo=quiet)
    assert result.final_val < 0.9 * result.untrained_val  # the STFT loss fell
    run = tmp_path / "run"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("val_stft" in r for r in records) and not any("val_bits" in r for r in records)
    assert (run / "loss.png").exists() and list((run / "samples").glob("*.wav"))
    loaded = load_model(run / "best.pt")
    assert type(loaded.model) is family_named(kind).model and loaded.config.n_fft == 256
    info = describe(run / "best.pt")
    assert info["model"]["kind"] == kind and "best_val_bits" not in info
    assert info["best_val_stft"] == pytest.approx(result.best_val)

    wav = tmp_path / "test" / "note.wav"
    wav.parent.mkdir()
    t = np.arange(8000) / 16000
    sf.write(wav, 0.5 * np.sin(2 * np.pi * 262 * t) + 0.2 * np.sin(2 * np.pi * 524 * t), 16000)
    out = synthesize(run / "best.pt", tmp_path / "out.wav", from_wav=wav)
    assert out.engine == "one-pass" and out.samples == (8000 // 64) * 64
    written, rate = sf.read(out.files[0])
    assert rate == 16000 and np.isfinite(written).all() and np.abs(written).max() > 0.01
    report = evaluate(run / "best.pt", wav.parent, griffin_lim=False)
    assert report.files == 1 and report.means["wavedil"]["log_mel_db"] > 0
