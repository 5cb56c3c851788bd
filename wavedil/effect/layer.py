"""One layer of an effect model's layer array, in the layout of Neural Amp Modeler's WaveNet
(NeuralAmpModelerCore's ``NAM/wavenet``, model version 0.7): what an array's keys say of each
of its layers (:func:`layer_specs`), FiLM (:class:`FiLM`) and the layer (:class:`Layer`).

    h (B, C, T) the layer's input, c (B, K, T) the condition (the input and the controls, or a
    condition DSP's outputs); N the bottleneck (C unless given), M = N, or 2N where gated
    x = F1(h)                                   conv_pre_film
    z = F2(conv_d(x)) + F4(mixer(F3(c)))        dilated causal conv (groups_input), 1x1 of the
                                                condition, no bias (groups_input_mixin); (B, M, T)
    z = F5(z)                                   activation_pre_film
    a = act(z)                                  gating none                          (B, N, T)
        act(z[:N]) * gate(z[N:])                gated
        g act(z[:N]) + (1 - g) z[:N]            blended, g = gate(z[N:])
    a = F6(a)                                   activation_post_film
    h' = h + F7(layer1x1(a))                    the next layer's input (h' = h without layer1x1)
    s = F8(head1x1(a)), or a                    the layer's part of its array's head sum

Each F is a FiLM where the array asks for one (``film``), else nothing:
F(u, c) = u * scale + shift, [scale; shift] = a 1x1 convolution of c with bias (and groups);
without shift, u * scale. As NAM core plays them (``NAM/wavenet/model.cpp``), F7, the
layer1x1_post_film, acts in blended layers only: in the others its weights are read, kept and
written back, and change nothing. Every convolution's weight is PyTorch's (out, in / groups,
kernel), whose flattening is NAM's order for grouped convolutions too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from ..nn.layers import CausalConv1d
from .activations import activation, check_activation, plain

GATING = ("none", "gated", "blended")
"""A layer's gating modes: none, gated (act(z) times a gate), blended (a gate's mix of act(z)
and z)."""

FILM_POSITIONS = ("conv_pre_film", "conv_post_film", "input_mixin_pre_film",
                  "input_mixin_post_film", "activation_pre_film", "activation_post_film",
                  "layer1x1_post_film", "head1x1_post_film")
"""Where a layer may have a FiLM, in NAM's order (its weights' order too)."""

LAYER_KEYS: dict[str, Any] = {
    "bottleneck": None,
    "groups_input": 1,
    "groups_input_mixin": 1,
    "layer1x1": True,
    "layer1x1_groups": 1,
    "head1x1": None,
    "film": None,
    "secondary_activation": "sigmoid",
}
"""Optional keys of a layer array for NAM's newer layers, with their defaults (a layer as
before them):

- bottleneck: the channels after the activation (null: the array's channels);
- groups_input, groups_input_mixin: groups of the dilated convolution and of the mixer;
- layer1x1: whether the layer has its 1x1 back to the array's channels (false: the residual
  is the input alone, and the bottleneck must be the channels), layer1x1_groups its groups;
- head1x1: null, or {out_channels, groups}: a 1x1 from the bottleneck to the head sum;
- film: null, or {position: {shift, groups}} for the positions of :data:`FILM_POSITIONS` that
  have a FiLM (shift: true adds a shift to the scale, the default; groups: 1 by default);
- secondary_activation: the gate's activation of gated and blended layers, one, or a list of
  one per layer (null for layers of gating none).

