"""Neural Amp Modeler files: an :class:`~wavedil.effect.model.EffectNet` to a ``.nam`` file and back.

A ``.nam`` file is JSON: ``version``, ``metadata``, ``architecture``, ``config``, ``weights``
(one flat list) and ``sample_rate``. Three architectures are read: "WaveNet" (the layer
arrays, below), "LSTM" (:mod:`wavedil.effect.lstm` gives its weights' order) and
"SlimmableContainer" (``config.submodels``: models of either kind, each with the largest
value of NAM's size knob it plays at; :func:`from_nam`'s ``size`` picks one, and cuts a
WaveNet whose layer arrays are ``slimmable`` to the widths it allows: ``EffectConfig.slimmable``,
:mod:`wavedil.effect.slimmable`; a slimmable model is written as one or the other, see
:func:`to_nam`). A WaveNet's
weights are every convolution's weight (PyTorch's (out, in / groups, kernel) order, flattened:
NAM's order for grouped convolutions too) and then its bias, in this order:

    per layer array:  rechannel.weight
                      per layer: conv.weight, conv.bias, mixer.weight,
                                 [layer1x1.weight, layer1x1.bias], [head1x1.weight, head1x1.bias],
                                 [each FiLM's weight and bias, in the order of
                                  wavedil.effect.layer.FILM_POSITIONS]
                      head_rechannel.weight [, head_rechannel.bias]
    head_scale        (the last number)

(the bracketed ones where the layer has them). Written in the format of NAM's model version
0.7.0 (layers with ``head``, ``kernel_sizes``, per-layer ``activation`` and ``gating_mode``);
read from that, from 0.6.0 and from the older layout (``head_size``, ``head_bias``, ``gated``,
one ``activation`` name). Everything NAM core's WaveNet layers hold is read
(:mod:`wavedil.effect.layer`): a kernel size per layer and a causal head convolution (NAM's
A2), FiLM at any of its eight positions, grouped convolutions, a bottleneck, head and layer
1x1 settings, an activation and a gating mode (none, gated, blended) per layer with the gate's
own activation, the activations of :data:`NAM_ACTIVATIONS` with their parameters, slimmable
layer arrays and a WaveNet ``condition_dsp`` (NAM's ``wavenet_a2_max.nam`` uses all but the
slimming). NAM core's ``Fasttanh`` activation is wavedil's ``fast_tanh``, both ways (NAM's
plugin plays ``Tanh`` with it too: see ``wavedil process --tanh fast``). Refused with one line
naming it: a post-head network (``config.head``), a condition DSP that is not a WaveNet,
slimmable arrays whose weights a width does not cut as leading blocks (FiLM, groups, a
bottleneck, head 1x1: :func:`wavedil.effect.layer.unsliceable`), an activation or gating mode
NAM core does not know,
and groups that do not divide a convolution's channels.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from .activations import PARAMETERS, activation_name
from .layer import FILM_POSITIONS, LayerSpec, layer_specs
from .model import EffectConfig, EffectNet, head_taps, layer_kernels
from .slimmable import at_size, breakpoints, cut, width_choices

NAM_VERSION = "0.7.0"
"""The .nam model format version written."""

NAM_ACTIVATIONS = {"tanh": "Tanh", "fast_tanh": "Fasttanh", "relu": "ReLU", "sigmoid": "Sigmoid",
                   "hardtanh": "Hardtanh", "softsign": "Softsign", "silu": "SiLU",
                   "leaky_relu": "LeakyReLU", "hardswish": "Hardswish", "prelu": "PReLU",
                   "leaky_hardtanh": "LeakyHardtanh"}
"""wavedil activation -> NAM's name (Hardtanh on [-1, 1]; LeakyReLU, PReLU and LeakyHardtanh
with their parameters; Fasttanh is NAM core's name for its fast tanh, which its plugin also
plays every Tanh layer with)."""
_FROM_NAM = {v: k for k, v in NAM_ACTIVATIONS.items()} | {"LeakyHardTanh": "leaky_hardtanh"}


class NamFormatError(ValueError):
    """A .nam file wavedil cannot read, in one line."""


def _tensors(model: EffectNet) -> list[torch.Tensor]:
    """Every weight tensor in .nam order (head_scale excluded)."""
    out = []
    for array in model.arrays:
        out.append(array.rechannel.weight)
        for layer in array.layers:
            for m in layer.modules_in_nam_order():
                out += [m.weight] + ([m.bias] if m.bias is not None else [])
        out.append(array.head_rechannel.weight)
        if array.head_rechannel.bias is not None:
            out.append(array.head_rechannel.bias)
    return out


def _activation_json(spec: Any) -> dict:
    """A layer's activation (a name, or a name and its parameters) as NAM writes it."""
    name = activation_name(spec)
    params = {k: v for k, v in spec.items() if k != "name"} if isinstance(spec, dict) else {}
    act = {"type": NAM_ACTIVATIONS[name]}
    if name == "hardtanh":
        act.update(min_val=-1.0, max_val=1.0)
    elif name == "leaky_relu":
        act["negative_slope"] = params.get("negative_slope", 0.01)
    elif name == "leaky_hardtanh":
        act.update(PARAMETERS[name], **params)
    else:
        act.update(params)  # prelu's negative_slopes or negative_slope
    return act


