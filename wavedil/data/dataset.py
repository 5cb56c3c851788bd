"""prepare(): audio files -> clips, mel frames and mu-law classes in memory, cached on disk.

All clips are held end to end in three tensors, each clip cut to a whole number of frames:

    audio      (N,)             float32 samples in [-1, 1]
    quantised  (N,)             mu-law classes
    mel        (C, N/hop)       frame features: mel bands, then log-f0 and voicing when
                                data.f0 (C = data.feature_channels); frame f covers samples
                                [f*hop, (f+1)*hop)

so clip i is ``audio[a:b]`` with frames ``mel[:, a/hop : b/hop]``, where (a, b) = bounds[i].
The expensive part (reading, resampling, trimming, features, pYIN's f0) is cached in one file
keyed by the settings and the file list (paths, sizes, mtimes); what depends on the model (the
receptive field) or on the split seed is recomputed on every run, which is instant.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from ..dsp.audio import LogMel, mulaw_encode
from . import files
from ..features import DataConfig
from .corpus import make_corpus

log = logging.getLogger(__name__)

CACHE_VERSION = 3
"""Bump when what prepare() computes changes, so old caches are ignored."""


@dataclass
class PreparedData:
    """Every usable clip with its features and labels, the split, and what was skipped."""

    config: DataConfig
    receptive_field: int
    """The model's receptive field: clips shorter than it are skipped; crops hold it."""
    classes: int
    """Mu-law classes of ``quantised``."""
    paths: list[str]
    """(n,) the file of each clip."""
    audio: torch.Tensor
    """(N,) float32 samples of all clips end to end (may include skipped clips' samples)."""
    quantised: torch.Tensor
    """(N,) mu-law classes of ``audio`` (int16, or int32 above 32768 classes)."""
    mel: torch.Tensor
    """(feature_channels, N // hop) float32 frame features of ``audio``: mel bands, then log-f0
    and voicing when data.f0 (see DataConfig.frame_features)."""
    bounds: torch.Tensor
    """(n, 2) long: clip i is audio[bounds[i, 0]:bounds[i, 1]]; both are multiples of hop."""
    speaker: torch.Tensor
    """(n,) long speaker id of each clip (0 without speakers)."""
    speakers: list[str]
    """Speaker names by id: the sorted sub-folder names of all files found (usable or not);
    empty unless speakers_from_folders. Its length is the model's ``speakers``."""
    note: torch.Tensor
    """(n,) long MIDI note of each clip (embedded corpus); -1 where unknown."""
    f0: torch.Tensor
    """(n,) float32 fundamental frequency in Hz (embedded corpus); 0 where unknown."""
    train: list[int]
    """Clip indices of the training set."""
    validation: list[int]
    """Clip indices of the validation set (disjoint from train, split by file; see split())."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason) for every file left out."""
    resampled: list[tuple[str, int]] | None = None
    """(file, its own rate) for every clip's file read at another rate than data.sample_rate
    (and resampled); None when the cache was written before the rates were recorded."""
    silence_mel: torch.Tensor | None = None
    """(feature_channels,) the frame of silence (unvoiced, with data.f0), used under the left
    padding of crops."""
    cache_path: Path | None = None
    from_cache: bool = False
    """Whether the clips came from the cache rather than from the audio files."""

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def length(self) -> int:
        """Samples per crop: receptive field + crop, rounded up to whole frames."""
        hop = self.hop_length
        return -(-(self.receptive_field + self.config.crop) // hop) * hop

    @property
    def frames(self) -> int:
        """Mel frames per crop."""
        return self.length // self.hop_length

    @property
    def left_pad(self) -> int:
        """Most silence a crop may start with: the history before the last ``crop`` samples,
        rounded down to whole frames, so the ``crop`` samples that carry loss are always audio."""
        return (self.length - self.config.crop) // self.hop_length * self.hop_length

    @cached_property
    def silence_class(self) -> int:
        """The mu-law class of 0.0 (the middle one)."""
        return int(mulaw_encode(torch.zeros(1), self.classes))

    def clip_length(self, clip: int) -> int:
        a, b = self.bounds[clip].tolist()
        return b - a

    def start_range(self, clip: int) -> tuple[int, int]:
        """First and last crop start of a clip (multiples of hop; negative: silence before it).

        A clip of T samples gives starts from -left_pad up to T - length. A clip shorter than
        length - left_pad (but at least the receptive field) has the one start T - length: it
        ends the crop, with silence before it.
        """
        hi = self.clip_length(clip) - self.length
        return min(-self.left_pad, hi), hi

    def crop(self, clip: int, start: int) -> dict[str, torch.Tensor]:
        """The crop of ``clip`` beginning at sample ``start`` (a multiple of hop in start_range):

        audio (length,) float32, classes (length,) long, mel (feature_channels, frames) float32
        where frame j covers samples [j*hop, (j+1)*hop) of the crop, speaker, note, clip, start, pad
        (long scalars) and f0 (float32 scalar). The first ``pad`` samples come before the clip
        and are silence: 0.0, the mu-law class of 0, and the (unvoiced) frame of silence; a training
        loop may leave targets there out of the loss.
        """
        hop, L = self.hop_length, self.length
        lo, hi = self.start_range(clip)
        if start % hop or not lo <= start <= hi:
            raise ValueError(f"crop: start {start} of clip {clip} must be a multiple of {hop} "
                             f"in [{lo}, {hi}]")
        a = int(self.bounds[clip, 0])
        pad = max(0, -start)
        s0, s1 = a + max(0, start), a + start + L
        audio = torch.cat([self.audio.new_zeros(pad), self.audio[s0:s1]])  # (L,)
        classes = torch.cat([torch.full((pad,), self.silence_class, dtype=torch.long),
                             self.quantised[s0:s1].long()])  # (L,)
        silence = self.silence_mel[:, None].expand(-1, pad // hop)  # (C, pad / hop)
        mel = torch.cat([silence, self.mel[:, s0 // hop:s1 // hop]], dim=1)  # (C, L / hop)
        return {"audio": audio, "classes": classes, "mel": mel,
                "speaker": self.speaker[clip].clone(), "note": self.note[clip].clone(),
                "f0": self.f0[clip].clone(), "clip": torch.tensor(clip), "start": torch.tensor(start),
                "pad": torch.tensor(pad)}


def prepare(cfg: DataConfig, hop_length: int | None = None, classes: int = 256,
            receptive_field: int = 1, quiet: bool = False) -> PreparedData:
    """Load, clean and featurise every file of ``cfg.path`` (or the embedded corpus), using
    the cache when it matches; assign speakers, notes and the train/validation split.

    Files that cannot be used are skipped with a reason (in ``skipped``, logged, and summed up
    in one warning; ``quiet``: neither, for a caller that reports ``skipped`` itself). Raises
    ValueError when no file is usable, or no clip is as long as the receptive field.
    """
    if hop_length is not None and hop_length != cfg.hop_length:
        raise ValueError(f"prepare: the model's hop_length {hop_length} differs from the data's "
                         f"hop_length {cfg.hop_length}; set data.hop_length to {hop_length}")
    if classes < 2:
        raise ValueError(f"prepare: classes must be >= 2, got {classes}")
    if receptive_field < 1:
        raise ValueError(f"prepare: receptive_field must be >= 1, got {receptive_field}")

    labels: dict[str, tuple[int, float]] = {}
    if cfg.embedded:
        root = Path(cfg.cache_dir) / "corpus"
        items = make_corpus(root, cfg.sample_rate, cfg.corpus_low, cfg.corpus_high,
                            cfg.corpus_timbres, cfg.corpus_takes)
        paths = [item.path for item in items]
        labels = {str(item.path): (item.midi, item.f0) for item in items}
    else:
        paths = files.discover(cfg.path)
        given = Path(cfg.path).expanduser()
        root = given if given.is_dir() else given.parent

    key = cache_key(cfg, classes, paths)
    cache_path = Path(cfg.cache_dir) / f"data-{key[:20]}.pt"
    stored = _read_cache(cache_path, key)
    from_cache = stored is not None
    if stored is None:
        stored = _build(cfg, classes, paths)
        _write_cache(cache_path, {"key": key, **stored})
    skipped = [(str(p), str(r)) for p, r in stored["skipped"]]

    offsets = stored["offsets"].tolist()
    rates = stored.get("rates")  # absent from caches written before the rates were kept
    clip_paths: list[str] = []
    bounds = []
    resampled: list[tuple[str, int]] | None = [] if rates is not None else None
    for i, (path, a, b) in enumerate(zip(stored["paths"], offsets[:-1], offsets[1:])):
        if b - a < receptive_field:
            skipped.append((path, f"shorter than the receptive field: {b - a} samples "
                                  f"< {receptive_field}"))
        else:
            clip_paths.append(path)
            bounds.append((a, b))
            if resampled is not None and rates[i] != cfg.sample_rate:
                resampled.append((path, int(rates[i])))
    if not stored["paths"]:
        raise ValueError(f"prepare: no usable audio in {cfg.path!r}: all {len(skipped)} files "
                         f"were skipped ({_summary(skipped)})")
    if not clip_paths:
        longest = max(b - a for a, b in zip(offsets[:-1], offsets[1:]))
        raise ValueError(f"prepare: every clip in {cfg.path!r} is shorter than the receptive field "
                         f"({receptive_field} samples); the longest has {longest} samples")
    if skipped and not quiet:
        for path, reason in skipped:
            log.warning("skipped %s: %s", path, reason)
        warnings.warn(f"wavedil.data: skipped {len(skipped)} of {len(skipped) + len(clip_paths)} "
                      f"files: {_summary(skipped)}", stacklevel=2)

    # speaker ids come from every file found, usable or not, so that a skipped file or a new
    # receptive field never renumbers the speakers a checkpoint was trained with
    speakers = sorted({speaker_name(Path(p), root) for p in paths}) if cfg.speakers_from_folders else []
    ids = {name: i for i, name in enumerate(speakers)}
    speaker = torch.tensor([ids[speaker_name(Path(p), root)] if speakers else 0 for p in clip_paths],
                           dtype=torch.long)
    note = torch.tensor([labels.get(p, (-1, 0.0))[0] for p in clip_paths], dtype=torch.long)
    f0 = torch.tensor([labels.get(p, (-1, 0.0))[1] for p in clip_paths], dtype=torch.float32)
    names_for_split = [_relative(Path(p), root) for p in clip_paths]
    train, validation = split(names_for_split, cfg.validation_fraction, cfg.seed)
    silence = cfg.frame_features(torch.zeros(cfg.fft_size))[:, 0]  # (feature_channels,)
    return PreparedData(cfg, receptive_field, classes, clip_paths, stored["audio"],
                        stored["quantised"], stored["mel"], torch.tensor(bounds, dtype=torch.long),
                        speaker, speakers, note, f0, train, validation, skipped, resampled,
                        silence, cache_path, from_cache)


def split(names: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Train and validation indices of ``names``: the names with the smallest seeded hashes
    are held out.

    The split depends on the set of names and the seed, not on their order, so it is the
    same on every machine; round(fraction * n) files (at least one, at most n - 1) are held
    out when fraction > 0 and n >= 2.
    """
    n = len(names)
    n_val = min(max(1, round(fraction * n)), n - 1) if fraction > 0 and n >= 2 else 0
    order = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{names[i]}".encode()).hexdigest())
    validation = sorted(order[:n_val])
    held = set(validation)
    return [i for i in range(n) if i not in held], validation


def speaker_name(path: Path, root: Path) -> str:
    """The first sub-folder of ``path`` below ``root`` ("" for files directly in root); the
    parent folder's name for files outside root."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return path.parent.name
    return parts[0] if len(parts) > 1 else ""


def cache_key(cfg: DataConfig, classes: int, paths: list[Path]) -> str:
    """Hash of everything the cached clips depend on: settings, and each file's path, size
    and modification time (so an edited or replaced file invalidates the cache)."""
    listing = []
    for p in paths:
        try:
            st = os.stat(p)
            listing.append([os.path.abspath(p), st.st_size, st.st_mtime_ns])
        except OSError:
            listing.append([os.path.abspath(p), -1, -1])
    settings = {"version": CACHE_VERSION, "classes": classes, "sample_rate": cfg.sample_rate,
                "trim_db": cfg.trim_db, "normalise": cfg.normalise, "peak": cfg.peak,
                "n_mels": cfg.n_mels, "hop_length": cfg.hop_length, "n_fft": cfg.fft_size,
                "f0": cfg.f0, "f0_min": cfg.f0_min, "f0_max": cfg.f0_max,
                "f0_refine": cfg.f0_refine,
                "min_seconds": cfg.min_seconds, "files": listing}
    # the mel settings beyond wavedil's defaults (so caches made before they existed stay valid)
    mel = cfg.log_mel().settings()
    default = LogMel(cfg.sample_rate, cfg.hop_length, cfg.n_mels, cfg.fft_size).settings()
    settings.update({f"mel.{k}": v for k, v in mel.items() if v != default[k]})
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _build(cfg: DataConfig, classes: int, paths: list[Path]) -> dict:
    """Read every file: the cache's contents (plain tensors, lists and strings only)."""
    hop = cfg.hop_length
    kept, rates, waves, mels, skipped = [], [], [], [], []
    for path in paths:
        read = files.read_clip(path, cfg)
        if read.clip is None:
            skipped.append([str(path), read.reason])
            continue
        wave = torch.from_numpy(read.clip[: len(read.clip) // hop * hop])  # (T,), whole frames
        mels.append(cfg.frame_features(wave))  # (feature_channels, T / hop)
        waves.append(wave)
        kept.append(str(path))
        rates.append(read.rate)
    audio = torch.cat(waves) if waves else torch.zeros(0)
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    dtype = torch.int16 if classes <= 2 ** 15 else torch.int32
    return {"paths": kept, "rates": rates, "skipped": skipped, "audio": audio,
            "quantised": mulaw_encode(audio, classes).to(dtype),
            "mel": torch.cat(mels, dim=1) if mels else torch.zeros(cfg.feature_channels, 0),
            "offsets": torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)])}


def _read_cache(path: Path, key: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("key") == key:
            return stored
        log.info("cache %s is for other settings; rebuilding", path)
    except Exception as e:  # truncated or foreign file: rebuild rather than fail
        warnings.warn(f"wavedil.data: ignoring unreadable cache {path}: {e}", stacklevel=3)
    return None


def _write_cache(path: Path, contents: dict) -> None:
    """torch.save to a temporary file beside the cache, then rename: readers see all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(contents, f)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is as shareable as the data
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _summary(skipped: list[tuple[str, str]], shown: int = 3) -> str:
    text = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:shown])
    return text + (f"; and {len(skipped) - shown} more" if len(skipped) > shown else "")
