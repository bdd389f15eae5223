"""The dataset builder: ROOT files → matched gen/reco jet pairs in the shared HDF5 layout.

Selection (``shared/data/README.md``): anti-kt R jets on both sides, gen jets above
``gen_min_pt``, reco jets above ``reco_min_pt``, each sorted by decreasing pT; events
without a gen jet are skipped; reco jets with |η| < ``max_eta`` are kept, then the leading
``max_jets``; each is paired with the gen jet of smallest ΔR, kept if ΔR < R/2;
constituents sorted by decreasing pT, leading ``k``, zero padded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import awkward as ak
import numpy as np
from tqdm.auto import tqdm

from hepgen.errors import HepgenInputError
from hepgen.io import h5
from hepgen.io.paths import repeated
from hepgen.io.root import iterate_particles, open_tree
from hepgen.physics.clustering import cluster, delta_r, sorted_constituents
from hepgen.physics.coordinates import pad


@dataclass(frozen=True)
class Selection:
    """The builder's settings; defaults are the WW sets'."""

    R: float = 0.5
    k: int = 50
    reco_min_pt: float = 30.0
    gen_min_pt: float = 20.0
    max_eta: float = 2.7
    max_jets: int = 4

    @classmethod
    def ww(cls) -> Selection:
        return cls()

    @classmethod
    def gluon(cls) -> Selection:
        return cls(R=0.8, k=100, reco_min_pt=300.0, gen_min_pt=20.0, max_eta=2.5, max_jets=2)


def side_arrays(jets: ak.Array, k: int) -> h5.JetSide:
    """Flat jets (records of :func:`cluster`) → dense constituents, pid and jet table."""
    c = sorted_constituents(jets)
    constituents = pad(c, k).astype(np.float32)
    pid = pad(c, k, fields=("pid",))[..., 0].astype(np.int16)
    table = np.stack([ak.to_numpy(jets[f]).astype(np.float64) for f in h5.JET_COLUMNS], axis=-1)
    return h5.JetSide(constituents, pid, table.astype(np.float32))


def match_chunk(gen: ak.Array, reco: ak.Array, sel: Selection):
    """Cluster and match one chunk; returns (gen jets, reco jets, ΔR, event index) flat."""
    gen_jets = cluster(gen, sel.R, min_pt=0.0)
    gen_jets = gen_jets[gen_jets.pt > sel.gen_min_pt]
    reco_jets = cluster(reco, sel.R, min_pt=0.0)
    reco_jets = reco_jets[reco_jets.pt > sel.reco_min_pt]
    reco_jets = reco_jets[np.abs(reco_jets.eta) < sel.max_eta][:, : sel.max_jets]
    has_gen = ak.num(gen_jets) > 0
    pairs = ak.cartesian({"reco": reco_jets, "gen": gen_jets}, nested=True)
    dr = delta_r(pairs.reco.eta, pairs.reco.phi, pairs.gen.eta, pairs.gen.phi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    best_dr = ak.flatten(dr[best], axis=2)
    best_gen = ak.flatten(pairs.gen[best], axis=2)
    keep = (best_dr < sel.R / 2) & has_gen
    event_index = ak.broadcast_arrays(np.arange(len(reco_jets)), reco_jets.pt)[0]
    return (
        ak.flatten(best_gen[keep]),
        ak.flatten(reco_jets[keep]),
        ak.to_numpy(ak.flatten(best_dr[keep])),
        ak.to_numpy(ak.flatten(event_index[keep])),
    )


def check_inputs(inputs: Sequence[str | os.PathLike]) -> list[int]:
    """Each input's number of events; opening them all first fails early, naming a bad file.

    Refuses a file given twice (its jets would be duplicated, and could fall on both sides of
    a split by event) and files of two formats (Delphes' reco and CMS PF candidates are not one
    detector: one dataset would mix two responses)."""
    if not inputs:
        raise HepgenInputError("no input files")
    twice = repeated(inputs)
    if twice:
        raise HepgenInputError(f"{', '.join(twice)}: given more than once (its jets would be duplicated)")
    trees = {os.fspath(p): open_tree(p) for p in inputs}
    formats = {p: fmt.name for p, (_, fmt) in trees.items()}
    if len(set(formats.values())) > 1:
        raise HepgenInputError(
            "inputs of different formats ("
            + "; ".join(f"{os.path.basename(p)}: {f}" for p, f in formats.items())
            + "): their reco sides are different reconstructions; build one dataset per format"
        )
    return [tree.num_entries for tree, _ in trees.values()]


def build(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    selection: Selection = Selection(),
    step_size: int = 200,
    progress: bool = True,
) -> h5.JetPairs:
    """Build the matched gen/reco dataset from Delphes/NanoAOD ``inputs`` into ``output``."""
    sides: dict[str, list[h5.JetSide]] = {"gen": [], "reco": []}
    match_dr, numbers, sources = [], [], []
    n_events = 0
    totals = check_inputs(inputs)
    bar = tqdm(total=sum(totals), unit="event", desc="build-dataset", disable=not progress)
    for i, path in enumerate(inputs):
        bar.set_postfix_str(os.path.basename(os.fspath(path)))
        for chunk in iterate_particles(path, step_size=step_size):
            g, r, dr, ev = match_chunk(chunk.gen, chunk.reco, selection)
            sides["gen"].append(side_arrays(g, selection.k))
            sides["reco"].append(side_arrays(r, selection.k))
            match_dr.append(dr)
            numbers.append(chunk.event_number[ev])
            sources.append(np.full(len(dr), i, dtype=np.int16))
            n_events += chunk.entry_stop - chunk.entry_start
            bar.update(chunk.entry_stop - chunk.entry_start)
    bar.close()

    attrs = {k: v for k, v in asdict(selection).items() if k != "max_jets"}
    attrs.update(events=n_events, source_files=[os.path.basename(os.fspath(p)) for p in inputs])
    pairs = h5.JetPairs(
        h5.JetSide.concatenate(sides["gen"]),
        h5.JetSide.concatenate(sides["reco"]),
        np.concatenate(match_dr).astype(np.float32),
        np.concatenate(numbers).astype(np.int64),
        np.concatenate(sources),
        attrs,
    )
    h5.write(output, pairs)
    return pairs