def _layers_json(specs: list[LayerSpec]) -> dict:
    """The keys of a NAM layer array that describe its layers (:mod:`wavedil.effect.layer`)."""
    s = specs[0]  # what an array's layers share
    h1, films = s.head1x1 or (None, 1), dict(s.film)
    return {
        "bottleneck": s.bottleneck,
        "activation": [_activation_json(x.activation) for x in specs],
        "head1x1": {"active": s.head1x1 is not None, "out_channels": h1[0] or 1,
                    "groups": h1[1]},
        "layer1x1": {"active": s.layer1x1, "groups": s.layer1x1_groups},
        "groups_input": s.groups_input, "groups_input_mixin": s.groups_input_mixin,
        **{k: {"active": k in films, "shift": films.get(k, (True, 1))[0],
               "groups": films.get(k, (True, 1))[1]} for k in FILM_POSITIONS},
        "gating_mode": [x.gating for x in specs],
        "secondary_activation": [_activation_json(x.secondary) if x.gating != "none" else None
                                 for x in specs],
    }


def _metadata(metadata: dict | None) -> dict:
    t = datetime.now()
    meta = {"date": {"year": t.year, "month": t.month, "day": t.day, "hour": t.hour,
                     "minute": t.minute, "second": t.second}}
    meta.update(metadata or {})
    return meta


def to_nam(model: EffectNet, metadata: dict | None = None,
           container: bool | None = None) -> dict:
    """The .nam JSON of ``model`` (no controls: a .nam model reads the input alone). A
    slimmable model (``config.slimmable``) is written as NAM's slimmable WaveNet (its layer
    arrays' ``slimmable``: slice_channels_uniform with their allowed_channels; NAM core plays
    it at any size, NAM's package where it has one layer array), or, where NAM core does not
    slim its layout (a head convolution of more than one tap: A2's), as a SlimmableContainer
    of its widths (:func:`container_of_widths`). ``container``: True writes the container
    for any slimmable model, False refuses to where NAM core cannot slim it; None chooses."""
    c = model.config
    if c.controls:
        raise ValueError(f"export --format nam: the model has {c.controls} controls, and a .nam "
                         "model reads the input signal alone (export one setting with --control)")
    if c.slimmable is None and container:
        raise ValueError("a SlimmableContainer holds a slimmable model's widths; this model is "
                         "not slimmable (config.slimmable is null)")
    if c.slimmable is not None:
        taps = [(i, head_taps(a)[0]) for i, a in enumerate(c.arrays) if head_taps(a)[0] != 1]
        if container or (container is None and taps):
            return container_of_widths(model, metadata)
        if taps:
            i, k = taps[0]
            raise ValueError(f"NAM core slims layer arrays with 1x1 heads only; arrays[{i}]'s "
                             f"head has {k} taps (write a SlimmableContainer of its widths)")
    return _wavenet_json(model, metadata, c.slimmable)


