"""Adversarial vocoder training (wavedil/train/adversarial.py, discriminators.py): the
discriminators' shapes, one discriminator step and the generator's term, the divergence checks,
and the option in the training loop: its state in the checkpoint, an exact resume, a fresh start
on a checkpoint trained without it, and a run that stops with a checkpoint when it diverges."""

import json

import pytest
import torch

from wavedil.checkpoint import load_checkpoint
from wavedil.config import ConfigError
from wavedil.train import recipe_from_dict, train
from wavedil.train.adversarial import (CEILING, Adversary, AdversarialConfig, Diverged,
                                       discriminator_loss)
from wavedil.train.discriminators import Discriminators, PeriodDiscriminator

from test_train import quiet, tiny


def _adversary(**kw) -> Adversary:
    torch.manual_seed(0)
    cfg = AdversarialConfig(weight=1.0, periods=[2, 3], fft_sizes=[64], channels=4, **kw)
    return Adversary(cfg, lambda s: 1.0, torch.device("cpu"), lambda m: m)


def test_discriminators_score_every_phase_and_frame():
    torch.manual_seed(0)
    d = Discriminators([2, 3], [64, 128], 4)
    wave = torch.randn(2, 1001)
    out = d(wave)
    assert len(out) == 4
    for scores, feats in out:
        assert scores.shape[0] == 2 and torch.isfinite(scores).all()
        assert len(feats) >= 3 and all(f.shape[0] in (2, 4, 6) for f in feats)
    # the period-3 discriminator reads each phase as a sequence: 1001 -> 1002 samples, 3 x 334
    assert out[1][1][0].shape == (6, 4, 112)
    # a waveform changed only in phase 0 of period 2 changes only that phase's scores
    p = PeriodDiscriminator(2, 4)
    other = wave.clone()
    other[:, 0::2] += 0.5
    a, b = p(wave)[1][0], p(other)[1][0]
    assert not torch.equal(a[0::2], b[0::2]) and torch.equal(a[1::2], b[1::2])


def test_a_step_trains_the_discriminators_and_gives_the_generator_a_gradient():
    adv = _adversary(lr=2e-3)
    real = torch.sin(torch.arange(2048) * 0.05)[None].repeat(2, 1)
    fake = (0.3 * torch.randn(2, 2048)).requires_grad_(True)
    before = [p.detach().clone() for p in adv.discriminators.parameters()]
    with torch.no_grad():
        d_before = float(discriminator_loss(adv.net(real), adv.net(fake.detach())))
    term = adv.generator_term(fake, real, step=0)
    assert any(not torch.equal(a, p) for a, p in zip(before, adv.discriminators.parameters()))
    grads = [p.grad.clone() for p in adv.discriminators.parameters()]  # of the D step
    term.backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
    assert all(torch.equal(g, p.grad)  # the generator's pass adds nothing to D's gradients
               for g, p in zip(grads, adv.discriminators.parameters()))
    assert set(adv.last) == {"d_loss", "g_adv", "fm"} and adv.last["d_loss"] == pytest.approx(d_before)
    for _ in range(30):  # the discriminators learn to tell this noise from the sine
        adv.generator_term(fake.detach(), real, step=1)
    assert adv.last["d_loss"] < 0.5 * d_before


def test_a_diverged_discriminator_stops_with_one_line():
    adv = _adversary()
    real = torch.randn(1, 1024)
    bad = real.clone()
    bad[0, 10] = float("nan")
    before = [p.detach().clone() for p in adv.discriminators.parameters()]
    with pytest.raises(Diverged, match=r"^adversarial: the discriminator loss is nan at step 7;"):
        adv.generator_term(bad, real, step=7)
    assert all(torch.equal(a, p) for a, p in zip(before, adv.discriminators.parameters()))
    # the generator's loss at its ceiling for `patience` validations in a row
    adv = _adversary(patience=2)
    adv.window = [torch.tensor([CEILING + 0.1, 0.2])]
    adv.check(100)
    adv.window = [torch.tensor([0.3, 0.2])]
    adv.check(200)  # below: the count starts again
    adv.window = [torch.tensor([0.2, 1.4])]
    adv.check(300)
    adv.window = [torch.tensor([1.0, 0.2])]
    with pytest.raises(Diverged, match="stuck at its ceiling .* for 2 validations, at step 400"):
        adv.check(400)


