"""The numba generation engine: compiled chunks on the CPU, streams of a batch in parallel.

Same interface and results as :class:`~wavedil.wavenet.engines.torch_engine.TorchEngine`. The
first call compiles the kernels (``warm_up`` times it); compiled code is cached on disk by
numba (``cache=True``), so later processes load it in about a second.

A model with sample features (pitch taps, LP excitation) has them computed inside the compiled
loop from the engine's history ring, the same array as ``state.history`` that
``Engine.set_input`` and the torch engine write, so the engines can take turns on one state.
"""

from __future__ import annotations

import time

import numba
import numpy as np
import torch

from ..excitation import SampleContext
from ..model import WaveNet
from ...native import kernel as native
from . import numba_kernels as K
from ..plan import local_biases
from .engine import Engine

_HEAD_KIND = {"categorical": K.CATEGORICAL, "logistic_mixture": K.LOGISTIC, "gaussian": K.GAUSSIAN}


class NumbaEngine(Engine):
    """Incremental WaveNet inference on the CPU for ``batch_size`` streams; owns its state.

    ``kernel`` does the matrix products: a :class:`~wavedil.native.kernel.Kernel`, or numba's
    own loops where it is :class:`~wavedil.native.kernel.Unavailable` (default:
    :func:`~wavedil.native.kernel.load`'s result). ``threads``: how many of numba's threads
    the engine uses (None: all of them, at each call): a batch's streams are split into that
    many groups, one per thread; a single stream has its steps shared by two threads where
    ``threads`` >= 2 and the model's widths allow it (``paired``), else runs on one. The
    samples are the same bit for bit whatever the threads (``tests/test_native.py``); the
    planner (``planner.py``) measures which is fastest on the machine."""

    name = "numba"

    def __init__(self, model: WaveNet, batch_size: int, speaker: torch.Tensor | None = None,
                 kernel: native.Kernel | native.Unavailable | None = None,
                 weights: str = "fp32", threads: int | None = None) -> None:
        super().__init__(model, batch_size, speaker, weights)
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 (or None: all of numba's), got {threads}")
        self.threads = threads
        self.kernel = kernel = native.load() if kernel is None else kernel
        p, B, C = self.plan, batch_size, self.plan.residual_channels
        arrays = [t.numpy() for t in (p.w_taps, p.w_res, p.b_res, p.w_skip, p.b_skip, p.w_out1,
                                      p.b_out1, p.w_out2, p.b_out2, p.embed, p.embed_bias)]
        gemm = kernel.gemm
        # the packed form of the C kernel where every output width allows it
        widths = (p.w_taps.shape[2], C, p.w_skip.shape[1], p.w_out2.shape[1])
        dot = weights == "bf16-dot"
        self.compact = False
        """Whether the large matrices are held in bfloat16 (weights="bf16" or "bf16-dot" with
        the C kernel's packed form); otherwise bf16 weights are held as float32 copies of the
        same values."""
        fmt = 0
        if kernel.packed and all(w % native.PANEL == 0 for w in widths):  # then every K is even
            if dot:
                self.compact, fmt, gemm = True, 3, kernel.gemm_packed_dot
                pairs = native.pack_pairs if kernel.dot_native else native.pack_bf16
                pack = lambda w: pairs(native.to_bf16(w))  # noqa: E731
            elif weights == "bf16" and kernel.compact:
                self.compact, fmt, gemm = True, 2, kernel.gemm_packed_bf16
                pack = lambda w: native.pack_bf16(native.to_bf16(w))  # noqa: E731
            else:
                fmt, gemm, pack = 1, kernel.gemm_packed, native.pack
            for i in (0, 1, 3, 5, 7):  # taps, res, skip, out1, out2
                arrays[i] = pack(arrays[i])
        self.packed = fmt != 0
        """Whether the C kernel multiplies this model's matrices in panels (every output
        width a whole number of them): only then are bfloat16 weights held in half the
        bytes."""
        rounding = dot and fmt != 3  # numba's loops round the products' inputs
        if rounding:
            gemm = 0
        if not self.compact:  # float32 matrices as 16-bit words too: one type, one compilation
            for i in (0, 1, 3, 5, 7):
                arrays[i] = np.ascontiguousarray(arrays[i], np.float32).view(np.uint16)
        L2G = p.n_layers * p.w_taps.shape[2]
        features = p.features
        lags = features.lags if features is not None else []
        arrays += [p.w_sample.numpy() if p.w_sample is not None else np.zeros((0, L2G), np.float32),
                   np.array(lags, np.int64)]
        self.weights = K.Weights(*arrays)
        self.layout = (p.offsets.numpy() * B * C, p.spans.numpy(), np.array(p.dilations, np.int64))
        self.static_np = np.ascontiguousarray(self.static.numpy())  # (L, B or 1, 2G)
        S, O = p.w_skip.shape[1], p.w_out2.shape[1]
        self.pairable = (B == 1 and self.packed and features is None and kernel.pair != 0
                         and p.w_taps.shape[2] % 64 == 0 and C % 32 == 0 and S % 32 == 0
                         and O % 32 == 0)
        """Whether the widths and kernel allow this engine's one stream to have its steps
        shared by two threads (``stack.c``'s wd_pair_step: the same samples, bit for bit)."""
        self.paired = self.pairable and (threads is None or threads >= 2)
        """Whether the one stream has its steps shared by two threads where numba has two;
        ``paired = False`` keeps it on one."""
        self.flags = np.zeros(24, np.int64)
        self.options = dict(gemm=gemm, stack=0 if rounding else kernel.stack,
                            sampler=kernel.sampler, pair=kernel.pair, pair_join=kernel.pair_join,
                            format=fmt, words=1 if self.compact else 2, round_inputs=rounding,
                            head_kind=_HEAD_KIND[self.head.kind],
                            log_scale_min=float(getattr(self.head, "log_scale_min", 0.0)),
                            input_classes=p.input_kind == "classes", mulaw_input=p.mulaw_input,
                            classes=float(p.classes),
                            means_lo=p.means.start if p.means is not None else 0,
                            means_hi=p.means.stop if p.means is not None else 0,
                            ltp_window=features.window if features is not None else 0,
                            scales_lo=p.scales.start if p.scales is not None else 0,
                            scales_hi=p.scales.stop if p.scales is not None else 0,
                            gains=p.gains)

    def _context(self, n: int, context: SampleContext | None) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's sample context as the kernel reads it: periods (n, B) int64 and LP
        coefficients (n, B, p) float32, empty where the model lacks them."""
        B, features = self.batch_size, self.plan.features
        periods, coeffs = np.zeros((0, B), np.int64), np.zeros((n, B, 0), np.float32)
        if features is None:
            return periods, coeffs
        if context is None:
            raise ValueError("this model computes sample features (pitch_lags, lpc_order) and "
                             "needs their context: WaveNet.sample_context(frames)")
        for name, got in (("periods", context.periods), ("coeffs", context.coeffs)):
            if got is not None and tuple(got.shape[:2]) != (B, n):
                raise ValueError(f"sample context {name} of shape {tuple(got.shape)}, expected "
                                 f"(B={B}, n={n}, ...)")
        if features.lags:
            periods = np.ascontiguousarray(context.periods.cpu().numpy().T, np.int64)  # (n, B)
        if features.order:
            coeffs = np.ascontiguousarray(  # (n, B, p)
                context.coeffs.cpu().numpy().transpose(1, 0, 2), np.float32)
        return periods, coeffs

    def _run(self, n: int, cond: torch.Tensor | None, context: SampleContext | None,
             uniforms: np.ndarray, values: np.ndarray, logits: np.ndarray, forcing: bool,
             temperature: float | torch.Tensor) -> None:
        B, L, G = self.batch_size, self.plan.n_layers, self.plan.w_taps.shape[2]
        local = (local_biases(self.plan, cond, n).numpy() if cond is not None
                 else np.zeros((0, L, B, G), np.float32))
        periods, coeffs = self._context(n, context)
        if torch.is_tensor(temperature):  # one per draw
            if tuple(temperature.shape) != (n, B):
                raise ValueError(f"temperatures of shape {tuple(temperature.shape)}, expected "
                                 f"(n={n}, B={B})")
            temperatures = np.ascontiguousarray(temperature.cpu().numpy(), np.float64)
            temperature = 1.0
        else:
            temperatures = np.zeros((0, B), np.float64)
            temperature = float(temperature)
        # the torch state's own arrays, so that set_input and the torch engine see every write
        history = (self.state.history.numpy() if self.state.history is not None
                   else np.zeros((B, 0), np.float32))
        self.flags[:] = 0
        state = K.State(self.state.ring.numpy().reshape(-1), self.state.next_input.numpy(),
                        history, *self.layout, self.flags)
        threads = numba.get_num_threads()
        threads = threads if self.threads is None else min(self.threads, threads)
        options = dict(self.options)
        if not (self.paired and threads >= 2):
            options["pair"] = 0
        K.run_chunk(n, self.state.t, self.weights, state,
                    K.Chunk(self.static_np, local, periods, coeffs, uniforms, values, logits,
                            temperatures),
                    K.Options(forcing=forcing, temperature=temperature, **options),
                    min(B, threads))
        if options["pair"] and 0 in self.flags[20:22]:  # both parts write their role
            self.paired = False  # the pool ran both parts on one thread: it waited in vain
        self.state.t += n

    def sample(self, n: int, u: torch.Tensor, cond: torch.Tensor | None = None,
               temperature: float | torch.Tensor = 1.0,
               context: SampleContext | None = None) -> torch.Tensor:
        """As :meth:`TorchEngine.sample <wavedil.wavenet.engines.torch_engine.TorchEngine.sample>`."""
        B, O = self.batch_size, self.head.out_channels
        values = np.empty((B, n), np.float64)
        self._run(n, cond, context, np.ascontiguousarray(u.cpu().numpy(), np.float64), values,
                  np.zeros((0, B, O), np.float32), False, temperature)
        out = torch.from_numpy(values)
        return out.float() if self.head.continuous else out.long()

    def force(self, values: torch.Tensor, cond: torch.Tensor | None = None,
              context: SampleContext | None = None) -> torch.Tensor:
        """As :meth:`TorchEngine.force <wavedil.wavenet.engines.torch_engine.TorchEngine.force>`."""
        B, n, O = self.batch_size, values.shape[1], self.head.out_channels
        logits = np.empty((n, B, O), np.float32)
        self._run(n, cond, context, np.zeros((0, B, self.head.n_uniforms)),
                  np.array(values.cpu().numpy(), np.float64, order="C"), logits, True, 1.0)
        return torch.from_numpy(logits)


def warm_up() -> float:
    """Compile (or load from numba's cache) every kernel, the compact-weight one too where
    the C kernel has it; returns the seconds it took."""
    from ..model import WaveNetConfig

    start = time.perf_counter()
    for head in ("categorical", "logistic_mixture", "gaussian"):
        model = WaveNet(WaveNetConfig(layers=2, residual_channels=16, gate_channels=32,
                                      skip_channels=16, head=head, mixtures=2))
        for weights in ("fp32", "bf16", "bf16-dot") if native.load().compact else ("fp32",):
            eng = NumbaEngine(model, 1, weights=weights)
            eng.sample(2, torch.rand(2, 1, model.head.n_uniforms))
    return time.perf_counter() - start
