"""WaveNet (van den Oord et al. 2016): the config that rebuilds it, and the model.

    x (B, T) --embed--> (B, C, T) --block 1--> ... --block L--> (residual stream)
                                     |skip          |skip
                                     +------ sum ---+--> ReLU, 1x1, ReLU, 1x1 --> (B, out, T)

The output at time t is the distribution of sample t + 1 and reads inputs at times <= t.
The model computes outputs only: losses live in ``heads`` and ``train``, the generation loop
in ``generate``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..nn.blocks import GatedResidualBlock
from ..nn.conditioning import LocalConditioner
from ..dsp.audio import LogMel
from ..config import Config
from .excitation import (SampleContext, SampleFeatures, combine_scale, history_length,
                         tap_prediction)
from ..nn.heads import HEADS, CategoricalHead, GaussianHead, Head, LogisticMixtureHead
from ..nn.layers import ConvState
from .plan import (Plan, WaveNetState, empty_state, feed, local_biases, make_plan,
                   static_biases, step as plan_step)
from ..dsp.mel import MelSettings
from ..nn.receptive import layered_dilations, receptive_field


def factor_hop(hop: int) -> list[int]:
    """Split a hop length into upsampling scales of at most 16: 256 -> [16, 16], 200 -> [10, 10, 2]."""
    if hop < 1:
        raise ValueError(f"hop_length must be >= 1, got {hop}")
    scales, rest = [], hop
    for f in range(16, 1, -1):
        while rest % f == 0 and rest > 1:
            scales.append(f)
            rest //= f
    if rest > 1:
        scales.append(rest)
    return scales or [1]


@dataclass
class WaveNetConfig(Config, MelSettings):
    """Everything needed to rebuild a WaveNet; stored in every checkpoint."""

    kind: str = "wavenet"
    """The model family (``wavedil.families``): wavenet, the autoregressive sample-by-sample model."""
    layers: int = 20
    """Number of gated residual blocks."""
    cycle_length: int = 10
    """Dilations are 2 ** (i % cycle_length): 10 gives cycles of 1, 2, ..., 512."""
    dilations: list[int] | None = None
    """Explicit dilations, one per layer; overrides layers and cycle_length."""
    kernel_size: int = 2
    """Taps of each dilated convolution."""
    residual_channels: int = 64
    """Channels of the residual stream."""
    gate_channels: int = 128
    """Output channels of each dilated conv, halved by the tanh/sigmoid gate."""
    skip_channels: int = 128
    """Channels of the skip connections and the output network."""
    head: str = "categorical"
    """Output distribution: categorical (mu-law), logistic_mixture or gaussian."""
    classes: int = 256
    """Mu-law classes of the categorical head (and of class input)."""
    mixtures: int = 10
    """Components of the logistic mixture head."""
    bins: int = 65536
    """Discretisation levels of the continuous heads (65536: 16-bit audio)."""
    log_scale_min: float = -14.0
    """Lower bound of the log scale of the continuous heads."""
    input: str = "auto"
    """Model input: classes (mu-law embedding), scalar (samples in [-1, 1]), or auto
    (classes for the categorical head, scalar otherwise)."""
    local_channels: int = 0
    """Channels of the frame features for local conditioning (e.g. 80 mels); 0: none."""
    cond_channels: int = 80
    """Channels of the upsampled local conditioning."""
    cond_kernel: int = 3
    """Kernel of the causal conv over frames before upsampling."""
    hop_length: int = 256
    """Samples per conditioning frame; the upsampling scales multiply to it."""
    upsample_scales: list[int] | None = None
    """Upsampling factors (product = hop_length); None factors hop_length automatically."""
    speakers: int = 0
    """Number of speakers (or other global classes) for global conditioning; 0: none."""
    speaker_channels: int = 16
    """Size of the speaker embedding."""
    dropout: float = 0.0
    """Dropout on each block's input during training."""
    weight_norm: bool = False
    """Weight normalisation on the convolutions."""
    f0_input: bool = False
    """The last two local channels are log2(f0 / 150 Hz) and voicing, as ``data.f0: true``
    appends them; pitch taps read their periods there."""
    pitch_lags: list[int] | None = None
    """Pitch taps (QPNet-like): the model's own past samples at period + lag, one input per
    lag, where the frame is voiced; needs f0_input. None or []: none."""
    lpc_order: int = 0
    """Linear-prediction excitation (LPCNet): the next sample's prediction from the last
    ``lpc_order`` samples, with a predictor derived from each frame's mel bands, is fed to every
    layer and added to the head's mean(s), so the network models the residual. 0: none."""
    pitch_prediction: int = 0
    """Pitch prediction (a backward-adaptive long-term predictor): the next sample predicted
    from the pitch taps with weights fit by least squares to the last ``pitch_prediction``
    samples (each from its own taps one period back), fed to every layer and added to the
    head's mean(s), so the network models what one period before does not predict; the RMS its
    fit leaves is a floor of the head's scale(s). Needs pitch_lags; 128 is 8 ms at 16 kHz; 0:
    none (see ``wavedil.wavenet.excitation``)."""
    pitch_gains: bool = False
    """Pitch gains (a forward-adaptive long-term predictor): the head also outputs one weight
    per pitch tap, and the sum of weights times taps is added to its mean(s). The network
    learns the loop filter of a note (its decay and colour per period) from the conditioning,
    where the pitch prediction fits it to the samples already generated, which in generation
    are the model's own; the weights start as a copy of the period before. Needs pitch_lags;
    not with pitch_prediction."""
    pre_emphasis: float = 0.0
    """The model works on y_t = x_t - pre_emphasis x_{t-1}; generation de-emphasises. 0.85 in
    LPCNet; 0: none."""
    sample_rate: int = 16000
    """Samples per second (recipes set it from data.sample_rate): pitch taps turn f0 into
    periods and the LP analysis reads the mel bands with it."""
    n_fft: int | None = None
    """FFT size of the mel bands the LP analysis reads (recipes set it from data, with the mel
    settings of wavedil.dsp.mel.MelSettings); None: 4 * hop_length."""

    def __post_init__(self) -> None:
        need = self.need
        need(self.kind == "wavenet", "kind", "wavenet for WaveNetConfig")
        if self.dilations is not None:
            self.dilations = [int(d) for d in self.dilations]
            need(len(self.dilations) > 0 and all(d >= 1 for d in self.dilations), "dilations",
                 "a non-empty list of integers >= 1")
            self.layers = len(self.dilations)
        for name in ("layers", "cycle_length", "kernel_size", "residual_channels", "skip_channels",
                     "classes", "mixtures", "bins", "cond_channels", "cond_kernel",
                     "speaker_channels", "hop_length"):
            need(getattr(self, name) >= 1, name, ">= 1")
        need(self.gate_channels >= 2 and self.gate_channels % 2 == 0, "gate_channels", "even and >= 2")
        need(self.head in HEADS, "head", f"one of {', '.join(sorted(HEADS))}")
        need(self.input in ("auto", "classes", "scalar"), "input", "auto, classes or scalar")
        need(not (self.head != "categorical" and self.input == "classes"), "input",
             f"auto or scalar for the {self.head} head (classes needs the categorical head)")
        need(self.local_channels >= 0, "local_channels", ">= 0")
        need(self.speakers >= 0, "speakers", ">= 0")
        need(0.0 <= self.dropout < 1.0, "dropout", "in [0, 1)")
        self.pitch_lags = [int(v) for v in self.pitch_lags or []]
        need(self.sample_rate >= 1000, "sample_rate", ">= 1000")
        need(self.n_fft is None or self.n_fft >= 2, "n_fft", "null or >= 2")
        self.check_mel(self.sample_rate, self.n_fft or 4 * self.hop_length)
        need(0.0 <= self.pre_emphasis < 1.0, "pre_emphasis", "in [0, 1)")
        need(0 <= self.lpc_order <= 64, "lpc_order", "in [0, 64]")
        need(not self.f0_input or self.local_channels >= 3, "f0_input",
             f"false with local_channels={self.local_channels} (the f0 pair comes after >= 1 mel band)")
        need(not self.pitch_lags or self.f0_input, "pitch_lags",
             "empty without f0_input: true (pitch taps read the period from the f0 channels)")
        need(len(set(self.pitch_lags)) == len(self.pitch_lags)
             and all(abs(v) <= 16 for v in self.pitch_lags), "pitch_lags",
             "distinct integers in [-16, 16]")
        if self.pitch_lags or self.lpc_order:
            need(self.input_kind == "scalar" and self.head != "categorical",
                 "pitch_lags" if self.pitch_lags else "lpc_order",
                 "unset with the categorical head (sample features need a continuous head and "
                 "scalar input)")
        need(0 <= self.pitch_prediction <= 4096, "pitch_prediction", "in [0, 4096] (samples)")
        if self.pitch_prediction:
            need(bool(self.pitch_lags) and self.pitch_prediction >= 2 * len(self.pitch_lags),
                 "pitch_prediction", f"0 without pitch_lags, else >= 2 x the {len(self.pitch_lags)} "
                 "lags (its weights are fit to that many samples)"
                 if self.pitch_lags else "0 without pitch_lags (it predicts from the pitch taps)")
            need(not self.lpc_order, "pitch_prediction",
                 f"0 with lpc_order={self.lpc_order} (each adds its prediction to the head's "
                 "mean: use one)")
        need(isinstance(self.pitch_gains, bool), "pitch_gains", "true or false")
        if self.pitch_gains:
            need(bool(self.pitch_lags), "pitch_gains",
                 "false without pitch_lags (its weights multiply the pitch taps)")
            need(not self.pitch_prediction, "pitch_gains",
                 f"false with pitch_prediction={self.pitch_prediction} (each predicts from "
                 "the pitch taps: use one)")
        if self.lpc_order:
            need(self.local_channels > 2 * self.f0_input, "lpc_order",
                 "0 without mel conditioning (the predictor comes from the mel bands)")
        if self.upsample_scales is None:
            self.upsample_scales = factor_hop(self.hop_length)
        else:
            self.upsample_scales = [int(s) for s in self.upsample_scales]
            need(all(s >= 1 for s in self.upsample_scales)
                 and math.prod(self.upsample_scales) == self.hop_length, "upsample_scales",
                 f"factors >= 1 whose product is hop_length={self.hop_length}")

    @property
    def layer_dilations(self) -> list[int]:
        return list(self.dilations) if self.dilations else layered_dilations(self.layers, self.cycle_length)

    @property
    def input_kind(self) -> str:
        if self.input != "auto":
            return self.input
        return "classes" if self.head == "categorical" else "scalar"

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.kernel_size, self.layer_dilations)

    @property
    def ring_rows(self) -> int:
        """Rows of the state's ring: every layer's past inputs, the sum of (k - 1) d_l (the
        plan's ``ring_rows``; ``WaveNetState.ring`` is (ring_rows, B, C))."""
        return sum((self.kernel_size - 1) * d for d in self.layer_dilations)

    def dilation_stack(self, sample_rate: int) -> tuple[int, list[int], float, str]:
        """(kernel size, the layers' dilations in order, steps per second, what a step is) of
        the stack, as ``wavedil rf`` analyses it: the layers over samples."""
        return self.kernel_size, list(self.layer_dilations), sample_rate, "samples"

    @property
    def context_length(self) -> int:
        """Past samples one output depends on: the receptive field, or the sample features'
        history when it reaches further. Training crops hold this much before their loss."""
        return max(self.receptive_field,
                   history_length(self.pitch_lags or [], self.lpc_order, self.sample_rate,
                                  self.pitch_prediction) + 1)

    def sample_features(self) -> SampleFeatures | None:
        """The sample features this config asks for (None without pitch taps or LP)."""
        if not self.sample_feature_channels:
            return None
        return SampleFeatures(self.pitch_lags or [], self.lpc_order, self.sample_rate,
                              self.hop_length, self.n_fft or 4 * self.hop_length,
                              self.mel_channels, self.pre_emphasis,
                              mel=self.log_mel() if self.mel_channels > 0 else None,
                              window=self.pitch_prediction)

    def log_mel(self) -> LogMel:
        """The extractor of the mel bands this model's LP analysis reads."""
        return self.mel_extractor(self.sample_rate, self.hop_length,
                                  self.n_fft or 4 * self.hop_length, self.mel_channels)

    @property
    def mel_channels(self) -> int:
        """Local channels that hold mel bands (the f0 pair excluded)."""
        return self.local_channels - 2 * self.f0_input

    @property
    def sample_feature_channels(self) -> int:
        """Inputs computed per sample from the model's own past samples: one per pitch lag,
        the pitch prediction and its log residual RMS, the LP prediction."""
        return len(self.pitch_lags or []) + 2 * (self.pitch_prediction > 0) + (self.lpc_order > 0)

    def make_head(self) -> Head:
        if self.head == "categorical":
            return CategoricalHead(self.classes)
        if self.head == "logistic_mixture":
            return LogisticMixtureHead(self.mixtures, self.bins, self.log_scale_min)
        return GaussianHead(self.bins, self.log_scale_min)


