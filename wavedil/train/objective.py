"""The training objectives: teacher-forced negative log-likelihood of a batch of crops for a
WaveNet, the multi-resolution STFT loss of the whole crops for a harmonic-plus-noise vocoder,
the error-to-signal ratio (with pre-emphasis) plus an STFT term for an effect model, and
:class:`Objective`, which picks one for a model config and says how to report it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..nn.heads import LN2
from ..families import is_autoregressive, validation_key
from ..dsp.lpc import pre_emphasis
from ..wavenet.model import WaveNet
from .chunked_stack import ChunkedStack
from .spectral import FFT_SIZES, multi_resolution_stft_loss


def collate(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack crops from :meth:`PreparedData.crop` into a batch."""
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def batch_nll(model: WaveNet | torch.nn.Module, batch: dict[str, torch.Tensor], crop: int,
              config=None, input_noise: float = 0.0,
              stack: ChunkedStack | None = ChunkedStack()) -> torch.Tensor:
    """Mean NLL in nats per sample over the last ``crop`` targets of each crop.

    The model reads samples 0..L-2 of each crop and predicts samples 1..L-1; only the last
    ``crop`` predictions have a full receptive field of real history behind them. A model with
    ``pre_emphasis`` reads and predicts the pre-emphasised signal.
    ``input_noise`` adds Gaussian noise of that standard deviation to the (scalar) samples the
    model reads, not to its targets. ``model`` may be wrapped (DDP); then pass the WaveNet's
    ``config``. ``stack``: the residual stack's training pass where it applies
    (:class:`ChunkedStack`, the CPU pass in pieces of time; None: the blocks' own forward).
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
    logits = model(x, local, speaker, last=crop, stack=stack)  # (B, out, crop)
    target = audio[:, 1:] if head.continuous else classes[:, 1:]
    return head.nll(logits.float(), target[:, -crop:]).mean()


def to_bits(nats: float) -> float:
    return nats / LN2


def batch_spectral_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                        generator: torch.Generator | None = None,
                        sizes: tuple[int, ...] = FFT_SIZES) -> torch.Tensor:
    """The multi-resolution STFT loss (FFT ``sizes``) of a frames-to-waveform model's output
    for each crop's frames against the crop's audio (``generator``: the noise source's random
    numbers)."""
    est = model(batch["mel"], generator=generator)  # (B, L)
    return multi_resolution_stft_loss(est, batch["audio"], sizes)


def esr(est: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Error-to-signal ratio of a batch of (B, T) signals: sum (target - est)^2 over sum
    target^2, both over the whole batch (0 is exact, 1 is as bad as silence), so a quiet crop
    cannot blow the ratio up."""
    return (target - est).pow(2).sum() / (target.pow(2).sum() + eps)


def batch_effect_output(model: torch.nn.Module, batch: dict[str, torch.Tensor]
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """An effect model's output for the last ``crop`` samples of each crop (those with their
    whole receptive field in the crop) and the matching targets: two (B, crop) tensors."""
    net = model.module if hasattr(model, "module") else model
    controls = batch["controls"] if net.config.controls else None
    est = model(batch["input"], controls, valid=True)  # (B, crop)
    return est, batch["target"][:, -est.shape[-1]:]


def batch_effect_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                      pre_emphasis_coeff: float, stft_weight: float,
                      sizes: tuple[int, ...] = FFT_SIZES) -> torch.Tensor:
    """ESR of the pre-emphasised output (Wright and Valimaki 2019: the first-order high-pass
    1 - c z^-1 weights the error towards the frequencies one hears) plus ``stft_weight``
    times the multi-resolution STFT loss (FFT ``sizes``)."""
    est, target = batch_effect_output(model, batch)
    loss = esr(pre_emphasis(est, pre_emphasis_coeff), pre_emphasis(target, pre_emphasis_coeff))
    sizes = tuple(n for n in sizes if n <= est.shape[-1])  # a short crop drops the longest
    if stft_weight and sizes:
        loss = loss + stft_weight * multi_resolution_stft_loss(est, target, sizes)
    return loss


@dataclass
class Objective:
    """What a run minimises and how it is reported: ``name`` and ``unit`` for messages, ``key``
    for metric records (``train_<key>``, ``val_<key>``)."""

    autoregressive: bool
    crop: int
    """Samples of each crop that carry the loss (the autoregressive objective)."""
    key: str
    """Metric records' name of the figure (kinds.validation_key): bits, esr or stft."""
    pre_emphasis: float = 0.0
    """The effect loss' pre-emphasis coefficient (train.esr_pre_emphasis)."""
    stft_weight: float = 0.0
    """The effect loss' weight of the multi-resolution STFT term (train.stft_weight)."""
    stft_sizes: tuple[int, ...] = FFT_SIZES
    """FFT sizes of the multi-resolution STFT loss (train.stft_sizes)."""
    stack: ChunkedStack | None = ChunkedStack()
    """A WaveNet's residual-stack pass for training on the CPU (None: the blocks' own
    forward and backward); the same gradients to float rounding, faster."""

    @classmethod
    def for_config(cls, config, crop: int, train) -> "Objective":
        """The objective of a model config under a recipe's train section."""
        return cls(is_autoregressive(config), crop, validation_key(config),
                   train.esr_pre_emphasis, train.stft_weight, tuple(train.stft_sizes))

    @property
    def effect(self) -> bool:
        """An input-to-output effect model: trained on ESR + STFT, validated on plain ESR."""
        return self.key == "esr"

    @property
    def name(self) -> str:
        return "NLL" if self.autoregressive else "ESR" if self.effect else "STFT loss"

    @property
    def unit(self) -> str:
        return " bits/sample" if self.autoregressive else ""

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], config=None,
             input_noise: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """The loss to minimise (nats per sample for a WaveNet)."""
        if self.autoregressive:
            return batch_nll(model, batch, self.crop, config, input_noise, self.stack)
        if self.effect:
            return batch_effect_loss(model, batch, self.pre_emphasis, self.stft_weight,
                                     self.stft_sizes)
        return batch_spectral_loss(model, batch, generator, self.stft_sizes)

    def validation_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """What validation reports: the training loss, but plain ESR for an effect (the figure
        NAM users compare)."""
        if self.effect:
            return esr(*batch_effect_output(model, batch))
        return self.loss(model, batch, generator=generator)

    def report(self, value: float) -> float:
        """A loss as reported: bits per sample for a WaveNet, the loss itself otherwise."""
        return to_bits(value) if self.autoregressive else float(value)
