"""The mel-feature settings that a data section and the models reading mel bands share, and the
feature conventions of other tools as presets.

:class:`MelSettings` declares the settings once; :class:`wavedil.data.DataConfig` (which makes
the features), :class:`wavedil.wavenet.model.WaveNetConfig` (whose LP analysis reads them) and
:class:`wavedil.harmonic_noise.model.HarmonicNoiseConfig` (whose envelope inverts them) inherit it, and recipes
copy the data's values into the model so the two cannot disagree. The computation is
:class:`wavedil.dsp.audio.LogMel`.

``data.mel_preset`` names a convention (:data:`MEL_PRESETS`) and sets every feature key to it:

    hifigan     HiFi-GAN (Kong et al. 2020) and the text-to-speech front ends trained for it:
                22,050 Hz, 80 bands, 1024-point FFT and window, hop 256, 0 to 8 kHz, Slaney mel
                scale and norm, ln of magnitudes floored at 1e-5, frames padded by
                (n_fft - hop) / 2 on each side
    tacotron2   NVIDIA's Tacotron 2 (and WaveGlow): the same, but frames centred by n_fft / 2
                of reflected padding on each side
    wavedil     wavedil's own defaults (HTK mel, dB scaled to [0, 1], centred frames)
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .audio import MEL_LOGS, MEL_NORMS, MEL_SCALES, LogMel
from ..config import ConfigError, is_int as _is_int, is_number as _is_num, need as config_need

MEL_PRESETS: dict[str, dict[str, Any]] = {
    "hifigan": {"sample_rate": 22050, "n_mels": 80, "n_fft": 1024, "win_length": 1024,
                "hop_length": 256, "f_min": 0.0, "f_max": 8000.0, "mel_scale": "slaney",
                "mel_norm": "slaney", "mel_log": "ln", "mel_floor": 1e-5,
                "mel_padding": "overlap"},
    "tacotron2": {"sample_rate": 22050, "n_mels": 80, "n_fft": 1024, "win_length": 1024,
                  "hop_length": 256, "f_min": 0.0, "f_max": 8000.0, "mel_scale": "slaney",
                  "mel_norm": "slaney", "mel_log": "ln", "mel_floor": 1e-5,
                  "mel_padding": "centre"},
    "wavedil": {"n_mels": 80, "n_fft": None, "win_length": None, "f_min": 0.0, "f_max": None,
                "mel_scale": "htk", "mel_norm": None, "mel_log": "db01", "mel_floor": 1e-5,
                "mel_padding": "centre"},
}
"""Feature conventions by name: the data keys each sets (see the module docstring)."""


@dataclass
class MelSettings:
    """How mel magnitudes are computed and scaled, beyond rate, hop, FFT size and bands."""

    win_length: int | None = None
    """Hann window length of the STFT (centred in n_fft); None: n_fft."""
    f_min: float = 0.0
    """Lowest frequency of the mel filterbank (Hz)."""
    f_max: float | None = None
    """Highest frequency of the mel filterbank (Hz); None: sample_rate / 2."""
    mel_scale: str = "htk"
    """htk or slaney (librosa's default, HiFi-GAN's)."""
    mel_norm: str | None = None
    """null (filters of peak 1) or slaney (each filter divided by its width)."""
    mel_log: str = "db01"
    """db01 (decibels scaled so mel_floor -> 0 and 0 dB -> 1), ln or log10."""
    mel_floor: float = 1e-5
    """Magnitudes are floored here before the log (1e-5: -100 dB)."""

    def check_mel(self, sample_rate: int, fft_size: int) -> None:
        """Raise a :class:`ConfigError` naming the first bad setting."""
        def need(ok: bool, key: str, allowed: str) -> None:  # Config.need, for a mixin
            config_need(type(self).__name__, ok, key, allowed, getattr(self, key))

        need(self.win_length is None or (_is_int(self.win_length)
                                         and 1 <= self.win_length <= fft_size),
             "win_length", f"null or an integer in [1, n_fft = {fft_size}]")
        need(_is_num(self.f_min) and 0 <= self.f_min < sample_rate / 2, "f_min",
             f"a number in [0, sample_rate / 2 = {sample_rate / 2:g}) Hz")
        need(self.f_max is None or (_is_num(self.f_max)
                                    and self.f_min < self.f_max <= sample_rate / 2),
             "f_max", f"null or a number in (f_min = {self.f_min:g}, sample_rate / 2 = "
             f"{sample_rate / 2:g}] Hz")
        need(self.mel_scale in MEL_SCALES, "mel_scale", f"one of {', '.join(MEL_SCALES)}")
        need(self.mel_norm is None or self.mel_norm in MEL_NORMS, "mel_norm",
             f"null or {', '.join(MEL_NORMS)}")
        need(self.mel_log in MEL_LOGS, "mel_log", f"one of {', '.join(MEL_LOGS)}")
        need(_is_num(self.mel_floor) and 0 < self.mel_floor < 1, "mel_floor",
             "a number in (0, 1)")

    def mel_extractor(self, sample_rate: int, hop: int, n_fft: int, n_mels: int,
                      padding: str = "centre") -> LogMel:
        """The :class:`LogMel` of these settings."""
        return LogMel(sample_rate, hop, n_mels, n_fft, self.f_min, self.f_max,
                      win_length=self.win_length, mel_scale=self.mel_scale,
                      mel_norm=self.mel_norm, log=self.mel_log, floor=self.mel_floor,
                      padding=padding)

    def mel_settings(self) -> dict[str, Any]:
        """These settings by key (what a recipe copies from the data into the model)."""
        return {f.name: getattr(self, f.name) for f in fields(MelSettings)}


class MelF0Frames(MelSettings):
    """What the configs of the frames-to-waveform vocoders share (harmonic_noise, istft):
    they read the mel bands, then the f0 pair, through a stack over frames. Needs the fields
    local_channels, hop_length, sample_rate, n_fft, kernel_size and dilations."""

    @property
    def fft_size(self) -> int:
        """The mel analysis' FFT size: n_fft, or 4 * hop_length."""
        return self.n_fft or 4 * self.hop_length

    @property
    def mel_channels(self) -> int:
        """Local channels that hold mel bands (the f0 pair excluded)."""
        return self.local_channels - 2

    def log_mel(self) -> LogMel:
        """The feature extractor of the mel bands this model reads."""
        return self.mel_extractor(self.sample_rate, self.hop_length, self.fft_size,
                                  self.mel_channels)

    @property
    def f0_input(self) -> bool:
        """The last two local channels are always the f0 pair."""
        return True

    @property
    def speakers(self) -> int:
        """No global conditioning."""
        return 0

    def dilation_stack(self, sample_rate: int) -> tuple[int, list[int], float, str]:
        """(kernel size, the blocks' dilations in order, steps per second, what a step is) of
        the stack, as ``wavedil rf`` analyses it: the blocks over frames."""
        return self.kernel_size, list(self.dilations), sample_rate / self.hop_length, "frames"


