"""The chunked pass's C gate (gate.c) against the gate's formulas in float64."""

import pytest
import torch

from wavedil.native import gate as gate_kernel

GATE = gate_kernel.load()
pytestmark = pytest.mark.skipif(not GATE, reason="no C compiler: the gate kernel does not build")


@pytest.mark.parametrize("H", [1, 5, 8, 13, 32, 64])
def test_forward_and_backward_match_the_formulas(H):
    torch.manual_seed(H)
    rows = 50
    pre = torch.randn(rows, 2 * H) * 4
    pre[0], pre[1], pre[2] = 100.0, -100.0, 0.0  # saturated both ways, and the middle
    bias = torch.randn(2 * H)
    z, ds = torch.full((rows, H), float("nan")), torch.full((rows, 2 * H), float("nan"))
    GATE.forward(pre, bias, z, ds)
    p = (pre + bias).double()
    t, s = torch.tanh(p[:, :H]), torch.sigmoid(p[:, H:])
    torch.testing.assert_close(z.double(), t * s, rtol=0, atol=5e-7)
    torch.testing.assert_close(ds.double(), torch.cat([s * (1 - t * t), t * s * (1 - s)], 1),
                               rtol=0, atol=5e-7)
    dz = torch.randn(rows + 3, H)[3:]  # rows of a wider tensor: the row stride is honoured
    dp, colsum = torch.empty(rows, 2 * H), torch.ones(2 * H)
    GATE.backward(ds, dz, dp, colsum)
    expect = ds.double() * torch.cat([dz, dz], 1).double()
    torch.testing.assert_close(dp.double(), expect, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(colsum.double(), 1 + expect.sum(0), rtol=1e-5, atol=1e-5)


def test_z_and_ds_may_be_row_slices_of_wider_tensors():
    pre, bias = torch.randn(6, 16), torch.zeros(16)
    z, ds = torch.zeros(6, 8 + 3), torch.zeros(6, 16 + 5)
    GATE.forward(pre, bias, z[:, :8], ds[:, :16])
    assert (z[:, 8:] == 0).all() and (ds[:, 16:] == 0).all()  # nothing written past a row
    torch.testing.assert_close(z[:, :8], torch.tanh(pre[:, :8]) * torch.sigmoid(pre[:, 8:]))


def test_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="float32"):
        GATE.forward(torch.zeros(2, 4, dtype=torch.float64), torch.zeros(4), torch.zeros(2, 2),
                     torch.zeros(2, 4))
