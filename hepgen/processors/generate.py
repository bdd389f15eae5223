"""A coffea processor that generates jets with a hepgen generator checkpoint.

For every chunk of input events it generates ``jets_per_event`` jets per event (or
``jets_per_chunk`` in all), groups them into events, reclusters each event's generated
constituents with anti-kt (R from the checkpoint), applies the acceptance cuts and fills the
same histograms as the fast-sim processor (source ``hepgen``), beside the input file's own
``gen`` and, when present, ``delphes`` jets. Generated jets are independent draws: the dijet
histograms of the ``hepgen`` source combine unrelated jets and are not a dijet prediction.
"""

from __future__ import annotations

import numpy as np

from hepgen.data.postprocess import particles_from_jets
from hepgen.physics.clustering import cluster
from hepgen.physics.cuts import Acceptance
from hepgen.processors.base import HepgenProcessor


class GenerateProcessor(HepgenProcessor):
    """Noise → generated jets → histograms, beside the input file's gen (and reco) jets.

    Args:
        checkpoint: generator checkpoint file or shipped name (default: hepgen's default generator).
        device: torch device.
        jets_per_event: jets generated per input event (or ``jets_per_chunk`` in all).
        acceptance: jet cuts (default pT > 300 GeV: the gluon sets' phase space).
        seed: sampling seed.
        with_reference: also fill the file's own reconstruction.
    """

    def __init__(
        self,
        checkpoint: str | None = None,
        device: str | None = None,
        jets_per_event: int = 1,
        jets_per_chunk: int | None = None,
        acceptance: Acceptance = Acceptance(jet_min_pt=300.0),
        seed: int = 0,
        with_reference: bool = True,
    ) -> None:
        from hepgen.errors import HepgenInputError
        from hepgen.shipped import DEFAULT_GENERATOR

        super().__init__(checkpoint or DEFAULT_GENERATOR, device, acceptance, seed, with_reference)
        if self.runner.kind != "generator":
            raise HepgenInputError(
                f"{self.runner.path}: a {self.runner.kind} checkpoint; the generator processor needs a generator"
            )
        if jets_per_event < 1 and jets_per_chunk is None:
            raise HepgenInputError("jets_per_event must be ≥ 1 (or give jets_per_chunk)")
        self.jets_per_event = jets_per_event
        self.jets_per_chunk = jets_per_chunk

    def model_jets(self, events):
        n_events = len(events)
        if self.jets_per_chunk is not None:
            per_event = np.full(n_events, self.jets_per_chunk // max(n_events, 1))
            per_event[: self.jets_per_chunk - per_event.sum()] += 1
        else:
            per_event = np.full(n_events, self.jets_per_event)
        constituents = self.runner.sample(
            int(per_event.sum()), seed=self.chunk_seed(events)
        ).astype(np.float64)
        particles = particles_from_jets(constituents, per_event)
        jets = self.select(cluster(particles, self.R, min_pt=self.acceptance.jet_min_pt))
        return jets, {"jets generated": int(per_event.sum())}