def _vocoder(tmp_path, adversarial=None, **train_kw):
    raw = tiny(tmp_path, **train_kw).to_dict()
    raw["data"].update(f0=True, f0_min=100.0, f0_max=600.0, crop=1024)
    raw["model"] = {"kind": "harmonic_noise", "local_channels": 18, "hop_length": 64,
                    "dilations": [1, 2], "residual_channels": 8, "gate_channels": 16,
                    "skip_channels": 8, "harmonics": 20, "noise_bands": 8}
    raw["adversarial"] = adversarial or {}
    return recipe_from_dict(raw, "tiny-gan")


ADV = {"weight": 0.5, "periods": [2, 3], "fft_sizes": [128], "channels": 4}


def test_adversarial_training_resumes_exactly_and_keeps_its_state(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    kw = dict(steps=12, validate_every=6, checkpoint_every=6)
    train(_vocoder(a, ADV, **kw), echo=quiet)
    first = train(_vocoder(b, ADV, **kw), stop_after=6, echo=quiet)
    assert first.interrupted
    train(_vocoder(b, ADV, **kw), resume=True, echo=quiet)

    def records(folder):
        lines = (folder / "run" / "metrics.jsonl").read_text().splitlines()
        return {r["step"]: r for r in map(json.loads, lines) if "train_stft" in r}

    ra, rb = records(a), records(b)
    assert sorted(ra) == sorted(rb) == list(range(1, 13))
    assert all(ra[s]["train_stft"] == rb[s]["train_stft"] and ra[s]["d_loss"] == rb[s]["d_loss"]
               for s in ra)
    ck = load_checkpoint(a / "run" / "checkpoints" / "step-00000012.pt")
    cb = load_checkpoint(b / "run" / "checkpoints" / "step-00000012.pt")
    da, db = ck["adversary"]["discriminators"], cb["adversary"]["discriminators"]
    assert da and all(torch.equal(da[k], db[k]) for k in da)


def test_adversarial_training_on_a_run_trained_without_it_starts_fresh_and_says_so(tmp_path):
    kw = dict(steps=6, validate_every=6, checkpoint_every=3)
    train(_vocoder(tmp_path, None, **kw), stop_after=3, echo=quiet)
    said = []
    result = train(_vocoder(tmp_path, ADV, **kw), resume=True, echo=said.append)
    assert result.step == 6
    assert any("trained without adversarial training: the discriminators start fresh" in s
               for s in said)
    assert load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000006.pt")["adversary"]


def test_a_diverging_run_writes_a_checkpoint_then_stops(tmp_path, monkeypatch):
    real_term = Adversary.generator_term

    def diverge_at_4(self, fake, real, step):
        if step == 4:
            raise Diverged(f"adversarial: the discriminator loss is nan at step {step}; test")
        return real_term(self, fake, real, step)

    monkeypatch.setattr(Adversary, "generator_term", diverge_at_4)
    with pytest.raises(Diverged, match="at step 4"):
        train(_vocoder(tmp_path, ADV, steps=10, validate_every=5, checkpoint_every=5),
              echo=quiet)
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "step-00000004.pt")
    assert ck["step"] == 4 and ck["adversary"] is not None


def test_adversarial_and_vocoder_loss_settings_are_checked():
    with pytest.raises(ConfigError, match="adversarial.weight must be 0 for model.kind wavenet"):
        recipe_from_dict({"model": {}, "adversarial": {"weight": 1.0}}, "r")
    with pytest.raises(ConfigError, match="train.mel_weight must be 0 for model.kind wavenet"):
        recipe_from_dict({"model": {}, "train": {"mel_weight": 1.0}}, "r")
    with pytest.raises(ConfigError, match="periods must be a list of integers >= 2"):
        AdversarialConfig(periods=[1])
    with pytest.raises(ConfigError, match="fft_sizes must be a list of powers of two"):
        AdversarialConfig(fft_sizes=[100])
