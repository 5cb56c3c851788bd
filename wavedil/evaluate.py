"""Copy-synthesis evaluation of a mel vocoder against the originals, with Griffin-Lim from the
same features beside it: the library side of ``wavedil evaluate``.

For every audio file in a folder: the features come through the same path as ``wavedil
generate --from-wav`` (same loading, resampling, peak normalisation and LogMel), the model
vocodes them with ``wavedil.stream`` (one file at a time, a fresh random stream from ``seed``
per file, so a file's audio does not depend on which other files are evaluated), and
Griffin-Lim inverts the very same features. Both are scored against the original, normalised
the same way and cut to the same length (whole frames), with :mod:`wavedil.dsp.metrics`.

Bad input: a missing or empty folder, or a checkpoint without mel conditioning, is a
ValueError before any work. Files are found by their suffix (.wav/.flac/.ogg, recursively; any
other file is not looked at); an audio-named file that cannot be used (unreadable, silent,
shorter than one frame) is skipped with a warning naming it, and when no file is usable the
evaluation fails with one line that gives the first reason.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .dsp import metrics as M
from .dsp.audio import LogMel, load_audio, save_audio
from .checkpoint import LoadedModel, load_model
from .data.files import discover
from .wavenet.engines import resolve_engine
from .families import stream
from .families import family_of
from .wavenet.model import WaveNet
from .plots import plot_comparison
from .dsp.refine import REFINE_MOMENTUM, mel_refine
from .synthesis import mel_from_wav

SYSTEMS = ("wavedil", "wavedil unrefined", "griffin-lim", "griffin-lim refined")
"""The systems a report can compare, in table order: wavedil as ``generate`` makes it (with
its refinement passes, if any); with refinement, its output before the passes, and Griffin-Lim
put through the same passes, the control that shows what the passes alone do."""

METRICS: dict[str, tuple[str, bool]] = {
    "log_mel_db": ("log-mel dB", False),
    "mcd_db": ("MCD dB", False),
    "f0_rmse_cents": ("f0 RMSE cents", False),
    "vde": ("voicing error", False),
    "pesq_wb": ("PESQ-wb", True),
    "stoi": ("STOI", True),
    "in_tune": ("within a semitone", True),
    "hnr_db": ("HNR dB", True),
}
"""Metric key -> (label, higher is better). The last two score notes (a reference whose pitch
holds, see :func:`steady_pitch`; None for speech): whether the estimate's median pitch lies
within a semitone of the reference's (1 or 0), and the estimate's harmonic-to-noise ratio at
the reference's pitch (:func:`wavedil.dsp.metrics.harmonic_to_noise_ratio`)."""

NOTE_VOICED = 0.3
"""A reference counts as a note when at least this fraction of its frames is voiced ..."""
NOTE_SPREAD = 0.8
"""... and this fraction of its voiced frames lies within a semitone of their median f0."""


def steady_pitch(track: M.F0Track) -> float | None:
    """The median f0 (Hz) of a pitch track that holds one note (see NOTE_VOICED and
    NOTE_SPREAD), else None (speech, noise, a glide)."""
    f0, voiced = track
    if not voiced.size or voiced.mean() < NOTE_VOICED:
        return None
    median = float(np.median(f0[voiced]))
    if np.mean(np.abs(12 * np.log2(f0[voiced] / median)) <= 1.0) < NOTE_SPREAD:
        return None
    return median


@dataclass
class Row:
    """The scores of one system on one file."""

    file: str
    system: str
    seconds: float
    """Length compared (whole frames of the model's hop)."""
    scores: dict[str, float | None]
    """Metric key (see METRICS) -> value; None where the metric is unavailable or undefined
    (f0 RMSE with no frame voiced in both, PESQ with no utterance found)."""


