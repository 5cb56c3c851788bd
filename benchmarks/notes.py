"""Notes: does the autoregressive WaveNet make clean notes of the embedded corpus?

Trains each variant's recipe with ``wavedil.train`` (the embedded plucked-string corpus), then
vocodes held-out notes from their own frames with ``wavedil.evaluate`` (copy synthesis, as
``wavedil generate --from-wav`` does it) and scores them against the originals: pitch within a
semitone of the original's, harmonic-to-noise ratio (HNR) beside the originals', log-mel
distance and wideband PESQ. Griffin-Lim from the main variant's frames and a
harmonic-plus-noise model trained on the same frames within the same budget stand beside.

Held-out notes: the corpus synthesised with another seed (``make_corpus(..., seed=1)``): the
same timbres and notes, new noise bursts, never trained on; one note per MIDI number, the
timbre cycling (24 notes, 0.5 to 1 s each).

    python benchmarks/notes.py                  # recipes/quickstart.yaml, GL and HN beside
    python benchmarks/notes.py --ablation       # every variant of the ablation, same budget
    python benchmarks/notes.py --long --reuse-runs  # also the quickstart trained 5x as long
    python benchmarks/notes.py --skip-training  # re-score the runs under --out
    python benchmarks/notes.py --ablation --reuse-runs  # train only the runs not there yet
    python benchmarks/notes.py --write-docs     # also write docs/results/notes.md's blocks
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

RECIPES = ROOT / "recipes"


@dataclass
class Variant:
    """One row of the table: a recipe, the keys it overrides, how it samples."""

    name: str
    recipe: str
    sets: list[str] = field(default_factory=list)
    temperature: float | None = None
    """None: the recipe's generate.temperature."""
    voiced_temperature: float | None = None
    """None: the recipe's generate.voiced_temperature (the temperature itself: none)."""
    reuse: str | None = None
    """Score the run of this variant instead of training one (sampling-only variants)."""
    griffin_lim: bool = False


MAIN = [
    Variant("WaveNet, recipes/quickstart.yaml", "quickstart.yaml", griffin_lim=True),
    Variant("  another seed", "quickstart.yaml", ["train.seed=1"]),
    Variant("  without pre-emphasis", "quickstart.yaml", ["model.pre_emphasis=0"]),
    Variant("  every sample at temperature 1.0", "quickstart.yaml", voiced_temperature=1.0,
            reuse="WaveNet, recipes/quickstart.yaml"),
    Variant("harmonic-plus-noise, same frames", "notes_harmonic.yaml"),
]
"""The default run: the notes WaveNet (at its recipe's temperatures: 1.0, and 0 once a note
repeats itself; and at 1.0 throughout), trained again with another seed (the spread of one
run), and without its pre-emphasis, with Griffin-Lim and the harmonic-plus-noise model from
the same frames beside it."""

LONGER = ["train.steps=20000", "train.input_noise=0.001", "train.validate_every=1000",
          "train.checkpoint_every=1000"]
"""The quickstart trained five times as long (43 minutes on two cores), with noise of 1e-3 in
the teacher-forced input (the model learns to read back samples that are not exactly the
training audio, as its own are not)."""

LONG = [
    MAIN[0],
    Variant("  five times as long (20,000 steps, input noise 1e-3)", "quickstart.yaml", LONGER),
    Variant("  five times as long, without pre-emphasis", "quickstart.yaml",
            [*LONGER, "model.pre_emphasis=0"]),
    *MAIN[1:],
]
"""The default run and the quickstart trained five times as long, with and without its
pre-emphasis (with --reuse-runs the default run's models are scored, not trained again)."""

