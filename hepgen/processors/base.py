"""What the fast-sim and generator processors share: reading, reference jets, selection,
per-jet noise keys and the histogram filling with a ``source`` axis and a cutflow.

The file format (Delphes or PFNanoAOD), its reconstructed particles and their name in the
histograms come from :mod:`hepgen.io.formats`, the one place that knows them.
"""

from __future__ import annotations

import copy
import os
from typing import Any

import awkward as ak
import numpy as np
from coffea import processor

from hepgen.errors import HepgenInputError
from hepgen.inference import Runner
from hepgen.io.formats import detect_events
from hepgen.models.noise import file_key
from hepgen.physics.clustering import cluster
from hepgen.physics.cuts import Acceptance
from hepgen.processors.histograms import book, fill, fill_response

RESPONSE_MIN_PT = 100.0
"""Reco jets down to this pT are clustered for the response pairing (a 200 GeV cut on the reco
jet would bias the lowest gen-pT bin); the analysis histograms use the acceptance."""

__all__ = ["HepgenProcessor", "finite_particles"]


def file_ident(events) -> str:
    """The file's ROOT UUID (or base name): identical wherever the file is stored."""
    md = events.metadata
    uuid = md.get("fileuuid")
    if isinstance(uuid, (bytes, bytearray)):
        return uuid.hex()
    return str(uuid or os.path.basename(str(md.get("filename", ""))))


def finite_particles(particles: ak.Array, skip_bad: bool, where: str) -> tuple[ak.Array, int]:
    """Refuse (or, with ``skip_bad``, drop and count) particles with non-finite momenta."""
    ok = np.isfinite(particles.px) & np.isfinite(particles.py) & np.isfinite(particles.pz)
    ok = ok & np.isfinite(particles.E)
    n_bad = int(ak.sum(~ok))
    if n_bad and not skip_bad:
        first = int(np.flatnonzero(ak.to_numpy(ak.any(~ok, axis=1)))[0])
        raise HepgenInputError(
            f"{where}: {n_bad} particle(s) with non-finite momenta (NaN/inf), the first in event "
            f"{first} of the chunk; pass --skip-bad to drop them"
        )
    return (particles[ok] if n_bad else particles), n_bad


