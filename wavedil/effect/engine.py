"""The compiled CPU engine of effect models: an :class:`~wavedil.effect.model.EffectNet` run by
numba kernels (:mod:`wavedil.effect.kernels`) with the C matrix kernel of
``gemm.c``, on one thread, as a plugin's audio thread would run it.

It computes what :meth:`EffectNet.stream <wavedil.effect.model.EffectNet.stream>` computes, to
float precision (the products are summed in another order, tanh is a rational function
with an error below 3e-7), and every value in the same arithmetic wherever it stands in a
block, so that the output does not depend on the block size, bit for bit, and a silent input
gives an exactly constant output (:data:`~wavedil.effect.kernels.PANEL`). It has its
own state object that the caller holds::

    engine = EffectEngine(model)
    state = engine.init_state()            # the state silence leaves, as the model's own
    y = engine.stream(block, state)        # (T,) or (B, T) numpy float32, any length

The first use in a process compiles the kernels (numba caches them on disk, so later
processes load them in about a second). Without numba the effect runs on torch
(:func:`wavedil.effect.process.process` picks the engine).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .layer import torch_only
from .model import EffectNet, head_taps
from ..native import kernel as native

ROUTES = ("auto", "panels", "narrow")
"""How the engine runs blocks that are no whole number of panels (see ``route_for``)."""
F_DEFAULT = 1024
"""Free history columns per layer: blocks up to this long run in one pass, and every layer
moves its past to the front once per this many samples. Fewer columns keep the histories that
the blocks walk through small (NAM's standard model: 1.2 MB of them, where 4,096 columns made
4.1 MB), which pays at every block size; far fewer (256) rewind too often."""


@dataclass
class CompiledEffectState:
    """Streaming state of an :class:`EffectEngine`: every layer's history, per stream."""

    history: np.ndarray
    """(B, S) float32: stream b's layers' histories, one after another (see effect_kernels)."""
    cursor: int
    """Where the past starts in every layer's history."""
    controls: np.ndarray
    """(B, P) float32: each stream's control values (constant for a stream)."""
    samples: int = 0
    """Input samples streamed so far."""

    @property
    def batch_size(self) -> int:
        return self.history.shape[0]


