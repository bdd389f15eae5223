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

import awkward as ak
import numpy as np

from hepgen.inference import Runner
from hepgen.physics.clustering import cluster, sorted_constituents
from hepgen.physics.coordinates import pad
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance
from processors.base import HepgenProcessor, read_particles


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


def predicted_particles(
    runner: Runner, gen_jets: ak.Array, seed: int, acceptance: Acceptance
) -> ak.Array:
    """Fast-sim every gen jet; return each event's predicted reco particles (common format)."""
    flat = ak.flatten(gen_jets)
    table = pad(sorted_constituents(flat), runner.k) if len(flat) else np.zeros((0, runner.k, 3))
    pred = apply_constituent_acceptance(
        runner.simulate(table, seed=seed).astype(np.float64),
        acceptance.constituent_min_pt,
        acceptance.constituent_max_eta,
    )
    return particles_from_jets(pred, ak.to_numpy(ak.num(gen_jets)))


class FastSimProcessor(HepgenProcessor):
    """Gen events → hepgen reco jets → histograms (with gen and Delphes references)."""

    def __init__(
        self,
        checkpoint: str,
        device: str | None = None,
        gen_min_pt: float = 100.0,
        acceptance: Acceptance = Acceptance(),
        seed: int = 0,
        with_reference: bool = True,
    ) -> None:
        super().__init__(checkpoint, device, acceptance, seed, with_reference)
        self.gen_min_pt = gen_min_pt

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

    def sources(self, events):
        """The gen jets are clustered once: they are both the model's input and the gen source."""
        gen_jets = self.gen_jets(events)
        out = {"gen": self.select(gen_jets), "hepgen": self.hepgen_jets(events, gen_jets)}
        return {**out, **self.reco_reference(events)}, {
            "gen jets simulated": int(ak.sum(ak.num(gen_jets)))
        }
