"""Recipes: YAML files mapped one-to-one onto config dataclasses.

    data:      DataConfig       (wavedil.data.config)
    model:     WaveNetConfig    (wavedil.model)
    train:     TrainConfig      (below)
    generate:  GenerateConfig   (wavedil.generate)

Unknown keys, wrong types and out-of-range values fail before any work, with one line that
names the key, the allowed values and, for a typo, the nearest valid key. ``--set
section.key=value`` overrides any key; the value is parsed as YAML.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..data.config import DataConfig
from ..generate import GenerateConfig
from ..model import WaveNetConfig


@dataclass
class TrainConfig:
    """The ``train:`` section: optimisation, checkpoints and reporting."""

    steps: int = 2000
    """Optimisation steps in all."""
    batch_size: int = 8
    """Crops per step, over all processes."""
    lr: float = 1e-3
    """Peak learning rate of AdamW."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    """AdamW betas."""
    warmup_steps: int = 100
    """Steps of linear warm-up from 0 to lr."""
    schedule: str = "cosine"
    """Decay after warm-up: cosine, exponential or constant."""
    min_lr_ratio: float = 0.05
    """Final learning rate as a fraction of lr (cosine and exponential)."""
    grad_clip: float = 1.0
    """Maximum global gradient norm; 0 disables clipping."""
    ema_decay: float = 0.999
    """Decay of the exponential moving average of the weights used for validation and
    generation; 0 disables it."""
    precision: str = "fp32"
    """fp32, or bf16 / fp16 mixed precision (CUDA only)."""
    device: str = "auto"
    """auto (CUDA when available), cpu or cuda."""
    threads: int = 0
    """CPU threads for torch; 0 keeps torch's default."""
    seed: int = 0
    """Seed of the weights, dropout and crops."""
    validate_every: int = 250
    """Steps between validations (and at the end)."""
    validation_crops: int = 2
    """Fixed validation crops per validation clip."""
    checkpoint_every: int = 250
    """Steps between checkpoints (and at the end)."""
    keep_last: int = 3
    """Step checkpoints kept besides best.pt."""
    sample_every: int = 0
    """Steps between generated samples (wav + spectrogram) in the run folder; 0: only at the end."""
    sample_seconds: float = 1.0
    """Length of those samples."""
    log_every: int = 25
    """Steps between metric lines."""
    max_nonfinite: int = 10
    """Non-finite losses in a row (each step skipped with a warning) before the run stops."""
    run_dir: str = ""
    """Folder of the run; empty: runs/<recipe name>."""

    def __post_init__(self) -> None:
        _need(self.steps >= 1, "train.steps", ">= 1", self.steps)
        _need(self.batch_size >= 1, "train.batch_size", ">= 1", self.batch_size)
        _need(self.lr > 0, "train.lr", "> 0", self.lr)
        _need(self.weight_decay >= 0, "train.weight_decay", ">= 0", self.weight_decay)
        _need(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "train.betas",
              "two numbers in [0, 1)", self.betas)
        _need(self.warmup_steps >= 0, "train.warmup_steps", ">= 0", self.warmup_steps)
        _need(self.schedule in ("cosine", "exponential", "constant"), "train.schedule",
              "cosine, exponential or constant", self.schedule)
        _need(0 < self.min_lr_ratio <= 1, "train.min_lr_ratio", "in (0, 1]", self.min_lr_ratio)
        _need(self.grad_clip >= 0, "train.grad_clip", ">= 0", self.grad_clip)
        _need(0 <= self.ema_decay < 1, "train.ema_decay", "in [0, 1)", self.ema_decay)
        _need(self.precision in ("fp32", "bf16", "fp16"), "train.precision", "fp32, bf16 or fp16",
              self.precision)
        _need(self.device in ("auto", "cpu", "cuda"), "train.device", "auto, cpu or cuda", self.device)
        _need(self.threads >= 0, "train.threads", ">= 0", self.threads)
        for name in ("validate_every", "checkpoint_every", "keep_last", "log_every",
                     "max_nonfinite", "validation_crops"):
            _need(getattr(self, name) >= 1, f"train.{name}", ">= 1", getattr(self, name))
        _need(self.sample_every >= 0, "train.sample_every", ">= 0", self.sample_every)
        _need(self.sample_seconds > 0, "train.sample_seconds", "> 0", self.sample_seconds)


SECTIONS: dict[str, type] = {"data": DataConfig, "model": WaveNetConfig, "train": TrainConfig,
                             "generate": GenerateConfig}


