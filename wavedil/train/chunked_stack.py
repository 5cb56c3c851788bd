"""The training pass of a stack of gated residual blocks on the CPU, in pieces of time.

The plain forward runs every block over the whole batch at once: each convolution and each
element-wise step reads and writes activations of B x T x channels floats that no cache holds,
and the backward does the same again. Here one autograd function runs the whole stack: each
block goes over the sequence in pieces of about 1 MB of pre-activations of one stream, so the
pieces' pre-activations, gates and products stay in the caches between the matrix products that
make and use them, and the skip sum is accumulated in place (its gradient is the same for every
block). Everything is on (T, C) rows of one stream, the layout the matrix products want, and
the streams of a batch are independent until their parameter gradients are added: so each
stream goes through the whole stack on one of ``workers`` threads (one per torch thread), each
thread's torch operations on one core, instead of every small product and element-wise step
being split between the cores and joined again:

    pre[t]  = sum_k h[t - (K - 1 - k) d] @ W_k + b  (+ cond[t] @ W_local + g)   (rows, G)
    z[t]    = tanh(pre_a[t]) * sigmoid(pre_b[t])                            (rows, G / 2)
            = (2 sigmoid(2 pre_a[t]) - 1) * sigmoid(pre_b[t])
    skip[t] += z[t] @ W_skip + b_skip;  out[t] = h[t] + z[t] @ W_res + b_res

The gate is GatedResidualBlock's (``residual.py``) written again on rows, as a kernel; the
results are those of the blocks' own forward and backward to float rounding
(``tests/test_chunked_stack.py``); ``benchmarks/training.py`` times both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable

from ..native import gate as gate_kernel
from ..native.gate import GateKernel
from ..nn.blocks.residual import GatedResidualBlock
from . import chunked_bf16
from .pieces import lagged, over_streams, piece_length, pieces, scratch, workers_for

# per block: conv weight and bias, local weight, global vector, res w and b, skip w and b, dilation
_PER_BLOCK = 9


@dataclass(frozen=True)
class ChunkedStack:
    """The chunked pass, as the training objective hands it to ``WaveNet.forward(...,
    stack=)``: called with the blocks and their inputs, it returns their skip sum, or None
    where it does not apply (:meth:`applies`) and the blocks' own forward must run."""

    piece_bytes: int = 1 << 20
    """Pre-activations per piece: 1 MB (2048 time steps of config A's 128 gate channels) stays
    in the caches, and the matrix products are still long enough to run near the FMA peak."""
    min_stream_values: int = 1 << 16
    """Pre-activations per stream (time steps x gate channels) below which the blocks' own
    pass is kept: for small models on short crops (the tests' models) the Python loop over the
    pieces costs more than the caches save; the quickstart recipe (2,048 x 64) is above it."""
    c_gate: bool = True
    """Whether a float32 pass does the gate (forward and backward) with the C kernel of
    ``gate.c`` where it builds (``native.gate.load``), rather than torch's element-wise
    operations; a float64 pass always uses torch's."""
    workers: int | None = None
    """Threads that run the streams of a batch side by side (each stream's work on one of
    them); None: one per ``torch.get_num_threads()``."""

    def applies(self, blocks, h: torch.Tensor) -> bool:
        """Whether the chunked pass computes what ``blocks`` would for input ``h`` (B, C, T):
        a CPU float32 or float64 pass with gradients, outside torch.compile and outside
        autocast, or under the CPU's bfloat16 autocast with the C gate kernel built (then the
        products run in bfloat16: :mod:`chunked_bf16`); every block a causal, ungrouped,
        biased gated block without dropout, and each stream at least ``min_stream_values``
        pre-activations long. (Its backward is not itself differentiable: a second-order
        gradient through it raises.)"""
        if not (torch.is_grad_enabled() and h.device.type == "cpu" and len(blocks)
                and not torch.compiler.is_compiling()):
            return False
        if torch.is_autocast_enabled("cpu"):
            if (not _low_precision() or h.dtype not in (torch.float32, torch.bfloat16)
                    or not gate_kernel.load()):
                return False
        elif h.dtype not in (torch.float32, torch.float64):
            return False
        for blk in blocks:
            if type(blk) is not GatedResidualBlock or (blk.training and blk.dropout > 0):
                return False
            conv = blk.conv
            if not conv.causal or conv.groups != 1 or conv.bias is None:
                return False
        return h.dim() == 3 and h.shape[2] * blocks[0].conv.out_channels >= self.min_stream_values

    def __call__(self, blocks, h: torch.Tensor, local: torch.Tensor | None = None,
                 speaker: torch.Tensor | None = None) -> torch.Tensor | None:
        """The blocks' skip sum (B, S, T) for h (B, C, T) by this pass, or None where it does
        not apply."""
        return run_stack(blocks, h, local, speaker, self) if self.applies(blocks, h) else None


