"""Recipes: YAML files mapped one-to-one onto config dataclasses.

    data:      DataConfig       (wavedil.data.config); PairedDataConfig (wavedil.effect.paired)
                                for model.kind effect
    model:     WaveNetConfig    (wavedil.wavenet.model), or the config of the kind that ``kind`` names
                                (``wavedil.families``: harmonic_noise -> HarmonicNoiseConfig,
                                effect -> EffectConfig)
    train:     TrainConfig      (below)
    generate:  GenerateConfig   (wavedil.wavenet.generate)
    adversarial: AdversarialConfig (wavedil.train.adversarial; vocoders trained on whole crops)

Unknown keys, wrong types and out-of-range values fail before any work, with one line that
names the key, the allowed values and, for a typo, the nearest valid key. ``--set
section.key=value`` overrides any key; the value is parsed as YAML. The model section's
``sample_rate`` and ``n_fft`` (where its kind has them) are the data's: left out, they are filled from the data section.

:func:`recipe_yaml` writes a recipe back, resolved: every key with its value after defaults,
fills and overrides (``wavedil train --print-recipe``, and ``recipe.yaml`` in the run folder);
loading that text gives the same recipe.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, ConfigError, check_keys, need
from ..features import DataConfig
from ..effect.data_config import PairedDataConfig
from ..effect.model import EffectConfig
from ..wavenet.generate import GenerateConfig
from ..harmonic_noise.model import HarmonicNoiseConfig
from ..families import config_class, data_config_class, family_of
from ..dsp.mel import MEL_KEYS, MelSettings
from ..wavenet.model import WaveNetConfig
from .adversarial import AdversarialConfig
from .spectral import FFT_SIZES


@dataclass
class TrainConfig(Config):
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
    grad_clip_quantile: float = 0.0
    """Clip each step's global gradient norm at this quantile of the norms of every earlier
    step (AutoClip; ``wavedil/train/clipping.py``), besides ``grad_clip``; 0: off.
    ``recipes/effect_amp.yaml`` uses 0.5 (AutoClip's authors used 0.1, which slowed the amp's
    first hundreds of steps): it keeps a high learning rate's long runs from being thrown off
    by one step of a norm far above the run's."""
    ema_decay: float = 0.999
    """Decay of the exponential moving average of the weights used for validation and
    generation; 0 disables it."""
    precision: str = "fp32"
    """fp32, or mixed precision: bf16 (on the CPU the chunked stack pass's products in
    bfloat16, wavedil/train/chunked_bf16.py, and torch's CPU autocast elsewhere; fast where the
    CPU has AVX512-BF16 or AMX, slower than fp32 where it converts) or fp16 (CUDA only)."""
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
    minutes: float = 0.0
    """Stop, with a checkpoint, once the run has trained this many minutes of wall-clock time
    in all (every process that trained it, validation included: its checkpoints carry the
    count); ``wavedil train --resume`` with a larger value goes on. 0: no limit (the steps
    end the run). The learning-rate schedule stays the one over ``steps``."""
    max_nonfinite: int = 10
    """Non-finite losses in a row (each step skipped with a warning) before the run stops."""
    input_noise: float = 0.0
    """Standard deviation of Gaussian noise added to the samples the model reads (not to the
    targets) in training steps, in [-1, 1] units: a model that reads its own past samples (LP
    excitation, pitch taps) learns to correct the errors it makes when it generates (LPCNet's
    noise injection). 0: none; needs scalar input."""
    esr_pre_emphasis: float = 0.85
    """Effect models: coefficient c of the pre-emphasis 1 - c z^-1 applied to output and
    target before the error-to-signal ratio (0: plain ESR)."""
    stft_weight: float = 2e-4
    """Effect models: weight of the multi-resolution STFT loss added to the ESR."""
    stft_sizes: list[int] = field(default_factory=lambda: list(FFT_SIZES))
    """FFT sizes (hop a quarter of each) of the multi-resolution STFT loss: a harmonic-noise
    vocoder's whole loss, an effect's STFT term. On the pitch recipe, dropping the 128- and
    64-sample windows (a few of its notes' periods) narrowed the generated notes'
    harmonic-to-noise gap to the corpus from 2.5-3.3 to 1.2-2.3 dB (README, "Pitch,
    harmonic-plus-noise")."""
    mel_weight: float = 0.0
    """Harmonic-noise vocoders: weight of a log-mel term added to the multi-resolution STFT
    loss, the mean |ln M(output) - ln M(crop)| over the model's own mel bands and frames
    (the features' analysis and floor; HiFi-GAN's mel loss). 0: none."""
    phase_weight: float = 0.0
    """Vocoders: weight of the phase terms added to the multi-resolution STFT loss, how far
    the output's group delay and instantaneous frequency are from the crop's where it has
    energy, in the model's own analysis (wavedil/train/phase.py; after APNet's). 0: none."""
    run_dir: str = ""
    """Folder of the run; empty: runs/<recipe name>."""

    def __post_init__(self) -> None:
        need = self.need
        need(self.lr > 0, "lr", "> 0")
        need(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas), "betas",
             "two numbers in [0, 1)")
        need(self.schedule in ("cosine", "exponential", "constant"), "schedule",
             "cosine, exponential or constant")
        need(0 < self.min_lr_ratio <= 1, "min_lr_ratio", "in (0, 1]")
        need(0 <= self.ema_decay < 1, "ema_decay", "in [0, 1)")
        need(0 <= self.grad_clip_quantile < 1, "grad_clip_quantile", "in [0, 1) (0: off)")
        need(self.minutes >= 0, "minutes", ">= 0 (0: no limit)")
        need(self.precision in ("fp32", "bf16", "fp16"), "precision", "fp32, bf16 or fp16")
        need(self.device in ("auto", "cpu", "cuda"), "device", "auto, cpu or cuda")
        for name in ("steps", "batch_size", "validate_every", "checkpoint_every", "keep_last",
                     "log_every", "max_nonfinite", "validation_crops"):
            need(getattr(self, name) >= 1, name, ">= 1")
        for name in ("weight_decay", "warmup_steps", "grad_clip", "threads", "sample_every"):
            need(getattr(self, name) >= 0, name, ">= 0")
        need(self.sample_seconds > 0, "sample_seconds", "> 0")
        need(0.0 <= self.input_noise <= 0.5, "input_noise", "in [0, 0.5]")
        need(0.0 <= self.esr_pre_emphasis < 1.0, "esr_pre_emphasis", "in [0, 1)")
        need(self.stft_weight >= 0, "stft_weight", ">= 0")
        need(self.mel_weight >= 0, "mel_weight", ">= 0")
        need(self.phase_weight >= 0, "phase_weight", ">= 0")
        sizes = self.stft_sizes
        need(isinstance(sizes, (list, tuple)) and len(sizes) > 0
             and all(isinstance(n, int) and not isinstance(n, bool) and n >= 16
                     and n & (n - 1) == 0 for n in sizes),
             "stft_sizes", "a non-empty list of powers of two >= 16")
        self.stft_sizes = list(sizes)


