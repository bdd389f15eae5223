"""Acceptance cuts, the defaults of seed 001 (§3, §5).

Constituents: pT > 0.25 GeV, |η| < 3.2. Jets: pT > 200 GeV, |η| < 2.5.
Fast simulation trains on an extended phase space and applies these after inference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepgen.physics.coordinates import cartesian_to_ptetaphi
from hepgen.physics.kinematics import Array


@dataclass(frozen=True)
class Acceptance:
    """Acceptance cuts applied to predicted constituents and jets."""

    constituent_min_pt: float = 0.25
    constituent_max_eta: float = 3.2
    jet_min_pt: float = 200.0
    jet_max_eta: float = 2.5


def constituent_mask(constituents: Array, min_pt: float = 0.25, max_eta: float = 3.2) -> Array:
    """True for constituents inside the acceptance (padding is outside)."""
    h = cartesian_to_ptetaphi(constituents)
    return (h[..., 0] > min_pt) & (abs(h[..., 1]) < max_eta)


def apply_constituent_acceptance(
    constituents: np.ndarray, min_pt: float = 0.25, max_eta: float = 3.2
) -> np.ndarray:
    """Zero the constituents outside the acceptance and re-sort each jet by decreasing pT."""
    c = np.where(constituent_mask(constituents, min_pt, max_eta)[..., None], constituents, 0.0)
    order = np.argsort(-np.hypot(c[..., 0], c[..., 1]), axis=-1, kind="stable")
    return np.take_along_axis(c, order[..., None], axis=-2)


def jet_mask(jet: Array, min_pt: float = 200.0, max_eta: float = 2.5) -> Array:
    """True for jets (pT, η, ...) inside the acceptance."""
    return (jet[..., 0] > min_pt) & (abs(jet[..., 1]) < max_eta)
