"""Training: recipes, the loop, checkpoints, reports and distributed set-up."""

from .checkpoint import load_checkpoint, save_atomic
from .loop import TrainResult, Trainer, lr_factor, model_from_checkpoint, train
from .recipe import GenerateConfig, Recipe, TrainConfig, load_recipe, recipe_from_dict

__all__ = ["GenerateConfig", "Recipe", "TrainConfig", "TrainResult", "Trainer", "load_checkpoint",
           "load_recipe", "lr_factor", "model_from_checkpoint", "recipe_from_dict", "save_atomic",
           "train"]
