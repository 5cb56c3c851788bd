"""The ``wavedil`` command line: each command parses, calls one library function, reports.

User errors (bad values, missing files) print one line on stderr and exit 2.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import typer
from typer.core import TyperGroup

from .nn import receptive

# Choices shown in the help. The library's lists import torch, which --help must not, so they
# are repeated here; tests/test_cli.py checks that they agree.
ENGINES = ("auto", "torch", "numba")
"""wavedil.wavenet.engines.ENGINES: generation engines."""
DEVICES = ("cpu", "cuda")
"""Devices of generate and evaluate."""
FORMATS = ("torchscript", "onnx", "nam")
"""wavedil.export.FORMATS: export formats."""
EFFECT_ENGINES = ("auto", "compiled", "torch")
"""wavedil.effect.process.ENGINES: engines of effect models."""
TANH = ("model", "fast", "exact")
"""wavedil.effect.model.TANH: how process plays an effect's tanh layers."""
WEIGHTS = ("fp32", "bf16", "bf16-dot", "fast")
"""wavedil.wavenet.engines.choice.CHOICES: engine weight formats, and the planner's fast."""
PLANS = ("auto", "measure", "cached", "fixed")
"""wavedil.wavenet.engines.choice.PLANS: how the engine's configuration is chosen."""
REFINE_HELP = ("passes of mel-consistent refinement after a mel-conditioned model (each band's "
               "energy per frame made the input's; 0: none; default: the recipe's "
               "generate.refine)")

Engine = Enum("Engine", {name: name for name in ENGINES}, type=str)
Device = Enum("Device", {name: name for name in DEVICES}, type=str)
Format = Enum("Format", {name: name for name in FORMATS}, type=str)
Weights = Enum("Weights", {name: name for name in WEIGHTS}, type=str)
Plan = Enum("Plan", {name: name for name in PLANS}, type=str)
EffectEngine = Enum("EffectEngine", {name: name for name in EFFECT_ENGINES}, type=str)
Tanh = Enum("Tanh", {name: name for name in TANH}, type=str)

_UsageError, _ClickException = (next(c for c in typer.BadParameter.__mro__ if c.__name__ == name)
                                for name in ("UsageError", "ClickException"))
"""click's exceptions, from whichever click typer runs on (recent typer bundles its own)."""


class _Commands(TyperGroup):
    """The command group. A usage error (an unknown option, a value not among the choices, a
    missing argument) is one line on stderr and exit 2, as every other mistake is."""

    def main(self, args: Any = None, prog_name: Any = None, complete_var: Any = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _UsageError as e:
            if type(e).__name__ != "NoArgsIsHelpError":  # the help printed is the answer
                message = " ".join(e.format_message().replace("Value error, ", "").split())
                ctx = getattr(e, "ctx", None)
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                typer.echo(f"error: {message}{hint}", err=True)
            sys.exit(e.exit_code)
        except _ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except typer.Abort:
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(cls=_Commands, add_completion=False, no_args_is_help=True,
                  help="WaveNet-style audio models on dilated causal convolutions.")


DEBUG = {"on": False}


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"wavedil {version('wavedil')}")
        except PackageNotFoundError:  # run from a source tree that is not installed
            typer.echo("wavedil (not installed)")
        raise typer.Exit()


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="show tracebacks of errors"),
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """WaveNet-style audio models on dilated causal convolutions."""
    DEBUG["on"] = debug


