"""Training speed: config A forward + backward + AdamW step on the CPU, wavedil beside r9y9's
wavenet-vocoder (PyPI wavenet-vocoder==0.1.1, same config) in the same process.

    pip install -e '.[bench]'
    python benchmarks/training.py [--batch 4] [--length 8000] [--steps 5]

Samples/s counts every input sample of the batch (batch x length) per optimisation step.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from wavedil import WaveNet, WaveNetConfig

CONFIG_A = dict(layers=20, cycle_length=10, kernel_size=2, residual_channels=64,
                gate_channels=128, skip_channels=128, head="categorical", classes=256)


def measure(step, steps: int) -> float:
    """Seconds per step, best of ``steps`` after one warm-up step."""
    step()
    best = float("inf")
    for _ in range(steps):
        t = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t)
    return best


def wavedil_step(batch: int, length: int):
    torch.manual_seed(0)
    model = WaveNet(WaveNetConfig(**CONFIG_A)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, 256, (batch, length + 1))

    def step() -> None:
        logits = model(x[:, :-1])
        loss = model.head.nll(logits, x[:, 1:]).mean()
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--length", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()
    n = args.batch * args.length
    print(f"config A, batch {args.batch} x {args.length} samples, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    rows = []
    peer = r9y9_step(args.batch, args.length)
    peer_sps = None
    if peer is not None:
        peer_sps = n / measure(peer, args.steps)
        rows.append(("r9y9 wavenet-vocoder 0.1.1", peer_sps))
    ours = n / measure(wavedil_step(args.batch, args.length), args.steps)
    rows.append(("wavedil", ours))
    print("| implementation | training samples/s | vs r9y9 |")
    print("|---|---:|---:|")
    for name, sps in rows:
        ratio = f"{sps / peer_sps:.2f}x" if peer_sps else "n/a"
        print(f"| {name} | {sps:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
