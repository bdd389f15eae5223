"""The hepgen fast-sim as a coffea processor.

Reads Delphes (``DelphesSchema``) or PFNanoAOD (``NanoAODSchema``) events, clusters
generator-level jets (anti-kt, R from the checkpoint), runs the detector-response model on
their constituents, reclusters the predicted constituents of each event with fastjet, applies
the acceptance cuts and fills the analysis histograms with a ``source`` axis: ``gen``,
``hepgen`` and — when the file has reconstructed particles — ``delphes`` (EFlow or PFCands
reclustered the same way). A cutflow accounts for every event of every source.

Stateless between chunks and picklable: the model loads lazily on the worker
(:class:`hepgen.inference.Runner`) and is dropped when the processor is pickled.
"""

from __future__ import annotations

import zlib

import awkward as ak
import numpy as np
from coffea import processor

from hepgen.inference import Runner
from hepgen.io import delphes, nanoaod
from hepgen.io.root import HepgenInputError
from hepgen.physics.clustering import cluster, sorted_constituents
from hepgen.physics.coordinates import pad
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance
from processors.histograms import book, fill


def read_particles(events, need_reco: bool = True):
    """(gen, reco or None) in the common format from Delphes or NanoAOD coffea events."""
    fields = set(events.fields)
    if "Particle" in fields:
        return delphes.from_events(events, need_reco)
    if "GenCands" in fields:
        return nanoaod.from_events(events, need_reco)
    raise HepgenInputError(
        f"{events.metadata.get('filename', '?')}: neither Delphes 'Particle' nor NanoAOD 'GenCands' in the events"
    )


def event_numbers(events) -> np.ndarray:
    if "Event" in events.fields:
        number = events.Event.Number
        number = ak.firsts(number) if number.ndim > 1 else number
        return ak.to_numpy(number).astype(np.int64)
    return ak.to_numpy(events.event).astype(np.int64)


def predicted_particles(runner: Runner, gen_jets: ak.Array, seed: int, acceptance: Acceptance) -> ak.Array:
    """Fast-sim every gen jet; return each event's predicted reco particles (common format)."""
    counts = ak.num(gen_jets)
    flat = ak.flatten(gen_jets)
    table = pad(sorted_constituents(flat), runner.k) if len(flat) else np.zeros((0, runner.k, 3))
    pred = apply_constituent_acceptance(runner.simulate(table, seed=seed).astype(np.float64),
                                        acceptance.constituent_min_pt, acceptance.constituent_max_eta)
    nonzero = np.any(pred != 0, axis=-1)
    per_jet = nonzero.sum(axis=1)
    p = pred[nonzero]
    parts = ak.zip({"px": p[:, 0], "py": p[:, 1], "pz": p[:, 2], "E": np.linalg.norm(p, axis=1),
                    "pid": np.zeros(len(p), np.int32)})
    # jets → events: sum the per-jet particle counts of each event
    per_event = np.add.reduceat(per_jet, np.r_[0, np.cumsum(counts)[:-1]]) if len(per_jet) else np.zeros(len(counts), int)
    per_event = np.where(ak.to_numpy(counts) > 0, per_event, 0)
    return ak.unflatten(parts, per_event)


class FastSimProcessor(processor.ProcessorABC):
    """Gen events → hepgen reco jets → histograms (with gen and Delphes references)."""

    def __init__(self, checkpoint: str, device: str | None = None, gen_min_pt: float = 100.0,
                 acceptance: Acceptance = Acceptance(), seed: int = 0, with_reference: bool = True) -> None:
        self.runner = Runner(checkpoint, device=device)
        self.gen_min_pt = gen_min_pt
        self.acceptance = acceptance
        self.seed = seed
        self.with_reference = with_reference

    def select(self, jets: ak.Array) -> ak.Array:
        a = self.acceptance
        return jets[(jets.pt > a.jet_min_pt) & (np.abs(jets.eta) < a.jet_max_eta)]

    def chunk_seed(self, events) -> int:
        md = events.metadata
        key = f"{md.get('filename', '')}:{md.get('entrystart', 0)}".encode()
        return (self.seed * 1_000_003 + zlib.crc32(key)) % (2**31)

    # --- building blocks, usable from any analysis processor (see notebooks/fastsim_dijet.ipynb) ---
    def gen_jets(self, events) -> ak.Array:
        """Generator-level anti-kt jets above ``gen_min_pt`` (the fast-sim's input), pT-sorted."""
        gen, _ = read_particles(events, need_reco=False)
        return cluster(gen, self.runner.R, min_pt=self.gen_min_pt)

    def hepgen_jets(self, events, gen_jets: ak.Array | None = None) -> ak.Array:
        """Fast-simulated reco jets: model on every gen jet, reclustered, acceptance applied."""
        gen_jets = self.gen_jets(events) if gen_jets is None else gen_jets
        pred = predicted_particles(self.runner, gen_jets, self.chunk_seed(events), self.acceptance)
        return self.select(cluster(pred, self.runner.R, min_pt=self.acceptance.jet_min_pt))

    def delphes_jets(self, events) -> ak.Array:
        """The file's own reco particles (Delphes EFlow or PFCands) reclustered the same way."""
        _, reco = read_particles(events, need_reco=True)
        if reco is None:
            raise HepgenInputError(f"{events.metadata.get('filename', '?')}: no reconstructed particles")
        return self.select(cluster(reco, self.runner.R, min_pt=self.acceptance.jet_min_pt))

    def process(self, events):
        R = self.runner.R
        half = event_numbers(events) % 2
        hists = book()
        cutflow: dict[str, dict[str, int]] = {}
        gen_jets = self.gen_jets(events)
        sources = {"gen": self.select(gen_jets), "hepgen": self.hepgen_jets(events, gen_jets)}
        if self.with_reference and ("EFlowTrack" in events.fields or "PFCands" in events.fields
                                    or "ParticleFlowCandidate" in events.fields):
            sources["delphes"] = self.delphes_jets(events)
        for name, jets in sources.items():
            cutflow[name] = fill(hists, name, jets, half, R)
        cutflow["hepgen"]["gen jets simulated"] = int(ak.sum(ak.num(gen_jets)))
        return {"hists": hists, "cutflow": cutflow, "events": len(events)}

    def postprocess(self, accumulator):
        return accumulator
