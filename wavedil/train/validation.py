"""The validation figure: one loop that the trainer runs during training and that re-measures a
finished checkpoint on its recipe's validation set (the pretrained models' recorded figures
are checked with it)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..checkpoint import load_checkpoint, load_model
from ..data import FixedCrops
from .objective import Objective, collate


@torch.no_grad()
def validation_loss(model: torch.nn.Module, objective: Objective, val_set: FixedCrops,
                    batch_size: int, seed: int, device: torch.device | str = "cpu") -> float:
    """The validation loss as reported (NLL in bits per sample for a WaveNet, the spectral
    loss of a vocoder, ESR of an effect), over ``val_set`` in batches; a vocoder's noise is
    seeded with ``seed``, so the figure depends on the weights alone."""
    model.eval()
    total, count = 0.0, 0
    B = max(1, batch_size)
    gen = torch.Generator(device=device).manual_seed(seed)
    for lo in range(0, len(val_set), B):
        items = [val_set[i] for i in range(lo, min(lo + B, len(val_set)))]
        batch = {k: v.to(device) for k, v in collate(items).items()}
        total += float(objective.validation_loss(model, batch, generator=gen)) * len(items)
        count += len(items)
    return objective.report(total / count)


def checkpoint_validation(path: str | Path) -> float:
    """A checkpoint's validation figure re-measured on its recipe's data (prepared, or read
    from the cache), with its moving-average weights, as the trainer measured it."""
    from .prepare import prepare_data
    from .recipe import recipe_from_dict

    stored = load_checkpoint(path)["recipe"]
    recipe = recipe_from_dict({k: stored[k] for k in ("data", "model", "generate", "train")
                               if k in stored})
    data = prepare_data(recipe, quiet=True)
    if not data.validation:
        raise ValueError(f"{path}: its recipe's data has no validation set")
    t = recipe.train
    val_set = FixedCrops(data, data.validation, t.validation_crops)
    objective = Objective.for_config(recipe.model, data.config.crop, t)
    return validation_loss(load_model(path).model, objective, val_set, t.batch_size, t.seed)


__all__ = ["checkpoint_validation", "validation_loss"]