@dataclass
class EvaluationReport:
    """What ``evaluate`` measured: per-file rows and the mean of each metric per system."""

    checkpoint: str
    test_dir: str
    sample_rate: int
    engine: str
    seed: int
    temperature: float
    systems: list[str]
    refine: int
    """Passes of mel-consistent refinement over wavedil's output (0: none)."""
    rows: list[Row]
    means: dict[str, dict[str, float | None]]
    """System -> metric key -> mean over the files where it has a value (None: no file)."""
    files: int
    """Files evaluated."""
    skipped: list[str] = field(default_factory=list)
    """'path: reason' for each audio-named file that could not be used."""
    voiced_temperature: float | None = None
    """The temperature of voiced samples after their run's first period (None: ``temperature``
    for all; ``wavedil.wavenet.generate.VoicedTemperature``)."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Optional metric -> why it was not computed (its package is missing)."""
    original_hnr_db: float | None = None
    """Mean harmonic-to-noise ratio of the originals that are notes (the figure each system's
    ``hnr_db`` is read against; None where no file is a note)."""
    real_time_factor: float | None = None
    """Audio seconds vocoded per second of wavedil generation (all files)."""
    outputs: list[str] = field(default_factory=list)
    """Files written under ``out``."""

    def to_dict(self) -> dict:
        """A JSON-ready dict (what report.json and ``--json`` hold)."""
        return asdict(self)


def _features(path: Path, loaded: LoadedModel) -> tuple[torch.Tensor, np.ndarray]:
    """Copy-synthesis input and reference of one file: (features (n_mels, frames) exactly as
    ``generate --from-wav`` makes them, the original normalised as the features saw it (see
    LoadedModel.features), cut to frames * hop samples)."""
    mel = mel_from_wav(path, loaded)  # (n_mels, frames); ValueError names the file
    wave, _ = load_audio(path, loaded.sample_rate)  # (T,), as mel_from_wav read it
    if loaded.data.normalise:
        wave = wave * (loaded.data.peak / float(wave.abs().max()))
    n = mel.shape[-1] * loaded.data.hop_length
    return mel, wave[:n].numpy().astype(np.float32)


def vocode(model: WaveNet, features: torch.Tensor, n_samples: int, seed: int, temperature: float,
           engine: str, speaker: int | None = None, weights: str = "fp32",
           voiced_temperature: float | None = None) -> np.ndarray:
    """Copy synthesis of one file as ``wavedil generate`` does it before any refinement:
    ``stream`` over the whole features with a generator seeded with ``seed`` -> (n_samples,)
    float32 (not clipped: :func:`refined` reads it first)."""
    device = next(model.parameters()).device
    gen = torch.Generator(device=device).manual_seed(seed)
    local = features[None].to(device)  # (1, n_mels, frames)
    chunks = [c.detach().cpu().float().numpy()[0]
              for c in stream(model, n_samples, 1, local=local, speaker=speaker,
                              temperature=temperature, generator=gen, engine=engine,
                              weights=weights, voiced_temperature=voiced_temperature)]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)