def container_of_widths(model: EffectNet, metadata: dict | None = None) -> dict:
    """A slimmable model as NAM's SlimmableContainer: the model at each width NAM's size knob
    plays (:func:`wavedil.effect.slimmable.width_choices`, narrowest first), each cut to its
    weights' leading blocks, with the size up to which it plays (the next breakpoint, 1.0
    for the full widths), so that NAM core's size knob plays what the slimmable model plays
    at every size. :func:`from_nam` reads such a container back into the slimmable model."""
    c = model.config
    limits = [*breakpoints(c), 1.0]
    subs = [{"max_value": v, "model": _wavenet_json(cut(model, w), metadata, None)}
            for v, w in zip(limits, width_choices(c))]
    return {"version": NAM_VERSION, "metadata": _metadata(metadata),
            "architecture": "SlimmableContainer", "config": {"submodels": subs}, "weights": [],
            "sample_rate": c.sample_rate}


def _slim_json(widths: list[int] | None) -> dict | None:
    """A layer array's ``slimmable`` field: NAM's slice_channels_uniform, or None."""
    if widths is None:
        return None
    return {"method": "slice_channels_uniform", "kwargs": {"allowed_channels": list(widths)}}


def _wavenet_json(model: EffectNet, metadata: dict | None,
                  slimmable: list[list[int] | None] | None) -> dict:
    """The .nam JSON of an LSTM, or of layer arrays with the allowed widths ``slimmable``
    (None: not slimmable)."""
    c = model.config
    if model.lstm is not None:
        weights = torch.cat([t.detach().float().reshape(-1).cpu()
                             for t in model.lstm.nam_tensors()])
        return {"version": NAM_VERSION, "metadata": _metadata(metadata), "architecture": "LSTM",
                "config": {"input_size": 1, "hidden_size": c.lstm["hidden"],
                           "num_layers": c.lstm["layers"]},
                "weights": weights.tolist(), "sample_rate": c.sample_rate}
    layers, inp = [], 1
    for spec in c.arrays:
        layers.append({
            "input_size": inp, "condition_size": c.condition_channels,
            "head": {"out_channels": spec["head_size"], "kernel_size": head_taps(spec)[0],
                     "bias": spec["head_bias"],
                     **({"head_dilation": head_taps(spec)[1]} if head_taps(spec)[1] != 1
                        else {})},
            "channels": spec["channels"], "kernel_sizes": layer_kernels(spec),
            "dilations": list(spec["dilations"]),
            **_layers_json(layer_specs(spec, c.condition_channels)),
            "slimmable": _slim_json(slimmable[len(layers)] if slimmable else None),
        })
        inp = spec["channels"]
    weights = torch.cat([t.detach().float().reshape(-1).cpu() for t in _tensors(model)])
    inner = to_nam(model.condition_dsp) if model.condition_dsp is not None else None
    return {"version": NAM_VERSION, "metadata": _metadata(metadata), "architecture": "WaveNet",
            "config": {"layers": layers, "head": None, "head_scale": float(c.head_scale),
                       **({"condition_dsp": inner} if inner else {})},
            "weights": weights.tolist() + [float(c.head_scale)],
            "sample_rate": c.sample_rate}


