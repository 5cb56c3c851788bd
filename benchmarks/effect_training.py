"""Effect training against the clock: validation ESR by minute, NAM's own trainer and wavedil's.

Neural Amp Modeler's trainer (``nam.train.full.main``, the ``nam`` extra, PyTorch Lightning on
the CPU) and ``wavedil train``, one after the other on the same threads, both learning NAM's
standard WaveNet (13,802 weights) from the same audio: the embedded pedal pair of
``recipes/effect_quickstart.yaml``, split as wavedil splits it (its training head written to
wav files for NAM, its validation tail held out from both). Each model is scored at 1, 2, 5,
10 and 20 minutes of wall-clock training by one function, the ESR
(``wavedil.train.objective.esr``: sum of squared errors over the sum of squares of the target)
of its output over the whole validation input, both played by wavedil's forward (NAM's model
from the ``.nam`` file NAM's own export writes, which wavedil reads exactly).

    pip install -e '.[nam]'
    python benchmarks/effect_training.py [--minutes 1,2,5,10,20] [--threads 2] \\
        [--out runs/effect-training] [--recipe recipes/effect_amp.yaml] [--skip-training] \\
        [--json out.json] [--write-docs]

NAM runs as a user runs ``nam-full``: its WaveNet with NAM's standard layout, its trainer's
defaults for loss, optimiser and schedule (read from the installed package: MSE plus 5e-4 x
its multi-resolution STFT loss, Adam at lr 0.004, weight decay 3.17e-7, the learning rate
x 0.994 per epoch), batches of 16 windows of 8,192 output samples, its data set's output
normalised to -18 dBFS (undone by its export), validation every epoch, no latency to remove
(the embedded pair has none); it runs first, before wavedil's trainer sets its process-wide
options (denormals flushed to zero, the allocator's). One Lightning callback is added to its
callbacks: it starts NAM's clock when fitting starts (its sanity validation included, as
wavedil's clock includes its untrained validation), exports the model with NAM's export at
the first step that ends past each mark (the export's own time taken off the clock) and
stops the run at the last.
wavedil runs the recipe with ``train.minutes`` set to the last mark, its learning-rate
schedule over ``--steps`` steps and a checkpoint every ``--every`` steps (each carries
``trained_seconds``, its training time so far, validations and checkpoints included); by
default both come from five of its training steps timed just before it trains, so that the
schedule ends at the last mark and a checkpoint falls about every 5 s. At each mark wavedil
is scored by its last checkpoint at or before the mark (its EMA weights, as it validates and
exports), NAM by its export at the first step after it. NAM's result, which the targets read,
is the better of its weights at the last mark and the ``model.nam`` its trainer exports from
its best validated checkpoint (what a NAM user keeps): both trainers' losses spike now and
then, and a spike at the mark is not NAM's run.

Throughput counts output samples with loss (batch x crop) per second of training, validation
included. The issue's targets are printed beside the figures, not asserted. Run folders go
under ``--out`` (``nam/``, ``wavedil/``, ``data/``); ``--skip-training`` re-scores them.
``--recipe recipes/effect_amp.yaml`` trains both on the harder embedded amp instead.
``--short 2`` trains wavedil once more with its schedule over 2 minutes (under ``short/``) and
sets its final ESR beside NAM's at the last mark.
``--write-docs`` writes the table into docs/results/effects.md, block ``training`` (for
another recipe ``training-`` and its name)
(``benchmarks/docs_page.py``: with this command, the date, the commit and the CPU).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import tempfile
import time
from pathlib import Path

import soundfile as sf
import torch

import docs_page
from wavedil.checkpoint import load_checkpoint, load_model
from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.nam import load_nam
from wavedil.effect.paired import prepare_pairs
from wavedil.train import Recipe, Trainer, load_recipe, train
from wavedil.train.objective import esr
from wavedil.train.checkpoint import training_times
from wavedil.train.loop import FlushDenormals

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "effect_quickstart.yaml"
NAM_BATCH = 16
"""Windows per batch: NAM's trainer's default (``nam.train.core.train``)."""
NAM_NY = 8192
"""Output samples per window: NAM's trainer's default."""
NAM_LEVEL_DBFS = -18.0
"""RMS level NAM's trainer normalises the output to (its ``normalize_joint_dataset_output``)."""
CHECKPOINT_SECONDS = 5.0
"""Seconds of wavedil's training between its checkpoints (the marks' resolution), by default."""

