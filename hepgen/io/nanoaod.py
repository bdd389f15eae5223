"""CMS (PF)NanoAOD files (tree ``Events``) → common particle format.

- gen: ``GenCands`` (pt, eta, phi, mass, pdgId) — the stable generator particles PFNano stores;
- reco: ``PFCands`` (pt, eta, phi, mass, pdgId).
Momenta are built with the stored masses (NanoAOD stores them; Delphes EFlow has none).
- pile-up (:func:`pileup_from_events`): ``Pileup_nPU``, the in-time pile-up interactions of the
  event's simulation.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepgen.errors import HepgenInputError
from hepgen.io.tree import require_branches

_LEAVES = ("pt", "eta", "phi", "mass", "pdgId")


def particles(coll: ak.Array) -> ak.Array:
    """A NanoAOD candidate collection (pt, eta, phi, mass, pdgId) → common format."""
    pt = ak.values_astype(coll.pt, np.float64)
    eta = ak.values_astype(coll.eta, np.float64)
    phi = ak.values_astype(coll.phi, np.float64)
    m = ak.values_astype(coll.mass, np.float64)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    E = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    return ak.zip(
        {"px": px, "py": py, "pz": pz, "E": E, "pid": ak.values_astype(coll.pdgId, np.int32)}
    )


def branches(tree, path: str, need_reco: bool = True) -> list[str]:
    cols = ["GenCands"] + (["PFCands"] if need_reco else [])
    names = ["event"] + [f"{c}_{leaf}" for c in cols for leaf in _LEAVES]
    require_branches(
        tree, path, names,
        "the NanoAOD reader (hepgen needs PFNanoAOD's constituents: GenCands"
        + (", PFCands" if need_reco else "") + "; plain NanoAOD has none)",
    )
    return names


def _collection(arrays: ak.Array, name: str) -> ak.Array:
    return ak.zip({leaf: arrays[f"{name}_{leaf}"] for leaf in _LEAVES})


def from_arrays(arrays: ak.Array, need_reco: bool = True):
    gen = particles(_collection(arrays, "GenCands"))
    reco = particles(_collection(arrays, "PFCands")) if need_reco else None
    return gen, reco, ak.to_numpy(arrays["event"]).astype(np.int64)


def pileup_from_events(events) -> np.ndarray | None:
    """Per event, the in-time pile-up interactions (``Pileup_nPU``); None where not stored."""
    if "Pileup" in set(events.fields) and "nPU" in events.Pileup.fields:
        return ak.to_numpy(events.Pileup.nPU).astype(np.float64)
    return None


def from_events(events, need_reco: bool = True):
    """coffea ``NanoAODSchema`` events → (gen, reco)."""
    fields = set(events.fields)
    if "GenCands" not in fields:
        raise HepgenInputError("NanoAOD events have no 'GenCands' collection (is this PFNanoAOD?)")
    reco = particles(events.PFCands) if need_reco and "PFCands" in fields else None
    return particles(events.GenCands), reco
