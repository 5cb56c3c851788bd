"""One description of a WaveNet step: the plan (a model's weights laid out for one sample at
a time), the state every step runs over (:class:`WaveNetState`) and :func:`step`, the step over
them in plain torch ops.

``WaveNet.step``, the torch engine and ``export.StepFunction`` call :func:`step`; the numba
engine reads the same plan arrays and state, and ``numba_kernels._group`` (with ``stack.c``)
mirrors :func:`step` line by line; ``WaveNet.stream`` runs chunks over the same state, and the
full forward (``WaveNet.forward``) is the reference the tests hold every one of them to.
Weight normalisation is resolved once, here.

One ring layout. Layer l keeps its last P_l = (k - 1) d_l inputs in rows
``offsets[l] .. offsets[l] + P_l - 1`` of one time-major ring (R, B, C), R = sum of the P_l,
the input of time s in row ``offsets[l] + s mod P_l``; zeros are the silence before the first
sample (the forward's padding). At time t the k - 1 older taps, oldest first, are rows
``offsets[l] + (t + j d_l) mod P_l``, j = 0 .. k - 2, and the input of time t then replaces
the oldest:

    layer l, k = 3, d = 2, P_l = 4, t = 6:  row offsets[l] +   0    1    2    3
                                            holds            x_4  x_5  x_2  x_3
    taps read: x_2 (row + 2), x_4 (row + 0); then x_6 is written to row + 2.

One residual rule: the ring holds each layer's true input, x_{l+1} = x_l + z_l W_res + b_res
(the module's). One input embedding: :func:`embed`.

Sample features (pitch taps, the LP prediction; :mod:`wavedil.wavenet.excitation`) read the model's past
inputs from a second ring, ``history`` (B, H + 1), input s in column s mod (H + 1); each step
computes them with the model's own :meth:`SampleFeatures.features` over the window of the last
H + 1 inputs, projects them into every layer like the conditioning, and adds the LP prediction
to the head's mean(s).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .excitation import SampleContext, SampleFeatures, combine_scale, tap_prediction


@dataclass
class Plan:
    """All the weights of a WaveNet, laid out for incremental inference (float32, on the
    model's device). L layers, C residual, G = gate_channels / 2 gated, S skip channels."""

    input_kind: str
    """"classes" (an embedding table) or "scalar" (samples through a 1x1 conv)."""
    mulaw_input: bool
    """Scalar input with the categorical head: head values are mu-law classes to decode."""
    classes: int
    kernel_size: int
    dilations: list[int]
    embed: torch.Tensor
    """(classes, C) embedding table, or (1, C) scalar input weights."""
    embed_bias: torch.Tensor
    """(C,) bias of the scalar input projection (zeros for class input)."""
    w_taps: torch.Tensor
    """(L, k * C, 2G): each dilated conv's k taps fused, oldest (delay (k - 1) d) first."""
    b_taps: torch.Tensor
    """(L, 2G) the dilated convs' biases."""
    w_res: torch.Tensor
    """(L, G, C) residual projections (zeros for the last layer, whose residual is unused)."""
    b_res: torch.Tensor
    """(L, C)"""
    w_local: torch.Tensor | None
    """(Cc, L * 2G): every layer's local-conditioning projection side by side."""
    w_sample: torch.Tensor | None
    """(A, L * 2G): every layer's projection of the sample features side by side (None
    without them)."""
    features: SampleFeatures | None
    """The model's sample features (None without them)."""
    means: slice | None
    """The head's mean channels, which the LP and pitch predictions move (None without)."""
    scales: slice | None
    """The head's log-scale channels, combined with the pitch prediction's log residual RMS
    (feature ``features.scale_channel``; ``excitation.combine_scale``); None without it."""
    gains: int
    """The pitch gains: w_out2's last ``gains`` columns, which multiply the first ``gains``
    sample features (the pitch taps) into a prediction of the means (0: none)."""
    w_speaker: torch.Tensor | None
    """(Cs, L * 2G): every layer's speaker projection side by side."""
    w_skip: torch.Tensor
    """(L * G, S): every layer's skip projection stacked, times the skip scale."""
    b_skip: torch.Tensor
    """(S,) the sum of the skip biases, times the skip scale."""
    w_out1: torch.Tensor
    """(S, S)"""
    b_out1: torch.Tensor
    w_out2: torch.Tensor
    """(S, out)"""
    b_out2: torch.Tensor
    offsets: torch.Tensor
    """(L,) int64: each layer's first ring row."""
    spans: torch.Tensor
    """(L,) int64: each layer's ring rows, P_l = (k - 1) d_l."""
    tap_rows: torch.Tensor
    """(L * (k - 1), 3) int64: per tap, oldest first within each layer: its layer's ring
    offset, its delay j * d_l and span P_l (read at row offset + (t + delay) mod span)."""
    round_inputs: bool = False
    """Whether the five products' inputs (the activations) are rounded to bfloat16 too
    (weights="bf16-dot")."""

    @property
    def n_layers(self) -> int:
        return len(self.dilations)

    @property
    def residual_channels(self) -> int:
        return self.embed.shape[1]

    @property
    def gate_half(self) -> int:
        return self.w_res.shape[1]

    @property
    def ring_rows(self) -> int:
        """R, the ring's rows: the sum over layers of (k - 1) d_l."""
        return int(self.spans.sum())


@dataclass
class WaveNetState:
    """The state of a WaveNet's incremental inference, owned by its caller: the one layout
    that ``WaveNet.step``, ``WaveNet.stream`` and every engine run over (``WaveNet.init_state``
    or :func:`empty_state` makes it)."""

    ring: torch.Tensor
    """(R, B, C): every layer's past inputs (see the module docstring)."""
    t: int | torch.Tensor
    """Samples consumed so far."""
    next_input: torch.Tensor
    """(B, C): the embedded input of the next step (:func:`embed`)."""
    history: torch.Tensor | None = None
    """(B, H + 1): the last inputs in head space, input s in column s mod (H + 1), for the
    sample features (None without them)."""

    @property
    def batch_size(self) -> int:
        return self.ring.shape[1]

    @property
    def steps(self) -> int:
        """Samples consumed so far, as an int."""
        return int(self.t)

    def clone(self) -> "WaveNetState":
        history = None if self.history is None else self.history.clone()
        t = self.t.clone() if torch.is_tensor(self.t) else self.t
        return WaveNetState(self.ring.clone(), t, self.next_input.clone(), history)

    def numel(self) -> int:
        """Values held: the sum over layers of (k - 1) * d * C * B, plus the sample history."""
        return self.ring.numel() + (0 if self.history is None else self.history.numel())

    def layer_rows(self, offset: int, span: int, start: int) -> torch.Tensor:
        """The ring rows of a layer (first row ``offset``, ``span`` rows) that hold its inputs
        of times start, start + 1, ..., start + span - 1 (row offset + time mod span)."""
        return offset + torch.remainder(start + torch.arange(span, device=self.ring.device),
                                        span)


def empty_state(ring_rows: int, batch_size: int, channels: int, history: int | None,
                device: torch.device | str | None = None,
                dtype: torch.dtype | None = None) -> WaveNetState:
    """Silence before the first sample: a zero ring (ring_rows, B, C), a zero next input and,
    for sample features, a zero history of ``history`` + 1 columns."""
    dtype = dtype or torch.float32
    ring = torch.zeros(ring_rows, batch_size, channels, device=device, dtype=dtype)
    past = (None if history is None
            else torch.zeros(batch_size, history + 1, device=device, dtype=dtype))
    return WaveNetState(ring, 0, torch.zeros(batch_size, channels, device=device, dtype=dtype),
                        past)


def feed(plan: Plan, state: WaveNetState, x: torch.Tensor) -> None:
    """Make the model's input x (B,) (class ids, or samples in [-1, 1]) the next step's: its
    embedding, and for the sample features the history's column of this step."""
    state.next_input = embed(plan, x)
    if state.history is not None:  # the input of step t, for the sample features
        state.history[:, int(state.t) % state.history.shape[1]] = x


def _w(conv) -> torch.Tensor:
    return conv.weight.detach()


WEIGHTS = ("fp32", "bf16", "bf16-dot")
"""Weight formats of a plan's five large matrices (taps, residual, skip and the two output
products): fp32, the model's own; bf16, each rounded to bfloat16 (8 bits of mantissa, to
nearest even), which the numba engine's C kernel then reads in half the bytes; bf16-dot, the
same weights, and each product's input rows (the layer's window, its gated output, the skip
product's gated outputs, the output network's hidden rows) rounded to bfloat16 too, with
float32 sums: what a CPU with AVX512-BF16 multiplies in one instruction, twice the
multiply-adds of a float32 FMA (``gemm.c``'s wd_gemm_packed_dot). Biases, embeddings, the
conditioning projections and every sum and activation between the products stay float32."""


def _bf16(w: torch.Tensor) -> torch.Tensor:
    """float32 values rounded to the nearest bfloat16, kept as float32."""
    return w.to(torch.bfloat16).to(w.dtype)


@torch.no_grad()
def make_plan(model: torch.nn.Module, dtype: torch.dtype = torch.float32,
              weights: str = "fp32") -> Plan:
    """Extract a WaveNet ``model``'s weights (on its device) into a :class:`Plan`, its large matrices in
    the format ``weights`` (:data:`WEIGHTS`)."""
    if weights not in WEIGHTS:
        raise ValueError(f"weights must be one of {', '.join(WEIGHTS)}; got {weights!r}")
    cfg, blocks = model.config, model.blocks
    f = lambda t: None if t is None else t.detach().to(dtype).contiguous()  # noqa: E731
    m = f if weights == "fp32" else (lambda t: _bf16(f(t)))  # noqa: E731  the five matrices
    C, G, k = cfg.residual_channels, cfg.gate_channels // 2, cfg.kernel_size
    dev = model.out2.weight.device
    w_taps = torch.stack([_w(b.conv).permute(2, 1, 0).reshape(k * C, 2 * G) for b in blocks])
    zero_res = torch.zeros(G, C, device=dev)
    w_res = torch.stack([_w(b.res)[:, :, 0].t() if b.res is not None else zero_res for b in blocks])
    b_res = torch.stack([b.res.bias if b.res is not None else zero_res[0] for b in blocks])
    scale = model.skip_scale
    w_skip = torch.cat([_w(b.skip)[:, :, 0].t() for b in blocks], 0) * scale
    b_skip = sum(b.skip.bias.detach() for b in blocks) * scale
    w_local = (torch.cat([_w(b.local)[:, :, 0] for b in blocks], 0).t()
               if model.conditioner is not None else None)  # (Cc + A, L * 2G)
    w_sample = None
    if model.excitation is not None:  # the sample features' rows follow the conditioning's
        w_local, w_sample = w_local[:cfg.cond_channels], w_local[cfg.cond_channels:]
    w_speaker = (torch.cat([_w(b.glob) for b in blocks], 0).t()
                 if model.speaker_embed is not None else None)
    if cfg.input_kind == "classes":
        embed, embed_bias = model.embed.weight, torch.zeros(C, device=dev)
    else:
        embed, embed_bias = _w(model.embed)[:, :, 0].t(), model.embed.bias
    dilations = cfg.layer_dilations
    spans = torch.tensor([(k - 1) * d for d in dilations], device=dev)
    offsets = torch.cumsum(spans, 0) - spans
    taps = [(int(offsets[l]), j * d, (k - 1) * d)  # oldest first within each layer
            for l, d in enumerate(dilations) for j in range(k - 1)]
    return Plan(
        input_kind=cfg.input_kind,
        mulaw_input=cfg.input_kind == "scalar" and cfg.head == "categorical", classes=cfg.classes,
        kernel_size=k, dilations=dilations, embed=f(embed), embed_bias=f(embed_bias),
        w_taps=m(w_taps), b_taps=f(torch.stack([b.conv.bias for b in blocks])), w_res=m(w_res),
        b_res=f(b_res), w_local=f(w_local), w_sample=f(w_sample), features=model.excitation,
        means=model.head.means if model.excitation is not None
        and (model.excitation.predicts or model.gains) else None,
        scales=model.head.scales if cfg.pitch_prediction else None, gains=model.gains,
        w_speaker=f(w_speaker), w_skip=m(w_skip),
        b_skip=f(b_skip), w_out1=m(_w(model.out1)[:, :, 0].t()), b_out1=f(model.out1.bias),
        w_out2=m(_w(model.out2)[:, :, 0].t()), b_out2=f(model.out2.bias), offsets=offsets,
        spans=spans, tap_rows=torch.tensor(taps, dtype=torch.long, device=dev).reshape(-1, 3),
        round_inputs=weights == "bf16-dot",
    )


def embed(plan: Plan, x: torch.Tensor) -> torch.Tensor:
    """The model's input x (B,): class ids, or samples in [-1, 1] -> the first layer's (B, C)."""
    if plan.input_kind == "classes":
        return F.embedding(x, plan.embed)
    return torch.addmm(plan.embed_bias, x.to(plan.embed.dtype)[:, None], plan.embed)


def static_biases(plan: Plan, speaker: torch.Tensor | None) -> torch.Tensor:
    """Each layer's conv bias plus its speaker projection of ``speaker`` (B, Cs):
    (L, B, 2G), or (L, 1, 2G) without speakers."""
    bias = plan.b_taps[:, None, :]  # (L, 1, 2G)
    if plan.w_speaker is None:
        return bias
    if speaker is None:
        raise ValueError("this model needs a speaker")
    proj = speaker.detach().to(plan.w_speaker) @ plan.w_speaker  # (B, L * 2G)
    return bias + proj.unflatten(-1, (plan.n_layers, -1)).transpose(0, 1)


def local_biases(plan: Plan, cond: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """Upsampled conditioning (B, Cc, n) through every layer's projection: (n, L, B, 2G).
    ``n``: the steps it is for (ValueError unless cond has exactly that many)."""
    if n is not None and cond.shape[-1] != n:
        raise ValueError(f"conditioning for {cond.shape[-1]} samples given for {n} steps")
    proj = cond.detach().permute(2, 0, 1).to(plan.w_local) @ plan.w_local  # (n, B, L * 2G)
    return proj.unflatten(-1, (plan.n_layers, -1)).transpose(1, 2).contiguous()


def sample_features(plan: Plan, state: WaveNetState, ctx: SampleContext
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The sample features of the next step from the history ring: ((B, A), LP (B,) or None)."""
    H1 = state.history.shape[1]
    cols = torch.remainder(state.t + 1 + torch.arange(H1, device=state.history.device), H1)
    window = state.history.index_select(1, cols)  # (B, H + 1), oldest first
    feats, lp = plan.features.features(window, ctx)
    return feats[..., 0], None if lp is None else lp[:, 0]


def step(plan: Plan, state: WaveNetState, bias: torch.Tensor,
         ctx: SampleContext | None = None) -> torch.Tensor:
    """One sample of every stream from ``state.next_input`` with per-layer biases ``bias``
    (L, B or 1, 2G) (:func:`static_biases`, plus :func:`local_biases` where conditioned), and
    for a model with sample features the context of this one output: returns the logits
    (B, out), writes the ring and advances ``state.t``.

    ``numba_kernels._group`` mirrors this function line by line; keep them together.
    """
    K1, G, t = plan.kernel_size - 1, plan.gate_half, state.t
    q = _bf16 if plan.round_inputs else (lambda a: a)  # noqa: E731  the products' inputs
    x = state.next_input  # (B, C)
    lp = scale = None
    if plan.features is not None:
        feats, lp = sample_features(plan, state, ctx)  # (B, A)
        if plan.scales is not None:
            scale = feats[:, plan.features.scale_channel]
        bias = bias + (feats @ plan.w_sample).unflatten(-1, (plan.n_layers, -1)).transpose(0, 1)
    off, delay, span = plan.tap_rows.unbind(1)  # the older taps' rows, oldest first per layer
    taps = state.ring.index_select(0, off + torch.remainder(delay + t, span)).unbind(0)  # (B, C)
    # per-layer views taken once per step, not once per layer
    biases, w_taps, w_res, b_res = (a.unbind(0) for a in (bias, plan.w_taps, plan.w_res,
                                                           plan.b_res))
    inputs, zs = [], []
    for l in range(plan.n_layers):
        inputs.append(x)
        window = torch.cat([*taps[l * K1:(l + 1) * K1], x], 1) if K1 else x  # (B, k * C)
        h = torch.addmm(biases[l], q(window), w_taps[l])  # (B, 2G): the dilated conv
        h[:, :G].tanh_()
        z = F.glu(h, 1)  # tanh(filter) * sigmoid(gate): (B, G)
        zs.append(z)
        if l < plan.n_layers - 1:
            x = torch.addmm(x, q(z), w_res[l]).add_(b_res[l])  # the residual
    if K1:  # each layer's input replaces its oldest tap
        rows = plan.offsets + torch.remainder(t, plan.spans)
        state.ring.index_copy_(0, rows, torch.stack(inputs))
    state.t = t + 1
    s = torch.addmm(plan.b_skip, q(torch.cat(zs, 1)), plan.w_skip).relu_()  # (B, S)
    s = torch.addmm(plan.b_out1, q(s), plan.w_out1).relu_()
    out = torch.addmm(plan.b_out2, q(s), plan.w_out2)  # (B, out + gains)
    if plan.gains:
        out, gains = out[:, :-plan.gains], out[:, -plan.gains:]
        pred = tap_prediction(gains, feats[:, :plan.gains])
        lp = pred if lp is None else lp + pred
    if lp is not None:
        out[:, plan.means] += lp[:, None]
    if scale is not None:
        out[:, plan.scales] = combine_scale(out[:, plan.scales], scale[:, None])
    return out