def refined(wave: np.ndarray, features: torch.Tensor, mel: LogMel, passes: int,
            momentum: float = REFINE_MOMENTUM) -> np.ndarray:
    """``passes`` of :func:`wavedil.dsp.refine.mel_refine` towards the features' first
    ``mel.n_mels`` bands, as ``wavedil generate`` runs them, then clipped to [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(wave, np.float32))[None]
    x = mel_refine(x, features[None, :mel.n_mels].cpu().float(), mel, passes, momentum)
    return x.clamp(-1.0, 1.0).numpy()[0]


def score(ref: np.ndarray, est: np.ndarray, rate: int, ref_f0: M.F0Track | None = None,
          extras: bool = True) -> dict[str, float | None]:
    """Every metric of METRICS for one estimate against its reference (``ref_f0``: the
    reference's pitch track, when already known). ``extras=False`` skips PESQ and STOI."""
    ref_f0 = ref_f0 if ref_f0 is not None else M.estimate_f0(ref, rate)
    n = min(len(ref), len(est))
    est_f0 = M.estimate_f0(est[:n], rate)
    f0 = M.f0_scores(ref_f0, est_f0)
    note = steady_pitch(ref_f0)
    in_tune = hnr = None
    if note is not None:
        got = est_f0[0][est_f0[1]]
        in_tune = float(got.size > 0 and abs(12 * math.log2(float(np.median(got)) / note)) <= 1.0)
        hnr = M.harmonic_to_noise_ratio(est[:n], rate, note)
    scores = {
        "log_mel_db": M.log_mel_distance(ref, est, rate),
        "mcd_db": M.mel_cepstral_distortion(ref, est, rate),
        "f0_rmse_cents": f0.rmse_cents,
        "vde": f0.vde,
        "pesq_wb": M.pesq_wb(ref, est, rate) if extras else None,
        "stoi": M.stoi(ref, est, rate) if extras else None,
        "in_tune": in_tune,
        "hnr_db": hnr,
    }
    # a non-finite score is no score: reports stay valid JSON, means stay defined
    return {k: v if v is None or math.isfinite(v) else None for k, v in scores.items()}


def _means(rows: list[Row], systems: list[str]) -> dict[str, dict[str, float | None]]:
    means = {}
    for system in systems:
        mine = [r.scores for r in rows if r.system == system]
        means[system] = {}
        for key in METRICS:
            values = [s[key] for s in mine if s.get(key) is not None]
            means[system][key] = float(np.mean(values)) if values else None
    return means


def _out_names(files: list[Path], root: Path) -> list[Path]:
    """Output stem of each file, relative to the output folder: its path under the test folder
    without the suffix (the suffix is kept where two files would share a stem)."""
    rels = []
    for f in files:
        try:
            rels.append(f.relative_to(root) if root.is_dir() else Path(f.name))
        except ValueError:  # a manifest entry outside the folder
            rels.append(Path(f.name))
    stems = [r.with_suffix("") for r in rels]
    return [s if stems.count(s) == 1 else r.with_name(r.name.replace(".", "-"))
            for s, r in zip(stems, rels)]


def evaluate(
    checkpoint: str | Path,
    test_dir: str | Path,
    out: str | Path | None = None,
    griffin_lim: bool = True,
    engine: str | None = None,
    seed: int | None = None,
    temperature: float | None = None,
    limit: int | None = None,
    speaker: int | None = None,
    device: str = "cpu",
    force: bool = False,
    warn: Callable[[str], None] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    refine: int | None = None,
    voiced_temperature: float | None = None,
) -> EvaluationReport:
    """Copy-synthesise every audio file of ``test_dir`` with the checkpoint, and score it (and
    Griffin-Lim from the same features, unless ``griffin_lim`` is False) against the original.

    Defaults (engine, seed, temperature, voiced_temperature, refine) come from the
    checkpoint's ``generate`` settings; ``refine`` passes of mel-consistent refinement follow wavedil's synthesis, as in
    ``wavedil generate``. With refinement the report has four systems (see SYSTEMS): the same
    generation scored before the passes too, and Griffin-Lim through the same passes. ``limit``
    evaluates the first N usable files (sorted by path). ``out`` keeps, per file,
    ``<name>.<system>.wav`` (``wavedil``, ``griffin-lim``, with refinement also
    ``wavedil-unrefined`` and ``griffin-lim-refined``) and ``<name>.png`` (the original and every
    system's spectrogram on one colour scale), plus ``report.json``; an existing report
    there is kept unless ``force``. ``warn(message)`` receives each skipped file's reason (those
    before the first usable file once it is found: with none, the ValueError alone reports);
    ``progress(done, total, name)`` is called after each file.
    """
    loaded = load_model(checkpoint, device)
    model = loaded.model
    family = family_of(model)
    if family.stream is None:
        raise ValueError(f"{checkpoint}: a model of kind {family.kind}, not a mel vocoder; "
                         "evaluate needs a mel vocoder (run an effect with wavedil process)")
    if not model.config.local_channels:
        raise ValueError(f"{checkpoint}: this model has no mel conditioning (model.local_channels "
                         f"= 0); evaluate needs a mel vocoder")
    if model.config.speakers:
        if speaker is None:
            raise ValueError(f"this model needs --speaker in [0, {model.config.speakers})")
    elif speaker is not None:
        raise ValueError("this model has no speakers: --speaker does not apply")
    g, rate, hop = loaded.generate, loaded.sample_rate, loaded.data.hop_length
    engine = engine or g.engine
    seed = g.seed if seed is None else seed
    temperature = g.temperature if temperature is None else temperature
    if not temperature >= 0:
        raise ValueError(f"--temperature must be >= 0, got {temperature}")
    voiced_temperature = g.voiced_temperature if voiced_temperature is None else voiced_temperature
    if voiced_temperature is not None and not voiced_temperature >= 0:
        raise ValueError(f"--voiced-temperature must be >= 0, got {voiced_temperature}")
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1, got {limit}")
    refine = g.refine if refine is None else refine
    if refine < 0:
        raise ValueError(f"--refine must be >= 0 (passes), got {refine}")
    used_engine = resolve_engine(engine, device) if family.autoregressive else "one-pass"
    test_dir = Path(test_dir)
    if not test_dir.exists():
        raise ValueError(f"{test_dir}: no such folder")
    files = discover(test_dir)
    out = Path(out) if out is not None else None
    if out is not None:
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out}: exists and is not a folder")
        if (out / "report.json").exists() and not force:
            raise ValueError(f"{out / 'report.json'} exists; pass --force to overwrite")
        # an output folder inside the test folder: earlier reconstructions are not references
        inside = out.resolve()
        files = [f for f in files if inside not in f.resolve().parents]
        if not files:
            raise ValueError(f"{test_dir}: holds no audio files outside --out {out}")
    names = _out_names(files, test_dir)
    systems = [name for name in SYSTEMS if (griffin_lim or not name.startswith("griffin"))
               and (refine or not name.endswith("refined"))]
    analysis = loaded.data.log_mel()
    unavailable = M.unavailable_metrics()
    rows: list[Row] = []
    skipped: list[str] = []
    outputs: list[str] = []
    generated_seconds, generation_time, done = 0.0, 0.0, 0
    original_hnr: list[float] = []
    total = len(files) if limit is None else min(limit, len(files))
    for path, name in zip(files, names):
        if limit is not None and done >= limit:
            break
        try:
            mel, ref = _features(path, loaded)
        except ValueError as e:
            skipped.append(str(e))
            # held back until a file is usable: when none is, the error alone says it
            if warn is not None and done:
                warn(f"skipped {e}")
            continue
        if warn is not None and not done:
            for reason in skipped:
                warn(f"skipped {reason}")
        n = ref.size
        start = time.perf_counter()
        raw = vocode(model, mel, n, seed, temperature, engine, speaker,
                     g.weights if family.autoregressive else "fp32", voiced_temperature)
        waves = {"original": ref, "wavedil": refined(raw, mel, analysis, refine, g.refine_momentum)}
        generation_time += time.perf_counter() - start  # the passes are part of the synthesis
        generated_seconds += n / rate
        if refine:
            waves["wavedil unrefined"] = np.clip(raw, -1.0, 1.0)
        if griffin_lim:
            bands = mel[:loaded.data.n_mels].numpy()  # the f0 pair, if any, is not a band
            waves["griffin-lim"] = M.griffin_lim(bands, rate, hop, loaded.data.fft_size, seed=seed,
                                                   mel=analysis)
            if refine:
                waves["griffin-lim refined"] = refined(waves["griffin-lim"], mel, analysis, refine,
                                                       g.refine_momentum)
        ref_f0 = M.estimate_f0(ref, rate)
        note = steady_pitch(ref_f0)
        if note is not None:
            original_hnr.append(M.harmonic_to_noise_ratio(ref, rate, note))
        for system in systems:
            rows.append(Row(str(path), system, n / rate, score(ref, waves[system], rate, ref_f0)))
        if out is not None:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            for system in systems:
                target = out / f"{name}.{system.replace(' ', '-')}.wav"
                save_audio(target, waves[system], rate)
                outputs.append(str(target))
            picture = out / f"{name}.png"
            plot_comparison(waves, rate, picture, f"{path.name}: {n / rate:.2f} s")
            outputs.append(str(picture))
        done += 1
        if progress is not None:
            progress(done, total, str(path))
    if not done:
        raise ValueError(f"{test_dir}: none of its {len(files)} audio files is usable "
                         f"({skipped[0] if skipped else 'no file'})")
    report = EvaluationReport(
        checkpoint=str(checkpoint), test_dir=str(test_dir), sample_rate=rate, engine=used_engine,
        seed=seed, temperature=temperature, voiced_temperature=voiced_temperature,
        systems=systems, refine=refine, rows=rows,
        means=_means(rows, systems), files=done, skipped=skipped, unavailable=unavailable,
        original_hnr_db=float(np.mean(original_hnr)) if original_hnr else None,
        real_time_factor=generated_seconds / generation_time if generation_time > 0 else None,
        outputs=outputs)
    if out is not None:
        report.outputs.append(str(out / "report.json"))
        (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False))
    return report