def run_stack(blocks, h: torch.Tensor, local: torch.Tensor | None = None,
              speaker: torch.Tensor | None = None,
              settings: ChunkedStack = ChunkedStack()) -> torch.Tensor:
    """h (B, C, T), local (B, C_local, T), speaker (B, C_global) -> the blocks' skip sum
    (B, S, T), as ``sum(block(h_i, local, speaker)[1])`` over the blocks in turn."""
    inputs = []
    for blk in blocks:
        if (local is None) != (blk.local is None) or (speaker is None) != (blk.glob is None):
            raise ValueError("run_stack: local and global conditioning must be given exactly when "
                             "the blocks have local_channels and global_channels > 0")
        inputs += [blk.conv.weight, blk.conv.bias,
                   blk.local.weight if blk.local is not None else None,
                   blk.glob(speaker) if blk.glob is not None else None,
                   blk.res.weight if blk.res is not None else None,
                   blk.res.bias if blk.res is not None else None,
                   blk.skip.weight, blk.skip.bias, blk.conv.dilation]
    if _low_precision():  # the residual stream in float32, the products' operands in bf16
        h = h.float()
        local = local.float() if local is not None else None
    rows = h.transpose(1, 2).contiguous()  # (B, T, C)
    cond = local.transpose(1, 2).contiguous() if local is not None else None  # (B, T, C_local)
    return _Stack.apply(rows, cond, settings, *inputs).transpose(1, 2)  # (B, S, T)


def _low_precision() -> bool:
    """Whether the CPU's bfloat16 autocast is on: the pass then runs :mod:`chunked_bf16`."""
    return (torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16)


class _Block(NamedTuple):
    """One block's parameters as the pass uses them: views, and its taps copied contiguous."""

    w: torch.Tensor  # (G, C, K) dilated convolution; tap k reads (K - 1 - k) * dilation back
    b: torch.Tensor  # (G,)
    wl: torch.Tensor | None  # (G, C_local, 1) local conditioning
    g: torch.Tensor | None  # (B, G) global conditioning, per stream
    wr: torch.Tensor | None  # (C, G/2, 1) residual output; None: the block's output is its input
    br: torch.Tensor | None  # (C,)
    ws: torch.Tensor  # (S, G/2, 1) skip output
    dilation: int
    taps: list[torch.Tensor]  # (C, G) each, w[:, :, k] transposed, contiguous for the products
    scale: torch.Tensor  # (G,) 2 for the tanh half, 1 for the sigmoid half (see _forward_stream)


def _blocks(inputs) -> list[_Block]:
    out = []
    for i in range(0, len(inputs), _PER_BLOCK):
        w = inputs[i]  # (G, C, K)
        H = w.shape[0] // 2
        out.append(_Block(*inputs[i:i + 7], inputs[i + 8],  # the skip bias is added once, to the sum
                          [w[:, :, k].t().contiguous() for k in range(w.shape[2])],
                          torch.cat([w.new_full((H,), 2.0), w.new_ones(H)])))
    return out


