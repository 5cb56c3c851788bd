"""The training objectives: teacher-forced negative log-likelihood of a batch of crops for a
WaveNet, the multi-resolution STFT loss of the whole crops for a harmonic-plus-noise vocoder,
and :class:`Objective`, which picks one for a model config and says how to report it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..heads import LN2
from ..kinds import is_autoregressive
from ..lpc import pre_emphasis
from ..model import WaveNet
from .spectral import multi_resolution_stft_loss


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack crops from :meth:`PreparedData.crop` into a batch."""
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def batch_nll(model: WaveNet | torch.nn.Module, batch: dict[str, torch.Tensor], crop: int,
              config=None, input_noise: float = 0.0) -> torch.Tensor:
    """Mean NLL in nats per sample over the last ``crop`` targets of each crop.

    The model reads samples 0..L-2 of each crop and predicts samples 1..L-1; only the last
    ``crop`` predictions have a full receptive field of real history behind them. A model with
    ``pre_emphasis`` reads and predicts the pre-emphasised signal.
    ``input_noise`` adds Gaussian noise of that standard deviation to the (scalar) samples the
    model reads, not to its targets. ``model`` may be wrapped (DDP); then pass the WaveNet's
    ``config``.
    """
    net = model.module if hasattr(model, "module") else model
    cfg = config or net.config
    head = net.head
    classes, audio = batch["classes"], batch["audio"]  # (B, L) each
    if cfg.pre_emphasis:
        audio = pre_emphasis(audio, cfg.pre_emphasis).clamp(-1.0, 1.0)
    x = classes[:, :-1] if cfg.input_kind == "classes" else audio[:, :-1]
    if input_noise:
        x = x + input_noise * torch.randn_like(x)
    local = batch["mel"] if cfg.local_channels else None
    speaker = batch["speaker"] if cfg.speakers else None
    logits = model(x, local, speaker)  # (B, out, L - 1)
    target = audio[:, 1:] if head.continuous else classes[:, 1:]
    return head.nll(logits[..., -crop:].float(), target[:, -crop:]).mean()


def to_bits(nats: float) -> float:
    return nats / LN2


def batch_spectral_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """The multi-resolution STFT loss of a frames-to-waveform model's output for each crop's
    frames against the crop's audio (``generator``: the noise source's random numbers)."""
    est = model(batch["mel"], generator=generator)  # (B, L)
    return multi_resolution_stft_loss(est, batch["audio"])


@dataclass
class Objective:
    """What a run minimises and how it is reported: ``name`` and ``unit`` for messages, ``key``
    for metric records (``train_<key>``, ``val_<key>``)."""

    autoregressive: bool
    crop: int
    """Samples of each crop that carry the loss (the autoregressive objective)."""

    @classmethod
    def for_config(cls, config, crop: int) -> "Objective":
        return cls(is_autoregressive(config), crop)

    @property
    def name(self) -> str:
        return "NLL" if self.autoregressive else "STFT loss"

    @property
    def unit(self) -> str:
        return " bits/sample" if self.autoregressive else ""

    @property
    def key(self) -> str:
        return "bits" if self.autoregressive else "stft"

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], config=None,
             input_noise: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """The loss to minimise (nats per sample for a WaveNet)."""
        if self.autoregressive:
            return batch_nll(model, batch, self.crop, config, input_noise)
        return batch_spectral_loss(model, batch, generator)

    def report(self, value: float) -> float:
        """A loss as reported: bits per sample for a WaveNet, the loss itself otherwise."""
        return to_bits(value) if self.autoregressive else float(value)
