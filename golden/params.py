"""Parameter blocks of each cell, their flat layout, initialisation and fixed sparsity masks.

Every cell parameter is a block of shape (rows, cols); vectors (biases, theta) have cols = 1. The flat
parameter vector w (length p) concatenates the blocks in `block_names(cell)` order, each row-major:
index(block, m, j) = offset(block) + m * cols + j. The influence matrix M = d s / d w has one column
per entry of w in the dense layout and one per kept (unmasked) entry in the compacted layout.

Masks (DESIGN.md, parameter sparsity): one independent fixed 0/1 mask per recurrent matrix (V_u, V_r,
V_z for the EGRU and GRU, V for the threshold RNN) with exactly round(omega * n^2) entries masked,
drawn from the seed. Input matrices, biases and theta are unmasked. Effective weight = weight * mask.

theta is a trained parameter of its own (the influence matrix has a column per theta_k). Its
initialisation follows the sparse-RTRL authors' code: theta = sigmoid(tau), tau ~ N(-1, 1). Training
keeps theta in (0, 1) by updating tau = logit(theta) (golden.optim), the EGRU paper's (S58)
sigmoid reparameterisation; gradients reported here are always with respect to theta itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

from golden.config import CellConfig
from golden.errors import UserError

GATES = ("u", "r", "z")


def block_names(cell: str) -> tuple[str, ...]:
    """Names of the cell's parameter blocks in flat-layout order."""
    if cell == "trnn":
        return ("W", "V", "b", "theta")
    gated = tuple(f"W_{g}" for g in GATES) + tuple(f"V_{g}" for g in GATES) + tuple(f"b_{g}" for g in GATES)
    if cell == "evnn":  # EvNN's second (recurrent) bias per gate
        gated += tuple(f"bh_{g}" for g in GATES)
    return gated + (("theta",) if cell in ("egru", "evnn") else ())


def is_maskable(name: str) -> bool:
    """Recurrent matrices (V, V_u, V_r, V_z) are the maskable parameters (Table 1's p)."""
    return name == "V" or name.startswith("V_")


@dataclass(frozen=True)
class Block:
    name: str
    rows: int
    cols: int
    offset: int

    @property
    def size(self) -> int:
        return self.rows * self.cols

    @property
    def shape(self) -> tuple[int, ...]:
        """Natural tensor shape: matrices (W*, V*) are 2-D, biases and theta 1-D."""
        return (self.rows, self.cols) if self.name[0] in "WV" else (self.rows,)


def block_shape(name: str, n: int, n_in: int) -> tuple[int, int]:
    if name.startswith("W"):
        return n, n_in
    if name.startswith("V"):
        return n, n
    return n, 1


def _check_tensors(
    config: CellConfig, blocks: tuple[Block, ...], tensors: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]
) -> None:
    """Every parameter present, a real floating tensor of its block's shape with finite entries;
    masks only for maskable blocks, of their shape, holding 0 and 1 alone. UserError names the entry."""
    expected = {b.name: b for b in blocks}
    unknown = sorted(set(tensors) - set(expected))
    if unknown:
        raise UserError(f"parameters {unknown} do not belong to cell {config.cell!r}; expected {sorted(expected)}")
    for b in blocks:
        t = tensors.get(b.name)
        if t is None:
            raise UserError(f"parameter {b.name}: missing for cell {config.cell!r}")
        if not isinstance(t, torch.Tensor) or not (t.is_floating_point() and not t.is_complex()):
            kind = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise UserError(f"parameter {b.name}: {kind}; expected a real floating-point tensor")
        if tuple(t.shape) != b.shape:
            raise UserError(f"parameter {b.name}: shape {tuple(t.shape)}, expected {b.shape}")
        if not torch.isfinite(t).all():
            bad = int((~torch.isfinite(t)).sum())
            raise UserError(f"parameter {b.name}: {bad} NaN or infinite entries; expected finite values")
    for name, m in masks.items():
        if name not in expected or not is_maskable(name):
            maskable = [b.name for b in blocks if is_maskable(b.name)]
            raise UserError(f"mask {name}: not a maskable parameter of {config.cell!r}; expected some of {maskable}")
        if not isinstance(m, torch.Tensor) or tuple(m.shape) != expected[name].shape:
            shape = tuple(m.shape) if isinstance(m, torch.Tensor) else type(m).__name__
            raise UserError(f"mask {name}: shape {shape}, expected {expected[name].shape}")
        if m.dtype != torch.bool and not ((m == 0) | (m == 1)).all():
            values = sorted({float(v) for v in torch.unique(m)[:6]})
            raise UserError(f"mask {name}: values {values}; expected only 0 (masked) and 1 (kept)")


