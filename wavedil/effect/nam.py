"""Neural Amp Modeler files: an :class:`~wavedil.effect.model.EffectNet` to a ``.nam`` file and back.

A ``.nam`` file is JSON: ``version``, ``metadata``, ``architecture``, ``config``, ``weights``
(one flat list) and ``sample_rate``. Three architectures are read: "WaveNet" (the layer
arrays, below), "LSTM" (:mod:`wavedil.effect.lstm` gives its weights' order) and
"SlimmableContainer" (``config.submodels``: models of either kind, each with the largest
value of NAM's size knob it plays at; :func:`from_nam`'s ``size`` picks one, and cuts a
WaveNet whose layer arrays are ``slimmable`` to the widths it allows). A WaveNet's
weights are every convolution's weight (PyTorch's (out, in, kernel) order, flattened) and then
its bias, in this order:

    per layer array:  rechannel.weight
                      per layer: conv.weight, conv.bias, mixer.weight, layer1x1.weight, layer1x1.bias
                      head_rechannel.weight [, head_rechannel.bias]
    head_scale        (the last number)

Written in the format of NAM's model version 0.7.0 (layers with ``head``, ``kernel_sizes``,
per-layer ``activation`` and ``gating_mode``); read from that and from the older layout
(``head_size``, ``head_bias``, ``gated``, one ``activation`` name), with NAM's A2 layout's
kernel size per layer and causal head convolution (``head.kernel_size``, ``head_dilation``),
slimmable layer arrays and a WaveNet ``condition_dsp``. NAM core's ``Fasttanh`` activation is
wavedil's ``fast_tanh``, both ways (NAM's plugin plays ``Tanh`` with it too: see ``wavedil
process --tanh fast``). What wavedil's effect model cannot hold (FiLM, grouped convolutions,
a bottleneck, head 1x1 convolutions, a post-head network, a condition DSP that is not a
WaveNet, per-layer activations that differ within an array) is refused with one line naming
it.
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

from .model import EffectConfig, EffectNet, head_taps, layer_kernels

NAM_VERSION = "0.7.0"
"""The .nam model format version written."""

NAM_ACTIVATIONS = {"tanh": "Tanh", "fast_tanh": "Fasttanh", "relu": "ReLU", "sigmoid": "Sigmoid",
                   "hardtanh": "Hardtanh", "softsign": "Softsign", "silu": "SiLU",
                   "leaky_relu": "LeakyReLU"}
"""wavedil activation -> NAM's name (Hardtanh on [-1, 1], LeakyReLU with slope 0.01; Fasttanh is
NAM core's name for its fast tanh, which its plugin also plays every Tanh layer with)."""
_FROM_NAM = {v: k for k, v in NAM_ACTIVATIONS.items()}
_FILM_KEYS = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film", "input_mixin_post_film",
              "activation_pre_film", "activation_post_film", "layer1x1_post_film",
              "head1x1_post_film")


class NamFormatError(ValueError):
    """A .nam file wavedil cannot read, in one line."""


def _tensors(model: EffectNet) -> list[torch.Tensor]:
    """Every weight tensor in .nam order (head_scale excluded)."""
    out = []
    for array in model.arrays:
        out.append(array.rechannel.weight)
        for layer in array.layers:
            out += [layer.conv.weight, layer.conv.bias, layer.mixer.weight,
                    layer.layer1x1.weight, layer.layer1x1.bias]
        out.append(array.head_rechannel.weight)
        if array.head_rechannel.bias is not None:
            out.append(array.head_rechannel.bias)
    return out


def _activation_json(name: str) -> dict:
    act = {"type": NAM_ACTIVATIONS[name]}
    if name == "hardtanh":
        act.update(min_val=-1.0, max_val=1.0)
    if name == "leaky_relu":
        act["negative_slope"] = 0.01
    return act


def _metadata(metadata: dict | None) -> dict:
    t = datetime.now()
    meta = {"date": {"year": t.year, "month": t.month, "day": t.day, "hour": t.hour,
                     "minute": t.minute, "second": t.second}}
    meta.update(metadata or {})
    return meta


