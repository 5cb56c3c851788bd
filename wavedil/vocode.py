"""A frames-to-waveform vocoder's synthesis as a stream (the harmonic-plus-noise and the
inverse-STFT families): it reads every frame (their blocks may look ahead), makes the waveform
in one pass and yields it in chunks, with the arguments of the WaveNet's
:func:`wavedil.wavenet.generate.stream` (the sampling ones do not apply and are ignored; a
weight format other than fp32 or a prime is an error), so that ``wavedil.stream`` and the
drivers treat every family that generates alike."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import torch
from torch import nn

from .nn.conditioning import check_stream_sizes, frame_chunks

CHUNK = 1600
"""Samples per yielded chunk (the WaveNet's default chunk, so both stream alike)."""


def stream(model: nn.Module, n_samples: int | None = None, batch_size: int = 1,
           local: torch.Tensor | Iterable[torch.Tensor] | None = None,
           speaker: torch.Tensor | int | None = None, temperature: float = 1.0,
           prime: torch.Tensor | None = None, generator: torch.Generator | None = None,
           engine: str = "auto", chunk_size: int = CHUNK, kernel: object = "auto",
           weights: str = "fp32", voiced_temperature: float | None = None,
           plan: object = "auto") -> Iterator[torch.Tensor]:
    """Yield the waveform (B, n_i) in [-1, 1] that ``model`` (frames, generator=) -> (B, T)
    makes of the frames ``local`` (B or 1, channels, N),
    or an iterable of such chunks, all read first; ``generator``: the noise source's random
    numbers. ``temperature``, ``engine``, ``kernel``, ``plan`` and ``voiced_temperature`` do
    not apply (nothing is sampled); ``weights`` other than fp32 and ``prime`` are errors."""
    if weights != "fp32":
        raise ValueError(f"weights={weights!r} applies to autoregressive models; this "
                         "vocoder synthesises in one pass")
    if local is None:
        raise ValueError("this vocoder needs local conditioning (mel and f0 frames)")
    if prime is not None:
        raise ValueError("prime applies to autoregressive models; this vocoder reads frames only")
    check_stream_sizes(n_samples, batch_size, chunk_size)
    device = next(model.parameters()).device
    frames = torch.cat([f.to(device) for f in frame_chunks(local, batch_size)], dim=-1)
    wave = model(frames, generator=generator).clamp(-1.0, 1.0)  # (B, frames * hop)
    if n_samples is not None:
        if n_samples > wave.shape[-1]:
            raise ValueError(f"local conditioning ran out: {wave.shape[-1]} samples of "
                             f"conditioning for n_samples={n_samples}")
        wave = wave[:, :n_samples]
    for lo in range(0, wave.shape[-1], chunk_size):
        yield wave[:, lo:lo + chunk_size]

