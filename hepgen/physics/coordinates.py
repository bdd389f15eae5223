"""Coordinate systems for jet constituents, numpy and torch alike.

- cartesian ``(px, py, pz)`` — the dataset layout and the fast-sim model's table;
- hadronic ``(pT, η, φ)``;
- JetNet relative ``(η_rel, φ_rel, pT_rel)`` = (η − η_jet, wrap(φ − φ_jet), pT / pT_jet),
  as in Kansal et al. (jetnet ``JetNet`` particle features), with φ wrapped into [-π, π);
- jet frame, cartesian (:func:`to_jet_frame`) or polar ``(η_rel, φ_rel, pT)``
  (:func:`to_jet_polar`: the relative angles with the absolute pT).

Zero padding is kept: a padded input row (all zeros) maps to an all-zero output row.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepgen.physics.kinematics import Array, _Ops, jet_features, wrap_phi


def _mask(x: Array) -> Array:
    o = _Ops(x)
    return o.sum((x != 0) * 1, axis=-1) > 0


def cartesian_to_ptetaphi(c: Array) -> Array:
    """(..., 3) px, py, pz → (..., 3) pT, η, φ; padding stays zero."""
    o = _Ops(c)
    px, py, pz = c[..., 0], c[..., 1], c[..., 2]
    pt = o.hypot(px, py)
    safe = o.where(pt > 0, pt, pt * 0 + 1)
    eta = o.where(pt > 0, o.asinh(pz / safe), pt * 0)
    phi = o.where(pt > 0, o.atan2(py, px), pt * 0)
    return o.stack([pt, eta, phi], axis=-1)


def ptetaphi_to_cartesian(h: Array) -> Array:
    """(..., 3) pT, η, φ → (..., 3) px, py, pz (massless)."""
    o = _Ops(h)
    pt, eta, phi = h[..., 0], h[..., 1], h[..., 2]
    return o.stack([pt * o.cos(phi), pt * o.sin(phi), pt * o.sinh(eta)], axis=-1)


def to_relative(c: Array, jet: Array | None = None) -> Array:
    """Cartesian constituents (..., k, 3) → JetNet relative (η_rel, φ_rel, pT_rel).

    ``jet`` holds (pT, η, φ, ...) per jet; computed from the constituents when omitted.
    """
    o = _Ops(c)
    if jet is None:
        jet = jet_features(c)
    mask = _mask(c)
    h = cartesian_to_ptetaphi(c)
    jpt, jeta, jphi = jet[..., 0:1], jet[..., 1:2], jet[..., 2:3]
    safe_pt = o.where(jpt > 0, jpt, jpt * 0 + 1)
    rel = o.stack(
        [h[..., 1] - jeta, wrap_phi(h[..., 2] - jphi), h[..., 0] / safe_pt],
        axis=-1,
    )
    return rel * mask[..., None]


def from_relative(rel: Array, jet: Array) -> Array:
    """JetNet relative (η_rel, φ_rel, pT_rel) + jet (pT, η, φ, ...) → cartesian (..., k, 3)."""
    o = _Ops(rel)
    mask = rel[..., 2] != 0
    h = o.stack(
        [
            rel[..., 2] * jet[..., 0:1],
            rel[..., 0] + jet[..., 1:2],
            wrap_phi(rel[..., 1] + jet[..., 2:3]),
        ],
        axis=-1,
    )
    return ptetaphi_to_cartesian(h) * mask[..., None]


def to_jet_frame(c: Array, jet: Array | None = None) -> Array:
    """Cartesian constituents (..., k, 3) → the same momenta in the jet's frame: rotated in φ
    and boosted along z so that the jet axis sits at η = φ = 0 (pT kept: px ≈ pT, py ≈ pT·Δφ,
    pz ≈ pT·sinh Δη). Both are symmetries of the jet's internal structure, so the table keeps
    the substructure and drops the direction, which a generator then draws separately."""
    o = _Ops(c)
    if jet is None:
        jet = jet_features(c)
    mask = _mask(c)
    h = cartesian_to_ptetaphi(c)
    moved = o.stack([h[..., 0], h[..., 1] - jet[..., 1:2], wrap_phi(h[..., 2] - jet[..., 2:3])], axis=-1)
    return ptetaphi_to_cartesian(moved) * mask[..., None]


def from_jet_frame(x: Array, axes: Array) -> Array:
    """Inverse of :func:`to_jet_frame` for jet axes (η, φ) (..., 2); padding stays zero."""
    o = _Ops(x)
    mask = _mask(x)
    h = cartesian_to_ptetaphi(x)
    moved = o.stack([h[..., 0], h[..., 1] + axes[..., 0:1], wrap_phi(h[..., 2] + axes[..., 1:2])], axis=-1)
    return ptetaphi_to_cartesian(moved) * mask[..., None]


def to_jet_polar(c: Array, jet: Array | None = None) -> Array:
    """Cartesian constituents (..., k, 3) → (η_rel, φ_rel, pT) in GeV: JetNet's relative angles
    with the absolute pT, so a generator keeps its own jet pT (as with :func:`to_jet_frame`) while
    every particle's angles are modelled on one scale, however soft it is. In the cartesian jet
    frame py ≈ pT·Δφ: once standardised, a soft particle's angles are a negligible part of a
    Chamfer or MSE loss, and a negative px (a particle pointing backwards, Δφ ≈ π) is cheap."""
    o = _Ops(c)
    if jet is None:
        jet = jet_features(c)
    mask = _mask(c)
    h = cartesian_to_ptetaphi(c)
    rel = o.stack(
        [h[..., 1] - jet[..., 1:2], wrap_phi(h[..., 2] - jet[..., 2:3]), h[..., 0]], axis=-1
    )
    return rel * mask[..., None]


def from_jet_polar(x: Array, axes: Array) -> Array:
    """Inverse of :func:`to_jet_polar` for jet axes (η, φ) (..., 2). A non-positive pT (a
    generator's output) is a missing particle: its row becomes zero padding."""
    o = _Ops(x)
    pt = o.clip_min(x[..., 2], 0.0)
    h = o.stack([pt, x[..., 0] + axes[..., 0:1], wrap_phi(x[..., 1] + axes[..., 1:2])], axis=-1)
    return ptetaphi_to_cartesian(h) * (pt > 0)[..., None]


def relative_jet_mass(rel: Array, floor: float = 0.0) -> Array:
    """m / pT_jet of massless particles in JetNet relative coordinates (..., k, 3).

    √max(m², ``floor``): 0 gives jetnet's ``jet_features`` mass; a tiny positive floor keeps
    torch gradients finite (the mass penalty of seed 004).
    """
    o = _Ops(rel)
    eta, phi, pt = rel[..., 0], rel[..., 1], rel[..., 2]
    px, py = pt * o.cos(phi), pt * o.sin(phi)
    pz, E = pt * o.sinh(eta), pt * o.cosh(eta)
    m2 = o.sum(E, -1) ** 2 - o.sum(px, -1) ** 2 - o.sum(py, -1) ** 2 - o.sum(pz, -1) ** 2
    return o.sqrt(o.clip_min(m2, floor))


def pad(jagged: ak.Array, k: int, fields: tuple[str, ...] = ("px", "py", "pz")) -> np.ndarray:
    """Jagged per-jet constituents (records with ``fields``) → dense (N, k, len(fields)).

    Keeps the first ``k`` entries in the given order; callers sort first.
    """
    cols = []
    for f in fields:
        x = ak.pad_none(jagged[f], k, clip=True, axis=1)
        cols.append(ak.to_numpy(ak.fill_none(x, 0.0)).astype(np.float64))
    return np.stack(cols, axis=-1)
