"""An audio effect model: a causal WaveNet that maps an input signal (a dry guitar, say) to
the processed signal sample by sample, not autoregressively, in the layout of Neural Amp
Modeler's WaveNet (Atkinson 2023) so that its weights travel to and from ``.nam`` files
(:mod:`wavedil.effect.nam`).

    x (B, T) dry input, controls (B, P) knob positions (optional)
    c = [x; controls]                                  the condition every layer reads
    array 1:  h = rechannel(x)                         1x1, no bias
              for each layer:  z = conv_d(h) + mixer(c)     dilated causal conv + 1x1 (no bias)
                               a = act(z)  (gated: tanh(z[:C]) * sigmoid(z[C:]))
                               h = h + layer1x1(a)          residual
                               s = s + a                    head sum (starts at 0)
              head = head_rechannel(s)                 1x1 -> head_size (or a causal conv:
                                                       NAM's A2 layout)
    array i > 1: reads the previous array's h, and its head sum starts at the previous head
    y = head_scale * head (the last array's head_size is 1)

That is a layer as NAM's first WaveNets have it; an array's optional keys
(:data:`wavedil.effect.layer.LAYER_KEYS`) give NAM's newer layers (FiLM, grouped convolutions,
a bottleneck, head 1x1 convolutions, an activation and a gating mode per layer, blended
gates), each layer written once in :class:`wavedil.effect.layer.Layer`. Every array's head_size
equals the next array's channels and its head sum's width (the head sums add). The dilated
convolutions are :class:`wavedil.nn.layers.CausalConv1d`, so streaming carries one ring buffer
per layer in an :class:`EffectState` that the caller holds; forward and stream share one
implementation (:meth:`EffectNet._run`) and agree to float precision for any block size.
Before its input the model has heard silence: the forward pads the input (not each layer)
with receptive_field - 1 zeros, and a fresh streaming state is the state that silence leaves,
so a .nam model played here and in NAM gives the same samples from the first one on.

NAM's LSTM architecture (``config.lstm``) is the other layout: stacked LSTM cells and a
linear head over the same condition (:mod:`wavedil.effect.lstm`), its state the cells' hidden
and cell values; before its input it has heard half a second of silence from its learnt
initial state, as NAM core pre-warms it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import torch
from torch import nn
from torch.nn import functional as F

from ..config import Config, ConfigError
from ..nn.layers import ConvState, CausalConv1d
from .activations import ACTIVATIONS, FAST_TANH, fast_tanh, renamed
from .layer import LAYER_KEYS, Layer, head_width, layer_specs, unsliceable
from .lstm import LSTMCore, PREWARM_SECONDS

_STANDARD = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
_LITE_1 = [1, 2, 4, 8, 16, 32, 64]
_LITE_2 = [128, 256, 512, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
_A2_BLOCK = [1, 3, 7, 17, 41, 101, 239]


def _arrays(c1: int, h1: int, d1: list[int], c2: int, d2: list[int]) -> list[dict]:
    return [{"channels": c1, "head_size": h1, "kernel_size": 3, "dilations": d1,
             "activation": "tanh", "gated": False, "head_bias": False},
            {"channels": c2, "head_size": 1, "kernel_size": 3, "dilations": d2,
             "activation": "tanh", "gated": False, "head_bias": True}]


PRESETS: dict[str, list[dict]] = {
    "standard": _arrays(16, 8, _STANDARD, 8, _STANDARD),
    "lite": _arrays(12, 6, _LITE_1, 6, _LITE_2),
    "feather": _arrays(8, 4, _LITE_1, 4, _LITE_2),
    "nano": _arrays(4, 2, _LITE_1, 2, _LITE_2),
    "a2": [{"channels": 8, "head_size": 1, "kernel_size": [6] * 14 + [15, 15] + [6] * 7,
            "dilations": _A2_BLOCK * 2 + [1, 13] + _A2_BLOCK, "activation": "leaky_relu",
            "gated": False, "head_bias": True, "head_kernel_size": 16}],
}
"""Neural Amp Modeler's WaveNet sizes: standard, lite, feather and nano, two layer arrays of
kernel-3 tanh layers, 4,093 samples of receptive field each (85 ms at 48 kHz), that differ in
width (standard 16 and 8 channels, lite 12 and 6, feather 8 and 4, nano 4 and 2); and a2, the
full size of NAM's A2 (``A2.nam``'s 8-channel model): one array of 23 LeakyReLU layers, kernel
6 over dilations 1 to 239 twice, two of kernel 15 (dilations 1 and 13) and the 1-to-239 run
again, and a 16-tap head convolution, 6,347 samples of receptive field (132 ms), 12,146
weights."""

PRESET_HEAD_SCALES = {"a2": 0.01}
"""The head_scale of a preset where it is not NAM's default of 0.02 (A2's 0.01)."""

ARRAY_KEYS = ("channels", "head_size", "kernel_size", "dilations", "activation", "gated",
              "head_bias")
"""Keys of one layer array (all required when arrays are given; the optional ones are
:data:`HEAD_KEYS` and :data:`wavedil.effect.layer.LAYER_KEYS`)."""
HEAD_KEYS = {"head_kernel_size": 1, "head_dilation": 1}
"""Optional keys of a layer array, with their defaults: the head convolution's taps and their
spacing (NAM's A2 layout uses 16 taps; 1: a 1x1 head)."""


def layer_kernels(spec: dict) -> list[int]:
    """Each layer's kernel size of a layer array: ``kernel_size`` is one for every layer, or a
    list of one per dilation (NAM's A2 layout mixes 6 and 15)."""
    k = spec["kernel_size"]
    return list(k) if isinstance(k, list) else [k] * len(spec["dilations"])


def head_taps(spec: dict) -> tuple[int, int]:
    """(kernel size, dilation) of a layer array's head convolution."""
    return (spec.get("head_kernel_size", HEAD_KEYS["head_kernel_size"]),
            spec.get("head_dilation", HEAD_KEYS["head_dilation"]))


@dataclass
class EffectConfig(Config):
    """Everything needed to rebuild an effect model; stored in its checkpoints."""

    kind: str = "effect"
    """The model family (``wavedil.families``): effect, an input-to-output WaveNet."""
    sample_rate: int = 48000
    """Samples per second of the input and output (recipes set it from the data)."""
    preset: str | None = "standard"
    """standard, lite, feather or nano (Neural Amp Modeler's sizes), or a2 (the full size of
    NAM's A2: kernel sizes 6 and 15, LeakyReLU, a 16-tap head); null: ``arrays``."""
    arrays: list[dict] | None = None
    """Layer arrays, each {channels, head_size, kernel_size (one, or a list of one per
    dilation), dilations, activation (tanh, fast_tanh: NAM's rational approximation, relu,
    sigmoid, hardtanh, softsign, silu, leaky_relu; or one of wavedil.effect.activations with
    its parameters, or a list of one per layer), gated (true, false, or a gating mode per
    layer: none, gated, blended), head_bias}, and optionally head_kernel_size and
    head_dilation (a causal head convolution; default 1 and 1: a 1x1 head) and NAM's newer
    layers' keys (wavedil.effect.layer.LAYER_KEYS: bottleneck, groups, head1x1, FiLM, the
    gate's activation); given, they replace the preset's. Each array's head_size is the next
    one's channels and head sum width; the last is 1."""
    controls: int = 0
    """Control values (knob positions, in [0, 1] by convention) the model is conditioned on,
    constant per file; 0: none (a .nam file holds none)."""
    head_scale: float | None = None
    """Gain of the last head (NAM's small default keeps the untrained output small); null:
    the preset's, 0.01 for a2 and 0.02 otherwise."""
    outputs: int = 1
    """Signals out: the last layer array's head_size. 1 for an effect; a condition DSP
    (``condition_dsp``) may give several."""
    condition_dsp: dict | None = None
    """The config (these fields) of a second layer-array model that runs over the input first
    and whose outputs every layer's mixer reads instead of the input (NAM's condition_dsp;
    ``EffectNet.condition_dsp`` holds its weights); null: the input and the controls."""
    lstm: dict | None = None
    """{layers, hidden}: NAM's LSTM architecture (stacked LSTM cells of ``hidden`` units and
    a linear head) instead of layer arrays (preset and arrays then unused); null: the
    WaveNet of ``preset`` or ``arrays``. Played and written as .nam files; training one is
    not supported yet."""
    slimmable: list[list[int] | None] | None = None
    """The widths each layer array may be cut to, one entry per array: a list of channel
    counts, ascending, ending at the array's channels (NAM's slice_channels_uniform
    allowed_channels), or null for an array kept whole; null: not slimmable. A width keeps
    every weight's leading block (its first rows and columns), as NAM core cuts it; training
    runs each step at the full width, the narrowest and one random width between
    (wavedil.effect.slimmable); NAM's size knob s in [0, 1] plays each array's
    allowed[min(floor(s n), n - 1)]. Arrays with FiLM, groups, a bottleneck, head 1x1 or a
    prelu slope per channel cannot be cut, nor an LSTM; a condition DSP is kept whole."""

    def __post_init__(self) -> None:
        need = self.need
        if self.lstm is not None:
            self._check_lstm()
            self.preset, self.arrays = None, []
            self.head_scale = 0.02 if self.head_scale is None else self.head_scale
            need(self.slimmable is None, "slimmable", "null for an LSTM (NAM slims layer "
                 "arrays)")
            return
        need(self.kind == "effect", "kind", "effect for EffectConfig")
        need(self.sample_rate >= 1000, "sample_rate", ">= 1000")
        need(self.preset is None or self.preset in PRESETS, "preset",
             f"one of {', '.join(PRESETS)}, or null with arrays")
        need(self.arrays is not None or self.preset is not None, "arrays",
             "given when preset is null")
        need(self.controls >= 0, "controls", ">= 0")
        if self.arrays is None:
            self.arrays = [dict(a, dilations=list(a["dilations"]),
                                kernel_size=a["kernel_size"] if isinstance(a["kernel_size"], int)
                                else list(a["kernel_size"])) for a in PRESETS[self.preset]]
        else:  # the arrays decide; the preset names them when they are one
            self.preset = next((name for name, arrays in PRESETS.items()
                                if arrays == self.arrays), None)
        if self.head_scale is None:
            self.head_scale = PRESET_HEAD_SCALES.get(self.preset, 0.02)
        need(self.head_scale == self.head_scale and abs(self.head_scale) < 1e6, "head_scale",
             "a finite number")
        need(isinstance(self.arrays, list) and len(self.arrays) > 0, "arrays",
             "a non-empty list of layer arrays")
        condition = self.condition_channels
        for i, a in enumerate(self.arrays):
            self._check_array(i, a, condition)
        for i in range(len(self.arrays) - 1):
            size, nxt = self.arrays[i]["head_size"], self.arrays[i + 1]
            for what, width in (("channels", nxt["channels"]),
                                ("head sum width", head_width(nxt))):
                if size != width:
                    raise ConfigError(type(self).__name__, "arrays",
                                      f"must chain: array {i}'s head_size ({size}) must equal "
                                      f"array {i + 1}'s {what} ({width}), since their head "
                                      "sums add")
        if self.arrays[-1]["head_size"] != self.outputs:
            raise ConfigError(type(self).__name__, "arrays", "must end in an array of head_size "
                              f"{self.outputs} (config.outputs), got "
                              f"{self.arrays[-1]['head_size']}")
        if self.condition_dsp is not None:
            inner = self.condition_config
            need(self.controls == 0, "controls", "0 with a condition_dsp (it reads the input "
                 "alone)")
            need(inner.lstm is None and inner.sample_rate == self.sample_rate, "condition_dsp",
                 f"layer arrays at this model's sample_rate ({self.sample_rate})")
            need(inner.slimmable is None, "condition_dsp", "a model without slimmable widths "
                 "(NAM core keeps a condition DSP whole)")
        self._check_slimmable()

    def _check_slimmable(self) -> None:
        """Each array's allowed widths: ascending, ending at its channels, and an array whose
        weights a width cuts as leading blocks."""
        s = self.slimmable
        if s is None:
            return
        where = type(self).__name__
        if not isinstance(s, list) or len(s) != len(self.arrays):
            raise ConfigError(where, "slimmable", f"must be a list of one entry per layer array "
                              f"({len(self.arrays)}), or null; got {s!r}")
        if all(w is None for w in s):
            raise ConfigError(where, "slimmable", "must give some array its widths (or be "
                              f"null), got {s!r}")
        for i, (widths, a) in enumerate(zip(s, self.arrays)):
            if widths is None:
                continue
            c = a["channels"]
            if not isinstance(widths, list) or not widths or not all(
                    isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths) \
                    or any(b <= w for w, b in zip(widths, widths[1:])) or widths[-1] != c:
                raise ConfigError(where, f"slimmable[{i}]", "must be channel counts that ascend "
                                  f"and end at arrays[{i}]'s channels ({c}), got {widths!r}")
            cannot = unsliceable(a)
            if cannot:
                raise ConfigError(where, f"slimmable[{i}]", f"cannot cut arrays[{i}]: it has "
                                  f"{', '.join(cannot)}, whose weights a narrower width does not "
                                  "take as leading blocks")

    @property
    def condition_config(self) -> "EffectConfig | None":
        """``condition_dsp`` as a config (None without one); ConfigError naming its key where
        it is not one."""
        if self.condition_dsp is None:
            return None
        if not isinstance(self.condition_dsp, dict):
            raise ConfigError(type(self).__name__, "condition_dsp", "must be a mapping of effect "
                              f"config fields, got {self.condition_dsp!r}")
        try:
            return EffectConfig(**self.condition_dsp)
        except TypeError as e:
            raise ConfigError(type(self).__name__, "condition_dsp", str(e)) from None

    def _check_lstm(self) -> None:
        a = self.lstm
        if not isinstance(a, dict) or set(a) != {"layers", "hidden"} or not all(
                isinstance(a[k], int) and not isinstance(a[k], bool) and a[k] >= 1
                for k in ("layers", "hidden")):
            raise ConfigError(type(self).__name__, "lstm", "must be {layers, hidden}, integers "
                              f">= 1, or null; got {a!r}")
        self.need(self.sample_rate >= 1000, "sample_rate", ">= 1000")
        self.need(self.controls >= 0, "controls", ">= 0")

    def _check_array(self, i: int, a: object, condition: int) -> None:
        where = f"arrays[{i}]"

        def bad(detail: str) -> ConfigError:
            return ConfigError(type(self).__name__, where, detail)

        if not isinstance(a, dict):
            raise bad(f"must be a mapping with keys {', '.join(ARRAY_KEYS)}, got {a!r}")
        unknown = [k for k in a if k not in ARRAY_KEYS and k not in HEAD_KEYS
                   and k not in LAYER_KEYS]
        missing = [k for k in ARRAY_KEYS if k not in a]
        if unknown or missing:
            raise bad(f"must have the keys {', '.join(ARRAY_KEYS)} (and optionally "
                      f"{', '.join([*HEAD_KEYS, *LAYER_KEYS])})"
                      + (f"; unknown: {', '.join(map(str, unknown))}" if unknown else "")
                      + (f"; missing: {', '.join(missing)}" if missing else ""))

        def whole(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool) and v >= 1

        for key in ("channels", "head_size", *(k for k in HEAD_KEYS if k in a)):
            if not whole(a[key]):
                raise bad(f"{key} must be an integer >= 1, got {a[key]!r}")
        d = a["dilations"]
        if not isinstance(d, list) or not d or not all(whole(x) for x in d):
            raise bad(f"dilations must be a non-empty list of integers >= 1, got {d!r}")
        k = a["kernel_size"]
        if not (whole(k) or (isinstance(k, list) and len(k) == len(d)
                             and all(whole(x) for x in k))):
            raise bad(f"kernel_size must be an integer >= 1, or a list of one per dilation "
                      f"({len(d)}), got {k!r}")
        if not isinstance(a["head_bias"], bool):
            raise bad(f"head_bias must be true or false, got {a['head_bias']!r}")
        try:
            layer_specs(a, condition)
        except ValueError as e:
            raise bad(str(e)) from None

    @property
    def speakers(self) -> int:
        """No global conditioning (the controls play that part)."""
        return 0

    @property
    def condition_channels(self) -> int:
        """Channels every layer's mixer reads: the input signal and the controls, or the
        condition DSP's outputs."""
        if self.condition_dsp is not None:
            return self.condition_config.outputs
        return 1 + self.controls

    def dilation_stack(self, sample_rate: int) -> tuple[int, list[int], float, str]:
        """(kernel size, the arrays' dilations one after the other, steps per second, what a
        step is) of the stack, as ``wavedil rf`` analyses it; ValueError where the arrays'
        kernel sizes differ (the analysis takes one)."""
        kernels = {k for a in self.arrays for k in layer_kernels(a)}
        if len(kernels) != 1:
            raise ValueError(f"rf analyses stacks of one kernel size; this model's arrays have "
                             f"{sorted(kernels)}")
        return kernels.pop(), [d for a in self.arrays for d in a["dilations"]], sample_rate, \
            "samples"

    @property
    def receptive_field(self) -> int:
        """Input samples one output sample depends on (itself included); for an LSTM, which
        depends on all of its past, the half second of pre-warm plus one."""
        if self.lstm is not None:
            return 1 + int(PREWARM_SECONDS * self.sample_rate)
        inner = self.condition_config.receptive_field - 1 if self.condition_dsp else 0
        return 1 + inner + sum((k - 1) * d for a in self.arrays
                               for k, d in [*zip(layer_kernels(a), a["dilations"]), head_taps(a)])

    @property
    def parameters(self) -> int:
        """Weights of the model (what a .nam file stores, head_scale included; a condition
        DSP's too)."""
        if self.lstm is not None:
            return LSTMCore.weight_count(self.condition_channels, self.lstm["hidden"],
                                         self.lstm["layers"])
        total, inp = 1, 1
        for a in self.arrays:
            c = a["channels"]
            total += inp * c  # rechannel
            total += sum(s.weights for s in layer_specs(a, self.condition_channels))
            total += head_width(a) * a["head_size"] * head_taps(a)[0] + (
                a["head_size"] if a["head_bias"] else 0)
            inp = c
        return total + (self.condition_config.parameters if self.condition_dsp else 0)


STREAM_COLUMNS = 16
"""Columns :meth:`EffectNet.stream` rounds a block up to (whole vectors of torch's kernels)."""


@dataclass
class EffectState:
    """Streaming state of an :class:`EffectNet`: one ring buffer per dilated convolution, in
    layer order over all arrays."""

    convs: list[ConvState] = field(default_factory=list)
    samples: int = 0
    """Input samples streamed so far."""
    recurrent: tuple[torch.Tensor, torch.Tensor] | None = None
    """An LSTM's hidden and cell values, (layers, B, H) each (None for layer arrays)."""
    heads: list[ConvState | None] = field(default_factory=list)
    """Each array's head convolution's ring buffer (None for a 1x1 head)."""
    condition: "EffectState | None" = None
    """The condition DSP's own state (None without one)."""


class _LayerArray(nn.Module):
    def __init__(self, in_channels: int, condition: int, spec: dict) -> None:
        super().__init__()
        self.rechannel = nn.Conv1d(in_channels, spec["channels"], 1, bias=False)
        self.layers = nn.ModuleList(Layer(s) for s in layer_specs(spec, condition))
        k, d = head_taps(spec)
        w, size, bias = head_width(spec), spec["head_size"], spec["head_bias"]
        self.head_rechannel = (CausalConv1d(w, size, k, d, bias=bias) if k > 1
                               else nn.Conv1d(w, size, 1, bias=bias))
        """The head: 1x1, or a causal convolution over the head sum (NAM's A2)."""


class EffectNet(nn.Module):
    """Input signal (and controls) -> output signal, (B, T) -> (B, T), causal."""

    def __init__(self, config: EffectConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or EffectConfig()
        arrays, inp = [], 1
        for spec in c.arrays:
            arrays.append(_LayerArray(inp, c.condition_channels, spec))
            inp = spec["channels"]
        self.arrays = nn.ModuleList(arrays)
        self.lstm = (LSTMCore(c.condition_channels, c.lstm["hidden"], c.lstm["layers"])
                     if c.lstm is not None else None)
        self.condition_dsp = (EffectNet(c.condition_config) if c.condition_dsp is not None
                              else None)
        """The model whose outputs the layers read as their condition (NAM's condition_dsp)."""

    @property
    def receptive_field(self) -> int:
        return self.config.receptive_field

    def _condition(self, x: torch.Tensor, controls: torch.Tensor | None) -> torch.Tensor:
        """(B, T) input and (B, P) controls -> (B, 1 + P, T); checks shapes."""
        c = self.config
        if x.dim() != 2:
            raise ValueError(f"EffectNet: expected input of shape (B, T), got {tuple(x.shape)}")
        if c.controls:
            if controls is None:
                raise ValueError(f"EffectNet: this model needs {c.controls} control values "
                                 "per signal (controls of shape (B, P))")
            controls = torch.as_tensor(controls, dtype=x.dtype, device=x.device)
            if controls.dim() == 1:
                controls = controls.expand(x.shape[0], -1)
            if tuple(controls.shape) != (x.shape[0], c.controls):
                raise ValueError(f"EffectNet: expected controls of shape ({x.shape[0]}, "
                                 f"{c.controls}), got {tuple(controls.shape)}")
            knobs = controls[:, :, None].expand(-1, -1, x.shape[-1])  # (B, P, T)
            return torch.cat([x[:, None], knobs], dim=1)
        if controls is not None and torch.as_tensor(controls).numel():
            raise ValueError("EffectNet: this model takes no controls (config.controls is 0)")
        return x[:, None]  # (B, 1, T)

    def _run(self, x: torch.Tensor, controls: torch.Tensor | None, conv, head_fn=None,
             cond: torch.Tensor | None = None) -> torch.Tensor:
        """The whole model with ``conv(index, layer, h)`` applying each dilated conv and
        ``head_fn(index, array, s)`` each array's head (default: its own forward): the full
        forward or one streaming block (an LSTM: from its learnt initial state, ``conv``
        unused). ``cond``: the condition DSP's outputs (B, K, T) where the model has one.
        (B, T) -> (B, outputs, T)."""
        head_of = head_fn or (lambda i, array, s: array.head_rechannel(s))
        own = self._condition(x, controls)  # (B, 1 + P, T): the input (and the controls)
        if self.lstm is not None:
            return self.lstm(own)[0][:, None]
        cond = own if cond is None else cond
        y, head, index = x[:, None], None, 0
        for ai, array in enumerate(self.arrays):
            h = array.rechannel(y)  # (B, C, T)
            total = head  # previous array's head, or None
            for layer in array.layers:
                h, a = layer(h, cond, lambda u, i=index, at=layer: conv(i, at, u))  # (B, C, T)
                total = a if total is None else total + a  # (B, head width, T)
                index += 1
            head = head_of(ai, array, total)  # (B, head_size, T)
            y = h
        return self.config.head_scale * head

    def forward(self, x: torch.Tensor, controls: torch.Tensor | None = None,
                valid: bool = False, stack: Callable[..., torch.Tensor | None] | None = None
                ) -> torch.Tensor:
        """(B, T) input -> (B, T) output, as if the input were preceded by silence (every layer
        in the state silence leaves it in, as a running plugin is): output t reads inputs
        t - receptive_field + 1 .. t. ``valid``: only the T - receptive_field + 1 outputs whose
        whole receptive field lies inside ``x`` (for training on crops with history).
        ``stack``: a training pass that computes the same, given by the training objective
        (``wavedil.train.effect_stack.ChunkedArrays``: called with the model, the input and
        its condition, it returns the output, or None where it does not apply)."""
        pad = self.receptive_field - 1
        if valid and x.shape[-1] <= pad:
            raise ValueError(f"EffectNet: valid needs more than {pad} input samples (the "
                             f"receptive field - 1), got {x.shape[-1]}")
        x = x if valid else F.pad(x, (pad, 0))
        if stack is not None:
            out = stack(self, x, self._condition(x, controls))  # (B, T) or None
            if out is not None:
                return out[:, pad:]
        return self._full(x, controls)[:, 0, pad:]

    def _full(self, x: torch.Tensor, controls: torch.Tensor | None) -> torch.Tensor:
        """The whole model over x (B, T), every convolution padded with zeros: (B, outputs,
        T), the condition DSP's outputs its condition."""
        conv = lambda i, layer, h: layer.conv(h)  # noqa: E731
        cond = self.condition_dsp._full(x, None) if self.condition_dsp is not None else None
        return self._run(x, controls, conv, cond=cond)

    def init_state(self, batch_size: int = 1, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None, controls: torch.Tensor | None = None,
                   block: int | None = None) -> EffectState:
        """The state after receptive_field - 1 samples of silence (what the forward assumes
        before its input; NAM's plugin "pre-warms" the same way). ``block``: warm up in blocks
        of this many samples instead, receptive_field - 1 rounded up to whole blocks (the same
        state, to float rounding): torch's products round a column alike within blocks of one
        length, so blocks of ``block`` that follow then start from what they would leave
        themselves, and a silent input streamed in them gives an exactly constant output."""
        if block is not None and block < 1:
            raise ValueError(f"EffectNet.init_state: block must be >= 1, got {block}")
        w = next(self.parameters())
        device = device if device is not None else w.device
        dtype = dtype if dtype is not None else w.dtype
        state = self._blank_state(batch_size, device, dtype)
        warm = self.receptive_field - 1
        block = block or max(warm, 1)
        with torch.no_grad():
            silence = torch.zeros(batch_size, block, device=device, dtype=dtype)
            for _ in range(-(-warm // block)):
                self.stream(silence, state, controls)
        state.samples = 0
        return state

    def _blank_state(self, batch_size: int, device, dtype) -> EffectState:
        """Every ring buffer zero (and an LSTM's learnt state), the condition DSP's too: what
        :meth:`init_state` warms up with silence."""
        state = EffectState([layer.conv.init_state(batch_size, device, dtype)
                             for array in self.arrays for layer in array.layers])
        state.heads = [array.head_rechannel.init_state(batch_size, device, dtype)
                       if isinstance(array.head_rechannel, CausalConv1d) else None
                       for array in self.arrays]
        if self.lstm is not None:
            state.recurrent = tuple(t.to(device, dtype) for t in self.lstm.initial(batch_size))
        if self.condition_dsp is not None:
            state.condition = self.condition_dsp._blank_state(batch_size, device, dtype)
        return state

    def stream(self, x: torch.Tensor, state: EffectState,
               controls: torch.Tensor | None = None) -> tuple[torch.Tensor, EffectState]:
        """One block of any length: (B, T) -> (B, T), and the advanced state; the blocks of a
        signal joined equal the forward of the whole signal.

        The block runs over its columns rounded up to a multiple of 16, the extra ones zeros
        that never enter the state: torch's kernels round a column differently at the edge of
        their vectors (a lone last column of 17, say), and whole vectors make every column's
        arithmetic the same, so that silence streamed after :meth:`init_state` in the same
        blocks gives an exactly constant output."""
        if not self._fits(state):
            raise ValueError("EffectNet.stream: the state was made for another model")
        T = x.shape[-1]
        if self.lstm is not None:  # a recurrent state: only the block's own columns
            y, state.recurrent = self.lstm(self._condition(x, controls), state.recurrent)
            state.samples += T
            return y, state
        whole = F.pad(x, (0, -T % STREAM_COLUMNS))  # (B, T rounded up)
        y = self._stream_run(whole, T, controls, state)[:, 0]
        state.samples += T
        return y[..., :T], state

    def _fits(self, state: EffectState) -> bool:
        """Whether ``state`` was made for this model (its condition DSP's for its own)."""
        inner = self.condition_dsp
        return (len(state.convs) == sum(len(a.layers) for a in self.arrays)
                and (state.recurrent is None) == (self.lstm is None)
                and len(state.heads) == len(self.arrays)
                and (state.condition is None) == (inner is None)
                and (inner is None or inner._fits(state.condition)))

    def _stream_run(self, whole: torch.Tensor, T: int, controls: torch.Tensor | None,
                    state: EffectState) -> torch.Tensor:
        """One block (B, T') of whole vectors, its first T samples real, through the layer
        arrays (and first the condition DSP) with ``state``: (B, outputs, T')."""

        def head(i: int, array: _LayerArray, s: torch.Tensor) -> torch.Tensor:
            if state.heads[i] is None:  # 1x1: no past
                return array.head_rechannel(s)
            return array.head_rechannel.stream(s, state.heads[i], keep=T)[0]

        cond = (self.condition_dsp._stream_run(whole, T, None, state.condition)
                if self.condition_dsp is not None else None)
        return self._run(whole, controls,
                         lambda i, layer, h: layer.conv.stream(h, state.convs[i], keep=T)[0],
                         head, cond)

TANH = ("model", "fast", "exact")
"""How a model's tanh layers are played (:func:`with_tanh`; ``wavedil process --tanh``)."""


def with_tanh(model: EffectNet, tanh: str = "model") -> EffectNet:
    """``model`` with its tanh layers played as ``tanh`` says: model (as each array names
    them), fast (tanh as NAM's :func:`fast_tanh`, the way NAM's plugin plays every file), or
    exact (fast_tanh as tanh). ``model`` itself when nothing changes, else a new model with
    its weights, in its mode (it is not changed)."""
    if tanh not in TANH:
        raise ValueError(f"--tanh must be one of {', '.join(TANH)}, got {tanh!r}")
    if tanh == "fast" and model.lstm is not None:
        raise ValueError("--tanh fast plays layer arrays' tanh as NAM's plugin does; an LSTM "
                         "plays tanh and sigmoid exactly here")
    swap = {"fast": ("tanh", "fast_tanh"), "exact": ("fast_tanh", "tanh")}.get(tanh)
    played_config = _swapped(model.config, swap) if swap else None
    if played_config is None:
        return model
    w = next(model.parameters())
    played = EffectNet(played_config).to(w.device, w.dtype)
    played.load_state_dict(model.state_dict())
    return played.train(model.training)


def _swapped(c: EffectConfig, swap: tuple[str, str]) -> EffectConfig | None:
    """``c`` with activation swap[0] played as swap[1], in its layer arrays (their gates too)
    and its condition DSP's; None where none has it."""
    inner = _swapped(c.condition_config, swap) if c.condition_dsp is not None else None
    arrays = [dict(a, dilations=list(a["dilations"]),
                   **{k: renamed(a[k], *swap) for k in ("activation", "secondary_activation")
                      if k in a}) for a in c.arrays]
    if inner is None and arrays == c.arrays:
        return None
    return replace(c, preset=None, arrays=arrays,
                   condition_dsp=asdict(inner) if inner is not None else c.condition_dsp)


__all__ = ["ACTIVATIONS", "EffectConfig", "EffectNet", "EffectState", "FAST_TANH", "HEAD_KEYS",
           "PRESET_HEAD_SCALES", "PRESETS", "TANH", "fast_tanh", "head_taps", "layer_kernels",
           "with_tanh"]
