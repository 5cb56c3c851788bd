"""The training objective: teacher-forced negative log-likelihood of a batch of crops."""

from __future__ import annotations

import torch

from ..heads import LN2
from ..lpc import pre_emphasis
from ..model import WaveNet


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack crops from :meth:`PreparedData.crop` into a batch."""
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def batch_nll(model: WaveNet | torch.nn.Module, batch: dict[str, torch.Tensor], crop: int,
              config=None) -> torch.Tensor:
    """Mean NLL in nats per sample over the last ``crop`` targets of each crop.

    The model reads samples 0..L-2 of each crop and predicts samples 1..L-1; only the last
    ``crop`` predictions have a full receptive field of real history behind them. A model with
    ``pre_emphasis`` reads and predicts the pre-emphasised signal.
    ``model`` may be wrapped (DDP); then pass the WaveNet's ``config``.
    """
    net = model.module if hasattr(model, "module") else model
    cfg = config or net.config
    head = net.head
    classes, audio = batch["classes"], batch["audio"]  # (B, L) each
    if cfg.pre_emphasis:
        audio = pre_emphasis(audio, cfg.pre_emphasis).clamp(-1.0, 1.0)
    x = classes[:, :-1] if cfg.input_kind == "classes" else audio[:, :-1]
    local = batch["mel"] if cfg.local_channels else None
    speaker = batch["speaker"] if cfg.speakers else None
    logits = model(x, local, speaker)  # (B, out, L - 1)
    target = audio[:, 1:] if head.continuous else classes[:, 1:]
    return head.nll(logits[..., -crop:].float(), target[:, -crop:]).mean()


def to_bits(nats: float) -> float:
    return nats / LN2
