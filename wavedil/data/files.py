"""Finding audio files, and reading one into a clean clip or a reason to skip it.

Real folders hold broken files: empty, truncated, text with a .wav name, NaNs in float
files, silence, 8 channels, any rate or sample format. Every file either becomes a finite
mono float32 clip at the configured rate, or is skipped with a one-line reason; nothing
raises.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ..features import DataConfig

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MANIFEST_SUFFIXES = (".txt", ".csv")
SILENCE_PEAK = 1e-4
"""Clips whose peak is at most this (-80 dBFS, about 3 LSB of 16-bit) are silent."""


def discover(path: str | Path) -> list[Path]:
    """The audio files of a folder (recursive, .wav/.flac/.ogg in any case, sorted), of a
    manifest (.txt: one path per line, # comments; .csv: a ``path`` column or the first
    column; paths relative to the manifest's folder, kept in order), or one audio file.

    Files a manifest lists but that are missing are returned anyway: reading them later gives
    the reason they are skipped.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise ValueError(f"data path {str(p)!r} does not exist")
    if p.is_dir():
        files = sorted((f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()),
                       key=lambda f: f.relative_to(p).as_posix())
        if not files:
            raise ValueError(f"data path {str(p)!r} holds no audio files "
                             f"({', '.join(AUDIO_SUFFIXES)}, searched recursively)")
        return files
    suffix = p.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return [p]
    if suffix not in MANIFEST_SUFFIXES:
        raise ValueError(f"data path {str(p)!r} is not a folder, a .txt/.csv manifest or an audio "
                         f"file ({', '.join(AUDIO_SUFFIXES)})")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"manifest {str(p)!r} cannot be read: {e}") from None
    entries = _csv_paths(text) if suffix == ".csv" else _txt_paths(text)
    if not entries:
        raise ValueError(f"manifest {str(p)!r} lists no files")
    return [f if f.is_absolute() else p.parent / f for f in map(Path, entries)]


def _txt_paths(text: str) -> list[str]:
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _csv_paths(text: str) -> list[str]:
    rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    column = header.index("path") if "path" in header else 0
    body = rows[1:] if "path" in header else rows
    return [row[column].strip() for row in body if len(row) > column and row[column].strip()]


def min_clip_samples(cfg: DataConfig) -> int:
    """Shortest clip kept: one frame, half the mel window (for its reflect padding), min_seconds."""
    return max(cfg.hop_length, cfg.fft_size // 2 + 1, math.ceil(cfg.min_seconds * cfg.sample_rate))


@dataclass
class ReadClip:
    """One file read: its clean clip, or the reason it is skipped, and the file's own rate."""

    clip: np.ndarray | None
    """(T,) float32 at the configured rate (see :func:`clean_clip`); None when skipped."""
    reason: str | None
    """Why the file is skipped, in one line; None when it is used."""
    rate: int | None
    """The file's sample rate (the clip was resampled from it where it differs); None when
    the file could not be read."""


def read_clip(path: str | Path, cfg: DataConfig) -> ReadClip:
    """Read one file into a :class:`ReadClip`; never raises. The one place where data files
    are read, so every reason to skip one is given here (or by :func:`clean_clip`)."""
    p = Path(path)
    try:
        if p.stat().st_size == 0:
            return ReadClip(None, "empty file (0 bytes)", None)
        data, rate = sf.read(str(p), dtype="float64", always_2d=True)  # (T, channels)
    except FileNotFoundError:
        return ReadClip(None, "no such file", None)
    except Exception as e:  # libsndfile errors, permissions, directories, odd headers
        return ReadClip(None, f"unreadable: {_one_line(e)}", None)
    return ReadClip(*clean_clip(data, rate, cfg), int(rate))


def load_clip(path: str | Path, cfg: DataConfig) -> tuple[np.ndarray | None, str | None]:
    """Read one file -> (clip, None), or (None, reason) when it is skipped; never raises.

    The clip is (T,) float32, finite, mono, at ``cfg.sample_rate``, trimmed and normalised:
    see :func:`clean_clip` (and :func:`read_clip`, which also gives the file's rate).
    """
    read = read_clip(path, cfg)
    return read.clip, read.reason


def clean_clip(data: np.ndarray, rate: int, cfg: DataConfig) -> tuple[np.ndarray | None, str | None]:
    """Samples (T,) or (T, channels) at ``rate`` -> (clip, None) or (None, reason); never raises.

    Order: reject non-finite samples (a NaN has no right value to repair to, so the file is
    skipped), mix to mono, resample (torchaudio), reject silence, trim leading and trailing
    quiet (librosa, framed like the mel), normalise the peak (or clip to [-1, 1]), reject clips
    shorter than :func:`min_clip_samples`.
    """
    try:
        return _clean(data, rate, cfg)
    except Exception as e:  # a bug or a case not foreseen: skip the file, keep the run alive
        return None, f"failed to process: {_one_line(e)}"


def _clean(data: np.ndarray, rate: int, cfg: DataConfig) -> tuple[np.ndarray | None, str | None]:
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] == 0:
        return None, f"unexpected sample array of shape {data.shape}"
    if data.shape[0] == 0:
        return None, "no samples"
    if not (isinstance(rate, (int, np.integer)) and rate > 0):
        return None, f"invalid sample rate {rate!r}"
    data = data.astype(np.float64, copy=False)
    finite = np.isfinite(data)
    if not finite.all():
        nan = int(np.isnan(data).sum())
        return None, f"non-finite samples ({nan} NaN, {data.size - int(finite.sum()) - nan} inf)"
    wave = data.mean(axis=1)  # (T,) float64: no overflow for any finite input
    if rate != cfg.sample_rate:
        wave = AF.resample(torch.from_numpy(wave), int(rate), cfg.sample_rate).numpy()
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if peak <= SILENCE_PEAK:
        return None, f"silent (peak {_dbfs(peak)})"
    if cfg.trim_db > 0:
        start, end = _trim_bounds(wave, cfg)
        wave = wave[start:end]
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if peak <= SILENCE_PEAK:  # trimming kept only quiet samples: cannot happen, but never divide by 0
        return None, f"silent after trimming (peak {_dbfs(peak)})"
    if cfg.normalise:
        wave = wave * (cfg.peak / peak)
    else:
        wave = np.clip(wave, -1.0, 1.0)
    shortest = min_clip_samples(cfg)
    if wave.size < shortest:
        return None, (f"too short: {wave.size} samples after trimming at {cfg.sample_rate} Hz, "
                      f"fewer than {shortest}")
    return wave.astype(np.float32), None


def _trim_bounds(wave: np.ndarray, cfg: DataConfig) -> tuple[int, int]:
    import librosa  # slow to import; only needed when trimming

    scaled = wave / np.abs(wave).max()  # trimming is relative to the peak; this keeps 1e30 finite
    _, (start, end) = librosa.effects.trim(scaled, top_db=cfg.trim_db, frame_length=cfg.fft_size,
                                           hop_length=cfg.hop_length)
    return int(start), int(end)


def _dbfs(peak: float) -> str:
    return "-inf dBFS" if peak <= 0 else f"{20 * math.log10(peak):.0f} dBFS"


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."
