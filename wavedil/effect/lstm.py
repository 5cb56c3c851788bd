"""The recurrent core of an effect model in Neural Amp Modeler's LSTM layout (``.nam``
architecture "LSTM"): stacked LSTM cells over the input sample (and the controls), then a
linear head, one sample at a time:

    per layer l:  [i f g o] = W_l [x_l; h_l] + b_l            (4H), PyTorch's gate order
                  c_l = sigmoid(f) c_l + sigmoid(i) tanh(g);  h_l = sigmoid(o) tanh(c_l)
                  x_{l+1} = h_l
    y = head_w h_L + head_b

Each layer starts from a learnt hidden and cell state (h0, c0), as NAM's files store them;
``EffectNet`` then runs half a second of silence through it before the signal (NAM's
"pre-warm", ``EffectConfig.receptive_field``). The cells are torch's ``nn.LSTM`` (its two
biases hold NAM's one between them: b_ih = b, b_hh = 0 when read from a file).
"""

from __future__ import annotations

import torch
from torch import nn

PREWARM_SECONDS = 0.5
"""Silence an LSTM hears before its signal: NAM core's pre-warm for its LSTM files."""


class LSTMCore(nn.Module):
    """``layers`` LSTM cells of ``hidden`` units over ``inputs`` values per sample, and a
    linear head to one output."""

    def __init__(self, inputs: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(inputs, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)
        self.h0 = nn.Parameter(torch.zeros(layers, hidden))
        self.c0 = nn.Parameter(torch.zeros(layers, hidden))

    def initial(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The learnt state before any input, for ``batch_size`` streams: (layers, B, H) each."""
        return (self.h0[:, None].expand(-1, batch_size, -1).contiguous(),
                self.c0[:, None].expand(-1, batch_size, -1).contiguous())

    def forward(self, cond: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """cond (B, inputs, T) -> the output (B, T) and the state after it (from the learnt
        initial state where ``state`` is None)."""
        state = self.initial(cond.shape[0]) if state is None else state
        h, state = self.lstm(cond.transpose(1, 2), state)  # (B, T, H)
        return self.head(h)[..., 0], state

    def nam_tensors(self) -> list[torch.Tensor]:
        """The weights in a .nam file's order: per layer [W_ih | W_hh] (4H, in + H) row by
        row, the summed bias (4H), h0, c0; then the head's weight (1, H) and bias."""
        out = []
        for i in range(self.lstm.num_layers):
            w = torch.cat([getattr(self.lstm, f"weight_ih_l{i}"),
                           getattr(self.lstm, f"weight_hh_l{i}")], dim=1)
            b = getattr(self.lstm, f"bias_ih_l{i}") + getattr(self.lstm, f"bias_hh_l{i}")
            out += [w, b, self.h0[i], self.c0[i]]
        return out + [self.head.weight, self.head.bias]

    @torch.no_grad()
    def load_nam(self, flat: torch.Tensor) -> None:
        """Set every weight from a .nam file's flat list (``nam_tensors``' order and sizes)."""
        i = 0

        def take(n: int) -> torch.Tensor:
            nonlocal i
            i += n
            return flat[i - n:i]

        H = self.lstm.hidden_size
        for layer in range(self.lstm.num_layers):
            ih = getattr(self.lstm, f"weight_ih_l{layer}")
            w = take(4 * H * (ih.shape[1] + H)).reshape(4 * H, ih.shape[1] + H)
            ih.copy_(w[:, :ih.shape[1]])
            getattr(self.lstm, f"weight_hh_l{layer}").copy_(w[:, ih.shape[1]:])
            getattr(self.lstm, f"bias_ih_l{layer}").copy_(take(4 * H))
            getattr(self.lstm, f"bias_hh_l{layer}").zero_()
            self.h0[layer].copy_(take(H))
            self.c0[layer].copy_(take(H))
        self.head.weight.copy_(take(H).reshape(1, H))
        self.head.bias.copy_(take(1))

    @staticmethod
    def weight_count(inputs: int, hidden: int, layers: int) -> int:
        """Numbers a .nam file holds for this shape."""
        total, inp = 0, inputs
        for _ in range(layers):
            total += 4 * hidden * (inp + hidden) + 4 * hidden + 2 * hidden
            inp = hidden
        return total + hidden + 1


__all__ = ["LSTMCore", "PREWARM_SECONDS"]
