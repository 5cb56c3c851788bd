"""What a run leaves to read: metrics (JSONL, and TensorBoard when installed) and pictures
(loss curve, spectrograms). Pictures use matplotlib's file-only Agg back end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch


class Metrics:
    """Appends one JSON object per line to ``metrics.jsonl``; mirrors scalars to TensorBoard
    when ``torch.utils.tensorboard`` can be imported."""

    def __init__(self, folder: Path, enabled: bool = True) -> None:
        self.path = folder / "metrics.jsonl"
        self.enabled = enabled
        self.tb = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(folder / "tensorboard"))
            except Exception:  # tensorboard is optional
                self.tb = None

    def log(self, step: int, **values: float) -> None:
        if not self.enabled:
            return
        record = {"step": step, "time": round(time.time(), 3), **values}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)):
                    self.tb.add_scalar(key, value, step)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_losses(records: list[dict], path: Path) -> None:
    """Training and validation loss (bits per sample) against step, as a PNG."""
    plt = _pyplot()
    train = [(r["step"], r["train_bits"]) for r in records if "train_bits" in r]
    val = [(r["step"], r["val_bits"]) for r in records if "val_bits" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation", lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (bits per sample)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_spectrogram(wave: torch.Tensor | np.ndarray, sample_rate: int, path: Path,
                     title: str = "") -> None:
    """A log-magnitude spectrogram of a mono waveform, as a PNG."""
    plt = _pyplot()
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
    n_fft = 512 if sample_rate <= 24000 else 1024
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft),
                      return_complex=True).abs()
    db = 20 * torch.log10(spec.clamp(min=1e-5))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    seconds = x.numel() / sample_rate
    ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(db.max()) - 80,
              extent=(0, seconds, 0, sample_rate / 2000))
    ax.set_xlabel("seconds")
    ax.set_ylabel("kHz")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
