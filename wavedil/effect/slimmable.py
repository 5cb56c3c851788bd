"""Slimmable effect models: one network trained at several widths that share its weights
(Yu et al. 2019, "Slimmable neural networks"), played at the width NAM's size knob picks
(``EffectConfig.slimmable`` gives each layer array's allowed widths).

A width w of a layer array keeps every weight's leading block, as NAM core cuts a slimmable
WaveNet (``NAM/wavenet/slimmable.cpp``, ``extract_slimmed_weights``) and NAM's package slices its
convolutions; w' is the previous array's width (1 for the first: the input), w'' the next
array's (the last array's head size for the last):

    rechannel      W[:w, :w']                (out, in, taps)
    dilated conv   W[:w, :w, :], b[:w]       gated: W[:2w, :w, :], b[:2w], the first 2w rows,
    mixer          W[:w, :]                  of which the activation reads w and the gate w
    layer1x1       W[:w, :w], b[:w]
    head           W[:w'', :w, :], b[:w'']   (a 1x1 or a causal convolution alike)

NAM's size knob s in [0, 1] plays each slimmable array's allowed[min(floor(s n), n - 1)] of its
n allowed widths (:func:`widths_at`, NAM core's ``ratio_to_channels``); the widths change at
the breakpoints i / n (:func:`breakpoints`), and :func:`width_choices` lists the widths it
plays, narrowest first. :func:`cut` makes the model of one width (new weights, copied).

Training runs the model at a width without copying its weights (:func:`narrow`): the same
:class:`EffectNet` code over a shell of the narrow layout (:func:`shell`, on the meta device:
no memory, no random numbers drawn) whose parameters are views of the model's leading blocks,
so that every width's gradients reach the one set of weights. :func:`sandwich` picks a step's
widths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import torch

from .model import EffectConfig, EffectNet


def allowed(config: EffectConfig) -> list[list[int]]:
    """Each layer array's allowed widths: its ``slimmable`` entry, or its channels alone (an
    array kept whole, or a model that is not slimmable)."""
    s = config.slimmable or [None] * len(config.arrays)
    return [list(w) if w is not None else [a["channels"]] for w, a in zip(s, config.arrays)]


def widths_at(config: EffectConfig, size: float) -> list[int]:
    """The widths NAM's size knob at ``size`` (in [0, 1]) plays: each array's
    allowed[min(floor(size n), n - 1)], as NAM core's slimmable WaveNet picks them."""
    if not isinstance(size, (int, float)) or isinstance(size, bool) or not 0.0 <= size <= 1.0:
        raise ValueError(f"size must be in [0, 1], got {size!r}")
    return [w[min(math.floor(size * len(w)), len(w) - 1)] for w in allowed(config)]


def breakpoints(config: EffectConfig) -> list[float]:
    """The sizes at which the widths change: every i / n (0 < i < n) of each array's n
    allowed widths, ascending (NAM core's ``get_ratio_breakpoints``); empty for a model that
    is not slimmable."""
    return sorted({i / len(w) for w in allowed(config) for i in range(1, len(w))})


def width_choices(config: EffectConfig) -> list[list[int]]:
    """The widths NAM's size knob plays from 0 to 1, one per interval between breakpoints:
    the narrowest first, the full widths last (read at each interval's middle, clear of the
    rounding of i / n times n)."""
    edges = [0.0, *breakpoints(config), 1.0]
    return [widths_at(config, (a + b) / 2) for a, b in zip(edges, edges[1:])]


def _narrow_config(config: EffectConfig, widths: list[int]) -> EffectConfig:
    """``config`` cut to ``widths`` channels per layer array (each array's head the next
    one's width), not slimmable; ValueError for widths it cannot be cut to."""
    if config.lstm is not None:
        raise ValueError("an LSTM has no widths to cut to (NAM slims layer arrays)")
    full = [a["channels"] for a in config.arrays]
    if len(widths) != len(full) or not all(
            isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= c
            for w, c in zip(widths, full)):
        raise ValueError(f"widths must be one per layer array, from 1 to its channels {full}, "
                         f"got {widths!r}")
    arrays = []
    for i, (a, w) in enumerate(zip(config.arrays, widths)):
        a = dict(a, channels=w, head_size=widths[i + 1] if i + 1 < len(widths)
                 else a["head_size"])
        if "bottleneck" in a:  # equal to the channels (a slimmable array has no other)
            a["bottleneck"] = w
        arrays.append(a)
    return replace(config, preset=None, arrays=arrays, slimmable=None)


def cut(model: EffectNet, widths: list[int]) -> EffectNet:
    """``model`` cut to ``widths`` channels per layer array, as NAM core's slimmable WaveNet
    cuts it: a new, plain model holding every weight's leading block (the condition DSP
    whole); ``model`` itself at its full widths (slimmable still)."""
    if widths == [a["channels"] for a in model.config.arrays]:
        return model
    slim = EffectNet(_narrow_config(model.config, widths))
    full = dict(model.named_parameters())
    with torch.no_grad():
        for name, small in slim.named_parameters():
            small.copy_(full[name][tuple(slice(0, n) for n in small.shape)])
    w = next(model.parameters())
    return slim.to(w.device, w.dtype).train(model.training)


def at_size(model: EffectNet, size: float) -> EffectNet:
    """``model`` at the widths NAM's size knob at ``size`` plays (:func:`widths_at`,
    :func:`cut`)."""
    return cut(model, widths_at(model.config, size))


def shell(config: EffectConfig, widths: list[int]) -> EffectNet:
    """The layout of ``config`` at ``widths`` as a model on the meta device (no weights held,
    no random numbers drawn), for :func:`narrow`."""
    with torch.device("meta"):
        return EffectNet(_narrow_config(config, widths))


def narrow(model: EffectNet, layout: EffectNet, x: torch.Tensor,
           controls: torch.Tensor | None = None, valid: bool = False,
           stack: Callable[..., torch.Tensor | None] | None = None) -> torch.Tensor:
    """``model``'s forward at the widths of ``layout`` (a :func:`shell`): (B, T) -> (B, T),
    equal to ``cut(model, widths)(x, controls, valid)``, its weights views of ``model``'s
    leading blocks (nothing copied; gradients reach ``model``); ``stack``: a training pass, as
    ``EffectNet.forward`` takes it."""
    full = dict(model.named_parameters())
    views = {name: full[name][tuple(slice(0, n) for n in p.shape)]
             for name, p in layout.named_parameters()}
    return torch.func.functional_call(layout, views, (x, controls),
                                      {"valid": valid, "stack": stack})


def sandwich(config: EffectConfig, generator: torch.Generator | None = None
             ) -> list[list[int]]:
    """A training step's widths by the sandwich rule (Yu and Huang 2019): the full widths, the
    narrowest and one random width between them (uniform over :func:`width_choices`' middle
    ones; none where there are only two). The bounds every step, since a slimmable network's
    quality lies between its narrowest and its widest; one more at random covers the rest."""
    choices = width_choices(config)
    if len(choices) <= 2:
        return choices[::-1]
    middle = choices[1:-1]
    pick = int(torch.randint(len(middle), (1,), generator=generator))
    return [choices[-1], choices[0], middle[pick]]


__all__ = ["allowed", "at_size", "breakpoints", "cut", "narrow", "sandwich", "shell",
           "width_choices", "widths_at"]