ABLATION = [
    Variant("mu-law, mel (recipes/notes_mulaw.yaml)", "notes_mulaw.yaml"),
    Variant("mixture of 2, mel + f0, pitch taps", "quickstart.yaml",
            ["model.pitch_gains=false", "data.onset_share=0"], voiced_temperature=1.0),
    Variant("+ pitch prediction (fit to its past)", "quickstart.yaml",
            ["model.pitch_gains=false", "model.pitch_prediction=128", "data.onset_share=0"],
            voiced_temperature=1.0),
    Variant("  + onset crops", "quickstart.yaml",
            ["model.pitch_gains=false", "model.pitch_prediction=128"], voiced_temperature=1.0),
    Variant("  + voiced temperature 0", "quickstart.yaml",
            reuse="  + onset crops"),
    Variant("+ pitch gains (learnt), onset crops", "quickstart.yaml", voiced_temperature=1.0,
            reuse=MAIN[0].name),
    Variant("  + voiced temperature 0 (recipes/quickstart.yaml)", "quickstart.yaml",
            griffin_lim=True, reuse=MAIN[0].name),
    Variant("  voiced temperature 0.1", "quickstart.yaml", voiced_temperature=0.1,
            reuse=MAIN[0].name),
    Variant("  without onset crops", "quickstart.yaml", ["data.onset_share=0"]),
    Variant("  Gaussian head", "quickstart.yaml", ["model.head=gaussian"]),
    Variant("  + input noise 1e-3", "quickstart.yaml", ["train.input_noise=0.001"]),
    MAIN[-1],
]
"""What the model is told (f0, pitch taps, the pitch prediction or learnt pitch gains), what
it predicts (mu-law, a Gaussian, a mixture of logistics), how it is trained (crops at onsets,
noise in the teacher-forced input) and how it samples (the voiced temperature), each trained
with its recipe's steps. The quickstart's run and the harmonic-plus-noise model's are the
default run's (same --out): with --reuse-runs they are scored, not trained again."""


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.strip().lower()).strip("-")


def heldout(folder: Path, rate: int) -> Path:
    """24 held-out notes (seed 1), one per MIDI number with the timbre cycling, linked under
    ``folder/notes``."""
    from wavedil.data import make_corpus

    items = make_corpus(folder / "corpus", rate, 48, 71, 4, 1, seed=1)
    timbres = sorted({item.timbre for item in items})
    notes = folder / "notes"
    notes.mkdir(parents=True, exist_ok=True)
    for item in items:
        if timbres[item.midi % len(timbres)] == item.timbre:
            link = notes / f"{item.midi:03d}_{item.timbre}.wav"
            if not link.exists():
                link.symlink_to(item.path.resolve())
    return notes


