"""The training pass of a stack of gated residual blocks on the CPU, in pieces of time.

The plain forward runs every block over the whole batch at once: each convolution and each
element-wise step reads and writes activations of B x T x channels floats that no cache holds,
and the backward does the same again. Here one autograd function runs the whole stack: each
block goes over the sequence in pieces of about 1 MB of pre-activations of one stream, so the
pieces' pre-activations, gates and products stay in the caches between the matrix products that
make and use them, and the skip sum is accumulated in place (its gradient is the same for every
block). Everything is on (T, C) rows of one stream, the layout the matrix products want:

    pre[t]  = sum_k h[t - (K - 1 - k) d] @ W_k + b  (+ cond[t] @ W_local + g)   (rows, G)
    z[t]    = tanh(pre_a[t]) * sigmoid(pre_b[t])                            (rows, G / 2)
    skip[t] += z[t] @ W_skip + b_skip;  out[t] = h[t] + z[t] @ W_res + b_res

The gate is GatedResidualBlock's (``residual.py``) written again on rows, as a kernel; the
results are those of the blocks' own forward and backward to float rounding
(``tests/test_chunked_stack.py``); ``benchmarks/training.py`` times both.
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .residual import GatedResidualBlock

PIECE_BYTES = 1 << 20
"""Pre-activations per piece: 1 MB (2048 time steps of config A's 128 gate channels) stays
in the caches, and the matrix products are still long enough to run near the FMA peak."""

MIN_STREAM_VALUES = 1 << 16
"""Pre-activations per stream (time steps x gate channels) below which the blocks' own pass
is kept: for small models on short crops (the tests' models) the Python loop over the pieces
costs more than the caches save; the quickstart recipe (2,048 x 64) is above it."""

enabled = True
"""Whether ``WaveNet.forward`` uses this pass when it applies (see :func:`applies`)."""

# per block: conv weight and bias, local weight, global vector, res w and b, skip w and b, dilation
_PER_BLOCK = 9


def applies(blocks, h: torch.Tensor) -> bool:
    """Whether the chunked pass computes what ``blocks`` would for input ``h`` (B, C, T):
    enabled, a CPU float32 or float64 pass with gradients, outside autocast and torch.compile,
    every block a causal, ungrouped, biased gated block without dropout, and each stream at
    least MIN_STREAM_VALUES pre-activations long. (Its backward is not itself differentiable:
    a second-order gradient through it raises.)"""
    if not (enabled and torch.is_grad_enabled() and h.device.type == "cpu"
            and h.dtype in (torch.float32, torch.float64) and len(blocks)
            and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling()):
        return False
    for blk in blocks:
        if type(blk) is not GatedResidualBlock or (blk.training and blk.dropout > 0):
            return False
        conv = blk.conv
        if not conv.causal or conv.groups != 1 or conv.bias is None:
            return False
    return h.dim() == 3 and h.shape[2] * blocks[0].conv.out_channels >= MIN_STREAM_VALUES


def run_stack(blocks, h: torch.Tensor, local: torch.Tensor | None = None,
              speaker: torch.Tensor | None = None) -> torch.Tensor:
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
    rows = h.transpose(1, 2).contiguous()  # (B, T, C)
    cond = local.transpose(1, 2).contiguous() if local is not None else None  # (B, T, C_local)
    return _Stack.apply(rows, cond, *inputs).transpose(1, 2)  # (B, S, T)


def _piece_length(T: int, G: int) -> int:
    """Time steps per piece: the sequence cut in equal pieces of at most PIECE_BYTES of
    pre-activations (2048 steps -> one piece of 2048 for 128 gate channels, two of 1024 for 256)."""
    most = max(1, PIECE_BYTES // (4 * G))
    count = -(-T // most)
    return -(-T // count)


def _lagged(t0: int, t1: int, lag: int) -> tuple[int, slice] | None:
    """For the piece [t0, t1) and a tap ``lag`` steps back: (first row of the piece that the
    tap reaches, the source rows it reads), or None where the whole piece reads silence."""
    lo = max(t0, lag)
    return (lo - t0, slice(lo - lag, t1 - lag)) if lo < t1 else None


def _pieces(T: int, size: int):
    for t0 in range(0, T, size):
        yield t0, min(T, t0 + size)


class _Stack(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, cond, *inputs):
        B, T, _ = h.shape
        S = inputs[6].shape[0]
        skip = h.new_zeros(B, T, S)  # (B, T, S)
        saved, hs = [], []
        for i in range(0, len(inputs), _PER_BLOCK):
            w, b, wl, g, wr, br, ws, bs, d = inputs[i:i + _PER_BLOCK]
            K = w.shape[2]
            H = w.shape[0] // 2
            taps = [w[:, :, k].t() for k in range(K)]  # (C, G) each
            wl_t = wl[:, :, 0].t() if wl is not None else None
            ws_t, wr_t = ws[:, :, 0].t(), (wr[:, :, 0].t() if wr is not None else None)
            size = _piece_length(T, w.shape[0])
            out = torch.empty_like(h) if wr is not None else h
            ts, ss, zs = (h.new_empty(B, T, H) for _ in range(3))  # (B, T, G/2) each
            for n in range(B):
                bias = b + g[n] if g is not None else b
                for t0, t1 in _pieces(T, size):
                    pre = torch.addmm(bias, h[n, t0:t1], taps[K - 1])  # (rows, G)
                    for k in range(K - 1):
                        reach = _lagged(t0, t1, (K - 1 - k) * d)
                        if reach is not None:
                            pre[reach[0]:].addmm_(h[n, reach[1]], taps[k])
                    if wl_t is not None:
                        pre.addmm_(cond[n, t0:t1], wl_t)
                    t = torch.tanh(pre[:, :H], out=ts[n, t0:t1])
                    s = torch.sigmoid(pre[:, H:], out=ss[n, t0:t1])
                    z = torch.mul(t, s, out=zs[n, t0:t1])
                    skip[n, t0:t1].addmm_(z, ws_t).add_(bs)
                    if wr_t is not None:
                        torch.addmm(h[n, t0:t1], z, wr_t, out=out[n, t0:t1]).add_(br)
            saved.append((ts, ss, zs))
            hs.append(h)
            h = out
        ctx.saved, ctx.hs, ctx.inputs, ctx.cond = saved, hs, inputs, cond
        return skip

    @staticmethod
    @once_differentiable
    def backward(ctx, gskip):
        gskip = gskip.contiguous()  # (B, T, S)
        inputs, cond = ctx.inputs, ctx.cond
        B, T, _ = gskip.shape
        grads = [None] * len(inputs)
        gbs = gskip.sum((0, 1))  # every block's skip bias gets the whole skip gradient
        gcond = torch.zeros_like(cond) if cond is not None and ctx.needs_input_grad[1] else None
        gout = None  # gradient of the current block's output (B, T, C); None: only skips
        for blk in reversed(range(len(ctx.saved))):
            i = blk * _PER_BLOCK
            w, b, wl, g, wr, br, ws, bs, d = inputs[i:i + _PER_BLOCK]
            ts, ss, zs = ctx.saved[blk]
            h = ctx.hs[blk]
            ctx.saved[blk] = ctx.hs[blk] = None  # free as we go
            K = w.shape[2]
            G = w.shape[0]
            H = G // 2
            taps = [w[:, :, k] for k in range(K)]  # (G, C): the transposed taps
            gtaps = [h.new_zeros(G, h.shape[2]) for _ in range(K)]  # (G, C) each
            gb = h.new_zeros(G)
            gwl = h.new_zeros(G, wl.shape[1]) if wl is not None else None
            gg = h.new_zeros(B, G) if g is not None else None
            ws_m = ws[:, :, 0]  # (S, G/2)
            gws = torch.zeros_like(ws_m)
            wr_m = wr[:, :, 0] if wr is not None else None  # (C, G/2)
            gwr = torch.zeros_like(wr_m) if wr is not None else None
            gin = gout.clone() if gout is not None else torch.zeros_like(h)  # the residual path
            size = _piece_length(T, G)
            dpre = h.new_empty(size, G)
            for n in range(B):
                for t0, t1 in _pieces(T, size):
                    z, t, s = zs[n, t0:t1], ts[n, t0:t1], ss[n, t0:t1]
                    gs = gskip[n, t0:t1]
                    dz = torch.mm(gs, ws_m)  # (rows, G/2)
                    gws.addmm_(gs.t(), z)
                    if wr is not None and gout is not None:
                        go = gout[n, t0:t1]
                        dz.addmm_(go, wr_m)
                        gwr.addmm_(go.t(), z)
                    dp = dpre[:t1 - t0]
                    torch.mul(dz, s, out=dp[:, :H]).mul_(1 - t * t)  # through tanh
                    torch.mul(dz, z, out=dp[:, H:]).mul_(1 - s)  # through sigmoid
                    colsum = dp.sum(0)
                    gb += colsum
                    if gg is not None:
                        gg[n] += colsum
                    gtaps[K - 1].addmm_(dp.t(), h[n, t0:t1])
                    gin[n, t0:t1].addmm_(dp, taps[K - 1])
                    for k in range(K - 1):
                        reach = _lagged(t0, t1, (K - 1 - k) * d)
                        if reach is not None:
                            first, source = reach
                            gtaps[k].addmm_(dp[first:].t(), h[n, source])
                            gin[n, source].addmm_(dp[first:], taps[k])
                    if wl is not None:
                        gwl.addmm_(dp.t(), cond[n, t0:t1])
                        if gcond is not None:
                            gcond[n, t0:t1].addmm_(dp, wl[:, :, 0])
            grads[i:i + _PER_BLOCK] = [
                torch.stack(gtaps, 2), gb, gwl.unsqueeze(2) if gwl is not None else None, gg,
                gwr.unsqueeze(2) if gwr is not None else None,
                gout.sum((0, 1)) if wr is not None and gout is not None else
                (torch.zeros_like(br) if br is not None else None),
                gws.unsqueeze(2), gbs, None]
            gout = gin
        ctx.inputs = ctx.cond = None
        return (gout, gcond, *grads)
