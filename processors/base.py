"""What the fast-sim and generator processors share: reading, reference jets, selection,
per-chunk seeds and the histogram filling with a ``source`` axis and a cutflow."""

from __future__ import annotations

import os
import zlib

import awkward as ak
import numpy as np
from coffea import processor

from hepgen.inference import Runner
from hepgen.io import delphes, nanoaod
from hepgen.io.root import HepgenInputError
from hepgen.physics.clustering import cluster
from hepgen.physics.cuts import Acceptance
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


def has_reco(events) -> bool:
    return bool({"EFlowTrack", "PFCands", "ParticleFlowCandidate"} & set(events.fields))


def event_numbers(events) -> np.ndarray:
    if "Event" in events.fields:
        number = events.Event.Number
        number = ak.firsts(number) if number.ndim > 1 else number
        return ak.to_numpy(number).astype(np.int64)
    return ak.to_numpy(events.event).astype(np.int64)


class HepgenProcessor(processor.ProcessorABC):
    """Base: subclasses implement :meth:`model_jets` (the ``hepgen`` source) or override :meth:`sources`."""

    def __init__(
        self,
        checkpoint: str,
        device: str | None = None,
        acceptance: Acceptance = Acceptance(),
        seed: int = 0,
        with_reference: bool = True,
    ) -> None:
        self.runner = Runner(checkpoint, device=device)
        self.acceptance = acceptance
        self.seed = seed
        self.with_reference = with_reference

    def select(self, jets: ak.Array) -> ak.Array:
        a = self.acceptance
        return jets[(jets.pt > a.jet_min_pt) & (np.abs(jets.eta) < a.jet_max_eta)]

    def chunk_seed(self, events) -> int:
        """Deterministic per chunk — the file's ROOT UUID (or base name) and entry range — so results
        are identical under any executor and wherever the file is stored."""
        md = events.metadata
        uuid = md.get("fileuuid")
        ident = (
            uuid.hex()
            if isinstance(uuid, (bytes, bytearray))
            else str(uuid or os.path.basename(str(md.get("filename", ""))))
        )
        key = f"{ident}:{md.get('entrystart', 0)}".encode()
        return (self.seed * 1_000_003 + zlib.crc32(key)) % (2**31)

    def delphes_jets(self, events) -> ak.Array:
        """The file's own reco particles (Delphes EFlow or PFCands) reclustered the same way."""
        _, reco = read_particles(events, need_reco=True)
        if reco is None:
            raise HepgenInputError(
                f"{events.metadata.get('filename', '?')}: no reconstructed particles"
            )
        return self.select(cluster(reco, self.runner.R, min_pt=self.acceptance.jet_min_pt))

    def reference_gen_jets(self, events) -> ak.Array:
        gen, _ = read_particles(events, need_reco=False)
        return self.select(cluster(gen, self.runner.R, min_pt=self.acceptance.jet_min_pt))

    def model_jets(self, events) -> tuple[ak.Array, dict[str, int]]:
        """(selected hepgen jets per event, extra cutflow entries)."""
        raise NotImplementedError

    def reco_reference(self, events) -> dict[str, ak.Array]:
        """{"delphes": reclustered reco jets} when asked for and the file has reco particles."""
        return (
            {"delphes": self.delphes_jets(events)}
            if self.with_reference and has_reco(events)
            else {}
        )

    def sources(self, events) -> tuple[dict[str, ak.Array], dict[str, int]]:
        """(selected jets per source, extra cutflow entries for ``hepgen``)."""
        jets, extra = self.model_jets(events)
        return {
            "gen": self.reference_gen_jets(events),
            "hepgen": jets,
            **self.reco_reference(events),
        }, extra

    def process(self, events):
        hists = book()
        half = event_numbers(events) % 2
        sources, extra = self.sources(events)
        cutflow = {
            name: fill(hists, name, jets, half, self.runner.R) for name, jets in sources.items()
        }
        cutflow["hepgen"].update(extra)
        return {"hists": hists, "cutflow": cutflow, "events": len(events)}

    def postprocess(self, accumulator):
        return accumulator
