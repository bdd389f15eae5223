"""The hepgen fast-sim as a coffea processor.

Reads Delphes (``DelphesSchema``) or PFNanoAOD (``NanoAODSchema``) events, clusters
generator-level jets (anti-kt, R from the checkpoint), runs the detector-response model on
their constituents, reclusters the predicted constituents of each event with fastjet, applies
the acceptance cuts and fills the analysis histograms with a ``source`` axis: ``gen``,
``hepgen`` and — when the file has reconstructed particles — the file's own reconstruction
(``delphes``: EFlow; ``reco_pf``: CMS PFCands) reclustered the same way. A cutflow accounts
for every event of every source, and counts the pile-up interactions the file's own simulation
overlaid where it says (:meth:`hepgen.io.formats.Format.pileup`): the model adds the pile-up of
its training sample (:attr:`hepgen.inference.Runner.pileup_mu`), whatever the file had.

Stateless between chunks and picklable: the model loads lazily on the worker
(:class:`hepgen.inference.Runner`) and is dropped when the processor is pickled. A jet's noise
depends only on (seed, file, event number, jet index), so the histograms do not depend on the
chunk size, the executor or the number of workers.
"""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np

from hepgen.data.postprocess import particles_from_jets
from hepgen.inference import Runner
from hepgen.io.formats import detect_events
from hepgen.physics.clustering import cluster, same_radius, sorted_constituents
from hepgen.physics.coordinates import pad
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance
from hepgen.processors.base import HepgenProcessor
from hepgen.shipped import DEFAULT_FASTSIM

__all__ = ["FastSimProcessor", "predicted_particles"]


def predicted_particles(
    runner: Runner, gen_jets: ak.Array, keys: np.ndarray, acceptance: Acceptance, seed: int = 0,
    tail: bool = False,
) -> ak.Array:
    """Fast-sim every gen jet; return each event's predicted reco particles (common format);
    ``tail``: with the constituents beyond the model's leading ``k`` (``Runner.has_tail``)."""
    flat = ak.flatten(gen_jets)
    # px, py, pz and, for a fast-sim conditioned on the gen particle content, the PDG id
    fields = ("px", "py", "pz", "pid") if runner.needs_pid else ("px", "py", "pz")
    padded = pad(sorted_constituents(flat), runner.k, fields) if len(flat) else np.zeros((0, runner.k, len(fields)))
    table = padded[..., :3]
    pid = padded[..., 3].astype(np.int64) if runner.needs_pid else None
    pred = apply_constituent_acceptance(
        runner.simulate(table, seed=seed, keys=keys, pid=pid, tail=tail).astype(np.float64),
        acceptance.constituent_min_pt,
        acceptance.constituent_max_eta,
    )
    return particles_from_jets(pred, ak.to_numpy(ak.num(gen_jets)))


GEN_THRESHOLD_MARGIN = 1.5
"""Reco jets above this × ``gen_min_pt`` come (almost) only from simulated gen jets: of the Delphes
reco jets above 150 GeV (|η| < 2.5) of the shared sets, ≤ 0.4% are matched to a gen jet below
100 GeV; above 130 GeV 0.3–1.4% (boosted WW, QCD, tt̄) and 5.7% (inclusive WW); above 100 GeV
5–43% (RESULTS.md §2, "Below 200 GeV")."""


def _warn_thresholds(
    gen_min_pt: float, jet_min_pt: float, trained_gen_min_pt: float | None, R: float, trained_R: float,
    jet_max_eta: float = 2.5, trained_max_eta: float | None = None,
) -> None:
    """Warn where the processor's thresholds, acceptance or jet radius leave what the fast-sim can
    stand for."""
    if not same_radius(R, trained_R):
        warnings.warn(
            f"R={R:g}: the checkpoint simulates R = {trained_R:g} jets (it keeps its particles "
            "within its own R); other jets are an extrapolation",
            UserWarning, stacklevel=3,
        )
    if trained_gen_min_pt is not None and gen_min_pt < float(trained_gen_min_pt):
        warnings.warn(
            f"gen_min_pt={gen_min_pt:g} GeV: the checkpoint was trained on gen jets above "
            f"{float(trained_gen_min_pt):g} GeV; below that it extrapolates",
            UserWarning, stacklevel=3,
        )
    if jet_min_pt < GEN_THRESHOLD_MARGIN * gen_min_pt:
        warnings.warn(
            f"acceptance jet_min_pt={jet_min_pt:g} GeV is below {GEN_THRESHOLD_MARGIN:g} × "
            f"gen_min_pt={gen_min_pt:g} GeV: reco jets that come from gen jets under gen_min_pt "
            "are missing (they are not simulated; Delphes reco jets above 130 GeV come from gen "
            "jets under 100 GeV in 0.3–5.7% of cases)",
            UserWarning, stacklevel=3,
        )
    if trained_max_eta is not None and jet_max_eta > float(trained_max_eta):
        warnings.warn(
            f"acceptance jet_max_eta={jet_max_eta:g}: the checkpoint was trained on reco jets within "
            f"|eta| < {float(trained_max_eta):g}; beyond that (the tracker ends at |eta| = 2.5 in the "
            "CMS card) its jets are an extrapolation",
            UserWarning, stacklevel=3,
        )


