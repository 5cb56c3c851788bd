"""Checkpoints: one format, written atomically, read without running code, loaded as a model.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts:

    format, version  "wavedil", 1
    recipe           settings by recipe section: model (WaveNetConfig, or the config of the
                     kind its ``kind`` names: ``wavedil.families``), data (DataConfig: the
                     sample rate and features), generate (GenerateConfig), train (trainer only)
    name             the recipe's (or the model's) name
    model, ema       state dicts; ema is None without a moving average
    step, best_val, best_step, last_val, untrained_val, speakers    training metadata
    optimizer, scheduler, scaler, rng                                the trainer's, for --resume

A checkpoint without ``version`` was written by the trainer before the format had a number
(format "wavedil-checkpoint-1", the same keys): it loads as version 1. Newer versions are
refused. Writes go to a temporary file in the same folder, are flushed, then renamed over the
target, so a crash (even SIGKILL) leaves the previous file intact. Reads use
``torch.load(weights_only=True)``: a file that carries a pickled object is refused and its code
never runs.

    save_checkpoint("m.pt", model, data=DataConfig(sample_rate=16000))
    loaded = load_model("m.pt")  # .model, .config, .data, .generate, .features(wave), .step ...
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .wavenet.generate import GenerateConfig
from .config import Config
from .families import build_model, data_config_class, family_of, model_config

FORMAT = "wavedil"
VERSION = 1


def checkpoint_dict(model: nn.Module, data: Config,
                    generate: GenerateConfig | None = None,
                    ema: nn.Module | None = None, name: str = "model",
                    train: dict | None = None, **extra: Any) -> dict:
    """A model, its settings and ``extra`` entries (metadata, the trainer's state) in the
    checkpoint format; ``train`` is the recipe's train section as a dict."""
    recipe = {"data": asdict(data), "model": model.config.to_dict(),
              "generate": asdict(generate or GenerateConfig())}
    if train is not None:
        recipe["train"] = train
    return {"format": FORMAT, "version": VERSION, "recipe": recipe, "name": name,
            "model": model.state_dict(), "ema": ema.state_dict() if ema is not None else None,
            **extra}


def save_checkpoint(path: str | Path, checkpoint: dict | nn.Module, **settings: Any) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, rename) and return its path.

    ``checkpoint`` is a dict from :func:`checkpoint_dict`, or a WaveNet with that
    function's keyword arguments (``data=`` at least).
    """
    obj = checkpoint if isinstance(checkpoint, dict) else checkpoint_dict(checkpoint, **settings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint safely; ValueError (one line) when it is missing, unreadable,
    carries anything but plain data, or has a format this version cannot read.
    ``pretrained:NAME`` reads a model shipped with the package (wavedil.pretrained)."""
    from .pretrained import resolve

    path = resolve(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        found = re.search(r"unsupported (GLOBAL [\w.]+|class [\w.]+)", text)
        if found or "GLOBAL" in text:
            what = found.group(1) if found else "a global"
            raise ValueError(f"{path}: refused: the file asks to load code or objects other "
                             f"than plain data ({what}); nothing from it was run") from None
        raise ValueError(f"{path}: not a readable checkpoint (corrupt or not a torch file)") from None
    except Exception as e:  # truncated, not a zip/pickle, wrong format
        if path.suffix.lower() in (".wav", ".flac", ".ogg", ".mp3", ".npy", ".yaml", ".yml"):
            raise ValueError(f"{path}: a {path.suffix.lower()[1:]} file, not a checkpoint (a .pt "
                             "file written by wavedil train)") from None
        raise ValueError(f"{path}: not a readable checkpoint ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:200] if str(e) else 'no detail'})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "recipe" not in ckpt:
        raise ValueError(f"{path}: not a wavedil checkpoint (no 'model' and 'recipe' entries)")
    version = ckpt.get("version")
    if version is not None and (ckpt.get("format") != FORMAT or version not in range(1, VERSION + 1)):
        raise ValueError(f"{path}: checkpoint format {ckpt.get('format')!r} version {version!r} "
                         f"is not one this wavedil reads ({FORMAT!r} 1 to {VERSION})")
    return ckpt


@dataclass
class LoadedModel:
    """A model read from a checkpoint (a WaveNet, or a vocoder of another kind), with what it
    takes to feed and run it."""

    model: nn.Module
    """The network in eval mode: the moving-average weights when asked for and present."""
    data: Config
    """The data settings it was trained with: sample rate, normalisation, frame features
    (PairedDataConfig for an effect: its sample rate and pairs)."""
    generate: GenerateConfig
    """Defaults of ``wavedil generate``."""
    # training metadata, None outside a run: validation NLLs in bits per sample, speaker names
    name: str | None = None
    step: int | None = None
    best_val: float | None = None
    last_val: float | None = None
    untrained_val: float | None = None
    speakers: list[str] = field(default_factory=list)

    @property
    def config(self) -> Config:
        """The model's config."""
        return self.model.config

    @property
    def sample_rate(self) -> int:
        """Samples per second of the audio it makes and reads."""
        return self.data.sample_rate

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """The frame features of a mono waveform at ``sample_rate``, normalised as in training:
        (T,) -> (data.feature_channels, T // hop): log-mel bands, then log-f0 and voicing when
        ``data.f0`` (``data.frame_features``, the one extractor training used too)."""
        peak = float(wave.abs().max()) if wave.numel() else 0.0
        if self.data.normalise and peak > 0:
            wave = wave * (self.data.peak / peak)
        return self.data.frame_features(wave)


def load_model(path_or_dict: str | Path | dict, device: str | torch.device = "cpu",
               ema: bool = True) -> LoadedModel:
    """The model of a checkpoint file (or of a dict read by :func:`load_checkpoint`) on
    ``device``, with its settings and training metadata; the EMA weights unless ``ema`` is
    False or the checkpoint has none. A ``.nam`` file (Neural Amp Modeler) loads as an
    effect model (wavedil.effect.nam); ``pretrained:NAME`` a model shipped with the package
    (wavedil.pretrained, listed by ``wavedil models``)."""
    if not isinstance(path_or_dict, dict) and Path(path_or_dict).suffix.lower() == ".nam":
        from .effect.nam import load_nam  # a Neural Amp Modeler file: an effect with no training state

        model = load_nam(path_or_dict)
        return LoadedModel(model.to(device), family_of(model).data_config(sample_rate=model.config.sample_rate),
                           GenerateConfig(), Path(path_or_dict).stem)
    if isinstance(path_or_dict, dict):
        ckpt, where = path_or_dict, "checkpoint"
    else:
        ckpt, where = load_checkpoint(path_or_dict), str(path_or_dict)
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: CUDA is not available")
    try:
        sections = ckpt["recipe"]
        config = model_config(sections["model"])
        data = data_config_class(config).from_dict(sections.get("data") or {})
        generate = GenerateConfig.from_dict(sections.get("generate") or {})
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: its settings do not build a model "
                         f"({type(e).__name__}: {e})") from None
    model = build_model(config)
    weights = ckpt["ema"] if ema and ckpt.get("ema") is not None else ckpt["model"]
    model.load_state_dict(weights)
    return LoadedModel(model.eval().to(device), data, generate, ckpt.get("name"),
                       ckpt.get("step"), ckpt.get("best_val"), ckpt.get("last_val"),
                       ckpt.get("untrained_val"), list(ckpt.get("speakers", [])))


def load_effect(path: str | Path, device: torch.device | str = "cpu",
                size: float | None = None) -> nn.Module:
    """The model of a checkpoint (.pt) or a .nam file that processes an input signal (an
    effect, ``wavedil process``), in eval mode; ValueError for a model that generates.
    ``size``: the model of a .nam SlimmableContainer to play (``effect.nam.from_nam``;
    default its full size)."""
    if size is not None:
        if Path(path).suffix.lower() != ".nam":
            raise ValueError(f"--size picks a model of a .nam SlimmableContainer; {path} is not "
                             "a .nam file")
        from .effect.nam import load_nam

        return load_nam(path, size).to(device)
    model = load_model(path, device).model
    family = family_of(model)
    if family.stream is not None:
        raise ValueError(f"{path}: a {family.kind} model, not an effect (model.kind effect); "
                         "use wavedil generate for it")
    return model