def to_nam(model: EffectNet, metadata: dict | None = None) -> dict:
    """The .nam JSON of ``model`` (no controls: a .nam model reads the input alone)."""
    c = model.config
    if c.controls:
        raise ValueError(f"export --format nam: the model has {c.controls} controls, and a .nam "
                         "model reads the input signal alone")
    if model.lstm is not None:
        weights = torch.cat([t.detach().float().reshape(-1).cpu()
                             for t in model.lstm.nam_tensors()])
        return {"version": NAM_VERSION, "metadata": _metadata(metadata), "architecture": "LSTM",
                "config": {"input_size": 1, "hidden_size": c.lstm["hidden"],
                           "num_layers": c.lstm["layers"]},
                "weights": weights.tolist(), "sample_rate": c.sample_rate}
    layers, inp = [], 1
    for spec in c.arrays:
        n = len(spec["dilations"])
        act = _activation_json(spec["activation"])
        layers.append({
            "input_size": inp, "condition_size": c.condition_channels,
            "head": {"out_channels": spec["head_size"], "kernel_size": head_taps(spec)[0],
                     "bias": spec["head_bias"],
                     **({"head_dilation": head_taps(spec)[1]} if head_taps(spec)[1] != 1
                        else {})},
            "channels": spec["channels"], "kernel_sizes": layer_kernels(spec),
            "dilations": list(spec["dilations"]), "activation": [dict(act) for _ in range(n)],
            "bottleneck": spec["channels"],
            "head1x1": {"active": False, "out_channels": 1, "groups": 1},
            "layer1x1": {"active": True, "groups": 1},
            "groups_input": 1, "groups_input_mixin": 1,
            **{k: {"active": False, "shift": True, "groups": 1} for k in _FILM_KEYS},
            "gating_mode": ["gated" if spec["gated"] else "none"] * n,
            "secondary_activation": [{"type": "Sigmoid"} if spec["gated"] else None] * n,
            "slimmable": None,
        })
        inp = spec["channels"]
    weights = torch.cat([t.detach().float().reshape(-1).cpu() for t in _tensors(model)])
    inner = to_nam(model.condition_dsp) if model.condition_dsp is not None else None
    return {"version": NAM_VERSION, "metadata": _metadata(metadata), "architecture": "WaveNet",
            "config": {"layers": layers, "head": None, "head_scale": float(c.head_scale),
                       **({"condition_dsp": inner} if inner else {})},
            "weights": weights.tolist() + [float(c.head_scale)],
            "sample_rate": c.sample_rate}


def save_nam(model: EffectNet, path: str | Path, metadata: dict | None = None) -> Path:
    """Write ``model`` as a .nam file (whole or not at all)."""
    path = Path(path)
    data = json.dumps(to_nam(model, metadata))
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
    """One NAM layer array config -> a wavedil array spec; refuses what wavedil cannot hold."""
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
    for key in ("groups_input", "groups_input_mixin"):
        if get(key, 1) != 1:
            raise NamFormatError(f"{at}.{key} is {get(key)!r}; grouped convolutions are not "
                                 "supported")
    if get("bottleneck", channels) != channels:
        raise NamFormatError(f"{at}.bottleneck ({get('bottleneck')}) differs from channels "
                             f"({channels}); not supported")
    h1 = get("head1x1", get("head_1x1_config", None)) or {}
    if isinstance(h1, dict) and h1.get("active", False):
        raise NamFormatError(f"{at}.head1x1 is active; not supported")
    l1 = get("layer1x1", get("layer_1x1_config", None)) or {}
    if isinstance(l1, dict) and (not l1.get("active", True) or l1.get("groups", 1) != 1):
        raise NamFormatError(f"{at}.layer1x1 must be active with groups 1, got {l1!r}")
    for key in _FILM_KEYS:
        film = get(key, None)
        if isinstance(film, dict) and film.get("active", False):
            raise NamFormatError(f"{at}.{key} is active; FiLM is not supported")
    if get("film_params", None):
        raise NamFormatError(f"{at}.film_params: FiLM is not supported")
    head = {}  # the head convolution's taps and spacing, where not 1
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
    kernels = get("kernel_sizes", None)
    if kernels is None:
        kernels = get("kernel_size")
    kernels = kernels if isinstance(kernels, list) else [kernels] * n
    if len(kernels) != n or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                                    for k in kernels):
        raise NamFormatError(f"{at}: kernel sizes {kernels!r} must be integers >= 1, one per "
                             f"dilation ({n})")
    acts = get("activation")
    acts = acts if isinstance(acts, list) else [acts] * n
    names = []
    for a in acts:
        name = a.get("type", a.get("name")) if isinstance(a, dict) else a
        if name not in _FROM_NAM:
            raise NamFormatError(f"{at}: activation {a!r} is not supported (supported: "
                                 f"{', '.join(_FROM_NAM)})")
        if name == "Hardtanh" and isinstance(a, dict) and (a.get("min_val", -1.0), a.get(
                "max_val", 1.0)) != (-1.0, 1.0):
            raise NamFormatError(f"{at}: Hardtanh must be on [-1, 1], got {a!r}")
        if name == "LeakyReLU" and isinstance(a, dict) and a.get("negative_slope", 0.01) != 0.01:
            raise NamFormatError(f"{at}: LeakyReLU must have slope 0.01, got {a!r}")
        names.append(name)
    if "gating_mode" in lc:
        modes = get("gating_mode")
        modes = modes if isinstance(modes, list) else [modes] * n
        secondary = get("secondary_activation", [None] * n)
        secondary = secondary if isinstance(secondary, list) else [secondary] * n
        for m, s in zip(modes, secondary):
            if m not in ("none", "gated"):
                raise NamFormatError(f"{at}: gating mode {m!r} is not supported (none, gated)")
            s_name = s.get("type", s.get("name")) if isinstance(s, dict) else s
            if m == "gated" and s_name != "Sigmoid":
                raise NamFormatError(f"{at}: a gate must be Sigmoid, got {s!r}")
        gated = [m == "gated" for m in modes]
    else:
        g = get("gated", False)
        gated = g if isinstance(g, list) else [g] * n
    if len(set(names)) != 1 or len(set(gated)) != 1:
        raise NamFormatError(f"{at}: every layer of an array must share one activation and "
                             "gating")
    return {"channels": channels, "head_size": head_size,
            "kernel_size": kernels[0] if len(set(kernels)) == 1 else list(kernels),
            "dilations": list(dilations), "activation": _FROM_NAM[names[0]],
            "gated": bool(gated[0]), "head_bias": head_bias, **head}