def prediction_gain(loaded, notes: Path, limit: int | None) -> float | None:
    """The pitch prediction alone, on the originals: the median over the held-out notes of
    their energy over what the prediction (fit to each original's own past, as in teacher
    forcing) leaves, in dB, after each note's first four periods (the pluck); None for a model
    without it."""
    import numpy as np
    import torch
    from torch.nn import functional as F

    from wavedil.data import midi_to_hz
    from wavedil.evaluate import _features
    from wavedil.dsp.lpc import pre_emphasis

    model = loaded.model
    feats = getattr(model, "excitation", None)
    if feats is None or not feats.window:
        return None
    gains = []
    for path in sorted(notes.glob("*.wav"))[:limit]:
        mel, ref = _features(path, loaded)
        y = torch.from_numpy(ref)[None]  # (1, T)
        if model.config.pre_emphasis:  # the signal the model reads and predicts
            y = pre_emphasis(y, model.config.pre_emphasis)
        x = torch.cat([torch.zeros(1, 1), y[:, :-1]], 1)  # output t predicts y[t]
        ctx = model.sample_context(mel[None], x.shape[-1])
        _, pred = feats.features(F.pad(x, (feats.history, 0)), ctx)
        skip = 4 * round(loaded.sample_rate / midi_to_hz(int(path.stem[:3])))
        left = (y - pred)[0, skip:].double()
        gains.append(10 * np.log10(float((y[0, skip:].double() ** 2).sum() / (left ** 2).sum())))
    return float(np.median(gains))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ablation", action="store_true", help="every variant of the ablation")
    ap.add_argument("--long", action="store_true",
                    help="also the quickstart trained five times as long")
    ap.add_argument("--out", type=Path, default=Path("runs/notes"))
    ap.add_argument("--skip-training", action="store_true", help="score the runs under --out")
    ap.add_argument("--reuse-runs", action="store_true",
                    help="train only the variants whose run under --out is not finished")
    ap.add_argument("--limit", type=int, default=None, help="score the first N held-out notes")
    ap.add_argument("--write-docs", action="store_true",
                    help="write the table into docs/results/notes.md")
    args = ap.parse_args()

    import torch

    from wavedil.checkpoint import load_model
    from wavedil.evaluate import evaluate
    from wavedil.train import load_recipe, train

    torch.set_num_threads(2)
    variants = ABLATION if args.ablation else LONG if args.long else MAIN
    notes = heldout(args.out / "heldout", 16000)
    rows, original_hnr, gains = [], None, {}
    for v in variants:
        run = args.out / slug(v.reuse or v.name)
        minutes = None
        finished = (run / "best.pt").exists() and (run / "train_minutes.json").exists()
        if v.reuse is None and not args.skip_training and not (args.reuse_runs and finished):
            recipe = load_recipe(RECIPES / v.recipe, [*v.sets, f"train.run_dir={run}"])
            start = time.perf_counter()
            train(recipe, force=True)
            minutes = (time.perf_counter() - start) / 60
            (run / "train_minutes.json").write_text(json.dumps({"minutes": minutes}))
        elif (run / "train_minutes.json").exists():
            minutes = json.loads((run / "train_minutes.json").read_text())["minutes"]
        loaded = load_model(run / "best.pt")
        report = evaluate(run / "best.pt", notes, out=run / f"scores-{slug(v.name)}",
                          griffin_lim=v.griffin_lim, temperature=v.temperature,
                          voiced_temperature=v.voiced_temperature, limit=args.limit, force=True)
        original_hnr = report.original_hnr_db
        if v.reuse is None and (gain := prediction_gain(loaded, notes, args.limit)) is not None:
            gains[v.name.strip()] = gain
        for system in report.systems:
            if system != "wavedil" and not system.startswith("griffin"):
                continue
            m = report.means[system]
            label = v.name if system == "wavedil" else f"Griffin-Lim ({v.name}'s frames)"
            rows.append({
                "system": label, "minutes": minutes if system == "wavedil" else None,
                "steps": loaded.step if system == "wavedil" else None,
                "val": loaded.best_val if system == "wavedil" else None,
                "kind": loaded.model.config.kind,
                "temperature": report.temperature if system == "wavedil" else None,
                "voiced_temperature": (report.voiced_temperature if system == "wavedil"
                                       else None),
                **m, "rtf": report.real_time_factor if system == "wavedil" else None})
        own = report.means["wavedil"]
        print(f"{v.name}: {report.files} notes, HNR {own['hnr_db']}, PESQ {own['pesq_wb']}",
              flush=True)

    def fmt(value, spec):
        return "" if value is None else spec.format(value)

    def temps(r):
        if r["temperature"] is None:
            return ""
        vt = r.get("voiced_temperature")
        same = vt is None or vt == r["temperature"]
        return f"{r['temperature']:g}" + ("" if same else f", voiced {vt:g}")

    table = ["| system | train min | steps | validation | T | within a semitone | HNR dB | "
             "log-mel dB | PESQ-wb | gen x real time |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        val = "" if r["val"] is None else (f"{r['val']:.3f} bits" if r["kind"] == "wavenet"
                                           else f"{r['val']:.3f} stft")
        table.append(f"| {r['system']} | {fmt(r['minutes'], '{:.1f}')} | {fmt(r['steps'], '{:,}')} "
                     f"| {val} | {temps(r)} | "
                     f"{fmt(r['in_tune'], '{:.0%}')} | {fmt(r['hnr_db'], '{:.1f}')} | "
                     f"{fmt(r['log_mel_db'], '{:.2f}')} | {fmt(r['pesq_wb'], '{:.2f}')} | "
                     f"{fmt(r['rtf'], '{:.2f}')} |")
    notes_lines = [f"the originals' HNR: {original_hnr:.1f} dB (mean over the held-out notes)"
                   if original_hnr is not None else ""]
    notes_lines += [f"{name}: the pitch prediction alone, fit to the originals' own past, "
                    f"leaves {gain:.1f} dB below the note after its first four periods (median)"
                    for name, gain in gains.items()]
    notes_lines = [line for line in notes_lines if line]
    print("\n" + "\n".join(table + notes_lines))
    (args.out / "notes.json").write_text(json.dumps(
        {"rows": rows, "original_hnr_db": original_hnr, "prediction_gain_db": gains}, indent=1))
    if args.write_docs:
        import docs_page

        block = "ablation" if args.ablation else "long" if args.long else "notes"
        docs_page.record("notes.md", block, table, notes_lines)


if __name__ == "__main__":
    main()
