"""Mel-consistent refinement: move a vocoder's output to the nearest signal whose log-mel
frames are the ones it was made from, keeping its fine structure.

    x_0 = the vocoder's waveform; target mel bands M (from the features)
    repeat:  X = STFT(x)                      (the features' own window and framing)
             g = M / (mel filterbank @ |X|)   per frame and band (a band at the floor only falls)
             X <- X * (filterbank^T g) / (filterbank^T 1)     per bin, phase kept
             y = overlap-add inverse of X;   x = y + momentum (y - y_previous)
    -> the last y

Each pass is Griffin-Lim's projection (Griffin and Lim 1984; the momentum is the fast variant
of Perraudin et al. 2013) with the mel bands, not full STFT magnitudes, as the constraint: what
the mel does not fix (the harmonics inside a band, their phases) comes from the vocoder, what
it fixes (each band's energy in each frame) is imposed, and overlapping frames make the phases
agree with that. A harmonic vocoder knows its harmonics' frequencies but not where the
original's glottal pulses fall; the frames' overlap carries some of that, which the passes
recover. Griffin-Lim from the same features starts from random phases and smooth magnitudes
(``wavedil.dsp.metrics.griffin_lim``); this starts from the vocoder's signal.

Measured on the speech corpus' dev split (``benchmarks/speech_corpus.py``), the shipped speech
vocoder: wideband PESQ 2.19 unrefined, 3.16 after 32 passes with momentum 0.9 (``wavedil
evaluate pretrained:speech data/speech/dev --refine 0`` and ``--refine 32``; 3.04 without the
momentum, a one-off check). The README's Speech section has the held-out test split's table,
with Griffin-Lim refined by the same passes beside it: the passes do most of the gain alone.
"""

from __future__ import annotations

import torch

from .audio import LogMel

REFINE_MOMENTUM = 0.9
"""The default momentum: chosen on the speech corpus' dev split (PESQ-wb 3.04 without momentum
and 3.16 with 0.9, at 32 passes; one-off checks), never on its test split."""


def mel_refine(wave: torch.Tensor, features: torch.Tensor, mel: LogMel, iterations: int,
               momentum: float = REFINE_MOMENTUM) -> torch.Tensor:
    """``wave`` (B, T) moved towards the mel bands ``features`` (B, n_mels, N) in ``mel``'s
    scaling (the first N frames of the mel analysis of wave are constrained, any others and
    samples past N * hop follow the overlap); -> (B, T). ``iterations`` 0, or a wave too short
    for the mel analysis (or for a single frame), returns wave."""
    if wave.dim() != 2 or features.dim() != 3 or features.shape[0] != wave.shape[0]:
        raise ValueError(f"mel_refine: expected wave (B, T) and features (B, n_mels, N), got "
                         f"{tuple(wave.shape)} and {tuple(features.shape)}")
    if features.shape[1] != mel.n_mels:
        raise ValueError(f"mel_refine: features have {features.shape[1]} bands, the mel "
                         f"analysis {mel.n_mels}")
    if iterations < 0 or not 0 <= momentum < 1:
        raise ValueError(f"mel_refine: iterations must be >= 0 and momentum in [0, 1), got "
                         f"{iterations} and {momentum}")
    T = wave.shape[-1]
    N = min(features.shape[-1], T // mel.hop)
    if iterations == 0 or N == 0 or T <= max(mel.pads):
        return wave
    x = wave.float()
    target = torch.exp(mel.log_magnitudes(features[..., :N].float()))  # (B, n_mels, N)
    at_floor = features[..., :N] <= mel.floor_feature + 1e-4  # silent bands: never raised
    fb = mel.fb.to(x.device, torch.float32)  # (n_mels, bins)
    weight = fb.sum(dim=0)  # (bins,)
    covered = (weight > 1e-9)[:, None]  # bins outside every filter keep their value
    weight = weight.clamp(min=1e-9)[:, None]
    previous = None
    for _ in range(iterations):
        spec = mel.spectrum(x)  # (B, bins, F), F > N
        frames = spec[..., :N]
        level = torch.matmul(fb, frames.abs()).clamp(min=mel.floor * 1e-3)  # (B, n_mels, N)
        gain = target / level
        gain = torch.where(at_floor, gain.clamp(max=1.0), gain)
        per_bin = torch.matmul(fb.T, gain) / weight  # (B, bins, N)
        per_bin = torch.where(covered, per_bin, torch.ones_like(per_bin))
        spec = torch.cat([frames * per_bin, spec[..., N:]], dim=-1)
        y = mel.overlap_add(spec, T)  # (B, T)
        x = y if previous is None else y + momentum * (y - previous)
        previous = y
    return previous.to(wave.dtype)