ARCHITECTURES = ("WaveNet", "LSTM", "SlimmableContainer")
"""The .nam architectures read (a container holds models of the other two)."""


def from_nam(data: Any, where: str = ".nam", size: float = 1.0,
             nested: bool = False) -> EffectNet:
    """An :class:`EffectNet` holding the model of a parsed .nam file (its dict). ``size`` in
    [0, 1] is NAM's size knob (1.0, the default: the full size): a SlimmableContainer plays
    the first submodel whose ``max_value`` exceeds it, and a WaveNet with slimmable layer
    arrays each array's ``allowed_channels[floor(size * count)]`` (the last at 1.0), its
    weights' leading blocks, as NAM core cuts them. A WaveNet's ``condition_dsp`` (a model of
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
    try:
        config = EffectConfig(sample_rate=_rate(data, where), preset=None, arrays=arrays,
                              head_scale=float(head_scale),
                              outputs=arrays[-1]["head_size"] if nested else 1,
                              condition_dsp=asdict(inner.config) if inner else None)
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
    model.config.head_scale = float(flat[-1])
    if inner is not None:
        model.condition_dsp.load_state_dict(inner.state_dict())
    widths = [_allowed(i, lc, a["channels"], where)
              for i, (lc, a) in enumerate(zip(cfg["layers"], arrays))]
    if any(w is not None for w in widths):
        model = _slimmed(model, [w[min(int(size * len(w)), len(w) - 1)] if w else a["channels"]
                                 for w, a in zip(widths, arrays)])
    return model.eval()


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


def _slimmed(model: EffectNet, widths: list[int]) -> EffectNet:
    """``model`` cut to ``widths`` channels per layer array, as NAM's slimmable WaveNet cuts
    it: every weight's leading block (its first rows and columns), each array's head the next
    array's width."""
    arrays = [dict(a, channels=w, head_size=widths[i + 1] if i + 1 < len(widths)
                   else a["head_size"]) for i, (a, w) in enumerate(zip(model.config.arrays, widths))]
    if arrays == model.config.arrays:
        return model
    slim = EffectNet(replace(model.config, preset=None, arrays=arrays))
    with torch.no_grad():
        for small, full in zip(_tensors(slim), _tensors(model)):
            small.copy_(full[tuple(slice(0, n) for n in small.shape)])
    if model.condition_dsp is not None:  # kept whole, as NAM core rebuilds it
        slim.condition_dsp.load_state_dict(model.condition_dsp.state_dict())
    return slim


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
    at least 1, one sample rate; the one for ``size``."""
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
    sub = dict(subs[index]["model"])
    sub.setdefault("sample_rate", data.get("sample_rate"))
    return from_nam(sub, f"{where}: submodel {index} (max_value {limits[index]:g})")


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


__all__ = ["ARCHITECTURES", "NAM_ACTIVATIONS", "NAM_VERSION", "NamFormatError", "from_nam", "load_nam",
           "save_nam", "to_nam"]
