"""The speech WaveNet against training time: one run of ``recipes/speech_wavenet.yaml``, scored
on the corpus's held-out files at 30, 60 and 120 minutes of training (or the minutes asked
for), beside Griffin-Lim from the same frames.

The autoregressive WaveNet learns speech slowly: peers report speech-like output after about
60k steps and clean speech after a million, on a GPU. This table shows the trend on two CPU
cores, so that a user sees how far a longer run (``recipes/speech_wavenet_gpu.yaml``) has to
go. It is one run with one learning-rate schedule (the recipe's, over ``--steps``; give
enough steps that the schedule is not over before the last milestone: two cores of an Intel
Xeon with AVX-512 trained about 3.6 steps a second, so 26,000 steps outlast two hours): the
checkpoint at 30 minutes was trained at a higher rate than a 30-minute recipe would end at.

    python benchmarks/speech_corpus.py data/speech          # the corpus, once
    python benchmarks/speech_wavenet_time.py data/speech --steps 26000   # trains (2 hours), scores
    python benchmarks/speech_wavenet_time.py data/speech --evaluate-only   # scores the run

The run keeps a checkpoint every ``--every`` steps (all of them), each with the minutes the
run had trained (``train.minutes`` stops it after the last milestone). A run stopped and
resumed (the command again, into the same ``--out``) counts only the time it trained, so the
milestones can be reached over several sessions (the machine may then differ between them). Each milestone is
scored at the last checkpoint within it, with ``wavedil.evaluate`` (its temperature from the
recipe), and with the passes of mel-consistent refinement where ``--refine`` asks for them.
``--write-docs`` writes the table into docs/results/speech.md (block ``wavenet-time``);
``--picture PATH`` draws one held-out file (``--file``) at every milestone scored, beside the
original and Griffin-Lim, from the evaluations' audio (``--draw-only``: from the evaluations
already written, scoring nothing):

    python benchmarks/speech_wavenet_time.py data/speech --draw-only \\
        --picture docs/img/speech-wavenet-time.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import docs_page
from vocoder import METRICS, WAVENET
from wavedil.train import load_recipe, train
from wavedil.train.checkpoint import training_times


def milestones(run: Path, minutes: list[float],
               steps: int) -> list[tuple[float, int | None, float | None]]:
    """(milestone, the step of the last checkpoint within it, the minutes it had trained) for
    each milestone, from the run's step checkpoints (each carries the run's training time so
    far); step None where the run has not trained that long yet. A run that ended its
    ``steps`` first gives its last checkpoint to the milestones beyond it."""
    at = {step: seconds / 60 for _, step, seconds in training_times(run / "checkpoints")}
    total, ended = max(at.values(), default=0.0), steps in at
    out = []
    for limit in minutes:
        within = sorted(s for s in at if at[s] <= limit * 1.02)
        if within and (total >= limit * 0.98 or ended):
            out.append((limit, within[-1], at[within[-1]]))
        else:
            out.append((limit, None, None))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus", help="folder with train/ and test/ (benchmarks/speech_corpus.py)")
    ap.add_argument("--minutes", default="30,60,120", help="milestones, minutes of training")
    ap.add_argument("--steps", type=int, default=0,
                    help="the schedule's length in steps (default: the recipe's)")
    ap.add_argument("--every", type=int, default=250, help="steps between checkpoints")
    ap.add_argument("--out", default="runs/speech-wavenet-time")
    ap.add_argument("--refine", type=int, default=None,
                    help="refinement passes after synthesis (default: the recipe's)")
    ap.add_argument("--limit", type=int, default=None, help="score the first N test files")
    ap.add_argument("--evaluate-only", action="store_true", help="score the run as it is")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/speech.md")
    ap.add_argument("--picture", type=Path, help="also draw --file at every milestone here")
    ap.add_argument("--file", default="us_f/00", help="the held-out file --picture draws")
    ap.add_argument("--draw-only", action="store_true",
                    help="only draw --picture, from the evaluations already written")
    args = ap.parse_args()
    if args.draw_only and not args.picture:
        ap.error("--draw-only needs --picture")
    try:
        minutes = sorted(float(m) for m in args.minutes.split(","))
    except ValueError:
        ap.error(f"--minutes must be numbers separated by commas, got {args.minutes!r}")
    if not minutes or minutes[0] <= 0:
        ap.error(f"--minutes must be positive, got {args.minutes!r}")

    from wavedil.evaluate import evaluate

    run = Path(args.out)
    sets = [f"data.path={Path(args.corpus) / 'train'}", f"train.run_dir={run}",
            f"train.checkpoint_every={args.every}", "train.keep_last=100000",
            f"train.minutes={minutes[-1] * 1.02:g}",  # then stop: the command again resumes it
            *([f"train.steps={args.steps}"] if args.steps else [])]
    recipe = load_recipe(WAVENET, sets)
    reached = milestones(run, minutes, recipe.train.steps)
    test = Path(args.corpus) / "test"
    if args.draw_only:
        scored = [(limit, step) for limit, step, _ in reached
                  if step is not None and (run / f"evaluation-{limit:g}min").is_dir()]
        if not scored:
            raise SystemExit(f"{run}: no evaluations to draw; score the run first")
        draw(run, test, args.file, scored, args.picture)
        return
    if not args.evaluate_only and reached[-1][1] is None:
        started = (run / "checkpoints").is_dir() and any((run / "checkpoints").glob("step-*.pt"))
        def echo(line: str) -> None:
            print(f"  {line}", flush=True)

        result = train(recipe, resume=started, force=not started, echo=echo)
        print(f"trained to step {result.step}", flush=True)
        reached = milestones(run, minutes, recipe.train.steps)

    rows, gl = [], None
    for limit, step, at in reached:
        if step is None:
            rows.append((limit, None, None, None, None))
            continue
        ckpt = run / "checkpoints" / f"step-{step:08d}.pt"
        report = evaluate(ckpt, test, out=run / f"evaluation-{limit:g}min", griffin_lim=gl is None,
                          refine=args.refine, limit=args.limit, force=True)
        gl = gl or {k: v for k, v in report.means.items() if k.startswith("griffin")}
        rows.append((limit, step, at, report.means, report.real_time_factor))
        print(f"{limit:g} min: step {step}, PESQ-wb {report.means['wavedil'].get('pesq_wb')}",
              flush=True)

    def cells(means: dict) -> str:
        return " | ".join(fmt.format(means[key]) if means.get(key) is not None else "n/a"
                          for key, _, fmt in METRICS)

    head = "| system | train min | steps | " + " | ".join(label for _, label, _ in METRICS) + " |"
    table = [head, "|---|---:|---:|" + "---:|" * len(METRICS)]
    for name, means in (gl or {}).items():
        label = "Griffin-Lim" + (", refined" if "refined" in name else "")
        table.append(f"| {label} | - | - | {cells(means)} |")
    for limit, step, at, means, _ in rows:
        if step is None:
            table.append(f"| WaveNet at {limit:g} min | not reached | - | "
                         + " | ".join("-" for _ in METRICS) + " |")
            continue
        for system, system_means in means.items():
            if system.startswith("griffin"):
                continue
            label = f"WaveNet at {limit:g} min" + (", unrefined" if "unrefined" in system else "")
            table.append(f"| {label} | {at:.1f} | {step:,} | {cells(system_means)} |")
    notes = [f"held-out files: {test}", f"the schedule: {recipe.train.steps:,} steps "
             f"(recipes/speech_wavenet.yaml, lr {recipe.train.lr:g}, {recipe.train.schedule})"]
    rtf = [r[4] for r in rows if r[4]]
    if rtf:
        notes.append(f"generation: {min(rtf):.2f}x to {max(rtf):.2f}x real time")
    print("\n".join(table + notes))
    if args.write_docs:
        docs_page.record("speech.md", "wavenet-time", table, notes)
    if args.picture:
        draw(run, test, args.file, [(limit, step) for limit, step, *_ in rows if step is not None],
             args.picture)


def draw(run: Path, test: Path, name: str, scored: list[tuple[float, int]], out: Path) -> None:
    """Spectrograms of the held-out file ``name`` (as ``us_f/00``): the original, the WaveNet at
    each (milestone, step) scored, and Griffin-Lim, from the evaluations' audio."""
    import soundfile as sf
    from wavedil.plots import plot_comparison

    original, rate = sf.read(test / f"{name}.wav", dtype="float32")
    waves = {"original": original}
    for limit, step in scored:
        waves[f"WaveNet at {limit:g} min ({step:,} steps)"] = sf.read(
            run / f"evaluation-{limit:g}min" / f"{name}.wavedil.wav", dtype="float32")[0]
    first = run / f"evaluation-{scored[0][0]:g}min" / f"{name}.griffin-lim.wav"
    waves["Griffin-Lim"] = sf.read(first, dtype="float32")[0]
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_comparison(waves, rate, out, title=f"{name}, held out")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