def fail(message: str) -> None:
    """Print one line on stderr and exit 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        fail(f"--{name} must be comma-separated integers, got {text!r}")
    if not values:
        fail(f"--{name} is empty")
    return values


def _model_config_from_file(path: Path):
    """(model config, sample rate) of a recipe (.yaml), a checkpoint (.pt, or pretrained:NAME)
    or a .nam file."""
    from .pretrained import resolve

    with _user_errors():
        path = resolve(path)
    if not path.exists():
        fail(f"{path}: no such file")
    if path.suffix.lower() in (".pt", ".nam"):
        from .checkpoint import load_model

        loaded = load_model(path)
        return loaded.config, loaded.sample_rate
    from .train.recipe import load_recipe

    recipe = load_recipe(path)
    return recipe.model, recipe.data.sample_rate


@app.command()
def rf(
    recipe: Optional[Path] = typer.Argument(None, help="a recipe (.yaml) or checkpoint (.pt): "
                                            "analyse its model's whole stack"),
    kernel: int = typer.Option(2, "--kernel", "-k", help="kernel size of every layer"),
    dilations: str = typer.Option("1,2,4,8,16,32,64,128,256,512", "--dilations", "-d",
                                  help="comma-separated dilations, one per layer"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", "-r", help="to report milliseconds"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE.png",
                                        help="also draw the receptive field and its gridding "
                                        "pattern to this picture, e.g. --plot rf.png"),
) -> None:
    """Receptive field and gridding report of a dilated stack.

    Example: wavedil rf --kernel 3 --dilations 1,2,4 --sample-rate 16000

    Example: wavedil rf recipes/quickstart.yaml --plot quickstart-rf.png
    """
    unit = "samples"
    try:
        if recipe is not None:
            with _user_errors():
                config, rate = _model_config_from_file(recipe)
            kernel, layers, rate, unit = config.dilation_stack(rate)
            sample_rate = sample_rate or rate
        else:
            layers = _ints(dilations, "dilations")
        fields = receptive.layer_receptive_fields(kernel, layers)
        report = receptive.gridding(kernel, layers)
    except ValueError as e:
        fail(str(e))
    if sample_rate is not None and sample_rate < 1:
        fail(f"--sample-rate must be >= 1, got {sample_rate}")
    if plot is not None:
        from .plots import plot_receptive_field

        with _user_errors():
            plot_receptive_field(kernel, layers, plot, sample_rate,
                                 recipe.name if recipe is not None else None)
    total = fields[-1]
    ms = 1000.0 * total / sample_rate if sample_rate else None
    if as_json:
        d = {
            "kernel_size": kernel, "dilations": layers, "receptive_field": total, "unit": unit,
            "receptive_field_ms": ms, "layers": fields, "holes": report.holes,
            "coverage": report.coverage, "hdc_ok": report.hdc_ok, "hdc_m2": report.hdc_m2,
            "max_paths": max(report.paths), "min_paths": min(report.paths),
        }
        print(json.dumps(d if plot is None else {**d, "plot": str(plot)}))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"kernel {kernel}, {len(layers)} layers")
    for col in ("layer", "dilation", "k_eff", "receptive field"):
        table.add_column(col, justify="right")
    for i, (d, f) in enumerate(zip(layers, fields)):
        table.add_row(str(i + 1), str(d), str(receptive.effective_kernel(kernel, d)), str(f))
    console = Console()
    console.print(table)
    per = "Hz" if unit == "samples" else "frames/s"
    when = f" = {ms:.2f} ms at {sample_rate:g} {per}" if ms is not None else ""
    console.print(f"receptive field: {total} {unit}{when}")
    holes = report.holes
    shown = ", ".join(map(str, holes[:12])) + (" ..." if len(holes) > 12 else "")
    console.print(f"coverage: {report.coverage:.4f} ({len(holes)} holes{': ' + shown if holes else ''})")
    console.print(f"paths per offset: min {min(report.paths)}, max {max(report.paths)}")
    factor = math.gcd(*layers)
    why = (f"rates share the factor {factor}" if factor > 1 else
           f"M_2 = {report.hdc_m2}" if report.hdc_m2 is not None else "a single layer")
    console.print(f"HDC condition (Wang et al. 2018): "
                  f"{'satisfied' if report.hdc_ok else 'not satisfied'} ({why})")
    if plot is not None:
        console.print(f"plot: {plot}")


@app.command()
def train(
    recipe: Path = typer.Argument(..., help="the recipe YAML"),
    resume: bool = typer.Option(False, "--resume", help="continue from the run's last checkpoint"),
    force: bool = typer.Option(False, "--force", help="start over in a run folder that holds a run"),
    overrides: list[str] = typer.Option([], "--set", help="override a key: --set train.lr=3e-4"),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="run folder (default runs/<recipe>)"),
    print_recipe: bool = typer.Option(False, "--print-recipe", help="print the resolved recipe "
                                      "(YAML, every key with its value) and exit; a run "
                                      "folder keeps it as recipe.yaml"),
) -> None:
    """Train a model from a recipe: checkpoints, metrics, samples, a loss curve and the
    resolved recipe.yaml in the run folder.

    Example: wavedil train recipes/quickstart.yaml --set train.steps=200

    Example: wavedil train recipes/quickstart.yaml --set train.lr=3e-4 --print-recipe
    """
    from .train.recipe import load_recipe, recipe_yaml

    with _user_errors():
        sets = list(overrides) + ([f"train.run_dir={run_dir}"] if run_dir else [])
        resolved = load_recipe(recipe, sets)
        if print_recipe:
            typer.echo(recipe_yaml(resolved), nl=False)
            return
        from .train.loop import train as run_training

        run_training(resolved, resume=resume, force=force)


@app.command()
def prepare(
    recipe: Path = typer.Argument(..., help="the recipe YAML"),
    overrides: list[str] = typer.Option([], "--set", help="override a key: --set data.path=wavs/"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Prepare and cache a recipe's data without training, and say what was used and what
    was skipped, and why: one line per skipped file, then a summary.

    Example: wavedil prepare recipes/speech_vocoder.yaml --set data.path=my_wavs/
    """
    from .train.prepare import prepare_recipe
    from .train.recipe import load_recipe

    with _user_errors():
        report = prepare_recipe(load_recipe(recipe, list(overrides)))
    if as_json:
        print(json.dumps(report.to_dict()))
        return
    for path, reason in report.skipped:
        typer.echo(f"skipped {path}: {reason}")
    for rate, paths in (report.resampled or {}).items():
        shown = ", ".join(Path(p).name for p in paths[:3]) + (", ..." if len(paths) > 3 else "")
        typer.echo(f"resampled {len(paths)} file{'s' * (len(paths) != 1)} from {rate} Hz to "
                   f"{report.sample_rate} Hz: {shown}")
    if report.resampled is None:
        typer.echo(f"resampled files: not recorded in {report.cache} (written by an earlier "
                   "wavedil; remove it to prepare the data again and see them)")
    for path, lag in report.latencies.items():
        typer.echo(f"{path}: {lag} samples of target latency removed")
    found = report.files + len({p for p, _ in report.skipped})
    cache = ("pairs are not cached (they are read and aligned on every start)" if report.paired
             else f"cache {report.cache} ({'reused' if report.from_cache else 'written'})")
    typer.echo(f"used {report.files} of {found} {'pairs' if report.paired else 'files'}, "
               f"{report.seconds:.2f} s at "
               f"{report.sample_rate} Hz ({report.train} training and {report.validation} "
               f"validation clips); {len(report.skipped)} skipped; {cache}")


