"""Paired audio for effects: latency found and removed, split, crops, the embedded pair, and
bad pairs refused in one line."""

import numpy as np
import pytest
import soundfile as sf

from wavedil.effect.paired import LATENCY_MARGIN, PairedDataConfig, measure_latency, prepare_pairs
from wavedil.effect.reference import reference_effect

RATE = 8000


def _pair(tmp_path, lag=0, n=RATE, name="a", rate=RATE, target_rate=RATE, silent=False):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(n) * 0.3).astype(np.float32)
    y = reference_effect(x, RATE)
    y = np.concatenate([np.zeros(lag, np.float32), y[:n - lag]]) if lag else y
    if silent:
        y = np.zeros_like(y)
    sf.write(tmp_path / f"{name}_in.wav", x, rate, subtype="FLOAT")
    sf.write(tmp_path / f"{name}_out.wav", y, target_rate, subtype="FLOAT")
    return x, y, str(tmp_path / f"{name}_in.wav"), str(tmp_path / f"{name}_out.wav")


def test_latency_is_measured_and_removed(tmp_path):
    x, y, src, dst = _pair(tmp_path, lag=37)
    assert measure_latency(x, y, 100) == 37
    assert measure_latency(y, x, 100) == -37
    data = prepare_pairs(PairedDataConfig(input=src, target=dst, sample_rate=RATE, crop=256,
                                          validation_fraction=0.25), receptive_field=9)
    removed = 37 - LATENCY_MARGIN
    assert data.latencies == {src: removed}
    # after the shift the target is the effect of the input LATENCY_MARGIN samples earlier
    clean = reference_effect(x, RATE)
    total = data.inputs.numel()
    assert total == RATE - removed
    np.testing.assert_allclose(data.targets.numpy()[LATENCY_MARGIN:],
                               clean[:total - LATENCY_MARGIN], atol=1e-6)
    assert len(data.train) == len(data.validation) == 1
    assert data.clip_length(data.validation[0]) == round(total * 0.25)


def test_crops_hold_the_receptive_field_and_silence_before(tmp_path):
    _, _, src, dst = _pair(tmp_path)
    data = prepare_pairs(PairedDataConfig(input=src, target=dst, sample_rate=RATE, crop=100,
                                          latency=0), receptive_field=21)
    assert data.length == 120
    lo, hi = data.start_range(0)
    assert lo == -20 and hi == data.clip_length(0) - 120
    c = data.crop(0, lo)
    assert c["input"].shape == c["target"].shape == (120,)
    assert (c["input"][:20] == 0).all() and c["pad"] == 20
    np.testing.assert_array_equal(c["input"][20:].numpy(), data.inputs[:100].numpy())
    with pytest.raises(ValueError, match="must be in"):
        data.crop(0, hi + 1)


def test_embedded_pair_is_deterministic(tmp_path):
    cfg = PairedDataConfig(sample_rate=RATE, cache_dir=str(tmp_path), crop=64)
    a = prepare_pairs(cfg, receptive_field=5)
    b = prepare_pairs(cfg, receptive_field=5)
    assert a.latencies == {"embedded": 0}
    assert a.inputs.numel() > RATE * 30  # 96 notes
    assert np.array_equal(a.targets.numpy(), b.targets.numpy())
    np.testing.assert_allclose(a.targets.numpy()[:1000],
                               reference_effect(a.inputs.numpy(), RATE)[:1000], atol=1e-6)


def test_bad_pairs_fail_in_one_line(tmp_path):
    cases = []
    _, _, src, dst = _pair(tmp_path, name="rate", target_rate=2 * RATE)
    cases.append(((src, dst), "data.sample_rate is 8000"))
    _, _, src, _ = _pair(tmp_path, name="len")
    _, _, _, dst = _pair(tmp_path, name="len2", n=RATE // 2)
    cases.append(((src, dst), "must be the same length"))
    _, _, src, dst = _pair(tmp_path, name="silent", silent=True)
    cases.append(((src, dst), "target is silent"))
    cases.append(((src, str(tmp_path / "missing.wav")), "no such file"))
    for (s, d), match in cases:
        with pytest.raises(ValueError, match=match) as e:
            prepare_pairs(PairedDataConfig(input=s, target=d, sample_rate=RATE), 9)
        assert "\n" not in str(e.value)
    _, _, src, dst = _pair(tmp_path, name="far", lag=90)
    with pytest.raises(ValueError, match="beyond data.max_latency"):
        prepare_pairs(PairedDataConfig(input=src, target=dst, sample_rate=RATE, max_latency=50), 9)
    with pytest.raises(ValueError, match="control values"):
        prepare_pairs(PairedDataConfig(pairs=[{"input": src, "target": dst, "controls": [0.5]}],
                                       sample_rate=RATE), 9, controls=2)
    with pytest.raises(ValueError, match="target"):
        PairedDataConfig(input=src)
