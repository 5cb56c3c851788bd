"""The generation driver and its engines: exact against the forward, same samples everywhere."""

import pytest
import torch

from wavedil import WaveNet, WaveNetConfig, mulaw_decode, mulaw_encode
from wavedil.native import kernel as native
from wavedil.wavenet.engines import make_engine
from wavedil.dsp.f0 import f0_features
from wavedil import generate, stream
from wavedil.dsp.lpc import pre_emphasis

ENGINES = ["torch", "numba"]
HEADS = [dict(head="categorical", classes=32), dict(head="logistic_mixture", mixtures=3),
         dict(head="gaussian"), dict(head="categorical", classes=32, input="scalar")]
CONDS = [dict(), dict(local_channels=5, cond_channels=6, hop_length=4, upsample_scales=[2, 2]),
         dict(speakers=3, speaker_channels=4)]


def make(kernel_size=2, head=HEADS[0], cond=CONDS[0], seed=0):
    torch.manual_seed(seed)
    cfg = WaveNetConfig(layers=6, cycle_length=3, residual_channels=8, gate_channels=8,
                        skip_channels=8, kernel_size=kernel_size, **head, **cond)
    model = WaveNet(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model


def head_values(model, B, T):
    g = torch.Generator().manual_seed(3)
    if model.head.continuous:
        return torch.rand(B, T, generator=g) * 2 - 1
    return torch.randint(0, model.config.classes, (B, T), generator=g)


def model_input(model, v):
    if model.config.input_kind == "scalar" and not model.head.continuous:
        return mulaw_decode(v, model.config.classes)
    return v


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cond", CONDS)
def test_engine_teacher_forced_equals_forward(engine, k, head, cond):
    model = make(k, head, cond)
    B, T = 3, 45
    v = head_values(model, B, T)
    c = model.config
    local = torch.randn(B, 5, 12) if c.local_channels else None
    spk = torch.tensor([0, 2, 1]) if c.speakers else None
    with torch.no_grad():
        full = model(model_input(model, v), local, spk)  # (B, out, T)
        eng = make_engine(engine, model, B, model.speaker_vector(spk, B))
        eng.set_input(v[:, 0])
        cond_all = model.upsample(local)[..., :T] if local is not None else None
        forced = torch.cat([v[:, 1:], v[:, :1]], 1)
        logits = eng.force(forced, cond=cond_all)
    assert (logits.permute(1, 2, 0) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cond", CONDS)
def test_engines_give_the_same_samples(head, cond):
    model = make(2, head, cond)
    c = model.config
    B, n = 3, 300
    local = torch.randn(B, 5, n // 4) if c.local_channels else None
    spk = torch.tensor([0, 2, 1]) if c.speakers else None
    out = {}
    for engine in ENGINES:
        g = torch.Generator().manual_seed(11)
        out[engine] = generate(model, n, B, local=local, speaker=spk, generator=g, engine=engine,
                               temperature=0.9)
    assert out["torch"].shape == (B, n)
    assert (out["torch"] - out["numba"]).abs().max() <= 1e-4
    assert out["torch"].abs().max() <= 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_sampling_follows_the_model(engine):
    """A model whose output ignores its input samples from the distribution it states."""
    model = make(2, dict(head="categorical", classes=8))
    with torch.no_grad():
        model.out2.weight.zero_()
        model.out2.bias.copy_(torch.log(torch.tensor([0.5, 0.25, 0.125, 0.125, 1e-9, 1e-9, 1e-9, 1e-9])))
    g = torch.Generator().manual_seed(0)
    y = generate(model, 2000, 4, generator=g, engine=engine)
    classes = mulaw_encode(y, 8)
    freq = torch.bincount(classes.flatten(), minlength=8).float() / classes.numel()
    assert torch.allclose(freq[:4], torch.tensor([0.5, 0.25, 0.125, 0.125]), atol=0.02)
    assert freq[4:].sum() == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_chunking_and_streamed_conditioning_do_not_change_samples(engine):
    model = make(2, HEADS[1], CONDS[1])
    local = torch.randn(2, 5, 40)
    whole = generate(model, 160, 2, local=local, generator=torch.Generator().manual_seed(1),
                     engine=engine)
    frames = (local[..., i:i + 3] for i in range(0, 40, 3))  # frames arrive 3 at a time
    chunks = list(stream(model, None, 2, local=frames, generator=torch.Generator().manual_seed(1),
                         engine=engine))
    assert len(chunks) == 14
    assert torch.equal(torch.cat(chunks, -1), whole)
    small = generate(model, 160, 2, local=local, generator=torch.Generator().manual_seed(1),
                     engine=engine, chunk_size=7)
    assert torch.equal(small, whole)


@pytest.mark.parametrize("engine", ENGINES)
def test_prime_is_kept_and_continued(engine):
    model = make(2, HEADS[2])
    prime = torch.linspace(-0.5, 0.5, 50)
    y = generate(model, 120, 2, prime=prime, generator=torch.Generator().manual_seed(0), engine=engine)
    assert y.shape == (2, 120)
    assert torch.equal(y[:, :50], prime.expand(2, 50))
    # the continuation depends on the prime
    z = generate(model, 120, 2, prime=-prime, generator=torch.Generator().manual_seed(0), engine=engine)
    assert not torch.allclose(y[:, 50:], z[:, 50:])


@pytest.mark.parametrize("engine", ENGINES)
def test_cache_does_not_grow(engine):
    model = make(3)
    eng = make_engine(engine, model, 2)
    C = model.config.residual_channels
    expected = sum(2 * d * C * 2 for d in model.config.layer_dilations)
    assert eng.state_numel() == expected
    eng.set_input(torch.zeros(2, dtype=torch.long))
    eng.sample(500, torch.rand(500, 2, 1))
    assert eng.state_numel() == expected


def test_temperature_zero_is_deterministic():
    model = make(2, HEADS[0])
    a = generate(model, 100, 2, temperature=0.0, generator=torch.Generator().manual_seed(0))
    b = generate(model, 100, 2, temperature=0.0, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


def test_generate_with_a_speaker_per_stream():
    model = make(2, HEADS[0], CONDS[2])
    y = generate(model, 64, batch_size=3, speaker=torch.tensor([0, 1, 2]), engine="torch")
    assert y.shape == (3, 64) and y.abs().max() <= 1.0


# -- sample features (pitch taps, LP excitation) computed inside the generation loop ----------

SPEECH_HEADS = [dict(head="gaussian"), dict(head="logistic_mixture", mixtures=3),
                dict(head="gaussian", lpc_order=0, pitch_prediction=24, pre_emphasis=0.0),
                dict(head="logistic_mixture", mixtures=2, lpc_order=0, pitch_gains=True,
                     pre_emphasis=0.0)]
"""Heads, then the pitch prediction and the pitch gains in place of the LP excitation."""
NEEDS_C = pytest.mark.skipif(not native.load().available, reason=native.load().status)
F0S = [[100.0] * 6 + [0.0] * 6, [150.0] * 12, [0.0] * 3 + [220.0] * 9]  # Hz per frame, 0: unvoiced


def make_speech(head, scale=1.0, seed=0):
    """A tiny model with pitch taps and LP excitation, its out2 scaled by ``scale``."""
    torch.manual_seed(seed)
    cfg = WaveNetConfig(**{**dict(
        layers=4, cycle_length=2, kernel_size=3, residual_channels=8, gate_channels=8,
        skip_channels=8, local_channels=10, cond_channels=6, f0_input=True, pitch_lags=[-1, 0, 1],
        lpc_order=4, pre_emphasis=0.85, hop_length=16, sample_rate=2000, n_fft=64), **head})
    model = WaveNet(cfg).eval()
    with torch.no_grad():
        if cfg.pitch_prediction or cfg.pitch_gains:  # untrained, it is its predictor
            # (silence from silence): random means and scales well above its residual's, so
            # that there is a signal, and gains that vary around the copy
            torch.nn.init.normal_(model.out2.weight[model.head.means], std=0.3)
            model.out2.bias[model.head.scales] += 7.0 if cfg.pitch_prediction else 1.0
            torch.nn.init.normal_(model.out2.weight[model.head.out_channels:], std=0.3)
        model.out2.weight.mul_(scale)
        model.out2.bias.mul_(scale)
        if cfg.pitch_gains:  # means that excite, a loop gain near the copy's, at any scale
            torch.nn.init.normal_(model.out2.weight[model.head.means], std=0.3)
            model.out2.bias[model.head.out_channels + model.excitation.prior] = 0.9
    return model


def speech_frames(B, seed=0):
    """(B, 8 mel + 2 f0, 12) frames, voiced and unvoiced (periods of 20, 13 and 9 samples)."""
    mel = torch.rand(B, 8, 12, generator=torch.Generator().manual_seed(seed))
    f0 = torch.tensor(F0S[:B] if B > 1 else F0S[2:])  # (B, 12)
    return torch.cat([mel, torch.stack([f0_features(f, f > 0) for f in f0])], 1)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("head", SPEECH_HEADS)
def test_engine_with_sample_features_teacher_forced_equals_forward(engine, head):
    model = make_speech(head)
    B, T = 3, 192
    frames = speech_frames(B)
    v = head_values(model, B, T)
    with torch.no_grad():
        full = model(v, frames)  # (B, out, T)
        eng = make_engine(engine, model, B)
        assert eng.name == engine
        eng.set_input(v[:, 0])
        cond, ctx = model.upsample(frames)[..., :T], model.sample_context(frames, T)
        forced = torch.cat([v[:, 1:], v[:, :1]], 1)
        logits = torch.cat([eng.force(forced[:, :70], cond[..., :70], ctx[:70]),
                            eng.force(forced[:, 70:], cond[..., 70:], ctx[70:])])
    assert (logits.permute(1, 2, 0) - full).abs().max() <= 1e-5


@pytest.mark.parametrize("kernel", [pytest.param("c", marks=NEEDS_C), "numba"])
@pytest.mark.parametrize("head", SPEECH_HEADS)
@pytest.mark.parametrize("B", [1, 3])
def test_numba_engine_computes_sample_features_like_torch(kernel, head, B):
    """The same samples from both engines, with and without a prime, whole or with frames
    streamed a few at a time."""
    model = make_speech(head, scale=0.1)
    frames = speech_frames(B)
    T = frames.shape[-1] * 16
    prime = torch.linspace(-0.3, 0.3, 50)
    for kwargs in (dict(), dict(prime=prime)):
        out = {engine: generate(model, T, B, local=frames, generator=torch.Generator().manual_seed(5),
                                engine=engine, temperature=0.9, kernel=kernel if engine == "numba"
                                else "auto", **kwargs)
               for engine in ENGINES}
        assert out["torch"].shape == (B, T) and out["torch"].abs().max() <= 1.0
        assert (out["torch"] - out["numba"]).abs().max() <= 1e-4
        assert out["torch"][:, 1:].std() > 0.01  # a real signal, not silence
        pieces = (frames[..., i:i + 5] for i in range(0, frames.shape[-1], 5))
        streamed = torch.cat(list(stream(model, None, B, local=pieces, engine="numba",
                                         kernel=kernel, temperature=0.9,
                                         generator=torch.Generator().manual_seed(5), **kwargs)), -1)
        assert (streamed - out["numba"]).abs().max() <= 1e-6


def test_engines_share_the_sample_feature_history():
    """Half a run in the numba engine, the rest in a torch engine handed its state: the samples
    of a run in the torch engine alone (the history ring is one array for both)."""
    model = make_speech(SPEECH_HEADS[0], scale=0.1)
    B, T = 3, 192
    frames = speech_frames(B)
    cond, ctx = model.upsample(frames)[..., :T], model.sample_context(frames, T)
    u = torch.rand(T, B, 1, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = make_engine("torch", model, B)
        ref.set_input(torch.zeros(B))
        want = ref.sample(T, u, cond, 1.0, ctx)
        eng = make_engine("numba", model, B)
        eng.set_input(torch.zeros(B))
        first = eng.sample(100, u[:100], cond[..., :100], 1.0, ctx[:100])
        tor = make_engine("torch", model, B)
        tor.state = eng.state
        rest = tor.sample(T - 100, u[100:], cond[..., 100:], 1.0, ctx[100:])
    assert (torch.cat([first, rest], 1) - want).abs().max() <= 1e-4
    assert (eng.state.history - ref.state.history).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="sample_context"):
        eng.sample(4, u[:4], cond[..., :4])


@pytest.mark.parametrize("head", SPEECH_HEADS)
@pytest.mark.parametrize("B", [1, 3])
def test_greedy_numba_generation_with_sample_features_is_the_forward(head, B):
    """Temperature 0: every generated head-space value (the pre-emphasised waveform) is the
    mode that the teacher-forced forward gives on the generated signal."""
    model = make_speech(head, scale=0.1)
    frames = speech_frames(B)
    T = frames.shape[-1] * 16
    wave = generate(model, T, B, local=frames, temperature=0.0, engine="numba")
    assert wave.abs().max() < 0.99 and wave[:, 1:].std() > 0.01  # nothing clipped, not silence
    y = pre_emphasis(wave, model.config.pre_emphasis)  # (B, T) head space
    with torch.no_grad():
        out = model(torch.cat([torch.zeros(B, 1), y[:, :-1]], 1), frames)  # (B, out, T)
    if head["head"] == "gaussian":
        mode = out[:, 0]
    else:
        K = model.head.mixtures
        mode = out[:, K:2 * K].gather(1, out[:, :K].argmax(1, keepdim=True))[:, 0]
    assert (mode - y).abs().max() <= 1e-5


def test_voiced_temperature_draws_a_runs_first_period_at_the_temperature_and_the_rest_colder():
    from wavedil.wavenet.generate import VoicedTemperature

    # stream 0: unvoiced 3, voiced at period 4 for 10 steps, unvoiced 2, voiced at 3 for 5
    periods = torch.tensor([[0] * 3 + [4] * 10 + [0] * 2 + [3] * 5,
                            [5] * 20])  # stream 1: voiced from the first step
    want = torch.tensor([[0] * 3 + [0] * 4 + [1] * 6 + [0] * 2 + [0] * 3 + [1] * 2,
                         [0] * 5 + [1] * 15], dtype=torch.bool)
    whole = VoicedTemperature(1.0, 0.2, 2).cold(periods)
    assert torch.equal(whole, want)
    split = VoicedTemperature(1.0, 0.2, 2)  # in chunks: a run's start carries over
    assert torch.equal(torch.cat([split.cold(periods[:, a:b]) for a, b in
                                  ((0, 5), (5, 6), (6, 14), (14, 20))], 1), want)
    temps = VoicedTemperature(1.0, 0.2, 2).temperatures(want)
    assert temps.shape == (20, 2) and set(temps[:, 0].tolist()) == {1.0, 0.2}


@pytest.mark.parametrize("B", [1, 3])
def test_both_engines_draw_each_sample_at_its_own_temperature(B):
    model = make_speech(SPEECH_HEADS[3], scale=0.1)
    frames = speech_frames(B)
    T = frames.shape[-1] * 16
    out = {(engine, vt): generate(model, T, B, local=frames, engine=engine, temperature=0.9,
                                  voiced_temperature=vt,
                                  generator=torch.Generator().manual_seed(5))
           for engine in ENGINES for vt in (None, 0.9, 0.1)}
    assert (out["torch", 0.1] - out["numba", 0.1]).abs().max() <= 1e-4
    for engine in ENGINES:  # the temperature everywhere: the same draws as without
        assert torch.equal(out[engine, 0.9], out[engine, None])
        assert (out[engine, 0.1] - out[engine, None]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="voiced_temperature needs a model with pitch taps"):
        generate(make(2, HEADS[0], CONDS[1]), 40, local=torch.randn(1, 5, 10),
                 voiced_temperature=0.5)
    with pytest.raises(ValueError, match="voiced_temperature must be >= 0"):
        generate(model, T, B, local=frames, voiced_temperature=-1.0)


def test_bad_requests():
    model = make(2, HEADS[0], CONDS[1])
    local = torch.randn(1, 5, 10)  # 40 samples of conditioning
    with pytest.raises(ValueError, match="ran out"):
        generate(model, 41, local=local)
    with pytest.raises(ValueError, match="prime has 50"):
        generate(model, 40, local=local, prime=torch.zeros(50))
    with pytest.raises(ValueError, match="local conditioning must be given"):
        generate(model, 40)
    with pytest.raises(ValueError, match="engine must be one of"):
        generate(model, 40, local=local, engine="tpu")
    with pytest.raises(ValueError, match="temperature"):
        generate(model, 40, local=local, temperature=-1)
    with pytest.raises(ValueError, match=r"\(B=2"):
        generate(model, 40, 2, local=torch.randn(3, 5, 10))
    spk = make(2, HEADS[0], CONDS[2])
    with pytest.raises(ValueError, match="speaker"):
        generate(spk, 40)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_torch_engine_matches_cpu():
    model = make(2, HEADS[1])
    g = lambda: torch.Generator(device="cuda").manual_seed(0)  # noqa: E731
    cpu_logits = None
    v = head_values(model, 2, 30)
    for dev in ("cpu", "cuda"):
        m = model.to(dev)
        eng = make_engine("torch", m, 2)
        eng.set_input(v[:, 0].to(dev))
        logits = eng.force(v.to(dev))
        if cpu_logits is None:
            cpu_logits = logits
        else:
            assert (logits.cpu() - cpu_logits).abs().max() <= 1e-4
    y = generate(model.to("cuda"), 100, 4, generator=g())
    assert y.shape == (4, 100)
