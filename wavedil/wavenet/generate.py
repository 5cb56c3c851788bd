"""The generation driver: batched, streaming sampling from a WaveNet through an engine (and
the one-pass synthesis of a frames-to-waveform vocoder, ``model.kind: harmonic_noise``,
behind the same functions).

The driver owns the loop's inputs (conditioning, random numbers, the prime) and the
engine owns the per-layer cache, so each new sample costs O(layers) (Paine et al. 2016,
"Fast Wavenet Generation Algorithm"). Random numbers are drawn here from the
caller's generator in fixed blocks, so every engine and every chunking turns the same
stream into the same samples.

Local conditioning can stream: ``local`` may be an iterable of frame chunks (B, n_mels, n),
and samples for a chunk are produced as soon as it arrives. ``GenerateConfig`` holds the
defaults of ``wavedil generate``, stored in every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import torch

from ..dsp.audio import mulaw_decode, mulaw_encode
from ..config import Config
from .engines import make_engine, resolve_engine, resolve_kernel
from ..native.kernel import Kernel, Unavailable
from .engines.choice import CHOICES as WEIGHT_CHOICES
from .engines.choice import FAST, PLANS, Decision
from ..dsp.lpc import de_emphasis, pre_emphasis
from .model import WaveNet
from ..dsp.refine import REFINE_MOMENTUM
from ..nn.conditioning import check_stream_sizes, frame_chunks

DEFAULT_CHUNK = 1600
UNIFORM_BLOCK = 4096


class _Uniforms:
    """Uniforms drawn from the caller's generator in fixed blocks, so the numbers a sample
    uses depend on its position only, not on how the run is chunked."""

    def __init__(self, batch: int, k: int, generator, device) -> None:
        self.shape, self.generator, self.device = (batch, k), generator, device
        self.pending = torch.empty(0, batch, k, device=device)

    def take(self, n: int) -> torch.Tensor:
        while self.pending.shape[0] < n:
            block = torch.rand(UNIFORM_BLOCK, *self.shape, generator=self.generator,
                               device=self.device)
            self.pending = torch.cat([self.pending, block])
        out, self.pending = self.pending[:n], self.pending[n:]
        return out


def _to_head_space(model: WaveNet, wave: torch.Tensor) -> torch.Tensor:
    """A waveform (B, T) from its start -> the values the model reads and predicts."""
    if model.head.continuous:
        return pre_emphasis(wave, model.config.pre_emphasis).clamp(-1.0, 1.0)
    return mulaw_encode(wave, model.config.classes)


class _ToWave:
    """Head-space values -> waveform, chunk by chunk: mu-law decoding, or de-emphasis that
    carries the last output across chunks."""

    def __init__(self, model: WaveNet, batch: int, device) -> None:
        self.model, self.last = model, torch.zeros(batch, device=device)

    def __call__(self, values: torch.Tensor, wave: torch.Tensor | None = None) -> torch.Tensor:
        """values (B, n); ``wave`` (B, n): the waveform itself where it is known (a prime)."""
        c = self.model.config
        if not self.model.head.continuous:
            return mulaw_decode(values, c.classes)
        out = wave if wave is not None else de_emphasis(values.float(), c.pre_emphasis, self.last)
        if out.shape[-1]:
            self.last = out[:, -1].float()  # unclipped: the filter's true state
        return out.clamp(-1.0, 1.0)


@torch.inference_mode()
def stream(
    model: WaveNet,
    n_samples: int | None = None,
    batch_size: int = 1,
    local: torch.Tensor | Iterable[torch.Tensor] | None = None,
    speaker: torch.Tensor | int | None = None,
    temperature: float = 1.0,
    prime: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    engine: str = "auto",
    chunk_size: int = DEFAULT_CHUNK,
    kernel: str | Kernel | Unavailable = "auto",
    weights: str = "fp32",
    voiced_temperature: float | None = None,
    plan: str | Decision = "auto",
) -> Iterator[torch.Tensor]:
    """Yield generated waveform chunks (B, n_i) in [-1, 1] as they are produced.

    Args:
        n_samples: total samples per stream, prime included; None runs until streamed
            ``local`` frames are exhausted.
        batch_size: number of independent streams.
        local: frame features (B or 1, local_channels, N), or an iterable of such chunks
            supplied as they become available.
        speaker: speaker id(s), an int or (B,).
        temperature: sampling temperature; 0 takes the mode.
        prime: waveform (B or 1, P) in [-1, 1] to continue; it is yielded first.
        generator: the random stream (same stream, same samples, for every engine).
        engine: "auto", "torch" or "numba".
        chunk_size: samples per chunk without local conditioning.
        kernel: the numba engine's matrix kernel: "auto", "c" (ValueError with the reason
            where it cannot build) or "numba" (see ``wavedil.native.kernel``).
        weights: the engine's weight format, "fp32" (exact), "bf16" (the large matrices
            rounded to bfloat16, which the numba engine's C kernel reads in half the bytes) or
            "bf16-dot" (the products' inputs rounded too, for the CPU's bfloat16 dot product
            where it has one: see ``wavedil.wavenet.plan.WEIGHTS``), or "fast": the fastest
            of the formats whose quality cost was measured within the limit
            (``engines.planner.FAST_FORMATS``) on this machine (fp32 on the torch engine,
            which runs no format faster).
        plan: how the numba engine's configuration is chosen (``engines.planner``): "auto"
            (measured on first use, then cached), "measure", "cached" or "fixed"; or a
            ``planner.Decision`` already made. The samples are those of the weight format
            whatever the plan; only the speed changes.
        voiced_temperature: the temperature of voiced samples whose period before lies in
            their own voiced run (:class:`VoicedTemperature`; a model with pitch taps); None:
            ``temperature`` for all.
    """
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}; got {weights!r}")
    if not (isinstance(plan, Decision) or plan in PLANS):
        raise ValueError(f"plan must be one of {', '.join(PLANS)} or a planner.Decision; "
                         f"got {plan!r}")
    if not isinstance(model, WaveNet):
        raise TypeError(f"stream: a WaveNet expected, got {type(model).__name__} "
                        "(wavedil.stream takes a model of any family)")
    if n_samples is None and local is None:
        raise ValueError("n_samples is required without local conditioning")
    check_stream_sizes(n_samples, batch_size, chunk_size)
    if not temperature >= 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if voiced_temperature is not None:
        if not voiced_temperature >= 0:
            raise ValueError(f"voiced_temperature must be >= 0, got {voiced_temperature}")
        if not model.config.pitch_lags:
            raise ValueError("voiced_temperature needs a model with pitch taps (model.pitch_lags "
                             "gives each sample's period); this model has none")
    if (local is None) != (model.conditioner is None):
        raise ValueError("local conditioning must be given exactly when the model has "
                         f"local_channels > 0 (this model: {model.config.local_channels})")
    B = batch_size
    device = next(model.parameters()).device
    spk = model.speaker_vector(speaker, B)
    name = resolve_engine(engine, device)
    threads = None
    if name == "numba" and device.type == "cpu":
        from .engines.planner import decide

        chosen = resolve_kernel(kernel, name)
        decision = plan if isinstance(plan, Decision) else decide(model, B, weights, plan,
                                                                   chosen, spk)
        weights, threads = decision.choice.weights, decision.choice.threads
    elif weights == FAST:
        weights = "fp32"  # the torch engine computes in float32 whatever the format
    eng = make_engine(name, model, B, spk, kernel, weights, threads)
    head = model.head

    # the first input is silence
    eng.set_input(_to_head_space(model, torch.zeros(B, device=device)))
    done = 0
    prime_values = None
    if prime is not None:
        prime = torch.as_tensor(prime, dtype=torch.float32, device=device)
        prime = prime.unsqueeze(0) if prime.dim() == 1 else prime
        if prime.dim() != 2 or prime.shape[0] not in (1, B):
            raise ValueError(f"prime must be (P,) or (B={B}, P), got {tuple(prime.shape)}")
        if n_samples is not None and prime.shape[1] > n_samples:
            raise ValueError(f"prime has {prime.shape[1]} samples, more than n_samples={n_samples}")
        prime_values = _to_head_space(model, prime.expand(B, -1))

    def pieces() -> Iterator[tuple[int, torch.Tensor | None, object]]:
        """(length, upsampled conditioning or None, sample context or None) for each chunk."""
        if local is None:
            left = n_samples
            while left > 0:
                n = min(chunk_size, left)
                yield n, None, None
                left -= n
            return
        cstate = model.conditioner.init_state(B, device)
        produced = 0
        for frames in frame_chunks(local, B):
            frames = frames.to(device)
            cond, cstate = model.conditioner.stream(frames, cstate)
            if n_samples is not None:
                cond = cond[..., : max(0, n_samples - produced)]
            if cond.shape[-1]:
                produced += cond.shape[-1]
                yield cond.shape[-1], cond, model.sample_context(frames, cond.shape[-1])
            if n_samples is not None and produced >= n_samples:
                return
        if n_samples is not None and produced < n_samples:
            raise ValueError(f"local conditioning ran out: {produced} samples of conditioning "
                             f"for n_samples={n_samples}")

    P = 0 if prime_values is None else prime_values.shape[1]
    uniforms = _Uniforms(B, head.n_uniforms, generator, device)
    voiced = (None if voiced_temperature is None
              else VoicedTemperature(temperature, voiced_temperature, B))
    to_wave = _ToWave(model, B, device)
    for n, cond, ctx in pieces():
        # the part of this chunk still covered by the prime is teacher-forced
        k = min(max(P - done, 0), n)
        if voiced is not None:
            cold = voiced.cold(ctx.periods)  # (B, n)
        if k:
            forced = prime_values[:, done:done + k]
            eng.force(forced, None if cond is None else cond[..., :k],
                      None if ctx is None else ctx[:k])
            yield to_wave(forced, prime.expand(B, -1)[:, done:done + k].clone())
        if n - k:
            u = uniforms.take(n - k)
            temps = temperature if voiced is None else voiced.temperatures(cold[:, k:])
            values = eng.sample(n - k, u, None if cond is None else cond[..., k:], temps,
                                None if ctx is None else ctx[k:])
            yield to_wave(values)
        done += n


class VoicedTemperature:
    """A colder draw where a note repeats itself, as LPCNet lowers its temperature where the
    pitch correlation is high: within a voiced run, once the period before a sample is itself
    in the run (after the run's first period: a pluck's burst, a vowel's onset), the sample is
    drawn at ``voiced`` instead of ``temperature``. A held note's next sample is its period
    before, up to a slow change: noise drawn there at the training error's scale is heard as
    hiss and lingers in the note's loop, and a rare component of a mixture drawn there is a
    click. Per stream; a run's start carries over chunks."""

    def __init__(self, temperature: float, voiced: float, batch_size: int) -> None:
        self.temperature, self.voiced = float(temperature), float(voiced)
        self.start = torch.full((batch_size,), -1, dtype=torch.long)
        """The output at which each stream's current voiced run began; -1: unvoiced."""
        self.t = 0

    def cold(self, periods: torch.Tensor) -> torch.Tensor:
        """The next outputs' periods (B, n) (0: unvoiced) -> (B, n) bool: those drawn at the
        voiced temperature. Advances over them (call once per chunk, teacher-forced steps
        included)."""
        periods = periods.cpu()
        B, n = periods.shape
        if not n:
            return torch.zeros(B, 0, dtype=torch.bool)
        t = self.t + torch.arange(n)
        voiced = periods > 0
        before = torch.cat([(self.start >= 0)[:, None], voiced[:, :-1]], 1)
        marks = torch.where(voiced & ~before, t.expand(B, n), torch.full((B, n), -1))
        start = torch.cummax(torch.cat([self.start[:, None], marks], 1), 1).values[:, 1:]
        self.start = torch.where(voiced[:, -1], start[:, -1], -1)
        self.t += n
        return voiced & (t - start >= periods)

    def temperatures(self, cold: torch.Tensor) -> torch.Tensor:
        """(B, n) bool -> each draw's temperature, (n, B) float64, as the engines take them."""
        f64 = dict(dtype=torch.float64)
        return torch.where(cold, torch.tensor(self.voiced, **f64),
                           torch.tensor(self.temperature, **f64)).T.contiguous()


@dataclass
class GenerateConfig(Config):
    """The ``generate:`` section: defaults of ``wavedil generate`` and of training samples."""

    seconds: float = 2.0
    """Length of generated audio."""
    temperature: float = 1.0
    """Sampling temperature; 0 takes the most likely value."""
    voiced_temperature: float | None = None
    """Temperature of voiced samples once the period before them is in their own voiced run
    (after a note's first period, its pluck or onset), as LPCNet samples colder where the
    pitch correlation is high: a held note repeats itself, and what is drawn there at the
    training error's scale is heard as hiss. Needs model.pitch_lags; None: ``temperature``
    for every sample (``wavedil.wavenet.generate.VoicedTemperature``)."""
    engine: str = "auto"
    """Generation engine: auto, torch or numba."""
    batch_size: int = 1
    """Streams generated at once."""
    seed: int = 0
    """Seed of the random stream."""
    refine: int = 0
    """Passes of mel-consistent refinement (``wavedil.dsp.refine``) over a mel-conditioned model's
    output: each band's energy in each frame is made the features', the phases follow; 0: none.
    recipes/speech_vocoder.yaml uses 32."""
    refine_momentum: float = REFINE_MOMENTUM
    """Momentum of the refinement passes, in [0, 1)."""
    weights: str = "fp32"
    """Weight format of an autoregressive model's engine: fp32 (exact), bf16 (its large
    matrices rounded to bfloat16: half the bytes to read per sample in the numba engine),
    bf16-dot (the products' inputs rounded too: bfloat16 dot products where the CPU has them;
    ``wavedil.wavenet.plan.WEIGHTS``) or fast (the fastest of those on the machine, as the
    engines' planner measures it)."""

    def __post_init__(self) -> None:
        self.need(self.seconds > 0, "seconds", "> 0")
        self.need(self.refine >= 0, "refine", ">= 0 (passes; 0: none)")
        self.need(0 <= self.refine_momentum < 1, "refine_momentum", "in [0, 1)")
        self.need(self.weights in WEIGHT_CHOICES, "weights", ", ".join(WEIGHT_CHOICES))
        self.need(self.temperature >= 0, "temperature", ">= 0")
        self.need(self.voiced_temperature is None or self.voiced_temperature >= 0,
                  "voiced_temperature", ">= 0, or null for the temperature everywhere")
        self.need(self.engine in ("auto", "torch", "numba"), "engine", "auto, torch or numba")
        self.need(self.batch_size >= 1, "batch_size", ">= 1")