class EffectEngine:
    """An effect model's weights laid out for the compiled kernels, and the means to stream.

    ``free``: free history columns per layer (the longest block run in one pass; longer
    blocks are split). ``kernel``: the C kernel (default :func:`native.load`'s), or numba's
    loops where it is :class:`~wavedil.native.kernel.Unavailable`. ``route``: how blocks that
    are no whole number of panels run (:meth:`route_for`; every route gives the same output
    bit for bit)."""

    name = "compiled"

    def __init__(self, model: EffectNet, free: int = F_DEFAULT,
                 kernel: native.Kernel | native.Unavailable | None = None,
                 route: str = "auto") -> None:
        from . import kernels as K

        if free < 1:
            raise ValueError(f"EffectEngine: free must be >= 1, got {free}")
        why = self.unsupported(model)
        if why:
            raise ValueError(f"the compiled effect engine cannot run this model: {why}; use "
                             "the torch engine")
        if route not in ROUTES:
            raise ValueError(f"EffectEngine: route must be one of {', '.join(ROUTES)}, got "
                             f"{route!r}")
        self.model, self.free, self._K, self.route = model, free, K, route
        self.routes: dict[int, tuple[str, str]] = {}
        """The route of each block size used so far, and how it was chosen."""
        self.kernel = native.load() if kernel is None else kernel
        self._rows = np.array([self.kernel.rows_affine, self.kernel.rows_bias,
                               self.kernel.rows_add, self.kernel.rows_act], np.int64)
        config = model.config
        weights: list[np.ndarray] = []
        transposed: list[np.ndarray] = []  # the same, every matrix transposed: the narrow route's
        size = 0

        def flat(t: torch.Tensor) -> np.ndarray:
            return t.detach().to("cpu", torch.float32).contiguous().numpy().reshape(-1)

        def put(t: torch.Tensor | None, t_transposed: torch.Tensor | None = None) -> int:
            nonlocal size
            if t is None:
                return -1
            weights.append(flat(t))
            transposed.append(flat(t if t_transposed is None else t_transposed))
            size, at = size + weights[-1].size, size
            return at

        layers, arrays, hist = [], [], 0
        mid_max = c_max = 1
        for ai, (spec, array) in enumerate(zip(config.arrays, model.arrays)):
            C, H = spec["channels"], spec["head_size"]
            first = len(layers)
            for d, layer in zip(spec["dilations"], array.layers):
                conv = layer.conv.conv
                mid, k = conv.out_channels, conv.kernel_size[0]
                R = (k - 1) * d
                # conv weight (mid, C, K) stored tap by tap: (K, mid, C)
                w1 = layer.layer1x1.weight[:, :, 0]
                row = [C, mid, k, d, put(conv.weight.permute(2, 0, 1), conv.weight.permute(2, 1, 0)),
                       put(conv.bias), put(layer.mixer.weight[:, :, 0]), put(w1, w1.T),
                       put(layer.layer1x1.bias), hist, R,
                       K.ACTIVATION_CODES[spec["activation"]], int(spec["gated"])]
                layers.append(row)
                hist += C * (R + free + K.PANEL)
                mid_max, c_max = max(mid_max, mid), max(c_max, C, H)
            wre, whead = array.rechannel.weight[:, :, 0], array.head_rechannel.weight
            hk, hd = head_taps(spec)
            RH = (hk - 1) * hd  # the head sum's past a head convolution reads (0: 1x1)
            # head weight (H, C, hk) stored tap by tap: (hk, H, C)
            arrays.append([array.rechannel.in_channels, C, H, put(wre, wre.T),
                           put(whead.permute(2, 0, 1), whead.permute(2, 1, 0)),
                           put(array.head_rechannel.bias), first, len(spec["dilations"]),
                           hk, hd, hist, RH])
            if RH:
                hist += C * (RH + free + K.PANEL)
        self.w = np.concatenate(weights).astype(np.float32)
        self.wt = np.concatenate(transposed).astype(np.float32)
        self.layers = np.array(layers, np.int64).reshape(-1, K.N_LAYER)
        self.arrays = np.array(arrays, np.int64).reshape(-1, K.N_ARRAY)
        self.history_size = hist
        self.work = (mid_max, c_max)
        self.head_scale = np.float32(config.head_scale)

    @staticmethod
    def unsupported(model: EffectNet) -> str:
        """Why this engine cannot run ``model`` ("" where it can): it runs layer arrays that
        read the input (and controls), in the layout of NAM's first WaveNets (no FiLM, groups,
        bottleneck, head 1x1 or gating modes: :func:`wavedil.effect.layer.torch_only`)."""
        if model.lstm is not None:
            return "it is an LSTM (config.lstm)"
        why = []
        if model.condition_dsp is not None:
            why.append("it has a condition DSP (config.condition_dsp)")
        for i, spec in enumerate(model.config.arrays):
            features = torch_only(spec)
            if features:
                why.append(f"it uses {', '.join(features)} (config.arrays[{i}])")
        return "; ".join(why)

    def route_for(self, block: int) -> str:
        """How blocks of ``block`` samples run their products: "panels" (every product over
        whole panels of PANEL columns) or "narrow" (the columns past the whole panels by the
        C kernel's narrow route), the same output bit for bit; with route "auto" the planner's
        choice (``planner.py``: measured on first use, then cached)."""
        if block not in self.routes:
            if self.route == "auto":
                from .planner import decide

                self.routes[block] = decide(self, block)
            else:
                self.routes[block] = (self.route, f"route={self.route!r}")
        return self.routes[block][0]

    def run_blocks(self, x: np.ndarray, state: CompiledEffectState, block: int,
                   route: str) -> np.ndarray:
        """``stream``'s kernel call: x (B, T) float32, contiguous, in blocks of ``block`` (at
        most ``free``) by ``route``; the state's cursor advances, its sample count does not."""
        y = np.empty_like(x)
        narrow = self.kernel.gemm_narrow if route == "narrow" else 0
        k = self.kernel
        state.cursor = int(self._K.run(k.gemm, k.gemm_taps, narrow, self._rows, x, y, block,
                                       self.w, self.wt, self.layers, self.arrays, state.controls,
                                       state.history, state.cursor, self.free, self.head_scale,
                                       self.work))
        return y

    @property
    def status(self) -> str:
        return f"compiled effect engine, products by {self.kernel.status}"

    def _controls(self, batch_size: int, controls) -> np.ndarray:
        P = self.model.config.controls
        if controls is None:
            if P:
                raise ValueError(f"EffectEngine: this model needs {P} control values per signal")
            return np.zeros((batch_size, 0), np.float32)
        c = np.asarray(controls.detach().cpu() if isinstance(controls, torch.Tensor) else controls,
                       np.float32)
        if c.ndim == 1:
            c = np.broadcast_to(c, (batch_size, c.shape[0]))
        if c.shape != (batch_size, P):
            raise ValueError(f"EffectEngine: expected controls of shape ({batch_size}, {P}), "
                             f"got {c.shape}")
        return np.ascontiguousarray(c)

    def blank_state(self) -> CompiledEffectState:
        """One stream's state with a zero history and zero controls, not warmed up (for
        timing: ``planner.py``)."""
        return CompiledEffectState(np.zeros((1, self.history_size), np.float32), 0,
                                   np.zeros((1, self.model.config.controls), np.float32))

    def init_state(self, batch_size: int = 1, controls=None) -> CompiledEffectState:
        """The state after receptive_field - 1 samples of silence (as
        :meth:`EffectNet.init_state <wavedil.effect.model.EffectNet.init_state>`)."""
        if batch_size < 1:
            raise ValueError(f"EffectEngine: batch_size must be >= 1, got {batch_size}")
        state = CompiledEffectState(np.zeros((batch_size, self.history_size), np.float32), 0,
                                    self._controls(batch_size, controls))
        self.stream(np.zeros((batch_size, self.model.receptive_field - 1), np.float32), state)
        state.samples = 0
        return state

    def stream(self, x: np.ndarray, state: CompiledEffectState,
               block: int | None = None) -> np.ndarray:
        """A block of any length, (T,) or (B, T) float32 -> the same shape; joined blocks equal
        the model's forward of the whole signal. ``block``: run it in pieces of this many
        samples (as a plugin's callbacks would; default: at most ``free`` at a time)."""
        x = np.asarray(x, np.float32)
        one = x.ndim == 1
        x2 = np.ascontiguousarray(x[None] if one else x)
        if x2.ndim != 2 or x2.shape[0] != state.batch_size:
            raise ValueError(f"EffectEngine.stream: expected ({state.batch_size}, T) input for "
                             f"this state, got {x.shape}")
        if state.history.shape[1] != self.history_size:
            raise ValueError("EffectEngine.stream: the state was made for another model")
        block = self.free if block is None else block
        if block < 1:
            raise ValueError(f"EffectEngine.stream: block must be >= 1, got {block}")
        block = min(block, self.free)
        y = self.run_blocks(x2, state, block, self.route_for(block))
        state.samples += x2.shape[1]
        return y[0] if one else y

    def forward(self, x: np.ndarray, controls=None, block: int | None = None) -> np.ndarray:
        """The whole signal from a fresh state (as the model's forward), in blocks."""
        x = np.asarray(x, np.float32)
        state = self.init_state(1 if x.ndim == 1 else x.shape[0], controls)
        return self.stream(x, state, block)


__all__ = ["CompiledEffectState", "EffectEngine", "F_DEFAULT", "ROUTES"]
