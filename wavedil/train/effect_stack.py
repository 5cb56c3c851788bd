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

    h       = y @ W_r                                  rechannel (y: the input, or the array before)
    pre[t]  = b + c[t] @ W_m + sum_k h[t - (K - 1 - k) d] @ W_k   (c: the input and the controls)
    a       = act(pre);   s += a;   h = h + a @ W_1 + b_1         per layer
    head[t] = sum_k s[t - (K_h - 1 - k) d_h] @ W_h,k (+ b_h)     per array (a 1x1 head: K_h = 1);
                                                               the next array's s starts at it
    y       = head_scale * head                                   the last array's, (T,)

and its backward the same in reverse, the parameter gradients summed per worker. Only NAM's
plain layers take this pass (:meth:`ChunkedArrays.applies`: activations tanh, relu or leaky
relu; no gating, FiLM, groups, bottleneck or head 1x1; a 1x1 or causal head convolution (A2's);
no condition DSP, not an LSTM, float32 with gradients, outside autocast); the rest runs the
model's own. Its results are those of ``EffectNet``'s forward and backward to float rounding
(``tests/test_effect_stack.py``).

Where the C kernel builds (``native/effect_layer.c``), a layer's forward is one pass over the
rows, its backward three (the gradients of the pre-activation, of the weights, of the input),
each row's work in registers; the rows are then padded to a multiple of 8 channels with zeros
(zero weights keep the padded channels at zero). The heads and rechannels stay matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from ..native import effect_layer
from ..native.effect_layer import LANES, EffectLayerKernel
from ..nn.layers import CausalConv1d
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
    c_kernel: bool = True
    """Whether the layers run in the C kernel of ``effect_layer.c`` where it builds
    (``native.effect_layer.load``), rather than as torch's operations."""

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
            head = array.head_rechannel
            if isinstance(head, CausalConv1d) and not (head.causal and head.groups == 1):
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
            head_dilation = head.dilation if isinstance(head, CausalConv1d) else 1
            layers = []
            for layer in array.layers:
                params += [layer.conv.weight, layer.conv.bias, layer.mixer.weight,
                           layer.layer1x1.weight, layer.layer1x1.bias]
                layers.append((layer.conv.dilation, _activation(layer.spec.activation)))
            layout.append((head_dilation, layers))
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
    """One array's parameters as the pass uses them (matrices oriented for rows @ W, padded
    with zeros to the pass's widths: Cp of C channels, Cp_in of its input's C_in, Hp of H)."""

    wr: torch.Tensor  # (Cp_in, Cp) rechannel
    wh: torch.Tensor  # (K_h, Cp, Hp) the head's taps, tap k reading (K_h - 1 - k) d_h back
    bh: torch.Tensor | None  # (Hp,)
    hd: int  # d_h
    layers: list  # per layer: _Layer
    sizes: tuple[int, int, int]  # C_in, C, H: the parameters' own


class _Layer(NamedTuple):
    taps: torch.Tensor  # (K, Cp, Cp): W_k for rows @ W_k, tap k reading (K - 1 - k) d back
    tapst: torch.Tensor | None  # (K, Cp, Cp): each W_k transposed, for the C kernel's backward
    b: torch.Tensor  # (Cp,)
    wm: torch.Tensor  # (1 + P, Cp) mixer
    w1: torch.Tensor  # (Cp, Cp) layer 1x1
    w1t: torch.Tensor  # (Cp, Cp) w1 transposed
    b1: torch.Tensor  # (Cp,)
    d: int
    act: tuple[str, float]


def _padded(m: torch.Tensor, *shape: int) -> torch.Tensor:
    """m in the leading corner of zeros of ``shape``."""
    out = m.new_zeros(shape)
    out[tuple(slice(0, n) for n in m.shape)] = m
    return out


def _arrays(layout, params, for_kernel: bool) -> list[_Array]:
    """The parameters as the pass holds them: for the C kernel, each width rounded up to a
    multiple of its ``LANES`` (except the input signal's and the output's) and the taps also
    transposed; else as they are."""
    lanes = LANES if for_kernel else 1

    def up(n: int) -> int:
        return -(-n // lanes) * lanes

    out, i = [], 0
    for j, (hd, layers) in enumerate(layout):
        wr, wh, bh = params[i:i + 3]
        i += 3
        (C, C_in), H = wr.shape[:2], wh.shape[0]
        Cp = up(C)
        Cp_in = up(C_in) if j else C_in  # the first array reads the input signal, one column
        Hp = up(H) if j + 1 < len(layout) else H  # the next array's head sum, or the output
        specs = []
        for d, act in layers:
            w, b, wm, w1, b1 = params[i:i + 5]
            i += 5
            taps = torch.stack([_padded(w[:, :, k].t(), Cp, Cp) for k in range(w.shape[2])])
            w1p = _padded(w1[:, :, 0].t(), Cp, Cp)
            tapst = taps.transpose(1, 2).contiguous() if for_kernel else None
            specs.append(_Layer(taps, tapst, _padded(b, Cp),
                                _padded(wm[:, :, 0].t(), wm.shape[1], Cp), w1p,
                                w1p.t().contiguous(), _padded(b1, Cp), d, act))
        head = torch.stack([_padded(wh[:, :, k].t(), Cp, Hp) for k in range(wh.shape[2])])
        out.append(_Array(_padded(wr[:, :, 0].t(), Cp_in, Cp), head,
                          _padded(bh, Hp) if bh is not None else None, hd, specs, (C_in, C, H)))
    return out


def _forward_stream(arrays: list[_Array], x: torch.Tensor, c: torch.Tensor,
                    head_scale: float, kernel: EffectLayerKernel | None
                    ) -> tuple[torch.Tensor, list]:
    """One stream: x (T,), c (T, 1 + P) -> its output (T,) and, per array, what the backward
    needs: the array's input rows, its head sum, and per layer its input rows and activation.
    Every tap's product is added into the pre-activation's rows it lands on by the product
    itself (rows before the stream's start read silence); each layer by ``kernel`` where
    given."""
    T = x.shape[0]
    y, head, saved = x[:, None], None, []
    for arr in arrays:
        h = y @ arr.wr  # (T, Cp)
        s = head.clone() if head is not None else torch.zeros_like(h)  # the head sum
        layers = []
        for lay in arr.layers:
            if kernel is not None:
                a, out = torch.empty_like(h), torch.empty_like(h)
                kernel.forward(h, c, lay.taps, lay.b, lay.wm, lay.w1, lay.b1, lay.d, lay.act,
                               a, s, out)
            else:
                a, out = _layer_forward(lay, h, c)
                s += a
            layers.append((h, a))
            h = out
        saved.append((y, s, layers))
        head = _taps_forward(s, arr.wh, arr.hd)  # (T, Hp)
        if arr.bh is not None:
            head += arr.bh
        y = h
    return head[:, 0] * head_scale, saved


def _taps_forward(x: torch.Tensor, taps: torch.Tensor, d: int) -> torch.Tensor:
    """sum_k x[t - (K - 1 - k) d] @ taps[k] for x (T, C), taps (K, C, H): a causal convolution
    on rows (rows before the start read silence)."""
    T, K = x.shape[0], taps.shape[0]
    out = x @ taps[K - 1]
    for k in range(K - 1):
        lag = (K - 1 - k) * d
        if lag < T:
            out[lag:].addmm_(x[:T - lag], taps[k])
    return out


def _taps_backward(x: torch.Tensor, g: torch.Tensor, taps: torch.Tensor, d: int,
                   gtaps: torch.Tensor, gx: torch.Tensor | None = None) -> torch.Tensor:
    """For :func:`_taps_forward`'s output gradient g (T, H): each tap's weight gradient added
    into gtaps (K, C, H); returns x's gradient (T, C), added into ``gx`` where given."""
    T, K = x.shape[0], taps.shape[0]
    gtaps[K - 1].addmm_(x.t(), g)
    gx = g @ taps[K - 1].t() if gx is None else gx.addmm_(g, taps[K - 1].t())
    for k in range(K - 1):
        lag = (K - 1 - k) * d
        if lag < T:
            gtaps[k].addmm_(x[:T - lag].t(), g[lag:])
            gx[:T - lag].addmm_(g[lag:], taps[k].t())
    return gx


def _layer_forward(lay: _Layer, h: torch.Tensor, c: torch.Tensor
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """A layer by torch's operations: its input rows h (T, C) -> (its activation, its output)."""
    pre = _taps_forward(h, lay.taps, lay.d)  # (T, C)
    pre += lay.b
    pre.addmm_(c, lay.wm)
    a = _act(pre, lay.act)
    out = torch.addmm(h, a, lay.w1)
    out += lay.b1
    return a, out


def _new_grads(arrays: list[_Array]) -> list:
    """Zeroed gradient accumulators in the parameters' order as the pass holds them."""
    out = []
    for arr in arrays:
        out.append([torch.zeros_like(arr.wr), torch.zeros_like(arr.wh),
                    torch.zeros_like(arr.bh) if arr.bh is not None else None,
                    [[torch.zeros_like(lay.taps), torch.zeros_like(lay.b),
                      torch.zeros_like(lay.wm), torch.zeros_like(lay.w1),
                      torch.zeros_like(lay.b1)] for lay in arr.layers]])
    return out


def _backward_stream(arrays: list[_Array], saved: list, g: torch.Tensor, c: torch.Tensor,
                     head_scale: float, grads: list, kernel: EffectLayerKernel | None) -> None:
    """One stream backward: g (T,) the gradient of its output; parameter gradients added into
    ``grads``; each layer's gradients (of its pre-activation, its weights and its input) by
    ``kernel`` where given."""
    ghead = g[:, None] * head_scale  # (T, H) the gradient of the array's head
    gy = None  # the gradient of the array's output rows (from the next array's rechannel)
    for j in reversed(range(len(arrays))):
        arr, (y, s, layers), (gwr, gwh, gbh, glayers) = arrays[j], saved[j], grads[j]
        if gbh is not None:
            gbh += ghead.sum(0)
        # (T, Cp): the head sum's gradient, every layer's activation's and the array's head's
        gs = _taps_backward(s, ghead, arr.wh, arr.hd, gwh)
        gh = gy if gy is not None else torch.zeros_like(gs)
        for lay, (h, a), (gtaps, gb, gwm, gw1, gb1) in zip(
                reversed(arr.layers), reversed(layers), reversed(glayers)):
            # gh: the gradient of the layer's output, then (in place) of its input
            if kernel is not None:
                gpre = torch.empty_like(gh)
                kernel.backward_pre(gs, gh, a, lay.w1t, lay.act, gpre, gb, gb1)
                kernel.backward_weights(h, c, a, gh, gpre, lay.d, gtaps, gwm, gw1)
                kernel.backward_input(gpre, lay.tapst, lay.d, gh)
                continue
            gw1.addmm_(a.t(), gh)
            gb1 += gh.sum(0)
            gpre = torch.addmm(gs, gh, lay.w1t)
            _act_grad(gpre, a, lay.act)
            gb += gpre.sum(0)
            gwm.addmm_(c.t(), gpre)
            _taps_backward(h, gpre, lay.taps, lay.d, gtaps, gx=gh)
        gwr.addmm_(y.t(), gh)
        gy = gh @ arr.wr.t()  # (T, C_in): the array before's output, or the input's
        ghead = gs  # the array before's head starts this array's head sum


class _Arrays(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, cond, settings, layout, head_scale, *params):
        B = x.shape[0]
        kernel = (effect_layer.load() if settings.c_kernel else None) or None  # or torch's ops
        arrays = _arrays(layout, params, kernel is not None)
        out = torch.empty_like(x)
        saved = [None] * B

        def stream(worker, n):  # one stream at a time: its rows stay in the caches
            out[n], saved[n] = _forward_stream(arrays, x[n], cond[n], head_scale, kernel)

        over_streams(workers_for(B, settings.workers), B, stream)
        ctx.arrays, ctx.saved, ctx.cond, ctx.settings = arrays, saved, cond, settings
        ctx.head_scale, ctx.kernel = head_scale, kernel
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
            _backward_stream(arrays, saved[n], gout[n], cond[n], ctx.head_scale, parts[worker],
                             ctx.kernel)
            saved[n] = None  # free as we go

        over_streams(workers, B, stream)
        total = parts[0]
        for part in parts[1:]:
            for mine, theirs in zip(_flat(total), _flat(part)):
                mine += theirs
        out = []  # the parameters' own sizes and layouts: (out, in, kernel)
        for arr, (gwr, gwh, gbh, glayers) in zip(arrays, total):
            C_in, C, H = arr.sizes
            out += [gwr[:C_in, :C].t()[:, :, None], gwh[:, :C, :H].permute(2, 1, 0).contiguous(),
                    gbh[:H] if gbh is not None else None]
            for gtaps, gb, gwm, gw1, gb1 in glayers:
                out += [gtaps[:, :C, :C].permute(2, 1, 0).contiguous(), gb[:C],
                        gwm[:, :C].t()[:, :, None], gw1[:C, :C].t()[:, :, None], gb1[:C]]
        ctx.arrays = ctx.saved = ctx.cond = ctx.kernel = None
        return (None, None, None, None, None, *out)


def _flat(grads: list) -> list[torch.Tensor]:
    """Every accumulator of a worker's gradients, in one order."""
    out = []
    for gwr, gwh, gbh, glayers in grads:
        out += [gwr, gwh] + ([gbh] if gbh is not None else [])
        for gtaps, gb, gwm, gw1, gb1 in glayers:
            out += [gtaps, gb, gwm, gw1, gb1]
    return out


__all__ = ["ACTIVATIONS", "ChunkedArrays"]
