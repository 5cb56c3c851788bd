"""Where a vocoder's PESQ is lost, magnitude or phase: its output, then the original's STFT
magnitudes with the vocoder's phases, then the vocoder's magnitudes with the original's phases
(1024-point Hann STFT, hop 256, inverted by overlap-add), all scored against the original
with wavedil's metrics on the same held-out files.

    python benchmarks/phase_swap.py runs/vocoder-benchmark/harmonic-noise/best.pt data/speech/test
    python benchmarks/phase_swap.py pretrained:speech data/speech/dev --below 500 --refine 0

``--below HZ`` swaps only the bins below HZ (the rest stays the vocoder's). ``--refine``
overrides the checkpoint's refinement passes (``generate.refine``) before the swap.

If "vocoder magnitudes, original phases" scores far above the vocoder itself, the envelope is
good enough and the loss is in the phase (the harmonics' exact frequencies and alignment).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import librosa
import numpy as np
import torch

from wavedil.checkpoint import load_model
from wavedil.data.files import discover
from wavedil.evaluate import _features, refined, score


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("test_dir")
    ap.add_argument("--n-fft", type=int, default=1024)
    ap.add_argument("--below", type=float, default=None, help="swap only the bins below HZ")
    ap.add_argument("--refine", type=int, default=None,
                    help="refinement passes of the vocoder's output (default: the recipe's)")
    args = ap.parse_args()
    loaded = load_model(args.checkpoint)
    model, rate, hop = loaded.model.float(), loaded.sample_rate, args.n_fft // 4
    passes = loaded.generate.refine if args.refine is None else args.refine
    analysis = loaded.data.log_mel()
    rows: dict[str, list[dict]] = {"vocoder": [], "original magnitudes, vocoder phases": [],
                                   "vocoder magnitudes, original phases": []}
    for path in discover(Path(args.test_dir)):
        mel, ref = _features(path, loaded)
        with torch.no_grad():
            est = model(mel[None].float(), generator=torch.Generator().manual_seed(0))[0]
        est = refined(est.numpy(), mel, analysis, passes, loaded.generate.refine_momentum)
        R = librosa.stft(ref, n_fft=args.n_fft, hop_length=hop)
        E = librosa.stft(est, n_fft=args.n_fft, hop_length=hop)
        freqs = librosa.fft_frequencies(sr=rate, n_fft=args.n_fft)[:, None]
        swap = freqs < (args.below if args.below is not None else np.inf)  # (bins, 1)

        def inverse(spec: np.ndarray) -> np.ndarray:
            return librosa.istft(np.where(swap, spec, E), hop_length=hop, length=len(ref))

        swaps = {
            "vocoder": est,
            "original magnitudes, vocoder phases": inverse(np.abs(R) * np.exp(1j * np.angle(E))),
            "vocoder magnitudes, original phases": inverse(np.abs(E) * np.exp(1j * np.angle(R))),
        }
        for name, wave in swaps.items():
            rows[name].append(score(ref, wave.astype(np.float32), rate))
    keys = list(next(iter(rows.values()))[0])
    print("| signal | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys))
    for name, scores in rows.items():
        means = [np.mean([s[k] for s in scores if s[k] is not None]) for k in keys]
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + " |")


if __name__ == "__main__":
    main()
