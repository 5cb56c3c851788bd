"""``wavedil export``: a checkpoint (or a model) written in a format another program reads, by
its family's exporter (``Family.exports`` in ``wavedil.families``): a WaveNet as TorchScript or
ONNX step and sequence functions (``wavedil.wavenet.export``), an effect as a Neural Amp
Modeler ``.nam`` file (``wavedil.effect.nam``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from .dsp.mel import feature_settings
from .families import family_of

FORMATS = ("torchscript", "onnx", "nam")
"""Every family's export formats together."""


def export(checkpoint_or_model: str | Path | nn.Module, fmt: str, out: str | Path,
           force: bool = False, controls: Sequence[float] | None = None) -> list[Path]:
    """Write a checkpoint (or a model) in ``fmt`` to ``out`` (a folder for torchscript and
    onnx, a .nam file for nam) and return the files written. ``controls``: an effect knob
    model's control values, folded into its weights (``wavedil.effect.knobs``), so that the
    file plays that setting and reads the input alone.

    Raises ValueError for an unknown format, one the model's family does not export to, a
    missing or unreadable checkpoint, missing ONNX packages, controls a model does not take,
    or files that exist already (unless ``force``).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    settings: dict = {}
    if isinstance(checkpoint_or_model, nn.Module):
        model = checkpoint_or_model
    else:
        from .checkpoint import load_model

        loaded = load_model(checkpoint_or_model)
        model = loaded.model
        settings = dict(source=str(checkpoint_or_model), name=loaded.name or
                        Path(checkpoint_or_model).stem, sample_rate=loaded.sample_rate,
                        features=feature_settings(loaded.data))
    family = family_of(model)
    if controls:
        if family.fix_controls is None:
            raise ValueError(f"export --control: a model of kind {family.kind} has no controls")
        model = family.hook("fix_controls")(model, controls)
        values = ", ".join(f"{v:g}" for v in controls)
        settings["name"] = f"{settings.get('name') or 'model'} (controls {values})"
    if fmt not in family.exports:
        can = ", ".join(family.exports) or "no format yet"
        raise ValueError(f"export --format {fmt}: a model of kind {family.kind} exports to "
                         f"{can}")
    return family.hook_for(family.exports[fmt])(model, fmt, Path(out), force, **settings)
