"""Objective quality metrics of a vocoded waveform against its reference, and the Griffin-Lim
baseline: pure functions on mono numpy waveforms at a given sample rate.

Every analysis setting is fixed and scales with the rate, so figures from different runs,
checkpoints and recipes compare (the model's own mel settings do not enter the metrics):

    mel analysis   80 bands, htk mel scale from 0 Hz to rate / 2, no filter normalisation,
                   Hann window of round(1024 * rate / 16000) samples (the FFT size),
                   hop round(256 * rate / 16000), frames centred (zero padding);
                   magnitude floor 1e-5 (-100 dB), power floor 1e-10
    f0             librosa.pyin through wavedil.dsp.f0.estimate_f0: fmin 50 Hz, fmax 500 Hz, the
                   hop of the mel analysis, frames of 2.5 periods of 50 Hz rounded up to a
                   power of two (1024 at 16 kHz)
    PESQ           ITU-T P.862.2 wideband, on both signals resampled to 16 kHz (``pesq`` package)
    STOI           Taal et al. 2011, at the signal's rate (``pystoi`` resamples to 10 kHz)
    HNR            autocorrelation at a known f0, frames of the mel analysis' window and hop,
                   fractional lags on a 16x interpolated copy (:func:`harmonic_to_noise_ratio`)

PESQ and STOI need the optional ``eval`` extra (``pip install 'wavedil[eval]'``); without it
:func:`pesq_wb` and :func:`stoi` return None and :func:`unavailable_metrics` says why.
Two signals of different lengths are compared on their common length (the shorter one).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .audio import LogMel

N_MELS = 80
"""Mel bands of the metric analysis."""
MCD_ORDER = 24
"""Mel-cepstral coefficients c_1 .. c_24 enter the mel-cepstral distortion (c_0 does not)."""
MAG_FLOOR = 1e-5
"""Mel magnitudes are floored here (-100 dB) before the logarithm, as in wavedil's LogMel."""
SILENCE_DB = 40.0
"""MCD skips reference frames more than this many dB below the loudest reference frame."""
F0_MIN, F0_MAX = 50.0, 500.0
"""The pitch search range of librosa.pyin (Hz): speech from low male to high child voices."""
GRIFFIN_LIM_ITERATIONS = 32
"""Iterations of the Griffin-Lim baseline."""


def analysis_settings(rate: int) -> tuple[int, int]:
    """(n_fft, hop) of the metric analysis at ``rate``: 1024 and 256 samples at 16 kHz, scaled
    with the rate (64 ms windows every 16 ms)."""
    if rate < 1000:
        raise ValueError(f"sample rate must be >= 1000 Hz, got {rate}")
    return int(round(1024 * rate / 16000)), int(round(256 * rate / 16000))


def _common(ref: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    est = np.asarray(est, dtype=np.float64).reshape(-1)
    n = min(ref.size, est.size)
    if n == 0:
        raise ValueError(f"cannot compare empty signals (lengths {ref.size} and {est.size})")
    if not (np.isfinite(ref[:n]).all() and np.isfinite(est[:n]).all()):
        raise ValueError("signals hold NaN or infinite samples")
    return ref[:n], est[:n]


def _mel(wave: np.ndarray, rate: int, power: float) -> np.ndarray:
    """The filterbank applied to |STFT| ** power with the fixed settings: (N_MELS, frames).
    power=1 is the mel magnitude of torchaudio's MelSpectrogram(power=1) and wavedil's LogMel."""
    import librosa

    n_fft, hop = analysis_settings(rate)
    spec = np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=hop, window="hann", center=True,
                               pad_mode="constant")) ** power  # (n_fft // 2 + 1, frames)
    fb = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=N_MELS, fmin=0.0, fmax=rate / 2,
                             htk=True, norm=None)  # (N_MELS, n_fft // 2 + 1)
    return fb @ spec


def log_mel_distance(ref: np.ndarray, est: np.ndarray, rate: int) -> float:
    """Log-mel spectral distance in dB: the RMS over frames and bands of
    20 log10 max(M_ref, 1e-5) - 20 log10 max(M_est, 1e-5), where M is the mel magnitude
    spectrogram (the filterbank applied to |STFT|) with the module's fixed settings.

    0 for identical signals. Magnitude only, so it cannot see phase errors; the "mel-spectral
    distance" of vocoder papers, e.g. Kong et al. 2020 (HiFi-GAN) report its L1 variant.
    """
    ref, est = _common(ref, est)
    a = 20.0 * np.log10(np.maximum(_mel(ref, rate, 1.0), MAG_FLOOR))  # (N_MELS, frames)
    b = 20.0 * np.log10(np.maximum(_mel(est, rate, 1.0), MAG_FLOOR))
    return float(np.sqrt(np.mean((a - b) ** 2)))