TARGETS = ("wavedil reaches NAM's final ESR within 2 minutes", "wavedil's final ESR below half "
           "NAM's", "wavedil's training throughput at least 2x NAM's")
"""The issue's targets, printed as comparisons."""


def nam_wavenet(config: EffectConfig) -> dict:
    """NAM's ``WaveNet`` net config (``nam-full``'s model file, ``net.config``) of a wavedil
    effect config made of plain layer arrays (one kernel size and activation each)."""
    arrays, inputs = [], 1
    for a in config.arrays:
        if a["gated"] or not isinstance(a["kernel_size"], int) \
                or not isinstance(a["activation"], str):
            raise ValueError(f"nam_wavenet: only plain layer arrays are written, got {a}")
        arrays.append({"input_size": inputs, "condition_size": 1, "channels": a["channels"],
                       "head": {"out_channels": a["head_size"], "kernel_size": 1,
                                "bias": a["head_bias"]},
                       "kernel_size": a["kernel_size"], "dilations": list(a["dilations"]),
                       "activation": {"tanh": "Tanh"}.get(a["activation"], a["activation"])})
        inputs = a["channels"]
    return {"layers_configs": arrays, "head_scale": config.head_scale}


def nam_configs(recipe: Recipe, data: Path) -> tuple[dict, dict, dict]:
    """NAM's data, model and learning configs for ``nam.train.full.main``: the pair's wav
    files, the recipe's architecture with the loss, optimiser and schedule NAM's trainer uses
    by default, and its data loaders on the CPU."""
    from nam.train.core import _get_packed_model_config  # the defaults NAM's trainer trains with

    defaults = _get_packed_model_config()
    data_config = {
        "train": {"ny": NAM_NY, "x_path": str(data / "train_input.wav"),
                  "y_path": str(data / "train_output.wav")},
        "validation": {"ny": None, "x_path": str(data / "validation_input.wav"),
                       "y_path": str(data / "validation_output.wav")},
        "common": {"delay": 0, "allow_unequal_lengths": True},
        "joint": [{"name": "nam.data.normalize_joint_dataset_output",
                   "kwargs": {"level_rms_dbfs": NAM_LEVEL_DBFS}}]}
    model_config = {"net": {"name": "WaveNet", "config": nam_wavenet(recipe.model)},
                    **{k: defaults[k] for k in ("loss", "optimizer", "lr_scheduler")}}
    learning_config = {
        "train_dataloader": {"batch_size": NAM_BATCH, "shuffle": True, "pin_memory": True,
                             "drop_last": True, "num_workers": 0},
        "val_dataloader": {},
        # the clock, not the epochs, ends the run (NAM's schedule is per epoch either way)
        "trainer": {"max_epochs": -1, "accelerator": "cpu", "devices": 1,
                    "enable_progress_bar": False}}
    return data_config, model_config, learning_config


def write_pair(recipe: Recipe, folder: Path) -> None:
    """The pair's training head and validation tail, as wavedil splits them, as wav files
    (32-bit PCM: NAM reads integer wav files)."""
    data = prepare_pairs(recipe.data, EffectNet(recipe.model).receptive_field)
    folder.mkdir(parents=True, exist_ok=True)
    for split, clips in (("train", data.train), ("validation", data.validation)):
        if len(clips) != 1:
            raise ValueError(f"write_pair: expected one {split} segment, got {len(clips)}")
        a, b = data.bounds[clips[0]].tolist()
        for name, wave in (("input", data.inputs), ("output", data.targets)):
            sf.write(str(folder / f"{split}_{name}.wav"), wave[a:b].numpy(), data.sample_rate,
                     subtype="PCM_32")


