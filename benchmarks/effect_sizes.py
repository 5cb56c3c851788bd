"""Do the model sizes separate? NAM's sizes (nano, feather, lite, standard, and A2's a2) each
trained for the same wall-clock budget on each embedded device: the pedal of the effect
quickstart (a clipper and a tone filter) and the amp (two triode stages with memory, a tone
stack, a power stage that sags; ``wavedil.effect.reference``), scored by ESR on the held-out
tail of the pair (the whole tail from silence, by the model's forward), beside the dry input
at its best level.

A device a small model already fits leaves nothing for a larger one to show; the amp is there
so that the sizes separate, as they do on real amplifiers.

    python benchmarks/effect_sizes.py [--minutes 3] [--sizes nano,feather,lite,standard,a2] \\
        [--devices pedal,amp] [--out runs/effect-sizes] [--skip-training] [--write-docs]

Each run is ``recipes/effect_quickstart.yaml`` with ``model.preset``,
``data.embedded_effect`` and ``train.minutes`` set (its schedule over the steps the recipe
gives, stopped by the budget), on two threads, one after the other. ``--write-docs`` writes
the table into docs/results/effects.md (block ``sizes``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import docs_page
from effect_training import score, validation_pair
from wavedil.checkpoint import load_effect
from wavedil.train import load_recipe, train
from wavedil.train.checkpoint import training_times
from wavedil.train.objective import esr

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "effect_quickstart.yaml"


def recipe_for(out: Path, size: str, device: str, minutes: float, steps: int):
    """The quickstart recipe at one size on one embedded device, stopped after ``minutes``."""
    return load_recipe(RECIPE, [f"model.preset={size}", f"data.embedded_effect={device}",
                                f"train.minutes={minutes!r}", f"train.steps={steps}",
                                f"train.run_dir={out}", "train.device=cpu"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget of each run")
    ap.add_argument("--steps", type=int, default=400,
                    help="each run's schedule length (the quickstart's 400 last about 4 min)")
    ap.add_argument("--sizes", default="nano,feather,lite,standard,a2")
    ap.add_argument("--devices", default="pedal,amp")
    ap.add_argument("--out", default="runs/effect-sizes")
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/effects.md")
    args = ap.parse_args()
    sizes, devices = args.sizes.split(","), args.devices.split(",")
    out = Path(args.out)
    cells: dict[tuple[str, str], tuple[float, float, int]] = {}
    dry = {}
    for device in devices:
        for size in sizes:
            folder = out / f"{device}-{size}"
            recipe = recipe_for(folder, size, device, args.minutes, args.steps)
            if not args.skip_training:
                print(f"training {size} on the {device} for {args.minutes:g} min", flush=True)
                train(recipe, force=True)
            model = load_effect(folder / "best.pt")
            x, y = validation_pair(recipe)
            last = max(training_times(folder / "checkpoints"), key=lambda t: t[1])
            cells[device, size] = (score(model, x, y), last[2] / 60, last[1])
            gain = float((x * y).sum() / (x * x).sum())
            dry[device] = float(esr((gain * x)[None], y[None]))
            print(f"{device:6} {size:9} ESR {cells[device, size][0]:.2e}", flush=True)

    weights = {size: load_effect(out / f"{devices[0]}-{size}" / "best.pt").config.parameters
               for size in sizes}
    table = ["| size | weights | " + " | ".join(f"{d}: ESR | steps" for d in devices) + " |",
             "|---|---:|" + "---:|---:|" * len(devices)]
    for size in sizes:
        table.append(f"| {size} | {weights[size]:,} | " + " | ".join(
            f"{cells[d, size][0]:.2e} | {cells[d, size][2]}" for d in devices) + " |")
    table.append("| dry input, level-matched | | " + " | ".join(
        f"{dry[d]:.2e} | " for d in devices) + " |")
    spread = [f"{d}: the largest ESR over the smallest, {max(cells[d, s][0] for s in sizes) / min(cells[d, s][0] for s in sizes):.1f}x"
              for d in devices]
    notes = [f"each run: recipes/effect_quickstart.yaml at the size, on the device, its "
             f"{args.steps} steps or {args.minutes:g} min of training, whichever came first "
             "(the steps column says which), two threads, one after the other",
             "ESR of the model's forward over the pair's held-out tail, from silence", *spread]
    print("\n".join(table))
    for n in notes:
        print(f"- {n}")
    if args.write_docs:
        docs_page.record("effects.md", "sizes", table, notes)


if __name__ == "__main__":
    main()