def _dct_ii_ortho(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix (n, n): row k is sqrt(2/n) cos(pi k (m + 1/2) / n), row 0
    scaled by 1/sqrt(2) (scipy.fft.dct(type=2, norm="ortho"))."""
    k = np.arange(n)[:, None]
    m = np.arange(n)[None, :]
    basis = np.sqrt(2.0 / n) * np.cos(np.pi * k * (m + 0.5) / n)
    basis[0] /= math.sqrt(2.0)
    return basis


def mel_cepstrum(wave: np.ndarray, rate: int, order: int = MCD_ORDER) -> np.ndarray:
    """Mel-cepstra c_0 .. c_order per frame, (order + 1, frames), in the units of the cepstrum
    of the natural-log amplitude spectrum (the units the MCD constant assumes).

    c = DCT-II(ln P) / (2 sqrt(2 N)), where P is the mel power spectrogram (floor 1e-10) and the
    DCT is orthonormal over its N = 80 bands: ln P = 2 ln |X|, and an orthonormal DCT of N
    samples of a log spectrum over [0, pi] is sqrt(2 N) times its cepstral coefficients. This is
    the usual filterbank approximation of SPTK's ``mcep`` (all-pass warped cepstrum, alpha 0.42
    at 16 kHz): close in scale, not equal; compare MCD figures only between runs of this code.
    """
    if not 1 <= order < N_MELS:
        raise ValueError(f"order must be in [1, {N_MELS - 1}], got {order}")
    logp = np.log(np.maximum(_mel(np.asarray(wave, dtype=np.float64), rate, 2.0),
                             MAG_FLOOR ** 2))  # (N_MELS, frames)
    c = _dct_ii_ortho(N_MELS)[: order + 1] @ logp  # (order + 1, frames)
    return c / (2.0 * math.sqrt(2.0 * N_MELS))


def mel_cepstral_distortion(ref: np.ndarray, est: np.ndarray, rate: int) -> float | None:
    """Mel-cepstral distortion in dB (Kubichek 1993; the form of Toda et al. 2007):
    MCD = 10 / ln 10 * sqrt(2 * sum_{d=1..24} (c_d - c'_d)^2), averaged over the frames whose
    reference energy (sum of mel power) is within 40 dB of the loudest reference frame.

    c_0 (the frame energy) is left out, so a gain difference alone costs nothing. Cepstra come
    from :func:`mel_cepstrum` (an approximation of SPTK mcep; see there), frames are aligned by
    time, not by DTW. 0 for identical signals; None when the reference is all silence.
    """
    ref, est = _common(ref, est)
    energy = _mel(ref, rate, 2.0).sum(axis=0)  # (frames,)
    if not energy.max() > MAG_FLOOR ** 2:
        return None
    keep = 10.0 * np.log10(np.maximum(energy, 1e-30)) >= 10.0 * np.log10(energy.max()) - SILENCE_DB
    diff = mel_cepstrum(ref, rate)[1:, keep] - mel_cepstrum(est, rate)[1:, keep]  # (24, kept)
    per_frame = 10.0 / math.log(10.0) * np.sqrt(2.0 * np.sum(diff ** 2, axis=0))
    return float(per_frame.mean())


F0Track = tuple[np.ndarray, np.ndarray]
"""A pitch track: f0 in Hz per frame, 0 where unvoiced (never NaN), and the voiced flags."""


def estimate_f0(wave: np.ndarray, rate: int) -> F0Track:
    """The pitch track of a waveform with the metric settings: :func:`wavedil.dsp.f0.estimate_f0`
    (librosa.pyin, Mauch and Dixon 2014) with fmin 50 Hz, fmax 500 Hz, the metric hop and that
    function's frame (the power of two holding 2.5 periods of 50 Hz: 1024 samples at 16 kHz).

    A signal where pyin finds no pitch (silence, noise) is all unvoiced, f0 0, never NaN.
    """
    from .f0 import estimate_f0 as pyin_track

    _, hop = analysis_settings(rate)
    f0, voiced = pyin_track(np.asarray(wave, dtype=np.float64).reshape(-1), rate, hop,
                            fmin=F0_MIN, fmax=F0_MAX)
    return f0.astype(np.float64), voiced


@dataclass
class F0Scores:
    """Pitch agreement of an estimate with its reference."""

    rmse_cents: float | None
    """RMS of 1200 log2(f0_est / f0_ref) over frames voiced in both; None when there is none."""
    vde: float
    """Voicing decision error: the fraction of frames whose voiced flags differ."""
    voiced_both: int
    """Frames voiced in both tracks (the frames the RMSE is taken over)."""
    frames: int
    """Frames compared."""


def f0_scores(ref: F0Track, est: F0Track) -> F0Scores:
    """:class:`F0Scores` of two pitch tracks (see :func:`estimate_f0`), on their common frames."""
    n = min(ref[1].size, est[1].size)
    rv, ev = ref[1][:n], est[1][:n]
    vde = float(np.mean(rv != ev)) if n else 0.0
    both = rv & ev
    if not both.any():
        return F0Scores(None, vde, 0, n)
    cents = 1200.0 * np.log2(est[0][:n][both] / ref[0][:n][both])
    return F0Scores(float(np.sqrt(np.mean(cents ** 2))), vde, int(both.sum()), n)


def f0_metrics(ref: np.ndarray, est: np.ndarray, rate: int) -> F0Scores:
    """f0 RMSE in cents over frames voiced in both signals and the voicing decision error
    (Nakatani et al. 2008), both from :func:`estimate_f0` (librosa.pyin, 50-500 Hz).

    Identical signals give 0 and 0; where no frame is voiced in both, the RMSE is None.
    """
    ref, est = _common(ref, est)
    return f0_scores(estimate_f0(ref, rate), estimate_f0(est, rate))


HNR_UPSAMPLE = 16
"""The harmonic-to-noise ratio correlates the signal with itself one period later on a copy
interpolated this many times (band-limited, by a zero-padded FFT), so the lag can hold the
period's fraction too."""


def harmonic_to_noise_ratio(wave: np.ndarray, rate: int, f0: float,
                            floor_db: float = 30.0) -> float:
    """Median harmonic-to-noise ratio (dB) of ``wave`` at the known fundamental ``f0`` (Hz),
    by autocorrelation (Boersma 1993): per frame r, the normalised correlation of the frame
    with the same stretch one period later, HNR = 10 log10(r / (1 - r)).

    Frames are 64 ms every 16 ms (1024 and 256 samples at 16 kHz), those within ``floor_db``
    of the loudest frame's energy count. The lag is searched within one sample either side of
    rate / f0 on a band-limited copy interpolated :data:`HNR_UPSAMPLE` times, with a parabola
    through the best three lags: a sum of exact harmonics reads above 40 dB whatever the
    period's fraction (an integer lag would read a 440 Hz tone's harmonics at 16 kHz as
    16 dB), and white noise at a given power ratio to a periodic signal reads that ratio.
    r is clipped to [1e-6, 1 - 1e-6], so HNR lies within +-60 dB. NaN when no frame fits (a
    signal shorter than a frame and a period) or the signal is silent.
    """
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    if not np.isfinite(wave).all():
        raise ValueError("signal holds NaN or infinite samples")
    if not (f0 > 0 and math.isfinite(f0)):
        raise ValueError(f"f0 must be a positive number of Hz, got {f0}")
    frame, hop = analysis_settings(rate)
    period = rate / f0
    if wave.size < frame + period + 2:
        return float("nan")
    U = HNR_UPSAMPLE
    n = wave.size + frame  # zeros after the end, so the circular interpolation does not wrap
    spectrum = np.fft.rfft(wave, n)
    x = np.fft.irfft(spectrum, n * U) * U  # (n * U,) the band-limited interpolation
    L, lo, hi = frame * U, int(math.floor((period - 1) * U)), int(math.ceil((period + 1) * U))
    starts = range(0, wave.size * U - L - hi, hop * U)
    energy = np.array([np.dot(x[s:s + L], x[s:s + L]) for s in starts])
    if not energy.size or energy.max() <= 0:
        return float("nan")
    values = []
    for s, e in zip(starts, energy):
        if e < energy.max() * 10 ** (-floor_db / 10):
            continue
        a = x[s:s + L]
        r = np.array([np.dot(a, x[s + lag:s + lag + L])
                      / (math.sqrt(e * np.dot(x[s + lag:s + lag + L], x[s + lag:s + lag + L]))
                         or 1.0) for lag in range(lo, hi + 1)])
        i = int(np.argmax(r))
        best = r[i]
        if 0 < i < r.size - 1:  # the parabola's vertex through the best lag and its neighbours
            curve = r[i - 1] - 2 * r[i] + r[i + 1]
            if curve < 0:
                best = r[i] - (r[i + 1] - r[i - 1]) ** 2 / (8 * curve)
        best = min(max(float(best), 1e-6), 1 - 1e-6)
        values.append(10 * math.log10(best / (1 - best)))
    return float(np.median(values)) if values else float("nan")


def unavailable_metrics() -> dict[str, str]:
    """The optional metrics that cannot run here, each with the reason (empty: all can)."""
    missing = {}
    for metric, package in (("pesq_wb", "pesq"), ("stoi", "pystoi")):
        try:
            found = importlib.util.find_spec(package) is not None
        except (ImportError, ValueError):  # a package set to None in sys.modules
            found = False
        if not found:
            missing[metric] = f"the {package} package is not installed (pip install 'wavedil[eval]')"
    return missing


def _resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return wave
    from scipy.signal import resample_poly

    g = math.gcd(rate, target)
    return resample_poly(wave, target // g, rate // g)


def pesq_wb(ref: np.ndarray, est: np.ndarray, rate: int) -> float | None:
    """Wideband PESQ (ITU-T P.862.2, MOS-LQO from 1.04 to 4.64) of ``est`` against ``ref``,
    both resampled to 16 kHz. None when the ``pesq`` package is missing or PESQ cannot score
    the pair (it finds no utterance in the reference, or the signal is too short)."""
    if "pesq_wb" in unavailable_metrics():
        return None
    from pesq import pesq

    ref, est = _common(ref, est)
    ref16, est16 = _resample(ref, rate, 16000), _resample(est, rate, 16000)
    try:
        return float(pesq(16000, ref16.astype(np.float32), est16.astype(np.float32), "wb"))
    except Exception:  # pesq raises its own error types for no utterance, too short, ...
        return None


def stoi(ref: np.ndarray, est: np.ndarray, rate: int) -> float | None:
    """Short-time objective intelligibility (Taal et al. 2011), 0 to 1, of ``est`` against
    ``ref``. None when the ``pystoi`` package is missing or the signals are too short for its
    30 frames of 384 ms context (pystoi then returns 1e-5 with a warning)."""
    if "stoi" in unavailable_metrics():
        return None
    import warnings

    from pystoi import stoi as _stoi

    ref, est = _common(ref, est)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(ref, est, rate, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return None
    return value


def griffin_lim(features: np.ndarray, sample_rate: int, hop_length: int, n_fft: int,
                f_min: float = 0.0, f_max: float | None = None,
                n_iter: int = GRIFFIN_LIM_ITERATIONS, seed: int = 0,
                mel: LogMel | None = None) -> np.ndarray:
    """The Griffin-Lim baseline (Griffin and Lim 1984; librosa's fast variant, Perraudin et al.
    2013, momentum 0.99) from the features a wavedil model is conditioned on: -> (frames * hop,).

    ``features`` (n_mels, frames) are wavedil LogMel outputs: 20 log10 |mel| scaled so -100 dB
    -> 0 and 0 dB -> 1. They are mapped back to mel magnitudes, then to linear STFT magnitudes
    by non-negative least squares against the same filterbank (:func:`wavedil.dsp.audio.mel_filterbank`, as
    librosa.feature.inverse.mel_to_stft does), and a phase is found by ``n_iter`` iterations
    from a random start drawn from ``seed`` (Hann window of n_fft, centred frames, so frame n
    sits on sample n * hop as in LogMel). ``mel``: the extractor that made the features, for
    other settings than wavedil's defaults (its filterbank, scaling, window and framing are
    used; the arguments above must agree with it, f_min and f_max may be left out).
    """
    import librosa

    from .audio import LogMel

    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[1] == 0:
        raise ValueError(f"features must be (n_mels, frames) with frames > 0, got {feats.shape}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    if mel is None:
        mel = LogMel(sample_rate, hop_length, feats.shape[0], n_fft, f_min, f_max)
    elif (f_min, f_max) not in ((0.0, None), (mel.f_min, mel.f_max)):
        raise ValueError(f"griffin_lim: f_min {f_min}, f_max {f_max} disagree with mel's "
                         f"{mel.f_min}, {mel.f_max} (give one or the other)")
    if (mel.sample_rate, mel.hop, mel.n_fft, mel.n_mels) != (sample_rate, hop_length, n_fft,
                                                              feats.shape[0]):
        raise ValueError(f"griffin_lim: mel is {mel.n_mels} bands, n_fft {mel.n_fft}, hop "
                         f"{mel.hop} at {mel.sample_rate} Hz; the arguments say "
                         f"{feats.shape[0]}, {n_fft}, {hop_length} at {sample_rate}")
    mag = librosa.util.nnls(mel.filterbank(), mel.magnitudes(feats))  # (bins, frames) linear
    # LogMel drops the frame centred on sample frames * hop; repeating the last one gives
    # frames + 1 centred frames, which span exactly frames * hop samples, so every
    # iteration's STFT of the estimate has as many frames as the target
    mag = np.concatenate([mag, mag[:, -1:]], axis=1)  # (n_fft // 2 + 1, frames + 1)
    wave = librosa.griffinlim(mag, n_iter=n_iter, hop_length=hop_length,
                              win_length=mel.win_length, n_fft=n_fft, window="hann", center=True,
                              random_state=np.random.RandomState(seed))
    shift = n_fft // 2 - mel.pads[0]  # how far the features' frames sit after n * hop
    if shift:
        wave = np.concatenate([np.zeros(shift, wave.dtype), wave[:len(wave) - shift]])
    return wave.astype(np.float32)  # (frames * hop,)
