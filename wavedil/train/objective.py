"""The training objectives: teacher-forced negative log-likelihood of a batch of crops for a
WaveNet, the multi-resolution STFT loss of the whole crops for a harmonic-plus-noise vocoder,
the error-to-signal ratio (with pre-emphasis) plus an STFT term for an effect model (at
several widths for a slimmable one), and :class:`Objective`, which picks one for a model
config and says how to report it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..nn.heads import LN2
from ..families import family_of
from ..dsp.lpc import pre_emphasis
from ..effect.slimmable import narrow, sandwich, shell
from ..wavenet.model import WaveNet
from .chunked_stack import ChunkedStack
from .effect_stack import ChunkedArrays
from .phase import phase_loss
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


def spectral_loss(model: torch.nn.Module, est: torch.Tensor, ref: torch.Tensor,
                  sizes: tuple[int, ...] = FFT_SIZES, mel_weight: float = 0.0,
                  phase_weight: float = 0.0) -> torch.Tensor:
    """The multi-resolution STFT loss (FFT ``sizes``) of a frames-to-waveform model's output
    ``est`` (B, L) against the crop's audio ``ref`` (B, L), plus ``mel_weight`` times the mean
    absolute difference of their natural-log mel magnitudes in the model's own analysis
    (``model.mel``: its window, bands and floor), plus ``phase_weight`` times the phase terms
    in that analysis (:func:`wavedil.train.phase.phase_loss`)."""
    loss = multi_resolution_stft_loss(est, ref, sizes)
    if phase_weight:
        loss = loss + phase_weight * phase_loss(getattr(model, "module", model).mel, est, ref)
    if mel_weight:
        mel = getattr(model, "module", model).mel  # one analysis for both: same edges, floor
        diff = mel.log_magnitudes(mel(est)) - mel.log_magnitudes(mel(ref))
        loss = loss + mel_weight * diff.abs().mean()
    return loss


def esr(est: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Error-to-signal ratio of a batch of (B, T) signals: sum (target - est)^2 over sum
    target^2, both over the whole batch (0 is exact, 1 is as bad as silence), so a quiet crop
    cannot blow the ratio up."""
    return (target - est).pow(2).sum() / (target.pow(2).sum() + eps)


def batch_effect_output(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                        widths: list[int] | None = None, stack: ChunkedArrays | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """An effect model's output for the last ``crop`` samples of each crop (those with their
    whole receptive field in the crop) and the matching targets: two (B, crop) tensors.
    ``widths``: a slimmable model's output at those widths, its weights' leading blocks
    (:func:`wavedil.effect.slimmable.narrow`); None: the full model. ``stack``: the layer
    arrays' training pass where it applies (:class:`ChunkedArrays`, the CPU pass in pieces of
    time; None: the model's own forward), at every width."""
    net = model.module if hasattr(model, "module") else model
    controls = batch["controls"] if net.config.controls else None
    if widths is None or widths == [a["channels"] for a in net.config.arrays]:
        est = model(batch["input"], controls, valid=True, stack=stack)  # (B, crop)
    else:
        est = narrow(net, shell(net.config, widths), batch["input"], controls, valid=True,
                     stack=stack)
    return est, batch["target"][:, -est.shape[-1]:]


def batch_effect_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor],
                      pre_emphasis_coeff: float, stft_weight: float,
                      sizes: tuple[int, ...] = FFT_SIZES, widths: list[int] | None = None,
                      stack: ChunkedArrays | None = None) -> torch.Tensor:
    """ESR of the pre-emphasised output (Wright and Valimaki 2019: the first-order high-pass
    1 - c z^-1 weights the error towards the frequencies one hears) plus ``stft_weight``
    times the multi-resolution STFT loss (FFT ``sizes``); ``widths``: of a slimmable model's
    output at those widths (:func:`batch_effect_output`)."""
    est, target = batch_effect_output(model, batch, widths, stack)
    loss = esr(pre_emphasis(est, pre_emphasis_coeff), pre_emphasis(target, pre_emphasis_coeff))
    sizes = tuple(n for n in sizes if n <= est.shape[-1])  # a short crop drops the longest
    if stft_weight and sizes:
        loss = loss + stft_weight * multi_resolution_stft_loss(est, target, sizes)
    return loss


