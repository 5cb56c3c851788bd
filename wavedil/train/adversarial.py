"""Adversarial training of a vocoder trained on whole crops: the recipe's ``adversarial:``
section, and the :class:`Adversary` that the training loop steps beside the generator.

    per step, on the crops' audio x and the generator's output y:
        discriminators D_i (wavedil.train.discriminators), least-squares GAN (Mao et al. 2017):
            L_D = sum_i mean (D_i(x) - 1)^2 + mean D_i(y)^2            -> D's own AdamW step
        the generator's loss, with the D just updated (HiFi-GAN's order):
            spectral loss (the objective's) + weight (sum_i mean (D_i(y) - 1)^2
                                                    + feature_weight * feature matching)
        feature matching: the mean over discriminators and their layers of
            mean |F_il(x) - F_il(y)|, x's maps held fixed

The spectral loss ignores phase, which is why a vocoder trained on it alone sounds phasey;
the discriminators judge whole waveforms, phase included, and feature matching gives the
generator a dense target inside them (Kong et al. 2020, HiFi-GAN; Yamamoto et al. 2020,
Parallel WaveGAN). Validation still reports the spectral loss.

A discriminator that diverges stops the run: a non-finite L_D at once, or the generator's
adversarial loss per discriminator at its ceiling (>= CEILING: every output told from real)
over ``patience`` validations in a row. The loop writes a checkpoint first, then raises
:class:`Diverged` with one line naming the loss and the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..config import Config
from .discriminators import Discriminators, Scored

CEILING = 0.95
"""The generator's least-squares loss per discriminator at which its outputs are all told apart
(1: D scores every output 0): held there, the generator learns nothing from them."""


@dataclass
class AdversarialConfig(Config):
    """The ``adversarial:`` section: discriminators and their weight (vocoders only)."""

    weight: float = 0.0
    """Weight of the adversarial and feature-matching terms in the generator's loss, beside
    the spectral loss (weight 1); 0: no adversarial training."""
    feature_weight: float = 2.0
    """Weight of feature matching relative to the adversarial term (HiFi-GAN's 2)."""
    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    """Periods of the multi-period discriminators (HiFi-GAN's)."""
    fft_sizes: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    """FFT sizes of the spectrogram discriminators (hop a quarter of each)."""
    channels: int = 16
    """Base width of every discriminator (the period discriminators reach 4x)."""
    lr: float = 2e-4
    """Peak learning rate of the discriminators' AdamW (betas 0.8, 0.99), on the generator's
    warm-up and decay schedule."""
    start_step: int = 0
    """Steps of spectral training before the discriminators join in."""
    patience: int = 3
    """Validations in a row with the generator's adversarial loss at its ceiling before the
    run stops."""

    def __post_init__(self) -> None:
        need = self.need
        for name in ("weight", "feature_weight", "start_step"):
            need(getattr(self, name) >= 0, name, ">= 0")
        need(self.lr > 0, "lr", "> 0")
        need(self.channels >= 1, "channels", ">= 1")
        need(self.patience >= 1, "patience", ">= 1")
        self.periods = [int(p) for p in self.periods]
        self.fft_sizes = [int(n) for n in self.fft_sizes]
        need(all(p >= 2 for p in self.periods), "periods", "a list of integers >= 2")
        need(all(n >= 16 and n & (n - 1) == 0 for n in self.fft_sizes), "fft_sizes",
             "a list of powers of two >= 16")
        need(not self.weight or bool(self.periods or self.fft_sizes), "periods",
             "non-empty (or fft_sizes) when weight > 0")

    @property
    def enabled(self) -> bool:
        return self.weight > 0


class Diverged(RuntimeError):
    """The discriminators diverged; the message is one line naming the loss and the step."""


def discriminator_loss(real: list[Scored], fake: list[Scored]) -> torch.Tensor:
    """Least-squares: real scored 1, generated 0, summed over discriminators."""
    return sum(((r - 1) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in zip(real, fake))


def generator_losses(fake: list[Scored]) -> torch.Tensor:
    """Each discriminator's least-squares loss of the generated waveform scored as real: (D,)."""
    return torch.stack([((f - 1) ** 2).mean() for f, _ in fake])


def feature_matching(real: list[Scored], fake: list[Scored]) -> torch.Tensor:
    """Mean absolute difference of every feature map, averaged over maps and discriminators."""
    terms = [(a.detach() - b).abs().mean()
             for (_, fr), (_, ff) in zip(real, fake) for a, b in zip(fr, ff)]
    return torch.stack(terms).mean()


class Adversary:
    """The discriminators, their optimiser and schedule, and the divergence checks of one run."""

    def __init__(self, config: AdversarialConfig, lr_factor: Callable[[int], float],
                 device: torch.device, wrap: Callable[[torch.nn.Module], torch.nn.Module]
                 ) -> None:
        self.config = c = config
        self.discriminators = Discriminators(c.periods, c.fft_sizes, c.channels).to(device)
        self.net = wrap(self.discriminators)
        self.opt = torch.optim.AdamW(self.discriminators.parameters(), lr=c.lr, betas=(0.8, 0.99))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_factor)
        self.window: list[torch.Tensor] = []  # the generator's losses (D,) since the last check
        self.at_ceiling = 0  # checks in a row at the ceiling
        self.last: dict[str, float] = {}

    def active(self, step: int) -> bool:
        return step >= self.config.start_step

    def generator_term(self, fake: torch.Tensor, real: torch.Tensor, step: int) -> torch.Tensor:
        """One discriminator step on ``fake`` (B, T) against ``real`` (B, T), then the
        generator's weighted adversarial and feature-matching loss (differentiable in fake).
        Raises :class:`Diverged` on a non-finite discriminator loss, before any update."""
        c = self.config
        self.discriminators.requires_grad_(True)
        d_loss = discriminator_loss(self.net(real), self.net(fake.detach()))
        value = float(d_loss.detach())
        if not math.isfinite(value):
            raise Diverged(f"adversarial: the discriminator loss is {value} at step {step}; "
                           "lower adversarial.lr or adversarial.weight")
        self.opt.zero_grad(set_to_none=True)
        d_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.discriminators.parameters(), 10.0)
        self.opt.step()
        self.sched.step()
        self.discriminators.requires_grad_(False)  # the generator's pass trains only itself
        with torch.no_grad():
            real_scored = self.net(real)
        fake_scored = self.net(fake)
        adv = generator_losses(fake_scored)
        fm = feature_matching(real_scored, fake_scored)
        self.window.append(adv.detach())
        self.last = {"d_loss": value, "g_adv": float(adv.sum()), "fm": float(fm)}
        return c.weight * (adv.sum() + c.feature_weight * fm)

    def check(self, step: int) -> None:
        """At a validation: count it if the generator's loss against some discriminator,
        averaged over the steps since the last check, is at the ceiling; raise
        :class:`Diverged` after ``patience`` such checks in a row."""
        if not self.window:
            return
        mean = torch.stack(self.window).mean(dim=0)  # (D,)
        self.window = []
        worst = float(mean.max())
        self.at_ceiling = self.at_ceiling + 1 if worst >= CEILING else 0
        if self.at_ceiling >= self.config.patience:
            raise Diverged(f"adversarial: the generator's adversarial loss stuck at its ceiling "
                           f"({worst:.3f} >= {CEILING}) for {self.at_ceiling} validations, "
                           f"at step {step}; lower adversarial.lr or raise adversarial.weight")

    def state_dict(self) -> dict:
        return {"discriminators": self.discriminators.state_dict(),
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "at_ceiling": self.at_ceiling,
                "window": torch.stack(self.window) if self.window else None}

    def load_state_dict(self, state: dict) -> None:
        self.discriminators.load_state_dict(state["discriminators"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.at_ceiling = int(state.get("at_ceiling", 0))
        window = state.get("window")
        self.window = list(window) if window is not None else []
