"""Export a WaveNet to TorchScript or ONNX, for inference without wavedil (``wavedil export``
finds this through the WaveNet's family record).

The export is a folder with one file per function and a manifest:

    model.<ext>     x (B, T) [, local (B, F, N)] [, speaker (B,)]  ->  out (B, out, T)
    step.<ext>      x (B,), ring (R, B, C), t () [, cond (B, Cc)] [, speaker (B,)]
                      ->  out (B, out), new_ring (R, B, C)
    upsample.<ext>  local (B, F, N)  ->  cond (B, Cc, N * hop)      (mel-conditioned models only)
    export.json     every input and output: name, shape, dtype; the config; the state layout

``model`` is the full-sequence forward (``WaveNet.forward``): the output at t describes
sample t + 1. ``out`` holds the head's raw parameters (mu-law logits, or mixture logits,
means and log scales); sampling is the caller's.

``step`` advances one sample; it is ``wavedil.wavenet.plan.step``, the step every generation
engine runs. Its state is explicit: one time-major ring, passed in and returned, never hidden
in the module. Layer l keeps its last P_l = (k - 1) d_l inputs in rows o_l .. o_l + P_l - 1
(``offsets`` and ``lengths`` in export.json), the input of time s in row o_l + (s mod P_l)
(a diagram in ``wavedil/wavenet/plan.py``). Start from zeros (silence before the first
sample) with t = 0 and feed each returned ring back with t + 1; layer l's rows, as
(B, C, P_l), equal ``WaveNet.step``'s ring buffers at every step. ``cond`` is column t of
``upsample``'s output; ``speaker`` holds ids. A model with kernel size 1 keeps no state, and
its step has no ring.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from .plan import WaveNetState, embed, local_biases, make_plan, static_biases, step
from .model import WaveNet, WaveNetConfig

TORCH_FORMATS = {"torchscript": ".pt", "onnx": ".onnx"}
ONNX_OPSET = 18


def _resolved(model: WaveNet) -> WaveNet:
    """A CPU float32 copy in eval mode with weight norm folded into plain weights.

    Built afresh without weight norm: removing a parametrization from a deep copy would
    delete the property from the class that the copy shares with ``model``.
    """
    weights = model.state_dict()
    for name, module in model.named_modules():
        if parametrize.is_parametrized(module):
            for tensor in module.parametrizations:
                prefix = f"{name}.parametrizations.{tensor}."
                weights = {k: v for k, v in weights.items() if not k.startswith(prefix)}
                weights[f"{name}.{tensor}"] = getattr(module, tensor).detach()
    config = WaveNetConfig.from_dict({**model.config.to_dict(), "weight_norm": False})
    plain = WaveNet(config)
    plain.load_state_dict(weights)
    for p in plain.parameters():
        p.requires_grad_(False)
    return plain.float().eval()


def _embed(model: WaveNet, x: torch.Tensor) -> torch.Tensor:
    """x (B, T) -> (B, C, T), without the value checks that a trace cannot keep."""
    if model.config.input_kind == "classes":
        return model.embed(x).transpose(1, 2)
    return model.embed(x.unsqueeze(1))


class SequenceFunction(nn.Module):
    """``WaveNet.forward`` with positional inputs: (x[, local][, speaker]) -> (B, out, T)."""

    def __init__(self, model: WaveNet) -> None:
        super().__init__()
        self.model = model
        self.has_local = model.conditioner is not None
        self.has_speaker = model.speaker_embed is not None

    def forward(self, x: torch.Tensor, *conditioning: torch.Tensor) -> torch.Tensor:
        m = self.model
        h = _embed(m, x)  # (B, C, T)
        cond = m.conditioner(conditioning[0])[..., : x.shape[-1]] if self.has_local else None
        g = m.speaker_embed(conditioning[-1]) if self.has_speaker else None
        skips = 0
        for block in m.blocks:
            h, s = block(h, cond, g)
            skips = skips + s
        return m._output(skips)


class StepFunction(nn.Module):
    """One sample with explicit ring state (see the module docstring), through
    ``wavedil.wavenet.plan.step``: (x (B,)[, ring (R, B, C)], t ()[, cond (B, Cc)]
    [, speaker (B,)]) -> (out (B, out)[, new_ring (R, B, C)])."""

    def __init__(self, model: WaveNet) -> None:
        super().__init__()
        self.plan = make_plan(model)
        self.speaker_embed = model.speaker_embed
        self.has_local = model.conditioner is not None
        self.rows = self.plan.ring_rows

    def state_shapes(self, batch_size: int = 1) -> list[tuple[int, int, int]]:
        """The ring's shape, (R, B, C), or none when the model keeps no state."""
        return [(self.rows, batch_size, self.plan.residual_channels)] if self.rows else []

    def forward(self, x: torch.Tensor, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        p, n = self.plan, len(self.state_shapes())
        ring = inputs[0].clone() if n else x.new_zeros(0)  # the caller's ring stays as it was
        t, rest = inputs[n], inputs[n + 1:]
        g = self.speaker_embed(rest[-1]) if self.speaker_embed is not None else None
        bias = static_biases(p, g)  # (L, B or 1, 2G)
        if self.has_local:
            bias = bias + local_biases(p, rest[0][..., None])[0]
        state = WaveNetState(ring, t, embed(p, x))
        out = step(p, state, bias)
        return (out, state.ring) if n else (out,)


class UpsampleFunction(nn.Module):
    """The local conditioner: frames (B, F, N) -> per-sample conditioning (B, Cc, N * hop)."""

    def __init__(self, model: WaveNet) -> None:
        super().__init__()
        self.conditioner = model.conditioner

    def forward(self, local: torch.Tensor) -> torch.Tensor:
        return self.conditioner(local)


def _spec(name: str, shape: list, dtype: torch.dtype) -> dict:
    return {"name": name, "shape": shape, "dtype": str(dtype).replace("torch.", "")}


def _signatures(model: WaveNet, step: StepFunction) -> dict[str, tuple[list[dict], list[dict]]]:
    """(inputs, outputs) of every exported function, with symbolic B, T, N."""
    c = model.config
    x_dtype = torch.int64 if c.input_kind == "classes" else torch.float32
    out = model.head.out_channels
    seq_in = [_spec("x", ["B", "T"], x_dtype)]
    step_in = [_spec("x", ["B"], x_dtype)]
    states = [_spec("ring", [s[0], "B", s[2]], torch.float32) for s in step.state_shapes()]
    step_in += states + [_spec("t", [], torch.int64)]
    if model.conditioner is not None:
        seq_in.append(_spec("local", ["B", c.local_channels, "N"], torch.float32))
        step_in.append(_spec("cond", ["B", c.cond_channels], torch.float32))
    if model.speaker_embed is not None:
        seq_in.append(_spec("speaker", ["B"], torch.int64))
        step_in.append(_spec("speaker", ["B"], torch.int64))
    sigs = {
        "model": (seq_in, [_spec("out", ["B", out, "T"], torch.float32)]),
        "step": (step_in, [_spec("out", ["B", out], torch.float32)]
                 + [{**s, "name": "new_" + s["name"]} for s in states]),
    }
    if model.conditioner is not None:
        sigs["upsample"] = ([_spec("local", ["B", c.local_channels, "N"], torch.float32)],
                            [_spec("cond", ["B", c.cond_channels, "N*hop"], torch.float32)])
    return sigs


def example_inputs(model: WaveNet, function: str, batch_size: int = 2, length: int = 3,
                   generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    """Inputs for one exported function (``model``, ``step`` or ``upsample``): ``length``
    samples (``model``) or frames (``upsample``), zero state at t = 0 (``step``)."""
    c, B = model.config, batch_size
    g = generator or torch.Generator().manual_seed(0)
    frames = -(-length // c.hop_length)

    def x(*shape):
        if c.input_kind == "classes":
            return torch.randint(0, c.classes, shape, generator=g)
        return torch.rand(shape, generator=g) * 2 - 1

    local = torch.rand(B, c.local_channels, frames, generator=g)
    speaker = torch.randint(0, max(c.speakers, 1), (B,), generator=g)
    if function == "upsample":
        return (torch.rand(B, c.local_channels, length, generator=g),)
    if function == "model":
        args = [x(B, length)]
        args += [local] if model.conditioner is not None else []
    else:
        step = StepFunction(model)
        args = [x(B)] + [torch.zeros(s) for s in step.state_shapes(B)]
        args += [torch.tensor(0)]
        args += [torch.rand(B, c.cond_channels, generator=g)] if model.conditioner is not None else []
    args += [speaker] if model.speaker_embed is not None else []
    return tuple(args)


def _check_onnx() -> None:
    missing = []
    for name in ("onnx", "onnxscript"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ValueError(f"ONNX export needs {' and '.join(missing)}: pip install 'wavedil[export]'")


def _write_onnx(module: nn.Module, args: tuple, path: Path, inputs: list[dict],
                outputs: list[dict]) -> None:
    """The torch.export-based exporter (the legacy TorchScript one is deprecated); every
    symbolic dimension of the signature (B, T, N) is left dynamic."""
    from torch.export import Dim

    dynamic = [{i: Dim.AUTO for i, d in enumerate(s["shape"]) if isinstance(d, str)} or None
               for s in inputs]
    # forward(x, *inputs) takes its tail as one tuple; UpsampleFunction.forward(local) does not
    shapes = tuple(dynamic) if len(dynamic) == 1 else (dynamic[0], tuple(dynamic[1:]))
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "torchvision is not installed" notices
    try:
        torch.onnx.export(module, args, str(path), dynamo=True, opset_version=ONNX_OPSET,
                          input_names=[s["name"] for s in inputs],
                          output_names=[s["name"] for s in outputs], dynamic_shapes=shapes,
                          external_data=False, verbose=False)
    finally:
        quiet.setLevel(level)


def _write_torchscript(module: nn.Module, args: tuple, path: Path) -> None:
    with warnings.catch_warnings():
        # shape checks become constants of the trace (they hold for any B, T), and
        # torch.jit is deprecated in favour of torch.export
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, args, check_trace=False)
        torch.jit.save(traced, str(path))


def export(model: WaveNet, fmt: str, out: str | Path, force: bool = False,
           source: str | None = None, name: str | None = None, sample_rate: int | None = None,
           features: dict | None = None) -> list[Path]:
    """Write the full-sequence model, the step function (and, for mel-conditioned models, the
    upsampler) of a WaveNet in ``fmt`` (torchscript or onnx) into the folder ``out``, with
    ``export.json`` describing them (``source``, ``sample_rate`` and the feature settings
    ``features`` of the checkpoint it came from, where there is one; ``name`` is not used:
    the manifest names the source); return the files written. ``wavedil.export.export`` calls it for a checkpoint of any family.

    Raises ValueError for missing ONNX packages, a model with sample features, or files that
    exist already (unless ``force``).
    """
    if fmt not in TORCH_FORMATS:
        raise ValueError(f"unknown WaveNet export format {fmt!r}: use one of "
                         f"{', '.join(TORCH_FORMATS)}")
    if fmt == "onnx":
        _check_onnx()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if model.excitation is not None:
        raise ValueError("export: models with sample features (model.pitch_lags or "
                         "model.lpc_order) cannot be exported yet; their step reads a history "
                         "of past samples that the exported step functions do not carry")
    model = _resolved(model)
    step = StepFunction(model).eval()
    functions = {"model": SequenceFunction(model).eval(), "step": step}
    if model.conditioner is not None:
        functions["upsample"] = UpsampleFunction(model).eval()
    ext = TORCH_FORMATS[fmt]
    targets = {name: out / f"{name}{ext}" for name in functions}
    manifest_path = out / "export.json"
    existing = [p for p in [*targets.values(), manifest_path] if p.exists()]
    if existing and not force:
        raise ValueError(f"{existing[0]} exists (use --force to overwrite)")
    out.mkdir(parents=True, exist_ok=True)

    sigs = _signatures(model, step)
    written = []
    for name, module in functions.items():
        args = example_inputs(model, name, length=2 * model.hop_length + 3 if name == "model" else 3)
        tmp = targets[name].with_name(f".{targets[name].name}.tmp")
        try:
            with torch.no_grad():
                if fmt == "onnx":
                    _write_onnx(module, args, tmp, *sigs[name])
                else:
                    _write_torchscript(module, args, tmp)
            os.replace(tmp, targets[name])
        finally:
            tmp.unlink(missing_ok=True)
        written.append(targets[name])

    c = model.config
    manifest = {
        "format": fmt, "torch": torch.__version__, "source": source,
        "files": {name: p.name for name, p in targets.items()},
        "inputs": {name: sig[0] for name, sig in sigs.items()},
        "outputs": {name: sig[1] for name, sig in sigs.items()},
        "state": {"layout": "ring (R, B, C): layer l's input of time s in row offsets[l] + "
                            "(s mod lengths[l]); start at zeros with t = 0",
                  "dilations": step.plan.dilations, "offsets": step.plan.offsets.tolist(),
                  "lengths": step.plan.spans.tolist()},
        "head": c.head, "input": c.input_kind, "out_channels": model.head.out_channels,
        "receptive_field": model.receptive_field, "hop_length": c.hop_length,
        "sample_rate": sample_rate, "config": c.to_dict(),
        "features": features,
    }
    tmp = manifest_path.with_name(".export.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    return written + [manifest_path]
