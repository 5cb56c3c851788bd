"""The training pass of an effect model's layer arrays on the CPU: the effect's counterpart of
``chunked_stack.py``.

An effect model's layers are narrow (NAM's standard size: 16 and 8 channels) and its crops long
(8,192 samples with loss, after 4,092 of history). The model's own forward and backward run
every layer as a convolution over B x C x T, and torch's convolutions (their backward above
all) are slow at these widths, with a residual sum, a head sum and their gradients around each
that read and write the whole activations once more. Here one autograd function runs every
array over the (T, C) rows of one stream at a time (each worker thread a share of the batch's
streams, ``pieces.over_streams``), every layer as matrix products that add into the rows they
land on: each tap of the dilated convolution adds its product into the pre-activation's rows
its lag reaches (rows before the stream's start read silence), and in the backward each tap's
input gradient into the rows it came from:

    h      = y @ W_r                                   rechannel (y: the input, or the array before)
    pre[t] = b + c[t] @ W_m + sum_k h[t - (K - 1 - k) d] @ W_k    (c: the input and the controls)
    a      = act(pre);   s += a;   h = h + a @ W_1 + b_1          per layer
    head   = s @ W_h (+ b_h);  the next array's s starts at it     per array
    y      = head_scale * head                                    the last array's, (T,)

and its backward the same in reverse, the parameter gradients summed per worker. Only NAM's
plain layers take this pass (:meth:`ChunkedArrays.applies`: activations tanh, relu or leaky
relu, no gating, FiLM, groups, bottleneck or head 1x1, a 1x1 head, no condition DSP, not an
LSTM, float32 with gradients, outside autocast); the rest runs the model's own. Its results
are those of ``EffectNet``'s forward and backward to float rounding
(``tests/test_effect_stack.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from .pieces import over_streams, workers_for

ACTIVATIONS = ("tanh", "relu", "leaky_relu")
"""The layer activations this pass runs (each one's derivative follows from its output)."""


@dataclass(frozen=True)
class ChunkedArrays:
    """The chunked pass, as the training objective hands it to ``EffectNet.forward(...,
    stack=)``: called with the model, its padded input and its condition, it returns the
    output, or None where it does not apply and the model's own forward must run."""

    workers: int | None = None
    """Threads that run the batch's streams side by side; None: one per
    ``torch.get_num_threads()``."""

    def applies(self, model, x: torch.Tensor) -> bool:
        """Whether this pass computes what ``model`` would for ``x`` (B, T): a CPU float32 pass
        with gradients, outside autocast and torch.compile, of plain layers (see the module's
        docstring)."""
        c = model.config
        if not (torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32
                and x.dim() == 2 and not torch.is_autocast_enabled("cpu")
                and not torch.compiler.is_compiling()):
            return False
        if model.lstm is not None or model.condition_dsp is not None or c.outputs != 1:
            return False
        for array in model.arrays:
            if not isinstance(array.head_rechannel, torch.nn.Conv1d):  # a causal head conv
                return False
            for layer in array.layers:
                s = layer.spec
                if (s.gating != "none" or s.film or s.groups_input != 1
                        or s.groups_input_mixin != 1 or s.bottleneck != s.channels
                        or not s.layer1x1 or s.layer1x1_groups != 1 or s.head1x1
                        or _activation(s.activation) is None):
                    return False
        return True

    def __call__(self, model, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor | None:
        """The model's output (B, T) for its (already padded) input x (B, T) and condition
        (B, 1 + P, T), every convolution padded with zeros, or None where the pass does not
        apply."""
        if not self.applies(model, x):
            return None
        params, layout = [], []
        for array in model.arrays:
            head = array.head_rechannel
            params += [array.rechannel.weight, head.weight, head.bias]
            layers = []
            for layer in array.layers:
                params += [layer.conv.weight, layer.conv.bias, layer.mixer.weight,
                           layer.layer1x1.weight, layer.layer1x1.bias]
                layers.append((layer.conv.dilation, _activation(layer.spec.activation)))
            layout.append(layers)
        rows = cond.transpose(1, 2).contiguous()  # (B, T, 1 + P)
        return _Arrays.apply(x.contiguous(), rows, self, layout,
                             float(model.config.head_scale), *params)


def _activation(spec) -> tuple[str, float] | None:
    """(name, negative slope) of an activation this pass runs, or None."""
    name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
    if name not in ACTIVATIONS:
        return None
    extra = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
    if set(extra) - {"negative_slope"}:
        return None
    slope = extra.get("negative_slope", 0.01) if name == "leaky_relu" else 0.0
    return name, float(slope)


def _act(pre: torch.Tensor, act: tuple[str, float]) -> torch.Tensor:
    """act(pre) in place."""
    name, slope = act
    if name == "tanh":
        return pre.tanh_()
    if name == "relu":
        return pre.relu_()
    return torch.nn.functional.leaky_relu_(pre, slope)


def _act_grad(g: torch.Tensor, a: torch.Tensor, act: tuple[str, float]) -> torch.Tensor:
    """g * act'(pre), from the activation's output a, into g."""
    name, slope = act
    if name == "tanh":
        return g.addcmul_(g, a * a, value=-1.0)  # g (1 - a^2)
    factor = torch.where(a > 0, 1.0, slope)  # relu: slope 0
    return g.mul_(factor)


class _Array(NamedTuple):
    """One array's parameters as the pass uses them (matrices oriented for rows @ W)."""

    wr: torch.Tensor  # (C_in, C) rechannel
    wh: torch.Tensor  # (C, H) head
    bh: torch.Tensor | None  # (H,)
    layers: list  # per layer: _Layer


class _Layer(NamedTuple):
    taps: list  # (C, C) each, W_k for rows @ W_k, tap k reading (K - 1 - k) d back
    b: torch.Tensor  # (C,)
    wm: torch.Tensor  # (1 + P, C) mixer
    w1: torch.Tensor  # (C, C) layer 1x1
    b1: torch.Tensor  # (C,)
    d: int
    act: tuple[str, float]


def _arrays(layout, params) -> list[_Array]:
    out, i = [], 0
    for layers in layout:
        wr, wh, bh = params[i:i + 3]
        i += 3
        specs = []
        for d, act in layers:
            w, b, wm, w1, b1 = params[i:i + 5]
            i += 5
            specs.append(_Layer([w[:, :, k].t().contiguous() for k in range(w.shape[2])], b,
                                wm[:, :, 0].t().contiguous(), w1[:, :, 0].t().contiguous(), b1,
                                d, act))
        out.append(_Array(wr[:, :, 0].t().contiguous(), wh[:, :, 0].t().contiguous(), bh, specs))
    return out


def _forward_stream(arrays: list[_Array], x: torch.Tensor, c: torch.Tensor,
                    head_scale: float) -> tuple[torch.Tensor, list]:
    """One stream: x (T,), c (T, 1 + P) -> its output (T,) and, per array, what the backward
    needs: the array's input rows, its head sum, and per layer its input rows and activation.
    Every tap's product is added into the pre-activation's rows it lands on by the product
    itself (rows before the stream's start read silence)."""
    T = x.shape[0]
    y, head, saved = x[:, None], None, []
    for arr in arrays:
        h = y @ arr.wr  # (T, C)
        s = head.clone() if head is not None else torch.zeros_like(h)  # the head sum
        layers = []
        for lay in arr.layers:
            K = len(lay.taps)
            pre = torch.addmm(lay.b, h, lay.taps[K - 1])  # (T, C)
            pre.addmm_(c, lay.wm)
            for k in range(K - 1):
                lag = (K - 1 - k) * lay.d
                if lag < T:
                    pre[lag:].addmm_(h[:T - lag], lay.taps[k])
            a = _act(pre, lay.act)
            s += a
            out = torch.addmm(h, a, lay.w1)
            out += lay.b1
            layers.append((h, a))
            h = out
        saved.append((y, s, layers))
        head = s @ arr.wh
        if arr.bh is not None:
            head += arr.bh
        y = h
    return head[:, 0] * head_scale, saved


def _new_grads(arrays: list[_Array]) -> list:
    """Zeroed gradient accumulators in the parameters' order as the pass holds them."""
    out = []
    for arr in arrays:
        out.append([torch.zeros_like(arr.wr), torch.zeros_like(arr.wh),
                    torch.zeros_like(arr.bh) if arr.bh is not None else None,
                    [[[torch.zeros_like(t) for t in lay.taps], torch.zeros_like(lay.b),
                      torch.zeros_like(lay.wm), torch.zeros_like(lay.w1),
                      torch.zeros_like(lay.b1)] for lay in arr.layers]])
    return out


def _backward_stream(arrays: list[_Array], saved: list, g: torch.Tensor, c: torch.Tensor,
                     head_scale: float, grads: list) -> None:
    """One stream backward: g (T,) the gradient of its output; parameter gradients added into
    ``grads``."""
    ghead = g[:, None] * head_scale  # (T, H) the gradient of the array's head
    gy = None  # the gradient of the array's output rows (from the next array's rechannel)
    for j in reversed(range(len(arrays))):
        arr, (y, s, layers), (gwr, gwh, gbh, glayers) = arrays[j], saved[j], grads[j]
        T = s.shape[0]
        gwh.addmm_(s.t(), ghead)
        if gbh is not None:
            gbh += ghead.sum(0)
        gs = ghead @ arr.wh.t()  # (T, C): every layer's activation and the array's head in
        gh = gy if gy is not None else torch.zeros_like(gs)
        for lay, (h, a), (gtaps, gb, gwm, gw1, gb1) in zip(
                reversed(arr.layers), reversed(layers), reversed(glayers)):
            K = len(lay.taps)
            gb1 += gh.sum(0)  # gh: the gradient of the layer's output
            gw1.addmm_(a.t(), gh)
            gpre = torch.addmm(gs, gh, lay.w1.t())
            _act_grad(gpre, a, lay.act)
            gb += gpre.sum(0)
            gwm.addmm_(c.t(), gpre)
            gtaps[K - 1].addmm_(h.t(), gpre)
            gh.addmm_(gpre, lay.taps[K - 1].t())  # now becoming its input's gradient
            for k in range(K - 1):
                lag = (K - 1 - k) * lay.d
                if lag < T:
                    gtaps[k].addmm_(h[:T - lag].t(), gpre[lag:])
                    gh[:T - lag].addmm_(gpre[lag:], lay.taps[k].t())
        gwr.addmm_(y.t(), gh)
        gy = gh @ arr.wr.t()  # (T, C_in): the array before's output, or the input's
        ghead = gs  # the array before's head starts this array's head sum


class _Arrays(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, cond, settings, layout, head_scale, *params):
        B = x.shape[0]
        arrays = _arrays(layout, params)
        out = torch.empty_like(x)
        saved = [None] * B

        def stream(worker, n):  # one stream at a time: its rows stay in the caches
            out[n], saved[n] = _forward_stream(arrays, x[n], cond[n], head_scale)

        over_streams(workers_for(B, settings.workers), B, stream)
        ctx.arrays, ctx.saved, ctx.cond, ctx.settings = arrays, saved, cond, settings
        ctx.head_scale = head_scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gout):
        gout = gout.contiguous()
        arrays, saved, cond = ctx.arrays, ctx.saved, ctx.cond
        B = gout.shape[0]
        workers = workers_for(B, ctx.settings.workers)
        parts = [_new_grads(arrays) for _ in range(workers)]

        def stream(worker, n):
            _backward_stream(arrays, saved[n], gout[n], cond[n], ctx.head_scale, parts[worker])
            saved[n] = None  # free as we go

        over_streams(workers, B, stream)
        total = parts[0]
        for part in parts[1:]:
            for mine, theirs in zip(_flat(total), _flat(part)):
                mine += theirs
        out = []
        for gwr, gwh, gbh, glayers in total:
            out += [gwr.t()[:, :, None], gwh.t()[:, :, None], gbh]
            for gtaps, gb, gwm, gw1, gb1 in glayers:
                out += [torch.stack([t.t() for t in gtaps], dim=2), gb, gwm.t()[:, :, None],
                        gw1.t()[:, :, None], gb1]
        ctx.arrays = ctx.saved = ctx.cond = None
        return (None, None, None, None, None, *out)


def _flat(grads: list) -> list[torch.Tensor]:
    """Every accumulator of a worker's gradients, in one order."""
    out = []
    for gwr, gwh, gbh, glayers in grads:
        out += [gwr, gwh] + ([gbh] if gbh is not None else [])
        for gtaps, gb, gwm, gw1, gb1 in glayers:
            out += [*gtaps, gb, gwm, gw1, gb1]
    return out


__all__ = ["ACTIVATIONS", "ChunkedArrays"]