def _forward_stream(blocks: list[_Block], n: int, h: torch.Tensor, cond: torch.Tensor | None,
                    skip: torch.Tensor, gate: GateKernel | None, piece_bytes: int
                    ) -> list[tuple[torch.Tensor, ...]]:
    """Stream n: its rows h (T, C) through every block, the skips added into skip (T, S),
    -> per block what the backward needs: its input rows (T, C), the gate z (T, G/2) and the
    gate's derivatives [s (1 - t^2) | z (1 - s)] (T, G), t = tanh(pre_a) and s = sigmoid(pre_b);
    the gate by ``gate`` (the C kernel) where given, else by torch's element-wise operations."""
    T = h.shape[0]
    saved = []
    for blk in blocks:
        G, K, d = blk.w.shape[0], blk.w.shape[2], blk.dilation
        H = G // 2
        taps = blk.taps
        wl_t = blk.wl[:, :, 0].t() if blk.wl is not None else None
        ws_t = blk.ws[:, :, 0].t()
        wr_t = blk.wr[:, :, 0].t() if blk.wr is not None else None
        # tanh(a) = 2 sigmoid(2 a) - 1: one sigmoid over all G columns, cheaper than a tanh
        scale = blk.scale
        bias = blk.b + blk.g[n] if blk.g is not None else blk.b
        if gate is None:
            bias = bias * scale
        out = torch.empty_like(h) if wr_t is not None else h
        zs, ds = h.new_empty(T, H), h.new_empty(T, G)
        size = piece_length(T, G, piece_bytes)
        for t0, t1 in pieces(T, size):
            pre = torch.mm(h[t0:t1], taps[K - 1], out=scratch("pre", t1 - t0, G, h))  # (rows, G)
            for k in range(K - 1):
                reach = lagged(t0, t1, (K - 1 - k) * d)
                if reach is not None:
                    pre[reach[0]:].addmm_(h[reach[1]], taps[k])
            if wl_t is not None:
                pre.addmm_(cond[t0:t1], wl_t)
            z = zs[t0:t1]
            if gate is not None:
                gate.forward(pre, bias, z, ds[t0:t1])
            else:
                sig = torch.sigmoid(torch.addcmul(bias, pre, scale, out=pre), out=pre)
                t = torch.mul(sig[:, :H], 2, out=scratch("tanh", t1 - t0, H, h)).sub_(1)
                s = sig[:, H:]
                torch.mul(t, s, out=z)
                torch.addcmul(s, z, t, value=-1, out=ds[t0:t1, :H])  # s (1 - t^2)
                torch.addcmul(z, z, s, value=-1, out=ds[t0:t1, H:])  # z (1 - s)
            skip[t0:t1].addmm_(z, ws_t)
            if wr_t is not None:
                torch.addmm(h[t0:t1], z, wr_t, out=out[t0:t1]).add_(blk.br)
        saved.append((h, zs, ds))
        h = out
    return saved


def _new_grads(blocks: list[_Block], B: int, like: torch.Tensor) -> list[list]:
    """Zeroed gradient accumulators per block: taps (K, G, C), bias, local weight (G, C_l),
    global (B, G), residual weight (C, G/2) and bias, skip weight (S, G/2)."""
    out = []
    for blk in blocks:
        G, C, K = blk.w.shape
        out.append([
            like.new_zeros(K, G, C), like.new_zeros(G),
            torch.zeros_like(blk.wl[:, :, 0]) if blk.wl is not None else None,
            like.new_zeros(B, G) if blk.g is not None else None,
            torch.zeros_like(blk.wr[:, :, 0]) if blk.wr is not None else None,
            torch.zeros_like(blk.br) if blk.br is not None else None,
            torch.zeros_like(blk.ws[:, :, 0])])
    return out


def _backward_stream(blocks: list[_Block], n: int, saved, gskip: torch.Tensor,
                     cond: torch.Tensor | None, gcond: torch.Tensor | None,
                     grads: list[list], gate: GateKernel | None, piece_bytes: int) -> torch.Tensor:
    """Stream n backward: gskip (T, S), the forward's ``saved`` for it -> the gradient of its
    input rows (T, C); parameter gradients added into ``grads``, the local conditioning's
    into gcond (T, C_local) where given. ``saved`` is emptied as the blocks are done. The
    gate's backward by ``gate`` (the C kernel) where given, else by torch's operations."""
    gout = None  # gradient of the current block's output (T, C); None: only skips reach it
    for j in reversed(range(len(blocks))):
        blk = blocks[j]
        h, zs, ds = saved.pop()
        gtaps, gb, gwl, gg, gwr, gbr, gws = grads[j]
        G, K, d = blk.w.shape[0], blk.w.shape[2], blk.dilation
        H = G // 2
        taps = [tap.t() for tap in blk.taps]  # (G, C) each
        ws_m = blk.ws[:, :, 0]  # (S, G/2)
        wr_m = blk.wr[:, :, 0] if blk.wr is not None else None  # (C, G/2)
        # the residual path: gout itself, added to in place (a piece adds only into its own
        # rows and earlier ones, after reading its own rows of gout; no other reader is left)
        gin = gout if gout is not None else torch.zeros_like(h)
        if gbr is not None and gout is not None:
            gbr += gout.sum(0)
        colsum = h.new_zeros(G)  # the gradient of the gate's bias from this stream
        size = piece_length(h.shape[0], G, piece_bytes)
        for t0, t1 in pieces(h.shape[0], size):
            z, rows = zs[t0:t1], t1 - t0
            gs = gskip[t0:t1]
            dz = torch.mm(gs, ws_m, out=scratch("dz", rows, H, h))  # (rows, G/2)
            gws.addmm_(gs.t(), z)
            if wr_m is not None and gout is not None:
                go = gout[t0:t1]
                dz.addmm_(go, wr_m)
                gwr.addmm_(go.t(), z)
            dp = scratch("dpre", rows, G, h)  # through tanh and sigmoid:
            if gate is not None:
                gate.backward(ds[t0:t1], dz, dp, colsum)
            else:
                torch.mul(ds[t0:t1].view(rows, 2, H), dz.unsqueeze(1), out=dp.view(rows, 2, H))
                colsum += dp.sum(0)
            gtaps[K - 1].addmm_(dp.t(), h[t0:t1])
            gin[t0:t1].addmm_(dp, taps[K - 1])
            for k in range(K - 1):
                reach = lagged(t0, t1, (K - 1 - k) * d)
                if reach is not None:
                    first, source = reach
                    gtaps[k].addmm_(dp[first:].t(), h[source])
                    gin[source].addmm_(dp[first:], taps[k])
            if gwl is not None:
                gwl.addmm_(dp.t(), cond[t0:t1])
                if gcond is not None:
                    gcond[t0:t1].addmm_(dp, blk.wl[:, :, 0])
        gb += colsum
        if gg is not None:
            gg[n] += colsum
        gout = gin
    return gout