def save_nam(model: EffectNet, path: str | Path, metadata: dict | None = None,
             container: bool | None = None) -> Path:
    """Write ``model`` as a .nam file (whole or not at all; ``container``: :func:`to_nam`)."""
    path = Path(path)
    data = json.dumps(to_nam(model, metadata, container))
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def export_nam(model: EffectNet, fmt: str, out: str | Path, force: bool = False,
               source: str | None = None, name: str | None = None,
               sample_rate: int | None = None, features: dict | None = None) -> list[Path]:
    """``wavedil export --format nam``: ``model`` as the single .nam file ``out`` (named
    ``name`` in its metadata), refused where it exists unless ``force``; the exporter the
    effect family's record names (the other settings are a checkpoint's, which a .nam file
    does not carry)."""
    out = Path(out)
    if out.suffix.lower() != ".nam":
        raise ValueError(f"{out}: a .nam export is one file ending in .nam")
    if out.exists() and not force:
        raise ValueError(f"{out} exists (use --force to overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    return [save_nam(model, out, {"name": name or "model", "modeled_by": "wavedil"})]


def _fail(where: str, detail: str) -> NamFormatError:
    return NamFormatError(f"{where}: {detail}")


def _array_spec(i: int, lc: Any, inp: int, where: str, condition: int = 1) -> dict:
    """One NAM layer array config -> a wavedil array spec (the keys of NAM's newer layers only
    where they differ from a plain layer's); refuses what wavedil cannot hold, naming it. The
    values themselves (groups that divide, activations' parameters) are checked by
    :class:`EffectConfig`."""
    at = f"{where}: config.layers[{i}]"
    if not isinstance(lc, dict):
        raise NamFormatError(f"{at} is not a mapping")

    def get(key: str, default: Any = KeyError) -> Any:
        if key in lc:
            return lc[key]
        if default is KeyError:
            raise NamFormatError(f"{at} has no '{key}'")
        return default

    channels, dilations = get("channels"), get("dilations")
    if not isinstance(channels, int) or channels < 1:
        raise NamFormatError(f"{at}.channels must be an integer >= 1, got {channels!r}")
    if not isinstance(dilations, list) or not dilations or not all(
            isinstance(d, int) and d >= 1 for d in dilations):
        raise NamFormatError(f"{at}.dilations must be a list of integers >= 1, got {dilations!r}")
    n = len(dilations)
    if get("input_size") != inp:
        raise NamFormatError(f"{at}.input_size is {get('input_size')!r}, expected {inp}")
    if get("condition_size") != condition:
        raise NamFormatError(f"{at}.condition_size is {get('condition_size')!r}, expected "
                             f"{condition} (" + ("the condition DSP's outputs)" if condition > 1
                                                  else "the input alone)"))
    if get("film_params", None):
        raise NamFormatError(f"{at}.film_params is not NAM core's layout (FiLM is read from "
                             f"{', '.join(FILM_POSITIONS)})")
    head = _head(at, lc, get)
    kernels = get("kernel_sizes", None)
    if kernels is None:
        kernels = get("kernel_size")
    kernels = kernels if isinstance(kernels, list) else [kernels] * n
    if len(kernels) != n or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                                    for k in kernels):
        raise NamFormatError(f"{at}: kernel sizes {kernels!r} must be integers >= 1, one per "
                             f"dilation ({n})")
    spec = {"channels": channels, "head_size": head.pop("head_size"),
            "kernel_size": kernels[0] if len(set(kernels)) == 1 else list(kernels),
            "dilations": list(dilations), **head}
    spec.update(_layer_keys(at, lc, get, channels, n))
    return spec


def _head(at: str, lc: dict, get) -> dict:
    """head_size, head_bias and, where not 1, the head convolution's taps and spacing."""
    head = {}
    if "head" in lc:  # model version 0.7
        spec = get("head")
        if not isinstance(spec, dict):
            raise NamFormatError(f"{at}.head must be a mapping, got {spec!r}")
        head_size, head_bias = spec.get("out_channels"), spec.get("bias")
        for key, name in (("kernel_size", "head_kernel_size"), ("head_dilation", "head_dilation")):
            v = spec.get(key, 1)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise NamFormatError(f"{at}.head.{key} must be an integer >= 1, got {v!r}")
            if v != 1:
                head[name] = v
    else:  # the older layout
        head_size, head_bias = get("head_size"), get("head_bias")
    if not isinstance(head_size, int) or head_size < 1 or not isinstance(head_bias, bool):
        raise NamFormatError(f"{at}: head size {head_size!r} / bias {head_bias!r} are not an "
                             "integer >= 1 and a boolean")
    return {"head_size": head_size, "head_bias": head_bias, **head}


