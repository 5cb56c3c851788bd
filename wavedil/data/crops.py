"""Crops of prepared clips as torch Datasets: random ones to train on, fixed ones to validate.

A crop is ``length`` = receptive_field + crop samples rounded up to whole frames, and starts
on a frame boundary, so mel frame j of a crop covers its samples [j*hop, (j+1)*hop):

    clip                              |=============================================|
    crop at s >= 0                            |<------ history ---->|<--- crop --->|
    crop at s = -left_pad   |<silence>|<-history->|<--- crop --->|
                            s         0 (the clip's first sample)

The loss reads the last ``crop`` samples (those with a full receptive field behind them).

A crop may begin up to ``left_pad`` samples before its clip, in silence, so onsets are
learnt from the silent history that generation also starts from, while the ``crop`` samples
that carry loss stay audio. A clip shorter than a crop (but as long as the receptive field)
has one start, ending the crop. See :meth:`PreparedData.crop`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .dataset import PreparedData


class RandomCrops(Dataset):
    """``epoch_size`` crops drawn uniformly over every (clip, frame-aligned start) pair, so a
    clip is drawn in proportion to its length, except a share ``data.config.onset_share`` of
    them, each at the first start of a clip drawn uniformly (its onset after silence);
    ``seed`` defaults to the data config's.

    Item i of epoch e depends only on (seed, e, i): the same with any number of DataLoader
    workers, in any order. Call :meth:`set_epoch` to draw new crops.
    """

    def __init__(self, data: PreparedData, clips: list[int], epoch_size: int | None = None,
                 seed: int | None = None) -> None:
        if not clips:
            raise ValueError("RandomCrops: no clips to crop")
        seed = data.config.seed if seed is None else seed
        self.data, self.clips, self.seed, self.epoch = data, list(clips), seed, 0
        self.onset_share = float(getattr(data.config, "onset_share", 0.0))
        """Share of crops at a clip's first start (paired data has no such setting: 0)."""
        hop = data.hop_length
        self.lows = np.array([data.start_range(c)[0] for c in self.clips], dtype=np.int64)
        counts = np.array([(hi - lo) // hop + 1 for lo, hi in map(data.start_range, self.clips)],
                          dtype=np.int64)
        self.cumulative = np.cumsum(counts)  # (clips,) starts up to and including each clip
        if epoch_size is None:  # about one pass over the training audio
            total = sum(data.clip_length(c) for c in self.clips)
            epoch_size = max(1, total // data.config.crop)
        if epoch_size < 1:
            raise ValueError(f"RandomCrops: epoch_size must be >= 1, got {epoch_size}")
        self.epoch_size = int(epoch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.epoch_size

    def position(self, index: int) -> tuple[int, int]:
        """(clip, start) of item ``index`` in the current epoch."""
        if not 0 <= index < self.epoch_size:
            raise IndexError(f"RandomCrops: index {index} out of range [0, {self.epoch_size})")
        rng = np.random.default_rng([self.seed, self.epoch, index])
        if self.onset_share and rng.random() < self.onset_share:
            k = int(rng.integers(len(self.clips)))
            return self.clips[k], int(self.lows[k])
        r = int(rng.integers(int(self.cumulative[-1])))
        k = int(np.searchsorted(self.cumulative, r, side="right"))
        before = int(self.cumulative[k - 1]) if k else 0
        return self.clips[k], int(self.lows[k]) + (r - before) * self.data.hop_length

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.data.crop(*self.position(index))


class FixedCrops(Dataset):
    """``per_clip`` crops of each clip at evenly spaced starts, the first at the clip's first
    start (its onset, after silence): identical on every run, for validation."""

    def __init__(self, data: PreparedData, clips: list[int], per_clip: int = 1) -> None:
        if per_clip < 1:
            raise ValueError(f"FixedCrops: per_clip must be >= 1, got {per_clip}")
        self.data = data
        hop = data.hop_length
        self.positions: list[tuple[int, int]] = []
        for clip in clips:
            lo, hi = data.start_range(clip)
            steps = (hi - lo) // hop
            picks = sorted({round(j * steps / (per_clip - 1)) for j in range(per_clip)}
                           if per_clip > 1 else {0})
            self.positions += [(clip, lo + s * hop) for s in picks]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.data.crop(*self.positions[index])
