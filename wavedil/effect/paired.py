"""Paired audio for effect models: what went into a device and what came out, aligned, split
and cropped for training.

    PairedDataConfig --prepare_pairs()--> PairedData --RandomCrops / FixedCrops--> crops
                                                       {input (L,), target (L,), controls (P,)}

A pair is an input file and a target file of the same rate and length (a re-amped recording:
the dry signal, then the device's output), or the embedded pair: the plucked-string corpus at
levels from -20 to 0 dB through a device of :mod:`wavedil.effect.reference` (the same input at
each of ``embedded_knobs`` for a knob model). Folders of pairs match files by their path below
each folder; ``pairs`` lists them one by one, each with its control values (knob positions)
for a model with ``controls``.

A held-out pair (``heldout`` in ``pairs``; each of ``heldout_knobs``) is never trained on: a
recorded one is validation from end to end; an embedded one, whose input the trained pairs
share, gives only its validation tail, so that it is validated on input and setting both
unseen.

Latency: a device or an interface delays its output. The lag of the target behind the input
is measured per pair by cross-correlation (a lag beyond +-max_latency samples is an error; or set with
``latency``) and removed, less LATENCY_MARGIN samples, by shifting the target, so that a
causal model can learn the pair; the lag is reported. The margin is there because a filter's
group delay also moves the correlation peak by a sample or two: left in, a few samples of
delay cost a causal model nothing, while shifting the target before its cause would. The last ``validation_fraction`` of each pair is held out.

Bad input (a missing file, rates or lengths that differ, a silent target, a latency beyond the
limit) is a ValueError in one line that names the file, before any training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from ..data.corpus import make_corpus
from ..data.files import discover
from .data_config import EMBEDDED, PairedDataConfig
from .reference import REFERENCES

LATENCY_MARGIN = 8
"""Samples of a measured lag left in place (see the module docstring)."""


@dataclass
class PairedData:
    """Every pair, aligned, as train and validation segments of one long input and target."""

    config: PairedDataConfig
    receptive_field: int
    inputs: torch.Tensor
    """(N,) float32: every segment's input, end to end."""
    targets: torch.Tensor
    """(N,) float32: the aligned targets."""
    controls: torch.Tensor
    """(n, P) float32: each segment's control values (P = 0 without controls)."""
    bounds: torch.Tensor
    """(n, 2) long: segment i is inputs[bounds[i, 0]:bounds[i, 1]]."""
    paths: list[str]
    """(n,) the input file of each segment."""
    train: list[int]
    validation: list[int]
    latencies: dict[str, int] = field(default_factory=dict)
    """Input file -> the lag removed (samples; positive: the target came after the input)."""
    speakers: list[str] = field(default_factory=list)
    """None: an effect has no speakers."""

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def hop_length(self) -> int:
        """Crops start on any sample."""
        return 1

    @property
    def length(self) -> int:
        """Samples per crop: the receptive field's history, then ``crop``."""
        return self.receptive_field - 1 + self.config.crop

    def clip_length(self, clip: int) -> int:
        a, b = self.bounds[clip].tolist()
        return b - a

    def start_range(self, clip: int) -> tuple[int, int]:
        """First and last crop start; a negative start begins in silence before the segment
        (at most the receptive field's history, so the samples with loss are audio)."""
        hi = self.clip_length(clip) - self.length
        return min(-(self.receptive_field - 1), hi), hi

    def crop(self, clip: int, start: int) -> dict[str, torch.Tensor]:
        """input and target (length,) float32 from ``start`` (silence before the segment),
        controls (P,), clip, start, pad."""
        lo, hi = self.start_range(clip)
        if not lo <= start <= hi:
            raise ValueError(f"crop: start {start} of segment {clip} must be in [{lo}, {hi}]")
        a = int(self.bounds[clip, 0])
        pad = max(0, -start)
        s0, s1 = a + max(0, start), a + start + self.length
        zeros = self.inputs.new_zeros(pad)
        return {"input": torch.cat([zeros, self.inputs[s0:s1]]),
                "target": torch.cat([zeros, self.targets[s0:s1]]),
                "controls": self.controls[clip].clone(), "clip": torch.tensor(clip),
                "start": torch.tensor(start), "pad": torch.tensor(pad)}


def measure_latency(x: np.ndarray, y: np.ndarray, max_lag: int) -> int:
    """The lag (samples) at which ``y`` best matches ``x`` delayed, within +-max_lag: the peak
    of their cross-correlation (positive: y comes after x)."""
    from scipy.signal import correlate

    n = min(x.size, y.size)
    x, y = np.asarray(x[:n], np.float64), np.asarray(y[:n], np.float64)
    if max_lag == 0 or n == 0:
        return 0
    full = correlate(y, x, mode="full", method="fft")  # index n - 1 is lag 0
    lags = np.arange(-min(max_lag, n - 1), min(max_lag, n - 1) + 1)
    return int(lags[np.argmax(np.abs(full[n - 1 + lags]))])


def _read(path: Path, rate: int) -> np.ndarray:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile's errors for unreadable files
        raise ValueError(f"{path}: not readable audio ({str(e).splitlines()[0][:120]})") from None
    if file_rate != rate:
        raise ValueError(f"{path}: the file is at {file_rate} Hz but data.sample_rate is {rate}; "
                         "pairs are not resampled (set data.sample_rate, or resample both files)")
    wave = data.mean(axis=1)
    if not np.isfinite(wave).all():
        raise ValueError(f"{path}: holds NaN or infinite samples")
    return wave