def _activation_spec(at: str, a: Any) -> Any:
    """NAM's activation (a name, or {type, parameters}) -> wavedil's (a name, or {name,
    parameters} where they differ from the plain function's)."""
    name = a.get("type", a.get("name")) if isinstance(a, dict) else a
    if name not in _FROM_NAM:
        raise NamFormatError(f"{at}: activation {a!r} is not supported (supported: "
                             f"{', '.join(_FROM_NAM)})")
    ours = _FROM_NAM[name]
    params = {k: v for k, v in a.items() if k in PARAMETERS.get(ours, {})} \
        if isinstance(a, dict) else {}
    if ours == "hardtanh" and isinstance(a, dict) and (a.get("min_val", -1.0), a.get(
            "max_val", 1.0)) != (-1.0, 1.0):
        raise NamFormatError(f"{at}: Hardtanh must be on [-1, 1], got {a!r}")
    if ours == "prelu":  # one slope where NAM core takes one (its default 0.01), else each
        params = {"negative_slope": params.get("negative_slope", 0.01)} \
            if "negative_slopes" not in params or "negative_slope" in params else params
    if ours == "leaky_relu" and params.get("negative_slope", 0.01) == 0.01:
        params = {}
    if ours == "leaky_hardtanh":
        params = dict(PARAMETERS[ours], **params)
        if params == PARAMETERS[ours]:
            params = {}
    return {"name": ours, **params} if params else ours


def _one_or_each(values: list) -> Any:
    """One value where every layer's is the same, else the list."""
    return values[0] if all(v == values[0] for v in values) else values


def _layer_keys(at: str, lc: dict, get, channels: int, n: int) -> dict:
    """The array keys of its layers: activation, gated and those of NAM's newer layers
    (:data:`wavedil.effect.layer.LAYER_KEYS`) that differ from their defaults."""
    acts = get("activation")
    acts = acts if isinstance(acts, list) else [acts] * n
    if len(acts) != n:
        raise NamFormatError(f"{at}.activation must be one, or one per layer ({n}), got {acts!r}")
    out: dict[str, Any] = {"activation": _one_or_each([_activation_spec(at, a) for a in acts])}
    if "gating_mode" in lc:
        modes = get("gating_mode")
        modes = modes if isinstance(modes, list) else [modes] * n
        if len(modes) != n or any(m not in ("none", "gated", "blended") for m in modes):
            raise NamFormatError(f"{at}.gating_mode {modes!r} must be none, gated or blended, "
                                 f"one or one per layer ({n})")
        secondary = get("secondary_activation", None)
        secondary = secondary if isinstance(secondary, list) else [secondary] * n
        if len(secondary) != n:
            raise NamFormatError(f"{at}.secondary_activation must be one, or one per layer "
                                 f"({n}), got {secondary!r}")
        gates = [None if m == "none" else "sigmoid" if s is None else
                 _activation_spec(f"{at}.secondary_activation", s)
                 for m, s in zip(modes, secondary)]
    else:
        g = get("gated", False)
        modes = ["gated" if x else "none" for x in (g if isinstance(g, list) else [g] * n)]
        gates = [None if m == "none" else "sigmoid" for m in modes]
    mode = _one_or_each(modes)
    out["gated"] = mode if mode not in ("none", "gated") else mode == "gated"
    used = [s for s, m in zip(gates, modes) if m != "none"]
    if any(s != "sigmoid" for s in used):
        out["secondary_activation"] = gates if any(s != used[0] for s in used) else used[0]
    bottleneck = get("bottleneck", channels)
    if bottleneck != channels:
        out["bottleneck"] = bottleneck
    for key in ("groups_input", "groups_input_mixin"):
        if get(key, 1) != 1:
            out[key] = get(key)
    l1 = get("layer1x1", get("layer_1x1_config", None)) or {}
    h1 = get("head1x1", get("head_1x1_config", None)) or {}
    for key, value in (("layer1x1", l1), ("head1x1", h1)):
        if not isinstance(value, dict) or set(value) - {"active", "out_channels", "groups"}:
            raise NamFormatError(f"{at}.{key} must be {{active, out_channels, groups}}, got "
                                 f"{value!r}")
    if not l1.get("active", True):
        out["layer1x1"] = False
    if l1.get("groups", 1) != 1:
        out["layer1x1_groups"] = l1["groups"]
    if h1.get("active", False):
        out["head1x1"] = {"out_channels": h1.get("out_channels", channels),
                          "groups": h1.get("groups", 1)}
    film = {}
    for key in FILM_POSITIONS:
        f = get(key, None)
        if f is None or f is False:
            continue
        if not isinstance(f, dict) or set(f) - {"active", "shift", "groups"}:
            raise NamFormatError(f"{at}.{key} must be {{active, shift, groups}}, got {f!r}")
        if f.get("active", True):
            film[key] = {"shift": f.get("shift", True), "groups": f.get("groups", 1)}
    if film:
        out["film"] = film
    return out


