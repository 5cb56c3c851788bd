"""Pitch taps: condition a WaveNet on its own output about one pitch period back.

A WaveNet conditioned only on a note or an f0 value has to discover, through its dilated
stack, which of hundreds of past samples lies one period back, and do so for every pitch. On
the plucked-string corpus it did not within an hour of CPU training: free-running output was
noise or a pitch-independent hum (``benchmarks/quality.py`` records the attempts). QPNet
(Wu et al. 2019, "Quasi-periodic WaveNet") fixes this by making the dilations depend on the
pitch period. Here the same idea enters through ordinary local conditioning at hop 1: the
conditioning frame of output t holds the samples at lags ``period + lag`` before the sample
that output t predicts, so a long-term predictor is a linear read-out of the conditioning.

Training computes the taps from the real audio (:func:`pitch_taps`); generation computes them
from the samples already generated (:func:`generate_with_pitch_taps`), feeding
:func:`wavedil.stream` frames as they become known. Every tap lags the predicted sample by at
least one sample, so the model stays causal.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .generate import stream
from .model import WaveNet

DEFAULT_LAGS = (-2, -1, 0, 1, 2)


def _periods(period: int | Sequence[int] | torch.Tensor, batch: int) -> torch.Tensor:
    p = torch.as_tensor(period, dtype=torch.long).reshape(-1)
    if p.numel() == 1:
        p = p.expand(batch)
    if p.numel() != batch:
        raise ValueError(f"period must be one value or one per stream ({batch}), got {p.numel()}")
    return p


def _check_lags(periods: torch.Tensor, lags: Sequence[int]) -> None:
    if not lags:
        raise ValueError("lags must not be empty")
    if int(periods.min()) + min(lags) < 1:
        raise ValueError(f"every tap must lag by >= 1 sample: period {int(periods.min())} + "
                         f"lag {min(lags)} < 1")


def pitch_taps(audio: torch.Tensor, period: int | Sequence[int] | torch.Tensor,
               lags: Sequence[int] = DEFAULT_LAGS) -> torch.Tensor:
    """Taps of ``audio`` (B, T) for training: (B, len(lags), T).

    Frame t holds ``audio[t + 1 - (period + lag)]`` for each lag (zero before the start): the
    samples about one period before sample t + 1, which output t predicts.
    """
    if audio.dim() != 2:
        raise ValueError(f"audio must be (B, T), got {tuple(audio.shape)}")
    B, T = audio.shape
    periods = _periods(period, B)
    _check_lags(periods, lags)
    out = audio.new_zeros(B, len(lags), T)
    for b in range(B):
        for j, lag in enumerate(lags):
            shift = int(periods[b]) + lag - 1  # frame t reads audio[t - shift]
            if shift < T:
                out[b, j, shift:] = audio[b, :T - shift]
    return out


@torch.inference_mode()
def generate_with_pitch_taps(model: WaveNet, period: int | Sequence[int] | torch.Tensor,
                             n_samples: int, extra: torch.Tensor | None = None,
                             lags: Sequence[int] = DEFAULT_LAGS, **kwargs) -> torch.Tensor:
    """Generate (B, n_samples) from a model trained on ``[pitch_taps, extra]`` frames (hop 1).

    ``period`` is in samples, one value or one per stream; ``extra`` (B, E, n_samples) holds
    the other conditioning channels. Frames are handed to :func:`wavedil.stream` in chunks no
    longer than the shortest lag, so every tap is known when its chunk runs. ``kwargs`` go to
    :func:`wavedil.stream` (temperature, generator, engine, speaker).
    """
    c = model.config
    E = 0 if extra is None else extra.shape[1]
    if c.hop_length != 1 or c.local_channels != len(lags) + E:
        raise ValueError(f"the model needs hop_length=1 and local_channels={len(lags) + E} "
                         f"(taps + extra), has hop_length={c.hop_length} and "
                         f"local_channels={c.local_channels}")
    periods = torch.as_tensor(period, dtype=torch.long).reshape(-1)
    B = extra.shape[0] if extra is not None else periods.numel()
    periods = _periods(periods, B)
    _check_lags(periods, lags)
    if extra is not None and tuple(extra.shape) != (B, E, n_samples):
        raise ValueError(f"extra must be (B={B}, E, n_samples={n_samples}), got {tuple(extra.shape)}")
    lag_t = periods[:, None] + torch.tensor(list(lags))[None]  # (B, J): lags of the taps
    step = int(lag_t.min())
    history = torch.zeros(B, n_samples)
    done = 0

    def frames() -> Iterator[torch.Tensor]:
        for start in range(0, n_samples, step):
            t = torch.arange(start, min(start + step, n_samples))
            idx = t[None, None] - lag_t[:, :, None]  # (B, J, n): generated sample read
            taps = torch.gather(history, 1, idx.clamp(min=0).reshape(B, -1)).reshape(idx.shape)
            taps = taps * (idx >= 0)
            assert int(idx.max()) < done, "a tap would read a sample not yet generated"
            yield taps if extra is None else torch.cat([taps, extra[..., t]], 1)

    for chunk in stream(model, n_samples, B, local=frames(), **kwargs):
        history[:, done:done + chunk.shape[1]] = chunk
        done += chunk.shape[1]
    return history
