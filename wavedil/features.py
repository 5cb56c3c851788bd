"""DataConfig, the ``data:`` section of a recipe: where the audio comes from and how it is
cleaned, featurised, cropped and split.

It lives beside the models rather than in the data package because a checkpoint carries it:
loading a model rebuilds its feature extractor (:meth:`DataConfig.frame_features`) and its
level normalisation from these settings, without the data pipeline (``wavedil.data``), which
reads them to find, clean, cache and crop the training audio."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .config import Config, is_int as _is_int, is_number as _is_num
from .dsp.audio import PADDINGS, LogMel  # noqa: F401  (LogMel: log_mel's type)
from .dsp.f0 import estimate_f0, f0_features, midi_to_hz
from .dsp.mel import MelSettings, apply_preset

CORPUS_TIMBRES = 4
"""Timbres of the embedded corpus (``wavedil.data.corpus.TIMBRES``: nylon, steel, muted, harp);
a test keeps the two equal."""


@dataclass
class DataConfig(Config, MelSettings):
    """The ``data:`` section of a recipe; every setting of the data pipeline. The mel settings
    beyond the ones below (win_length, f_min, f_max, mel_scale, mel_norm, mel_log, mel_floor)
    are :class:`wavedil.dsp.mel.MelSettings`'."""

    path: str = "embedded"
    """A folder searched recursively for .wav/.flac/.ogg, a manifest (.txt: one path per line;
    .csv: a ``path`` column or the first column) with paths relative to the manifest's folder,
    a single audio file, or "embedded" for the built-in plucked-string corpus."""
    sample_rate: int = 16000
    """Rate every clip is resampled to (Hz)."""
    trim_db: float = 40.0
    """Leading and trailing audio quieter than this many dB below the clip's peak is cut
    (librosa.effects.trim top_db, framed like the mel); 0 disables trimming."""
    normalise: bool = True
    """Scale each clip so its peak is ``peak``. Without it, samples outside [-1, 1] are clipped."""
    peak: float = 0.95
    """Peak level of normalised clips, in (0, 1]."""
    n_mels: int = 80
    """Mel bands of the conditioning features (the model's local_channels, plus 2 with f0)."""
    hop_length: int = 256
    """Samples per mel frame; must equal the model's hop_length."""
    n_fft: int | None = None
    """FFT size (and window) of the mel features; None: 4 * hop_length."""
    mel_padding: str = "centre"
    """centre (frame n centred on sample n * hop) or overlap ((n_fft - hop) / 2 of padding
    each side, HiFi-GAN's framing); see wavedil.dsp.audio.PADDINGS."""
    mel_preset: str | None = None
    """A feature convention of other tools (wavedil.dsp.mel.MEL_PRESETS: hifigan, tacotron2,
    wavedil) that sets every mel key, and the rate and hop; null: the keys as given."""
    f0: bool = False
    """Append log2(f0 / 150 Hz) and voicing to each frame's mel bands (the model's f0_input),
    estimated with pYIN when the data is prepared (slow, about a quarter of the audio's
    duration; cached with the rest)."""
    f0_min: float = 50.0
    """Lowest f0 pYIN searches for (Hz)."""
    f0_max: float = 500.0
    """Highest f0 pYIN searches for (Hz), below sample_rate / 2."""
    f0_refine: bool = True
    """Sharpen pYIN's f0 per frame on a three-period window (wavedil.dsp.f0.refine_f0): pYIN's
    64 ms frames blur fast pitch movement, which puts a vocoder's harmonics off the original's."""
    crop: int = 8000
    """Samples per training crop that carry loss; each crop also holds the receptive field
    before them, rounded up to whole frames."""
    onset_share: float = 0.0
    """Share of training crops drawn at a clip's first start, its onset after silence, rather
    than uniformly over its starts: generation starts from silence, and a note's first period
    (a pluck's burst) is otherwise a sliver of the training audio. Each such crop's clip is
    drawn uniformly."""
    min_seconds: float = 0.0
    """Clips shorter than this after trimming are skipped (so are clips shorter than one frame,
    than half the FFT window, or than the model's receptive field)."""
    validation_fraction: float = 0.1
    """Fraction of the files held out for validation (split by file); 0: no validation set."""
    seed: int = 0
    """Seed of the train/validation split and of the random crops."""
    speakers_from_folders: bool = False
    """Speaker ids from the first sub-folder below the data path (sorted names -> 0, 1, ...);
    for the embedded corpus the timbre is the speaker."""
    cache_dir: str = ".cache/wavedil"
    """Folder of the prepared-data cache (one data-<hash>.pt per settings and file list; old
    ones are not deleted) and of the generated embedded corpus."""
    corpus_low: int = 48
    """Embedded corpus: lowest note (MIDI number; 48 = C3, 130.8 Hz)."""
    corpus_high: int = 71
    """Embedded corpus: highest note, inclusive (71 = B4, 493.9 Hz): two octaves by default."""
    corpus_timbres: int = 4
    """Embedded corpus: how many of the plucked-string timbres (nylon, steel, muted, harp) to use."""
    corpus_takes: int = 2
    """Embedded corpus: recordings per note and timbre, each with its own pluck noise."""

    def __post_init__(self) -> None:
        need = self.need
        if self.mel_preset is not None:
            apply_preset(self, self.mel_preset, _DEFAULTS)
        need(isinstance(self.path, str) and self.path.strip() != "", "path",
             'a folder, a .txt/.csv manifest, an audio file or "embedded"')
        need(_is_int(self.sample_rate) and 1000 <= self.sample_rate <= 384000, "sample_rate",
             "an integer in [1000, 384000]")
        need(_is_num(self.trim_db) and self.trim_db >= 0, "trim_db", "a number >= 0 (0 disables)")
        need(isinstance(self.normalise, bool), "normalise", "true or false")
        need(_is_num(self.peak) and 0 < self.peak <= 1, "peak", "a number in (0, 1]")
        need(_is_int(self.hop_length) and self.hop_length >= 1, "hop_length", "an integer >= 1")
        need(self.n_fft is None or (_is_int(self.n_fft) and self.n_fft >= max(2, self.hop_length)),
             "n_fft", f"null or an integer >= hop_length ({self.hop_length})")
        need(_is_int(self.n_mels) and 1 <= self.n_mels <= self.fft_size // 2 + 1, "n_mels",
             f"an integer in [1, n_fft // 2 + 1 = {self.fft_size // 2 + 1}]")
        self.check_mel(self.sample_rate, self.fft_size)
        need(self.mel_padding in PADDINGS, "mel_padding", f"one of {', '.join(PADDINGS)}")
        need(isinstance(self.f0, bool), "f0", "true or false")
        need(isinstance(self.f0_refine, bool), "f0_refine", "true or false")
        need(_is_num(self.f0_min) and 0 < self.f0_min < self.sample_rate / 2, "f0_min",
             f"a number in (0, sample_rate / 2 = {self.sample_rate / 2:g}) Hz")
        need(_is_num(self.f0_max) and self.f0_min < self.f0_max < self.sample_rate / 2, "f0_max",
             f"a number in (f0_min = {self.f0_min:g}, sample_rate / 2 = {self.sample_rate / 2:g}) Hz")
        need(_is_int(self.crop) and self.crop >= 1, "crop", "an integer >= 1")
        need(_is_num(self.onset_share) and 0 <= self.onset_share <= 1, "onset_share",
             "a number in [0, 1]")
        need(_is_num(self.min_seconds) and self.min_seconds >= 0, "min_seconds", "a number >= 0")
        need(_is_num(self.validation_fraction) and 0 <= self.validation_fraction < 1,
             "validation_fraction", "a number in [0, 1)")
        need(_is_int(self.seed) and self.seed >= 0, "seed", "an integer >= 0")
        need(isinstance(self.speakers_from_folders, bool), "speakers_from_folders", "true or false")
        need(isinstance(self.cache_dir, str) and self.cache_dir.strip() != "", "cache_dir",
             "a folder path")
        need(_is_int(self.corpus_low) and 0 <= self.corpus_low <= 127, "corpus_low",
             "a MIDI note number in [0, 127]")
        need(_is_int(self.corpus_high) and self.corpus_low <= self.corpus_high <= 127, "corpus_high",
             f"a MIDI note number in [corpus_low = {self.corpus_low}, 127]")
        need(midi_to_hz(self.corpus_high) < self.sample_rate / 8, "corpus_high",
             f"a note below sample_rate / 8 = {self.sample_rate / 8:g} Hz "
             f"(MIDI {self.corpus_high} is {midi_to_hz(self.corpus_high):.1f} Hz)")
        need(_is_int(self.corpus_timbres) and 1 <= self.corpus_timbres <= CORPUS_TIMBRES,
             "corpus_timbres", f"an integer in [1, {CORPUS_TIMBRES}]")
        need(_is_int(self.corpus_takes) and 1 <= self.corpus_takes <= 16, "corpus_takes",
             "an integer in [1, 16]")

    @property
    def fft_size(self) -> int:
        """The mel FFT size in use: n_fft, or 4 * hop_length when n_fft is None."""
        return self.n_fft or 4 * self.hop_length

    def log_mel(self) -> LogMel:
        """The feature extractor of this data: use it on audio to be vocoded, so the model sees
        the features it was trained on."""
        return self.mel_extractor(self.sample_rate, self.hop_length, self.fft_size, self.n_mels,
                                  self.mel_padding)

    @property
    def feature_channels(self) -> int:
        """Channels of each frame: the mel bands, plus log-f0 and voicing with ``f0``."""
        return self.n_mels + 2 * self.f0

    def frame_features(self, wave: torch.Tensor) -> torch.Tensor:
        """The conditioning frames of a normalised mono waveform, as training sees them:
        (T,) -> (feature_channels, T // hop) float32, the mel bands first, then (with ``f0``)
        log2(f0 / 150 Hz) and voicing, both 0 where pYIN finds no pitch."""
        with torch.no_grad():
            mel = self.log_mel()(wave)  # (n_mels, T // hop)
        if not self.f0:
            return mel
        f0, voiced = estimate_f0(wave, self.sample_rate, self.hop_length, self.f0_min, self.f0_max,
                                  refine=self.f0_refine)
        return torch.cat([mel, f0_features(f0, voiced)])  # (n_mels + 2, T // hop)

    @property
    def embedded(self) -> bool:
        return self.path == "embedded"


_DEFAULTS = {f.name: f.default for f in fields(DataConfig)}