ARCHITECTURES = ("WaveNet", "LSTM", "SlimmableContainer")
"""The .nam architectures read (a container holds models of the other two)."""


def from_nam(data: Any, where: str = ".nam", size: float = 1.0,
             nested: bool = False) -> EffectNet:
    """An :class:`EffectNet` holding the model of a parsed .nam file (its dict). ``size`` in
    [0, 1] is NAM's size knob (1.0, the default: the full size): a SlimmableContainer plays
    the first submodel whose ``max_value`` exceeds it, and a WaveNet with slimmable layer
    arrays each array's ``allowed_channels[floor(size * count)]`` (the last at 1.0), its
    weights' leading blocks, as NAM core cuts them. At its full widths a slimmable WaveNet
    keeps its allowed widths (``config.slimmable``: written back, the same file), and so does
    a container of one model's widths as :func:`to_nam` writes it; a narrower width is a plain
    model. A WaveNet's ``condition_dsp`` (a model of
    layer arrays run over the input first, whose outputs the layers read as their condition)
    is read too; ``nested``: this is one, whose outputs may be several."""
    if not isinstance(size, (int, float)) or isinstance(size, bool) or not 0.0 <= size <= 1.0:
        raise ValueError(f"size must be in [0, 1], got {size!r}")
    if not isinstance(data, dict):
        raise _fail(where, "not a .nam file (the JSON is not an object)")
    for key in ("architecture", "config", "weights" if data.get("architecture") !=
                "SlimmableContainer" else "config"):
        if key not in data:
            raise _fail(where, f"not a .nam file (no '{key}')")
    if data["architecture"] not in ARCHITECTURES:
        raise _fail(where, f"architecture {data['architecture']!r} is not supported "
                    f"({', '.join(ARCHITECTURES)})")
    if data["architecture"] == "SlimmableContainer":
        return _container(data, where, size)
    if data["architecture"] == "LSTM":
        return _lstm(data, where)
    cfg = data["config"]
    if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list) or not cfg["layers"]:
        raise _fail(where, "config.layers must be a non-empty list of layer arrays")
    if cfg.get("head") is not None:
        raise _fail(where, "config.head (a post-head network) is not supported")
    inner = None
    if cfg.get("condition_dsp") is not None:
        sub = cfg["condition_dsp"]
        if nested or not isinstance(sub, dict) or sub.get("architecture") != "WaveNet":
            raise _fail(where, "config.condition_dsp must be a WaveNet of layer arrays (not "
                        "nested, not an LSTM or a container)")
        inner = from_nam(dict(sub, sample_rate=sub.get("sample_rate") or data.get("sample_rate")),
                         f"{where}: config.condition_dsp", nested=True)
    arrays, inp = [], 1
    for i, lc in enumerate(cfg["layers"]):
        arrays.append(_array_spec(i, lc, inp, where, inner.config.outputs if inner else 1))
        inp = arrays[-1]["channels"]
    head_scale = cfg.get("head_scale", 1.0)
    widths = [_allowed(i, lc, a["channels"], where)
              for i, (lc, a) in enumerate(zip(cfg["layers"], arrays))]
    try:
        config = EffectConfig(sample_rate=_rate(data, where), preset=None, arrays=arrays,
                              head_scale=float(head_scale),
                              outputs=arrays[-1]["head_size"] if nested else 1,
                              condition_dsp=asdict(inner.config) if inner else None,
                              slimmable=widths if any(w is not None for w in widths) else None)
    except (ValueError, TypeError) as e:
        raise _fail(where, str(e)) from None
    weights = _weights(data, where)
    model = EffectNet(config)
    tensors = _tensors(model)
    expected = sum(t.numel() for t in tensors) + 1
    if len(weights) != expected:
        raise _fail(where, f"holds {len(weights)} weights, but its config needs {expected}")
    flat = torch.tensor(weights, dtype=torch.float32)
    i = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(flat[i:i + t.numel()].reshape(t.shape))
            i += t.numel()
    model.config.head_scale = float(weights[-1])  # as written: a file read and written keeps it
    if inner is not None:
        model.condition_dsp.load_state_dict(inner.state_dict())
    return at_size(model, size).eval()


