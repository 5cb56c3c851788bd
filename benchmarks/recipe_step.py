"""A recipe's training step timed as ``wavedil train`` runs it, with whatever ``wavedil`` the
interpreter imports: this tree's, or (run as a script with an older tree first on
``PYTHONPATH``) the code of an earlier commit, which ``benchmarks/training.py --against REV``
times beside this tree's in the same run.

    python benchmarks/recipe_step.py recipes/quickstart.yaml --steps 3

prints one line: the recipe's name, its training samples/s (batch x crop per step, best of
``--steps`` after two warm-up steps) and the file wavedil was imported from. Only names that
every commit since the trainer's first has (``Trainer``, ``train_step``, ``load_recipe``) are
used, so an old tree runs it unchanged.
"""

from __future__ import annotations

import argparse
import tempfile
import time


def measure(step, steps: int) -> float:
    """Seconds per call of ``step``, best of ``steps`` after one warm-up call."""
    step()
    best = float("inf")
    for _ in range(steps):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def recipe_rate(path: str, steps: int, chunked: bool | None = None) -> tuple[str, float]:
    """(the recipe's name, its training samples/s: batch x crop per step, best of ``steps``
    after two warm-up steps), in a scratch run folder that is removed. ``chunked``: True keeps
    the training objective's own CPU pass (a WaveNet's chunked stack, an effect's chunked
    arrays), False runs the model's own forward and backward instead; None leaves the code's
    default (and works where there is no such pass)."""
    import torch
    from wavedil.train.loop import Trainer
    from wavedil.train.recipe import load_recipe

    with tempfile.TemporaryDirectory() as scratch:
        recipe = load_recipe(path, [f"train.run_dir={scratch}/run", "train.steps=1000000"])
        trainer = Trainer(recipe, echo=lambda message: None)
        if chunked is False:
            trainer.objective.stack = None

        def step() -> None:
            trainer.train_step()
            trainer.step += 1

        # as Trainer.run trains (its FlushDenormals; an older revision set it in Trainer())
        torch.set_flush_denormal(True)

        step()
        return recipe.name, trainer.data.config.crop * recipe.train.batch_size / measure(step, steps)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    import wavedil

    name, rate = recipe_rate(args.recipe, args.steps)
    print(f"{name}\t{rate:.1f}\t{wavedil.__file__}")


if __name__ == "__main__":
    main()