MEL_KEYS = tuple(f.name for f in fields(MelSettings))
"""The keys :class:`MelSettings` declares."""


def apply_preset(config: Any, preset: str, defaults: dict[str, Any]) -> None:
    """Set ``config``'s keys to ``preset``'s; a key given with another value than its default
    and the preset's is an error that names both (a recipe cannot half-follow a preset)."""
    if preset not in MEL_PRESETS:
        raise ConfigError(type(config).__name__, "mel_preset",
                          f"must be null or one of {', '.join(MEL_PRESETS)}, got {preset!r}")
    for key, value in MEL_PRESETS[preset].items():
        got = getattr(config, key)
        if got != value and got != defaults[key]:
            raise ConfigError(type(config).__name__, key,
                              f"is {got!r}, but mel_preset {preset} sets it to {value!r}; "
                              "give one or the other")
        setattr(config, key, value)


def feature_settings(data: Any) -> dict | None:
    """What a front end must compute to feed a model trained on ``data``: every mel setting,
    the peak normalisation, and the f0 pair when the frames carry one (None for data without
    mel frames, such as an effect's)."""
    if not hasattr(data, "log_mel"):
        return None
    return {**data.log_mel().settings(), "mel_preset": data.mel_preset,
            "normalise_peak": data.peak if data.normalise else None,
            "f0": ({"rows": "after the mel bands: log2(f0 / 150 Hz) (0 where unvoiced), voicing (1 or 0)",
                    "f0_min": data.f0_min, "f0_max": data.f0_max} if data.f0 else None),
            "layout": "(n_mels + 2 with f0, frames) float32, frame n conditions samples "
                      "[n * hop, (n + 1) * hop)"}



__all__ = ["MEL_KEYS", "MEL_PRESETS", "MelSettings", "apply_preset", "feature_settings"]
