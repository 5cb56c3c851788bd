"""Ship a finished run as a pretrained model: its best checkpoint, slimmed to the moving-average
weights (no optimiser, scheduler or random state), written to ``wavedil/pretrained/NAME.pt``,
and its entry in ``wavedil/pretrained/models.json`` with the recipe, the command, the training
time read from the run's metrics log, and the validation figure re-measured on the shipped
weights (``wavedil.train.validation.checkpoint_validation``; with ``--dtype float16`` the
rounding is in the figure). Runs whose data is not here (``--no-validate``) record the figure
training measured.

    wavedil train recipes/quickstart.yaml
    python benchmarks/pretrained.py runs/quickstart quickstart --recipe recipes/quickstart.yaml \\
        --description "mu-law WaveNet vocoder of the embedded plucked strings" \\
        --data "embedded plucked-string corpus"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import torch

from wavedil.checkpoint import FORMAT, VERSION, load_checkpoint, save_checkpoint
from wavedil.families import validation_key
from wavedil.pretrained import FOLDER
from wavedil.train.validation import checkpoint_validation


def training_minutes(run: Path) -> float:
    """Wall-clock minutes from the first to the last entry of the run's metrics log."""
    times = [json.loads(line)["time"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if line.strip()]
    return (max(times) - min(times)) / 60.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a finished run folder (best.pt, metrics.jsonl)")
    ap.add_argument("name")
    ap.add_argument("--recipe", required=True)
    ap.add_argument("--command", default=None, help="default: wavedil train RECIPE")
    ap.add_argument("--description", required=True)
    ap.add_argument("--data", required=True, help="what it was trained on")
    ap.add_argument("--hardware", default=f"{os.cpu_count()} CPU cores ({platform.machine()})")
    ap.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    ap.add_argument("--no-validate", action="store_true",
                    help="record training's figure (for data not on this machine)")
    args = ap.parse_args()
    ckpt = load_checkpoint(args.run / "best.pt")
    weights = ckpt["ema"] if ckpt.get("ema") is not None else ckpt["model"]
    dtype = getattr(torch, args.dtype)
    weights = {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}
    slim = {"format": FORMAT, "version": VERSION, "recipe": ckpt["recipe"], "name": args.name,
            "model": weights, "ema": None, "step": ckpt.get("step"),
            "best_val": ckpt.get("best_val"), "best_step": ckpt.get("best_step"),
            "last_val": ckpt.get("last_val"), "untrained_val": ckpt.get("untrained_val"),
            "speakers": ckpt.get("speakers", [])}
    # measured on a file beside the shipped one, which is replaced only once that worked
    trial = save_checkpoint(FOLDER / f".{args.name}.trial.pt", slim)
    try:
        figure = ckpt.get("best_val") if args.no_validate else checkpoint_validation(trial)
        if figure is None or ckpt.get("untrained_val") is None:
            raise SystemExit(f"{args.run}/best.pt records no validation figures to ship")
        slim["best_val"] = figure
        out = save_checkpoint(FOLDER / f"{args.name}.pt", slim)
    finally:
        trial.unlink(missing_ok=True)
    from wavedil.checkpoint import load_model

    entry = {"name": args.name, "file": out.name, "kind": load_model(out).config.kind,
             "description": args.description, "recipe": args.recipe,
             "command": args.command or f"wavedil train {args.recipe}", "data": args.data,
             "steps": int(ckpt.get("step") or 0),
             "train_minutes": round(training_minutes(args.run), 1), "hardware": args.hardware,
             "validation": validation_key(load_model(out).config),
             "untrained_val": round(float(ckpt.get("untrained_val")), 4),
             "best_val": round(float(figure), 4), "dtype": args.dtype}
    manifest = FOLDER / "models.json"
    entries = json.loads(manifest.read_text()) if manifest.is_file() else []
    entries = [e for e in entries if e["name"] != args.name] + [entry]
    manifest.write_text(json.dumps(entries, indent=1) + "\n")
    print(json.dumps(entry), f"{out.stat().st_size / 1e6:.2f} MB", sep="\n")


if __name__ == "__main__":
    main()
