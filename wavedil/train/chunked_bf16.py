"""The chunked stack pass (``chunked_stack.py``) with its matrix products in bfloat16: what
``train.precision: bf16`` runs on the CPU.

The same pieces, streams and workers as the float32 pass; what changes is what the products
read and write. Each block's taps and local weight are stacked into one (K C + C_local, G)
matrix, and a piece's lagged input rows into one (rows, K C + C_local) matrix beside them, so
that a piece's pre-activations are one bfloat16 product, rounded once (as many products as
the float32 pass has, each summed in bfloat16, would round at every tap):

    X[t]   = [h[t - (K - 1) d] | ... | h[t] | cond[t]]            (rows, K C + C_local), bf16
    pre[t] = X[t] @ [W_0; ...; W_{K-1}; W_local]                   one product, bf16 result
    z[t], ds[t] = gate(pre[t] + bias)                 (gate.c: z rounded to bf16, ds float32)
    skip[t] += z[t] @ W_skip;  out[t] = h[t] + z[t] @ W_res + b_res     (h, skip: float32)

and backward, per piece, [gskip | gout] @ [W_skip; W_res] for dz, one product; dp = ds * dz
(gate.c, rounded to bf16; the bias gradient summed in float32 first); dp^T @ X for every tap's
and the local weight's gradient, dp @ W^T for the input's. The residual stream, the skip sum
and every gradient accumulator stay float32; the products' operands are bfloat16 and their
results bfloat16 (torch's CPU products, oneDNN: AMX or AVX512-BF16 where the CPU has them,
else converted to float32 inside). This is the rounding of ``torch.autocast("cpu",
dtype=torch.bfloat16)`` on the blocks' own pass, with fewer roundings of partial sums.
"""

from __future__ import annotations

import torch

from .pieces import lagged, piece_length, pieces, scratch

BF16 = torch.bfloat16


def weights(blocks) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per block, the step's bfloat16 copies of what the products read: (the taps and local
    weight stacked, (K C + C_local, G); the skip and residual weights stacked, (S + C, G/2),
    or the skip's alone for a block without a residual output)."""
    out = []
    for blk in blocks:
        parts = list(blk.taps) + ([blk.wl[:, :, 0].t()] if blk.wl is not None else [])
        outs = [blk.ws[:, :, 0]] + ([blk.wr[:, :, 0]] if blk.wr is not None else [])
        out.append((torch.cat(parts).to(BF16), torch.cat(outs).to(BF16)))
    return out


def _inputs(hb: torch.Tensor, cond: torch.Tensor | None, t0: int, t1: int, K: int, d: int
            ) -> torch.Tensor:
    """A piece's product input X (rows, K C + C_local) in bf16: tap k's lagged rows of hb
    (silence before the sequence), then the local conditioning's rows."""
    C = hb.shape[1]
    width = K * C + (cond.shape[1] if cond is not None else 0)
    x = scratch("x", t1 - t0, width, hb)
    for k in range(K):
        cols = slice(k * C, (k + 1) * C)
        reach = lagged(t0, t1, (K - 1 - k) * d)
        if reach is None:
            x[:, cols] = 0
        else:
            first, source = reach
            x[:first, cols] = 0
            x[first:, cols] = hb[source]
    if cond is not None:
        x[:, K * C:] = cond[t0:t1]
    return x


