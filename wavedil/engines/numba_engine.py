"""The numba generation engine: compiled chunks on the CPU, streams of a batch in parallel.

Same interface and results as :class:`~wavedil.engines.torch_engine.TorchEngine`. The
first call compiles the kernels (``warm_up`` times it); compiled code is cached on disk by
numba (``cache=True``), so later processes load it in about a second.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import torch

from ..model import WaveNet
from . import native
from . import numba_kernels as K
from .plan import local_biases, make_plan, static_biases

_HEAD_KIND = {"categorical": K.CATEGORICAL, "logistic_mixture": K.LOGISTIC, "gaussian": K.GAUSSIAN}


def _np(t: torch.Tensor | None, shape=None) -> np.ndarray:
    if t is None:
        return np.zeros(shape or (1,), np.float32)
    return np.ascontiguousarray(t.detach().cpu().float().numpy())


class NumbaEngine:
    """Incremental WaveNet inference on the CPU for ``batch_size`` streams; owns its cache."""

    name = "numba"

    def __init__(self, model: WaveNet, batch_size: int, speaker: torch.Tensor | None = None,
                 use_c: bool = True) -> None:
        """``use_c=False`` keeps to numba's own loops even where the C kernel builds."""
        self.head = model.head
        p = make_plan(model)
        self.batch_size = B = batch_size
        C, G2, L = p.residual_channels, p.gate_half, p.n_layers
        k = model.config.kernel_size
        wc = np.stack([_np(l.w_cur) for l in p.layers])[:, None]  # (L, 1, C, 2G2)
        wp = (np.stack([_np(l.w_past) for l in p.layers]) if k > 1
              else np.zeros((L, 0, C, 2 * G2), np.float32))  # (L, k-1, C, 2G2)
        self.wk = np.ascontiguousarray(np.concatenate([wp, wc], 1).reshape(L, k * C, 2 * G2))
        self.wr = np.stack([_np(l.w_res) if l.w_res is not None else np.zeros((G2, C), np.float32)
                            for l in p.layers])  # (L, G2, C)
        self.br = np.stack([_np(l.b_res) if l.b_res is not None else np.zeros(C, np.float32)
                            for l in p.layers])  # (L, C)
        self.ws, self.bs = _np(p.w_skip), _np(p.b_skip)
        self.w1, self.b1, self.w2, self.b2 = _np(p.w_out1), _np(p.b_out1), _np(p.w_out2), _np(p.b_out2)
        self.embed, self.embed_bias = _np(p.embed), _np(p.embed_bias, (C,))
        self.plan = p
        # the products' kernel: C on panel-packed weights when every output width allows it,
        # C on plain weights, or numba loops (address 0)
        self.gemm = native.gemm_address() if use_c else 0
        widths = (2 * G2, C, self.ws.shape[1], self.w2.shape[1])
        if self.gemm and all(w % native.PANEL == 0 for w in widths):
            self.gemm = native.gemm_address(packed=True)
            self.wk, self.wr, self.ws, self.w1, self.w2 = (
                native.pack(w) for w in (self.wk, self.wr, self.ws, self.w1, self.w2))
        self.span = np.array([(l.kernel_size - 1) * l.dilation for l in p.layers], np.int64)
        self.dil = np.array([l.dilation for l in p.layers], np.int64)
        sizes = self.span * B * C
        self.off = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.buf = np.zeros(int(sizes.sum()), np.float32)
        self.static = _np(static_biases(p, B, speaker))  # (L, B, 2G2)
        self.inp = np.zeros((B, C), np.float32)
        self.t = 0
        self.head_kind = _HEAD_KIND[self.head.kind]
        self.log_scale_min = float(getattr(self.head, "log_scale_min", 0.0))

    def state_numel(self) -> int:
        """Values held in the cache: the sum over layers of (k - 1) * d * B * C."""
        return int(self.buf.size)

    def set_input(self, values: torch.Tensor) -> None:
        """Set the next input from head-space values (B,): class ids or samples."""
        vals = values.detach().cpu().double().numpy()
        for b in range(self.batch_size):
            K._embed(vals[b], self.inp[b], self.plan.input_kind == "classes", self.head_kind,
                     self.embed, self.embed_bias, self.plan.classes)

    def run(self, n: int, cond: torch.Tensor | None = None, u: torch.Tensor | None = None,
            temperature: float = 1.0, forced: torch.Tensor | None = None,
            return_logits: bool = False):
        """Advance ``n`` steps; arguments and results as ``TorchEngine.run``."""
        B, O = self.batch_size, self.head.out_channels
        has_local = cond is not None
        local = (_np(local_biases(self.plan, cond)) if has_local
                 else np.zeros((1, 1, 1, 1), np.float32))
        uni = _np(u) if u is not None else np.zeros((1, 1, 1), np.float32)
        uni = uni.astype(np.float64)
        fc = (forced.detach().cpu().double().numpy() if forced is not None
              else np.zeros((1, 1)))
        values = np.empty((B, n), np.float64)
        logits = np.empty((n, B, O) if return_logits else (1, 1, 1), np.float32)
        K.run_chunk(self.gemm, n, self.t, self.buf, self.off, self.span, self.dil, self.inp,
                    self.wk, self.wr, self.br, self.static, local, has_local, self.ws, self.bs, self.w1,
                    self.b1, self.w2, self.b2, uni, float(temperature), fc, forced is not None,
                    self.head_kind, self.log_scale_min, self.plan.input_kind == "classes",
                    self.embed, self.embed_bias, float(self.plan.classes), values, logits,
                    return_logits, min(B, numba.get_num_threads()))
        self.t += n
        out = torch.from_numpy(values)
        out = out.float() if self.head.continuous else out.long()
        if forced is not None:
            out = forced.cpu()
        return (out, torch.from_numpy(logits)) if return_logits else out


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel; returns the seconds it took."""
    from ..model import WaveNetConfig

    start = time.perf_counter()
    for head in ("categorical", "logistic_mixture", "gaussian"):
        model = WaveNet(WaveNetConfig(layers=2, residual_channels=4, gate_channels=4,
                                      skip_channels=4, head=head, mixtures=2))
        eng = NumbaEngine(model, 1)
        eng.run(2, u=torch.rand(2, 1, model.head.n_uniforms))
    return time.perf_counter() - start