@app.command()
def generate(
    checkpoint: Path = typer.Argument(..., help="a checkpoint (.pt) written by wavedil train"),
    out: Path = typer.Option(Path("out.wav"), "--out", "-o", help="output wav (one per stream: name-0.wav, ...)"),
    seconds: Optional[float] = typer.Option(None, "--seconds", help="length (default: the recipe's)"),
    samples: Optional[int] = typer.Option(None, "--samples", help="length in samples"),
    batch: Optional[int] = typer.Option(None, "--batch", help="streams generated at once"),
    speaker: Optional[int] = typer.Option(None, "--speaker", help="speaker id (multi-speaker models)"),
    mel: Optional[Path] = typer.Option(None, "--mel", help="log-mel frames (.npy) to vocode"),
    f0: Optional[Path] = typer.Option(None, "--f0", metavar="F0.npy",
                                      help="with --mel, for a model with f0 input: f0 in Hz per "
                                      "frame, 0 = unvoiced (default: FILE.f0.npy beside the mel)"),
    from_wav: Optional[Path] = typer.Option(None, "--from-wav", help="copy synthesis: vocode the mel of this file"),
    refine: Optional[int] = typer.Option(None, "--refine", metavar="PASSES",
                                         help=REFINE_HELP),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="sampling temperature"),
    voiced_temperature: Optional[float] = typer.Option(
        None, "--voiced-temp", help="temperature of voiced samples after their run's first "
        "period (models with pitch taps; default: the recipe's generate.voiced_temperature)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed"),
    engine: Engine = typer.Option("auto", "--engine", help="generation engine (auto: numba on "
                                  "the CPU where it imports, torch otherwise)"),
    kernel: str = typer.Option("auto", "--kernel", help="the numba engine's matrix kernel: "
                               "auto, c or numba (see wavedil info --system)"),
    weights: Optional[Weights] = typer.Option(None, "--weights", help="the engine's weight "
                                              "format: fp32 (exact), bf16 (half the bytes "
                                              "read per sample), bf16-dot (bfloat16 dot "
                                              "products too) or fast (the fastest of them on "
                                              "this machine; default: the recipe's)"),
    plan: Plan = typer.Option("auto", "--plan", help="how the numba engine's threads (and "
                              "fast's format) are chosen: auto (measured once, then cached), "
                              "measure, cached or fixed (see wavedil tune)"),
    device: Device = typer.Option("cpu", "--device", help="where the model runs"),
    plot: bool = typer.Option(False, "--plot", help="write a spectrogram PNG beside each wav"),
    force: bool = typer.Option(False, "--force", help="overwrite existing outputs"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Generate audio from a checkpoint.

    Example: wavedil generate runs/quickstart/best.pt --from-wav note.wav -o vocoded.wav --plot
    """
    from .synthesis import synthesize

    with _user_errors(), _progress("generate", not as_json, eta=True) as update:
        def progress(done: int, total: int, sps: float, rtf: float) -> None:
            update(total=total, completed=done, info=f"{sps:,.0f} samples/s, {rtf:.2f}x real time")

        result = synthesize(checkpoint, out, seconds, samples, batch, speaker, mel, from_wav,
                            temperature, seed, engine.value, device.value, plot, force, progress,
                            kernel=kernel, f0=f0, refine=refine,
                            weights=weights.value if weights is not None else None,
                            voiced_temperature=voiced_temperature, plan=plan.value)
    if as_json:
        print(json.dumps(result.__dict__))
        return
    for f in result.files:
        typer.echo(f)
    typer.echo(f"{result.samples} samples ({result.seconds:.2f} s) per stream, "
               f"{result.samples_per_second:,.0f} samples/s, {result.real_time_factor:.2f}x real time "
               f"({result.engine} engine)" + (" - interrupted, partial output written" if result.interrupted else ""))
    if result.plan:
        typer.echo(f"engine configuration: {result.plan}")


@app.command()
def evaluate(
    checkpoint: Path = typer.Argument(..., help="a mel-conditioned checkpoint (.pt)"),
    test_dir: Path = typer.Argument(..., help="folder of reference audio (.wav/.flac/.ogg, recursive)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object, per-file rows included"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="keep reconstructions, "
                                       "spectrogram pictures and report.json in this folder"),
    griffin_lim: bool = typer.Option(True, "--griffin-lim/--no-griffin-lim",
                                     help="score Griffin-Lim from the same features beside wavedil"),
    engine: Optional[Engine] = typer.Option(None, "--engine", help="generation engine "
                                            "(default: the recipe's)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="random seed of every file's stream"),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="sampling temperature"),
    voiced_temperature: Optional[float] = typer.Option(
        None, "--voiced-temp", help="temperature of voiced samples after their run's first "
        "period (models with pitch taps; default: the recipe's generate.voiced_temperature)"),
    limit: Optional[int] = typer.Option(None, "--limit", help="evaluate the first N usable files"),
    refine: Optional[int] = typer.Option(None, "--refine", metavar="PASSES", help=REFINE_HELP),
    speaker: Optional[int] = typer.Option(None, "--speaker", help="speaker id (multi-speaker models)"),
    device: Device = typer.Option("cpu", "--device", help="where the model runs"),
    force: bool = typer.Option(False, "--force", help="overwrite a report in --out"),
) -> None:
    """Copy-synthesis quality against the originals, with Griffin-Lim from the same features:
    log-mel distance, MCD, f0 RMSE, voicing error, and PESQ-wb and STOI with the eval extra.

    Example: wavedil evaluate runs/speech/best.pt test_wavs/ --out eval/
    """
    from .evaluate import METRICS, evaluate as run_evaluate

    with _user_errors(), _progress("evaluate", not as_json) as update:
        def progress(done: int, total: int, name: str) -> None:
            update(total=total, completed=done, info=Path(name).name)

        def warn(message: str) -> None:
            typer.echo(f"warning: {message}", err=True)

        report = run_evaluate(checkpoint, test_dir, out, griffin_lim,
                              engine.value if engine is not None else None, seed, temperature,
                              limit, speaker, device.value, force, warn, progress, refine,
                              voiced_temperature)
    if as_json:
        print(json.dumps(report.to_dict()))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.files} files, {report.engine} engine, seed {report.seed}, "
                        f"temperature {report.temperature:g}"
                        + (f" ({report.voiced_temperature:g} voiced)"
                           if report.voiced_temperature is not None else "")
                        + f", {report.refine} refinement passes (means)")
    table.add_column("metric")
    for system in report.systems:
        table.add_column(system, justify="right")
    for key, (label, higher) in METRICS.items():
        means = [report.means[system][key] for system in report.systems]
        table.add_row(f"{label} ({'higher' if higher else 'lower'} is better)",
                      *("n/a" if m is None else f"{m:.3f}" for m in means))
    console = Console()
    console.print(table)
    for metric, why in report.unavailable.items():
        console.print(f"{metric}: n/a, {why}")
    if report.original_hnr_db is not None:
        console.print(f"the originals' HNR: {report.original_hnr_db:.1f} dB (notes only)")
    if report.real_time_factor is not None:
        console.print(f"wavedil generation: {report.real_time_factor:.2f}x real time")
    if out is not None:
        console.print(f"outputs: {out}")


@app.command()
def info(
    checkpoint: Optional[Path] = typer.Argument(None, help="a checkpoint (.pt)"),
    system: bool = typer.Option(False, "--system", help="describe this machine's generation "
                                "set-up instead: torch, numba, C compiler, kernel, threads"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Describe a checkpoint: config, parameters, receptive field, training state.

    Example: wavedil info runs/quickstart/best.pt

    Example: wavedil info --system
    """
    if system:
        from .wavenet.engines import system_info

        facts = system_info()
        lines = [f"{key}: {value}" for key, value in facts.items() if key != "plans"]
        lines += [f"plan: {key} -> {value}" for key, value in facts["plans"].items()]
        typer.echo(json.dumps(facts) if as_json else "\n".join(lines))
        return
    if checkpoint is None:
        fail("give a checkpoint, or --system")
    from .synthesis import describe

    with _user_errors():
        d = describe(checkpoint)
    if as_json:
        print(json.dumps(d))
        return
    for key in ("checkpoint", "name", "step", "parameters", "receptive_field"):
        typer.echo(f"{key}: {d[key]}")
    typer.echo(f"receptive_field_ms: {d['receptive_field_ms']:.2f} at {d['sample_rate']} Hz")
    for key in ("untrained_val_bits", "best_val_bits", "last_val_bits",
                "untrained_val_stft", "best_val_stft", "last_val_stft",
                "untrained_val_esr", "best_val_esr", "last_val_esr"):
        if d.get(key) is not None:
            typer.echo(f"{key}: {d[key]:.3f}")
    typer.echo("model: " + ", ".join(f"{k}={v}" for k, v in d["model"].items()))
    if d.get("features"):
        typer.echo("features: " + ", ".join(f"{k}={v}" for k, v in d["features"].items()
                                            if k not in ("layout", "f0")))
        if d["features"]["f0"]:
            typer.echo(f"features f0: {d['features']['f0']['rows']}")


@app.command()
def tune(
    checkpoint: Path = typer.Argument(..., help="a WaveNet or effect checkpoint (.pt)"),
    batch: str = typer.Option("1", "--batch", help="a WaveNet's batch sizes, comma-separated"),
    weights: Optional[str] = typer.Option(None, "--weights", help="a WaveNet's formats, "
                                          "comma-separated: fp32, bf16, bf16-dot, fast "
                                          "(default: the recipe's generate.weights, and fast)"),
    block: Optional[str] = typer.Option(None, "--block", help="an effect's block sizes (the "
                                        "host's buffer), comma-separated (default: 1)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON list"),
) -> None:
    """Measure a checkpoint's compiled engine now, so that generate and process find the
    choice stored (~/.cache/wavedil/plans.json; wavedil info --system lists it).

    Example: wavedil tune pretrained:quickstart --batch 1,32 --weights fp32,fast
    """
    from .synthesis import tune as tune_engine

    sizes = _ints(batch, "batch")
    blocks = None if block is None else _ints(block, "block")
    formats = None if weights is None else [w.strip() for w in weights.split(",") if w.strip()]
    with _user_errors():
        decisions = tune_engine(checkpoint, sizes, formats, blocks)
    if as_json:
        print(json.dumps(decisions))
        return
    for d in decisions:
        typer.echo(d["plan"])


@app.command()
def features(
    inp: Path = typer.Argument(..., metavar="IN", help="an audio file"),
    out: Path = typer.Option(..., "--out", "-o", help="the frames, (channels, frames) float32 .npy"),
    checkpoint: Path = typer.Option(..., "--checkpoint", "-c", help="the model the frames are "
                                    "for (its mel settings, normalisation and f0)"),
    force: bool = typer.Option(False, "--force", help="overwrite OUT"),
) -> None:
    """Write the frames a checkpoint reads with generate --mel, computed from an audio file.

    Example: wavedil features speech.wav -o speech.npy --checkpoint runs/speech/best.pt
    """
    from .synthesis import write_features

    with _user_errors():
        shape = write_features(inp, out, checkpoint, force)
    typer.echo(f"{out}: {shape[0]} channels x {shape[1]} frames")


@app.command()
def export(
    checkpoint: Path = typer.Argument(..., help="a checkpoint (.pt) written by wavedil train"),
    fmt: Format = typer.Option(..., "--format", "-f", help="what to write (nam: effect models)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="output folder (default: the checkpoint's path "
                                            "without .pt, plus -torchscript or -onnx); for "
                                            "nam a file (default: the checkpoint's, .nam)"),
    force: bool = typer.Option(False, "--force", help="overwrite existing exported files"),
    control: list[float] = typer.Option([], "--control", help="an effect knob model's control "
                                        "value, once per control, in order: the file plays "
                                        "that setting (a .nam file holds no controls)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Export a checkpoint for inference without wavedil: the full-sequence model, a step
    function with explicit ring-buffer state, the mel upsampler, and export.json.

    Example: wavedil export runs/quickstart/best.pt --format onnx -o quickstart-onnx

    Example: wavedil export runs/effect_quickstart/best.pt --format nam -o pedal.nam

    Example: wavedil export runs/effect_knob/best.pt --format nam --control 0.5 -o amp-5.nam
    """
    from .export import export as run_export

    from .pretrained import PREFIX, resolve

    fmt = fmt.value
    shipped = str(checkpoint).startswith(PREFIX)
    with _user_errors():
        checkpoint = resolve(checkpoint)  # pretrained:NAME -> the shipped file
    if not checkpoint.is_file():
        fail(f"{checkpoint}: no such checkpoint")
    if out is None:  # beside the checkpoint; a shipped model's in the current folder
        base = Path(checkpoint.name) if shipped else checkpoint
        out = (base.with_suffix(".nam") if fmt == "nam" else base.with_name(f"{base.stem}-{fmt}"))
    with _user_errors():
        files = run_export(checkpoint, fmt, out, force=force, controls=list(control) or None)
    if as_json:
        print(json.dumps({"format": fmt, "out": str(out), "files": [str(f) for f in files]}))
        return
    for f in files:
        typer.echo(f)


@app.command()
def process(
    model: Path = typer.Argument(..., help="an effect checkpoint (.pt) or a Neural Amp Modeler "
                                 "file (.nam)"),
    inp: Path = typer.Argument(..., metavar="IN", help="audio to process (mixed to mono)"),
    out: Path = typer.Option(..., "--out", "-o", help="output: 32-bit float WAV at IN's rate"),
    block: int = typer.Option(64, "--block", help="samples per streamed block, as a plugin "
                              "buffer (the output does not depend on it)"),
    control: list[float] = typer.Option([], "--control", help="a control value (knob), once "
                                        "per model control, in order"),
    threads: int = typer.Option(1, "--threads", help="CPU threads of the torch engine (0: "
                                "torch's default); the compiled engine runs on one"),
    engine: EffectEngine = typer.Option("auto", "--engine", help="compiled: numba and the C "
                                        "matrix kernel, one thread; auto: compiled where numba "
                                        "runs, else torch"),
    tanh: Tanh = typer.Option("model", "--tanh", help="fast: play tanh layers with Neural Amp "
                              "Modeler's fast tanh, as NAM's plugin does (its output to float "
                              "rounding); exact: fast_tanh layers with tanh; model: as the "
                              "model names them"),
    size: Optional[float] = typer.Option(None, "--size", help="a .nam SlimmableContainer's "
                                         "model to play, in [0, 1] as NAM's size knob "
                                         "(default: the full size)"),
    force: bool = typer.Option(False, "--force", help="overwrite OUT"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Run an effect model over an audio file, streamed block by block.

    Example: wavedil process runs/effect_quickstart/best.pt dry.wav -o wet.wav --block 64
    """
    from .checkpoint import load_effect
    from .effect.process import process_file

    with _user_errors():
        net = load_effect(model, size=size)
        result = process_file(net, inp, out, block, list(control), force, threads,
                              engine.value, tanh.value)
    figures = {"out": str(result.out), "samples": result.samples,
               "sample_rate": result.sample_rate, "block": result.block,
               "seconds": round(result.seconds, 4),
               "real_time_factor": round(result.real_time_factor, 2),
               "engine": result.engine, "why_torch": result.why_torch}
    if as_json:
        print(json.dumps(figures))
        return
    typer.echo(f"{result.out}: {result.samples} samples at {result.sample_rate} Hz, blocks of "
               f"{result.block}, {result.real_time_factor:.1f}x real time, {result.engine} "
               "engine" + (f" ({result.why_torch})" if result.why_torch else ""))


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="print one JSON list")) -> None:
    """List the pretrained models shipped with wavedil, one line each (use them as
    pretrained:NAME wherever a checkpoint goes).

    Example: wavedil generate pretrained:quickstart --from-wav note.wav -o out.wav
    """
    from dataclasses import asdict

    from .pretrained import models as shipped

    if as_json:
        print(json.dumps([asdict(m) for m in shipped()]))
        return
    for m in shipped():
        typer.echo(m.line())


@app.command(name="import-nam")
def import_nam(
    nam_file: Path = typer.Argument(..., help="a Neural Amp Modeler file (.nam): WaveNet, LSTM "
                                    "or SlimmableContainer"),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="wavedil checkpoint to write (default: FILE.pt)"),
    size: float = typer.Option(1.0, "--size", help="the width of a slimmable file (a "
                               "SlimmableContainer or slimmable WaveNet) to keep, in [0, 1] as "
                               "NAM's size knob (default: the full size, which stays slimmable)"),
    force: bool = typer.Option(False, "--force", help="overwrite OUT"),
) -> None:
    """Convert a .nam model into a wavedil checkpoint (wavedil process, info and export
    read .nam files directly too).

    Example: wavedil import-nam amp.nam -o amp.pt
    """
    from .checkpoint import checkpoint_dict, save_checkpoint
    from .effect.data_config import PairedDataConfig
    from .effect.nam import load_nam

    out = out if out is not None else nam_file.with_suffix(".pt")
    with _user_errors():
        if out.exists() and not force:
            raise ValueError(f"{out} exists (use --force to overwrite)")
        net = load_nam(nam_file, size)
        save_checkpoint(out, checkpoint_dict(net, PairedDataConfig(
            sample_rate=net.config.sample_rate), name=nam_file.stem))
    c = net.config
    layout = (f"an LSTM of {c.lstm['layers']} x {c.lstm['hidden']} units" if c.lstm
              else f"{len(c.arrays)} layer arrays")
    typer.echo(f"{out}: {c.parameters} weights, {layout}, receptive field "
               f"{c.receptive_field} samples at {c.sample_rate} Hz")


@contextlib.contextmanager
def _progress(label: str, wanted: bool, eta: bool = False) -> Iterator[Callable[..., None]]:
    """A transient progress bar on a terminal's stderr (nothing otherwise); yields
    ``update(total=, completed=, info=)``."""
    if not (wanted and sys.stderr.isatty()):
        yield lambda **fields: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn(label), BarColumn(), TextColumn("{task.fields[info]}"),
                   *([TimeRemainingColumn()] if eta else []), transient=True)
    bar.start()
    task = bar.add_task(label, total=None, info="")
    try:
        yield lambda **fields: bar.update(task, **fields)
    finally:
        bar.stop()


class _user_errors:
    """ValueError (a user's mistake) -> one line on stderr, exit 2; --debug shows the traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, tb) -> bool:
        if kind is not None and issubclass(kind, typer.Exit):  # a RuntimeError in typer >= 0.16:
            return False                                         # fail() inside, already reported
        if kind is not None and issubclass(kind, (ValueError, FileNotFoundError, RuntimeError)):
            if DEBUG["on"]:
                return False
            message = str(value).strip().splitlines()[0] if str(value).strip() else kind.__name__
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(2 if not issubclass(kind, RuntimeError) else 1)
        return False


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
