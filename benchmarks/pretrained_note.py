"""The README's picture of the pretrained models: the note of the install command (the embedded
corpus' nylon string at MIDI 60, first take) beside that note vocoded by ``pretrained:pitch``
and ``pretrained:quickstart``, as ``wavedil generate NAME --from-wav NOTE --seed 1`` makes
them, spectrograms on one colour scale.

    wavedil prepare recipes/quickstart.yaml   # synthesises the corpus (about 5 seconds)
    python benchmarks/pretrained_note.py      # -> docs/img/pretrained-note.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import soundfile as sf

from wavedil.plots import plot_comparison
from wavedil.pretrained import find
from wavedil.synthesis import synthesize

NAMES = ("pitch", "quickstart")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--note", type=Path, default=Path(".cache/wavedil/corpus/nylon/060_0.wav"),
                    help="the note to vocode (default: the install command's)")
    ap.add_argument("--out", type=Path, default=Path("docs/img/pretrained-note.png"))
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not args.note.is_file():
        raise SystemExit(f"{args.note}: no such note; run `wavedil prepare "
                         "recipes/quickstart.yaml` first")
    original, rate = sf.read(args.note, dtype="float32")
    waves = {f"original ({args.note.name})": original}
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            out = Path(tmp) / f"{name}.wav"
            result = synthesize(f"pretrained:{name}", out, from_wav=args.note, seed=args.seed)
            wave, got = sf.read(result.files[0], dtype="float32")
            if got != rate:
                raise SystemExit(f"pretrained:{name} made {got} Hz audio, the note is {rate} Hz")
            waves[f"pretrained:{name} ({find(name).steps:,} steps)"] = wave
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot_comparison(waves, rate, args.out, title="the install command's note, vocoded")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
