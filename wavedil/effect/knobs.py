"""A knob model at one setting: its control values folded into its weights, so that the model
reads the input alone and plays, exports and streams as a model without controls.

A control value is constant over a signal, and every weight that reads it is a 1x1
convolution (or an LSTM's input product) that adds it to a sum with a bias:

    mixer(c) = W_x x + W_p p        (c = [x; p], the input and the controls)
    conv_d(h) + mixer(c) = conv_d'(h) + W_x x      where conv_d' has bias b + W_p p

so the fixed model gives the knob model's output at ``p`` to float rounding. A ``.nam`` file
holds no controls, so this is how a knob model travels to Neural Amp Modeler: one file per
setting (``wavedil export --control``), as NAM users capture one file per knob position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch

from .model import EffectNet


def fix_controls(model: EffectNet, values: Sequence[float]) -> EffectNet:
    """A copy of ``model`` without controls that plays as ``model`` does at ``values`` (one per
    control). ValueError for the wrong number of values, a model without controls, or layers
    whose condition passes through FiLM or a grouped mixer (not a sum with a bias)."""
    c = model.config
    values = [float(v) for v in values]
    if not c.controls:
        raise ValueError("fix_controls: the model has no controls (config.controls is 0)")
    if len(values) != c.controls:
        raise ValueError(f"fix_controls: the model has {c.controls} controls, got "
                         f"{len(values)} values {values}")
    for ai, array in enumerate(model.arrays):
        for li, layer in enumerate(array.layers):
            if layer.films or layer.spec.groups_input_mixin != 1:
                raise ValueError(f"fix_controls: layer {li} of array {ai} reads its controls "
                                 "through FiLM or a grouped mixer; only a plain mixer folds")
    fixed = EffectNet(replace(c, controls=0)).to(next(model.parameters()).device)
    state = model.state_dict()
    with torch.no_grad():
        p = torch.tensor(values, dtype=torch.float64)
        if model.lstm is not None:
            w, key = state["lstm.lstm.weight_ih_l0"], "lstm.lstm.bias_ih_l0"
            state[key] = (state[key].double() + w[:, 1:].double() @ p).to(w.dtype)
            state["lstm.lstm.weight_ih_l0"] = w[:, :1]
        for ai, array in enumerate(model.arrays):
            for li in range(len(array.layers)):
                at = f"arrays.{ai}.layers.{li}"
                w, bias = state[f"{at}.mixer.weight"], f"{at}.conv.conv.bias"  # (M, 1 + P, 1)
                state[bias] = (state[bias].double() + w[:, 1:, 0].double() @ p).to(w.dtype)
                state[f"{at}.mixer.weight"] = w[:, :1]
    fixed.load_state_dict(state)
    return fixed.train(model.training)


__all__ = ["fix_controls"]
