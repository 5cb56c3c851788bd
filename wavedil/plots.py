"""Pictures (matplotlib, file-only Agg back end): a dilated stack's receptive field and
gridding pattern, spectrograms of generated audio, a run's loss curve.

In the receptive-field picture, the top panel is the classic dilated-stack diagram, read from the output down: level L is
the output (one node at offset 0), and level j < L shows the offsets that reach that output
through the layers above it. For a causal layer of kernel k and dilation d, a node at offset
o reads o, o + d, ..., o + (k - 1) d on the level below:

    level 2 (output)                    *                    d = 2
    level 1                     *       *
    level 0 (input)          *  *    *  *                    d = 1
    offset ->                3  2    1  0     (samples before the output; 0 = its own step)

Small stacks are drawn as dots and edges; large ones (e.g. 2 x (1 .. 512)) as a raster, one
row per level, shaded by the number of paths. The bottom panel counts the paths from each
input offset to the output and marks the holes (offsets no path reaches) in red.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .nn.receptive import gridding, layer_receptive_fields, repeating_group

# Above these sizes the diagram is a raster: dots and edges would merge into a grey smear.
_MAX_DOT_OFFSETS = 160
_MAX_EDGES = 6000
_RASTER_COLUMNS = 800


def level_paths(kernel_size: int | Sequence[int], dilations: Sequence[int]) -> list[list[int]]:
    """Paths from each offset at each level to one output: ``result[j][o]`` for level j
    (0 = the input, L = the output) and offset o; ``result[0]`` equals ``path_counts``.

    >>> level_paths(2, [1, 2])
    [[1, 1, 1, 1], [1, 0, 1], [1]]
    """
    dilations = list(dilations)
    layer_receptive_fields(kernel_size, dilations)  # validates, with the usual messages
    ks = [kernel_size] * len(dilations) if isinstance(kernel_size, int) else list(kernel_size)
    levels = [[1]]
    for k, d in zip(reversed(ks), reversed(dilations)):
        above = levels[0]
        below = [0] * (len(above) + (k - 1) * d)
        for o, c in enumerate(above):
            if c:
                for m in range(k):
                    below[o + m * d] += c
        levels.insert(0, below)
    return levels


def _describe(dilations: list[int]) -> str:
    group = repeating_group(dilations)
    repeats = len(dilations) // len(group)

    def short(rates: list[int]) -> str:
        if len(rates) > 8:
            return ", ".join(map(str, rates[:3])) + ", ..., " + str(rates[-1])
        return ", ".join(map(str, rates))

    return f"{repeats} x ({short(group)})" if repeats > 1 else short(dilations)


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ValueError("plots need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _check_path(path: Path) -> None:
    if not path.parent.is_dir():
        raise ValueError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, expected a picture file name")
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ValueError(f"{path}: the picture must be a .png (or .svg, .pdf) file")


def plot_receptive_field(
    kernel_size: int | Sequence[int],
    dilations: Sequence[int],
    path: str | Path,
    sample_rate: int | None = None,
    title: str | None = None,
) -> Path:
    """Draw the receptive field and gridding pattern of a stack of causal dilated convs.

    Writes one picture (PNG, or SVG/PDF by the suffix) to ``path`` and returns it: on top,
    the offsets that reach one output through each layer; below, the paths per input offset
    with the holes in red. ``sample_rate`` adds a millisecond scale; ``title`` names the stack
    (a recipe, a block) before its kernel and dilations. Raises ValueError for a
    bad stack, a missing folder or an unsupported suffix.
    """
    path = Path(path)
    dilations = list(dilations)
    levels = level_paths(kernel_size, dilations)  # validates the stack first
    _check_path(path)
    if sample_rate is not None and sample_rate < 1:
        raise ValueError(f"sample_rate must be >= 1, got {sample_rate}")
    report = gridding(kernel_size, dilations)
    rf, n_layers = report.receptive_field, len(dilations)
    ks = [kernel_size] * n_layers if isinstance(kernel_size, int) else list(kernel_size)
    edges = sum(sum(1 for c in levels[j + 1] if c) * ks[j] for j in range(n_layers))
    dots = rf <= _MAX_DOT_OFFSETS and edges <= _MAX_EDGES

    plt = _pyplot()
    from matplotlib.colors import LogNorm

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(9, 6.4), sharex=True, layout="constrained",
        gridspec_kw={"height_ratios": [max(2.2, min(4.0, 0.25 * (n_layers + 1))), 1.6]})
    x_of = (lambda o: -o)  # time runs left to right; the output sits at 0 on the right
    if dots:
        for j in range(n_layers):  # edges from level j + 1 down to level j
            d, k = dilations[j], ks[j]
            for o, c in enumerate(levels[j + 1]):
                if c:
                    for m in range(k):
                        top.plot([x_of(o), x_of(o + m * d)], [j + 1, j], color="0.75", lw=0.6,
                                 zorder=1)
        for j, counts in enumerate(levels):
            reached = [o for o, c in enumerate(counts) if c]
            top.scatter([x_of(o) for o in range(len(counts))], [j] * len(counts), s=6,
                        color="0.85", zorder=2)
            top.scatter([x_of(o) for o in reached], [j] * len(reached), s=18, color="tab:blue",
                        zorder=3)
        top.set_ylim(-0.6, n_layers + 0.6)
    else:
        # One column per bin of offsets, shaded by the most paths in the bin, so that a lone
        # reached offset on a sparse upper level stays visible at any width.
        starts = np.unique(np.linspace(0, rf, min(rf, _RASTER_COLUMNS) + 1).astype(int))[:-1]
        grid = np.zeros((n_layers + 1, len(starts)))
        for j, counts in enumerate(levels):
            row = np.zeros(rf)
            row[: len(counts)] = counts
            grid[j] = np.maximum.reduceat(row, starts)
        grid[grid == 0] = np.nan
        cmap = plt.get_cmap("viridis").with_extremes(bad="white")
        image = top.imshow(grid[:, ::-1], origin="lower", aspect="auto", cmap=cmap,
                           interpolation="nearest", extent=(-rf + 0.5, 0.5, -0.5, n_layers + 0.5),
                           norm=LogNorm(vmin=1, vmax=max(2.0, float(np.nanmax(grid)))))
        fig.colorbar(image, ax=[top, bottom], pad=0.01, fraction=0.04, aspect=30,
                     label="paths to the output")
        per = rf / len(starts)
        if per > 1:
            top.text(0.005, 0.98, f"one column = {per:.1f} offsets (most paths shown)",
                     transform=top.transAxes, va="top", fontsize=7, color="0.35")
    step = max(1, math.ceil((n_layers + 1) / 12))
    ticks = list(range(0, n_layers + 1, step))
    top.set_yticks(ticks)
    top.set_yticklabels(["input" if j == 0 else ("output" if j == n_layers else
                                                 f"{j} (d={dilations[j - 1]})") for j in ticks],
                        fontsize=8)
    top.set_ylabel("layer")
    top.set_title("input offsets that reach one output, layer by layer", fontsize=9)

    xs = [x_of(o) for o in range(rf)]
    paths = [float(c) for c in report.paths]
    positive = [p for p in paths if p > 0]
    if rf <= 400:
        bottom.bar(xs, paths, width=0.85, color="tab:blue")
    else:
        bottom.fill_between(xs, paths, step="mid", color="tab:blue", alpha=0.6, lw=0)
        bottom.plot(xs, paths, drawstyle="steps-mid", color="tab:blue", lw=0.6)
    if positive and max(positive) / min(positive) > 50:
        bottom.set_yscale("log")
        bottom.set_ylim(0.5, max(positive) * 2)
    else:
        bottom.set_ylim(0, max(positive) * 1.15 if positive else 1)
    if report.holes:
        floor = bottom.get_ylim()[0]
        bottom.scatter([x_of(o) for o in report.holes], [floor] * len(report.holes), marker="|",
                       s=120, color="red", clip_on=False, zorder=4,
                       label=f"holes ({len(report.holes)})")
        for o in report.holes:
            bottom.axvspan(x_of(o) - 0.5, x_of(o) + 0.5, color="red", alpha=0.15, lw=0)
            if dots:
                top.axvspan(x_of(o) - 0.5, x_of(o) + 0.5, color="red", alpha=0.08, lw=0)
        bottom.legend(loc="upper left", fontsize=8)
    bottom.set_ylabel("paths")
    bottom.set_xlabel("input offset (samples before the output; 0 = the output's own step)")
    bottom.set_xlim(-rf + 0.5 - 0.01 * rf, 0.5 + 0.01 * rf)
    if sample_rate:
        ms = bottom.secondary_xaxis("top", functions=(lambda x: 1000.0 * x / sample_rate,
                                                      lambda t: t * sample_rate / 1000.0))
        ms.set_xlabel("ms", fontsize=8)
        ms.tick_params(labelsize=7)

    k_text = str(kernel_size) if isinstance(kernel_size, int) else ",".join(map(str, ks))
    ms_text = f" = {1000.0 * rf / sample_rate:.2f} ms" if sample_rate else ""
    hdc = "HDC satisfied" if report.hdc_ok else "HDC not satisfied"
    stack = f"kernel {k_text}, dilations {_describe(dilations)}"
    fig.suptitle((f"{title}: {stack}" if title else stack) + "\n"
                 f"receptive field {rf} samples{ms_text}; coverage {report.coverage:.3f} "
                 f"({len(report.holes)} holes); paths {min(report.paths)}..{max(report.paths)}; "
                 f"{hdc}", fontsize=10)
    try:
        fig.savefig(path, dpi=100)
    except OSError as e:
        raise ValueError(f"{path}: cannot write the picture ({e.strerror or e})") from None
    finally:
        plt.close(fig)
    return path


def plot_losses(records: list[dict], path: Path, key: str = "bits") -> None:
    """Training and validation loss against step, as a PNG: records' ``train_<key>`` and
    ``val_<key>`` (bits: NLL in bits per sample; stft: the multi-resolution STFT loss)."""
    plt = _pyplot()
    train = [(r["step"], r[f"train_{key}"]) for r in records if f"train_{key}" in r]
    val = [(r["step"], r[f"val_{key}"]) for r in records if f"val_{key}" in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        ax.plot(*zip(*train), label="train", lw=1)
    if val:
        ax.plot(*zip(*val), "o-", label="validation", lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (bits per sample)" if key == "bits" else "multi-resolution STFT loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_spectrogram(wave: torch.Tensor | np.ndarray, sample_rate: int, path: Path,
                     title: str = "") -> None:
    """A log-magnitude spectrogram of a mono waveform, as a PNG."""
    plt = _pyplot()
    db, seconds = _spectrogram_db(wave, sample_rate)
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(db.max()) - 80,
              extent=(0, seconds, 0, sample_rate / 2000))
    ax.set_xlabel("seconds")
    ax.set_ylabel("kHz")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _spectrogram_db(wave: torch.Tensor | np.ndarray, sample_rate: int) -> tuple[torch.Tensor, float]:
    """(20 log10 |STFT| floored at -100 dB, (n_fft // 2 + 1, frames); seconds shown) of a mono
    waveform: Hann windows of 512 samples (1024 above 24 kHz), hop a quarter of that."""
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32)).reshape(-1)
    n_fft = 512 if sample_rate <= 24000 else 1024
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft, hop_length=n_fft // 4, window=torch.hann_window(n_fft),
                      return_complex=True).abs()  # (n_fft // 2 + 1, frames)
    return 20 * torch.log10(spec.clamp(min=1e-5)), x.numel() / sample_rate


def plot_comparison(waves: dict[str, torch.Tensor | np.ndarray], sample_rate: int, path: Path,
                    title: str = "") -> None:
    """Spectrograms of several waveforms (e.g. original / wavedil / Griffin-Lim), one panel
    each, stacked, on one colour scale: the loudest panel's peak down to 80 dB below it."""
    plt = _pyplot()
    panels = {name: _spectrogram_db(w, sample_rate) for name, w in waves.items()}
    top = max(float(db.max()) for db, _ in panels.values())
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 * len(panels)), sharex=True,
                             squeeze=False)
    for ax, (name, (db, seconds)) in zip(axes[:, 0], panels.items()):
        image = ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=top - 80,
                          vmax=top, extent=(0, seconds, 0, sample_rate / 2000))
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="dB", shrink=0.9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=100)
    plt.close(fig)
