"""Vocoder quality on speech: train a recipe within its budget, copy-synthesise held-out files,
score them beside Griffin-Lim from the same mel frames.

Needs the speech corpus (``python benchmarks/speech_corpus.py data/speech``: espeak-ng and
Festival voices, train and test sentences disjoint) and the ``eval`` extra for PESQ and STOI.

    python benchmarks/vocoder.py data/speech                        # recipes/speech_vocoder.yaml
    python benchmarks/vocoder.py data/speech --ablation --steps 600  # every variant, shorter
    python benchmarks/vocoder.py data/speech --evaluate-only         # score runs already trained
    python benchmarks/vocoder.py data/speech --checkpoint pretrained:speech   # score a checkpoint

Each variant trains with ``wavedil.train`` in its own run folder under ``--out`` (the recipe's
data path replaced by CORPUS/train) and is scored by ``wavedil.evaluate`` on CORPUS/test. The
variants:

    harmonic-noise   recipes/speech_vocoder.yaml: oscillators at the frames' f0 and shaped
                     noise, their gains set per frame by a dilated conv stack over the frames;
                     a second stack reads that output's spectrum and sets a gain per STFT
                     bin (wavedil/harmonic_noise/shaping.py); STFT and log-mel loss
    first stage alone   the same without the second stage and the log-mel term (the design
                     shipped before 2026-12-07)
    harmonic-noise + phase terms   the recipe with the phase terms (train.phase_weight 1,
                     wavedil/train/phase.py)
    adversarial      the recipe with adversarial training (wavedil/train/adversarial.py) from
                     step 1,000, weight 0.1
    inverse-STFT     recipes/speech_istft.yaml: a dilated stack over the frames predicts each
                     STFT frame, a gain over the mel envelope and a phase per bin (a rotation of
                     its nearest harmonic's phase at the frames' f0), inverted by the inverse
                     STFT (wavedil/istft/model.py); STFT, log-mel and phase terms
    inverse-STFT without phase terms   the same, train.phase_weight 0
    inverse-STFT without reference     the same, each phase the network's alone (Vocos' layout)
    (harmonic-noise and inverse-STFT run by default; ``--only NAME`` adds a row to their table,
    the variants not run keeping their rows from the folder's results.json) and the
    autoregressive WaveNet of recipes/speech_wavenet.yaml, adding the speech structure
    one piece at a time (``--ablation``), every variant with the same steps:
    plain            mel only, raw waveform
    +pre             the model works on the pre-emphasised signal (0.85), de-emphasised after
    +f0              log-f0 and voicing per frame appended to the mel
    +taps            pitch taps: the model's own signal at period - 2 .. period + 2
    +LP              the mel-derived LP prediction as input and as the mean's offset

Prints one table (mean over the test files; log-mel distance, MCD and f0 RMSE lower is better,
PESQ and STOI higher) with the training time and the generation speed of each variant. A
variant whose recipe refines its output (``generate.refine``, mel-consistent refinement,
``wavedil.dsp.refine``) is scored with and without the refinement, on two rows, and Griffin-Lim
through the same passes has its own row: the control for what the passes alone do.

``--write-docs`` also writes the table into docs/results/speech.md (``benchmarks/docs_page.py``:
the table with this command, the date, the commit and the CPU): block ``copy-synthesis`` for
the harmonic-noise variant alone, ``ablation`` for any other set of variants (the variants of
this run only).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import docs_page
from wavedil.evaluate import evaluate
from wavedil.train import load_recipe, train

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
RECIPE = RECIPES / "speech_vocoder.yaml"
WAVENET = RECIPES / "speech_wavenet.yaml"
ISTFT = RECIPES / "speech_istft.yaml"
VOCODERS = {  # variant -> (its recipe, None: --recipe; the overrides)
    "harmonic-noise": (None, []),
    "first stage alone": (None, ["model.shaping_dilations=[]", "train.mel_weight=0.0"]),
    "harmonic-noise + phase terms": (None, ["train.phase_weight=1.0"]),
    "harmonic-noise, 12,000 steps": (None, ["train.steps=12000"]),
    "adversarial": (None, ["adversarial.weight=0.1", "adversarial.start_step=1000"]),
    "inverse-STFT": (ISTFT, []),
    "inverse-STFT without phase terms": (ISTFT, ["train.phase_weight=0.0"]),
    "inverse-STFT without reference": (ISTFT, ["model.phase_reference=none"]),
}
DEFAULT = ["harmonic-noise", "inverse-STFT"]
ABLATION = {
    "plain": ["data.f0=false", "model.local_channels=80", "model.f0_input=false",
              "model.pitch_lags=[]", "model.lpc_order=0", "model.pre_emphasis=0.0"],
    "+pre": ["data.f0=false", "model.local_channels=80", "model.f0_input=false",
             "model.pitch_lags=[]", "model.lpc_order=0"],
    "+f0": ["model.pitch_lags=[]", "model.lpc_order=0"],
    "+taps": ["model.lpc_order=0"],
    "+LP": [],
}
METRICS = [("log_mel_db", "log-mel dB", "{:.2f}"), ("mcd_db", "MCD dB", "{:.2f}"),
           ("f0_rmse_cents", "f0 RMSE c", "{:.1f}"), ("vde", "VDE", "{:.3f}"),
           ("pesq_wb", "PESQ-wb", "{:.2f}"), ("stoi", "STOI", "{:.3f}")]


def run_variant(name: str, overrides: list[str], args) -> dict:
    """Train (unless asked not to) and evaluate one variant: its means and timings."""
    run_dir = Path(args.out) / re.sub(r"[^a-z0-9]+", "-", name.lower().replace("+", "plus-"))
    sets = [f"data.path={Path(args.corpus) / 'train'}", f"train.run_dir={run_dir}", *overrides,
            *(["train.steps=" + str(args.steps)] if args.steps else []), *args.set]
    path = (VOCODERS[name][0] or args.recipe) if name in VOCODERS else WAVENET
    recipe = load_recipe(path, sets)
    seconds = None
    finished = (run_dir / "metrics.jsonl").is_file() and any(
        json.loads(line).get("step") == recipe.train.steps and "\"val_" in line
        for line in (run_dir / "metrics.jsonl").read_text().splitlines())
    if args.checkpoint and name == "harmonic-noise":
        ckpt = args.checkpoint
    elif args.skip_trained and finished:  # its training time from its own metrics log
        times = [json.loads(line)["time"]
                 for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        seconds = max(times) - min(times)
        print(f"  [{name}] trained before ({recipe.train.steps} steps in {seconds / 60:.1f} min)",
              flush=True)
    elif not args.evaluate_only:
        start = time.perf_counter()
        result = train(recipe, force=True, echo=lambda line: print(f"  [{name}] {line}", flush=True))
        seconds = time.perf_counter() - start
        print(f"  [{name}] trained {result.step} steps in {seconds / 60:.1f} min", flush=True)
    if not (args.checkpoint and name == "harmonic-noise"):
        # the weights at the end of the budget (the moving average): an adversarial run's
        # spectral validation loss rises as the discriminators pull, so best.pt, chosen by it,
        # would be its weights from before they did; for the others the last is the best
        ckpt = run_dir / "checkpoints" / f"step-{recipe.train.steps:08d}.pt"
    test = Path(args.corpus) / "test"
    report = evaluate(ckpt, test, out=run_dir / "evaluation", griffin_lim=True,
                      engine=args.engine, temperature=args.temperature, limit=args.limit,
                      force=True)
    return {"name": name, "refine": report.refine, "train_seconds": seconds,
            "steps": recipe.train.steps, "rtf": report.real_time_factor, "means": report.means,
            "files": report.files}


def table(results: list[dict]) -> str:
    head = "| system | " + " | ".join(label for _, label, _ in METRICS) + " | train min | gen x real time |"
    lines = [head, "|---|" + "---:|" * (len(METRICS) + 2)]

    def row(label: str, means: dict, minutes: str, rtf: str) -> str:
        cells = [fmt.format(means[key]) if means.get(key) is not None else "n/a"
                 for key, _, fmt in METRICS]
        return f"| {label} | " + " | ".join(cells) + f" | {minutes} | {rtf} |"

    first = results[0]["means"]
    if first.get("griffin-lim"):
        lines.append(row("Griffin-Lim (32 iterations)", first["griffin-lim"], "-", "-"))
    refined = next((r for r in results if r["means"].get("griffin-lim refined")), None)
    if refined:
        lines.append(row(f"Griffin-Lim + {refined['refine']} refinement passes",
                         refined["means"]["griffin-lim refined"], "-", "-"))
    for r in results:
        minutes = f"{r['train_seconds'] / 60:.1f}" if r["train_seconds"] else "-"
        rtf = f"{r['rtf']:.2f}" if r["rtf"] else "-"
        passes = f", {r['refine']} refinement passes" if r["refine"] else ""
        lines.append(row(f"wavedil {r['name']} ({r['steps']} steps{passes})",
                         r["means"]["wavedil"], minutes, rtf))
        if r["means"].get("wavedil unrefined"):
            lines.append(row(f"wavedil {r['name']} ({r['steps']} steps), unrefined",
                             r["means"]["wavedil unrefined"], minutes, "-"))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", help="folder with train/ and test/ (benchmarks/speech_corpus.py)")
    ap.add_argument("--recipe", default=str(RECIPE), help="the harmonic-noise variant's recipe")
    ap.add_argument("--out", default="runs/vocoder-benchmark")
    ap.add_argument("--ablation", action="store_true", help="train every ablation variant")
    ap.add_argument("--only", nargs="*", default=None, help="ablation variants to run")
    ap.add_argument("--steps", type=int, default=0, help="training steps (default: the recipe's)")
    ap.add_argument("--engine", default=None, help="generation engine (default: the recipe's)")
    ap.add_argument("--temperature", type=float, default=None)
    ap.add_argument("--limit", type=int, default=None, help="evaluate the first N test files")
    ap.add_argument("--evaluate-only", action="store_true", help="score runs trained before")
    ap.add_argument("--skip-trained", action="store_true",
                    help="train only the variants whose run folder has not finished its steps")
    ap.add_argument("--checkpoint", default=None,
                    help="score this checkpoint (pretrained:speech, a best.pt) as the "
                    "harmonic-noise variant instead of training it")
    ap.add_argument("--set", nargs="*", default=[], help="more recipe overrides")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/speech.md")
    args = ap.parse_args()
    names = args.only or (list(ABLATION) if args.ablation else DEFAULT)
    unknown = [n for n in names if n not in VOCODERS and n not in ABLATION]
    if unknown:
        ap.error(f"unknown variant {unknown[0]!r}; the variants: "
                 f"{', '.join(list(VOCODERS) + list(ABLATION))}")
    saved = Path(args.out) / "results.json"
    # the variants not run now keep their rows from earlier runs into the same folder
    kept = [r for r in (json.loads(saved.read_text()) if saved.exists() else [])
            if r["name"] not in names]
    results = []
    for name in names:
        overrides = VOCODERS[name][1] if name in VOCODERS else ABLATION[name]
        print(f"{name}: {' '.join(overrides) or 'the recipe as it is'}", flush=True)
        results.append(run_variant(name, overrides, args))
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps(kept + results, indent=1))
    order = list(VOCODERS) + list(ABLATION)
    shown = sorted(kept + results, key=lambda r: order.index(r["name"]))
    print()
    print(table(shown))
    if args.write_docs:
        write_docs(names, shown, kept, args.corpus)


def write_docs(names: list[str], shown: list[dict], kept: list[dict], corpus: str) -> None:
    """The table of the variants of the block that ``names`` belong to into speech.md: the
    vocoders' copy-synthesis block, or the WaveNet ablation's."""
    block = "copy-synthesis" if set(names) <= set(VOCODERS) else "ablation"
    same = [r for r in shown if (r["name"] in VOCODERS) == (block == "copy-synthesis")]
    files = same[0].get("files")
    notes = [f"held-out files: {Path(corpus) / 'test'}" + (f" ({files} files)" if files else "")]
    earlier = [r["name"] for r in kept if r in same]
    if earlier:
        notes.append(f"rows of {', '.join(earlier)}: from an earlier run of the same command "
                     "into the same --out folder")
    docs_page.record("speech.md", block, table(same).splitlines(), notes)


if __name__ == "__main__":
    main()