@dataclass
class Objective:
    """What a run minimises and how it is reported: ``name`` and ``unit`` for messages, ``key``
    for metric records (``train_<key>``, ``val_<key>``). One subclass per kind of objective;
    a model family's record names its own (``wavedil.families.Family.objective``), and
    :meth:`for_config` builds that one."""

    crop: int
    """Samples of each crop that carry the loss (the autoregressive objective)."""
    key: str = ""
    """Metric records' name of the figure (the family's validation unit): bits, esr or stft."""
    stft_sizes: tuple[int, ...] = FFT_SIZES
    """FFT sizes of the multi-resolution STFT loss (train.stft_sizes)."""
    name: ClassVar[str] = ""
    unit: ClassVar[str] = ""

    @classmethod
    def for_config(cls, config, crop: int, train) -> "Objective":
        """The objective of a model config's family under a recipe's train section."""
        family = family_of(config)
        return family.hook("objective").for_recipe(crop, train, family.validation_unit)

    @classmethod
    def for_recipe(cls, crop: int, train, key: str) -> "Objective":
        """This objective under a recipe's train section."""
        return cls(crop, key, tuple(train.stft_sizes))

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], config=None,
             input_noise: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """The loss to minimise."""
        raise NotImplementedError

    def validation_loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """What validation reports: the training loss, unless the objective says otherwise."""
        return self.loss(model, batch, generator=generator)

    def report(self, value: float) -> float:
        """A loss as reported (the loss itself, unless the objective says otherwise)."""
        return float(value)


@dataclass
class NLLObjective(Objective):
    """A WaveNet's: teacher-forced negative log-likelihood, reported in bits per sample."""

    stack: ChunkedStack | None = ChunkedStack()
    """The residual stack's pass for training on the CPU (None: the blocks' own forward and
    backward); the same gradients to float rounding, faster."""
    name: ClassVar[str] = "NLL"
    unit: ClassVar[str] = " bits/sample"

    def loss(self, model, batch, config=None, input_noise=0.0, generator=None):
        """Nats per sample (see :func:`batch_nll`)."""
        return batch_nll(model, batch, self.crop, config, input_noise, self.stack)

    def report(self, value: float) -> float:
        return to_bits(value)


@dataclass
class SpectralObjective(Objective):
    """A frames-to-waveform vocoder's: the multi-resolution STFT loss of whole crops."""

    mel_weight: float = 0.0
    """The weight of the log-mel term (train.mel_weight)."""
    phase_weight: float = 0.0
    """The weight of the phase terms (train.phase_weight)."""
    name: ClassVar[str] = "STFT loss"

    @classmethod
    def for_recipe(cls, crop: int, train, key: str) -> "SpectralObjective":
        return cls(crop, key, tuple(train.stft_sizes), train.mel_weight, train.phase_weight)

    def loss(self, model, batch, config=None, input_noise=0.0, generator=None):
        return self.loss_and_output(model, batch, generator)[0]

    def loss_and_output(self, model, batch, generator=None) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of the model's output for the crops' frames (``generator``: the noise
        source's random numbers) and that output (B, L), for a term that judges it too
        (adversarial training)."""
        est = model(batch["mel"], generator=generator)  # (B, L)
        return spectral_loss(model, est, batch["audio"], self.stft_sizes, self.mel_weight,
                             self.phase_weight), est


@dataclass
class EffectObjective(Objective):
    """An effect's: ESR of the pre-emphasised output plus an STFT term; validated on plain ESR
    of the full model (the figure NAM users compare). A slimmable model's loss is the mean of
    that loss at each of the step's widths by the sandwich rule (the full widths, the
    narrowest and one random width between: :func:`wavedil.effect.slimmable.sandwich`), all
    one set of weights."""

    pre_emphasis: float = 0.0
    """The pre-emphasis coefficient (train.esr_pre_emphasis)."""
    stft_weight: float = 0.0
    """The weight of the multi-resolution STFT term (train.stft_weight)."""
    stack: ChunkedArrays | None = ChunkedArrays()
    """The layer arrays' pass for training on the CPU (None: the model's own forward and
    backward); the same gradients to float rounding, faster."""
    name: ClassVar[str] = "ESR"

    @classmethod
    def for_recipe(cls, crop: int, train, key: str) -> "EffectObjective":
        return cls(crop, key, tuple(train.stft_sizes), train.esr_pre_emphasis, train.stft_weight)

    def loss(self, model, batch, config=None, input_noise=0.0, generator=None):
        net = model.module if hasattr(model, "module") else model
        if net.config.slimmable is None:
            return batch_effect_loss(model, batch, self.pre_emphasis, self.stft_weight,
                                     self.stft_sizes, stack=self.stack)
        losses = [batch_effect_loss(model, batch, self.pre_emphasis, self.stft_weight,
                                    self.stft_sizes, widths, self.stack)
                  for widths in sandwich(net.config, generator)]
        return torch.stack(losses).mean()

    def validation_loss(self, model, batch, generator=None):
        return esr(*batch_effect_output(model, batch))