@dataclass
class Recipe:
    """A whole recipe: one config per section, plus the name it was loaded under."""

    data: DataConfig = field(default_factory=DataConfig)
    model: WaveNetConfig = field(default_factory=WaveNetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    name: str = "recipe"

    def __post_init__(self) -> None:
        if self.model.hop_length != self.data.hop_length:
            raise ValueError(f"model.hop_length ({self.model.hop_length}) must equal "
                             f"data.hop_length ({self.data.hop_length})")
        if self.model.local_channels and self.model.local_channels != self.data.n_mels:
            raise ValueError(f"model.local_channels ({self.model.local_channels}) must equal "
                             f"data.n_mels ({self.data.n_mels}), or be 0 for no local conditioning")
        if self.model.speakers and not self.data.speakers_from_folders:
            raise ValueError("model.speakers > 0 needs data.speakers_from_folders: true")

    def to_dict(self) -> dict:
        return {name: asdict(getattr(self, name)) for name in SECTIONS}

    @property
    def run_dir(self) -> Path:
        return Path(self.train.run_dir or f"runs/{self.name}")


def _need(ok: bool, key: str, allowed: str, got: Any) -> None:
    if not ok:
        raise ValueError(f"{key} must be {allowed}, got {got!r}")


def _suggest(key: str, options: list[str]) -> str:
    close = difflib.get_close_matches(key, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _type_ok(value: Any, annotation: Any) -> bool:
    """Whether a YAML value fits a dataclass field annotation (int accepted for float)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        (inner,) = typing.get_args(annotation)
        return isinstance(value, list) and all(_type_ok(v, inner) for v in value)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    return True


def _coerce(value: Any, annotation: Any) -> Any:
    """YAML 1.1 reads '3e-4' as a string; take it as the number a float field means."""
    if isinstance(value, str) and annotation is float:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _type_name(annotation: Any) -> str:
    return str(annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")


def build_section(name: str, values: dict, where: str = "") -> Any:
    """Check ``values`` against section ``name``'s dataclass and build it."""
    cls = SECTIONS[name]
    prefix = f"{where}: " if where else ""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{prefix}section '{name}' must be a mapping, got {type(values).__name__}")
    known = typing.get_type_hints(cls)
    values = {k: _coerce(v, known.get(k)) for k, v in values.items()}
    for key, value in values.items():
        if key not in known:
            raise ValueError(f"{prefix}unknown key '{name}.{key}'{_suggest(str(key), list(known))}; "
                             f"allowed: {', '.join(known)}")
        if not _type_ok(value, known[key]):
            raise ValueError(f"{prefix}{name}.{key} must be of type {_type_name(known[key])}, "
                             f"got {value!r}")
    try:
        return cls(**values)
    except ValueError as e:
        msg = str(e)
        for prefix_cls in ("WaveNetConfig: ", "DataConfig."):
            msg = msg.replace(prefix_cls, f"{name}." if prefix_cls.endswith(".") else f"{name}: ")
        raise ValueError(f"{prefix}{msg}") from None


def parse_override(text: str) -> tuple[str, str, Any]:
    """'train.lr=3e-4' -> ('train', 'lr', 0.0003)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ValueError(f"--set expects section.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    section, name = key.strip().split(".", 1)
    if section not in SECTIONS:
        raise ValueError(f"--set {key}: unknown section '{section}'{_suggest(section, list(SECTIONS))}; "
                         f"allowed: {', '.join(SECTIONS)}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return section, name, value


def recipe_from_dict(raw: dict, name: str = "recipe", where: str = "",
                     overrides: list[str] | None = None) -> Recipe:
    """Build a :class:`Recipe` from a mapping (a parsed YAML file) and ``--set`` overrides."""
    prefix = f"{where}: " if where else ""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{prefix}a recipe must be a mapping of sections "
                         f"({', '.join(SECTIONS)}), got {type(raw).__name__}")
    for key in raw:
        if key not in SECTIONS:
            raise ValueError(f"{prefix}unknown section '{key}'{_suggest(str(key), list(SECTIONS))}; "
                             f"allowed: {', '.join(SECTIONS)}")
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for text in overrides or []:
        section, key, value = parse_override(text)
        if not isinstance(raw.get(section) or {}, dict):
            raise ValueError(f"{prefix}section '{section}' must be a mapping")
        raw.setdefault(section, {})
        raw[section] = {**(raw[section] or {}), key: value}
    sections = {s: build_section(s, raw.get(s), where) for s in SECTIONS}
    try:
        return Recipe(**sections, name=name)
    except ValueError as e:
        raise ValueError(f"{prefix}{e}") from None


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML file (safe loader only) and apply ``--set`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such recipe file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    return recipe_from_dict(raw, path.stem, str(path), overrides)


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it), for documentation and tests."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) \
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
            docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


__all__ = ["Recipe", "SECTIONS", "TrainConfig", "build_section",
           "field_docs", "load_recipe", "parse_override", "recipe_from_dict"]