class CellParams:
    """A cell's parameters (natural shapes, float tensors) and masks (bool, maskable blocks only)."""

    def __init__(self, config: CellConfig, tensors: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]):
        self.config = config
        blocks, offset = [], 0
        for name in block_names(config.cell):
            rows, cols = block_shape(name, config.n, config.n_in)
            blocks.append(Block(name, rows, cols, offset))
            offset += rows * cols
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self.p_total = offset
        _check_tensors(config, self.blocks, tensors, masks)
        self.tensors = {b.name: tensors[b.name].to(config.torch_dtype) for b in self.blocks}
        self.masks = {name: masks[name].to(torch.bool) for name in masks}

    @classmethod
    def initialise(cls, config: CellConfig) -> "CellParams":
        """Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) weights and biases (fan_in = n_in for W, n for V
        and biases, PyTorch's GRU default), theta = sigmoid(tau) with tau ~ N(-1, 1), and masks."""
        gen = torch.Generator().manual_seed(config.seed)
        dt = config.torch_dtype
        tensors = {}
        for name in block_names(config.cell):
            rows, cols = block_shape(name, config.n, config.n_in)
            if name == "theta":
                tensors[name] = torch.sigmoid(torch.randn(rows, generator=gen, dtype=dt) - 1.0)
                continue
            bound = 1.0 / math.sqrt(config.n_in if name.startswith("W") else config.n)
            shape = (rows, cols) if name[0] in "WV" else (rows,)
            tensors[name] = (torch.rand(shape, generator=gen, dtype=dt) * 2 - 1) * bound
        return cls(config, tensors, make_masks(config))

    def mask(self, name: str) -> torch.Tensor:
        """The block's 0/1 mask (all ones for unmasked blocks), bool, natural shape."""
        if name in self.masks:
            return self.masks[name]
        return torch.ones(self.block(name).shape, dtype=torch.bool)

    def block(self, name: str) -> Block:
        return next(b for b in self.blocks if b.name == name)

    def effective(self) -> dict[str, torch.Tensor]:
        """Effective parameters: weight * mask for masked blocks, the tensor itself otherwise."""
        return {n: (t * self.masks[n] if n in self.masks else t) for n, t in self.tensors.items()}

    @cached_property
    def flat_mask(self) -> torch.Tensor:
        """Bool [p]: True where the flat parameter is kept (unmasked)."""
        return torch.cat([self.mask(b.name).reshape(-1) for b in self.blocks])

    @cached_property
    def kept_index(self) -> torch.Tensor:
        """Long [p_kept]: flat indices of the kept parameters (the compacted influence columns)."""
        return torch.nonzero(self.flat_mask).flatten()

    @property
    def p_maskable(self) -> int:
        return sum(b.size for b in self.blocks if is_maskable(b.name))

    @cached_property
    def p_kept(self) -> int:
        return int(self.flat_mask.sum())

    def sparsity(self) -> dict[str, float | int]:
        """omega and p for the maskable (recurrent) parameters, Table 1's p, and for all of them."""
        masked = self.p_total - self.p_kept
        return {
            "p_total": self.p_total,
            "p_maskable": self.p_maskable,
            "p_kept": self.p_kept,
            "omega_maskable": masked / self.p_maskable,
            "omega_total": masked / self.p_total,
        }

    def flatten(self, blocks: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenate per-block tensors (natural shapes, optional leading batch dims) into [..., p]."""
        parts = []
        for b in self.blocks:
            t = blocks[b.name]
            parts.append(t.reshape(*t.shape[: t.dim() - len(b.shape)], b.size))
        return torch.cat(parts, dim=-1)

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """Inverse of flatten for a [p] vector."""
        return {b.name: flat[b.offset : b.offset + b.size].reshape(b.shape) for b in self.blocks}

    def clone(self) -> "CellParams":
        return CellParams(self.config, {k: v.clone() for k, v in self.tensors.items()}, dict(self.masks))


def make_masks(config: CellConfig) -> dict[str, torch.Tensor]:
    """One independent mask per recurrent matrix with exactly round(omega * n^2) zeros, seeded."""
    gen = torch.Generator().manual_seed(config.seed + 1_000_003)
    masks = {}
    for name in block_names(config.cell):
        if not is_maskable(name):
            continue
        size = config.n * config.n
        flat = torch.ones(size, dtype=torch.bool)
        flat[torch.randperm(size, generator=gen)[: round(config.omega * size)]] = False
        masks[name] = flat.reshape(config.n, config.n)
    return masks
