"""From a checkpoint to audio files: the library side of ``wavedil generate`` and ``wavedil info``."""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

from .dsp.audio import load_audio
from .checkpoint import LoadedModel, load_model
from .wavenet.engines import resolve_engine, resolve_kernel
from .wavenet.engines.choice import CHOICES as WEIGHT_CHOICES
from .wavenet.engines.choice import PLANS
from .dsp.f0 import f0_features
from .families import stream
from .families import family_of, validation_key
from .dsp.mel import feature_settings
from .plots import plot_spectrogram
from .dsp.refine import mel_refine


@dataclass
class Synthesis:
    """What ``synthesize`` wrote and how fast."""

    files: list[str]
    samples: int
    seconds: float
    samples_per_second: float
    real_time_factor: float
    """Audio seconds produced per second of compute (all streams)."""
    engine: str
    interrupted: bool = False
    plots: list[str] = field(default_factory=list)
    kernel: str = "none"
    """The numba engine's matrix kernel (``native`` status); "none" for the torch engine."""
    plan: str = ""
    """The numba engine's configuration and how the planner chose it (``Decision.describe``);
    "" for the other engines."""


def mel_from_wav(path: str | Path, loaded: LoadedModel) -> torch.Tensor:
    """Copy synthesis input: the model's log-mel frames of an audio file, (n_mels, frames)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such audio file")
    try:
        wave, _ = load_audio(path, loaded.sample_rate)
    except Exception as e:
        raise ValueError(f"{path}: not readable audio ({str(e).splitlines()[0][:120]})") from None
    if not torch.isfinite(wave).all():
        raise ValueError(f"{path}: holds NaN or infinite samples")
    if wave.numel() == 0 or float(wave.abs().max()) == 0.0:
        raise ValueError(f"{path}: silent or empty")
    mel = loaded.features(wave)
    if mel.shape[-1] == 0:
        raise ValueError(f"{path}: shorter than one frame ({loaded.data.hop_length} samples)")
    return mel


def load_mel(path: str | Path, loaded: LoadedModel, f0: str | Path | None = None) -> torch.Tensor:
    """Frames from a .npy file, (C, frames) or (frames, C), C = the model's local_channels.

    For a model with f0 input (``f0_input``) the file may hold the mel bands alone
    (``mel_channels`` rows): f0 then comes from ``f0`` ((frames,) Hz per frame, 0 = unvoiced) or,
    without it, from ``FILE.f0.npy`` beside the file, and becomes the log-f0 and voicing rows.
    """
    path = Path(path)
    arr = _read_npy(path)
    c = loaded.config
    if f0 is not None and not c.f0_input:
        raise ValueError("--f0 applies to a model with f0 input (model.f0_input); this one has none")
    n, m = c.local_channels, c.mel_channels
    rows = (n, m) if c.f0_input else (n,)
    if arr.ndim != 2 or not set(rows) & set(arr.shape):
        want = f"(n_mels={m} or {n} with f0, frames)" if c.f0_input else f"(n_mels={n}, frames)"
        raise ValueError(f"{path}: expected a {want} array, got shape {arr.shape}")
    # channels first is the documented layout: a row count that fits wins over a column count
    channels = next((k for k in rows if arr.shape[0] == k), None)
    if channels is None:
        channels = next(k for k in rows if arr.shape[1] == k)
        arr = arr.T
    mel = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))  # (channels, frames)
    if channels == n:
        if f0 is not None:
            raise ValueError(f"{path}: already holds the f0 pair ({n} rows = {m} mel bands + 2); "
                             f"--f0 does not apply")
        return mel
    beside = path.with_suffix(".f0.npy")
    source = Path(f0) if f0 is not None else beside
    if f0 is None and not beside.is_file():
        raise ValueError(f"{path}: holds {m} mel bands without f0, and this model takes f0 "
                         f"(model.f0_input): give --f0 F0.npy or put {beside.name} beside it")
    hz = _read_npy(source)
    if hz.ndim != 1:
        raise ValueError(f"{source}: expected f0 in Hz per frame, shape (frames,), got shape "
                         f"{hz.shape}")
    if hz.shape[0] != mel.shape[1]:
        raise ValueError(f"{source}: {hz.shape[0]} frames of f0, but {path} has {mel.shape[1]} "
                         f"frames")
    hz = hz.astype(np.float32)
    if not np.isfinite(hz).all() or (hz < 0).any():
        raise ValueError(f"{source}: f0 must be finite and >= 0 Hz (0 = unvoiced)")
    return torch.cat([mel, f0_features(hz, hz > 0)])  # (mel_channels + 2, frames)


def _read_npy(path: Path) -> np.ndarray:
    """A .npy file of finite real numbers, or a ValueError with the plain reason it is not."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception:  # numpy's messages are about its internals (allow_pickle, header bytes)
        raise ValueError(f"{path}: {_npy_problem(path)}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf":
        kind = ("several arrays (.npz)" if not isinstance(arr, np.ndarray) else
                {"U": "text", "S": "bytes", "c": "complex numbers"}.get(arr.dtype.kind,
                                                                      f"{arr.dtype} values"))
        raise ValueError(f"{path}: holds {kind}, not an array of real numbers")
    if not np.isfinite(arr).all():
        raise ValueError(f"{path}: holds NaN or infinite values")
    return arr


def _npy_problem(path: Path) -> str:
    """Why numpy cannot load a .npy file, in words."""
    with open(path, "rb") as f:
        head = f.read(6)
        if not head:
            return "empty file (0 bytes)"
        if head != b"\x93NUMPY":
            return "not a NumPy .npy file (write frames with numpy.save)"
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            _, _, dtype = reader(f)
        except Exception:
            return "a damaged .npy file (its header cannot be read)"
    if dtype.hasobject:
        return "holds Python objects, not an array of numbers"
    return "a truncated or damaged .npy file"


def synthesize(
    checkpoint: str | Path,
    out: str | Path,
    seconds: float | None = None,
    samples: int | None = None,
    batch: int | None = None,
    speaker: int | None = None,
    mel: str | Path | None = None,
    from_wav: str | Path | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    engine: str | None = None,
    device: str = "cpu",
    plot: bool = False,
    force: bool = False,
    progress: Callable[[int, int, float], None] | None = None,
    kernel: str = "auto",
    f0: str | Path | None = None,
    refine: int | None = None,
    weights: str | None = None,
    voiced_temperature: float | None = None,
    plan: str = "auto",
) -> Synthesis:
    """Generate audio from a checkpoint and write one wav per stream.

    Defaults come from the checkpoint's ``generate`` settings. With local conditioning the length
    follows the frames (``mel`` or ``from_wav``) unless ``seconds``/``samples`` ask for less.
    ``progress(done, total, samples_per_second, real_time_factor)`` is called after each chunk. Ctrl-C stops
    early and still writes what was generated. ``kernel`` is the numba engine's matrix kernel:
    auto, c or numba. ``f0`` (with ``mel``, for a model with f0 input): f0 in Hz per frame (.npy)
    when the mel file holds the mel bands alone (see :func:`load_mel`). ``refine``: passes of
    mel-consistent refinement (:func:`wavedil.dsp.refine.mel_refine`, default the checkpoint's
    ``generate.refine``) over the whole output of a mel-conditioned model, which is then held
    in memory until the passes are done. ``weights``: an autoregressive model's engine weight
    format, fp32, bf16 or bf16-dot, or fast (the fastest of them here; default the checkpoint's
    ``generate.weights``). ``plan``: how the numba engine's configuration is chosen
    (``wavedil.wavenet.engines.planner``: auto, measure, cached or fixed).
    ``voiced_temperature``: the temperature of voiced samples after their run's first period
    (default the checkpoint's ``generate.voiced_temperature``; see
    :class:`wavedil.wavenet.generate.VoicedTemperature`).
    """
    loaded = load_model(checkpoint, device)
    model, g, rate = loaded.model, loaded.generate, loaded.sample_rate
    family = family_of(model)
    if family.stream is None:
        raise ValueError(f"{checkpoint}: a model of kind {family.kind} processes an input "
                         "signal; use wavedil process CHECKPOINT IN.wav -o OUT.wav")
    batch = g.batch_size if batch is None else batch  # 0 is a mistake, not the default
    temperature = g.temperature if temperature is None else temperature
    voiced_temperature = (g.voiced_temperature if voiced_temperature is None
                          else voiced_temperature)
    seed = g.seed if seed is None else seed
    engine = engine or g.engine
    if weights is not None and weights not in WEIGHT_CHOICES:
        raise ValueError(f"--weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    if plan not in PLANS:
        raise ValueError(f"--plan must be one of {', '.join(PLANS)}, got {plan!r}")
    if weights not in (None, "fp32") and not family.autoregressive:
        raise ValueError(f"--weights {weights} applies to autoregressive models; this vocoder "
                         "synthesises in one pass")
    weights = (weights or g.weights) if family.autoregressive else "fp32"
    if family.autoregressive:
        used = resolve_engine(engine, device)
        chosen = resolve_kernel(kernel, used)
    else:  # a vocoder of frames: one pass, no sampling engine
        used, chosen = "one-pass", None
    if batch < 1:
        raise ValueError(f"--batch must be >= 1, got {batch}")
    if refine is not None and refine < 0:
        raise ValueError(f"--refine must be >= 0 (passes), got {refine}")
    if refine and not model.config.local_channels:
        raise ValueError("--refine needs a mel-conditioned model (it makes the output's mel "
                         "frames the input's)")
    refine = (g.refine if refine is None else refine) if model.config.local_channels else 0
    if seconds is not None and samples is not None:
        raise ValueError("give --seconds or --samples, not both")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"--seconds must be > 0, got {seconds}")
    if samples is not None and samples < 1:
        raise ValueError(f"--samples must be >= 1, got {samples}")
    n = samples if samples is not None else int(round((seconds or g.seconds) * rate))
    local = None
    if model.config.local_channels:
        if (mel is None) == (from_wav is None):
            raise ValueError("this model is mel-conditioned: give exactly one of --mel FILE.npy "
                             "or --from-wav IN.wav")
        if f0 is not None and mel is None:
            raise ValueError("--f0 goes with --mel (--from-wav estimates f0 from the audio)")
        local = load_mel(mel, loaded, f0) if mel is not None else mel_from_wav(from_wav, loaded)
        available = local.shape[-1] * loaded.data.hop_length
        n = available if seconds is None and samples is None else min(n, available)
        local = local[None].to(device)
    elif mel is not None or from_wav is not None or f0 is not None:
        raise ValueError("this model has no local conditioning: --mel/--from-wav/--f0 do not apply")
    if model.config.speakers:
        if speaker is None:
            raise ValueError(f"this model needs --speaker in [0, {model.config.speakers})")
    elif speaker is not None:
        raise ValueError("this model has no speakers: --speaker does not apply")
    out = Path(out)
    if out.suffix.lower() not in (".wav", ".flac"):
        raise ValueError(f"{out}: the output must end in .wav or .flac")
    paths = [out] if batch == 1 else [out.with_name(f"{out.stem}-{i}{out.suffix}") for i in range(batch)]
    for p in paths:
        if p.exists() and not force:
            raise ValueError(f"{p} exists; pass --force to overwrite")

    decision = plan
    if used == "numba":  # measured (or read) before the clock starts: not generation time
        from .wavenet.engines.planner import decide

        decision = decide(model, batch, weights, plan, chosen, model.speaker_vector(speaker, batch))
    gen = torch.Generator(device=device).manual_seed(seed)
    done, interrupted = 0, False
    start = time.perf_counter()
    chunks = stream(model, n, batch, local=local, speaker=speaker, temperature=temperature,
                    voiced_temperature=voiced_temperature, generator=gen, engine=engine,
                    kernel=chosen, weights=weights, plan=decision)
    try:  # stream checks its arguments when asked for the first chunk: no file before they pass
        first = [next(chunks)]
    except StopIteration:
        first = []
    except KeyboardInterrupt:
        first, interrupted = [], True
    def report(samples: int) -> None:
        if progress is not None:
            sps = samples * batch / max(time.perf_counter() - start, 1e-9)
            progress(samples, n, sps, sps / rate)

    pieces = itertools.chain(first, chunks if not interrupted else [])
    if refine:  # the passes read every frame: the whole output first, then the files
        parts, held = [], 0
        try:
            for chunk in pieces:
                parts.append(chunk.detach().cpu().float())
                held += chunk.shape[-1]
                report(held)
        except KeyboardInterrupt:
            interrupted = True
        whole = torch.cat(parts, -1) if parts else torch.zeros(batch, 0)
        bands = local[:, :loaded.data.n_mels].cpu().float().expand(batch, -1, -1)
        pieces = iter([mel_refine(whole, bands, loaded.data.log_mel(), refine, g.refine_momentum)])
    # chunks go straight to the files (refined output: all at once): memory stays flat however
    # long the audio, and an interruption leaves valid files holding everything generated so far
    out.parent.mkdir(parents=True, exist_ok=True)
    writers = [sf.SoundFile(str(p), "w", samplerate=rate, channels=1, subtype="PCM_16") for p in paths]
    kept = [[] for _ in paths] if plot else None
    try:
        for chunk in pieces:
            chunk = chunk.detach().cpu().float().clamp(-1.0, 1.0).numpy()
            for i, w in enumerate(writers):
                w.write(chunk[i])
                if kept is not None:
                    kept[i].append(chunk[i])
            done += chunk.shape[-1]
            report(done)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for w in writers:
            w.close()
    elapsed = max(time.perf_counter() - start, 1e-9)
    plots = []
    if kept is not None:
        for p, parts in zip(paths, kept):
            png = p.with_suffix(".png")
            wave = np.concatenate(parts) if parts else np.zeros(0, np.float32)
            plot_spectrogram(wave, rate, png, f"{p.name}: {wave.size / rate:.2f} s")
            plots.append(str(png))
    sps = done * batch / elapsed
    return Synthesis([str(p) for p in paths], done, done / rate, sps, sps / rate, used,
                     interrupted, plots, chosen.status if chosen is not None else "none",
                     decision.describe() if used == "numba" else "")


def tune(checkpoint: str | Path, batches: list[int], formats: list[str] | None = None,
         blocks: list[int] | None = None) -> list[dict]:
    """Measure a checkpoint's compiled engine's configurations now and store the choices
    (``wavedil.native.plans``): a WaveNet's at each batch size and weight format (default its
    ``generate.weights``, and fast), an effect's route at each block size (default 1); one dict
    per choice, its ``plan`` one line."""
    loaded = load_model(checkpoint, "cpu")
    family = family_of(loaded.model)
    if family.tune is None:
        raise ValueError(f"{checkpoint}: a model of kind {family.kind} has no compiled engine "
                         "to tune (it synthesises in one pass)")
    for name, values in (("--batch", batches), ("--block", blocks or [])):
        for v in values:
            if v < 1:
                raise ValueError(f"{name} must be >= 1, got {v}")
    try:
        tune_family = family.hook("tune")
    except ImportError as e:  # the compiled engines need numba
        raise ValueError(f"the compiled engine is unavailable here ({e}): nothing to tune") from e
    return tune_family(loaded, batches, formats, blocks)


def describe(checkpoint: str | Path) -> dict:
    """What ``wavedil info`` prints: config, size, receptive field, training state."""
    m = load_model(checkpoint)
    return {
        "checkpoint": str(checkpoint),
        "name": m.name,
        "step": m.step,
        "parameters": sum(p.numel() for p in m.model.parameters()),
        "receptive_field": m.model.receptive_field,
        "receptive_field_ms": 1000.0 * m.model.receptive_field / m.sample_rate,
        "sample_rate": m.sample_rate,
        **{f"{name}_val_{validation_key(m.config)}": value
           for name, value in (("best", m.best_val), ("last", m.last_val),
                               ("untrained", m.untrained_val))},
        "speakers": m.speakers,
        "model": m.config.to_dict(),
        "features": feature_settings(m.data),
    }


def write_features(inp: str | Path, out: str | Path, checkpoint: str | Path,
                   force: bool = False) -> tuple[int, int]:
    """The frames a checkpoint reads for ``generate --mel``, computed from an audio file as
    ``generate --from-wav`` computes them (resampled, normalised, every mel setting of the
    checkpoint, the f0 pair where the model takes one), saved as a (channels, frames) float32
    .npy file (atomically; an existing file needs ``force``). Returns the shape."""
    out = Path(out)
    if out.suffix != ".npy":
        raise ValueError(f"{out}: the output must be a .npy file")
    if out.exists() and not force:
        raise ValueError(f"{out} exists (use --force to overwrite)")
    loaded = load_model(checkpoint)
    if not hasattr(loaded.data, "log_mel"):
        raise ValueError(f"{checkpoint}: a {loaded.config.kind} model reads no mel frames")
    if not loaded.config.local_channels:
        raise ValueError(f"{checkpoint}: this model has no local (mel) conditioning")
    frames = mel_from_wav(inp, loaded).numpy().astype(np.float32)  # (channels, frames)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp.npy")
    os.close(fd)
    try:
        np.save(tmp, frames)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return frames.shape
