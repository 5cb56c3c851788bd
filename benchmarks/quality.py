"""Quality: does a pitch-conditioned WaveNet play the pitch it is asked for?

Trains a small mu-law WaveNet on the embedded plucked-string corpus, locally conditioned at
the sample rate on features of the note's fundamental (the sine and cosine of its phase, and
the time since the onset), within a time budget; then asks it for every note of the corpus
(two octaves), measures each generated note's fundamental with librosa.pyin, and reports the
fraction within a semitone of the request.

Conditioning on the fundamental's phase, rather than on a note id, follows the source-filter
idea (Wang et al. 2019, "Neural source-filter waveform models"): the model is handed a
periodic excitation to shape. Measured so far (session 1, two CPU cores, 35 minutes, 6,385
steps, training loss 2.14 bits/sample): 0 of 24 notes within a semitone at temperatures 1.0,
0.9, 0.75 and 0.6; free-running samples are broadband noise although the teacher-forced loss
is low. The target is 80%.

    python benchmarks/quality.py                 # 30 minutes of training on two CPU cores
    python benchmarks/quality.py --minutes 5     # a quick look
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

from wavedil import WaveNet, WaveNetConfig, mulaw_encode, save_audio
from wavedil.data import DataConfig, make_corpus, midi_to_hz
from wavedil.data.files import load_clip
from wavedil.generate import generate
from wavedil.heads import LN2
from wavedil.train import lr_factor
from wavedil.train.objective import batch_nll
from wavedil.train.recipe import TrainConfig

RATE = 16000


def features(f0: float, n: int) -> torch.Tensor:
    """(3, n) per-sample conditioning: sin and cos of the fundamental's phase, and the
    seconds since the onset (capped at 1)."""
    t = torch.arange(n, dtype=torch.float64) / RATE
    phase = 2 * math.pi * f0 * t
    return torch.stack([torch.sin(phase), torch.cos(phase), t.clamp(max=1.0)]).float()


def model_config() -> WaveNetConfig:
    return WaveNetConfig(layers=10, cycle_length=5, kernel_size=3, residual_channels=32,
                         gate_channels=64, skip_channels=64, head="categorical", classes=256,
                         local_channels=3, cond_channels=16, cond_kernel=1, hop_length=1)


def load_corpus(cache: Path) -> list[dict]:
    """Every corpus note, trimmed and normalised as the data pipeline does it."""
    cfg = DataConfig(sample_rate=RATE, cache_dir=str(cache))
    clips = []
    for item in make_corpus(cache / "corpus", RATE):
        wave, reason = load_clip(item.path, cfg)
        if wave is None:
            continue
        audio = torch.from_numpy(np.ascontiguousarray(wave, dtype=np.float32))
        clips.append({"audio": audio, "classes": mulaw_encode(audio, 256),
                      "mel": features(item.f0, audio.numel()), "midi": item.midi, "f0": item.f0})
    return clips


def batch(clips: list[dict], size: int, length: int, rng: np.random.Generator) -> dict:
    """Random crops; a crop may start before its clip, in silence, so onsets are learnt."""
    out = {"audio": [], "classes": [], "mel": []}
    for _ in range(size):
        clip = clips[rng.integers(len(clips))]
        n = clip["audio"].numel()
        start = int(rng.integers(-length // 2, max(1, n - length)))
        pad = max(0, -start)
        s0, s1 = max(0, start), max(0, start) + length - pad
        audio = torch.cat([torch.zeros(pad), clip["audio"][s0:s1]])
        audio = torch.cat([audio, torch.zeros(length - audio.numel())])
        mel = torch.cat([torch.zeros(3, pad), clip["mel"][:, s0:s1]], 1)
        mel = torch.cat([mel, torch.zeros(3, length - mel.shape[1])], 1)
        out["audio"].append(audio)
        out["classes"].append(mulaw_encode(audio, 256))
        out["mel"].append(mel)
    return {k: torch.stack(v) for k, v in out.items()}


def semitones(f: float, ref: float) -> float:
    return 12 * math.log2(f / ref)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="training budget")
    ap.add_argument("--max-steps", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=0.5, help="length of each generated note")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=Path("runs/quality"))
    ap.add_argument("--cache", type=Path, default=Path(".cache/wavedil"))
    args = ap.parse_args()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    args.out.mkdir(parents=True, exist_ok=True)

    clips = load_corpus(args.cache)
    model = WaveNet(model_config())
    crop, bsz = 2048, 8
    length = model.receptive_field + crop
    tc = TrainConfig(steps=args.max_steps, lr=2e-3, warmup_steps=100, schedule="constant")
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr)
    budget = args.minutes * 60
    start, step, window, last = time.perf_counter(), 0, [], float("nan")
    print(f"{len(clips)} clips, receptive field {model.receptive_field}, budget {args.minutes} min")
    while time.perf_counter() - start < budget and step < args.max_steps:
        for g in opt.param_groups:
            g["lr"] = tc.lr * lr_factor(step, tc)
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
            print(f"step {step}  loss {last:.3f} bits/sample  "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            window = []
    trained = time.perf_counter() - start
    torch.save({"config": model.config.to_dict(), "model": model.state_dict()}, args.out / "model.pt")

    model.eval()
    notes = sorted({c["midi"] for c in clips})
    n = int(args.seconds * RATE)
    local = torch.stack([features(midi_to_hz(m), n) for m in notes])  # (B, 3, n)
    t0 = time.perf_counter()
    waves = generate(model, n, len(notes), local=local, temperature=args.temperature,
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
    summary = {"steps": step, "train_seconds": round(trained, 1), "final_loss_bits": round(last, 3),
               "notes": len(rows), "within_a_semitone": hits, "fraction": hits / len(rows),
               "temperature": args.temperature, "generation_seconds": round(gen_time, 2),
               "rows": rows}
    (args.out / "quality.json").write_text(json.dumps(summary, indent=1))
    print(f"\n{hits}/{len(rows)} notes within a semitone ({100 * hits / len(rows):.0f}%), "
          f"after {step} steps in {trained / 60:.1f} min of training on "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
