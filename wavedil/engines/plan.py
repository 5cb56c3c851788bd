"""A generation plan: a WaveNet's weights rearranged for one-sample-at-a-time inference.

Every engine reads the same plan, so the rearrangement (fused taps, concatenated skip
weights, conditioning projections of all layers in one matrix) is written once. Weight
normalisation is resolved here, once, instead of at every step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import WaveNet


@dataclass
class LayerPlan:
    """One gated residual block. G2 = gate_channels / 2."""

    dilation: int
    kernel_size: int
    w_cur: torch.Tensor
    """(C, 2G2): the newest tap, transposed for ``x @ w``."""
    w_past: torch.Tensor | None
    """(k - 1, C, 2G2): the older taps, oldest (delay (k - 1) * d) first; None when k = 1."""
    bias: torch.Tensor
    """(2G2,) conv bias."""
    w_res: torch.Tensor | None
    """(G2, C) residual projection (None for the last block)."""
    b_res: torch.Tensor | None
    """(C,)"""


@dataclass
class Plan:
    """All the weights of a WaveNet, laid out for incremental inference."""

    input_kind: str
    classes: int
    embed: torch.Tensor
    """(classes, C) embedding table, or (1, C) scalar input weights."""
    embed_bias: torch.Tensor | None
    """(C,) bias of the scalar input projection."""
    layers: list[LayerPlan]
    w_local: torch.Tensor | None
    """(Cc, L * 2G2): every block's local-conditioning projection side by side."""
    w_speaker: torch.Tensor | None
    """(Cs, L * 2G2): every block's speaker projection side by side."""
    w_skip: torch.Tensor
    """(L * G2, S): every block's skip projection stacked, times the skip scale."""
    b_skip: torch.Tensor
    """(S,) the sum of the skip biases, times the skip scale."""
    w_out1: torch.Tensor
    """(S, S)"""
    b_out1: torch.Tensor
    w_out2: torch.Tensor
    """(S, out)"""
    b_out2: torch.Tensor
    residual_channels: int
    gate_half: int

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def _w(conv) -> torch.Tensor:
    return conv.weight.detach()


@torch.no_grad()
def make_plan(model: WaveNet, dtype: torch.dtype = torch.float32) -> Plan:
    """Extract ``model``'s weights (on its device) into a :class:`Plan`."""
    cfg = model.config
    f = lambda t: None if t is None else t.detach().to(dtype).contiguous()  # noqa: E731
    C, G2 = cfg.residual_channels, cfg.gate_channels // 2
    layers = []
    for block in model.blocks:
        w = _w(block.conv)  # (2G2, C, k)
        k = w.shape[-1]
        w_cur = w[:, :, k - 1].t()
        w_past = w[:, :, : k - 1].permute(2, 1, 0) if k > 1 else None
        layers.append(LayerPlan(
            dilation=block.conv.dilation, kernel_size=k, w_cur=f(w_cur), w_past=f(w_past),
            bias=f(block.conv.bias),
            w_res=f(_w(block.res)[:, :, 0].t()) if block.res is not None else None,
            b_res=f(block.res.bias) if block.res is not None else None,
        ))
    scale = model.skip_scale
    w_skip = torch.cat([_w(b.skip)[:, :, 0].t() for b in model.blocks], 0) * scale
    b_skip = sum(b.skip.bias.detach() for b in model.blocks) * scale
    w_local = (torch.cat([_w(b.local)[:, :, 0] for b in model.blocks], 0).t()
               if model.conditioner is not None else None)
    w_speaker = (torch.cat([_w(b.glob) for b in model.blocks], 0).t()
                 if model.speaker_embed is not None else None)
    if cfg.input_kind == "classes":
        embed, embed_bias = model.embed.weight, None
    else:
        embed, embed_bias = _w(model.embed)[:, :, 0].t(), model.embed.bias
    return Plan(
        input_kind=cfg.input_kind, classes=cfg.classes, embed=f(embed), embed_bias=f(embed_bias),
        layers=layers, w_local=f(w_local), w_speaker=f(w_speaker), w_skip=f(w_skip),
        b_skip=f(b_skip), w_out1=f(_w(model.out1)[:, :, 0].t()), b_out1=f(model.out1.bias),
        w_out2=f(_w(model.out2)[:, :, 0].t()), b_out2=f(model.out2.bias),
        residual_channels=C, gate_half=G2,
    )


def static_biases(plan: Plan, batch_size: int, speaker: torch.Tensor | None) -> torch.Tensor:
    """Each block's conv bias plus its speaker projection: (L, B, 2G2)."""
    L, G = plan.n_layers, 2 * plan.gate_half
    bias = torch.stack([layer.bias for layer in plan.layers])  # (L, 2G2)
    out = bias[:, None, :].expand(L, batch_size, G)
    if plan.w_speaker is not None:
        if speaker is None:
            raise ValueError("this model needs a speaker")
        proj = (speaker.to(plan.w_speaker) @ plan.w_speaker).view(batch_size, L, G)  # (B, L, 2G2)
        out = out + proj.transpose(0, 1)
    return out.contiguous()


def local_biases(plan: Plan, cond: torch.Tensor) -> torch.Tensor:
    """Upsampled conditioning (B, Cc, n) through every block's projection: (n, L, B, 2G2)."""
    B, _, n = cond.shape
    proj = cond.permute(2, 0, 1).to(plan.w_local) @ plan.w_local  # (n, B, L * 2G2)
    return proj.view(n, B, plan.n_layers, -1).transpose(1, 2).contiguous()