And ``activation`` may be a list of one per layer, ``gated`` a gating mode of :data:`GATING` or
a list of one per layer (true and false: gated and none)."""


@dataclass(frozen=True)
class LayerSpec:
    """One layer as its array's keys describe it."""

    channels: int
    condition: int
    kernel_size: int
    dilation: int
    bottleneck: int
    activation: Any
    gating: str
    secondary: Any
    """The gate's activation (None with gating none)."""
    groups_input: int = 1
    groups_input_mixin: int = 1
    layer1x1: bool = True
    layer1x1_groups: int = 1
    head1x1: tuple[int, int] | None = None
    """(out_channels, groups) of the head 1x1, or None."""
    film: dict[str, tuple[bool, int]] = field(default_factory=dict)
    """(shift, groups) of each position that has a FiLM, in :data:`FILM_POSITIONS` order."""

    @property
    def mid(self) -> int:
        """Channels the dilated convolution and the mixer give: the bottleneck, twice over
        where a gate reads the second half."""
        return self.bottleneck * (1 if self.gating == "none" else 2)

    @property
    def head_width(self) -> int:
        """Channels the layer adds to its array's head sum."""
        return self.head1x1[0] if self.head1x1 else self.bottleneck

    def film_width(self, position: str) -> int:
        """Channels the FiLM at ``position`` scales."""
        return {"conv_pre_film": self.channels, "conv_post_film": self.mid,
                "input_mixin_pre_film": self.condition, "input_mixin_post_film": self.mid,
                "activation_pre_film": self.mid, "activation_post_film": self.bottleneck,
                "layer1x1_post_film": self.channels,
                "head1x1_post_film": self.head_width}[position]

    @property
    def weights(self) -> int:
        """Numbers the layer's weights hold (its share of a .nam file's list)."""
        C, K, N, M = self.channels, self.condition, self.bottleneck, self.mid
        total = M * (C // self.groups_input) * self.kernel_size + M  # dilated conv and bias
        total += M * (K // self.groups_input_mixin)  # mixer
        if self.layer1x1:
            total += C * (N // self.layer1x1_groups) + C
        if self.head1x1:
            total += self.head1x1[0] * (N // self.head1x1[1]) + self.head1x1[0]
        for position, (shift, groups) in self.film.items():
            out = self.film_width(position) * (2 if shift else 1)
            total += out * (K // groups) + out
        return total


def _per_layer(value: Any, n: int, key: str) -> list:
    """``value`` for each of ``n`` layers: a list of one per layer, or one for all."""
    if isinstance(value, list):
        if len(value) != n:
            raise ValueError(f"{key} must be one for every layer or a list of one per layer "
                             f"({n}), got a list of {len(value)}")
        return list(value)
    return [value] * n


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _film(value: Any) -> dict[str, tuple[bool, int]]:
    """The ``film`` key as {position: (shift, groups)} in :data:`FILM_POSITIONS` order."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"film must be null or a mapping of positions to {{shift, groups}}, "
                         f"got {value!r}")
    unknown = [k for k in value if k not in FILM_POSITIONS]
    if unknown:
        raise ValueError(f"film has unknown positions {', '.join(map(str, unknown))} (known: "
                         f"{', '.join(FILM_POSITIONS)})")
    out = {}
    for position in FILM_POSITIONS:
        if position not in value:
            continue
        p = value[position] if value[position] is not None else {}
        if not isinstance(p, dict) or set(p) - {"shift", "groups"} or not isinstance(
                p.get("shift", True), bool) or not _count(p.get("groups", 1)):
            raise ValueError(f"film.{position} must be {{shift: true or false, groups: an "
                             f"integer >= 1}}, got {p!r}")
        out[position] = (p.get("shift", True), p.get("groups", 1))
    return out


def _mode(value: Any) -> str:
    if value is True or value is False:
        return "gated" if value else "none"
    if value in GATING:
        return value
    raise ValueError(f"gated must be true, false, one of {', '.join(GATING)}, or a list of one "
                     f"per layer, got {value!r}")


def gating_modes(spec: dict) -> list[str]:
    """Each layer's gating mode of a layer array (``gated``: one for every layer or a list)."""
    return [_mode(g) for g in _per_layer(spec["gated"], len(spec["dilations"]), "gated")]


def head_width(spec: dict) -> int:
    """Channels of a layer array's head sum: its head1x1's out_channels, its bottleneck or its
    channels."""
    h1 = spec.get("head1x1")
    if isinstance(h1, dict) and "out_channels" in h1:
        return h1["out_channels"]
    return spec.get("bottleneck") or spec["channels"]


def layer_specs(spec: dict, condition: int) -> list[LayerSpec]:
    """Each layer of a layer array (its required keys already checked) whose layers read
    ``condition`` channels; ValueError naming the key where an optional one is bad (an
    unknown activation, groups that do not divide a convolution's channels, ...)."""
    n, C = len(spec["dilations"]), spec["channels"]
    get = lambda key: spec.get(key, LAYER_KEYS[key])  # noqa: E731
    N = get("bottleneck") if get("bottleneck") is not None else C
    for key in ("bottleneck", "groups_input", "groups_input_mixin", "layer1x1_groups"):
        if not _count(N if key == "bottleneck" else get(key)):
            raise ValueError(f"{key} must be an integer >= 1, got {spec[key]!r}")
    if not isinstance(get("layer1x1"), bool):
        raise ValueError(f"layer1x1 must be true or false, got {spec['layer1x1']!r}")
    if not get("layer1x1") and N != C:
        raise ValueError(f"bottleneck ({N}) must equal channels ({C}) without a layer1x1 (as "
                         "in NAM)")
    h1 = get("head1x1")
    if h1 is not None:
        if not isinstance(h1, dict) or set(h1) - {"out_channels", "groups"} or not _count(
                h1.get("out_channels")) or not _count(h1.get("groups", 1)):
            raise ValueError(f"head1x1 must be null or {{out_channels, groups}}, integers >= 1, "
                             f"got {h1!r}")
        h1 = (h1["out_channels"], h1.get("groups", 1))
    film = _film(get("film"))
    if "head1x1_post_film" in film and h1 is None:
        raise ValueError("film.head1x1_post_film needs a head1x1")
    if "layer1x1_post_film" in film and not get("layer1x1"):
        raise ValueError("film.layer1x1_post_film needs a layer1x1")
    acts = _per_layer(spec["activation"], n, "activation")
    modes = gating_modes(spec)
    gates = _per_layer(get("secondary_activation"), n, "secondary_activation")
    kernels = spec["kernel_size"] if isinstance(spec["kernel_size"], list) else \
        [spec["kernel_size"]] * n
    layers = []
    for i, (k, d, act, mode, gate) in enumerate(zip(kernels, spec["dilations"], acts, modes,
                                                    gates)):
        for key, value in (("activation", act), ("secondary_activation", gate)):
            if key == "secondary_activation" and mode == "none":
                continue
            why = check_activation(value, N)
            if why:
                each = isinstance(spec.get(key), list)  # name the layer where each has one
                raise ValueError(f"{key}" + (f"[{i}]" if each else "") + f" {why}")
        layers.append(LayerSpec(C, condition, k, d, N, act, mode,
                                gate if mode != "none" else None, get("groups_input"),
                                get("groups_input_mixin"), get("layer1x1"),
                                get("layer1x1_groups"), h1, film))
    for s in layers:  # every grouped convolution's channels divide into its groups
        checks = [("groups_input", s.groups_input, C, s.mid),
                  ("groups_input_mixin", s.groups_input_mixin, condition, s.mid)]
        if s.layer1x1:
            checks.append(("layer1x1_groups", s.layer1x1_groups, N, C))
        if h1:
            checks.append(("head1x1.groups", h1[1], N, h1[0]))
        checks += [(f"film.{p}.groups", g, condition, s.film_width(p) * (2 if shift else 1))
                   for p, (shift, g) in film.items()]
        for key, groups, inp, out in checks:
            if inp % groups or out % groups:
                raise ValueError(f"{key} ({groups}) must divide the convolution's {inp} input "
                                 f"and {out} output channels")
    return layers


def torch_only(spec: dict) -> list[str]:
    """The features of a layer array that the compiled engine does not play (none for the
    layers it does: one activation of :data:`~wavedil.effect.activations.ACTIVATIONS`, gated
    by a sigmoid or not, no bottleneck, groups, head1x1 or FiLM)."""
    get = lambda key: spec.get(key, LAYER_KEYS[key])  # noqa: E731
    out = []
    if get("film"):
        out.append("FiLM")
    if any(get(k) != 1 for k in ("groups_input", "groups_input_mixin", "layer1x1_groups")) or (
            isinstance(get("head1x1"), dict) and get("head1x1").get("groups", 1) != 1):
        out.append("grouped convolutions")
    if get("bottleneck") not in (None, spec["channels"]):
        out.append("a bottleneck")
    if get("head1x1") is not None:
        out.append("head 1x1 convolutions")
    if not get("layer1x1"):
        out.append("layers without a layer1x1")
    if not plain(spec["activation"]):
        out.append("per-layer or parametric activations")
    if not isinstance(spec["gated"], bool):
        out.append("gating modes")
    elif spec["gated"] and get("secondary_activation") != "sigmoid":
        out.append("gates other than the sigmoid")
    return out


def unsliceable(spec: dict) -> list[str]:
    """The features of a layer array whose weights a narrower width does not take as their
    leading blocks (none for the layers a slimmable array may have: gated or not, any gating
    mode, activation and gate without per-channel parameters, with or without a layer1x1):
    FiLM, grouped convolutions, a bottleneck other than the channels (NAM core scales it),
    head 1x1 convolutions and prelu's slope per channel."""
    get = lambda key: spec.get(key, LAYER_KEYS[key])  # noqa: E731
    out = []
    if get("film"):
        out.append("FiLM")
    if any(get(k) != 1 for k in ("groups_input", "groups_input_mixin", "layer1x1_groups")):
        out.append("grouped convolutions")
    if get("bottleneck") not in (None, spec["channels"]):
        out.append("a bottleneck")
    if get("head1x1") is not None:
        out.append("head 1x1 convolutions")
    acts = [a for v in (spec["activation"], get("secondary_activation"))
            for a in (v if isinstance(v, list) else [v])]
    if any(isinstance(a, dict) and len(a.get("negative_slopes") or []) > 1 for a in acts):
        out.append("a slope per channel (prelu's negative_slopes)")
    return out


class FiLM(nn.Module):
    """Feature-wise linear modulation of ``channels`` channels by the condition: u * scale +
    shift, [scale; shift] a 1x1 convolution of the condition (with bias and ``groups``)."""

    def __init__(self, condition: int, channels: int, shift: bool, groups: int) -> None:
        super().__init__()
        self.channels, self.shift = channels, shift
        self.project = nn.Conv1d(condition, channels * (2 if shift else 1), 1, groups=groups)

    def forward(self, u: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """u (B, channels, T), c (B, condition, T) -> (B, channels, T)."""
        p = self.project(c)  # (B, channels or 2 channels, T)
        if self.shift:
            return u * p[:, :self.channels] + p[:, self.channels:]
        return u * p


class Layer(nn.Module):
    """One layer (see the module's diagram): its dilated convolution is ``conv`` (a
    :class:`~wavedil.nn.layers.CausalConv1d`, whose streaming the caller runs)."""

    def __init__(self, spec: LayerSpec) -> None:
        super().__init__()
        s = self.spec = spec
        self.conv = CausalConv1d(s.channels, s.mid, s.kernel_size, s.dilation,
                                 groups=s.groups_input)
        self.mixer = nn.Conv1d(s.condition, s.mid, 1, bias=False, groups=s.groups_input_mixin)
        self.layer1x1 = (nn.Conv1d(s.bottleneck, s.channels, 1, groups=s.layer1x1_groups)
                         if s.layer1x1 else None)
        self.head1x1 = (nn.Conv1d(s.bottleneck, s.head1x1[0], 1, groups=s.head1x1[1])
                        if s.head1x1 else None)
        self.films = nn.ModuleDict({p: FiLM(s.condition, s.film_width(p), shift, groups)
                                    for p, (shift, groups) in s.film.items()})
        self.act = activation(s.activation)
        self.gate = activation(s.secondary) if s.gating != "none" else None

    def modules_in_nam_order(self) -> list[nn.Module]:
        """The layer's convolutions in the order a .nam file lists their weights."""
        return [m for m in (self.conv.conv, self.mixer, self.layer1x1, self.head1x1,
                            *(self.films[p].project for p in FILM_POSITIONS if p in self.films))
                if m is not None]

    def forward(self, h: torch.Tensor, c: torch.Tensor,
                conv: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, C, T), c (B, K, T) -> (the next layer's input (B, C, T), the layer's part of
        the head sum (B, head width, T)); ``conv`` applies the dilated convolution (the whole
        signal's, or one streamed block's)."""
        f, s = self.films, self.spec
        z = conv(f["conv_pre_film"](h, c) if "conv_pre_film" in f else h)  # (B, M, T)
        if "conv_post_film" in f:
            z = f["conv_post_film"](z, c)
        m = self.mixer(f["input_mixin_pre_film"](c, c) if "input_mixin_pre_film" in f else c)
        if "input_mixin_post_film" in f:
            m = f["input_mixin_post_film"](m, c)
        z = z + m
        if "activation_pre_film" in f:
            z = f["activation_pre_film"](z, c)
        if s.gating == "none":
            a = self.act(z)  # (B, N, T)
        else:
            top, g = z[:, :s.bottleneck], self.gate(z[:, s.bottleneck:])
            a = self.act(top) * g if s.gating == "gated" else g * self.act(top) + (1.0 - g) * top
        if "activation_post_film" in f:
            a = f["activation_post_film"](a, c)
        if self.layer1x1 is not None:
            r = self.layer1x1(a)  # (B, C, T)
            if s.gating == "blended" and "layer1x1_post_film" in f:  # as NAM core plays it
                r = f["layer1x1_post_film"](r, c)
            h = h + r
        if self.head1x1 is None:
            return h, a
        head = self.head1x1(a)
        if "head1x1_post_film" in f:
            head = f["head1x1_post_film"](head, c)
        return h, head


__all__ = ["FILM_POSITIONS", "FiLM", "GATING", "LAYER_KEYS", "Layer", "LayerSpec",
           "gating_modes", "head_width", "layer_specs", "torch_only", "unsliceable"]