SECTIONS: dict[str, type] = {"data": DataConfig, "model": WaveNetConfig, "train": TrainConfig,
                             "generate": GenerateConfig, "adversarial": AdversarialConfig}


@dataclass
class Recipe:
    """A whole recipe: one config per section, plus the name it was loaded under."""

    data: DataConfig | PairedDataConfig = field(default_factory=DataConfig)
    model: WaveNetConfig | HarmonicNoiseConfig | EffectConfig = field(default_factory=WaveNetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    name: str = "recipe"

    def __post_init__(self) -> None:
        """The checks between sections, by the model family's ``check_recipe``."""
        family = family_of(self.model)
        need("adversarial", not self.adversarial.enabled or family.validation_unit == "stft",
             "weight", f"0 for model.kind {self.model.kind} (adversarial training is for "
             "vocoders trained on whole crops: model.kind harmonic_noise or istft)",
             self.adversarial.weight)
        family.hook("check_recipe")(self)

    def to_dict(self) -> dict:
        return {name: asdict(getattr(self, name)) for name in SECTIONS}

    @property
    def run_dir(self) -> Path:
        return Path(self.train.run_dir or f"runs/{self.name}")



def _check_mel_settings(model: MelSettings, data: DataConfig) -> None:
    """The model reads the mel bands as the data makes them (recipes copy the settings;
    one given in the model section must agree)."""
    for key in MEL_KEYS:
        want = getattr(data, key)
        need("model", getattr(model, key) == want, key,
             f"data.{key} ({want!r}: the model inverts the features as the data makes "
             "them), or left out to take the data's", getattr(model, key))


def _left_at_default(recipe: Recipe, keys: tuple[str, ...], why: str) -> None:
    """The train keys ``keys``, which the model's family does not read (``why``), are at their
    defaults: a value set for them would be ignored without a word."""
    default = TrainConfig()
    for key in keys:
        want = getattr(default, key)
        need("train", getattr(recipe.train, key) == want, key,
             f"left at its default ({want!r}) for model.kind {recipe.model.kind} ({why})",
             getattr(recipe.train, key))


def check_effect(recipe: Recipe) -> None:
    """An effect's sections agree: its rate is the data's, its controls the pairs'."""
    model, data = recipe.model, recipe.data
    need("model", model.lstm is None, "lstm", "null: training NAM's LSTM layout is not "
         "supported yet (.nam LSTMs play and export)", model.lstm)
    need("model", model.sample_rate == data.sample_rate, "sample_rate",
         f"data.sample_rate ({data.sample_rate}), or left out to take the data's",
         model.sample_rate)
    need("train", not recipe.train.input_noise, "input_noise",
         "0 for model.kind effect (it reads no past outputs)", recipe.train.input_noise)
    need("train", not recipe.train.mel_weight, "mel_weight",
         "0 for model.kind effect (a vocoder's log-mel term)", recipe.train.mel_weight)
    need("train", not recipe.train.phase_weight, "phase_weight",
         "0 for model.kind effect (a vocoder's phase terms)", recipe.train.phase_weight)
    if data.pairs is not None:
        counts = {len(p.get("controls", [])) for p in data.pairs}
        need("data", counts == {model.controls}, "pairs",
             f"pairs with model.controls ({model.controls}) control values each",
             sorted(counts))
    elif data.embedded and data.embedded_knobs is not None:
        need("model", model.controls == 1, "controls",
             "1 with data.embedded_knobs (the embedded device's one knob)", model.controls)
    else:
        need("model", model.controls == 0, "controls", "0 unless data.pairs gives each pair its "
             "control values (or data.embedded_knobs the embedded device's)", model.controls)


def _check_frames(recipe: Recipe) -> None:
    """A model of frames reads them at the data's hop and rate."""
    model, data = recipe.model, recipe.data
    need("model", model.hop_length == data.hop_length, "hop_length",
         f"data.hop_length ({data.hop_length})", model.hop_length)
    need("model", model.sample_rate == data.sample_rate, "sample_rate",
         f"data.sample_rate ({data.sample_rate}), or left out to take the data's",
         model.sample_rate)


def check_vocoder(recipe: Recipe) -> None:
    """A frames-to-waveform vocoder's sections agree (harmonic_noise, istft): it reads the
    data's mel bands and f0."""
    model, data = recipe.model, recipe.data
    kind = model.kind
    _check_frames(recipe)
    need("data", data.f0, "f0", f"true for model.kind {kind} (it makes its harmonics at the "
         "frames' f0)", data.f0)
    need("model", model.local_channels == data.feature_channels, "local_channels",
         f"data.n_mels + 2 ({data.feature_channels}: the mel bands and the f0 pair)",
         model.local_channels)
    need("model", model.n_fft in (None, data.fft_size), "n_fft",
         f"null or data.n_fft ({data.fft_size}, the mel FFT size), or left out to take "
         f"the data's", model.n_fft)
    _check_mel_settings(model, data)
    need("train", not recipe.train.input_noise, "input_noise",
         f"0 for model.kind {kind} (it reads no past samples)", recipe.train.input_noise)
    _left_at_default(recipe, ("esr_pre_emphasis", "stft_weight"),
                     "an effect's loss terms: a vocoder's whole loss is the STFT loss")


def check_wavenet(recipe: Recipe) -> None:
    """A WaveNet's sections agree: its conditioning is the data's features, its speakers the
    data's folders, its input and sampling options the model's."""
    model, data = recipe.model, recipe.data
    _check_frames(recipe)
    features = (f"data.n_mels + 2 for data.f0 ({data.feature_channels})" if data.f0
                else f"data.n_mels ({data.n_mels})")
    need("model", model.local_channels in (0, data.feature_channels), "local_channels",
         f"{features}, or 0 for no local conditioning", model.local_channels)
    need("model", not model.local_channels or model.f0_input == data.f0, "f0_input",
         f"data.f0 ({str(data.f0).lower()}) when local_channels > 0", model.f0_input)
    need("model", model.n_fft in (None, data.fft_size), "n_fft",
         f"null or data.n_fft ({data.fft_size}, the mel FFT size), or left out to take the "
         f"data's", model.n_fft)
    if model.local_channels:
        _check_mel_settings(model, data)
    need("model", not model.speakers or data.speakers_from_folders, "speakers",
         "0 without data.speakers_from_folders: true", model.speakers)
    need("train", not recipe.train.mel_weight, "mel_weight",
         "0 for model.kind wavenet (a vocoder's log-mel term; a WaveNet trains on its NLL)",
         recipe.train.mel_weight)
    need("train", not recipe.train.phase_weight, "phase_weight",
         "0 for model.kind wavenet (a vocoder's phase terms; a WaveNet trains on its NLL)",
         recipe.train.phase_weight)
    _left_at_default(recipe, ("esr_pre_emphasis", "stft_weight", "stft_sizes"),
                     "the loss terms of effects and vocoders; a WaveNet trains on its NLL")
    need("train", not recipe.train.input_noise or model.input_kind == "scalar", "input_noise",
         "0 for a model with class input (model.input must be scalar)", recipe.train.input_noise)
    need("generate", recipe.generate.voiced_temperature is None or bool(model.pitch_lags),
         "voiced_temperature", "null without model.pitch_lags (the pitch taps give each "
         "sample's period)", recipe.generate.voiced_temperature)


def build_section(name: str, values: dict | None, where: str = "",
                  model: dict | None = None) -> Any:
    """Check ``values`` against section ``name``'s dataclass and build it (the data section's
    class depends on the ``model`` section's kind)."""
    if values is None:
        values = {}
    need("recipe", isinstance(values, dict), name, "a mapping", values, where)
    try:
        cls = (config_class(values) if name == "model"
               else data_config_class(model if isinstance(model, dict) else {}) if name == "data"
               else SECTIONS[name])
        return cls.from_dict(values)
    except ConfigError as e:
        raise e.within(name, where) from None


def parse_override(text: str) -> tuple[str, str, Any]:
    """'train.lr=3e-4' -> ('train', 'lr', 0.0003)."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ValueError(f"--set expects section.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    section, name = key.strip().split(".", 1)
    check_keys("recipe", [section], SECTIONS, f"--set {key}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return section, name, value


def recipe_from_dict(raw: dict | None, name: str = "recipe", where: str = "",
                     overrides: list[str] | None = None) -> Recipe:
    """Build a :class:`Recipe` from a mapping (a parsed YAML file) and ``--set`` overrides."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where + ': ' if where else ''}a recipe must be a mapping of sections "
                         f"({', '.join(SECTIONS)}), got {type(raw).__name__}")
    check_keys("recipe", raw, SECTIONS, where)
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    given: dict[tuple[str, str], str] = {}  # (section, key) -> the --set that gave its value
    for text in overrides or []:
        section, key, value = parse_override(text)
        need("recipe", isinstance(raw.get(section) or {}, dict), section, "a mapping",
             raw.get(section), where)
        raw[section] = {**(raw.get(section) or {}), key: value}
        given[(section, key)] = text.strip()
    try:
        return _recipe(raw, name, where)
    except ConfigError as e:  # a value that an override gave is named by that override
        text = given.get((e.config, e.key.split("[")[0]))
        if text is None:
            raise
        raise e.within(where=f"--set {text}") from None


