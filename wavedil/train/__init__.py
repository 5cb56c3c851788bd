"""Training: recipes, the loop, the run's checkpoint folder, metrics and distributed set-up."""

from .loop import TrainResult, Trainer, lr_factor, train
from .recipe import Recipe, TrainConfig, load_recipe, recipe_from_dict

__all__ = ["Recipe", "TrainConfig", "TrainResult", "Trainer", "load_recipe", "lr_factor",
           "recipe_from_dict", "train"]