class WaveNet(nn.Module):
    """The WaveNet model; ``wavedil.load_model(path)`` rebuilds it from a checkpoint."""

    def __init__(self, config: WaveNetConfig) -> None:
        super().__init__()
        self.config = c = config
        self.head = c.make_head()
        C = c.residual_channels
        if c.input_kind == "classes":
            self.embed = nn.Embedding(c.classes, C)
        else:
            self.embed = nn.Conv1d(1, C, 1)
        self.conditioner = (LocalConditioner(c.local_channels, c.cond_channels, c.upsample_scales,
                                             c.cond_kernel) if c.local_channels else None)
        self.speaker_embed = nn.Embedding(c.speakers, c.speaker_channels) if c.speakers else None
        self.excitation = c.sample_features()
        # the sample features enter every layer beside the upsampled conditioning
        self.blocks = nn.ModuleList(
            GatedResidualBlock(C, c.gate_channels, c.skip_channels, c.kernel_size, d,
                               local_channels=(c.cond_channels + c.sample_feature_channels
                                               if c.local_channels else 0),
                               global_channels=c.speaker_channels if c.speakers else 0,
                               dropout=c.dropout, weight_norm=c.weight_norm,
                               residual=i < c.layers - 1)
            for i, d in enumerate(c.layer_dilations)
        )
        self.out1 = nn.Conv1d(c.skip_channels, c.skip_channels, 1)
        self.gains = len(c.pitch_lags) if c.pitch_gains else 0
        """Rows of out2 after the head's: the pitch gains (0: none)."""
        self.out2 = nn.Conv1d(c.skip_channels, self.head.out_channels + self.gains, 1)
        self.skip_scale = math.sqrt(1.0 / len(self.blocks))
        if self.gains:
            # untrained, the gains copy the period before (excitation.prior_index)
            with torch.no_grad():
                self.out2.weight[self.head.out_channels:].zero_()
                self.out2.bias[self.head.out_channels:].zero_()
                self.out2.bias[self.head.out_channels + self.excitation.prior] = 1.0
        if c.pitch_prediction or c.pitch_gains:
            # the network's share of the mean starts at zero: untrained, the model is its
            # predictor, and the scale can shrink towards the predictor's error from the first
            # steps instead of waiting for random means to be unlearnt
            with torch.no_grad():
                self.out2.weight[self.head.means].zero_()
                self.out2.bias[self.head.means].zero_()

    @property
    def receptive_field(self) -> int:
        """Samples of input that reach one output."""
        return self.config.receptive_field

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    # -- inputs ------------------------------------------------------------------------------

    def embed_input(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T): class indices (long) or samples in [-1, 1] (float) -> (B, C, T)."""
        self._check_input(x)
        if self.config.input_kind == "classes":
            return self.embed(x.long()).transpose(1, 2)
        return self.embed(x.unsqueeze(1))

    def _check_input(self, x: torch.Tensor) -> None:
        """ValueError unless x (B, T) is this model's kind of input: integer classes in range,
        or float samples."""
        if x.dim() != 2:
            raise ValueError(f"WaveNet: expected input of shape (B, T), got {tuple(x.shape)}")
        if self.config.input_kind == "classes":
            if x.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
                raise ValueError(f"WaveNet: class input must be an integer tensor, got {x.dtype}")
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.config.classes):
                raise ValueError(f"WaveNet: class input must lie in [0, {self.config.classes}), "
                                 f"got [{int(x.min())}, {int(x.max())}]")
        elif not x.is_floating_point():
            raise ValueError(f"WaveNet: scalar input must be a float tensor, got {x.dtype}")

    def upsample(self, local: torch.Tensor) -> torch.Tensor:
        """Frame features (B, local_channels, N) -> conditioning (B, cond_channels, N * hop)."""
        if self.conditioner is None:
            raise ValueError("WaveNet: local conditioning given to a model built with local_channels=0")
        return self.conditioner(local)

    def speaker_vector(self, speaker: torch.Tensor | int | None, batch_size: int) -> torch.Tensor | None:
        """Speaker ids (B,) -> embeddings (B, speaker_channels); None without global conditioning."""
        if self.speaker_embed is None:
            if speaker is not None:
                raise ValueError("WaveNet: speaker given to a model built with speakers=0")
            return None
        if speaker is None:
            raise ValueError(f"WaveNet: this model needs a speaker id in [0, {self.config.speakers})")
        ids = torch.as_tensor(speaker, dtype=torch.long, device=self.out2.weight.device).reshape(-1)
        if ids.numel() == 1 and batch_size > 1:
            ids = ids.expand(batch_size)
        if ids.numel() != batch_size:
            raise ValueError(f"WaveNet: {ids.numel()} speaker ids for batch size {batch_size}")
        if int(ids.min()) < 0 or int(ids.max()) >= self.config.speakers:
            raise ValueError(f"WaveNet: speaker ids must lie in [0, {self.config.speakers}), "
                             f"got {ids.tolist()}")
        return self.speaker_embed(ids)

    def _local_for(self, local: torch.Tensor | None, T: int) -> torch.Tensor | None:
        if local is None:
            if self.conditioner is not None:
                raise ValueError("WaveNet: this model needs local conditioning "
                                 f"(B, {self.config.local_channels}, frames)")
            return None
        cond = self.upsample(local)
        if cond.shape[-1] < T:
            raise ValueError(f"WaveNet: {local.shape[-1]} conditioning frames x hop {self.hop_length} "
                             f"= {cond.shape[-1]} samples, fewer than the input's {T}")
        return cond[..., :T]

    def _output(self, skips: torch.Tensor, lp: torch.Tensor | None = None,
                last: int | None = None, scale: torch.Tensor | None = None,
                taps: torch.Tensor | None = None) -> torch.Tensor:
        """The skip sum (B, S, T), the prediction added to the means (B, T), the log scale
        floor (B, T; see ``excitation.combine_scale``) and the pitch taps the gains multiply
        (B, lags, T) -> head parameters (B, out, T),
        or for the last ``last`` steps only (B, out, last), the head computed for those alone.
        The head's 1x1 convolutions run as products on rows (B, T, S), whatever the memory
        order of ``skips``; the result is a (B, out, T) view of (B, T, out) memory, so that
        a softmax over the channels reads them contiguous."""
        if last is not None:
            skips, lp = skips[..., -last:], None if lp is None else lp[..., -last:]
            scale = None if scale is None else scale[..., -last:]
            taps = None if taps is None else taps[..., -last:]
        rows = F.relu(skips.transpose(1, 2) * self.skip_scale)  # (B, T, S)
        rows = F.relu(F.linear(rows, self.out1.weight[:, :, 0], self.out1.bias))
        out = F.linear(rows, self.out2.weight[:, :, 0], self.out2.bias)  # (B, T, out + gains)
        if self.gains:
            out, gains = out[..., :-self.gains], out[..., -self.gains:]
            pred = tap_prediction(gains, taps.transpose(1, 2).to(out.dtype))
            lp = pred if lp is None else lp + pred
        if lp is not None:
            # the LP prediction moves the head's mean(s): the network predicts the residual
            means = self.head.means
            out = torch.cat([out[..., :means.start], out[..., means] + lp[..., None],
                             out[..., means.stop:]], -1)
        if scale is not None:
            # the pitch prediction's residual RMS is the least of the head's scale(s)
            scales = self.head.scales
            out = torch.cat([out[..., :scales.start],
                             combine_scale(out[..., scales], scale[..., None]),
                             out[..., scales.stop:]], -1)
        return out.transpose(1, 2)

    def sample_context(self, local: torch.Tensor, n_samples: int | None = None) -> SampleContext | None:
        """What the sample features need from frames (B, local_channels, N), per sample, for
        the first ``n_samples`` outputs; None for a model without sample features."""
        if self.excitation is None:
            return None
        return self.excitation.context(local, n_samples)

    def _with_features(self, window: torch.Tensor, cond: torch.Tensor | None,
                       ctx: SampleContext | None) -> tuple[torch.Tensor | None, dict]:
        """The sample features of the window's new inputs appended to the conditioning:
        (conditioning (B, cond_channels + A, T), the keywords of :meth:`_output` they give:
        ``lp``, the prediction added to the head's means (B, T) or None; ``scale``, the floor
        of its log scales (B, T) or None; ``taps``, the pitch taps the gains multiply
        (B, lags, T) or None)."""
        if self.excitation is None:
            return cond, {}
        T = window.shape[1] - self.excitation.history
        if ctx is None:
            raise ValueError("WaveNet: this model computes sample features and needs their "
                             "context (WaveNet.sample_context(frames))")
        for got in (ctx.coeffs, ctx.periods):
            if got is not None and (got.shape[0] != window.shape[0] or got.shape[1] != T):
                raise ValueError(f"WaveNet: sample context for {tuple(got.shape[:2])} (B, T), "
                                 f"the input has {(window.shape[0], T)}")
        feats, lp = self.excitation.features(window, ctx)
        channel = self.excitation.scale_channel
        scale = None if channel is None else feats[:, channel]
        taps = feats[:, :self.gains] if self.gains else None
        return torch.cat([cond, feats.to(cond.dtype)], 1), dict(lp=lp, scale=scale, taps=taps)

    # -- full sequence ---------------------------------------------------------------------

    def forward(self, x: torch.Tensor, local: torch.Tensor | None = None,
                speaker: torch.Tensor | int | None = None, last: int | None = None,
                stack: Callable[..., torch.Tensor | None] | None = None) -> torch.Tensor:
        """x (B, T), local frames (B, local_channels, N) with N * hop >= T, speaker ids (B,)
        -> head parameters (B, out, T); the output at t describes sample t + 1. With ``last``
        (1 <= last <= T), only the last ``last`` outputs (B, out, last), the head computed for
        those alone: training scores the outputs that have a full receptive field behind them.
        ``stack``: another pass of the residual stack, ``stack(blocks, h, cond, g)`` -> the
        skip sum, or None where it does not apply (the training objective hands its CPU pass,
        ``wavedil.train.chunked_stack.ChunkedStack``); without it, or where it returns None,
        the blocks' own forward."""
        if last is not None and not 1 <= last <= x.shape[-1]:
            raise ValueError(f"WaveNet: last={last} outputs asked of an input of {x.shape[-1]} "
                             "steps; it must lie in [1, T]")
        h = self.embed_input(x)
        cond = self._local_for(local, x.shape[-1])
        g = self.speaker_vector(speaker, x.shape[0])
        extra = {}
        if self.excitation is not None:
            window = F.pad(x, (self.excitation.history, 0))  # silence before the first input
            cond, extra = self._with_features(window, cond,
                                              self.sample_context(local, x.shape[-1]))
        skips = stack(self.blocks, h, cond, g) if stack is not None else None
        if skips is not None:
            return self._output(skips, last=last, **extra)
        skips = 0
        for block in self.blocks:
            h, s = block(h, cond, g)
            skips = skips + s
        return self._output(skips, last=last, **extra)

    # -- incremental ---------------------------------------------------------------------

    def init_state(self, batch_size: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> WaveNetState:
        """Empty history (silence before the first sample) for ``batch_size`` streams, in the
        layout every step runs over (:class:`~wavedil.wavenet.plan.WaveNetState`)."""
        c = self.config
        history = None if self.excitation is None else self.excitation.history
        return empty_state(c.ring_rows, batch_size, c.residual_channels, history, device,
                           dtype or self.out2.weight.dtype)

    def _check_state(self, state: WaveNetState, batch_size: int) -> None:
        rows = self.config.ring_rows
        if not isinstance(state, WaveNetState) or tuple(state.ring.shape[::2]) != (
                rows, self.config.residual_channels):
            got = (f"a ring of shape {tuple(state.ring.shape)}" if isinstance(state, WaveNetState)
                   else type(state).__name__)
            raise ValueError(f"WaveNet: state has {got}, the model's layers need "
                             f"({rows}, B, {self.config.residual_channels}) (its init_state)")
        if state.batch_size != batch_size:
            raise ValueError(f"WaveNet: state made for batch size {state.batch_size}, input has {batch_size}")

    def stream(self, x: torch.Tensor, state: WaveNetState, cond: torch.Tensor | None = None,
               speaker: torch.Tensor | int | None = None, context: SampleContext | None = None
               ) -> tuple[torch.Tensor, WaveNetState]:
        """A chunk of any length: x (B, T), upsampled conditioning (B, cond_channels, T), and
        for a model with sample features their context (:meth:`sample_context` of the chunk's
        frames) -> ((B, out, T), state). Chunks in sequence give the full forward's output; a
        chunk of one sample is :meth:`step`. A longer chunk runs the blocks over the chunk and
        each layer's past inputs, read from the state's ring and written back to it."""
        if x.dim() == 2 and x.shape[-1] == 1:
            y, state = self.step(x[:, 0], state, None if cond is None else cond[..., 0],
                                 speaker, context)
            return y[..., None], state
        h = self.embed_input(x)
        B, T = x.shape
        self._check_state(state, B)
        self._check_cond(cond, B, T)
        g = self.speaker_vector(speaker, B)
        t = state.steps
        extra = {}
        if self.excitation is not None:
            H1 = state.history.shape[1]  # the last H inputs, oldest first, then the chunk
            past = state.history.index_select(1, torch.remainder(
                t - (H1 - 1) + torch.arange(H1 - 1, device=x.device), H1))
            window = torch.cat([past, x.to(past.dtype)], 1)  # (B, H + T)
            cond, extra = self._with_features(window, cond, context)
            kept = min(T, H1)  # the chunk's last inputs go to their columns
            cols = torch.remainder(t + T - kept + torch.arange(kept, device=x.device), H1)
            state.history[:, cols] = window[:, window.shape[1] - kept:]
        skips, offset = 0, 0
        for block in self.blocks:
            span = (block.conv.kernel_size - 1) * block.conv.dilation
            if span:  # the layer's past inputs, oldest first, as its conv's streaming state
                rows = state.layer_rows(offset, span, t)
                conv = ConvState(state.ring.index_select(0, rows).permute(1, 2, 0).contiguous())
                (out, s), conv = block.stream(h, conv, cond, g)
                state.ring[state.layer_rows(offset, span, t + T)] = conv.history().permute(2, 0, 1)
            else:
                (out, s), _ = block.stream(h, block.init_state(B, h.device, h.dtype), cond, g)
            skips = skips + s
            h, offset = out, offset + span
        state.t = t + T
        return self._output(skips, **extra), state

    def _check_cond(self, cond: torch.Tensor | None, B: int, T: int) -> None:
        if self.conditioner is None:
            if cond is not None:
                raise ValueError("WaveNet: conditioning given to a model built with local_channels=0")
            return
        shape = (B, self.config.cond_channels, T)
        if cond is None or tuple(cond.shape) != shape:
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"WaveNet: expected upsampled conditioning of shape {shape}, got {got}")

    def step(self, x: torch.Tensor, state: WaveNetState, cond: torch.Tensor | None = None,
             speaker: torch.Tensor | int | None = None, context: SampleContext | None = None
             ) -> tuple[torch.Tensor, WaveNetState]:
        """One sample per stream: x (B,), conditioning (B, cond_channels), the sample context
        of one output -> ((B, out), state). This is the plan's step
        (:func:`wavedil.wavenet.plan.step`), the one every engine runs, over the model's
        weights as they are now."""
        if x.dim() != 1:
            raise ValueError(f"WaveNet.step: expected input of shape (B,), got {tuple(x.shape)}")
        self._check_input(x[:, None])
        self._check_state(state, x.shape[0])
        self._check_cond(None if cond is None else cond[..., None], x.shape[0], 1)
        plan = self.plan()
        g = self.speaker_vector(speaker, x.shape[0])
        bias = static_biases(plan, g)  # (L, B or 1, 2G)
        if cond is not None:
            bias = bias + local_biases(plan, cond[..., None], 1)[0]
        feed(plan, state, x.long() if self.config.input_kind == "classes" else x)
        return plan_step(plan, state, bias, context), state

    def plan(self) -> Plan:
        """The plan of the weights as they are now (:func:`wavedil.wavenet.plan.make_plan`, in
        the parameters' dtype), made again only when a parameter has changed since the last
        (a parameter's version counts its in-place updates)."""
        params = list(self.parameters())
        key = tuple((id(p), p._version, p.dtype, p.device) for p in params)
        cached = self.__dict__.get("_plan_cache")
        if cached is None or cached[0] != key:
            cached = (key, make_plan(self, dtype=params[0].dtype))
            self.__dict__["_plan_cache"] = cached
        return cached[1]