def _allowed(i: int, lc: dict, channels: int, where: str) -> list[int] | None:
    """A slimmable layer array's allowed widths (NAM's ``slice_channels_uniform``: ascending,
    the last its full width); None for an array that is not slimmable."""
    slim = lc.get("slimmable")
    if not slim:
        return None
    at = f"{where}: config.layers[{i}].slimmable"
    if not isinstance(slim, dict) or slim.get("method") != "slice_channels_uniform":
        raise NamFormatError(f"{at}: method {slim.get('method') if isinstance(slim, dict) else slim!r}"
                             " is not supported (slice_channels_uniform)")
    allowed = (slim.get("kwargs") or {}).get("allowed_channels", list(range(1, channels + 1)))
    if not isinstance(allowed, list) or not allowed or not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in allowed) or any(
            b <= a for a, b in zip(allowed, allowed[1:])) or allowed[-1] != channels:
        raise NamFormatError(f"{at}: allowed_channels must ascend and end at the array's "
                             f"channels ({channels}), got {allowed!r}")
    return allowed


def _weights(data: dict, where: str) -> list:
    weights = data["weights"]
    if not isinstance(weights, list) or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights):
        raise _fail(where, "weights must be a list of numbers")
    if not all(math.isfinite(w) for w in weights):
        raise _fail(where, "weights hold NaN or infinite values")
    return weights


def _rate(data: dict, where: str) -> int:
    rate = data.get("sample_rate") or 48000
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or rate != int(rate) \
            or rate < 1000:
        raise _fail(where, f"sample_rate must be a whole number of Hz >= 1000, got {rate!r}")
    return int(rate)


def _lstm(data: dict, where: str) -> EffectNet:
    """NAM's LSTM architecture: config {input_size, hidden_size, num_layers} (and in and out
    channels, 1 each)."""
    cfg = data["config"]
    if not isinstance(cfg, dict):
        raise _fail(where, "config must be a mapping")
    for key in ("input_size", "hidden_size", "num_layers"):
        if not isinstance(cfg.get(key), int) or isinstance(cfg.get(key), bool) or cfg[key] < 1:
            raise _fail(where, f"config.{key} must be an integer >= 1, got {cfg.get(key)!r}")
    for key in ("input_size", "in_channels", "out_channels"):
        if cfg.get(key, 1) != 1:
            raise _fail(where, f"config.{key} is {cfg[key]!r}; wavedil reads .nam LSTMs of one "
                        "input and one output signal (1)")
    config = EffectConfig(sample_rate=_rate(data, where), preset=None,
                          lstm={"layers": cfg["num_layers"], "hidden": cfg["hidden_size"]})
    weights = _weights(data, where)
    expected = config.parameters
    if len(weights) != expected:
        raise _fail(where, f"holds {len(weights)} weights, but its config needs {expected}")
    model = EffectNet(config)
    model.lstm.load_nam(torch.tensor(weights, dtype=torch.float32))
    return model.eval()


