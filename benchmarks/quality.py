"""Quality: does a pitch-conditioned WaveNet play the pitch it is asked for?

Trains a small WaveNet (Gaussian head) on the embedded plucked-string corpus within a time
budget, locally conditioned at the sample rate on pitch taps (``wavedil.pitch``: its own
signal one pitch period back, at lags period-2 .. period+2) plus the note-on flag, the time
since the onset and log f0. Then it asks for every note of the corpus (two octaves, MIDI 48 to
71), measures each generated note's fundamental with librosa.pyin, and reports the fraction
within a semitone of the request.

What did not work (two CPU cores; 0.5 s notes; pyin as here):
- session 1: mu-law softmax, 10 layers, receptive field 125, conditioned on sin/cos of the
  f0 phase and the time since onset; 35 minutes, 6,385 steps, 2.14 bits/sample teacher-forced:
  0 of 24 notes at temperatures 1.0, 0.9, 0.75 and 0.6 (free-running noise);
- session 2, 5-10 minute pilots (scripts not kept), 16 layers (1..128 twice, receptive field
  511), 32 residual channels, batch 8 x 2048, one thread each: mu-law softmax 0/24; Gaussian
  0/24, with a hum near 660 Hz whatever the note; Gaussian and a 3-component logistic
  mixture with the note as global conditioning, 0/24.
The first pilot with pitch taps (this script's model) reached 19/24 after 210 steps.

    python benchmarks/quality.py                 # 10 minutes of training on two CPU cores
    python benchmarks/quality.py --minutes 3     # a quick look
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

from wavedil import WaveNet, WaveNetConfig, save_audio, save_checkpoint
from wavedil.data import DataConfig, make_corpus, midi_to_hz
from wavedil.data.files import load_clip
from wavedil.heads import LN2
from wavedil.pitch import generate_with_pitch_taps, pitch_taps
from wavedil.train.objective import batch_nll

RATE = 16000
LAGS = (-2, -1, 0, 1, 2)
EXTRA = 3  # note on, seconds since the onset (capped at 1), log2(f0 / 261.6 Hz)


def period(f0: float) -> int:
    return int(round(RATE / f0))


def extra_features(f0: float, n: int, onset: int) -> torch.Tensor:
    """(EXTRA, n): frame t describes sample t + 1, which it predicts; the note starts at
    sample ``onset``."""
    k = torch.arange(n, dtype=torch.float32) + 1 - onset
    on = (k >= 0).float()
    return torch.stack([on, (k.clamp(min=0) / RATE).clamp(max=1.0),
                        on * math.log2(f0 / midi_to_hz(60))])


def model_config() -> WaveNetConfig:
    return WaveNetConfig(dilations=[1, 2, 4, 8, 16, 32] * 2, kernel_size=2, residual_channels=32,
                         gate_channels=64, skip_channels=64, head="gaussian",
                         local_channels=len(LAGS) + EXTRA, cond_channels=16, cond_kernel=1,
                         hop_length=1)


def load_corpus(cfg: DataConfig) -> list[dict]:
    """Every corpus note, trimmed and normalised as the data pipeline does it."""
    clips = []
    for item in make_corpus(Path(cfg.cache_dir) / "corpus", RATE):
        wave, reason = load_clip(item.path, cfg)
        if wave is None:
            continue
        audio = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        clips.append({"audio": audio, "midi": item.midi, "f0": item.f0})
    return clips


def batch(clips: list[dict], size: int, length: int, rng: np.random.Generator) -> dict:
    """Random crops with their conditioning; a crop may start before its clip, in silence, so
    onsets are learnt. Taps are computed on the padded clip, so a crop's first frames see
    the real history before it."""
    audio, mel = [], []
    for _ in range(size):
        clip = clips[rng.integers(len(clips))]
        n = clip["audio"].numel()
        start = int(rng.integers(-length // 2, max(1, n - length)))
        pad = length + 256  # longer than any period + lag
        full = torch.cat([torch.zeros(pad), clip["audio"], torch.zeros(length)])
        ctx = full[pad + start - 256: pad + start + length]
        taps = pitch_taps(ctx[None], period(clip["f0"]), LAGS)[0, :, 256:]
        audio.append(ctx[256:])
        mel.append(torch.cat([taps, extra_features(clip["f0"], length, max(0, -start))]))
    # the Gaussian head reads and predicts "audio"; batch_nll also expects a "classes" entry
    return {"audio": torch.stack(audio), "classes": torch.zeros(size, length, dtype=torch.long),
            "mel": torch.stack(mel)}


def semitones(f: float, ref: float) -> float:
    return 12 * math.log2(f / ref)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget")
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=0.5, help="length of each generated note")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path("runs/quality"))
    ap.add_argument("--cache", type=Path, default=Path(".cache/wavedil"))
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    args.out.mkdir(parents=True, exist_ok=True)

    data = DataConfig(sample_rate=RATE, cache_dir=str(args.cache))  # its mel settings go unused
    clips = load_corpus(data)
    model = WaveNet(model_config())
    crop, bsz = 1024, 16
    length = model.receptive_field + crop
    lr = 2e-3
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    budget = args.minutes * 60
    start, step, window, last = time.perf_counter(), 0, [], float("nan")
    print(f"{len(clips)} clips, receptive field {model.receptive_field}, budget {args.minutes} min")
    while (elapsed := time.perf_counter() - start) < budget and step < args.max_steps:
        # warm-up, then a cosine decay over the time budget: the Gaussian NLL has loss spikes
        # at a high rate, and the model that is measured is the one at the end
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        model.train()
        loss = batch_nll(model, batch(clips, bsz, length, rng), crop)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        window.append(loss.item() / LN2)
        if step % 100 == 0:
            last = float(np.mean(window))
            print(f"step {step}  loss {last:.3f} bits/sample (16-bit grid)  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            window = []
    trained = time.perf_counter() - start
    save_checkpoint(args.out / "model.pt", model, data=data, name="quality", step=step)

    model.eval()
    notes = sorted({c["midi"] for c in clips})
    n = int(args.seconds * RATE)
    f0s = [midi_to_hz(m) for m in notes]
    extra = torch.stack([extra_features(f, n, 1) for f in f0s])
    t0 = time.perf_counter()
    waves = generate_with_pitch_taps(model, [period(f) for f in f0s], n, extra, LAGS,
                                     temperature=args.temperature,
                                     generator=torch.Generator().manual_seed(0))
    gen_time = time.perf_counter() - t0
    rows, hits = [], 0
    for m, wave in zip(notes, waves.numpy()):
        save_audio(args.out / f"note-{m}.wav", wave, RATE)
        f0, voiced, _ = librosa.pyin(wave, fmin=65.0, fmax=1000.0, sr=RATE, frame_length=1024)
        got = float(np.nanmedian(f0[voiced])) if voiced.any() else float("nan")
        off = semitones(got, midi_to_hz(m)) if got == got else float("nan")
        ok = bool(abs(off) <= 1.0) if off == off else False
        hits += ok
        rows.append({"midi": m, "requested_hz": round(midi_to_hz(m), 2),
                     "measured_hz": None if got != got else round(got, 2),
                     "semitones_off": None if off != off else round(off, 2), "within": ok,
                     "voiced_fraction": round(float(voiced.mean()), 2)})
    print("\n| note | requested Hz | measured Hz | semitones off | within a semitone |")
    print("|---:|---:|---:|---:|:---:|")
    for r in rows:
        print(f"| {r['midi']} | {r['requested_hz']} | {r['measured_hz']} | {r['semitones_off']} | "
              f"{'yes' if r['within'] else 'no'} |")
    summary = {"steps": step, "train_seconds": round(trained, 1), "final_loss_bits_16bit_grid": round(last, 3),
               "notes": len(rows), "within_a_semitone": hits, "fraction": hits / len(rows),
               "temperature": args.temperature, "generation_seconds": round(gen_time, 2),
               "rows": rows}
    (args.out / "quality.json").write_text(json.dumps(summary, indent=1))
    print(f"\n{hits}/{len(rows)} notes within a semitone ({100 * hits / len(rows):.0f}%), "
          f"after {step} steps in {trained / 60:.1f} min of training on "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