class _Stack(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, cond, settings, *inputs):
        B, T, _ = h.shape
        blocks = _blocks(inputs)
        biases = torch.stack(inputs[7::_PER_BLOCK]).sum(0)  # (S,) the blocks' skip biases
        skip = biases.expand(B, T, -1).contiguous()  # (B, T, S)
        saved = [None] * B
        lowp = _low_precision()
        if lowp:
            gate = gate_kernel.load()
            mats = chunked_bf16.weights(blocks)
            cond = cond.to(chunked_bf16.BF16) if cond is not None else None
        else:
            gate = gate_kernel.load() if settings.c_gate and h.dtype == torch.float32 else None
            gate = gate or None  # an Unavailable kernel: torch's element-wise gate
            mats = None

        def stream(worker, n):
            c = cond[n] if cond is not None else None
            if lowp:
                saved[n] = chunked_bf16.forward_stream(blocks, mats, n, h[n], c, skip[n], gate,
                                                       settings.piece_bytes)
            else:
                saved[n] = _forward_stream(blocks, n, h[n], c, skip[n], gate,
                                           settings.piece_bytes)

        with torch.autocast("cpu", enabled=False):  # the products' precision is chosen here
            over_streams(workers_for(B, settings.workers), B, stream)
        ctx.mats = mats
        ctx.workers, ctx.piece_bytes = settings.workers, settings.piece_bytes
        ctx.saved, ctx.blocks, ctx.cond, ctx.rows, ctx.gate = saved, blocks, cond, h.shape, gate
        return skip

    @staticmethod
    @once_differentiable
    def backward(ctx, gskip):
        gskip = gskip.contiguous()  # (B, T, S)
        if ctx.mats is not None:  # the bf16 pass: its gradients in float32 (autocast's may not be)
            gskip = gskip.float()
        blocks, cond, saved = ctx.blocks, ctx.cond, ctx.saved
        B = gskip.shape[0]
        gh = torch.empty(ctx.rows, dtype=gskip.dtype)  # (B, T, C)
        gcond = (torch.zeros_like(cond, dtype=gskip.dtype)
                 if cond is not None and ctx.needs_input_grad[1] else None)
        workers = workers_for(B, ctx.workers)
        parts = [_new_grads(blocks, B, gskip) for _ in range(workers)]

        def stream(worker, n):
            args = (n, saved[n], gskip[n], cond[n] if cond is not None else None,
                    gcond[n] if gcond is not None else None, parts[worker], ctx.gate,
                    ctx.piece_bytes)
            if ctx.mats is not None:
                gh[n] = chunked_bf16.backward_stream(blocks, ctx.mats, *args)
            else:
                gh[n] = _backward_stream(blocks, *args)
            saved[n] = None  # free as we go

        with torch.autocast("cpu", enabled=False):
            over_streams(workers, B, stream)
        grads = _sum_parts(parts)
        out = []
        gbs = gskip.sum((0, 1))  # every block's skip bias gets the whole skip gradient
        for gtaps, gb, gwl, gg, gwr, gbr, gws in grads:
            out += [gtaps.permute(1, 2, 0).contiguous(), gb, gwl.unsqueeze(2) if gwl is not None else None, gg,
                    gwr.unsqueeze(2) if gwr is not None else None, gbr, gws.unsqueeze(2), gbs,
                    None]
        ctx.saved = ctx.blocks = ctx.cond = ctx.gate = ctx.mats = None
        return (gh, gcond, None, *out)


def _sum_parts(parts: list[list[list]]) -> list[list]:
    """The workers' gradient accumulators added into the first's, in worker order."""
    for part in parts[1:]:
        for mine, theirs in zip(parts[0], part):
            for a, b in zip(mine, theirs):
                if a is not None:
                    a += b
    return parts[0]