def _recipe(raw: dict, name: str, where: str) -> Recipe:
    """The sections of a recipe mapping (overrides applied), built and checked together."""
    model = raw.get("model") or {}
    model_cls = None
    if isinstance(model, dict):  # else build_section names the bad section
        try:
            model_cls = config_class(model)  # a bad kind is named before the data is read
        except ConfigError as e:
            raise e.within("model", where) from None
    sections = {"data": build_section("data", raw.get("data"), where, model)}
    if model_cls is not None:
        data = sections["data"]
        names = {f.name for f in fields(model_cls)}
        filled = {"sample_rate": data.sample_rate,
                  "n_fft": getattr(data, "fft_size", None),
                  **(data.mel_settings() if isinstance(data, MelSettings) else {})}
        raw["model"] = {**{k: v for k, v in filled.items() if k in names}, **model}
    sections.update({s: build_section(s, raw.get(s), where) for s in SECTIONS if s != "data"})
    try:
        return Recipe(**sections, name=name)
    except ConfigError as e:
        raise e.within(where=where) from None


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML file (safe loader only) and apply ``--set`` overrides."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.yaml"))[:3]
        raise ValueError(f"{path}: a folder, not a recipe file (give one YAML file"
                         + (f", e.g. {path / found[0]}" if found else "") + ")")
    if not path.is_file():
        raise ValueError(f"{path}: no such recipe file")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file") from None
    return recipe_from_dict(raw, path.stem, str(path), overrides)


