"""Runs that get interrupted, killed, or fed numbers that blow up keep the user's work."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile as sf
import torch
import yaml

from wavedil import WaveNet, WaveNetConfig
from wavedil import stream
from wavedil.checkpoint import load_checkpoint
from wavedil.train import train
from wavedil.train.checkpoint import latest_readable, step_checkpoints

sys.path.insert(0, str(Path(__file__).parent))
from test_train import tiny  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_recipe(tmp_path, **train_kw) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(tiny(tmp_path, **train_kw).to_dict()))
    return p


def popen(args):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"}
    # a shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT:
    # give the child the default disposition, as a terminal's foreground job has
    return subprocess.Popen([sys.executable, "-m", "wavedil", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for(predicate, timeout=120.0):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_training_writes_a_checkpoint_and_exits_0(tmp_path, sig):
    recipe = write_recipe(tmp_path, steps=100000, checkpoint_every=100000, log_every=1,
                          validate_every=100000)
    proc = popen(["train", str(recipe)])
    metrics = tmp_path / "run" / "metrics.jsonl"
    assert wait_for(lambda: metrics.exists() and metrics.read_text().count("train_bits") >= 3)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "interrupted at step" in out and "--resume" in out
    found = latest_readable(tmp_path / "run" / "checkpoints")
    assert found is not None and found[1]["step"] >= 3


def test_sigkill_at_random_moments_then_resume(tmp_path):
    every = 4
    # enough steps that three kills never catch the run at its end
    recipe = write_recipe(tmp_path, steps=150, checkpoint_every=every, log_every=1, validate_every=50)
    rng = random.Random(0)
    ckdir = tmp_path / "run" / "checkpoints"
    for attempt in range(3):
        args = ["train", str(recipe)] + (["--resume"] if step_checkpoints(ckdir) else ["--force"])
        proc = popen(args)
        metrics = tmp_path / "run" / "metrics.jsonl"
        before = metrics.read_text().count("train_bits") if metrics.exists() else 0
        assert wait_for(lambda: metrics.exists()
                        and metrics.read_text().count("train_bits") > before + 2)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        proc.wait()
        logged = max(int(line.split('"step": ')[1].split(",")[0])
                     for line in metrics.read_text().splitlines() if "train_bits" in line)
        found = latest_readable(ckdir)
        kept = found[1]["step"] if found is not None else 0
        assert logged - kept <= every  # at most checkpoint_every steps lost
    proc = popen(["train", str(recipe), "--resume"] if step_checkpoints(ckdir)
                 else ["train", str(recipe), "--force"])
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000150.pt")["step"] == 150


def test_non_finite_losses_are_skipped_then_stop(tmp_path, monkeypatch):
    import wavedil.train.objective as objective

    real = objective.batch_nll
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        loss = real(*a, **k)
        return loss * float("nan") if calls["n"] in (3, 4) or calls["n"] > 8 else loss

    monkeypatch.setattr(objective, "batch_nll", flaky)
    with pytest.warns(UserWarning, match="non-finite loss, step skipped"):
        with pytest.raises(RuntimeError, match="3 non-finite losses in a row"):
            train(tiny(tmp_path, steps=50, max_nonfinite=3, validate_every=1000,
                       checkpoint_every=1000), echo=lambda m: None)


def test_ctrl_c_during_generate_keeps_what_was_made(tmp_path):
    model = WaveNet(WaveNetConfig(layers=4, residual_channels=8, gate_channels=8, skip_channels=8))
    recipe = tiny(tmp_path)
    recipe.model = model.config
    recipe.model.hop_length = recipe.data.hop_length = 256
    ckpt = tmp_path / "m.pt"
    torch.save({"recipe": recipe.to_dict(), "model": model.state_dict(), "ema": None}, ckpt)
    out = tmp_path / "long.wav"
    proc = popen(["generate", str(ckpt), "-o", str(out), "--seconds", "3600", "--engine", "torch"])
    assert wait_for(lambda: out.exists() and out.stat().st_size > 20000, timeout=120)
    proc.send_signal(signal.SIGINT)
    try:
        stdout, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:  # say where it hangs: faulthandler dumps every thread
        proc.send_signal(signal.SIGABRT)
        stdout, stderr = proc.communicate(timeout=60)
        raise AssertionError(f"no exit 180 s after SIGINT; stdout: {stdout[-1000:]}\n"
                             f"stderr: {stderr[-4000:]}") from None
    assert proc.returncode == 0, stderr[-2000:]
    assert "interrupted" in stdout
    data, rate = sf.read(out)
    assert rate == 16000 and len(data) >= 10000


def test_ten_minutes_of_streaming_generation_run_in_flat_memory():
    import resource

    torch.manual_seed(0)
    # a Gaussian head: 15 s here against 37 s with the 256-class softmax, and what this checks,
    # the memory held from chunk to chunk, does not depend on the head (a run that kept every
    # chunk grew by 36.6 MiB)
    model = WaveNet(WaveNetConfig(layers=4, residual_channels=8, gate_channels=8, skip_channels=8,
                                  head="gaussian")).eval()
    n = 10 * 60 * 16000  # ten minutes at 16 kHz
    peak = []
    total = 0
    for chunk in stream(model, n, 1, engine="numba", chunk_size=16000):
        total += chunk.shape[-1]
        peak.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)  # KiB
    assert total == n
    growth_mib = (peak[-1] - peak[len(peak) // 5]) / 1024
    assert growth_mib < 20, growth_mib
