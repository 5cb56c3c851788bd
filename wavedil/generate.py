"""The generation driver: samples a model one step at a time through its explicit state."""

from __future__ import annotations

import torch

from .audio import mulaw_decode


@torch.no_grad()
def generate(model, n_samples: int, batch_size: int = 1, local: torch.Tensor | None = None,
             speaker=None, temperature: float = 1.0, prime: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample (B, n_samples) waveform values in [-1, 1] with ``model.step``."""
    device = next(model.parameters()).device
    head, cfg = model.head, model.config
    state = model.init_state(batch_size, device)
    cond = model.upsample(local) if local is not None else None
    x = torch.full((batch_size,), cfg.classes // 2 if cfg.input_kind == "classes" else 0,
                   dtype=torch.long if cfg.input_kind == "classes" else torch.float32, device=device)
    out = []
    for t in range(n_samples):
        c = cond[..., t] if cond is not None else None
        logits, state = model.step(x, state, c, speaker)
        u = torch.rand(batch_size, head.n_uniforms, generator=generator, device=device)
        x = head.sample(logits, u, temperature)
        out.append(x)
    y = torch.stack(out, -1)
    return mulaw_decode(y, cfg.classes) if not head.continuous else y
