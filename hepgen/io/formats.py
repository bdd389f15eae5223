"""The one place that knows the supported ROOT formats: Delphes and CMS (PF)NanoAOD.

Each :class:`Format` names its tree, coffea schema, generator-level and reconstructed
collections, how to read the event number, the reader module that turns either uproot arrays
or coffea events into hepgen's common particle format, and how its reconstructed particles are
called in histograms and legends (Delphes EFlow → ``delphes``; CMS PFCands → ``reco_pf``,
"reco (PF)").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

import awkward as ak
import numpy as np
import uproot

from hepgen.errors import HepgenInputError
from hepgen.io import delphes, nanoaod
from hepgen.io.tree import open_root, tree_names

__all__ = ["FORMATS", "Format", "detect_events", "open_events", "open_tree"]


@dataclass(frozen=True)
class Format:
    """A supported ROOT format."""

    name: str
    tree: str
    gen_collection: str
    reco_collections: tuple[str, ...]
    reference_source: str
    reference_label: str
    reader: ModuleType

    @property
    def schema(self):
        """The coffea ``nanoevents`` schema class."""
        from coffea.nanoevents import DelphesSchema, NanoAODSchema

        return DelphesSchema if self.name == "delphes" else NanoAODSchema

    def has_reco(self, events) -> bool:
        return bool(set(self.reco_collections) & set(events.fields))

    def event_numbers(self, events) -> np.ndarray:
        if self.name == "delphes":
            number = events.Event.Number
            number = ak.firsts(number) if number.ndim > 1 else number
        else:
            number = events.event
        return ak.to_numpy(number).astype(np.int64)

    def check_coffea_layout(self, tree, path: str) -> None:
        """Raise where coffea's schema for this format cannot read ``tree`` (Delphes: a tree
        without Delphes' split branches, :func:`hepgen.io.delphes.check_split_layout`)."""
        if self.name == "delphes":
            delphes.check_split_layout(tree, path, need_reco=False)

    def particles(self, events, need_reco: bool = True):
        """coffea events → (gen, reco or None) in the common particle format."""
        return self.reader.from_events(events, need_reco)

    def weights(self, events) -> np.ndarray | None:
        """Per event, the generator weight (Delphes ``Event.Weight``, NanoAOD ``genWeight``);
        None where the file stores none."""
        if self.name == "delphes":
            if "Event" not in events.fields or "Weight" not in events.Event.fields:
                return None
            w = events.Event.Weight
            w = ak.firsts(w) if w.ndim > 1 else w
        else:
            if "genWeight" not in events.fields:
                return None
            w = events.genWeight
        return ak.to_numpy(ak.fill_none(w, 1.0)).astype(np.float64)

    def pileup(self, events) -> np.ndarray | None:
        """Per event, the pile-up interactions the file's simulation overlaid (Delphes: true
        vertices, else an estimate from the EFlow tracks flagged pile-up; NanoAOD:
        ``Pileup_nPU``); None where the file does not say."""
        return self.reader.pileup_from_events(events)


FORMATS: dict[str, Format] = {
    "delphes": Format(
        "delphes",
        "Delphes",
        "Particle",
        ("EFlowTrack", "ParticleFlowCandidate"),
        "delphes",
        "Delphes",
        delphes,
    ),
    "nanoaod": Format(
        "nanoaod", "Events", "GenCands", ("PFCands",), "reco_pf", "reco (PF)", nanoaod
    ),
}


def open_tree(path: str | os.PathLike, treename: str | None = None) -> tuple[uproot.TTree, Format]:
    """Open ``path``; return (tree, :class:`Format`). ``treename`` None detects the format."""
    path = os.fspath(path)
    f = open_root(path)
    keys = tree_names(f)
    if treename is None:
        found = [fmt for fmt in FORMATS.values() if fmt.tree in keys]
        if not found:
            raise HepgenInputError(
                f"{path}: no tree 'Delphes' (Delphes) or 'Events' (NanoAOD); the file holds {sorted(keys)}"
            )
        fmt = found[0]
        treename = fmt.tree
    else:
        if treename not in keys:
            raise HepgenInputError(f"{path}: no tree {treename!r}; the file holds {sorted(keys)}")
        fmt = next((f for f in FORMATS.values() if f.tree == treename), FORMATS["delphes"])
    try:
        tree = f[treename]
        _ = tree.num_entries
    except Exception as exc:
        raise HepgenInputError(
            f"{path}: tree {treename!r} cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    return tree, fmt


def detect_events(events) -> Format:
    """The :class:`Format` of coffea events, from their collections."""
    fields = set(events.fields)
    for fmt in FORMATS.values():
        if fmt.gen_collection in fields:
            return fmt
    raise HepgenInputError(
        f"{events.metadata.get('filename', '?')}: neither Delphes 'Particle' nor NanoAOD "
        "'GenCands' in the events (plain NanoAOD has no constituents: hepgen needs PFNanoAOD's "
        "GenCands and PFCands)"
    )


def open_events(path: str | os.PathLike):
    """A whole file's coffea events, eagerly, in its format's schema (Delphes or PFNanoAOD;
    ``*.fBits`` never read; NanoAODSchema's warnings about cross-referenced collections a file
    does not hold are silenced) — for scripts and notebooks that look at one file at once;
    the processors get their chunks from coffea's Runner."""
    import warnings

    from coffea.nanoevents import NanoEventsFactory

    path = os.fspath(path)
    _, fmt = open_tree(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return NanoEventsFactory.from_root(
            {path: fmt.tree}, schemaclass=fmt.schema, mode="eager",
            iteritems_options={"filter_name": lambda n: not n.endswith(".fBits")},
        ).events()