class FastSimProcessor(HepgenProcessor):
    """Gen events → hepgen reco jets → histograms (with gen and the file's reco as references).

    Args:
        checkpoint: fast-sim checkpoint file or shipped name (default: hepgen's default fast-sim).
        device: torch device (``auto``: CUDA when present).
        gen_min_pt: gen jets above this are simulated (the model's training selection).
        acceptance: jet and constituent cuts.
        seed: noise seed.
        with_reference: also fill the file's own reconstruction.
        skip_bad: drop particles with non-finite momenta (counted) instead of stopping.
        R: jet radius (default: the checkpoint's).
        weights: fill the histograms with the files' generator weights (False: unweighted).
        tail: simulate each jet's soft constituents beyond the model's leading ``k`` (50) too,
            so that the reclustered jets are whole, as the file's own are (None: where the
            checkpoint has a soft tail, :mod:`hepgen.models.tail`; the shipped default does).
            Without it, jets of more than ``k`` constituents (22–32% of those above 200 GeV
            with pile-up 50, up to 64% at high pT) lack their softest: median pT response
            0.2–1.3% and mass response 0.3–3.5% low against Delphes' whole jets.

    Example::

        >>> from hepgen.processors import FastSimProcessor
        >>> fs = FastSimProcessor()                  # the shipped default fast-sim
        >>> jets = fs.hepgen_jets(events)            # or fs.delphes_jets(events)
    """

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str | None = None,
        gen_min_pt: float = 100.0,
        acceptance: Acceptance = Acceptance(),
        seed: int = 0,
        with_reference: bool = True,
        skip_bad: bool = False,
        R: float | None = None,
        weights: bool = True,
        tail: bool | None = None,
    ) -> None:
        super().__init__(
            checkpoint or DEFAULT_FASTSIM, device, acceptance, seed, with_reference, skip_bad, R, weights
        )
        if self.runner.kind != "fastsim":
            from hepgen.errors import HepgenInputError

            raise HepgenInputError(
                f"{self.runner.path}: a {self.runner.kind} checkpoint; the fast-sim processor needs a fast-sim"
            )
        self.tail = self.runner.use_tail(tail)
        self.gen_min_pt = gen_min_pt
        _warn_thresholds(
            gen_min_pt, acceptance.jet_min_pt, self.runner.dataset.get("gen_min_pt"), self.R, self.runner.R,
            acceptance.jet_max_eta, (self.runner.dataset.get("selection") or {}).get("max_eta"),
        )

    # --- building blocks, usable from any analysis processor (see notebooks/fastsim_dijet.ipynb) ---
    def gen_jets(self, events) -> ak.Array:
        """Generator-level anti-kt jets above ``gen_min_pt`` (the fast-sim's input), pT-sorted."""
        gen, _, _ = self.read(events, need_reco=False)
        return cluster(gen, self.R, min_pt=self.gen_min_pt)

    def hepgen_jets(
        self, events, gen_jets: ak.Array | None = None, select: bool = True
    ) -> ak.Array:
        """Fast-simulated reco jets: model on every gen jet, reclustered, acceptance applied
        (``select=False``: every reclustered jet above 100 GeV)."""
        gen_jets = self.gen_jets(events) if gen_jets is None else gen_jets
        keys = self.jet_keys(events, ak.to_numpy(ak.num(gen_jets)))
        pred = predicted_particles(self.runner, gen_jets, keys, self.acceptance, self.seed, self.tail)
        jets = cluster(pred, self.R, min_pt=self.cluster_min_pt)
        return self.select(jets) if select else jets

    def pileup(self, events) -> np.ndarray | None:
        """Per event, the pile-up interactions the file's own simulation overlaid, or None where
        the file does not say (:meth:`hepgen.io.formats.Format.pileup`); the fast-sim adds the
        pile-up of its training sample instead, ``self.runner.pileup_mu``."""
        return detect_events(events).pileup(events)

    paired = True

    def sources(self, events):
        """Each chunk is read once, and the gen jets clustered once: they are both the model's
        input and the gen source."""
        gen, reco, bad = self.read(events, need_reco=self.wants_reco(events))
        gen_jets = cluster(gen, self.R, min_pt=self.gen_min_pt)
        gen_all = (
            gen_jets
            if self.cluster_min_pt == self.gen_min_pt
            else cluster(gen, self.R, min_pt=self.cluster_min_pt)
        )
        out = {"gen": gen_all, "hepgen": self.hepgen_jets(events, gen_jets, select=False)}
        extra: dict[str, float] = {"gen jets simulated": int(ak.sum(ak.num(gen_jets)))}
        if self.runner.gen_domain is not None:  # the model's output for these is an extrapolation
            extra["gen jets above the trained pT"] = int(
                self.runner.above_trained_pt(ak.to_numpy(ak.flatten(gen_jets.pt))).sum()
            )
        if self.skip_bad:
            extra["particles dropped (non-finite)"] = bad
        return {**out, **self._reference(events, reco, select=False)}, extra
