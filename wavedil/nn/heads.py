"""Output heads: a distribution over the next sample, its loss and its sampler.

Each head turns the network's output channels into a distribution:

- ``CategoricalHead``: softmax over mu-law classes (WaveNet, van den Oord et al. 2016).
- ``LogisticMixtureHead``: discretised mixture of logistics (PixelCNN++, Salimans et al.
  2017; Parallel WaveNet, van den Oord et al. 2018) on samples in [-1, 1].
- ``GaussianHead``: a single discretised Gaussian (ClariNet, Ping et al. 2019).

Losses are negative log-likelihoods in nats per sample (``nll``); ``bits`` converts. The
continuous heads discretise to ``bins`` levels over [-1, 1] so their likelihoods are those
of 16-bit audio, comparable with each other.

Samplers take their randomness as explicit uniforms ``u`` of shape (B, head.n_uniforms), so
every generation engine turns the same random stream into the same samples.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

LN2 = math.log(2.0)


def bits(nats: torch.Tensor | float) -> torch.Tensor | float:
    """Convert a negative log-likelihood from nats to bits."""
    return nats / LN2


def _inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Index i with cdf[i-1] <= u * total < cdf[i], for probs (B, K) and u (B,)."""
    cdf = probs.cumsum(-1)
    idx = (cdf < (u * cdf[:, -1]).unsqueeze(-1)).sum(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)


def _check_temperature(temperature: float) -> None:
    if not temperature >= 0.0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")


