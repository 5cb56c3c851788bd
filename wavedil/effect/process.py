"""Running an effect model on audio: the library side of ``wavedil process``.

The input is streamed in blocks of ``block`` samples, as a plugin's audio callback would, by
the compiled effect engine (:mod:`wavedil.effect.engine`) or by
:meth:`EffectNet.stream`, with the state held here; the joined blocks equal the full
forward (tested for every block size). A file at another rate is resampled to the model's and
the output back to the file's. The output is written as 32-bit float WAV (an effect's output
may exceed full scale, and clipping it would change what the model made), to a temporary file
renamed over the target, so a failure leaves nothing half-written.

A model comes from a wavedil checkpoint (model.kind effect) or a Neural Amp Modeler ``.nam``
file (``wavedil.checkpoint.load_effect``).
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.nn import functional as F

from .model import EffectNet, with_tanh


@dataclass
class ProcessResult:
    """What :func:`process_file` did."""

    out: Path
    samples: int
    """Input samples processed (at the file's rate)."""
    sample_rate: int
    """The file's rate (and the output's)."""
    block: int
    seconds: float
    """Wall-clock seconds of the model's processing (reading, writing and setting up the
    engine excluded)."""
    engine: str = ""
    """The engine that played it: compiled or torch."""
    why_torch: str = ""
    """Why the torch engine played a model that auto would have given the compiled engine
    (:meth:`EffectEngine.unsupported <wavedil.effect.engine.EffectEngine.unsupported>`; "" where
    it did not)."""

    @property
    def real_time_factor(self) -> float:
        """Seconds of audio per second of processing."""
        return self.samples / self.sample_rate / max(self.seconds, 1e-9)


ENGINES = ("auto", "compiled", "torch")
"""``process``'s engines: compiled (:class:`~wavedil.effect.engine.EffectEngine`,
numba and the C matrix kernel), torch (:meth:`EffectNet.stream`), auto (compiled where numba
imports, else torch)."""


def resolve_engine(engine: str) -> str:
    """compiled or torch for ``engine`` (auto, compiled or torch)."""
    if engine not in ENGINES:
        raise ValueError(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if engine == "torch":
        return "torch"
    try:
        from . import engine as _  # noqa: F401  (the compiled engine, whose numba must import)
    except ImportError:
        pass
    else:
        return "compiled"
    if engine == "compiled":
        raise ValueError("--engine compiled is not available here: numba does not import")
    return "torch"


class Processor:
    """An effect model ready to stream audio in blocks of ``block``: the engine built, its
    kernels compiled or loaded and the state warmed (silence), so that calling it times the
    processing alone (``seconds``).

    The compiled engine runs on one thread, as a plugin's audio thread does; the torch engine
    on ``threads`` CPU threads (0: torch's default; one is the default because an effect's
    layers are narrow, 2 to 16 channels, and splitting such small operations over threads
    costs more than it gains). Both give the model's forward to float precision, and a silent
    input (or the silence after a signal has decayed) an exactly constant output at any block
    size: the compiled engine's arithmetic does not depend on the block, and the torch engine
    warms up and ends in whole blocks, each run over whole vectors (:meth:`EffectNet.stream`).

    ``tanh`` (:data:`wavedil.effect.model.TANH`): model plays each layer as the model names it; fast
    plays tanh layers with NAM's fast tanh, as NAM's plugin does, so that the output is the
    plugin's; exact plays fast_tanh layers with tanh (:func:`wavedil.effect.model.with_tanh`)."""

    def __init__(self, model: EffectNet, block: int = 64, controls: list[float] | None = None,
                 threads: int = 1, engine: str = "auto", tanh: str = "model") -> None:
        if block < 1:
            raise ValueError(f"--block must be >= 1, got {block}")
        if threads < 0:
            raise ValueError(f"--threads must be >= 0, got {threads}")
        model = with_tanh(model, tanh)
        self.model, self.block, self.threads = model, block, threads
        self.knobs = _controls(model, controls)
        self.engine = resolve_engine(engine)
        self.why_torch = ""
        """Why the torch engine plays the model where auto would have chosen the compiled one
        ("" otherwise): it is an LSTM, has a condition DSP or uses NAM's newer layers."""
        if self.engine == "compiled":
            from .engine import EffectEngine

            why = EffectEngine.unsupported(model)
            if why and engine == "compiled":
                raise ValueError(f"--engine compiled cannot run this model: {why} (use --engine "
                                 "torch or auto)")
            self.engine, self.why_torch = ("torch", why) if why else ("compiled", "")
        self.seconds = 0.0
        """Wall-clock seconds of the last call's streaming."""
        if self.engine == "compiled":
            from .engine import EffectEngine

            self._compiled = EffectEngine(model)
            self._state = self._compiled.init_state(1, self.knobs)  # compiles or loads kernels

    @torch.no_grad()
    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        """(T,) input at the model's rate -> (T,) output, from the state silence leaves (the
        processor can be called again: each call starts afresh)."""
        x = wave.reshape(-1).float()
        if self.engine == "compiled":
            state = self._compiled.init_state(1, self.knobs)
            start = time.perf_counter()
            y = torch.from_numpy(self._compiled.stream(x.numpy(), state, block=self.block))
            self.seconds = time.perf_counter() - start
            return y
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            state = self.model.init_state(1, controls=self.knobs, block=self.block)
            start = time.perf_counter()
            y = _stream(self.model, x, self.block, self.knobs, state)
            self.seconds = time.perf_counter() - start
            return y
        finally:
            torch.set_num_threads(before)


def process(model: EffectNet, wave: torch.Tensor, block: int = 64,
            controls: list[float] | None = None, threads: int = 1,
            engine: str = "auto", tanh: str = "model") -> torch.Tensor:
    """(T,) input at the model's rate -> (T,) output, streamed in blocks of ``block`` (see
    :class:`Processor` for the engines, threads and tanh)."""
    return Processor(model, block, controls, threads, engine, tanh)(wave)


def _controls(model: EffectNet, controls: list[float] | None) -> torch.Tensor | None:
    """--control values as (1, P), checked against the model's count."""
    c = model.config
    if not (c.controls or controls):
        return None
    knobs = torch.tensor([list(controls or [])], dtype=torch.float32)
    if knobs.shape[1] != c.controls:
        raise ValueError(f"the model takes {c.controls} control values, got "
                         f"{knobs.shape[1]} (--control)")
    return knobs


def _stream(model: EffectNet, wave: torch.Tensor, block: int, knobs: torch.Tensor | None,
            state) -> torch.Tensor:
    """(T,) -> (T,) in blocks of ``block``, the last one padded with silence to a whole block
    (its extra output dropped): torch rounds alike within blocks of one length, so with a
    state warmed in the same blocks a silent input gives an exactly constant output."""
    x = wave.reshape(1, -1).float()
    T = x.shape[1]
    x = F.pad(x, (0, -T % block))  # (1, whole blocks)
    out = [model.stream(x[:, i:i + block], state, knobs)[0] for i in range(0, T, block)]
    return torch.cat(out, dim=1)[0, :T] if out else x.new_zeros(0)


def process_file(model: EffectNet, inp: str | Path, out: str | Path, block: int = 64,
                 controls: list[float] | None = None, force: bool = False,
                 threads: int = 1, engine: str = "auto", tanh: str = "model") -> ProcessResult:
    """Process an audio file (mixed to mono) into ``out`` (32-bit float WAV at its rate)."""
    inp, out = Path(inp), Path(out)
    if block < 1:
        raise ValueError(f"--block must be >= 1, got {block}")
    resolve_engine(engine)
    model = with_tanh(model, tanh)  # a bad choice fails before anything is read
    if not inp.is_file():
        raise ValueError(f"{inp}: no such file")
    if out.exists() and not force:
        raise ValueError(f"{out} exists (use --force to overwrite)")
    if out.resolve() == inp.resolve():
        raise ValueError(f"{out}: the output would overwrite the input")
    try:
        data, rate = sf.read(str(inp), dtype="float32", always_2d=True)
    except Exception as e:  # soundfile's errors for unreadable files
        raise ValueError(f"{inp}: not readable audio ({str(e).splitlines()[0][:120]})") from None
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if wave.numel() == 0:
        raise ValueError(f"{inp}: holds no samples")
    if not torch.isfinite(wave).all():
        raise ValueError(f"{inp}: holds NaN or infinite samples")
    model_rate = model.config.sample_rate
    if rate != model_rate:
        import torchaudio.functional as AF

        wave = AF.resample(wave, rate, model_rate)
    run = Processor(model, block, controls, threads, engine)
    y = run(wave)
    seconds = run.seconds
    if rate != model_rate:
        import torchaudio.functional as AF

        y = AF.resample(y, model_rate, rate)[:data.shape[0]]
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp.wav")
    os.close(fd)
    try:
        sf.write(tmp, y.numpy(), rate, subtype="FLOAT", format="WAV")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ProcessResult(out, data.shape[0], rate, block, seconds, run.engine, run.why_torch)


def tune(loaded, batches: list[int], formats: list[str] | None = None,
         blocks: list[int] | None = None) -> list[dict]:
    """``wavedil tune`` for an effect (``loaded``: ``checkpoint.load_model``'s): measure and
    store the route at each block size (default 1); one dict per block: block, route, how,
    ``plan`` (one line). ``formats`` apply to WaveNets: an error; ``batches`` are ignored
    (the engine runs a host's one stream)."""
    if formats:
        raise ValueError("--weights applies to WaveNets; an effect is tuned per --block")
    from .engine import EffectEngine
    from .planner import decide

    engine = EffectEngine(loaded.model)
    out = []
    for block in blocks or [1]:
        route, how = decide(engine, block, "measure")
        out.append({"block": block, "route": route, "how": how,
                    "plan": f"block {block}: route {route}, {how}"})
    return out


__all__ = ["ENGINES", "ProcessResult", "Processor", "process", "process_file",
           "resolve_engine", "tune"]

