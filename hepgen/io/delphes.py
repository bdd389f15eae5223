"""Delphes ROOT files (tree ``Delphes``) → common particle format.

- gen: ``Particle`` with Status == 1, neutrinos (|PID| 12, 14, 16) removed, and pile-up
  particles (``IsPU`` == 1, where a card writes them into ``Particle``: the fast-sim adds its own
  pile-up); Px, Py, Pz, E.
- reco: ``EFlowTrack`` (PT, Eta, Phi, PID), ``EFlowPhoton`` (ET, Eta, Phi; pid 22),
  ``EFlowNeutralHadron`` (ET, Eta, Phi; pid 130), concatenated in that order, each taken
  massless, kept if pT > 0.25 GeV and |η| < 3.2. Cards that write ``ParticleFlowCandidate``
  and no EFlow collections are read from it instead (PT, Eta, Phi, PID).

- pile-up (:func:`pileup_from_events`): the pile-up interactions each event's simulation
  overlaid, from the true vertices (``Vertex``) or, without them, the EFlow tracks flagged
  ``IsPU``.

The ``*.fBits`` branches are never read. The collection functions take records with
Delphes' leaf names (``PID``, ``Px``, ...), so they serve uproot arrays here and coffea's
``DelphesSchema`` collections in the processors alike.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepgen.errors import HepgenInputError
from hepgen.io.tree import branch_names, require_branches

NEUTRINOS = (12, 14, 16)
RECO_MIN_PT = 0.25
RECO_MAX_ETA = 3.2

_GEN = ("Particle", ("PID", "Status", "Px", "Py", "Pz", "E"))
_EFLOW = (
    ("EFlowTrack", ("PT", "Eta", "Phi", "PID")),
    ("EFlowPhoton", ("ET", "Eta", "Phi")),
    ("EFlowNeutralHadron", ("ET", "Eta", "Phi")),
)
_PFCAND = ("ParticleFlowCandidate", ("PT", "Eta", "Phi", "PID"))


PU_TRACKS_PER_INTERACTION = 12.2
"""EFlow tracks flagged ``IsPU`` (every one the card writes) per pile-up interaction with Delphes'
CMS card: 612 / 50.5, 640 / 51.4 and 614 / 49.8 per event in the three shared ⟨μ⟩ = 50 samples
that also hold the true vertices (``Vertex``; 12.2 over their 150 events). Used only where a
file has no ``Vertex``; another card's tracking changes it."""


def gen_particles(particle: ak.Array) -> ak.Array:
    """``Particle`` collection → stable, visible generator-level particles of the hard event."""
    apid = np.abs(particle.PID)
    neutrino = (apid == NEUTRINOS[0]) | (apid == NEUTRINOS[1]) | (apid == NEUTRINOS[2])
    keep = (particle.Status == 1) & ~neutrino
    if "IsPU" in particle.fields:
        keep = keep & (particle.IsPU == 0)
    p = particle[keep]
    return ak.zip(
        {
            "px": ak.values_astype(p.Px, np.float64),
            "py": ak.values_astype(p.Py, np.float64),
            "pz": ak.values_astype(p.Pz, np.float64),
            "E": ak.values_astype(p.E, np.float64),
            "pid": ak.values_astype(p.PID, np.int32),
        }
    )


def massless(pt: ak.Array, eta: ak.Array, phi: ak.Array, pid: ak.Array) -> ak.Array:
    """Massless particles from (pT, η, φ), with the reco acceptance applied."""
    pt = ak.values_astype(pt, np.float32)
    eta = ak.values_astype(eta, np.float32)
    phi = ak.values_astype(phi, np.float32)
    f64 = np.float64
    px, py, pz = (
        ak.values_astype(v, f64) for v in (pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))
    )
    E = np.sqrt(px**2 + py**2 + pz**2)
    parts = ak.zip(
        {
            "px": ak.values_astype(px, f64),
            "py": ak.values_astype(py, f64),
            "pz": ak.values_astype(pz, f64),
            "E": ak.values_astype(E, f64),
            "pid": ak.values_astype(pid, np.int32),
        }
    )
    return parts[(pt > RECO_MIN_PT) & (np.abs(eta) < RECO_MAX_ETA)]


def reco_particles(track: ak.Array, photon: ak.Array, neutral_hadron: ak.Array) -> ak.Array:
    """EFlow collections → reconstructed particle-flow candidates (track, photon, neutral)."""
    parts = [
        massless(track.PT, track.Eta, track.Phi, track.PID),
        massless(photon.ET, photon.Eta, photon.Phi, ak.full_like(photon.ET, 22, dtype=np.int32)),
        massless(
            neutral_hadron.ET,
            neutral_hadron.Eta,
            neutral_hadron.Phi,
            ak.full_like(neutral_hadron.ET, 130, dtype=np.int32),
        ),
    ]
    return ak.concatenate(parts, axis=1)