class _Sampler:
    """``sample`` for every head: one temperature for all rows, or one per row."""

    def sample(self, logits: torch.Tensor, u: torch.Tensor,
               temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
        """logits (B, out), u (B, n_uniforms) in [0, 1) and a temperature, or a (B,) tensor
        of them (each row drawn exactly as alone at its own) -> values (B,); 0 takes the
        mode."""
        if not torch.is_tensor(temperature):
            return self.draw(logits, u, temperature)
        temperature = temperature.reshape(-1)
        if temperature.shape[0] != logits.shape[0]:
            raise ValueError(f"{temperature.shape[0]} temperatures for {logits.shape[0]} rows")
        values = torch.unique(temperature)
        if len(values) == 1:
            return self.draw(logits, u, float(values[0]))
        out = None
        for value in values:
            rows = (temperature == value).nonzero()[:, 0].to(logits.device)
            got = self.draw(logits[rows], u[rows], float(value))
            if out is None:
                out = torch.empty(logits.shape[0], dtype=got.dtype, device=got.device)
            out[rows] = got
        return out


class CategoricalHead(_Sampler):
    """Softmax over ``classes`` mu-law levels; targets are class indices (B, T)."""

    kind = "categorical"
    n_uniforms = 1
    continuous = False

    def __init__(self, classes: int = 256) -> None:
        if classes < 2:
            raise ValueError(f"classes must be >= 2, got {classes}")
        self.classes = classes

    @property
    def out_channels(self) -> int:
        return self.classes

    def nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (B, classes, T), target (B, T) long -> (B, T) nats."""
        # over rows (B * T, classes): the softmax reads each row's classes contiguous when
        # the logits are a view of (B, T, classes) memory, as WaveNet's are (else one copy)
        rows = logits.transpose(1, 2).reshape(-1, self.classes)
        return F.cross_entropy(rows, target.reshape(-1), reduction="none").view(target.shape)

    def draw(self, logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """logits (B, classes), u (B, 1) in [0, 1) -> class indices (B,) long."""
        _check_temperature(temperature)
        if temperature == 0.0:
            return logits.argmax(-1)
        probs = torch.softmax(logits.double() / temperature, -1)
        return _inverse_cdf(probs, u[:, 0].double())


class LogisticMixtureHead(_Sampler):
    """Discretised mixture of ``mixtures`` logistics over ``bins`` levels in [-1, 1].

    Channels: ``[mixture logits (K), means (K), log scales (K)]``.
    """

    kind = "logistic_mixture"
    n_uniforms = 2
    continuous = True

    def __init__(self, mixtures: int = 10, bins: int = 65536, log_scale_min: float = -14.0) -> None:
        if mixtures < 1:
            raise ValueError(f"mixtures must be >= 1, got {mixtures}")
        if bins < 2:
            raise ValueError(f"bins must be >= 2, got {bins}")
        self.mixtures, self.bins, self.log_scale_min = mixtures, bins, log_scale_min

    @property
    def out_channels(self) -> int:
        return 3 * self.mixtures

    @property
    def means(self) -> slice:
        """The channels holding the components' means (an offset to the prediction moves them)."""
        return slice(self.mixtures, 2 * self.mixtures)

    @property
    def scales(self) -> slice:
        """The channels holding the components' log scales (each floored alike by the pitch
        prediction, ``excitation.combine_scale``)."""
        return slice(2 * self.mixtures, 3 * self.mixtures)

    def _split(self, logits: torch.Tensor):
        K = self.mixtures
        return logits[:, :K], logits[:, K:2 * K], logits[:, 2 * K:].clamp(min=self.log_scale_min)

    def nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (B, 3K, T), target (B, T) in [-1, 1] -> (B, T) nats."""
        weights, means, log_scales = self._split(logits)  # (B, K, T) each
        x = target.unsqueeze(1)
        half = 1.0 / (self.bins - 1)
        inv_s = torch.exp(-log_scales)
        centred = x - means
        hi, lo = inv_s * (centred + half), inv_s * (centred - half)
        log_cdf_hi = hi - F.softplus(hi)
        log_sf_lo = -F.softplus(lo)
        mass = torch.sigmoid(hi) - torch.sigmoid(lo)
        mid = inv_s * centred
        log_density = mid - log_scales - 2.0 * F.softplus(mid)
        inner = torch.where(mass > 1e-6, torch.log(mass.clamp(min=1e-12)),
                            log_density + math.log(2 * half))
        log_p = torch.where(x < -1 + half, log_cdf_hi, torch.where(x > 1 - half, log_sf_lo, inner))
        log_p = log_p + torch.log_softmax(weights, dim=1)
        return -torch.logsumexp(log_p, dim=1)

    def draw(self, logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """logits (B, 3K), u (B, 2) -> samples (B,) in [-1, 1]."""
        _check_temperature(temperature)
        weights, means, log_scales = self._split(logits)
        if temperature == 0.0:
            k = weights.argmax(-1)
            return means.gather(-1, k[:, None])[:, 0].clamp(-1.0, 1.0)
        k = _inverse_cdf(torch.softmax(weights.double() / temperature, -1), u[:, 0].double())
        mu = means.gather(-1, k[:, None])[:, 0]
        s = log_scales.gather(-1, k[:, None])[:, 0].exp()
        v = u[:, 1].clamp(1e-5, 1.0 - 1e-5)
        return (mu + s * temperature * (torch.log(v) - torch.log1p(-v))).clamp(-1.0, 1.0)


class GaussianHead(_Sampler):
    """A single Gaussian, discretised to ``bins`` levels in [-1, 1]. Channels: [mean, log std]."""

    kind = "gaussian"
    n_uniforms = 1
    continuous = True

    def __init__(self, bins: int = 65536, log_scale_min: float = -9.0) -> None:
        if bins < 2:
            raise ValueError(f"bins must be >= 2, got {bins}")
        self.bins, self.log_scale_min = bins, log_scale_min

    @property
    def out_channels(self) -> int:
        return 2

    @property
    def means(self) -> slice:
        """The channel holding the mean."""
        return slice(0, 1)

    @property
    def scales(self) -> slice:
        """The channel holding the log standard deviation."""
        return slice(1, 2)

    def nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """logits (B, 2, T), target (B, T) in [-1, 1] -> (B, T) nats."""
        mean, log_std = logits[:, 0], logits[:, 1].clamp(min=self.log_scale_min)
        half = 1.0 / (self.bins - 1)
        inv_s = torch.exp(-log_std)
        hi = (target - mean + half) * inv_s
        lo = (target - mean - half) * inv_s
        log_cdf_hi = torch.special.log_ndtr(hi)
        log_sf_lo = torch.special.log_ndtr(-lo)
        mass = torch.special.ndtr(hi) - torch.special.ndtr(lo)
        z = (target - mean) * inv_s
        log_density = -0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_std
        inner = torch.where(mass > 1e-6, torch.log(mass.clamp(min=1e-12)),
                            log_density + math.log(2 * half))
        log_p = torch.where(target < -1 + half, log_cdf_hi,
                            torch.where(target > 1 - half, log_sf_lo, inner))
        return -log_p

    def draw(self, logits: torch.Tensor, u: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        """logits (B, 2), u (B, 1) -> samples (B,) in [-1, 1]."""
        _check_temperature(temperature)
        mean, log_std = logits[:, 0], logits[:, 1].clamp(min=self.log_scale_min)
        if temperature == 0.0:
            return mean.clamp(-1.0, 1.0)
        v = u[:, 0].clamp(1e-6, 1.0 - 1e-6)
        z = math.sqrt(2.0) * torch.special.erfinv(2.0 * v - 1.0)
        return (mean + log_std.exp() * temperature * z).clamp(-1.0, 1.0)


Head = CategoricalHead | LogisticMixtureHead | GaussianHead

HEADS = {h.kind: h for h in (CategoricalHead, LogisticMixtureHead, GaussianHead)}
