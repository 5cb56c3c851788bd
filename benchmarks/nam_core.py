"""Every ``.nam`` file kind played here beside NAM core, the C++ library inside Neural Amp
Modeler's plugin: NAM core's own ``render`` tool (built from its source with cmake; blocks of
64 samples, its pre-warm) and ``wavedil process`` (blocks of 64, the engine it picks) on the
same input, compared by the error-to-signal ratio (ESR = sum of squared differences over the
sum of squares of NAM core's output), with wavedil's speed (input seconds per second of
processing, one thread, blocks of 64; the 2 s input makes it a rough figure). The files: every example model in NAM core's
repository (``example_models/``), each SlimmableContainer and slimmable WaveNet at several
sizes, and files wavedil writes (NAM's four WaveNet sizes, an LSTM, an A2-style layout, a
condition DSP, a model of NAM's newer layers, a slimmable WaveNet and the slimmable a2 preset
(written as a SlimmableContainer of its 3- and 8-channel widths), random weights, and
``wavenet_a2_max.nam`` read and written back), on NAM core's ``example_audio/input.wav``.

    # NAM core, built once (Debian's libeigen3-dev; its submodule AudioDSPTools in Dependencies/)
    cmake -S NeuralAmpModelerCore -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2
    python benchmarks/nam_core.py --source NeuralAmpModelerCore --render build/tools/render

Without ``--render`` it lists what reads and plays here. ``--write-docs`` writes the table into
docs/results/effects.md (``benchmarks/docs_page.py``). NAM core is never needed to install or
test wavedil.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

import docs_page
from wavedil.effect.model import EffectConfig, EffectNet
from wavedil.effect.nam import load_nam, to_nam
from wavedil.effect.process import Processor

BLOCK = 64
SIZES = (0.0, 0.5, 1.0)
"""Values of NAM's size knob a slimmable file is played at."""


NEWER = [{"channels": 4, "head_size": 1, "kernel_size": [3, 2, 3], "dilations": [1, 4, 16],
          "activation": ["softsign", {"name": "prelu", "negative_slopes": [0.1, 0.2]},
                         "hardswish"],
          "gated": ["none", "gated", "blended"], "head_bias": True,
          "secondary_activation": [None, "silu", {"name": "leaky_hardtanh", "min_val": 0.0,
                                                  "max_val": 0.9, "min_slope": 0.0,
                                                  "max_slope": 0.02}],
          "bottleneck": 2, "groups_input": 2, "groups_input_mixin": 2, "layer1x1_groups": 2,
          "head1x1": {"out_channels": 4, "groups": 2},
          "film": {"conv_pre_film": {"shift": True, "groups": 1},
                   "activation_post_film": {"shift": False, "groups": 1},
                   "layer1x1_post_film": {"shift": True, "groups": 4},
                   "head1x1_post_film": {"shift": True, "groups": 2}}}]
"""NAM's newer layers as wavedil writes them (behind a condition DSP of four outputs): FiLM
with and without shift, grouped or not, grouped convolutions, a bottleneck, a head 1x1, the
three gating modes and activations with parameters."""


def written(folder: Path, source: Path) -> list[Path]:
    """Files wavedil writes, random weights (seeded): NAM's four sizes, an LSTM, an A2-style
    layout (a kernel size per layer, a 16-tap head), a model with a condition DSP, one of
    NAM's newer layers (:data:`NEWER`), and two slimmable models (``EffectConfig.slimmable``):
    nano cut to 1, 2 or 4 and 1 or 2 channels (NAM's slimmable WaveNet) and the a2 preset cut
    to 3 or 8 (a SlimmableContainer of its widths: NAM core slims 1x1 heads only); and NAM
    core's ``wavenet_a2_max.nam`` read and written back, its own weights."""
    torch.manual_seed(0)
    models = {f"wavedil-{p}": EffectNet(EffectConfig(preset=p))
              for p in ("standard", "lite", "feather", "nano")}
    models["wavedil-lstm"] = EffectNet(EffectConfig(preset=None, lstm={"layers": 1,
                                                                        "hidden": 16}))
    a2 = [{"channels": 8, "head_size": 1, "kernel_size": [6] * 6 + [15] * 2,
           "dilations": [1, 3, 7, 17, 41, 101, 1, 13], "activation": "leaky_relu",
           "gated": False, "head_bias": True, "head_kernel_size": 16}]
    models["wavedil-a2"] = EffectNet(EffectConfig(preset=None, arrays=a2))
    inner = EffectConfig(preset=None, outputs=3, arrays=[
        {"channels": 4, "head_size": 3, "kernel_size": 3, "dilations": [1, 2, 4],
         "activation": "tanh", "gated": False, "head_bias": True}])
    models["wavedil-condition-dsp"] = EffectNet(EffectConfig(preset="nano",
                                                             condition_dsp=asdict(inner)))
    out = []

    def save(name: str, m: EffectNet) -> None:
        with torch.no_grad():
            for p in m.parameters():
                p.normal_(0.0, 0.2)
        out.append(folder / f"{name}.nam")
        out[-1].write_text(json.dumps(to_nam(m.eval())))

    for name, m in models.items():
        save(name, m)
    # made after the others are drawn, so that their weights stay what they were before it
    four = replace(inner, outputs=4, arrays=[dict(inner.arrays[0], head_size=4)])
    save("wavedil-newer-layers", EffectNet(EffectConfig(preset=None, arrays=NEWER,
                                                        condition_dsp=asdict(four))))
    save("wavedil-slimmable", EffectNet(EffectConfig(preset="nano",
                                                     slimmable=[[1, 2, 4], [1, 2]])))
    save("wavedil-a2-slimmable", EffectNet(EffectConfig(preset="a2", slimmable=[[3, 8]])))
    a2_max = source / "example_models" / "wavenet_a2_max.nam"
    if a2_max.is_file():
        path = folder / "wavedil-a2_max-written.nam"
        path.write_text(json.dumps(to_nam(load_nam(a2_max))))
        out.append(path)
    return out


