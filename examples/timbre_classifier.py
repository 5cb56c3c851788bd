"""Classify the timbre of synthetic plucked strings with dilated-convolution blocks.

The clips are made here, by Karplus-Strong synthesis (Karplus and Strong 1983): a burst of
noise circulates in a delay line of sr / f0 samples, and each pass through the loop
averages neighbouring samples (a low-pass) and loses a little energy. Three timbres differ
in how much the loop averages (brightness), how fast it loses energy (damping), and how
bright the initial burst is:

    bright   little averaging, slow decay, white burst       (a steel string)
    mellow   full averaging,   slow decay, low-passed burst  (a nylon string)
    muted    full averaging,   fast decay, low-passed burst  (a palm-muted string)

Each clip has a random pitch, so the classifier must hear the timbre and not the note.

The model, on (B, 1, T) waveforms:

    1x1 lift --> ContextModule (Yu & Koltun 2016, dilations 1, 1, 2, 4, 8, 16, 1)
             --> ASPP1d (Chen et al. 2017, rates 2, 5, 11 + global pooling)
             --> mean and max over time --> linear --> 3 logits

Run ``python examples/timbre_classifier.py`` to train for 300 steps and print the held-out
accuracy; ``train(steps, seed)`` returns the losses (the test runs 30 steps).
"""

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from wavedil.nn.blocks import ASPP1d, ContextModule

SAMPLE_RATE = 8000
CLIP_SAMPLES = 512  # 64 ms
TIMBRES = {
    # name: (loop averaging 0..1, loss per pass through the loop, burst low-pass 0..1)
    "bright": (0.1, 0.998, 0.0),
    "mellow": (1.0, 0.995, 0.8),
    "muted": (1.0, 0.85, 0.8),
}
NOTES_HZ = [110.0 * 2 ** (k / 12) for k in range(0, 25, 2)]  # A2 .. A4, whole tones


def pluck(f0: np.ndarray, averaging: np.ndarray, loss: np.ndarray, burst_lowpass: np.ndarray,
          n_samples: int, rng: np.random.Generator, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Karplus-Strong plucks, one per entry of the parameter arrays: (N,) each -> (N, n_samples).

    y[n] = burst[n]                                                 for n < L = round(sr / f0)
    y[n] = loss * ((1 - a) y[n - L] + a (y[n - L] + y[n - L - 1]) / 2)   after
    """
    N = len(f0)
    L = np.maximum(np.round(sr / f0).astype(int), 2)  # (N,) delay-line lengths
    burst = rng.uniform(-1.0, 1.0, size=(N, L.max()))  # (N, L_max)
    for i in range(1, burst.shape[1]):  # one-pole low-pass of the excitation
        burst[:, i] = (1 - burst_lowpass) * burst[:, i] + burst_lowpass * burst[:, i - 1]
    y = np.zeros((N, n_samples))
    rows = np.arange(N)
    for n in range(n_samples):
        back1 = y[rows, np.maximum(n - L, 0)]
        back2 = y[rows, np.maximum(n - L - 1, 0)]
        loop = loss * ((1 - averaging) * back1 + averaging * 0.5 * (back1 + back2))
        y[:, n] = np.where(n < L, burst[rows, np.minimum(n, L - 1)], loop)
    return y / (y.std(axis=1, keepdims=True) + 1e-8)  # equal loudness: timbre, not level


def make_dataset(n_clips: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_clips`` plucks of random timbre and pitch: x (N, 1, T) float32, labels (N,) long."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(TIMBRES), size=n_clips)
    params = np.array(list(TIMBRES.values()))[labels]  # (N, 3)
    f0 = rng.choice(NOTES_HZ, size=n_clips) * rng.uniform(0.98, 1.02, size=n_clips)
    y = pluck(f0, params[:, 0], params[:, 1], params[:, 2], CLIP_SAMPLES, rng)
    return torch.from_numpy(y).float().unsqueeze(1), torch.from_numpy(labels).long()


class TimbreClassifier(nn.Module):
    """Waveform (B, 1, T) -> timbre logits (B, classes), non-causal (the whole clip is known)."""

    def __init__(self, channels: int = 8, classes: int = len(TIMBRES)) -> None:
        super().__init__()
        self.lift = nn.Conv1d(1, channels, 9, padding=4)  # short filters: brightness
        self.context = ContextModule(channels, causal=False)
        self.aspp = ASPP1d(channels, channels, rates=(2, 5, 11), causal=False)
        self.head = nn.Linear(2 * channels, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lift(x)  # (B, C, T)
        h = self.aspp(self.context(h))  # (B, C, T)
        stats = torch.cat([h.mean(-1), h.amax(-1)], dim=1)  # (B, 2C): level and peak (decay)
        return self.head(stats)  # (B, classes)


def fit(steps: int = 300, seed: int = 0, batch_size: int = 16,
        lr: float = 1e-2) -> tuple[TimbreClassifier, list[float]]:
    """Train a fresh classifier for ``steps`` Adam steps on 256 plucks; return it and the loss
    of every step."""
    torch.manual_seed(seed)
    x, labels = make_dataset(256, seed)
    model = TimbreClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(x), (batch_size,), generator=gen)
        loss = F.cross_entropy(model(x[idx]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def train(steps: int = 300, seed: int = 0) -> list[float]:
    """The losses of ``steps`` training steps from a fresh, seeded model."""
    return fit(steps, seed)[1]


if __name__ == "__main__":
    model, losses = fit(300, seed=0)
    print(f"loss: first 10 steps {np.mean(losses[:10]):.3f}, last 10 steps {np.mean(losses[-10:]):.3f}")
    x_test, y_test = make_dataset(300, seed=1)
    with torch.no_grad():
        accuracy = (model(x_test).argmax(-1) == y_test).float().mean().item()
    print(f"held-out accuracy on {len(y_test)} new plucks: {accuracy:.1%} "
          f"(chance {1 / len(TIMBRES):.1%})")