class _Dumper(yaml.SafeDumper):
    """Block mappings, and lists of plain values on one line (``dilations: [1, 2, 4]``)."""


_Dumper.add_representer(list, lambda dumper, items: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", items,
    flow_style=all(not isinstance(v, (list, dict)) for v in items)))


def recipe_yaml(recipe: Recipe) -> str:
    """The recipe as YAML, resolved: every key of every section with the value it has after
    the defaults, the model's fills from the data, ``--set`` overrides and the run folder
    (``train.run_dir``), so that loading it gives the same recipe and the same run folder."""
    sections = recipe.to_dict()
    sections["train"]["run_dir"] = str(recipe.run_dir)
    return (f"# wavedil recipe {recipe.name!r}, resolved: every key with its value\n"
            + yaml.dump(sections, Dumper=_Dumper, sort_keys=False, allow_unicode=True))


def save_recipe(recipe: Recipe, path: str | Path) -> Path:
    """Write :func:`recipe_yaml` to ``path`` atomically (a temporary file beside it, then a
    rename): a reader sees the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(recipe_yaml(recipe))
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a recipe is as shareable as the run
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def field_docs(cls: type) -> dict[str, str]:
    """Each field's docstring (the string literal under it, in the class or the dataclass it
    inherits the field from), for documentation and tests."""
    import ast
    import dataclasses
    import inspect

    docs = {}
    for klass in reversed(cls.__mro__):  # a subclass's docstring wins
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        body = ast.parse(inspect.getsource(klass)).body[0].body
        for node, nxt in zip(body, body[1:]):
            if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) \
                    and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    return docs


__all__ = ["Recipe", "SECTIONS", "TrainConfig", "build_section", "field_docs", "load_recipe",
           "parse_override", "recipe_from_dict", "recipe_yaml", "save_recipe"]