def slimmable(path: Path) -> bool:
    data = json.loads(path.read_text())
    return data.get("architecture") == "SlimmableContainer" or any(
        lc.get("slimmable") for lc in (data.get("config") or {}).get("layers", []) or [])


def ours(path: Path, size: float | None, x: np.ndarray
         ) -> tuple[np.ndarray | None, str, float]:
    """wavedil's output for ``x``, the engine that made it and the seconds it took (one
    thread, after a warm-up call); or None and why not."""
    try:
        model = load_nam(path, 1.0 if size is None else size)
    except ValueError as e:
        return None, str(e).split(": ", 1)[-1], 0.0
    proc = Processor(model, BLOCK)
    proc(torch.from_numpy(x[:4800]))  # compiles or loads the kernels, measures a route
    y = proc(torch.from_numpy(x)).numpy()
    return y, proc.engine, proc.seconds


def theirs(render: Path, path: Path, size: float | None, wav: Path, folder: Path
           ) -> tuple[np.ndarray | None, str]:
    out = folder / f"{path.stem}-{size}.wav"
    cmd = [str(render), *(["--slim", str(size)] if size is not None else []), str(path),
           str(wav), str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        return None, (run.stderr.strip().splitlines() or ["failed"])[-1]
    return sf.read(str(out), dtype="float32")[0], ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, required=True,
                    help="a NeuralAmpModelerCore checkout (example_models/, example_audio/)")
    ap.add_argument("--render", type=Path, default=None, help="NAM core's built render tool")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the table into docs/results/effects.md")
    args = ap.parse_args()
    wav = args.source / "example_audio" / "input.wav"
    x, rate = sf.read(str(wav), dtype="float32")
    x = x if x.ndim == 1 else x.mean(axis=1)
    table = ["| file | architecture | NAM size knob | wavedil | x real time, one thread | ESR "
             "against NAM core |", "|---|---|---:|---|---:|---:|"]
    print("\n".join(table), flush=True)
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = sorted((args.source / "example_models").glob("*.nam")) + written(folder,
                                                                                 args.source)
        for path in files:
            arch = json.loads(path.read_text()).get("architecture")
            for size in (SIZES if slimmable(path) else (None,)):
                y, engine, seconds = ours(path, size, x)
                if args.render is None:
                    esr = "(no NAM core given)"
                else:
                    ref, why = theirs(args.render, path, size, wav, folder)
                    if ref is None:
                        esr = f"NAM core: {why}"
                    elif y is None:
                        esr = "n/a"
                    else:
                        n = min(len(ref), len(y))
                        value = float(np.sum((y[:n] - ref[:n]) ** 2.0)
                                      / max(np.sum(ref[:n] ** 2.0), 1e-30))
                        worst = max(worst, value)
                        esr = f"{value:.1e}"
                played = f"plays ({engine} engine)" if y is not None else f"refused: {engine}"
                knob = "" if size is None else f"{size:g}"
                speed = f"{len(x) / rate / seconds:.1f}" if y is not None else ""
                table.append(f"| {path.name} | {arch} | {knob} | {played} | {speed} | {esr} |")
                print(table[-1], flush=True)
    notes = [f"input: NAM core's example_audio/input.wav ({len(x) / rate:.1f} s at {rate} Hz), "
             f"blocks of {BLOCK}",
             f"largest ESR of the files both play: {worst:.1e}" if args.render else
             "NAM core was not given: what plays here only"]
    print("\n" + "\n".join(notes))
    if args.write_docs:
        docs_page.record("effects.md", "nam-core", table, notes)


if __name__ == "__main__":
    main()
