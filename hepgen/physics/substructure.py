"""Substructure observables: momentum flows (seed 001 §6) and energy-flow polynomials.

Flow_n = Σ pT_i / pT_jet over constituents with ΔR to the jet axis in
[(n−1)/4·R, n/4·R) — the four annuli of width R/4 used by Touranakou et al. (2022),
after Stewart, Tackmann, Waalewijn (2010). EFPs come from the ``energyflow`` library
(Komiske, Metodiev, Thaler 2018) rather than our own code: it is the reference
implementation the JetNet metrics were defined with.
"""

from __future__ import annotations

import numpy as np

from hepgen.physics.coordinates import to_relative
from hepgen.physics.kinematics import Array, _Ops

N_FLOWS = 4


def momentum_flows(
    constituents: Array, R: float, jet: Array | None = None, n: int = N_FLOWS
) -> Array:
    """Flow_1..n for cartesian constituents (..., k, 3) → (..., n)."""
    o = _Ops(constituents)
    rel = to_relative(constituents, jet)
    dr = o.sqrt(rel[..., 0] ** 2 + rel[..., 1] ** 2)
    frac = rel[..., 2]
    flows = []
    for i in range(n):
        lo, hi = i * R / n, (i + 1) * R / n
        inside = (dr >= lo) & (dr < hi) & (frac != 0)
        flows.append(o.sum(frac * inside, axis=-1))
    return o.stack(flows, axis=-1)


JETNET_W1EFP_ARGS: tuple = (("n==", 4), ("d==", 4), ("p==", 1))
"""jetnet's ``w1efp`` default: the five prime EFPs with n = 4, d = 4."""
JETNET_FPD_ARGS: tuple = (("d<=", 4),)
"""jetnet's ``get_fpd_kpd_jet_features``: all EFPs with d ≤ 4."""


def efps(
    relative: np.ndarray, efpset_args: tuple = JETNET_W1EFP_ARGS, n_jobs: int = 1
) -> np.ndarray:
    """Energy-flow polynomials of jets in JetNet relative coordinates (N, k, 3).

    As jetnet's ``utils.efps``: massless particles, ``measure='hadr'``, ``beta=1``,
    ``normed=None``, coordinates (pT_rel, η_rel, φ_rel); padded particles carry zero pT and
    drop out of every sum.
    """
    import energyflow as ef

    rel = np.asarray(relative, dtype=np.float64)
    pts = rel[..., [2, 0, 1]]
    ptyphim = np.concatenate([pts, np.zeros(pts.shape[:-1] + (1,))], axis=-1)
    efpset = ef.EFPSet(*efpset_args, measure="hadr", beta=1, normed=None, coords="ptyphim")
    return efpset.batch_compute(ptyphim, n_jobs=n_jobs)
