"""Jet kinematics from constituents, one implementation for numpy and torch.

Every function here takes dense, zero-padded arrays (``(..., k, 3)`` for constituent
momenta ``px, py, pz``) and works unchanged on ``numpy.ndarray`` and ``torch.Tensor``:
the torch path is differentiable and batched, so the same code serves the dataset
builder, the metrics and the training losses. Constituents are massless (``E = |p|``),
as in the seeds; zero-padded entries contribute nothing to any sum.

Jagged (awkward) inputs are first padded with :func:`hepgen.physics.coordinates.pad`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Array = Any  # numpy.ndarray | torch.Tensor

JET_FEATURES: tuple[str, ...] = ("pt", "eta", "phi", "mass", "E")


class _Ops:
    """The few elementwise operations that numpy and torch spell differently."""

    def __init__(self, x: Array) -> None:
        self.torch = isinstance(x, torch.Tensor)

    def atan2(self, y: Array, x: Array) -> Array:
        return torch.atan2(y, x) if self.torch else np.arctan2(y, x)

    def asinh(self, x: Array) -> Array:
        return torch.asinh(x) if self.torch else np.arcsinh(x)

    def hypot(self, x: Array, y: Array) -> Array:
        return torch.hypot(x, y) if self.torch else np.hypot(x, y)

    def sqrt(self, x: Array) -> Array:
        return torch.sqrt(x) if self.torch else np.sqrt(x)

    def where(self, c: Array, a: Array, b: Array) -> Array:
        return torch.where(c, a, b) if self.torch else np.where(c, a, b)

    def sum(self, x: Array, axis: int) -> Array:
        return x.sum(dim=axis) if self.torch else x.sum(axis=axis)

    def stack(self, xs: list[Array], axis: int) -> Array:
        return torch.stack(xs, dim=axis) if self.torch else np.stack(xs, axis=axis)

    def cos(self, x: Array) -> Array:
        return torch.cos(x) if self.torch else np.cos(x)

    def sin(self, x: Array) -> Array:
        return torch.sin(x) if self.torch else np.sin(x)

    def cosh(self, x: Array) -> Array:
        return torch.cosh(x) if self.torch else np.cosh(x)

    def sinh(self, x: Array) -> Array:
        return torch.sinh(x) if self.torch else np.sinh(x)

    def clip_min(self, x: Array, lo: float) -> Array:
        return torch.clamp(x, min=lo) if self.torch else np.maximum(x, lo)


def wrap_phi(phi: Array) -> Array:
    """Map an angle (or angle difference) into [-π, π)."""
    return (phi + np.pi) % (2 * np.pi) - np.pi


def pt_eta_phi_mass(px: Array, py: Array, pz: Array, E: Array) -> tuple[Array, Array, Array, Array]:
    """(pT, η, φ, m) of four-vectors; η = 0 where pT = 0; m < 0 for space-like (as fastjet)."""
    o = _Ops(px)
    pt = o.hypot(px, py)
    safe_pt = o.where(pt > 0, pt, pt * 0 + 1)
    eta = o.where(pt > 0, o.asinh(pz / safe_pt), pt * 0)
    phi = o.atan2(py, px)
    m2 = E * E - px * px - py * py - pz * pz
    # Sign-preserving mass as fastjet's PseudoJet::m(); a tiny floor keeps torch gradients finite.
    eps = 1e-12
    mass = o.where(m2 >= 0, o.sqrt(o.clip_min(m2, eps)), -o.sqrt(o.clip_min(-m2, eps)))
    mass = o.where(o.where(m2 >= 0, m2, -m2) > eps, mass, m2 * 0)
    return pt, eta, phi, mass


def constituent_energy(constituents: Array) -> Array:
    """E = |p| of massless constituents, shape (..., k)."""
    o = _Ops(constituents)
    p2 = o.sum(constituents * constituents, axis=-1)
    return o.sqrt(o.clip_min(p2, 1e-20)) * (p2 > 0)


def jet_four_momentum(constituents: Array) -> tuple[Array, Array, Array, Array]:
    """Sum of massless constituents (..., k, 3) → (px, py, pz, E) of the jet."""
    o = _Ops(constituents)
    p = o.sum(constituents, axis=-2)
    E = o.sum(constituent_energy(constituents), axis=-1)
    return p[..., 0], p[..., 1], p[..., 2], E


def jet_features(constituents: Array) -> Array:
    """Jet (pT, η, φ, m, E) from massless constituents (..., k, 3), stacked on the last axis.

    The order is :data:`JET_FEATURES`, the first five columns of the dataset layout's
    ``jet`` table.
    """
    o = _Ops(constituents)
    px, py, pz, E = jet_four_momentum(constituents)
    pt, eta, phi, mass = pt_eta_phi_mass(px, py, pz, E)
    return o.stack([pt, eta, phi, mass, E], axis=-1)


def n_constituents(constituents: Array) -> Array:
    """Number of non-padding constituents (any non-zero momentum component)."""
    o = _Ops(constituents)
    nonzero = o.sum((constituents != 0) * 1, axis=-1) > 0
    return o.sum(nonzero * 1, axis=-1)


CHARGED_PIDS: tuple[int, ...] = (11, 13, 211, 321, 2212, 3112, 3222, 3312, 3334)
"""|PDG id| of the long-lived charged particles of a generator record (e, μ, π, K, p, Σ±, Ξ, Ω)."""
CONTENT: tuple[str, ...] = ("charged", "photon", "neutral hadron")


def particle_classes(pid: Array) -> Array:
    """One-hot particle classes (..., k, 3) of PDG ids (..., k): charged particle, photon,
    neutral hadron (every other non-zero id: n, K_L, Λ, ...), in the order :data:`CONTENT`;
    all zero for padding (``pid`` 0). numpy or torch in, the same out (float)."""
    o, a = _Ops(pid), abs(pid)
    charged = (
        torch.isin(a, torch.tensor(CHARGED_PIDS, device=a.device, dtype=a.dtype)) if o.torch
        else np.isin(a, CHARGED_PIDS)
    )
    photon = a == 22
    neutral = (a > 0) & ~charged & ~photon
    out = o.stack([charged, photon, neutral], -1)
    return out.float() if o.torch else out.astype(np.float64)


def particle_content(constituents: Array, pid: Array) -> Array:
    """pT fractions of a jet's constituents (..., k, 3) in charged particles, photons and neutral
    hadrons (:func:`particle_classes`), stacked on the last axis (order :data:`CONTENT`; each row
    sums to 1 where the jet has a constituent with a ``pid``).

    The detector measures the three with different devices (tracker, ECAL, HCAL) and
    resolutions, so a jet's response follows its content (RESULTS.md §2). ``pid`` (..., k) is
    the PDG id of each constituent, 0 for padding.
    """
    o = _Ops(constituents)
    pt = o.hypot(constituents[..., 0], constituents[..., 1])
    classes = particle_classes(pid)
    classes = classes.to(pt.dtype) if o.torch else classes.astype(pt.dtype)
    total = o.clip_min(o.sum(pt * (abs(pid) > 0), axis=-1), 1e-9)
    return o.stack([o.sum(pt * classes[..., j], axis=-1) / total for j in range(3)], axis=-1)
