"""Jet clustering with fastjet (anti-kt, E-scheme) on the common particle format."""

from __future__ import annotations

import awkward as ak
import fastjet
import numpy as np

from hepgen.physics.kinematics import pt_eta_phi_mass, wrap_phi

_ALGORITHMS = {
    "antikt": fastjet.antikt_algorithm,
    "kt": fastjet.kt_algorithm,
    "cambridge": fastjet.cambridge_algorithm,
}


def same_radius(a: float, b: float) -> bool:
    """Whether two jet radii are the same (to 10⁻⁶: radii stored as float32 in HDF5 attributes).

    A fast-sim keeps its particles within the R it was trained with, so its callers refuse (or
    warn about) jets of another R with this one test.
    """
    return abs(float(a) - float(b)) <= 1e-6


def cluster(
    particles: ak.Array, R: float, min_pt: float = 0.0, algorithm: str = "antikt"
) -> ak.Array:
    """Cluster each event's particles into jets, sorted by decreasing pT.

    ``particles``: events × var × {px, py, pz, E, pid}. Returns events × var × jet records
    {px, py, pz, E, pt, eta, phi, mass, n_constituents, constituents}, where
    ``constituents`` holds each jet's particles (all their fields) in input order.
    """
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {sorted(_ALGORITHMS)}")
    jetdef = fastjet.JetDefinition(_ALGORITHMS[algorithm], R)
    momenta = ak.zip(
        {f: ak.values_astype(particles[f], np.float64) for f in ("px", "py", "pz", "E")}
    )
    cs = fastjet.ClusterSequence(momenta, jetdef)
    jets = cs.inclusive_jets(min_pt=min_pt)
    index = cs.constituent_index(min_pt=min_pt)
    pt, eta, phi, mass = pt_eta_phi_mass(
        *(ak.to_numpy(ak.flatten(jets[f])) for f in ("px", "py", "pz", "E"))
    )
    counts = ak.num(jets)
    out = ak.zip(
        {
            "px": jets.px,
            "py": jets.py,
            "pz": jets.pz,
            "E": jets.E,
            "pt": ak.unflatten(pt, counts),
            "eta": ak.unflatten(eta, counts),
            "phi": ak.unflatten(phi, counts),
            "mass": ak.unflatten(mass, counts),
            "n_constituents": ak.num(index, axis=2),
        }
    )
    gathered = particles[ak.flatten(index, axis=2)]
    constituents = ak.unflatten(gathered, ak.flatten(ak.num(index, axis=2)), axis=1)
    out = ak.with_field(out, constituents, "constituents")
    return out[ak.argsort(out.pt, axis=1, ascending=False, stable=True)]


def sorted_constituents(jets: ak.Array) -> ak.Array:
    """Each jet's constituents sorted by decreasing pT = hypot(px, py)."""
    c = jets.constituents
    pt = np.hypot(c.px, c.py)
    return c[ak.argsort(pt, axis=-1, ascending=False, stable=True)]


def delta_r(eta1, phi1, eta2, phi2):
    """ΔR in (η, φ) with φ wrapped."""
    return np.sqrt((eta1 - eta2) ** 2 + wrap_phi(phi1 - phi2) ** 2)


def _first_argmax(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per segment of ``values`` (consecutive runs of ``counts``, each ≥ 1), the local index of
    its first maximum (what ``ak.argmax`` gives per list)."""
    starts = np.cumsum(counts) - counts
    top = np.repeat(np.maximum.reduceat(values, starts), counts)
    local = np.arange(len(values)) - np.repeat(starts, counts)
    return np.minimum.reduceat(np.where(values == top, local, len(values)), starts)


def leading_jet_members(
    pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, R: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anti-kt on each row's particles alone: which belong to the leading jet, and its axis.

    ``pt``, ``eta``, ``phi``: (B, k) massless particles, pT = 0 for padding. Returns the bool
    mask (B, k) of the leading (highest-pT) anti-kt jet's constituents and that jet's η and φ
    (B,) (NaN for a row without particles). A set whose particles all lie in the leading jet
    is *stable*: reclustering it, alone or in an event where nothing else is near, gives it back.
    One fastjet call for all rows; the rest is flat numpy (the fast-sim calls this dozens of
    times per batch, often on few rows, where awkward's per-call cost had doubled its time).
    """
    pt, eta, phi = (np.asarray(x, np.float64) for x in (pt, eta, phi))
    real = pt > 0
    counts = real.sum(1)
    inside = np.zeros(pt.shape, bool)
    axis_eta, axis_phi = np.full(len(pt), np.nan), np.full(len(pt), np.nan)
    rows = np.flatnonzero(counts)
    if not len(rows):
        return inside, axis_eta, axis_phi
    p, e, f = pt[real], eta[real], phi[real]
    n = counts[rows]
    momenta = ak.unflatten(
        ak.zip({"px": p * np.cos(f), "py": p * np.sin(f), "pz": p * np.sinh(e), "E": p * np.cosh(e)}), n
    )
    cs = fastjet.ClusterSequence(momenta, fastjet.JetDefinition(fastjet.antikt_algorithm, R))
    jets = cs.inclusive_jets()
    n_jets = ak.to_numpy(ak.num(jets))  # ≥ 1 in every row: each particle ends in some jet
    flat_jets = ak.flatten(jets)
    px, py, pz, E = (ak.to_numpy(flat_jets[c]).astype(np.float64) for c in ("px", "py", "pz", "E"))
    lead = np.cumsum(n_jets) - n_jets + _first_argmax(np.hypot(px, py), n_jets)  # flat jet index
    index = cs.constituent_index()
    per_jet = ak.to_numpy(ak.flatten(ak.num(index, axis=2)))  # constituents of every jet
    n_const, first = per_jet[lead], (np.cumsum(per_jet) - per_jet)[lead]
    take = np.repeat(first - (np.cumsum(n_const) - n_const), n_const) + np.arange(n_const.sum())
    members = ak.to_numpy(ak.flatten(index, axis=None))[take]  # row-local particle indices
    in_flat = np.zeros(len(p), bool)
    in_flat[members + np.repeat(np.cumsum(n) - n, n_const)] = True
    inside[real] = in_flat
    _, axis_eta[rows], axis_phi[rows], _ = pt_eta_phi_mass(px[lead], py[lead], pz[lead], E[lead])
    return inside, axis_eta, axis_phi
