"""What a run leaves to read: metrics (JSONL), and with the ``tensorboard`` extra
(``pip install 'wavedil[tensorboard]'``) the same scalars, the generated samples as audio and
their spectrogram pictures in ``tensorboard/`` (``tensorboard --logdir runs/NAME``). The
pictures (loss curve, spectrograms) are drawn by ``wavedil.plots``."""

from __future__ import annotations

import json
import time
from pathlib import Path


class Metrics:
    """Appends one JSON object per line to ``metrics.jsonl``; mirrors scalars, sample audio
    and pictures to TensorBoard when ``torch.utils.tensorboard`` can be imported."""

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

    def sample(self, step: int, wave, rate: int, picture: Path | None = None) -> None:
        """A generated sample (a (T,) tensor in [-1, 1]) and its spectrogram picture (a PNG
        file), to TensorBoard only (the run folder keeps the files themselves)."""
        if self.tb is None:
            return
        self.tb.add_audio("sample", wave.detach().float().cpu().reshape(1, -1), step, rate)
        if picture is not None and picture.is_file():
            import matplotlib.image as mpimg

            image = mpimg.imread(str(picture))[..., :3]  # (H, W, 3) floats in [0, 1]
            self.tb.add_image("sample_spectrogram", image, step, dataformats="HWC")
        self.tb.flush()

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()