class HepgenProcessor(processor.ProcessorABC):
    """Base: subclasses implement :meth:`model_jets` (the ``hepgen`` source) or override :meth:`sources`.

    Args:
        checkpoint: checkpoint file or shipped name (loaded lazily on the worker).
        device: torch device (``auto``: CUDA when present).
        acceptance: jet and constituent cuts.
        seed: noise seed.
        with_reference: also fill the file's own reconstruction (Delphes EFlow or CMS PFCands).
        skip_bad: drop particles with non-finite momenta (counted) instead of stopping.
        R: jet radius for clustering (default: the checkpoint's).
        weights: fill the histograms with the files' generator weights
            (:meth:`hepgen.io.formats.Format.weights`; 1 where a file has none); False: every
            event counts 1.
    """

    def __init__(
        self,
        checkpoint: str,
        device: str | None = None,
        acceptance: Acceptance = Acceptance(),
        seed: int = 0,
        with_reference: bool = True,
        skip_bad: bool = False,
        R: float | None = None,
        weights: bool = True,
    ) -> None:
        self.runner = Runner(checkpoint, device=device)
        self.acceptance = acceptance
        self.seed = seed
        self.with_reference = with_reference
        self.skip_bad = skip_bad
        if R is not None and not 0 < R <= 2:
            raise HepgenInputError(f"R = {R}: the jet radius must be in (0, 2]")
        self.R = float(R) if R is not None else self.runner.R
        self.weights = weights

    def select(self, jets: ak.Array) -> ak.Array:
        a = self.acceptance
        return jets[(jets.pt > a.jet_min_pt) & (np.abs(jets.eta) < a.jet_max_eta)]

    def read(self, events, need_reco: bool = True):
        """(gen, reco or None, bad-particle count) in the common particle format."""
        fmt = detect_events(events)
        gen, reco = fmt.particles(events, need_reco)
        where = str(events.metadata.get("filename", "?"))
        gen, bad = finite_particles(gen, self.skip_bad, where)
        if reco is not None:
            reco, bad_r = finite_particles(reco, self.skip_bad, where)
            bad += bad_r
        return gen, reco, bad

    def chunk_seed(self, events) -> int:
        """A per-chunk seed (the generator processor's): file identity and entry range."""
        import zlib

        key = f"{file_ident(events)}:{events.metadata.get('entrystart', 0)}".encode()
        return (self.seed * 1_000_003 + zlib.crc32(key)) % (2**31)

    def jet_keys(self, events, jets_per_event: np.ndarray) -> np.ndarray:
        """One noise key per jet from (file, event number, jet index): independent of chunking."""
        from hepgen.models.noise import jet_keys

        numbers = detect_events(events).event_numbers(events)
        counts = np.asarray(jets_per_event, np.int64)
        event = np.repeat(numbers, counts)
        index = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        return jet_keys(self.seed, file_key(file_ident(events)), event, index)

    @property
    def cluster_min_pt(self) -> float:
        return min(RESPONSE_MIN_PT, self.acceptance.jet_min_pt)

    def wants_reco(self, events) -> bool:
        """Whether the file's own reconstruction is filled as a reference source."""
        return self.with_reference and detect_events(events).has_reco(events)

    def _reference(self, events, reco: ak.Array | None, select: bool) -> dict[str, ak.Array]:
        if reco is None:
            return {}
        jets = cluster(reco, self.R, min_pt=self.cluster_min_pt)
        return {detect_events(events).reference_source: self.select(jets) if select else jets}

    def reference_jets(self, events, select: bool = True) -> dict[str, ak.Array]:
        """{source: the file's own reco particles reclustered} when asked for and present
        (``select=False``: every jet above :data:`RESPONSE_MIN_PT`)."""
        if not self.wants_reco(events):
            return {}
        _, reco, _ = self.read(events, need_reco=True)
        return self._reference(events, reco, select)

    def delphes_jets(self, events) -> ak.Array:
        """The file's own reco particles (Delphes EFlow or PFCands) reclustered the same way."""
        ref = self.reference_jets(events)
        if not ref:
            raise HepgenInputError(
                f"{events.metadata.get('filename', '?')}: no reconstructed particles"
            )
        return next(iter(ref.values()))

    def pileup(self, events) -> np.ndarray | None:
        """Per event, the pile-up the file's own simulation overlaid, counted in the cutflow and
        in each file's record; None (the default): not counted."""
        return None

    def model_jets(self, events) -> tuple[ak.Array, dict[str, int]]:
        """(selected hepgen jets per event, extra cutflow entries)."""
        raise NotImplementedError

    def sources(self, events) -> tuple[dict[str, ak.Array], dict[str, int]]:
        """(jets per source before the jet acceptance, extra cutflow entries for ``hepgen``)."""
        jets, extra = self.model_jets(events)
        gen, reco, _ = self.read(events, need_reco=self.wants_reco(events))
        return {
            "gen": cluster(gen, self.R, min_pt=self.cluster_min_pt),
            "hepgen": jets,
            **self._reference(events, reco, select=False),
        }, extra

    def process(self, events):
        import time

        t0 = time.perf_counter()
        hists = book()
        fmt = detect_events(events)
        half = fmt.event_numbers(events) % 2
        weight = fmt.weights(events) if self.weights else None
        if weight is not None and not np.isfinite(weight).all():
            raise HepgenInputError(
                f"{events.metadata.get('filename', '?')}: {int((~np.isfinite(weight)).sum())} event(s) "
                "with a non-finite generator weight; pass --no-weights to fill counts"
            )
        sources, extra = self.sources(events)
        dataset = str(events.metadata.get("dataset", "sample"))
        cutflow: dict[str, dict[str, Any]] = {
            name: fill(hists, name, self.select(jets), half, self.R, dataset=dataset, weight=weight)
            for name, jets in sources.items()
        }
        cutflow["hepgen"].update(extra)
        if self.paired:  # the model's jets are paired with gen jets: the jet response
            for name, jets in sources.items():
                if name != "gen":
                    cutflow[name]["response"] = fill_response(
                        hists, name, sources["gen"], jets, half, self.R,
                        self.acceptance.jet_max_eta, dataset=dataset, weight=weight,
                    )
        name = str(events.metadata.get("filename", "?"))  # the path: base names can repeat
        stats: dict[str, float] = {"events": len(events), "chunks": 1, "time_s": time.perf_counter() - t0}
        if weight is not None:  # the histograms' weights: their sum, and how many are not 1 or < 0
            stats["weight_sum"] = float(weight.sum())
            stats["weights_not_1"] = int((weight != 1).sum())
            stats["weights_negative"] = int((weight < 0).sum())
        pileup = self.pileup(events)
        if pileup is not None:  # what the file's own simulation overlaid (the fast-sim adds its training's)
            count, total = len(pileup), float(pileup.sum())
            cutflow["hepgen"]["events with a pile-up count"] = count
            cutflow["hepgen"]["pile-up interactions (sum)"] = total
            stats["pileup_events"], stats["pileup_sum"] = count, total
        return {
            "hists": hists,
            "cutflow": cutflow,  # all datasets together
            "cutflow_by_dataset": {dataset: copy.deepcopy(cutflow)},
            "events": len(events),
            "files": {name: stats},
        }

    paired = False
    """True when the ``hepgen`` jets are a response to the event's gen jets (fast-sim)."""

    def postprocess(self, accumulator):
        return accumulator