def mark_callback(marks_s: list[float], folder: Path):
    """A Lightning callback that times NAM's run from the start of fitting, exports its model
    (NAM's export, ``mark-<i>.nam``) at the first step ending past each mark, records
    ``marks.json`` and stops the run at the last mark."""
    import pytorch_lightning as pl

    class Marks(pl.Callback):
        def __init__(self) -> None:
            self.start, self.paused, self.rows = 0.0, 0.0, []

        def on_fit_start(self, trainer, module) -> None:
            print(f"NAM: clock started, {torch.get_num_threads()} torch threads", flush=True)
            self.start = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            now = time.perf_counter()
            seconds = now - self.start - self.paused
            while len(self.rows) < len(marks_s) and seconds >= marks_s[len(self.rows)]:
                i = len(self.rows)
                module.net.export(folder, basename=f"mark-{i}")
                self.rows.append({"mark_s": marks_s[i], "seconds": seconds,
                                  "steps": trainer.global_step, "epoch": trainer.current_epoch,
                                  "file": f"mark-{i}.nam"})
                (folder / "marks.json").write_text(json.dumps(self.rows, indent=1))
                print(f"NAM: {marks_s[i] / 60:g} min, {trainer.global_step} steps "
                      f"(epoch {trainer.current_epoch}), model exported", flush=True)
            self.paused += time.perf_counter() - now
            if len(self.rows) == len(marks_s):
                trainer.should_stop = True

    return Marks()


def train_nam(recipe: Recipe, out: Path, marks_s: list[float], threads: int) -> None:
    """NAM's full trainer on the pair's wav files, stopped at the last mark."""
    from nam.train import full

    folder = out / "nam"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    configs = nam_configs(recipe, out / "data")
    (folder / "marks").mkdir()
    clock = mark_callback(marks_s, folder / "marks")
    made = full._create_callbacks  # NAM's own checkpoints, plus the clock
    full._create_callbacks = lambda lc, packed=False: made(lc, packed=packed) + [clock]
    torch.set_num_threads(threads)
    try:
        full.main(*configs, folder, no_show=True, make_plots=False)
    finally:
        full._create_callbacks = made


def step_seconds(marks_s: list[float], threads: int, steps: int = 5,
                 recipe: Path = RECIPE) -> float:
    """Seconds per training step of wavedil on this machine now: the mean of ``steps`` steps
    of the recipe after two warm-up steps, in a scratch run folder."""
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(wavedil_recipe(Path(scratch), marks_s, threads, 1000000, 1000000,
                                         recipe),
                          echo=lambda message: None)
        with FlushDenormals():  # as the run's steps are
            for i in range(2 + steps):
                if i == 2:
                    start = time.perf_counter()
                trainer.train_step()
                trainer.step += 1
        return (time.perf_counter() - start) / steps


def train_wavedil(out: Path, marks_s: list[float], threads: int, steps: int, every: int,
                  recipe: Path = RECIPE) -> None:
    """``wavedil train`` of the recipe, stopped by ``train.minutes`` at the last mark. Its
    schedule runs over ``steps`` and it checkpoints every ``every`` steps; 0 for either: from
    the pace of a few steps timed first (the schedule ends at the last mark, a checkpoint
    every CHECKPOINT_SECONDS)."""
    if not steps or not every:
        pace = step_seconds(marks_s, threads, recipe=recipe)
        steps = steps or max(1, int(marks_s[-1] / pace))
        every = every or max(1, round(CHECKPOINT_SECONDS / pace))
        print(f"wavedil: {pace:.3f} s per step timed: schedule over {steps} steps, a "
              f"checkpoint every {every}", flush=True)
    train(wavedil_recipe(out, marks_s, threads, steps, every, recipe), force=True)


def wavedil_recipe(out: Path, marks_s: list[float], threads: int, steps: int, every: int,
                   recipe: Path = RECIPE) -> Recipe:
    """The recipe as this benchmark runs it: on the CPU's ``threads`` (``train.threads`` sets
    torch's), stopped at the last mark, its schedule over ``steps``, every checkpoint kept."""
    return load_recipe(recipe, [f"train.minutes={marks_s[-1] / 60!r}", f"train.steps={steps}",
                                f"train.threads={threads}", "train.device=cpu",
                                f"train.checkpoint_every={every}", "train.keep_last=1000000",
                                f"train.run_dir={out / 'wavedil'}"])


