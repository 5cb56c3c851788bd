"""A knob model against the captures a Neural Amp Modeler user would make instead, at a knob
position neither was trained on.

``recipes/effect_knob.yaml`` trains one model with the knob as its control on the embedded amp
at four positions (0, 0.25, 0.75, 1). A NAM user captures one file per position; at a setting
between captures (0.5, held out here) they play the nearest capture. So, in the same run and
the same number of steps each (the recipe's; their wall-clock times are printed), this trains
the recipe's model without a control on the captures nearest to the held-out position (0.25
and 0.75), then scores every model at every
position on the validation tail (input unseen in training; streamed in blocks of 64 as a
plugin plays it), by error-to-signal ratio, beside the dry input at its best level. The knob
model is also exported at the held-out position as a ``.nam`` file (its control folded into
the weights: ``wavedil.effect.knobs``) and played back, which must give the same output.

    python benchmarks/effect_knob.py [--steps N] [--out runs/effect-knob] [--write-docs]
    python benchmarks/effect_knob.py --skip-training     # score the runs as they are

``--write-docs`` writes the table into docs/results/effects.md (block ``knob``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import docs_page
from wavedil.checkpoint import load_effect
from wavedil.effect.knobs import fix_controls
from wavedil.effect.nam import load_nam, save_nam
from wavedil.effect.paired import prepare_pairs
from wavedil.effect.process import process
from wavedil.train import load_recipe, train
from wavedil.train.checkpoint import training_times
from wavedil.train.objective import esr

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "effect_knob.yaml"
CAPTURES = (0.25, 0.75)
"""The single-position captures trained beside the knob model: the held-out position's
neighbours."""


def recipe_for(out: Path, steps: int | None, capture: float | None):
    """The knob recipe (capture None) or a capture at one position, over ``steps`` (None: the
    recipe's)."""
    sets = [f"train.run_dir={out}", "train.device=cpu", "train.keep_last=1000000",
            *([f"train.steps={steps}"] if steps else [])]
    if capture is not None:
        sets += ["model.controls=0", "data.embedded_knobs=null", "data.heldout_knobs=[]",
                 f"data.embedded_knob={capture!r}"]
    return load_recipe(RECIPE, sets)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=None,
                    help="training steps of each model (default: the recipe's)")
    ap.add_argument("--out", default="runs/effect-knob")
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/effects.md")
    args = ap.parse_args()
    out = Path(args.out)
    runs = {"knob model": (out / "knob", None),
            **{f"capture at {c:g}": (out / f"capture-{c:g}", c) for c in CAPTURES}}
    if not args.skip_training:
        for name, (folder, capture) in runs.items():
            print(f"training {name}", flush=True)
            train(recipe_for(folder, args.steps, capture), force=True)

    recipe = recipe_for(out / "knob", args.steps, None)
    models = {name: load_effect(folder / "best.pt") for name, (folder, _) in runs.items()}
    knob = models["knob model"]
    data = prepare_pairs(recipe.data, knob.receptive_field, 1)
    trained = {name: max((s for _, _, s in training_times(folder / "checkpoints")), default=0.0)
               for name, (folder, _) in runs.items()}
    heldout = set(recipe.data.heldout_knobs)
    names = [*models, "dry input, level-matched"]
    rows, folded = [], float("nan")
    for clip in sorted(data.validation, key=lambda i: float(data.controls[i, 0])):
        a, b = data.bounds[clip].tolist()
        x, y = data.inputs[a:b], data.targets[a:b]
        k = float(data.controls[clip, 0])
        cells = []
        for name, model in models.items():
            est = process(model, x, args.block, [k] if model.config.controls else None)
            cells.append(float(esr(est[None], y[None])))
        gain = float((x * y).sum() / (x * x).sum())
        cells.append(float(esr((gain * x)[None], y[None])))
        rows.append((k, cells))
        if k in heldout:  # the knob model at this setting as a .nam file reads the same
            with tempfile.TemporaryDirectory() as tmp:
                path = save_nam(fix_controls(knob, [k]), Path(tmp) / "knob.nam")
                played = process(load_nam(path), x, args.block)
            streamed = process(knob, x, args.block, [k])
            folded = float((played - streamed).abs().max())

    table = ["| knob | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for k, cells in rows:
        mark = " (held out)" if k in heldout else ""
        best = min(cells[:-1])
        table.append(f"| {k:g}{mark} | " + " | ".join(
            (f"**{v:.2e}**" if v == best else f"{v:.2e}") for v in cells) + " |")
    notes = [f"training, {recipe.train.steps} steps each (wall clock, two CPU threads, one "
             "after the other): " + ", ".join(f"{name} {trained[name] / 60:.1f} min"
                                              for name in runs),
        f"validation tails of {data.clip_length(data.validation[0]) / data.sample_rate:.1f} s "
        f"streamed in blocks of {args.block}; ESR against the amp's output (lower is better)",
        f"the knob model exported at the held-out position as .nam (control folded into the "
        f"weights) and played back: largest difference {folded:.1e}"]
    print("\n".join(table))
    for n in notes:
        print(f"- {n}")
    if args.write_docs:
        docs_page.record("effects.md", "knob", table, notes)


if __name__ == "__main__":
    main()