def _pair_list(cfg: PairedDataConfig) -> list[tuple[Path, Path, list[float], bool]]:
    """(input, target, control values, held out) of each recorded pair."""
    if cfg.pairs is not None:
        return [(Path(p["input"]).expanduser(), Path(p["target"]).expanduser(),
                 [float(v) for v in p.get("controls", [])], bool(p.get("heldout", False)))
                for p in cfg.pairs]
    src, dst = Path(cfg.input).expanduser(), Path(cfg.target).expanduser()
    if src.is_dir():
        if not dst.is_dir():
            raise ValueError(f"data.target {str(dst)!r} must be a folder when data.input is one")
        return [(f, dst / f.relative_to(src), [], False) for f in discover(src)]
    return [(src, dst, [], False)]


def _embedded_pairs(cfg: PairedDataConfig) -> list[tuple[str, np.ndarray, np.ndarray,
                                                         list[float], bool]]:
    """(name, input, target, control values, held out) of each embedded pair: the input
    through ``embedded_effect`` at each knob position (one pair at ``embedded_knob`` without
    ``embedded_knobs``)."""
    x, device = embedded_input(cfg), REFERENCES[cfg.embedded_effect]
    if cfg.embedded_knobs is None:
        return [("embedded", x, device(x, cfg.sample_rate, cfg.embedded_knob), [], False)]
    return [(f"embedded {cfg.embedded_effect} knob {k:g}", x, device(x, cfg.sample_rate, k),
             [float(k)], held) for knobs, held in ((cfg.embedded_knobs, False),
                                                   (cfg.heldout_knobs, True)) for k in knobs]


def embedded_input(cfg: PairedDataConfig) -> np.ndarray:
    """The embedded pairs' input: the corpus notes at seeded levels from -20 to 0 dB, 50 ms
    apart."""
    items = make_corpus(Path(cfg.cache_dir) / f"corpus-{cfg.sample_rate}", cfg.sample_rate,
                        takes=cfg.embedded_takes)
    rng = np.random.default_rng(cfg.seed)
    gap = np.zeros(int(0.05 * cfg.sample_rate), np.float32)
    parts = []
    for item in items:
        note, _ = sf.read(str(item.path), dtype="float32")
        peak = float(np.abs(note).max()) or 1.0
        parts += [note / peak * 10 ** (rng.uniform(-20.0, 0.0) / 20.0), gap]
    order = rng.permutation(len(parts) // 2)  # mix timbres and pitches along the signal
    return np.concatenate([np.concatenate(parts[2 * i:2 * i + 2])
                           for i in order]).astype(np.float32)


def prepare_pairs(cfg: PairedDataConfig, receptive_field: int, controls: int = 0) -> PairedData:
    """Read, check and align every pair; split each into its training head and validation
    tail (segments as long as at least one output sample with its receptive field)."""
    if receptive_field < 1:
        raise ValueError(f"prepare_pairs: receptive_field must be >= 1, got {receptive_field}")
    if cfg.embedded:
        pairs = _embedded_pairs(cfg)
    else:
        pairs = []
        for src, dst, knobs, held in _pair_list(cfg):
            x, y = _read(src, cfg.sample_rate), _read(dst, cfg.sample_rate)
            if x.size != y.size:
                raise ValueError(f"{dst}: {y.size} samples, but its input {src} has {x.size}; "
                                 "a pair must be the same length (trim or pad the recording)")
            if not np.abs(y).max() > 0:
                raise ValueError(f"{dst}: the target is silent")
            if not np.abs(x).max() > 0:
                raise ValueError(f"{src}: the input is silent")
            pairs.append((str(src), x, y, knobs, held))
    for name, _, _, knobs, _ in pairs:
        if len(knobs) != controls:
            raise ValueError(f"{name}: {len(knobs)} control values, but the model has "
                             f"model.controls = {controls}")
    inputs, targets, bounds, paths, knob_rows, train, validation = [], [], [], [], [], [], []
    latencies, offset = {}, 0
    for name, x, y, knobs, held in pairs:
        if cfg.latency is not None or cfg.embedded:
            lag = cfg.latency or 0
        else:
            found = measure_latency(x, y, 2 * cfg.max_latency)  # wider, to see a lag beyond
            if abs(found) > cfg.max_latency:
                raise ValueError(f"{name}: the target lags the input by {found} samples, beyond "
                                 f"data.max_latency ({cfg.max_latency}); raise max_latency or "
                                 "set data.latency")
            lag = int(np.sign(found)) * max(0, abs(found) - LATENCY_MARGIN)
        latencies[name] = lag
        if lag > 0:  # target late: drop its first samples and the input's last ones
            x, y = x[:-lag], y[lag:]
        elif lag < 0:
            x, y = x[-lag:], y[:lag]
        n = x.size
        n_val = n if held and not cfg.embedded else int(round(n * cfg.validation_fraction))
        for part, (a, b) in (("train", (0, n - n_val)), ("validation", (n - n_val, n))):
            if b - a < 1 or (held and part == "train"):
                continue
            (train if part == "train" else validation).append(len(bounds))
            bounds.append((offset, offset + b - a))
            inputs.append(x[a:b])
            targets.append(y[a:b])
            paths.append(name)
            knob_rows.append(knobs)
            offset += b - a
    if not train:
        raise ValueError("prepare_pairs: no training audio left after the validation split")
    return PairedData(
        cfg, receptive_field, torch.from_numpy(np.concatenate(inputs).astype(np.float32)),
        torch.from_numpy(np.concatenate(targets).astype(np.float32)),
        torch.tensor(knob_rows, dtype=torch.float32).reshape(len(bounds), controls),
        torch.tensor(bounds, dtype=torch.long), paths, train, validation, latencies)


__all__ = ["EMBEDDED", "PairedData", "PairedDataConfig", "embedded_input", "measure_latency",
           "prepare_pairs"]
