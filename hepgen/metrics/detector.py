"""Detector-response metrics for fast simulation: per-feature W1 and KLD between fast-sim and
reference reco jets, and the jet response / resolution in bins of generator-level pT.

Jet observables are computed the same way on every side, from the stored (top-k,
zero-padded, massless) constituents after the constituent acceptance: pT, m, η, φ, E,
number of constituents and Flow_1..4 (seed 001 §6).
"""

from __future__ import annotations

import numpy as np

from hepgen.metrics.distances import kld_symmetric, w1
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance, jet_mask
from hepgen.physics.kinematics import JET_FEATURES, jet_features, n_constituents
from hepgen.physics.substructure import momentum_flows

FEATURES = ("pt", "mass", "eta", "phi", "E", "n_constituents", "flow1", "flow2", "flow3", "flow4")
UNITS = {"pt": "GeV", "mass": "GeV", "E": "GeV"}


def observables(
    constituents: np.ndarray,
    R: float,
    acceptance: Acceptance | None = Acceptance(),
    apply_jet_cuts: bool = True,
) -> dict[str, np.ndarray]:
    """Jet observables from cartesian constituents (N, k, 3); jets outside acceptance dropped.

    The returned dict also holds ``index``: the kept rows of the input.
    """
    c = np.asarray(constituents, dtype=np.float64)
    if acceptance is not None:
        c = apply_constituent_acceptance(
            c, acceptance.constituent_min_pt, acceptance.constituent_max_eta
        )
    jet = jet_features(c)
    keep = np.ones(len(c), bool)
    if acceptance is not None and apply_jet_cuts:
        keep = jet_mask(jet, acceptance.jet_min_pt, acceptance.jet_max_eta)
    flows = momentum_flows(c[keep], R, jet[keep])
    out = {name: jet[keep, i] for i, name in enumerate(JET_FEATURES)}
    out["n_constituents"] = n_constituents(c[keep]).astype(np.float64)
    for i in range(flows.shape[1]):
        out[f"flow{i + 1}"] = flows[:, i]
    out["index"] = np.flatnonzero(keep)
    return out


def fidelity(
    reference: dict[str, np.ndarray],
    other: dict[str, np.ndarray],
    features: tuple[str, ...] = FEATURES,
) -> dict[str, dict[str, float]]:
    """Per-feature W1 (in the feature's units) and symmetrised KLD, ``other`` vs ``reference``."""
    return {
        f: {"w1": w1(reference[f], other[f]), "kld": kld_symmetric(reference[f], other[f])}
        for f in features
    }


def response(
    gen_pt: np.ndarray,
    gen_mass: np.ndarray,
    reco_pt: np.ndarray,
    reco_mass: np.ndarray,
    bins: np.ndarray,
) -> dict[str, list]:
    """Median and IQR of reco/gen pT and mass in bins of gen pT (jets paired row by row)."""
    out: dict[str, list] = {
        "bins": list(map(float, bins)),
        "pt_median": [],
        "pt_iqr": [],
        "mass_median": [],
        "mass_iqr": [],
        "n": [],
    }
    which = np.digitize(gen_pt, bins) - 1
    for b in range(len(bins) - 1):
        sel = (which == b) & (gen_pt > 0) & (gen_mass > 0)
        out["n"].append(int(sel.sum()))
        for name, num, den in (("pt", reco_pt, gen_pt), ("mass", reco_mass, gen_mass)):
            if sel.sum() < 2:
                out[f"{name}_median"].append(float("nan"))
                out[f"{name}_iqr"].append(float("nan"))
                continue
            r = num[sel] / den[sel]
            q1, med, q3 = np.percentile(r, [25, 50, 75])
            out[f"{name}_median"].append(float(med))
            out[f"{name}_iqr"].append(float(q3 - q1))
    return out