def validation_pair(recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """The pair's validation input and target as wavedil holds them out: (T,) each."""
    data = prepare_pairs(recipe.data, EffectNet(recipe.model).receptive_field)
    a, b = data.bounds[data.validation[0]].tolist()
    return data.inputs[a:b], data.targets[a:b]


def score(model: EffectNet, x: torch.Tensor, y: torch.Tensor) -> float:
    """ESR of the model's output over the whole input (from silence) against the target."""
    with torch.no_grad():
        return float(esr(model.eval()(x[None]), y[None]))


def nam_marks(out: Path, recipe: Recipe, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """NAM's exported model at each mark, scored; each checked to be the recipe's layout."""
    rows = json.loads((out / "nam" / "marks" / "marks.json").read_text())
    for row in rows:
        model = load_nam(out / "nam" / "marks" / row["file"])
        if model.config.arrays != recipe.model.arrays:
            raise ValueError(f"{row['file']}: NAM's model is not the recipe's layout")
        row["esr"] = score(model, x, y)
    return rows


def nam_reported_esr(folder: Path) -> float | None:
    """The validation ESR NAM's trainer reported for its best checkpoint (the one its
    ``model.nam`` is exported from; read from its checkpoint file names), or None before its
    first validated epoch."""
    found = [float(m.group(1)) for p in folder.glob("lightning_logs/*/checkpoints/*.ckpt")
             if (m := re.search(r"ESR=([-+0-9.e]+?)_", p.name))]
    return min(found) if found else None


class WavedilRun:
    """wavedil's step checkpoints in training-time order, scored on demand (once each)."""

    def __init__(self, folder: Path, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y, self.scores = x, y, {}
        self.points = [{"path": path, "steps": step, "seconds": seconds}
                       for path, step, seconds in training_times(folder / "checkpoints")]
        if not self.points:
            raise ValueError(f"{folder}: no step checkpoints (run without --skip-training)")
        ck = load_checkpoint(self.points[0]["path"])["recipe"]
        self.samples_per_step = ck["train"]["batch_size"] * ck["data"]["crop"]
        self.schedule = ck["train"]["steps"]
        self.every = ck["train"]["checkpoint_every"]

    def esr(self, point: dict) -> float:
        if point["path"] not in self.scores:
            self.scores[point["path"]] = score(load_model(str(point["path"])).model,
                                               self.x, self.y)
        return self.scores[point["path"]]

    def at(self, seconds: float) -> dict | None:
        """The last checkpoint at or before ``seconds`` of training, scored."""
        before = [p for p in self.points if p["seconds"] <= seconds]
        return {**before[-1], "esr": self.esr(before[-1])} if before else None

    def first_below(self, value: float) -> dict | None:
        """The first checkpoint whose ESR is at or below ``value``."""
        for p in self.points:
            if self.esr(p) <= value:
                return {**p, "esr": self.esr(p)}
        return None


def figures(out: Path, recipe: Recipe, marks_s: list[float]) -> dict:
    """Both runs scored at each mark, their throughput, NAM's result (the better of its last
    mark and its exported model.nam) and the time wavedil needed to reach it."""
    x, y = validation_pair(recipe)
    theirs = nam_marks(out, recipe, x, y)
    ours = WavedilRun(out / "wavedil", x, y)
    rows = []
    for mark in marks_s:
        them = next((r for r in theirs if r["mark_s"] == mark), None)
        us = ours.at(mark)
        rows.append({"minutes": mark / 60, "nam_esr": them and them["esr"],
                     "nam_steps": them and them["steps"], "nam_seconds": them and them["seconds"],
                     "wavedil_esr": us and us["esr"], "wavedil_steps": us and us["steps"],
                     "wavedil_seconds": us and us["seconds"]})
    last_nam, last_us = (theirs[-1] if theirs else None), ours.at(marks_s[-1])
    nam_rate = (last_nam["steps"] * NAM_BATCH * NAM_NY / last_nam["seconds"]) if last_nam else None
    our_rate = (last_us["steps"] * ours.samples_per_step / last_us["seconds"]) if last_us else None
    exported = out / "nam" / "model.nam"
    exported_esr = score(load_nam(exported), x, y) if exported.is_file() else None
    # NAM's result: the better of its weights at the last mark and the model.nam its export
    # writes from its best validated checkpoint (what a NAM user keeps), so that a loss spike
    # at the mark does not stand for NAM's run
    found = [v for v in (last_nam and last_nam["esr"], exported_esr) if v is not None]
    nam_final = min(found) if found else None
    reach = ours.first_below(nam_final) if nam_final is not None else None
    return {"rows": rows, "nam_samples_per_s": nam_rate, "wavedil_samples_per_s": our_rate,
            "nam_final_esr": nam_final, "nam_last_mark_esr": last_nam and last_nam["esr"],
            "wavedil_final_esr": last_us and last_us["esr"],
            "wavedil_reaches_nam_final_min": reach and reach["seconds"] / 60,
            "nam_exported_esr": exported_esr,
            "nam_reported_esr": nam_reported_esr(out / "nam"),
            "wavedil_checkpoints": len(ours.points), "wavedil_schedule_steps": ours.schedule,
            "wavedil_checkpoint_every": ours.every,
            "wavedil_last_min": ours.points[-1]["seconds"] / 60,
            "wavedil_last_steps": ours.points[-1]["steps"]}


def short_run(folder: Path, recipe: Recipe, minutes: float, nam_final: float | None,
              last: float) -> list[str]:
    """The run whose schedule ends at ``minutes``: its last checkpoint scored against NAM's
    result at the last mark (the issue's "within 2 minutes" read as a recipe for that budget)."""
    run = WavedilRun(folder / "wavedil", *validation_pair(recipe))
    end = {**run.points[-1], "esr": run.esr(run.points[-1])}
    line = (f"wavedil with its schedule over {minutes:g} min ({run.schedule} steps): ESR "
            f"{end['esr']:.3g} after {end['seconds'] / 60:.2f} min (step {end['steps']})")
    if nam_final is None:
        return [line]
    ok = end["esr"] <= nam_final
    return [line + f", against NAM's {last:g}-minute result {nam_final:.4g}",
            f"target: wavedil reaches NAM's final ESR within 2 minutes, by a recipe for "
            f"{minutes:g}: {end['esr'] / nam_final:.2f} of it "
            f"({'met' if ok and end['seconds'] <= 120 * 1.02 else 'not met'})"]


def table(f: dict) -> list[str]:
    """The figures as a markdown table, one row per mark."""
    def e(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.4f}" if v >= 1e-3 else f"{v:.2e}"

    lines = ["| minutes | NAM's trainer ESR | NAM steps | wavedil ESR | wavedil steps | "
             "ESR, NAM / wavedil |", "|---:|---:|---:|---:|---:|---:|"]
    for r in f["rows"]:
        ratio = (f"{r['nam_esr'] / r['wavedil_esr']:.1f}x" if r["nam_esr"] is not None
                 and r["wavedil_esr"] else "n/a")
        lines.append(f"| {r['minutes']:g} | {e(r['nam_esr'])} | {r['nam_steps'] or 'n/a'} | "
                     f"{e(r['wavedil_esr'])} | {r['wavedil_steps'] or 'n/a'} | {ratio} |")
    return lines


def summary(f: dict, marks_s: list[float]) -> list[str]:
    """Throughput, the time to NAM's last ESR, and the issue's targets beside the figures."""
    def rate(v: float | None) -> str:
        return "n/a" if v is None else f"{v:,.0f} samples/s"

    nam_rate, our_rate = f["nam_samples_per_s"], f["wavedil_samples_per_s"]
    speed = our_rate / nam_rate if nam_rate and our_rate else None
    reach, last = f["wavedil_reaches_nam_final_min"], marks_s[-1] / 60
    final = (f["wavedil_final_esr"] / f["nam_final_esr"]
             if f["nam_final_esr"] and f["wavedil_final_esr"] is not None else None)
    if f["nam_final_esr"] is None:
        first = "NAM's run has no last mark"
    else:
        first = (f"NAM's {last:g}-minute result: ESR {f['nam_final_esr']:.4g}, the better of "
                 f"its weights at the mark ({f['nam_last_mark_esr']:.4g}) and its exported "
                 f"model.nam; wavedil first reached it "
                 + (f"at {reach:.2f} min" if reach is not None else "at no checkpoint"))
    lines = [f"training throughput (output samples with loss per second, validation included): "
             f"NAM's trainer {rate(nam_rate)}, wavedil {rate(our_rate)}, ratio "
             + (f"{speed:.2f}x" if speed else "n/a"), first,
             "NAM's exported model.nam (its best validated checkpoint; its last weights "
             "before any): ESR " + (f"{f['nam_exported_esr']:.4g}" if f["nam_exported_esr"]
                                    is not None else "n/a")
             + "; NAM's own validation ESR of it (its first receptive field left out): "
             + (f"{f['nam_reported_esr']:.4g}" if f["nam_reported_esr"] is not None
                else "none (no epoch ended)"),
             f"wavedil: {f['wavedil_checkpoints']} checkpoints, the last at "
             f"{f['wavedil_last_min']:.2f} min (step {f['wavedil_last_steps']})"]
    met = lambda ok: "n/a" if ok is None else "met" if ok else "not met"  # noqa: E731
    checks = [(f"at {reach:.2f} min" if reach is not None else "not reached",
               None if f["nam_final_esr"] is None else reach is not None and reach <= 2.0),
              (f"{final:.2f} of NAM's" if final is not None else "n/a",
               None if final is None else final < 0.5),
              (f"{speed:.2f}x" if speed else "n/a", None if speed is None else speed >= 2.0)]
    lines += [f"target: {t}: {v} ({met(ok)})" for t, (v, ok) in zip(TARGETS, checks)]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", default="1,2,5,10,20",
                    help="marks, in minutes of training, comma-separated")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of both trainers")
    ap.add_argument("--out", type=Path, default=Path("runs/effect-training"),
                    help="folder of the runs (nam/, wavedil/, data/)")
    ap.add_argument("--steps", type=int, default=0,
                    help="wavedil's train.steps (its schedule's length); 0: its timed pace "
                         "over the last mark")
    ap.add_argument("--every", type=int, default=0,
                    help=f"wavedil's steps between checkpoints; 0: about every "
                         f"{CHECKPOINT_SECONDS:g} s at its timed pace")
    ap.add_argument("--recipe", type=Path, default=RECIPE,
                    help="wavedil's effect recipe, whose pair and model both train on "
                         "(recipes/effect_amp.yaml: the harder embedded amp)")
    ap.add_argument("--short", type=float, default=0.0,
                    help="also train wavedil once more with its schedule over this many "
                         "minutes (a recipe for that budget) and compare its final ESR with "
                         "NAM's at the last mark")
    ap.add_argument("--skip-training", action="store_true",
                    help="score the runs already under --out")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/effects.md")
    args = ap.parse_args()
    try:
        import nam
    except ImportError:
        raise SystemExit("NAM's trainer is not installed: pip install -e '.[nam]'") from None
    try:
        marks_s = sorted({60.0 * float(m) for m in args.minutes.split(",") if m.strip()})
    except ValueError:
        raise SystemExit(f"--minutes: comma-separated numbers, got {args.minutes!r}") from None
    if not marks_s or marks_s[0] <= 0:
        raise SystemExit(f"--minutes: positive numbers, got {args.minutes!r}")
    recipe = wavedil_recipe(args.out, marks_s, args.threads, 1, 1, args.recipe)  # its data, model
    if not args.skip_training:
        write_pair(recipe, args.out / "data")
        print(f"NAM's trainer, {marks_s[-1] / 60:g} min, {args.threads} threads", flush=True)
        train_nam(recipe, args.out, marks_s, args.threads)
        print(f"wavedil, {marks_s[-1] / 60:g} min, {args.threads} threads", flush=True)
        train_wavedil(args.out, marks_s, args.threads, args.steps, args.every, args.recipe)
    if args.short and not (args.skip_training and (args.out / "short").is_dir()):
        print(f"wavedil, schedule over {args.short:g} min, {args.threads} threads", flush=True)
        train_wavedil(args.out / "short", [60.0 * args.short], args.threads, 0, 0, args.recipe)
    torch.set_num_threads(args.threads)
    f = figures(args.out, recipe, marks_s)
    nam_config = nam_configs(recipe, args.out / "data")[1]
    notes = [f"neural-amp-modeler {nam.__version__}, torch {torch.__version__}, "
             f"{args.threads} threads each, one after the other",
             "NAM's trainer: " + json.dumps({k: nam_config[k] for k in
                                             ("loss", "optimizer", "lr_scheduler")})
             + f", batch {NAM_BATCH} x {NAM_NY}",
             f"wavedil: {args.recipe.resolve().relative_to(ROOT)}, schedule over "
             f"{f['wavedil_schedule_steps']} steps, a checkpoint every "
             f"{f['wavedil_checkpoint_every']} steps",
             *summary(f, marks_s),
             *(short_run(args.out / "short", recipe, args.short, f["nam_final_esr"],
                         marks_s[-1] / 60) if args.short else [])]
    lines = table(f)
    print("\n" + "\n".join(lines) + "\n\n" + "\n".join(notes))
    if args.write_docs:
        name = "training" if args.recipe.resolve() == RECIPE else f"training-{args.recipe.stem}"
        docs_page.record("effects.md", name, lines, notes)
    if args.json:
        with open(args.json, "w") as fp:
            json.dump({"marks_s": marks_s, "threads": args.threads, **f}, fp, indent=1)


if __name__ == "__main__":
    main()
