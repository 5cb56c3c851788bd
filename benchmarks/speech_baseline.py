"""The bar a speech vocoder must clear, on the held-out files of the speech corpus.

    python benchmarks/speech_corpus.py data/speech      # once (espeak-ng, Festival)
    python benchmarks/speech_baseline.py data/speech/test

Prints, for every file and on average, the objective metrics of ``wavedil evaluate``
(``wavedil.dsp.metrics``) for Griffin-Lim (32 iterations) from 80-band, hop-256 log-mel frames,
the features a vocoder of that corpus is conditioned on; and the prediction gain of the
order-16 linear predictor derived from those frames (``wavedil.dsp.lpc.MelLPC``) on the
pre-emphasised signal: how much of the signal's energy an excitation model no longer has to
produce.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from wavedil.dsp.audio import LogMel, load_audio
from wavedil.dsp.lpc import MelLPC, lp_predict, pre_emphasis
from wavedil.dsp.metrics import (f0_metrics, griffin_lim, log_mel_distance, mel_cepstral_distortion,
                             pesq_wb, stoi)

RATE, HOP, N_FFT, N_MELS, ORDER, PRE = 16000, 256, 1024, 80, 16, 0.85


def prediction_gain(wave: torch.Tensor, mel: torch.Tensor, lpc: MelLPC) -> float:
    """dB of the pre-emphasised signal's energy removed by the mel-derived predictor."""
    n = mel.shape[1] * HOP
    s = pre_emphasis(wave[:n], PRE)[None]  # (1, n)
    coeffs = torch.from_numpy(lpc(mel))[torch.arange(n) // HOP][None]  # (1, n, ORDER)
    e = s - lp_predict(s, coeffs)
    return 10 * math.log10(float((s ** 2).sum()) / max(float((e ** 2).sum()), 1e-20))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("test_dir", type=Path)
    args = ap.parse_args()
    files = sorted(args.test_dir.rglob("*.wav"))
    if not files:
        raise SystemExit(f"{args.test_dir}: no .wav files (make them with benchmarks/speech_corpus.py)")
    logmel = LogMel(RATE, HOP, N_MELS, N_FFT)
    lpc = MelLPC(RATE, N_FFT, N_MELS, ORDER, PRE)
    names = ["log-mel dB", "MCD dB", "f0 cents", "voicing err", "PESQ-wb", "STOI", "LP gain dB"]
    rows = []
    print(f"{'file':24s}" + "".join(f"{n:>12s}" for n in names))
    for path in files:
        wave, _ = load_audio(path, RATE)
        wave = wave * (0.95 / float(wave.abs().max()))
        mel = logmel(wave)
        ref = wave[: mel.shape[1] * HOP].numpy()
        gl = griffin_lim(mel.numpy(), RATE, HOP, N_FFT)
        f0 = f0_metrics(ref, gl, RATE)
        row = [log_mel_distance(ref, gl, RATE), mel_cepstral_distortion(ref, gl, RATE),
               f0.rmse_cents, f0.vde, pesq_wb(ref, gl, RATE), stoi(ref, gl, RATE),
               prediction_gain(wave, mel, lpc)]
        row = [np.nan if v is None else float(v) for v in row]
        rows.append(row)
        print(f"{str(path.relative_to(args.test_dir)):24s}" + "".join(f"{v:12.2f}" for v in row))
    mean = np.nanmean(np.array(rows), 0)
    print(f"{'mean (' + str(len(rows)) + ' files)':24s}" + "".join(f"{v:12.2f}" for v in mean))
    print(f"LP gain: worst file {np.nanmin(np.array(rows)[:, -1]):.2f} dB")


if __name__ == "__main__":
    main()
