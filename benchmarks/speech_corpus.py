"""Make a multi-voice English speech corpus for development and benchmarks (not shipped).

    python benchmarks/speech_corpus.py OUT_DIR [--train 40] [--test 3] [--dev 3]

Speaks the sentences below with espeak-ng (``apt-get install espeak-ng``) in five voices, and
with Festival's kal voice when it is installed (``apt-get install festival
festvox-kallpc16k``), at 16 kHz mono, peak-normalised:

    OUT_DIR/train/<voice>/<nn>.wav     the first ``--train`` sentences, every voice
    OUT_DIR/test/<voice>/<nn>.wav      the next ``--test`` sentences, every voice
    OUT_DIR/dev/<voice>/<nn>.wav       the next ``--dev`` sentences, every voice

Train, test and dev sentences are disjoint; every voice is in all three, as a vocoder trained
on a voice is then asked to copy-synthesise unseen sentences of it. The dev split is for
choosing settings (a synthesis gain, a loss weight) so that the test split's scores are not
tuned on. The corpus is deterministic:
the same tools give the same files. Tests never depend on it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

RATE = 16000

# voice name -> espeak-ng voice with variant, words per minute, pitch (0-99)
ESPEAK_VOICES = {
    "us_m": ("en-us+m3", 165, 45),
    "us_f": ("en-us+f3", 160, 60),
    "gb_m": ("en-gb+m1", 155, 40),
    "rp_f": ("en-gb-x-rp+f2", 150, 65),
    "sc_m": ("en-gb-scotland+m5", 160, 50),
}

SENTENCES = [
    "The quiet river carried the last leaves of autumn past the mill.",
    "She opened the window and listened to the rain on the roof.",
    "A small boat drifted slowly toward the northern shore.",
    "Bring the blue folder to the meeting before noon tomorrow.",
    "The old clock in the hall stopped at a quarter past nine.",
    "He painted the fence white while the children played in the yard.",
    "Fresh bread and warm soup were waiting on the kitchen table.",
    "The train to the coast leaves every hour from the second platform.",
    "Our neighbours planted tall sunflowers along the garden wall.",
    "Please turn off the lights when you leave the library.",
    "The engineer measured the bridge twice before signing the report.",
    "A sudden wind scattered the papers across the empty street.",
    "They walked along the beach until the sun went down.",
    "The violin lesson begins at four and lasts for one hour.",
    "Every morning the baker lights the oven before dawn.",
    "The museum will open a new hall of ancient maps next spring.",
    "Keep the receipt in case the shoes do not fit.",
    "The pilot announced that we would land twenty minutes early.",
    "Heavy snow closed the mountain road for three days.",
    "My sister found a rare stamp inside an old letter.",
    "The farmer sold apples, pears and plums at the market.",
    "A gentle voice read the story to the sleeping child.",
    "The committee approved the plan after a long debate.",
    "Lemon tea with honey is good for a sore throat.",
    "The cat watched the birds from the top of the stairs.",
    "We need more chairs for the guests in the dining room.",
    "The lighthouse keeper wrote in his journal every night.",
    "Thunder rolled over the valley and the lights flickered.",
    "The students built a robot that can sort coloured blocks.",
    "Dinner will be served in the garden if the weather holds.",
    "The fisherman mended his nets on the harbour wall.",
    "A long queue formed outside the cinema on Friday evening.",
    "The doctor advised him to walk for half an hour a day.",
    "Copper wire conducts electricity better than iron.",
    "The choir sang softly as the candles were lit.",
    "Her grandfather kept bees behind the orchard.",
    "The parcel arrived wrapped in brown paper and string.",
    "Most rivers in this region flow toward the east.",
    "The team celebrated their victory with a quiet dinner.",
    "Write your name clearly at the top of each page.",
    "The mountain village has only one shop and a post office.",
    "A thin layer of ice covered the pond in the park.",
    "The captain ordered the crew to raise the anchor.",
    "Soft music played while the guests found their seats.",
    "The garden gate creaked loudly in the evening breeze.",
    "He forgot his umbrella on the bus again this morning.",
    "The scientist recorded the temperature every ten minutes.",
    "Golden fields of wheat stretched as far as the eye could see.",
    "The librarian found the book on the highest shelf.",
    "We heard an owl calling from the dark woods.",
]


def _peak(wave: np.ndarray, peak: float = 0.9) -> np.ndarray:
    m = float(np.abs(wave).max()) if wave.size else 0.0
    return wave if m == 0.0 else (wave * (peak / m)).astype(np.float32)


def _to_rate(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(1)))
    if rate != RATE:
        wave = AF.resample(wave, rate, RATE)
    return _peak(wave.numpy())


def speak_espeak(text: str, voice: tuple[str, int, int], out: Path, tmp: Path) -> None:
    """One sentence through espeak-ng into ``out`` (16 kHz, peak 0.9)."""
    name, wpm, pitch = voice
    raw = tmp / "espeak.wav"
    subprocess.run(["espeak-ng", "-v", name, "-s", str(wpm), "-p", str(pitch), "-w", str(raw),
                    text], check=True, capture_output=True, timeout=60)
    sf.write(str(out), _to_rate(raw), RATE, subtype="PCM_16")


def speak_festival(text: str, out: Path, tmp: Path) -> None:
    """One sentence through Festival's text2wave (kal voice) into ``out``."""
    src, raw = tmp / "text.txt", tmp / "festival.wav"
    src.write_text(text + "\n")
    subprocess.run(["text2wave", str(src), "-o", str(raw), "-eval", "(voice_kal_diphone)"],
                   check=True, capture_output=True, timeout=120)
    sf.write(str(out), _to_rate(raw), RATE, subtype="PCM_16")


def make_corpus(out: Path, n_train: int = 40, n_test: int = 3, n_dev: int = 3) -> dict[str, int]:
    """Write the corpus under ``out``; returns files written per split."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not installed: apt-get install espeak-ng")
    if n_train < 1 or n_test < 1 or n_dev < 0 or n_train + n_test + n_dev > len(SENTENCES):
        raise SystemExit(f"--train and --test must be >= 1, --dev >= 0, and they must add up "
                         f"to at most {len(SENTENCES)}, got {n_train}, {n_test} and {n_dev}")
    festival = shutil.which("text2wave") is not None
    splits = {"train": SENTENCES[:n_train], "test": SENTENCES[n_train:n_train + n_test],
              "dev": SENTENCES[n_train + n_test:n_train + n_test + n_dev]}
    splits = {name: sentences for name, sentences in splits.items() if sentences}
    counts = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for split, sentences in splits.items():
            counts[split] = 0
            voices = list(ESPEAK_VOICES) + (["kal"] if festival else [])
            for voice in voices:
                folder = out / split / voice
                folder.mkdir(parents=True, exist_ok=True)
                for i, text in enumerate(sentences):
                    path = folder / f"{i:02d}.wav"
                    if voice == "kal":
                        speak_festival(text, path, tmp)
                    else:
                        speak_espeak(text, ESPEAK_VOICES[voice], path, tmp)
                    counts[split] += 1
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--train", type=int, default=40, help="training sentences per voice")
    ap.add_argument("--test", type=int, default=3, help="held-out sentences per voice")
    ap.add_argument("--dev", type=int, default=3,
                    help="sentences per voice for choosing settings (0: none)")
    args = ap.parse_args()
    counts = make_corpus(args.out, args.train, args.test, args.dev)
    seconds = {s: sum(sf.info(str(p)).duration for p in (args.out / s).rglob("*.wav"))
               for s in counts}
    for split, n in counts.items():
        print(f"{split}: {n} files, {seconds[split] / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()
