"""The PyTorch generation engine: eager tensor ops, one sample per step, any device.

Per layer and step it runs six small ops (two matmuls for the conv taps, the ring-buffer
write, tanh, GLU, the residual matmul); skips are projected once per step for all layers
together. The ring buffers are time-major, (span, B, C), so reading and writing one time
step is a contiguous (B, C) slice and nothing is ever shifted.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ..audio import mulaw_decode
from ..model import WaveNet
from .plan import local_biases, make_plan, static_biases


class TorchEngine:
    """Incremental WaveNet inference for ``batch_size`` streams; owns its cache.

    Two rewrites keep the step lean: every intermediate tensor is preallocated and written
    with ``out=``, and the residual biases are folded into the next layers' conv biases
    (the residual stream is carried without them; each ring buffer starts at minus the
    folded bias, so its taps read the forward pass's zero padding).
    """

    name = "torch"

    def __init__(self, model: WaveNet, batch_size: int, speaker: torch.Tensor | None = None) -> None:
        self.head = model.head
        self.plan = p = make_plan(model)
        self.batch_size = B = batch_size
        dev, C, G2 = p.embed.device, p.residual_channels, p.gate_half
        L = p.n_layers
        # cumulative residual bias entering each layer, folded into that layer's conv bias
        beta = torch.zeros(C, device=dev)
        fold = []
        self.buffers = []
        for layer in p.layers:
            w_all = layer.w_cur + (layer.w_past.sum(0) if layer.w_past is not None else 0)
            fold.append(beta @ w_all)
            span = (layer.kernel_size - 1) * layer.dilation
            self.buffers.append((-beta).expand(span, B, C).contiguous())  # (span, B, C)
            if layer.b_res is not None:
                beta = beta + layer.b_res
        self.fold = torch.stack(fold)[:, None, :]  # (L, 1, 2G2)
        self.t = 0
        self.static = (static_biases(p, B, speaker) + self.fold).contiguous()  # (L, B, 2G2)
        self.inp = torch.zeros(B, C, device=dev)
        self.h = torch.empty(L, B, 2 * G2, device=dev)
        self.z = torch.empty(B, L * G2, device=dev)
        self.zs = [self.z[:, i * G2:(i + 1) * G2] for i in range(L)]
        self.filters = [self.h[i, :, :G2] for i in range(L)]
        self.xs = torch.empty(L, B, C, device=dev)

    def state_numel(self) -> int:
        """Values held in the cache: the sum over layers of (k - 1) * d * B * C."""
        return sum(b.numel() for b in self.buffers)

    def set_input(self, values: torch.Tensor) -> None:
        """Set the next input from head-space values (B,): class ids or samples."""
        p = self.plan
        if p.input_kind == "classes":
            self.inp = F.embedding(values, p.embed)
        else:
            x = mulaw_decode(values, p.classes) if not self.head.continuous else values
            self.inp = torch.addmm(p.embed_bias, x.to(p.embed)[:, None], p.embed)

    def _logits(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """One step from the embedded input x (B, C) and per-layer biases (L, B, 2G2)."""
        p, t, glu = self.plan, self.t, torch.ops.aten.glu.out
        for i, layer in enumerate(p.layers):
            h = torch.addmm(bias[i], x, layer.w_cur, out=self.h[i])  # (B, 2G2)
            if layer.w_past is not None:
                buf, d = self.buffers[i], layer.dilation
                span = buf.shape[0]
                for j in range(layer.kernel_size - 1):
                    h.addmm_(buf[(t + j * d) % span], layer.w_past[j])
                buf[t % span].copy_(x)
            self.filters[i].tanh_()
            z = glu(h, 1, out=self.zs[i])  # tanh(filter) * sigmoid(gate): (B, G2)
            if layer.w_res is not None:
                x = torch.addmm(x, z, layer.w_res, out=self.xs[i])
        self.t += 1
        s = torch.addmm(p.b_skip, self.z, p.w_skip).relu_()
        s = torch.addmm(p.b_out1, s, p.w_out1).relu_()
        return torch.addmm(p.b_out2, s, p.w_out2)

    @torch.inference_mode()
    def run(self, n: int, cond: torch.Tensor | None = None, u: torch.Tensor | None = None,
            temperature: float = 1.0, forced: torch.Tensor | None = None,
            return_logits: bool = False):
        """Advance ``n`` steps. cond: upsampled conditioning (B, Cc, n); u: uniforms (n, B, k);
        forced: (B, n) head-space values to feed instead of sampling (teacher forcing).
        Returns the values fed next, (B, n), and with return_logits the logits (n, B, out)."""
        # (n, L, B, 2G2): the conditioning's share of every step, summed once per chunk
        biases = (local_biases(self.plan, cond) + self.static) if cond is not None else None
        values, logits_all = [], []
        for i in range(n):
            logits = self._logits(self.inp, self.static if biases is None else biases[i])
            if return_logits:
                logits_all.append(logits)
            v = forced[:, i] if forced is not None else self.head.sample(logits, u[i], temperature)
            self.set_input(v)
            values.append(v)
        out = torch.stack(values, 1) if values else torch.empty(self.batch_size, 0)
        return (out, torch.stack(logits_all)) if return_logits else out
