"""Quality: does a pitch-conditioned model play the pitch it is asked for, and how clean?

Trains ``recipes/pitch.yaml`` with ``wavedil.train`` (the embedded plucked-string corpus; frames
are one loudness band and the f0 pair; pitch taps at lags period-2 .. period+2), then asks for
every note of the corpus (two octaves, MIDI 48 to 71): each note's frames are the loudness
band of a corpus take of that note and the requested f0 wherever pYIN found it voiced. It
measures each generated note's fundamental with librosa.pyin and reports the fraction within a
semitone of the request, and the harmonic-to-noise ratio (HNR) of the generated notes beside
that of the corpus takes they were asked to imitate.

HNR: ``wavedil.dsp.metrics.harmonic_to_noise_ratio`` at the note's f0: per frame of 1024 samples
(hop 256) whose energy is within 30 dB of the note's loudest, the normalised autocorrelation r
one period later, the lag searched within a sample of the period at a sixteenth of a sample,
HNR = 10 log10(r / (1 - r)); the median over frames. Until session 9 the lag was the best
whole sample of period - 1 .. period + 1, which reads a sum of exact harmonics as 16 to 52 dB
depending on how far the period is from a whole number of samples (440 Hz: 16 dB, 146.8 Hz:
47 dB): that version measured the period's rounding more than noise.

What did not work (two CPU cores; 0.5 s notes; pyin as here):
- session 1: mu-law softmax, 10 layers, receptive field 125, conditioned on sin/cos of the
  f0 phase and the time since onset; 35 minutes, 6,385 steps, 2.14 bits/sample teacher-forced:
  0 of 24 notes at temperatures 1.0, 0.9, 0.75 and 0.6 (free-running noise);
- session 2, 5-10 minute pilots (scripts not kept), 16 layers (1..128 twice, receptive field
  511), 32 residual channels, batch 8 x 2048, one thread each: mu-law softmax 0/24; Gaussian
  0/24, with a hum near 660 Hz whatever the note; Gaussian and a 3-component logistic
  mixture with the note as global conditioning, 0/24.
Sessions 2 and 3 used pitch taps from a fixed period at hop 1 (24 of 24 notes, HNR 12.0 dB
against the corpus's 28.2 dB with the whole-sample lag); session 4 made them a recipe driven by f0 frames.
Session 10 re-scored recipes/pitch.yaml with the fractional lag: 24 of 24, HNR 15.6 against 41.7 dB.

    python benchmarks/quality.py                 # the recipe's steps (10 to 21 minutes)
    python benchmarks/quality.py --steps 300     # a quick look
    python benchmarks/quality.py --recipe recipes/pitch_harmonic.yaml --out runs/quality-harmonic
                                                 # the harmonic-plus-noise model, same frames
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from wavedil import load_model, save_audio
from wavedil.data import make_corpus, midi_to_hz
from wavedil.data.files import load_clip
from wavedil.dsp.f0 import F0_REFERENCE
from wavedil import generate
from wavedil.dsp.metrics import harmonic_to_noise_ratio
from wavedil.train import load_recipe, train

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "pitch.yaml"


def semitones(f: float, ref: float) -> float:
    return 12 * math.log2(f / ref)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", default=str(RECIPE))
    ap.add_argument("--steps", type=int, default=0, help="training steps (default: the recipe's)")
    ap.add_argument("--seconds", type=float, default=0.5, help="length of each generated note")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path("runs/quality"))
    ap.add_argument("--skip-training", action="store_true", help="reuse the run in --out")
    ap.add_argument("--noise-scale", type=float, default=None,
                    help="harmonic-noise models: the shaped noise's gain at generation")
    ap.add_argument("--smoothing", type=int, default=None,
                    help="harmonic-noise models: frames of gain smoothing at generation")
    args = ap.parse_args()
    sets = [f"train.run_dir={args.out}", *([f"train.steps={args.steps}"] if args.steps else [])]
    recipe = load_recipe(args.recipe, sets)
    trained = None
    if not args.skip_training:
        start = time.perf_counter()
        result = train(recipe, force=True)
        trained = time.perf_counter() - start
        print(f"trained {result.step} steps in {trained / 60:.1f} min")
    loaded = load_model(args.out / "best.pt")  # the weights with the best validation loss
    data, rate = loaded.data, loaded.sample_rate
    for key in ("noise_scale", "smoothing"):  # generation-time settings of the trained model
        if getattr(args, key) is not None:
            setattr(loaded.model.config, key, getattr(args, key))

    # one take per note (the first timbre's first take): its loudness band and voicing
    items = {}
    for item in make_corpus(Path(data.cache_dir) / "corpus", rate, data.corpus_low,
                            data.corpus_high, data.corpus_timbres, data.corpus_takes):
        items.setdefault(item.midi, item)
    notes = sorted(items)
    n = int(args.seconds * rate) // data.hop_length * data.hop_length
    frames, references = [], []
    for m in notes:
        wave, reason = load_clip(items[m].path, data)
        if wave is None:
            raise SystemExit(f"{items[m].path}: {reason}")
        wave = torch.from_numpy(np.ascontiguousarray(wave[:n], dtype=np.float32))
        fr = loaded.features(wave)  # (1 + 2, frames)
        voiced = fr[-1] > 0.5
        fr[-2] = torch.where(voiced, torch.full_like(fr[-2], math.log2(midi_to_hz(m) / F0_REFERENCE)),
                             torch.zeros_like(fr[-2]))  # the request, where the take is voiced
        frames.append(fr)
        references.append(wave.numpy())
    shortest = min(f.shape[-1] for f in frames)  # a take may be shorter than --seconds
    n = min(n, shortest * data.hop_length)
    local = torch.stack([f[:, :shortest] for f in frames])  # (notes, 3, frames)
    references = [r[:n] for r in references]
    t0 = time.perf_counter()
    waves = generate(loaded.model, n, len(notes), local=local, temperature=args.temperature,
                     generator=torch.Generator().manual_seed(0)).numpy()
    gen_time = time.perf_counter() - t0

    args.out.mkdir(parents=True, exist_ok=True)
    rows, hits = [], 0
    for m, wave, ref in zip(notes, waves, references):
        save_audio(args.out / f"note-{m}.wav", wave, rate)
        f0, voiced, _ = librosa.pyin(wave, fmin=65.0, fmax=1000.0, sr=rate, frame_length=1024)
        got = float(np.nanmedian(f0[voiced])) if voiced.any() else float("nan")
        off = semitones(got, midi_to_hz(m)) if got == got else float("nan")
        ok = bool(abs(off) <= 1.0) if off == off else False
        hits += ok
        rows.append({"midi": m, "requested_hz": round(midi_to_hz(m), 2),
                     "measured_hz": None if got != got else round(got, 2),
                     "semitones_off": None if off != off else round(off, 2), "within": ok,
                     "hnr_db": round(harmonic_to_noise_ratio(wave, rate, midi_to_hz(m)), 1),
                     "corpus_hnr_db": round(harmonic_to_noise_ratio(ref, rate, midi_to_hz(m)), 1)})
    print("\n| note | requested Hz | measured Hz | semitones off | within a semitone | HNR dB | corpus HNR dB |")
    print("|---:|---:|---:|---:|:---:|---:|---:|")
    for r in rows:
        print(f"| {r['midi']} | {r['requested_hz']} | {r['measured_hz']} | {r['semitones_off']} | "
              f"{'yes' if r['within'] else 'no'} | {r['hnr_db']} | {r['corpus_hnr_db']} |")
    hnr = float(np.nanmedian([r["hnr_db"] for r in rows]))
    corpus_hnr = float(np.nanmedian([r["corpus_hnr_db"] for r in rows]))
    summary = {"steps": loaded.step, "train_seconds": None if trained is None else round(trained, 1),
               "best_val": loaded.best_val,  # bits/sample (a WaveNet) or the STFT loss
               "notes": len(rows), "within_a_semitone": hits,
               "fraction": hits / len(rows), "median_hnr_db": round(hnr, 1),
               "median_corpus_hnr_db": round(corpus_hnr, 1), "temperature": args.temperature,
               "generation_seconds": round(gen_time, 2), "rows": rows}
    (args.out / "quality.json").write_text(json.dumps(summary, indent=1))
    print(f"\n{hits}/{len(rows)} notes within a semitone ({100 * hits / len(rows):.0f}%); "
          f"median HNR {hnr:.1f} dB against the corpus takes' {corpus_hnr:.1f} dB "
          f"({hnr - corpus_hnr:+.1f} dB); generation {gen_time:.1f} s for "
          f"{len(rows)} x {args.seconds} s")


if __name__ == "__main__":
    main()