def pf_candidates(pfcand: ak.Array) -> ak.Array:
    """``ParticleFlowCandidate`` → reconstructed particles (cards that write it)."""
    return massless(pfcand.PT, pfcand.Eta, pfcand.Phi, pfcand.PID)


def pileup_from_events(events) -> np.ndarray | None:
    """Per event, the pile-up interactions its simulation overlaid: the vertices less the hard
    one (``Vertex``: the CMS pile-up card writes ``PileUpMerger/vertices`` there, the true ones;
    a card that writes reconstructed vertices under that name undercounts), else the EFlow tracks
    flagged ``IsPU`` over :data:`PU_TRACKS_PER_INTERACTION` (an estimate); None where the file
    holds neither."""
    fields = set(events.fields)
    if "Vertex" in fields:
        return np.clip(ak.to_numpy(ak.num(events.Vertex)) - 1, 0, None).astype(np.float64)
    if "EFlowTrack" in fields and "IsPU" in events.EFlowTrack.fields:
        return ak.to_numpy(ak.sum(events.EFlowTrack.IsPU, axis=1)).astype(np.float64) / PU_TRACKS_PER_INTERACTION
    return None


def _has(tree, collection: str) -> bool:
    return collection in {k.split("/")[0] for k in tree.keys()}


def branches(tree, path: str, need_reco: bool = True) -> list[str]:
    """The branches to read; raises if a needed collection or leaf is missing."""
    wanted = [("Event", ("Number",)), _GEN]
    if need_reco:
        if _has(tree, "EFlowTrack") or not _has(tree, "ParticleFlowCandidate"):
            wanted += list(_EFLOW)
        else:
            wanted.append(_PFCAND)
    names = [f"{c}.{leaf}" for c, leaves in wanted for leaf in leaves]
    require_branches(tree, path, names, "the Delphes reader")
    if "Particle.IsPU" in branch_names(tree):
        names.append("Particle.IsPU")  # optional: pile-up particles are left out of gen
    return names


def check_split_layout(tree, path: str, need_reco: bool = True) -> None:
    """coffea's ``DelphesSchema`` (``hepgen run``) reads Delphes' own split layout, a branch
    ``C`` with leaves ``C/C.Leaf`` and a counter ``C_size``; a tree written by uproot has flat
    ``C.Leaf`` branches instead (uproot reads those, so ``build-dataset`` works, but coffea
    fails on them deep inside with a ``KeyError``). Raise a clear error for such a tree."""
    keys = set(tree.keys(recursive=True))
    flat = [
        name for name in branches(tree, path, need_reco)
        if f"{name.split('.')[0]}/{name}" not in keys
    ]
    if flat:
        collections = sorted({n.split(".")[0] for n in flat})
        raise HepgenInputError(
            f"{path}: {', '.join(collections)} not in Delphes' split layout (branches "
            f"'{flat[0].split('.')[0]}/{flat[0]}' and '{flat[0].split('.')[0]}_size'; this file "
            f"has '{flat[0]}' — written by uproot?): coffea's DelphesSchema cannot read it. Skim "
            "Delphes files with ROOT (TTree::CopyTree keeps the layout), or use "
            "hepgen build-dataset, which reads either layout"
        )


def _collection(arrays: ak.Array, name: str) -> ak.Array:
    prefix = name + "."
    return ak.zip({f[len(prefix) :]: arrays[f] for f in arrays.fields if f.startswith(prefix)})


def from_arrays(
    arrays: ak.Array, need_reco: bool = True
) -> tuple[ak.Array, ak.Array | None, np.ndarray]:
    """uproot arrays of :func:`branches` → (gen, reco, event number)."""
    gen = gen_particles(_collection(arrays, "Particle"))
    reco = None
    if need_reco:
        if "EFlowTrack.PT" in arrays.fields:
            reco = reco_particles(
                _collection(arrays, "EFlowTrack"),
                _collection(arrays, "EFlowPhoton"),
                _collection(arrays, "EFlowNeutralHadron"),
            )
        else:
            reco = pf_candidates(_collection(arrays, "ParticleFlowCandidate"))
    number = ak.to_numpy(ak.firsts(arrays["Event.Number"])).astype(np.int64)
    return gen, reco, number


def from_events(events, need_reco: bool = True) -> tuple[ak.Array, ak.Array | None]:
    """coffea ``DelphesSchema`` events → (gen, reco)."""
    fields = set(events.fields)
    if "Particle" not in fields:
        raise HepgenInputError("Delphes events have no 'Particle' collection")
    gen = gen_particles(events.Particle)
    reco = None
    if need_reco:
        if {"EFlowTrack", "EFlowPhoton", "EFlowNeutralHadron"} <= fields:
            reco = reco_particles(events.EFlowTrack, events.EFlowPhoton, events.EFlowNeutralHadron)
        elif "ParticleFlowCandidate" in fields:
            reco = pf_candidates(events.ParticleFlowCandidate)
    return gen, reco
