"""Training speed: config A forward + backward + AdamW step on the CPU, wavedil beside r9y9's
wavenet-vocoder (PyPI wavenet-vocoder==0.1.1, same config) in the same process.

    pip install -e '.[bench]'
    python benchmarks/training.py [--batch 4] [--length 8000] [--steps 5] [--rounds 3] [--compile]

Samples/s counts every input sample of the batch (batch x length) per optimisation step.
GFLOP/s counts the step as three passes of the forward's multiply-adds (forward, and the
backward's two: gradients of the inputs and of the weights), two FLOP each, and is printed
beside the machine's FMA peak measured in the same run (``benchmarks/machine.py``).
Two rows run in bfloat16 under torch's CPU autocast (oneDNN's bfloat16 products, on AMX or
AVX512-BF16 where the CPU has them): the chunked pass with its products in bfloat16, what
``train.precision: bf16`` runs (``wavedil/train/chunked_bf16.py``), and the blocks' own pass,
the bf16 option a PyTorch user would reach for; their GFLOP/s are still printed against the
float32 FMA peak. ``--compile`` adds wavedil's model under ``torch.compile`` (inductor, built with the system
C++ compiler; the first step's compile time is printed). wavedil's step runs twice: as
``wavedil train`` runs it (the residual stack's chunked training pass,
``wavedil/train/chunked_stack.py``) and with the blocks' own forward and backward
(``stack=None``). The implementations are timed in turn, ``--rounds``
times over, and each row keeps its best round, so that a slow moment of the host does not
fall on one of them only.

``--recipe PATH ...`` also times the training step of recipes as ``wavedil train`` runs it
(their data, batch, crop and objective; samples/s as the training log counts them, batch x
crop), best of ``--steps`` after two warm-up steps, in a scratch run folder that is removed:

    python benchmarks/training.py --recipe recipes/quickstart.yaml recipes/speech_vocoder.yaml

``--against REV`` times the recipes once more each round with the ``wavedil`` package of git
revision REV (``git archive`` into a scratch folder, imported by ``recipe_step.py`` in its
own interpreter; the recipe files and data are this tree's), and prints the ratio: the
issue's "recipes' samples/s up by 1.5x" is measured against the commit it was filed at,
f7240a9, in the same run:

    python benchmarks/training.py --steps 3 --rounds 3 --against f7240a9 \\
        --recipe recipes/quickstart.yaml recipes/speech_wavenet.yaml recipes/mulaw_vocoder.yaml

The effect recipes' steps (their layer arrays' CPU pass, ``wavedil/train/effect_stack.py``)
are timed the same way, into their own block of the page (``--block``):

    python benchmarks/training.py --steps 3 --rounds 3 --against 799f71f --block effect-recipes \\
        --recipe recipes/effect_quickstart.yaml recipes/effect_amp.yaml recipes/effect_a2.yaml

``--write-docs`` also writes the tables into docs/results/training.md
(``benchmarks/docs_page.py``: each table with this command, the date, the commit and the CPU).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

import docs_page
from machine import describe, fma_peak, multiply_adds
from recipe_step import measure, recipe_rate
from wavedil import WaveNet, WaveNetConfig
from wavedil.train.chunked_stack import ChunkedStack

CONFIG_A = dict(layers=20, cycle_length=10, kernel_size=2, residual_channels=64,
                gate_channels=128, skip_channels=128, head="categorical", classes=256)


def wavedil_step(batch: int, length: int, compiled: bool = False, chunked: bool = True,
                 bf16: bool = False):
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(**CONFIG_A)).train()
    net = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (batch, length + 1))

    stack = ChunkedStack() if chunked else None

    def step() -> None:
        # bf16: torch's CPU autocast (oneDNN's bfloat16 convolutions: AMX or AVX512-BF16
        # where the CPU has them, emulated where not); under it the chunked pass runs its
        # products in bfloat16 (wavedil/train/chunked_bf16.py), as train.precision: bf16 does
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = net(x[:, :-1], stack=stack)
        loss = model.head.nll(logits.float(), x[:, 1:]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def r9y9_step(batch: int, length: int):
    try:
        from wavenet_vocoder import WaveNet as R9y9WaveNet
    except ImportError:
        return None
    torch.manual_seed(0)
    model = R9y9WaveNet(out_channels=256, layers=20, stacks=2, residual_channels=64,
                        gate_channels=128, skip_out_channels=128, kernel_size=2, dropout=0.0,
                        cin_channels=-1, gin_channels=-1, scalar_input=False).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (batch, length + 1))
    onehot = F.one_hot(x[:, :-1], 256).float().transpose(1, 2)  # (B, 256, T)

    def step() -> None:
        logits = model(onehot, softmax=False)
        loss = F.cross_entropy(logits, x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def tree_at(rev: str, into: str) -> str:
    """The package tree of git revision ``rev`` (of the repository this script is in) written
    under ``into``; returns that folder, for ``PYTHONPATH``."""
    root = Path(__file__).resolve().parent.parent
    out = Path(into) / rev
    out.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, "wavedil"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    return str(out)


def recipe_rate_at(tree: str, path: str, steps: int) -> float:
    """A recipe's training samples/s with the wavedil of ``tree`` (:func:`tree_at`), timed by
    ``recipe_step.py`` in a fresh interpreter that imports it from there."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("recipe_step.py")), path,
                          "--steps", str(steps)], check=True, capture_output=True, text=True,
                         env=env).stdout.strip().splitlines()[-1]
    name, rate, origin = out.split("\t")
    if not origin.startswith(tree):
        raise RuntimeError(f"recipe_step.py imported wavedil from {origin}, not from {tree}")
    return float(rate)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3, help="times each row is measured, in turn")
    ap.add_argument("--compile", action="store_true", help="also torch.compile wavedil's model")
    ap.add_argument("--recipe", nargs="*", default=[],
                    help="also time these recipes' training steps (their own data and batch)")
    ap.add_argument("--against", metavar="REV",
                    help="also time the recipes with wavedil as it was at git revision REV")
    ap.add_argument("--block", default="recipes",
                    help="the block of docs/results/training.md the recipes' table goes to")
    ap.add_argument("--write-docs", action="store_true",
                    help="also write the tables into docs/results/training.md")
    args = ap.parse_args()
    n = args.batch * args.length
    threads = torch.get_num_threads()
    notes = [f"config A, batch {args.batch} x {args.length} samples, torch {torch.__version__}, "
             f"{threads} threads", describe(threads)]
    print("\n".join(notes))
    peak = fma_peak(threads)
    flop = 6 * multiply_adds(WaveNet(WaveNetConfig(**CONFIG_A)))  # per sample and step
    steps = {}
    peer = r9y9_step(args.batch, args.length)
    if peer is not None:
        steps["r9y9 wavenet-vocoder 0.1.1"] = peer
    steps["wavedil (chunked stack pass, the default)"] = wavedil_step(args.batch, args.length)
    steps["wavedil, chunked pass in bfloat16 (train.precision: bf16)"] = wavedil_step(
        args.batch, args.length, bf16=True)
    steps["wavedil, the blocks' own forward and backward"] = wavedil_step(
        args.batch, args.length, chunked=False)
    steps["wavedil, the blocks' own, bfloat16 autocast"] = wavedil_step(
        args.batch, args.length, chunked=False, bf16=True)
    if args.compile:
        step = wavedil_step(args.batch, args.length, compiled=True, chunked=False)
        start = time.perf_counter()
        step()
        print(f"torch.compile: first step (compiling) {time.perf_counter() - start:.1f} s")
        steps["wavedil, blocks' own, torch.compile"] = step
    best = {name: 0.0 for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            best[name] = max(best[name], n / measure(step, args.steps))
    rows = list(best.items())
    peer_sps = best.get("r9y9 wavenet-vocoder 0.1.1")
    table = [f"| implementation | training samples/s | vs r9y9 | GFLOP/s | of the "
             f"{threads}-thread FMA peak ({peak / 1e9:.0f} GFLOP/s) |",
             "|---|---:|---:|---:|---:|"]
    for name, sps in rows:
        ratio = f"{sps / peer_sps:.2f}x" if peer_sps else "n/a"
        table.append(f"| {name} | {sps:,.0f} | {ratio} | {sps * flop / 1e9:.0f} | "
                     f"{100 * sps * flop / peak:.0f}% |")
    print("\n" + "\n".join(table))
    if args.write_docs:
        docs_page.record("training.md", "config-a", table, notes)
    if args.recipe:
        tree = tempfile.mkdtemp() if args.against else None
        at = tree_at(args.against, tree) if args.against else None
        extra = (f" | at {args.against} | now / {args.against}" if at else "")
        table = ["| recipe | training samples/s (batch x crop per step), chunked pass "
                 f"| the model's own | chunked / own{extra} |",
                 "|---|---:|---:|---:" + ("|---:|---:|" if at else "|")]
        print("\n" + "\n".join(table))
        try:
            for path in args.recipe:
                fast = own = old = 0.0
                for _ in range(args.rounds):  # in turn, so that a slow moment hits all of them
                    name, sps = recipe_rate(path, args.steps, chunked=True)
                    fast = max(fast, sps)
                    own = max(own, recipe_rate(path, args.steps, chunked=False)[1])
                    if at:
                        old = max(old, recipe_rate_at(at, path, args.steps))
                then = f" | {old:,.0f} | {fast / old:.2f}x" if at else ""
                table.append(f"| {name} | {fast:,.0f} | {own:,.0f} | {fast / own:.2f}x{then} |")
                print(table[-1], flush=True)
        finally:
            if tree:
                shutil.rmtree(tree, ignore_errors=True)
        if args.write_docs:
            docs_page.record("training.md", args.block, table, notes[1:])


if __name__ == "__main__":
    main()
