"""Sample features: pitch taps and LP excitation computed from the model's own past inputs."""

import pytest
import torch

from wavedil.wavenet.excitation import SampleFeatures
from wavedil.dsp.f0 import f0_features
from wavedil import generate
from wavedil.dsp.lpc import MelLPC, lp_predict, pre_emphasis
from wavedil.wavenet.model import WaveNet, WaveNetConfig

HOP, RATE, MELS, NFFT = 16, 2000, 8, 64


def config(**kw) -> WaveNetConfig:
    base = dict(layers=4, cycle_length=2, kernel_size=3, residual_channels=8, gate_channels=8,
                skip_channels=8, head="gaussian", local_channels=MELS + 2, f0_input=True,
                pitch_lags=[-1, 0, 1], lpc_order=4, pre_emphasis=0.85, hop_length=HOP,
                sample_rate=RATE, n_fft=NFFT, cond_channels=6, mixtures=2)
    return WaveNetConfig(**{**base, **kw})


def frames(B: int = 2, N: int = 12, seed: int = 0) -> torch.Tensor:
    """Mel bands then the f0 pair: stream 0 voiced at 100 Hz then unvoiced, stream 1 at 150 Hz."""
    g = torch.Generator().manual_seed(seed)
    mel = torch.rand(B, MELS, N, generator=g)
    f0 = torch.tensor([[100.0] * (N // 2) + [0.0] * (N - N // 2)] + [[150.0] * N] * (B - 1))
    pair = torch.stack([f0_features(f0[b].numpy(), (f0[b] > 0).numpy()) for b in range(B)])
    return torch.cat([mel, pair], 1)  # (B, MELS + 2, N)


def small_model(**kw) -> WaveNet:
    torch.manual_seed(0)
    m = WaveNet(config(**kw)).eval()
    with torch.no_grad():  # outputs well inside [-1, 1], so nothing is clipped
        m.out2.weight.mul_(0.1)
        m.out2.bias.zero_()
    return m


def test_features_are_the_taps_and_the_prediction_of_the_next_sample():
    fr = frames()
    B, T = 2, fr.shape[-1] * HOP
    feats = SampleFeatures([-1, 0, 2], 4, RATE, HOP, NFFT, MELS, 0.85)
    x = torch.randn(B, T)
    ctx = feats.context(fr)
    out, lp = feats.features(torch.nn.functional.pad(x, (feats.history, 0)), ctx)
    assert out.shape == (B, 4, T)
    # the LP prediction of output t is the prediction of sample t + 1 from samples <= t
    coeffs = torch.from_numpy(MelLPC(RATE, NFFT, MELS, 4, 0.85)(fr[0, :MELS]))  # (N, p)
    per_sample = coeffs.repeat_interleave(HOP, 0)  # (T, p)
    # sample s = t + 1 predicted with the predictor of output t: coefficients shifted by one
    signal = torch.cat([x[:1], torch.zeros(1, 1)], 1)  # (1, T + 1)
    coeffs_of_s = torch.cat([torch.zeros(1, 4), per_sample])[None]  # (1, T + 1, p)
    expected = lp_predict(signal, coeffs_of_s)[:, 1:]
    torch.testing.assert_close(lp[:1], expected, atol=1e-5, rtol=1e-5)
    # taps: x[t + 1 - (P + lag)] where voiced (period 20 at 100 Hz), zero where not
    t = torch.arange(T)
    for j, lag in enumerate([-1, 0, 2]):
        idx = t + 1 - (20 + lag)
        want = torch.where(idx >= 0, x[0, idx.clamp(min=0)], torch.zeros(()))
        want[T // 2:] = 0.0  # the second half of stream 0 is unvoiced
        torch.testing.assert_close(out[0, j], want)


def plucked(period: int, taps: list[float], n: int, seed: int = 0) -> torch.Tensor:
    """A plucked string: one period of noise, then y[t] = sum_i taps[i] y[t - period + 1 - i]
    (the pitch taps' lags -1, 0, 1 around ``period``), float64 (n,)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(n, dtype=torch.float64)
    y[:period] = torch.rand(period, generator=g, dtype=torch.float64) - 0.5
    for t in range(period, n):
        y[t] = sum(c * y[t - period + 1 - i] for i, c in enumerate(taps))
    return y


def test_the_pitch_prediction_predicts_a_plucked_string_exactly():
    """After the noise burst a plucked string is an exact recurrence over its pitch taps: the
    weights fit to the last 24 samples predict every next sample (to the ridge's bias), which
    the taps alone (each one period back) do not."""
    feats = SampleFeatures([-1, 0, 1], 0, RATE, HOP, NFFT, MELS, window=24)
    fr = frames(B=1, N=12)
    fr[0, -2], fr[0, -1] = f0_features(torch.full((12,), 100.0).numpy(), torch.ones(12).numpy())
    T = fr.shape[-1] * HOP  # period 20 at 100 Hz and 2 kHz
    y = plucked(20, [0.3, 0.45, 0.2], T + 1).float()
    out, pred = feats.features(torch.nn.functional.pad(y[None, :T], (feats.history, 0)),
                               feats.context(fr))
    assert out.shape == (1, 5, T) and torch.equal(out[0, 3], pred[0])
    settled = slice(20 + 24 + 5, T)  # the window holds no burst sample's prediction
    err = (pred[0, settled] - y[1:][settled]).abs().max() / y[settled].abs().max()
    tap = (out[0, 1, settled] - y[1:][settled]).abs().max() / y[settled].abs().max()
    assert err < 1e-3 < 0.1 < tap
    # clipped: never larger than the largest tap, even on a signal that grows
    grow = torch.arange(T + feats.history, dtype=torch.float32)[None] * 0.01
    out, pred = feats.features(grow, feats.context(fr))
    assert (pred.abs() <= out[:, :3].abs().amax(1) * (1 + 1e-6)).all()


@pytest.mark.parametrize("kw", [dict(), dict(lpc_order=0, pitch_prediction=24),
                                dict(lpc_order=0, pitch_gains=True)])
def test_a_model_with_sample_features_is_causal(kw):
    m, fr = small_model(**kw), frames()
    T = fr.shape[-1] * HOP
    x = torch.randn(2, T) * 0.3
    y = m(x, fr)
    for t in (0, 37, 100, T - 2):
        x2 = x.clone()
        x2[:, t] += 1.0
        y2 = m(x2, fr)
        assert torch.equal(y2[..., :t], y[..., :t]), t
        assert (y2[..., t:] - y[..., t:]).abs().max() > 0, t


@pytest.mark.parametrize("head, kw", [("gaussian", {}), ("logistic_mixture", {}),
                                      ("gaussian", dict(lpc_order=0, pitch_prediction=24)),
                                      ("logistic_mixture", dict(lpc_order=0, pitch_gains=True))])
def test_streaming_in_chunks_equals_the_forward(head, kw):
    m, fr = small_model(head=head, **kw), frames()
    T = fr.shape[-1] * HOP
    x = torch.randn(2, T) * 0.3
    y = m(x, fr)
    state, cond, ctx = m.init_state(2), m.upsample(fr), m.sample_context(fr)
    outs, t = [], 0
    for n in (1, 5, 37, 1, 1, T - 45):
        o, state = m.stream(x[:, t:t + n], state, cond[..., t:t + n], None, ctx[t:t + n])
        outs.append(o)
        t += n
    torch.testing.assert_close(torch.cat(outs, -1), y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kw", [dict(), dict(head="logistic_mixture"), dict(lpc_order=0),
                                dict(pitch_lags=[]), dict(pre_emphasis=0.0),
                                dict(lpc_order=0, pitch_prediction=24), dict(lpc_order=0, pitch_gains=True)])
def test_greedy_generation_reproduces_the_teacher_forced_forward(kw):
    """Every feature the loop computes from generated samples is the one the forward computes
    from the same signal: greedy samples are the forward's modes on them."""
    m, fr = small_model(**kw), frames()
    T = fr.shape[-1] * HOP
    wave = generate(m, T, 2, local=fr, temperature=0.0, engine="torch")
    assert wave.abs().max() < 1.0
    y = pre_emphasis(wave, m.config.pre_emphasis)  # what the model reads and predicts
    x = torch.cat([torch.zeros(2, 1), y[:, :-1]], 1)
    logits = m(x, fr)
    mode = m.head.sample(logits.transpose(1, 2).reshape(-1, logits.shape[1]),
                         torch.zeros(2 * T, m.head.n_uniforms), 0.0).reshape(2, T)
    torch.testing.assert_close(mode, y, atol=2e-5, rtol=0)


def test_a_prime_is_continued_seamlessly():
    m, fr = small_model(), frames()
    T = fr.shape[-1] * HOP
    whole = generate(m, T, 2, local=fr, temperature=0.0, engine="torch")
    primed = generate(m, T, 2, local=fr, temperature=0.0, engine="torch", prime=whole[:, :50])
    torch.testing.assert_close(primed[:, :50], whole[:, :50])
    # greedy from the same history (rings, sample history, de-emphasis state): the same signal
    torch.testing.assert_close(primed[:, 50:], whole[:, 50:], atol=1e-4, rtol=0)


def test_a_note_from_silence_repeats_its_first_period():
    """Generation starts from silence, so the second period of a note finds no earlier period
    in the window to fit: the pitch prediction's ridge then gives its prior, a copy of the
    period before, and an untrained model with pitch gains starts as that copy too."""
    feats = SampleFeatures([0, 1, 2], 0, RATE, HOP, NFFT, MELS, window=24)
    fr = frames(B=1, N=12)
    fr[0, -2], fr[0, -1] = f0_features(torch.full((12,), 100.0).numpy(), torch.ones(12).numpy())
    T = fr.shape[-1] * HOP  # period 20
    y = torch.zeros(T)
    y[:20] = torch.rand(20, generator=torch.Generator().manual_seed(3)) - 0.5  # the burst
    out, pred = feats.features(torch.nn.functional.pad(y[None], (feats.history, 0)),
                               feats.context(fr))
    # output 19 predicts sample 20, the first of period 2: the window's targets are all in
    # the burst, whose taps are silence
    torch.testing.assert_close(pred[0, 19], y[0])
    assert y[0] != 0 and (pred[0, :19] == 0).all()  # a burst out of silence is not predicted
    m = WaveNet(config(lpc_order=0, pitch_lags=[0, 1, 2], pitch_gains=True,
                       pre_emphasis=0.0)).eval()
    with torch.no_grad():
        logits = m(y[None], fr)  # (1, out, T): the gaussian head's mean is channel 0
    assert m.head.means == slice(0, 1)
    torch.testing.assert_close(logits[0, 0], out[0, 0])  # the lag-0 tap, one period back


def test_pitch_gains_learn_a_plucked_strings_loop():
    """Trained on one plucked string, the gains the head learns predict each sample of the
    sustain from the period before far better than the copy they start as."""
    torch.manual_seed(0)
    m = WaveNet(config(lpc_order=0, pitch_gains=True, pre_emphasis=0.0))
    fr = frames(B=1, N=12)
    fr[0, -2], fr[0, -1] = f0_features(torch.full((12,), 100.0).numpy(), torch.ones(12).numpy())
    T = fr.shape[-1] * HOP  # period 20
    y = plucked(20, [0.3, 0.45, 0.2], T + 1).float()[None]
    x, target = y[:, :T], y[:, 1:]
    settled = slice(40, T)

    def error() -> float:
        with torch.no_grad():
            mean = m(x, fr)[0, 0]  # the Gaussian head's mean
        return float((mean - target[0])[settled].abs().mean() / target[0, settled].abs().mean())

    before = error()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(300):  # the burst (the first period) is noise that nothing predicts
        opt.zero_grad()
        m.head.nll(m(x, fr), target)[:, 20:].mean().backward()
        opt.step()
    after = error()
    assert after < 0.1 * before, (before, after)


def test_the_lp_prediction_moves_the_mean():
    m, fr = small_model(), frames()
    T = fr.shape[-1] * HOP
    x = torch.randn(2, T) * 0.3
    with_lp = m(x, fr)
    ctx = m.sample_context(fr)
    _, lp = m.excitation.features(torch.nn.functional.pad(x, (m.excitation.history, 0)), ctx)
    # the mean is the network's output plus the prediction; the log scale is untouched
    window = torch.nn.functional.pad(x, (m.excitation.history, 0))
    cond, _ = m._with_features(window, m.upsample(fr)[..., :T], ctx)
    h, skips = m.embed_input(x), 0
    for block in m.blocks:
        h, s = block(h, cond, None)
        skips = skips + s
    plain = m._output(skips)
    torch.testing.assert_close(with_lp[:, 0], plain[:, 0] + lp)
    torch.testing.assert_close(with_lp[:, 1], plain[:, 1])


def test_unvoiced_frames_give_zero_taps_and_periods_are_clamped():
    feats = SampleFeatures([-2, 0], 0, RATE, HOP, NFFT, MELS)
    fr = frames(B=1)
    fr[0, -2, 0] = 10.0  # an absurd f0 (150 * 2^8 Hz): the period is clamped to >= 3
    ctx = feats.context(fr)
    assert int(ctx.periods[0, 0]) == feats.min_period == 3
    assert (ctx.periods[0, fr.shape[-1] // 2 * HOP:] == 0).all()
    out, lp = feats.features(torch.ones(1, feats.history + ctx.periods.shape[1]), ctx)
    assert lp is None and (out[0, :, fr.shape[-1] // 2 * HOP:] == 0).all()


@pytest.mark.parametrize("kw, key", [
    (dict(f0_input=False), "pitch_lags"),
    (dict(head="categorical", input="auto"), "pitch_lags"),
    (dict(pitch_lags=[0, 0]), "pitch_lags"),
    (dict(local_channels=2, pitch_lags=[]), "f0_input"),
    (dict(pre_emphasis=1.0), "pre_emphasis"),
    (dict(pitch_prediction=24), "pitch_prediction.*lpc_order"),
    (dict(lpc_order=0, pitch_lags=[], pitch_prediction=24), "pitch_prediction.*pitch_lags"),
    (dict(lpc_order=0, pitch_prediction=4), "pitch_prediction"),
    (dict(pitch_lags=[], pitch_gains=True), "pitch_gains.*pitch_lags"),
    (dict(lpc_order=0, pitch_prediction=24, pitch_gains=True), "pitch_gains.*pitch_prediction"),
    (dict(pitch_gains=1), "pitch_gains"),
])
def test_bad_sample_feature_settings_name_the_key(kw, key):
    with pytest.raises(ValueError, match=key):
        config(**kw)


def test_context_length_covers_the_longest_period():
    c = config(sample_rate=16000, hop_length=256, n_fft=1024, local_channels=82)
    assert c.context_length == 16000 // 40 + 1 - 1 + 1  # longest period + lag 1 - 1, then + 1
    assert c.context_length + 128 == config(
        sample_rate=16000, hop_length=256, n_fft=1024, local_channels=82, lpc_order=0,
        pitch_prediction=128).context_length  # the oldest target's taps: a window further back
    assert config(pitch_lags=[], lpc_order=4).context_length == config(
        pitch_lags=[], lpc_order=4).receptive_field


@pytest.mark.parametrize("chunked", [False, True])
def test_last_outputs_are_the_full_forwards_last_and_carry_the_same_gradients(chunked):
    """forward(..., last=n): the head computed for the last n steps only (the LP prediction
    sliced with them) gives the full forward's last n outputs and the same gradients."""
    from wavedil.train.chunked_stack import ChunkedStack

    stack = ChunkedStack(min_stream_values=0) if chunked else None
    model = small_model().double().train()
    fr = frames().double()
    x = torch.rand(2, fr.shape[-1] * HOP, dtype=torch.float64) * 2 - 1
    n = 37
    grads = []
    for last in (None, n):
        model.zero_grad(set_to_none=True)
        out = model(x, fr, last=last, stack=stack)
        out = out if last else out[..., -n:]
        assert out.shape == (2, 2, n)
        (out * torch.linspace(-1, 1, n, dtype=torch.float64)).sum().backward()
        grads.append((out.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0], rtol=1e-12, atol=1e-12)
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for bad in (0, x.shape[-1] + 1):
        with pytest.raises(ValueError, match="last="):
            model(x, fr, last=bad)
