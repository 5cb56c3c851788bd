"""The embedded corpus: plucked strings by Karplus-Strong synthesis, generated on first use.

Every note of a range (two octaves by default) is plucked in several timbres and takes, and
written as 16-bit wav under ``root/<timbre>/<midi>_<take>.wav`` with a ``corpus.json``
manifest of labels (MIDI note, f0, timbre). Generation is seeded and deterministic, so two
runs write identical bytes, and it is skipped when the manifest already records the same
settings.

Karplus-Strong (Karplus & Strong 1983; Jaffe & Smith 1983): a burst of noise one period long
circulates in a delay loop whose filter loses a little energy, more at high frequencies, on
every pass:

    y[n] = x[n] + g * (c0 y[n-M] + c1 y[n-M-1] + c2 y[n-M-2])

The taps are the loss filter [a, 1 - a] (delay 1 - a) convolved with a linear-interpolation
fractional delay [1 - d, d], so the loop delay M + (1 - a) + d equals sr / f0 and the note is
in tune. Every tap lags at least M samples, so the recurrence runs M samples at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..dsp.f0 import midi_to_hz

VERSION = 1
"""Bump when the synthesis changes, so cached corpora are regenerated."""
MANIFEST = "corpus.json"


@dataclass(frozen=True)
class Timbre:
    """One plucked-string voice."""

    name: str
    brightness: float
    """Loss filter [a, 1 - a]: 0.5 is the dark classic average, towards 1 rings brighter."""
    t60: float
    """Seconds for the fundamental to decay by 60 dB."""
    pick: float
    """Pick position as a fraction of the string: the burst is comb-filtered, removing the
    harmonics with a node there (0.5 keeps only odd harmonics)."""
    burst_lowpass: float
    """One-pole low-pass coefficient on the noise burst: 0 white (hard pick) .. 0.9 dull (finger)."""


TIMBRES: tuple[Timbre, ...] = (
    Timbre("nylon", brightness=0.5, t60=1.2, pick=0.25, burst_lowpass=0.5),
    Timbre("steel", brightness=0.8, t60=2.5, pick=0.1, burst_lowpass=0.0),
    Timbre("muted", brightness=0.5, t60=0.4, pick=0.5, burst_lowpass=0.8),
    Timbre("harp", brightness=0.65, t60=1.6, pick=0.35, burst_lowpass=0.3),
)


@dataclass(frozen=True)
class CorpusItem:
    """One file of the corpus and its labels."""

    path: Path
    midi: int
    """MIDI note number (60 = middle C)."""
    f0: float
    """Fundamental frequency in Hz (A4 = MIDI 69 = 440 Hz)."""
    timbre: str
    take: int


def note_seconds(midi: int, low: int, high: int) -> float:
    """Duration of a note: 1.0 s at the lowest note down to 0.5 s at the highest."""
    return 0.75 if high == low else 1.0 - 0.5 * (midi - low) / (high - low)


def pluck(f0: float, sample_rate: int, n: int, timbre: Timbre, rng: np.random.Generator) -> np.ndarray:
    """One plucked note of ``n`` samples at ``f0`` Hz, peak 0.9: (n,) float64."""
    a = timbre.brightness
    period = sample_rate / f0
    M = int(np.floor(period - (1 - a)))
    if M < 2:
        raise ValueError(f"pluck: f0 = {f0:.1f} Hz is too high for sample rate {sample_rate}")
    d = period - M - (1 - a)  # fractional delay in [0, 1)
    gain = 10.0 ** (-3.0 / (timbre.t60 * f0))  # per pass: -60 dB after t60 * f0 passes
    c0, c1, c2 = gain * np.convolve([a, 1 - a], [1 - d, d])

    burst = rng.uniform(-1.0, 1.0, M)
    for i in range(1, M):  # one-pole low-pass: the pick's hardness
        burst[i] = (1 - timbre.burst_lowpass) * burst[i] + timbre.burst_lowpass * burst[i - 1]
    lag = max(1, int(round(timbre.pick * M)))
    burst[lag:] -= burst[:-lag].copy()  # comb: the pick position
    burst -= burst.mean()

    y = np.zeros(n + 2)  # two leading zeros so lags M + 1 and M + 2 never wrap
    y[2:2 + min(M, n)] = burst[:n]
    for start in range(M, n, M):
        i = np.arange(start, min(start + M, n)) + 2
        y[i] = c0 * y[i - M] + c1 * y[i - M - 1] + c2 * y[i - M - 2]
    y = y[2:]
    fade = min(n, sample_rate // 100)  # 10 ms fade-out: no click at the cut
    y[n - fade:] *= np.linspace(1.0, 0.0, fade)
    peak = np.abs(y).max()
    return y * (0.9 / peak) if peak > 0 else y


def corpus_settings(sample_rate: int, low: int, high: int, timbres: int, takes: int, seed: int) -> dict:
    """Everything that determines the corpus' bytes."""
    return {"version": VERSION, "sample_rate": sample_rate, "low": low, "high": high,
            "timbres": [asdict(t) for t in TIMBRES[:timbres]], "takes": takes, "seed": seed}


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def make_corpus(root: str | Path, sample_rate: int = 16000, low: int = 48, high: int = 71,
                timbres: int = 4, takes: int = 2, seed: int = 0) -> list[CorpusItem]:
    """Write (or find already written) the plucked-string corpus under ``root``.

    Notes ``low``..``high`` (MIDI, inclusive) x the first ``timbres`` of :data:`TIMBRES` x
    ``takes``; the defaults give 192 files, about 4.6 MB. Returns the items sorted by path.
    """
    if not (0 <= low <= high <= 127):
        raise ValueError(f"make_corpus: need 0 <= low <= high <= 127, got low={low}, high={high}")
    if not 1 <= timbres <= len(TIMBRES):
        raise ValueError(f"make_corpus: timbres must be in [1, {len(TIMBRES)}], got {timbres}")
    if takes < 1:
        raise ValueError(f"make_corpus: takes must be >= 1, got {takes}")
    root = Path(root)
    settings = corpus_settings(sample_rate, low, high, timbres, takes, seed)
    key = settings_hash(settings)
    found = read_manifest(root)
    if found is not None and found[0] == key and all(item.path.is_file() for item in found[1]):
        return found[1]
    if found is not None:  # other settings: remove their files so the folder holds one corpus
        for item in found[1]:
            item.path.unlink(missing_ok=True)

    items = []
    for t_index, timbre in enumerate(TIMBRES[:timbres]):
        (root / timbre.name).mkdir(parents=True, exist_ok=True)
        for midi in range(low, high + 1):
            f0 = midi_to_hz(midi)
            n = int(round(note_seconds(midi, low, high) * sample_rate))
            for take in range(takes):
                rng = np.random.default_rng([seed, t_index, midi, take])
                wave = pluck(f0, sample_rate, n, timbre, rng)
                path = root / timbre.name / f"{midi:03d}_{take}.wav"
                _write_wav(path, wave, sample_rate)
                items.append(CorpusItem(path, midi, f0, timbre.name, take))
    items.sort(key=lambda item: str(item.path))
    manifest = {"hash": key, "settings": settings,
                "items": [{"path": item.path.relative_to(root).as_posix(), "midi": item.midi,
                           "f0": item.f0, "timbre": item.timbre, "take": item.take}
                          for item in items]}
    tmp = root / f".{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, root / MANIFEST)  # last, atomically: a manifest means a complete corpus
    return items


def read_manifest(root: str | Path) -> tuple[str, list[CorpusItem]] | None:
    """The settings hash and items of the corpus under ``root``; None if there is none."""
    root = Path(root)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
        items = [CorpusItem(root / d["path"], int(d["midi"]), float(d["f0"]), str(d["timbre"]),
                            int(d["take"])) for d in manifest["items"]]
        return str(manifest["hash"]), items
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_wav(path: Path, wave: np.ndarray, sample_rate: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    sf.write(str(tmp), wave, sample_rate, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)
