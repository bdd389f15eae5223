"""Model tables back to physics: the one module that turns what a model emits into particles,
jets and the dataset layout — used by ``simulate``, ``sample``, training validation and both
processors.

- :func:`to_cartesian` — a generator's normalised output → physical cartesian constituents;
- :func:`reco_side` — predicted constituents → the layout's ``reco`` side (acceptance applied);
- :func:`particles_from_jets` — dense per-jet constituents → each event's particles (awkward);
- :func:`jet_feature_dict` — constituents → {pt, eta, phi, mass, E} after the acceptance.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import torch

from hepgen.data.normalise import Normalisation
from hepgen.io import h5
from hepgen.physics.coordinates import from_jet_frame, from_jet_polar, from_relative
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance
from hepgen.physics.kinematics import JET_FEATURES, jet_features, n_constituents

__all__ = ["axes_near_pt", "jet_feature_dict", "particles_from_jets", "reco_side", "to_cartesian"]


def to_cartesian(
    table_norm: torch.Tensor,
    norm: Normalisation,
    coordinates: str,
    jet_axes: torch.Tensor | None,
    generator: torch.Generator | None,
    min_pt: float = 0.0,
) -> np.ndarray:
    """Model output (normalised) → physical cartesian constituents (N, k, 3), acceptance applied.

    Relative-coordinate models get jet axes (pT, η, φ) drawn from ``jet_axes`` (the training
    set's), so their jet pT, η, φ follow the training distribution by construction; jet-frame
    models (``jet_frame``: cartesian momenta with the jet at η = φ = 0; ``jet_polar``: (η_rel,
    φ_rel, pT), a non-positive pT dropping the particle) get only η and φ drawn —
    their jet pT and mass are the model's own — from a training jet of nearly the same pT
    (:func:`axes_near_pt`), which keeps the pT–η correlation that the jet energy depends on.

    ``min_pt`` (GeV, ``jet_polar`` only): every slot is a particle of at least this pT, instead of
    a pT ≤ 0 dropping it — for a decoder whose per-slot pT spread is wider than the softest
    particles (the Hungarian ConVAE+NF on gluon jets, 97% of which fill all 30 slots; RESULTS.md
    §3b). It gives up jets with fewer than k particles.
    """
    if min_pt < 0:
        raise ValueError(f"min_pt must be ≥ 0, got {min_pt}")
    if min_pt and coordinates != "jet_polar":
        raise ValueError(f"min_pt applies to jet_polar coordinates only, got {coordinates!r}")
    x = norm.inverse(table_norm.detach().float().cpu()).numpy().astype(np.float64)
    if coordinates in ("relative", "jet_frame", "jet_polar"):
        if jet_axes is None:
            raise ValueError(f"{coordinates!r} coordinates need the training jets' axes (jet_axes)")
        axes = jet_axes
    if coordinates == "relative":
        idx = torch.randint(0, len(axes), (len(x),), generator=generator).numpy()
        x = from_relative(x, axes.numpy().astype(np.float64)[idx])
    elif coordinates == "jet_frame":
        table = axes.numpy().astype(np.float64)
        x = from_jet_frame(x, axes_near_pt(table, jet_features(x)[:, 0], generator)[:, 1:3])
    elif coordinates == "jet_polar":  # the jet pT does not depend on the axis: take it at η = φ = 0
        if min_pt:
            x[..., 2] = np.maximum(x[..., 2], min_pt)
        table = axes.numpy().astype(np.float64)
        pt = jet_features(from_jet_polar(x, np.zeros((len(x), 2))))[:, 0]
        x = from_jet_polar(x, axes_near_pt(table, pt, generator)[:, 1:3])
    return apply_constituent_acceptance(x)


def axes_near_pt(
    jet_axes: np.ndarray, pt: np.ndarray, generator: torch.Generator | None, window: float = 0.005
) -> np.ndarray:
    """For each jet pT in ``pt``, the (pT, η, φ) row of a training jet drawn at random among those
    within ±``window`` (a fraction of the table) in pT rank of it.

    Drawing η independently of pT breaks their correlation: for gluon jets, the jet-energy W1 of
    test jets given η of random training jets is 3× the real-vs-real floor (23.6 vs 7.8 GeV); from
    training jets within ±0.02–0.4% of the table in pT rank it is at the floor (7.2–8.9 GeV;
    RESULTS.md §3b).
    """
    order = np.argsort(jet_axes[:, 0], kind="stable")
    half = max(1, int(round(window * len(order))))
    shift = torch.randint(-half, half + 1, (len(pt),), generator=generator).numpy()
    pos = np.clip(np.searchsorted(jet_axes[order, 0], pt) + shift, 0, len(order) - 1)
    return jet_axes[order[pos]]


def jet_feature_dict(constituents: np.ndarray) -> dict[str, np.ndarray]:
    """{pt, eta, phi, mass, E} of each jet, from its constituents after the acceptance."""
    f = jet_features(apply_constituent_acceptance(np.asarray(constituents, np.float64)))
    return {n: f[:, i] for i, n in enumerate(JET_FEATURES)}


def reco_side(constituents: np.ndarray, acceptance: Acceptance = Acceptance()) -> h5.JetSide:
    """Predicted constituents → the layout's reco side (constituent acceptance applied).

    The model predicts momenta only: ``pid`` is 0 for every entry, and the jet table's
    n_constituents counts the accepted predicted constituents (at most k).
    """
    c = apply_constituent_acceptance(
        np.asarray(constituents, np.float64),
        acceptance.constituent_min_pt,
        acceptance.constituent_max_eta,
    )
    jet = np.concatenate([jet_features(c), n_constituents(c)[:, None]], axis=1)
    return h5.JetSide(c.astype(np.float32), np.zeros(c.shape[:2], np.int16), jet.astype(np.float32))


def particles_from_jets(constituents: np.ndarray, jets_per_event: np.ndarray) -> ak.Array:
    """Dense per-jet constituents (N, k, 3) → each event's particles (common format).

    ``jets_per_event`` says how many consecutive jets belong to each event; padding (all-zero
    rows) is dropped.
    """
    nonzero = np.any(constituents != 0, axis=-1)
    p = constituents[nonzero]
    parts = ak.zip(
        {
            "px": p[:, 0],
            "py": p[:, 1],
            "pz": p[:, 2],
            "E": np.linalg.norm(p, axis=1),
            "pid": np.zeros(len(p), np.int32),
        }
    )
    per_jet = ak.unflatten(nonzero.sum(axis=1), np.asarray(jets_per_event))
    return ak.unflatten(parts, ak.to_numpy(ak.sum(per_jet, axis=1)))