def _container(data: dict, where: str, size: float) -> EffectNet:
    """A SlimmableContainer: submodels [{max_value, model}] by ascending max_value, the last
    at least 1, one sample rate; the one for ``size`` (a container of one model's widths: that
    model cut to the submodel's widths, slimmable at its full widths)."""
    subs = data["config"].get("submodels") if isinstance(data["config"], dict) else None
    if not isinstance(subs, list) or not subs or not all(
            isinstance(m, dict) and isinstance(m.get("model"), dict)
            and isinstance(m.get("max_value"), (int, float)) for m in subs):
        raise _fail(where, "config.submodels must be a non-empty list of {max_value, model}")
    limits = [float(m["max_value"]) for m in subs]
    if any(b <= a for a, b in zip(limits, limits[1:])) or limits[-1] < 1.0:
        raise _fail(where, f"submodels' max_value must ascend and end at 1.0 or more, got "
                    f"{limits}")
    rates = {}
    for i, m in enumerate(subs):
        rate = m["model"].get("sample_rate") or data.get("sample_rate")
        if rate:
            rates[i] = float(rate)
    if len(set(rates.values())) > 1:
        (i, a), = list(rates.items())[:1]
        j, b = next((k, r) for k, r in rates.items() if r != a)
        raise _fail(where, f"submodels disagree in sample rate: submodel {i} at {a:g} Hz, "
                    f"submodel {j} at {b:g} Hz")
    index = next((i for i, limit in enumerate(limits) if size < limit), len(subs) - 1)
    models = [dict(m["model"]) for m in subs]
    for m in models:
        m.setdefault("sample_rate", data.get("sample_rate"))
    whole = _widths_of_one(models, limits)
    if whole is not None:  # the submodel for size, as the slimmable model cuts it
        return cut(whole, width_choices(whole.config)[index])
    return from_nam(models[index], f"{where}: submodel {index} (max_value {limits[index]:g})")


def _widths_of_one(models: list[dict], limits: list[float]) -> EffectNet | None:
    """The slimmable model a SlimmableContainer holds where it is one model's widths, as
    :func:`container_of_widths` writes them (every submodel a WaveNet, each the last one cut
    to its widths, weight for weight, at the sizes the widths' breakpoints give), with its
    allowed widths; None for any other container (NAM's A2.nam: two models trained apart)."""
    if len(models) < 2 or any(m.get("architecture") != "WaveNet" for m in models):
        return None
    try:
        read = [from_nam(m) for m in models]
        full = read[-1]
        widths = [[a["channels"] for a in m.config.arrays] for m in read]
        if full.config.slimmable is not None or any(len(w) != len(widths[-1]) for w in widths):
            return None
        allowed = [sorted({w[i] for w in widths}) for i in range(len(widths[-1]))]
        config = replace(full.config, slimmable=[a if len(a) > 1 else None for a in allowed])
    except ValueError:
        return None
    if width_choices(config) != widths or [*breakpoints(config), 1.0] != limits:
        return None
    whole = EffectNet(config)
    whole.load_state_dict(full.state_dict())
    for w, m in zip(widths, read):
        small = cut(whole, w)
        theirs = m.state_dict()
        if replace(small.config, slimmable=None) != m.config or any(
                not torch.equal(v, theirs[k]) for k, v in small.state_dict().items()):
            return None
    return whole.eval()


def load_nam(path: str | Path, size: float = 1.0) -> EffectNet:
    """Read a .nam file into an :class:`EffectNet` (ValueError in one line for a bad file);
    ``size`` picks a SlimmableContainer's model (:func:`from_nam`)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _fail(str(path), f"not valid JSON ({str(e).splitlines()[0]})") from None
    return from_nam(data, str(path), size)


__all__ = ["ARCHITECTURES", "NAM_ACTIVATIONS", "NAM_VERSION", "NamFormatError",
           "container_of_widths", "from_nam", "load_nam", "save_nam", "to_nam"]