def forward_stream(blocks, mats, n: int, h: torch.Tensor, cond: torch.Tensor | None,
                   skip: torch.Tensor, gate, piece_bytes: int) -> list[tuple[torch.Tensor, ...]]:
    """``chunked_stack._forward_stream`` with bf16 products: h (T, C) float32, cond (T,
    C_local) bf16, ``mats`` from :func:`weights`, ``gate`` the C kernel -> per block (its input
    rows in bf16, z in bf16, ds float32)."""
    T = h.shape[0]
    saved = []
    for blk, (w, wout) in zip(blocks, mats):
        G, K, d = blk.w.shape[0], blk.w.shape[2], blk.dilation
        H, S = G // 2, blk.ws.shape[0]
        bias = blk.b + blk.g[n] if blk.g is not None else blk.b
        hb = h.to(BF16)
        out = torch.empty_like(h) if blk.wr is not None else h
        zs, ds = h.new_empty(T, H, dtype=BF16), h.new_empty(T, G)
        wout_t = wout.t()  # (G/2, S [+ C])
        for t0, t1 in pieces(T, piece_length(T, G, piece_bytes)):
            pre = torch.mm(_inputs(hb, cond, t0, t1, K, d), w,
                           out=scratch("pre", t1 - t0, G, hb))
            z = zs[t0:t1]
            gate.forward_bf16(pre, bias, z, ds[t0:t1])
            y = torch.mm(z, wout_t, out=scratch("y", t1 - t0, wout_t.shape[1], hb))
            skip[t0:t1] += y[:, :S]
            if blk.wr is not None:
                torch.add(h[t0:t1], y[:, S:], out=out[t0:t1]).add_(blk.br)
        saved.append((hb, zs, ds))
        h = out
    return saved


def backward_stream(blocks, mats, n: int, saved, gskip: torch.Tensor,
                    cond: torch.Tensor | None, gcond: torch.Tensor | None, grads: list[list],
                    gate, piece_bytes: int) -> torch.Tensor:
    """``chunked_stack._backward_stream`` with bf16 products (cond bf16; gskip, gcond and the
    accumulators float32) -> the gradient of stream n's input rows (T, C), float32."""
    gskip_b = gskip.to(BF16)
    S = gskip.shape[1]
    gout = None
    for j in reversed(range(len(blocks))):
        blk, (w, wout) = blocks[j], mats[j]
        hb, zs, ds = saved.pop()
        gtaps, gb, gwl, gg, gwr, gbr, gws = grads[j]
        G, K, d = blk.w.shape[0], blk.w.shape[2], blk.dilation
        C = hb.shape[1]
        gin = gout if gout is not None else hb.new_zeros(hb.shape, dtype=torch.float32)
        if gbr is not None and gout is not None:
            gbr += gout.sum(0)
        through_res = blk.wr is not None and gout is not None
        wo = wout if through_res else wout[:S]  # (S [+ C], G/2)
        colsum = gin.new_zeros(G)
        for t0, t1 in pieces(hb.shape[0], piece_length(hb.shape[0], G, piece_bytes)):
            rows = t1 - t0
            if through_res:  # [gskip | gout] of the piece, one product's input
                g = scratch("g", rows, S + C, hb)
                g[:, :S] = gskip_b[t0:t1]
                g[:, S:] = gout[t0:t1]
            else:
                g = gskip_b[t0:t1]
            z = zs[t0:t1]
            dz = torch.mm(g, wo, out=scratch("dz", rows, G // 2, hb))
            gwo = torch.mm(g.t(), z)  # (S [+ C], G/2)
            gws += gwo[:S]
            if through_res:
                gwr += gwo[S:]
            dp = scratch("dpre", rows, G, hb)
            gate.backward_bf16(ds[t0:t1], dz, dp, colsum)
            x = _inputs(hb, cond, t0, t1, K, d)
            gw = torch.mm(dp.t(), x)  # (G, K C + C_local)
            gx = torch.mm(dp, w.t(), out=scratch("gx", rows, x.shape[1], hb))
            for k in range(K):
                cols = slice(k * C, (k + 1) * C)
                gtaps[k] += gw[:, cols]
                reach = lagged(t0, t1, (K - 1 - k) * d)
                if reach is not None:
                    first, source = reach
                    gin[source] += gx[first:, cols]
            if gwl is not None:
                gwl += gw[:, K * C:]
                if gcond is not None:
                    gcond[t0:t1] += gx[:, K * C:]
        gb += colsum
        if gg is not None:
            gg[n] += colsum
        gout = gin
    return gout


__all__ = ["backward_stream", "forward_stream", "weights"]
