"""Sample features: inputs a WaveNet computes from its own past samples, one set per sample.

A small network on a CPU budget does not find by itself which of its past samples lies one
pitch period back, or how the spectral envelope shapes the next sample. Both are linear in
the past samples, given the frame's f0 and mel bands, so they are computed rather than learnt
and fed to every layer beside the upsampled conditioning:

- pitch taps (QPNet, Wu et al. 2019): the samples at period + lag before the predicted one,
  for each lag, where the frame is voiced (zero where not);
- the linear prediction (LPCNet, Valin and Skoglund 2019; ExcitNet): p = -sum_k a_k s_{-k}
  with the predictor a derived from the frame's mel bands (:class:`~wavedil.dsp.lpc.MelLPC`). The
  model adds it to its head's mean(s), so the network models the excitation (residual);
- the pitch prediction (a backward-adaptive long-term predictor, as speech coders' adaptive
  codebook, with G.728's backward adaptation): q = sum_l w_l tap_l, the weights fit by least
  squares (ridge :data:`LTP_RIDGE` times the mean tap energy, towards a copy of the period
  before) to the last ``window`` inputs, each predicted from its own taps at the same period. A plucked string or a sustained vowel
  repeats itself one period later up to a slow change of gain and colour, which these few
  weights follow; the fit reads only samples already generated, so training (the true past)
  and generation (the model's own past) compute it alike. The model adds it to its head's
  mean(s) too, and the network models what the period before does not predict. Beside it, the
  log of :data:`LTP_SHARE` times the RMS that the fit leaves in its window (the signal's own
  where unvoiced, floored at :data:`LTP_FLOOR`) is a feature and the least of the head's log
  scale(s): the head's scale is sqrt(s_net^2 + s_fit^2) (:func:`combine_scale`), so the
  network adds spread where the window cannot foresee it (a pluck into silence) and may leave
  the rest to the fit, which measures how wrong the predictor is where a note sustains.

Output t of the model predicts sample t + 1 and reads inputs at times <= t, so every feature of
output t reads the window of inputs ending at x_t. One function computes them for the full
forward, for chunks (``WaveNet.stream``) and for single steps (the engines), from a window of
``history`` past inputs followed by the new ones:

    window   | x_{t0-H} ... x_{t0-1} | x_{t0} ... x_{t0+T-1} |
              <------ history H ----> <----- T new inputs --->
    output t0 + j: tap at lag l reads window[H + j + 1 - (P + l)]; LP reads window[H + j + 1 - k];
    the pitch prediction fits its weights to targets window[H + j + 1 - W .. H + j] (W = window),
    target m predicted from window[m - (P + l)]

Zeros before the first input are the silence that generation starts from. The frame of output
t is frame t // hop, as for the upsampled conditioning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..dsp.audio import LogMel
from ..dsp.f0 import F0_REFERENCE
from ..dsp.lpc import MelLPC

LOWEST_F0 = 40.0
"""Hz: periods are clamped to sample_rate / LOWEST_F0 samples, which bounds the history."""
LTP_RIDGE = 1e-4
"""The pitch prediction's least squares add this times the mean diagonal of the taps' Gram
matrix to its diagonal, pulling the weights towards a copy of the period before
(:func:`prior_index`): weights stay bounded where the window is nearly silent or its taps
nearly collinear, at a small cost in prediction where they are not."""
LTP_SHARE = 0.5
"""The head's scale is at least this share of the RMS that the pitch prediction's fit leaves
in its window: below 1, so that noise the model draws, which the next fit cannot predict,
fades from window to window instead of holding the scale up by itself."""
LTP_FLOOR = 2.0 ** -16
"""The pitch prediction's residual RMS is floored here (16-bit audio's step) before its log."""
LTP_CHUNK = 1024
"""Outputs whose pitch-prediction fits are solved at once in the full forward (memory: a few
B x LTP_CHUNK x window float64 arrays)."""


@dataclass
class SampleContext:
    """What the sample features need from the frames, per sample."""

    coeffs: torch.Tensor | None
    """(B, T, p) float32: the LP predictor in force at each output (None without LP)."""
    periods: torch.Tensor | None
    """(B, T) long: the pitch period at each output in samples, 0 where unvoiced (None without
    pitch taps)."""

    def __getitem__(self, index: slice) -> "SampleContext":
        """The context of outputs ``index`` (a slice over time)."""
        return SampleContext(None if self.coeffs is None else self.coeffs[:, index],
                             None if self.periods is None else self.periods[:, index])


def period_range(lags: list[int], sample_rate: int) -> tuple[int, int]:
    """The shortest and longest pitch period in samples ((0, 0) without lags): every tap must
    lag the predicted sample by >= 1 (P + lag >= 1), and f0 >= LOWEST_F0."""
    if not lags:
        return 0, 0
    low = max(2, 1 - min(lags))
    return low, max(low, math.ceil(sample_rate / LOWEST_F0))


def history_length(lags: list[int], order: int, sample_rate: int, window: int = 0) -> int:
    """Past inputs the features of one output read besides the newest one (``window``: the
    pitch prediction's, whose oldest target's taps lie ``window`` inputs before the oldest tap
    of the output)."""
    reach = period_range(lags, sample_rate)[1] + max(max(lags), 0) - 1 if lags else 0
    return max(reach + (window if lags else 0), order)


def combine_scale(log_net: torch.Tensor, log_fit: torch.Tensor) -> torch.Tensor:
    """The head's log scale from the network's and the pitch prediction's fit's:
    log sqrt(exp(2 a) + exp(2 b)), computed as max + log1p(exp(-2 |a - b|)) / 2 (as
    ``numba_kernels`` does it)."""
    top = torch.maximum(log_net, log_fit)
    return top + 0.5 * torch.log1p(torch.exp(-2.0 * (log_net - log_fit).abs()))


def prior_index(lags: list[int]) -> int:
    """The tap the pitch prediction's ridge pulls its weights towards (weight 1, the others 0):
    the lag nearest 0, the first of two as near. The signal then repeats one period later
    where the window cannot tell otherwise."""
    return min(range(len(lags)), key=lambda i: abs(lags[i]))


def tap_prediction(weights: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """A prediction from the pitch taps, the pitch prediction's (fit weights) and the pitch
    gains' (``model.pitch_gains``) alike: sum over lags of weight times tap, clipped to the
    largest tap's magnitude, so that a loop gain above 1 cannot grow the signal by itself:
    weights and taps (..., lags) -> (...)."""
    bound = taps.abs().amax(-1)
    return torch.minimum(torch.maximum((weights * taps).sum(-1), -bound), bound)


def solve_ridge(gram: torch.Tensor, rhs: torch.Tensor, prior: int) -> torch.Tensor:
    """Weights of the pitch prediction: (..., n, n) Gram matrices and (..., n) right-hand
    sides, float64 -> (..., n), minimising |y - A w|^2 + lam |w - e_prior|^2 with
    lam = LTP_RIDGE * mean(diag G), that is (G + lam I) w = r + lam e_prior, by Cholesky,
    written out over the small n so that every system of the batch runs at once (LAPACK's
    batched call costs tens of microseconds a system) and ``numba_kernels._pitch_prediction``
    does the same operations in the same order. A zero Gram (the window's taps silent: the
    second period of a note) gives the prior, a copy of the period before, so that a note
    generated from silence sustains once its first period is drawn; a few targets leave the
    weights nearest the prior among those that fit them."""
    n = gram.shape[-1]
    lam = LTP_RIDGE * (sum(gram[..., i, i] for i in range(n)) / n) + 1e-30
    g = [[gram[..., i, k] + (lam if i == k else 0.0) for k in range(n)] for i in range(n)]
    low = [[None] * n for _ in range(n)]  # the factor's lower triangle
    for i in range(n):
        for k in range(i + 1):
            acc = g[i][k]
            for m in range(k):
                acc = acc - low[i][m] * low[k][m]
            low[i][k] = (torch.sqrt(acc.clamp(min=0.0)).clamp(min=1e-150) if i == k
                         else acc / low[k][k])
    y = []
    for i in range(n):  # L y = r + lam e_prior
        acc = rhs[..., i] + lam if i == prior else rhs[..., i]
        for m in range(i):
            acc = acc - low[i][m] * y[m]
        y.append(acc / low[i][i])
    w = [None] * n
    for i in range(n - 1, -1, -1):  # L^T w = y
        acc = y[i]
        for m in range(i + 1, n):
            acc = acc - low[m][i] * w[m]
        w[i] = acc / low[i][i]
    return torch.stack(w, -1)


class SampleFeatures:
    """The sample features of a model config (see the module docstring); no parameters.

    Args:
        lags: pitch-tap lags around the period ([] for none); the frames' last two channels
            are log2(f0 / 150 Hz) and voicing.
        order: LP order (0 for none); the frames' first ``mel_channels`` channels are mel bands.
        sample_rate, hop, n_fft, mel_channels, pre_emphasis: the settings of the frames and
            of the signal the model works on.
        mel: the extractor of the frames' mel bands (default: wavedil's convention).
    """

    def __init__(self, lags: list[int], order: int, sample_rate: int, hop: int, n_fft: int,
                 mel_channels: int, pre_emphasis: float = 0.0, mel: LogMel | None = None,
                 window: int = 0) -> None:
        if not lags and not order:
            raise ValueError("SampleFeatures: needs pitch lags or an LP order")
        if window and not lags:
            raise ValueError("SampleFeatures: the pitch prediction needs pitch lags")
        self.lags, self.order, self.sample_rate, self.hop = list(lags), order, sample_rate, hop
        self.window = window
        """Inputs the pitch prediction fits its weights to (0: no pitch prediction)."""
        self.prior = prior_index(self.lags) if self.lags else 0
        """The tap the pitch prediction's weights are pulled towards (:func:`prior_index`)."""
        self.lpc = MelLPC(sample_rate, n_fft, mel_channels, order, pre_emphasis,
                          mel=mel) if order else None
        self.mel_channels = mel_channels
        self.min_period, self.max_period = period_range(self.lags, sample_rate)
        self.history = history_length(self.lags, order, sample_rate, window)
        """Past inputs a window must hold before the new ones."""

    @property
    def channels(self) -> int:
        """Feature channels: one per lag, the pitch prediction and its log residual RMS, then
        the LP prediction."""
        return len(self.lags) + 2 * (self.window > 0) + (self.order > 0)

    @property
    def scale_channel(self) -> int | None:
        """The feature channel combined with the head's log scale(s) (None without the pitch
        prediction)."""
        return len(self.lags) + 1 if self.window else None

    @property
    def predicts(self) -> bool:
        """Whether a prediction (pitch, LP or both summed) is added to the head's mean(s)."""
        return self.window > 0 or self.order > 0

    def context(self, frames: torch.Tensor, n_samples: int | None = None) -> SampleContext:
        """Frames (B, F, N) -> the context of their first ``n_samples`` outputs (default N * hop)."""
        B, _, N = frames.shape
        T = N * self.hop if n_samples is None else n_samples
        if T > N * self.hop:
            raise ValueError(f"SampleFeatures: {N} frames x hop {self.hop} cover fewer than "
                             f"{T} samples")
        frames = frames.detach()
        coeffs = periods = None
        if self.order:
            per_frame = self.lpc.coefficients(frames[:, :self.mel_channels])  # (B, N, p)
            coeffs = per_frame.repeat_interleave(self.hop, 1)[:, :T]  # (B, T, p)
        if self.lags:
            log_f0, voiced = frames[:, -2].float(), frames[:, -1] > 0.5  # (B, N) each
            f0 = F0_REFERENCE * torch.exp2(log_f0.clamp(-8.0, 8.0))
            per = torch.round(self.sample_rate / f0).clamp(self.min_period, self.max_period)
            per = torch.where(voiced, per.long(), torch.zeros_like(per, dtype=torch.long))
            periods = per.repeat_interleave(self.hop, 1)[:, :T]  # (B, T)
        return SampleContext(coeffs, periods)

    def features(self, window: torch.Tensor, ctx: SampleContext
                 ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """window (B, history + T) of inputs, oldest first, and the context of its last T
        outputs -> (features (B, channels, T), the prediction added to the head's mean (B, T):
        the pitch prediction plus the LP prediction, None with neither)."""
        H = self.history
        B, T = window.shape[0], window.shape[1] - H
        if T < 0:
            raise ValueError(f"SampleFeatures: the window holds {window.shape[1]} inputs, fewer "
                             f"than the history of {H}")
        out, lp = [], None
        if self.lags:
            P = ctx.periods  # (B, T)
            pos = torch.arange(T, device=window.device)[None] + H + 1 - P  # (B, T)
            voiced = (P > 0).to(window.dtype)
            for lag in self.lags:
                idx = (pos - lag).clamp(0, H + T - 1)  # unvoiced outputs read a dummy, zeroed
                out.append(torch.gather(window, 1, idx) * voiced)
        if self.window:
            lp, scale = self._pitch_prediction(window, P, torch.stack(out, -1))  # (B, T) each
            out += [lp, scale]
        if self.order:
            p = self.order
            past = window.unfold(1, p, 1)[:, H + 1 - p:H + 1 - p + T]  # (B, T, p), oldest first
            pred = -(past * ctx.coeffs.flip(-1).to(window.dtype)).sum(-1)  # (B, T)
            out.append(pred)
            lp = pred if lp is None else lp + pred
        return torch.stack(out, 1), lp

    def _pitch_prediction(self, window: torch.Tensor, periods: torch.Tensor,
                          taps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pitch prediction of the window's last T outputs and the log RMS of what its fit
        leaves in the window: window (B, H + T), periods (B, T) long (0: unvoiced), taps
        (B, T, lags) -> ((B, T), (B, T)), in the window's dtype. The
        prediction is clipped to the largest tap's magnitude, so that the loop of prediction and
        generation cannot grow by itself: the weights of a signal with few harmonics are not
        unique, and the ridge's choice may extrapolate (scaling the weights to sum |w| <= 1
        instead bounds the loop too, but throws away most of the prediction on corpus notes,
        commit 8322260); a plucked string's own loop
        filter, positive and summing to its gain below 1, never reaches the bound. Unvoiced
        outputs (taps zero) predict 0."""
        H, W = self.history, self.window
        B, T = periods.shape
        top = max(self.lags)
        offsets = [top - lag for lag in self.lags]  # each lag's start in a target row's segment
        x = window.detach().double()
        rows = x.unfold(1, W + top - min(self.lags), 1)  # (B, ., W + span): a view
        ends = x.unfold(1, W, 1)  # (B, ., W): the windows of targets, a view
        batch = torch.arange(B, device=window.device)[:, None]
        pred = torch.zeros(B, T, dtype=torch.float64, device=window.device)
        scale = torch.zeros(B, T, dtype=torch.float64, device=window.device)
        for j0 in range(0, T, LTP_CHUNK):
            j = torch.arange(j0, min(j0 + LTP_CHUNK, T), device=window.device)  # (J,)
            P = periods[:, j]  # (B, J)
            # output j's targets: window[H + j + 1 - W .. H + j]; target m's tap at lag l is
            # window[m - P - l], so the taps of all W targets lie in one segment per output
            y = ends[:, H + j + 1 - W]  # (B, J, W)
            start = H + j + 1 - W - top - P  # unvoiced outputs read a dummy row, unused
            seg = rows[batch, torch.where(P > 0, start, 0)]  # (B, J, W + span)
            a = [seg[..., o:o + W] for o in offsets]  # per lag (B, J, W): the targets' taps
            n = len(a)
            gram = torch.empty(B, len(j), n, n, dtype=torch.float64, device=window.device)
            for i in range(n):
                for k in range(i + 1):
                    gram[..., i, k] = gram[..., k, i] = (a[i] * a[k]).sum(-1)
            rhs = torch.stack([(ai * y).sum(-1) for ai in a], -1)  # (B, J, NL)
            weights = solve_ridge(gram, rhs, self.prior)  # (B, J, NL)
            pred[:, j] = tap_prediction(weights, taps[:, j].double())
            # the fit's residual energy y.y - 2 w.r + w G w; unvoiced: the signal's own
            yy = (y * y).sum(-1)
            left = (yy - 2 * (weights * rhs).sum(-1)
                    + (weights * (gram @ weights[..., None])[..., 0]).sum(-1))
            left = torch.where(P > 0, left.clamp(min=0.0), yy)
            scale[:, j] = 0.5 * torch.log(LTP_SHARE ** 2 * left / W + LTP_FLOOR ** 2)
        return pred.to(window.dtype), scale.to(window.dtype)
