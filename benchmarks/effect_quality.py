"""How close a trained effect is to its target on held-out audio: the validation tail of the
recipe's pair streamed through ``wavedil.effect.process`` in blocks of 64 (the plugin path), scored
by error-to-signal ratio (plain and pre-emphasised, as in training) and the multi-resolution
STFT distance, beside two reference points in the same run: the dry input at the level that
fits the target best (what "no model" scores), and the model's own full forward (which the
streamed output must equal). Writes a spectrogram picture: input, target, wavedil, error.

    wavedil train recipes/effect_quickstart.yaml
    python benchmarks/effect_quality.py runs/effect_quickstart/best.pt recipes/effect_quickstart.yaml \
        [--seconds 3] [--picture docs/img/effect-quickstart.png] [--write-docs]

``--write-docs`` also writes the table into docs/results/effects.md, block
``quickstart-quality`` (``benchmarks/docs_page.py``: with this command, the date and the CPU).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import docs_page
from wavedil.effect.paired import prepare_pairs
from wavedil.dsp.lpc import pre_emphasis
from wavedil.plots import plot_comparison
from wavedil.checkpoint import load_effect
from wavedil.effect.process import process
from wavedil.train import load_recipe
from wavedil.train.objective import esr
from wavedil.train.spectral import multi_resolution_stft_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("recipe")
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0, help="of the tail in the picture")
    ap.add_argument("--picture", default=None)
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/effects.md")
    args = ap.parse_args()
    recipe = load_recipe(args.recipe)
    model = load_effect(args.checkpoint)
    data = prepare_pairs(recipe.data, model.receptive_field, model.config.controls)
    if not data.validation:
        raise SystemExit("the recipe holds out no validation audio (data.validation_fraction)")
    rate = data.sample_rate
    pre = recipe.train.esr_pre_emphasis
    rows, notes = [], []
    for clip in data.validation:
        a, b = data.bounds[clip].tolist()
        x, y = data.inputs[a:b], data.targets[a:b]
        knobs = data.controls[clip].tolist()
        streamed = process(model, x, args.block, knobs or None)
        with torch.no_grad():
            full = model(x[None], data.controls[clip][None] if knobs else None)[0]
        gain = float((x * y).sum() / (x * x).sum())  # least-squares level of the dry signal
        for name, est in (("wavedil (streamed)", streamed), ("dry input, level-matched", gain * x)):
            rows.append((name, float(esr(est[None], y[None])),
                         float(esr(pre_emphasis(est[None], pre), pre_emphasis(y[None], pre))),
                         float(multi_resolution_stft_loss(est[None], y[None]))))
        notes.append(f"{data.paths[clip]}: {(b - a) / rate:.1f} s held out; streamed (block "
                     f"{args.block}) vs full forward: max |difference| "
                     f"{float((streamed - full).abs().max()):.2e}")
        print(notes[-1])
    table = [f"| system | ESR | ESR, pre-emphasis {pre:g} | MR-STFT |", "|---|---:|---:|---:|"]
    table += [f"| {name} | {e:.4f} | {ep:.4f} | {s:.3f} |" for name, e, ep, s in rows]
    print("\n" + "\n".join(table))
    if args.write_docs:
        docs_page.record("effects.md", "quickstart-quality", table,
                         [f"checkpoint: {args.checkpoint}", *notes])
    if args.picture:
        clip = data.validation[0]
        a, b = data.bounds[clip].tolist()
        n = min(b - a, int(args.seconds * rate))
        x, y = data.inputs[a:a + n], data.targets[a:a + n]
        est = process(model, x, args.block)
        plot_comparison({"input (dry)": x, "target (reference pedal)": y, "wavedil": est,
                         "error (target - wavedil)": y - est}, rate, Path(args.picture),
                        f"{Path(args.recipe).stem}: held-out audio")
        print(f"picture: {args.picture}")


if __name__ == "__main__":
    main()
