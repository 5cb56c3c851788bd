"""The ``wavedil`` command line: each command parses, calls one library function, reports.

User errors (bad values, missing files) print one line on stderr and exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from . import receptive

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="WaveNet-style audio models on dilated causal convolutions.")


@app.callback()
def _root() -> None:
    """WaveNet-style audio models on dilated causal convolutions."""


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
    from .model import WaveNetConfig
    import yaml

    if not path.exists():
        fail(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        fail(f"{path}: not valid YAML ({str(e).splitlines()[0]})")
    if not isinstance(data, dict):
        fail(f"{path}: expected a mapping with a 'model' section")
    return WaveNetConfig.from_dict(data.get("model", {}) or {}), (data.get("data") or {}).get("sample_rate")


@app.command()
def rf(
    recipe: Optional[Path] = typer.Argument(None, help="a recipe YAML: analyse its model's whole stack"),
    kernel: int = typer.Option(2, "--kernel", "-k", help="kernel size of every layer"),
    dilations: str = typer.Option("1,2,4,8,16,32,64,128,256,512", "--dilations", "-d",
                                  help="comma-separated dilations, one per layer"),
    sample_rate: Optional[int] = typer.Option(None, "--sample-rate", "-r", help="to report milliseconds"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Receptive field and gridding report of a dilated stack.

    Example: wavedil rf --kernel 3 --dilations 1,2,4 --sample-rate 16000
    """
    try:
        if recipe is not None:
            config, rate = _model_config_from_file(recipe)
            kernel, layers = config.kernel_size, config.layer_dilations
            sample_rate = sample_rate or rate
        else:
            layers = _ints(dilations, "dilations")
        fields = receptive.layer_receptive_fields(kernel, layers)
        report = receptive.gridding(kernel, layers)
    except ValueError as e:
        fail(str(e))
    if sample_rate is not None and sample_rate < 1:
        fail(f"--sample-rate must be >= 1, got {sample_rate}")
    total = fields[-1]
    ms = 1000.0 * total / sample_rate if sample_rate else None
    if as_json:
        print(json.dumps({
            "kernel_size": kernel, "dilations": layers, "receptive_field": total,
            "receptive_field_ms": ms, "layers": fields, "holes": report.holes,
            "coverage": report.coverage, "hdc_ok": report.hdc_ok, "hdc_m2": report.hdc_m2,
            "max_paths": max(report.paths), "min_paths": min(report.paths),
        }))
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
    when = f" = {ms:.2f} ms at {sample_rate} Hz" if ms is not None else ""
    console.print(f"receptive field: {total} samples{when}")
    holes = report.holes
    shown = ", ".join(map(str, holes[:12])) + (" ..." if len(holes) > 12 else "")
    console.print(f"coverage: {report.coverage:.4f} ({len(holes)} holes{': ' + shown if holes else ''})")
    console.print(f"paths per offset: min {min(report.paths)}, max {max(report.paths)}")
    console.print(f"HDC condition (Wang et al. 2018): {'satisfied' if report.hdc_ok else 'not satisfied'}"
                  f" (M_2 = {report.hdc_m2})")


def main() -> None:
    """Entry point of the console script."""
    app()


if __name__ == "__main__":
    main()
