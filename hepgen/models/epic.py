"""Permutation-equivariant building blocks shared by the set models (EPiC layers, Buhmann et al.,
arXiv 2301.08128): masked MLPs over particles with a per-jet global vector, and the
flow-matching time embedding.

Example::

    >>> layer = EPiCLayer(16, 8)
    >>> h, g = layer(torch.randn(2, 5, 16), torch.randn(2, 8), torch.ones(2, 5, dtype=torch.bool))
    >>> h.shape, g.shape
    (torch.Size([2, 5, 16]), torch.Size([2, 8]))
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

__all__ = ["EPiCLayer", "masked_mean", "mlp", "split_first", "time_embedding"]


def mlp(sizes: list[int], act_last: bool = False) -> nn.Sequential:
    """Linear layers of ``sizes`` with SiLU between them (and after the last if ``act_last``)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or act_last:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def split_first(net: nn.Sequential, per_particle: torch.Tensor, per_jet: torch.Tensor) -> torch.Tensor:
    """``net(cat([per_particle, per_jet broadcast over particles]))`` without building the
    concatenation: the first layer's weight is split, the per-jet half applied once per jet.
    Identical in value; it saves the (B, k, d_a + d_b) copy and part of the first matmul."""
    first = cast(nn.Linear, net[0])
    n = per_particle.shape[-1]
    z = nn.functional.linear(per_particle, first.weight[:, :n], first.bias)
    z = z + nn.functional.linear(per_jet, first.weight[:, n:]).unsqueeze(1)
    return net[1:](z)


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` (B, k, d) over the particles where ``mask`` (B, k) is true."""
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp_min(1.0)


class EPiCLayer(nn.Module):
    """One equivariant point-cloud layer: a global vector updated from the masked mean of the
    particles, then every particle updated from itself and the global vector (residual)."""

    def __init__(self, d: int, dg: int) -> None:
        super().__init__()
        self.glob = mlp([dg + d, dg, dg])
        self.local = mlp([d + dg, d, d])
        self.norm = nn.LayerNorm(d)

    def forward(self, h: torch.Tensor, g: torch.Tensor, mask: torch.Tensor):
        g = g + self.glob(torch.cat([g, masked_mean(h, mask)], -1))
        return h + split_first(self.local, self.norm(h), g) * mask.unsqueeze(-1), g


def time_embedding(t: torch.Tensor, n: int) -> torch.Tensor:
    """Sinusoidal features (B, n) of the flow-matching time t ∈ [0, 1] (B,)."""
    freqs = torch.exp(torch.linspace(0, math.log(100.0), n // 2, device=t.device))
    a = t.unsqueeze(-1) * freqs * math.pi
    return torch.cat([torch.sin(a), torch.cos(a)], -1)
