"""The evnn cell against EvNN's own forward pass, written here from EvNN's published equations in its
own parameter layout (kernel [n_in, 3n], recurrent kernel [n, 3n], two biases, thr; gate blocks
z, r, g), differentiated by autograd; and the state-dict import and export."""

from __future__ import annotations

import pytest
import torch
from conftest import rel_error

from golden.bptt import run_bptt
from golden.cli import main
from golden.config import CellConfig
from golden.errors import UserError
from golden.evnn import from_evnn_state_dict, to_evnn_state_dict
from golden.params import CellParams
from golden.rtrl import run_rtrl


class EvNNSpike(torch.autograd.Function):
    """EvNN's event function: H(v) forward (torch.heaviside(v, v): H(0) = 0); backward the dampening
    factor times max(1 - support |v|, 0)."""

    @staticmethod
    def forward(ctx, v, dampening, support):
        ctx.save_for_backward(v)
        ctx.dampening, ctx.support = dampening, support
        return torch.heaviside(v, v)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * ctx.dampening * torch.clamp(1 - ctx.support * v.abs(), min=0), None, None


def evnn_layer_forward(state: dict[str, torch.Tensor], x: torch.Tensor, gamma: float, epsilon: float):
    """EvNN's step as its paper and code state it: z, r = sigmoid(x K + b_x + y' R + b_h) per block;
    g = tanh(x K_g + b_xg + r (y' R_g + b_hg)); c = z h' + (1 - z) g; o = H(c - thr); h = c - o thr;
    y = o c. Returns y and c [T, B, n]."""
    K, R, bx, bh, thr = (state[k] for k in ("kernel", "recurrent_kernel", "bias", "recurrent_bias", "thr"))
    n = thr.shape[0]
    T, B, _ = x.shape
    h = torch.zeros(B, n, dtype=x.dtype)
    y = torch.zeros(B, n, dtype=x.dtype)
    ys, cs = [], []
    for t in range(T):
        vx = x[t] @ K + bx
        vh = y @ R + bh
        z = torch.sigmoid(vx[:, :n] + vh[:, :n])
        r = torch.sigmoid(vx[:, n : 2 * n] + vh[:, n : 2 * n])
        g = torch.tanh(vx[:, 2 * n :] + r * vh[:, 2 * n :])
        c = z * h + (1 - z) * g
        o = EvNNSpike.apply(c - thr, gamma, 1 / epsilon)  # EvNN: support = 1 / epsilon
        h = c - o * thr
        y = o * c
        ys.append(y)
        cs.append(c)
    return torch.stack(ys), torch.stack(cs)


def random_state(n: int, n_in: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)

    def draw(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    return {
        "kernel": draw(n_in, 3 * n, scale=0.8),
        "recurrent_kernel": draw(n, 3 * n, scale=0.5),
        "bias": draw(3 * n, scale=0.3),
        "recurrent_bias": draw(3 * n, scale=0.3),
        "thr": torch.rand(n, generator=gen, dtype=torch.float64) * 0.4 + 0.1,
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_and_gradients_equal_evnn(seed):
    n, n_in, T, B, gamma, epsilon = 9, 4, 16, 3, 0.7, 0.8
    state = random_state(n, n_in, seed)
    gen = torch.Generator().manual_seed(100 + seed)
    x = torch.randn(T, B, n_in, generator=gen, dtype=torch.float64) * 1.5
    credit_y = torch.randn(T, B, n, generator=gen, dtype=torch.float64)
    leaves = {k: v.clone().requires_grad_(True) for k, v in state.items()}
    y_ref, c_ref = evnn_layer_forward(leaves, x, gamma, epsilon)
    evnn_grads = torch.autograd.grad((credit_y * y_ref).sum(), list(leaves.values()))
    expected = from_evnn_state_dict(dict(zip(leaves, evnn_grads)))  # gradients map as the weights do

    config = CellConfig(cell="evnn", n=n, n_in=n_in, gamma=gamma, epsilon=epsilon, seed=seed)
    params = CellParams(config, from_evnn_state_dict(state), {})
    credits = {"c": torch.zeros_like(credit_y), "y": credit_y}
    run = run_rtrl(params, x, credits, mode="sparse", keep_records=True)
    assert 0.2 < float((run.records["o"] != 0).double().mean()) < 0.9  # events, and silence, happen
    assert torch.allclose(run.records["y"], y_ref.detach(), rtol=0, atol=1e-14)
    assert torch.allclose(run.records["c"], c_ref.detach(), rtol=0, atol=1e-14)
    assert max(rel_error(run.grads, expected).values()) < 1e-12
    assert max(rel_error(run_bptt(params, x, credits).grads, expected).values()) < 1e-12


def test_state_dict_round_trip_and_errors():
    state = random_state(5, 3, 0)
    params = CellParams(CellConfig(cell="evnn", n=5, n_in=3), from_evnn_state_dict(state), {})
    back = to_evnn_state_dict(params)
    assert all(torch.equal(back[k], state[k]) for k in state)
    with pytest.raises(UserError, match="no 'thr'"):
        from_evnn_state_dict({k: v for k, v in state.items() if k != "thr"})
    with pytest.raises(UserError, match="recurrent_kernel has shape"):
        from_evnn_state_dict({**state, "recurrent_kernel": state["recurrent_kernel"][:, :-1]})
    with pytest.raises(UserError, match="only an evnn cell"):
        to_evnn_state_dict(CellParams.initialise(CellConfig(cell="egru", n=5, n_in=3)))


def test_trace_from_an_evnn_state_dict(tmp_path, capsys):
    state = random_state(6, 2, 3)
    torch.save(state, tmp_path / "evnn.pt")
    out = tmp_path / "t.npz"
    assert main(["trace", "--evnn-state", str(tmp_path / "evnn.pt"), "--steps", "5", "--out", str(out)]) == 0
    assert "evnn n=6 n_in=2" in capsys.readouterr().out
    torch.save([1, 2], tmp_path / "list.pt")
    assert main(["trace", "--evnn-state", str(tmp_path / "list.pt"), "--out", str(tmp_path / "u.npz")]) != 0
    assert "holds a list, not a state dict" in capsys.readouterr().err
    args = ["trace", "--evnn-state", str(tmp_path / "evnn.pt"), "--n", "7", "--out", str(tmp_path / "v.npz")]
    assert main(args) != 0
    assert "--n: got 7 but the state dict has 6" in capsys.readouterr().err
