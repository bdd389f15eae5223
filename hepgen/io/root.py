"""Chunked reading of both supported ROOT formats into the common particle format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import awkward as ak
import numpy as np

from hepgen.errors import HepgenInputError
from hepgen.io.formats import open_tree

__all__ = ["ParticleChunk", "iterate_particles", "open_tree"]


@dataclass
class ParticleChunk:
    """One chunk of events in the common particle format."""

    gen: ak.Array
    reco: ak.Array
    event_number: np.ndarray
    entry_start: int
    entry_stop: int


def iterate_particles(
    path: str | os.PathLike,
    step_size: int = 500,
    treename: str | None = None,
    need_reco: bool = True,
) -> Iterator[ParticleChunk]:
    """Yield :class:`ParticleChunk` s of ``step_size`` events from a Delphes or NanoAOD file."""
    path = os.fspath(path)
    tree, fmt = open_tree(path, treename)
    reader = fmt.reader
    branches = reader.branches(tree, path, need_reco=need_reco)
    n = tree.num_entries
    for start in range(0, n, step_size):
        stop = min(n, start + step_size)
        try:
            arrays = tree.arrays(branches, entry_start=start, entry_stop=stop, library="ak")
        except Exception as exc:
            raise HepgenInputError(
                f"{path}: entries {start}-{stop} cannot be read ({type(exc).__name__}: {exc}); "
                "is the file truncated?"
            ) from exc
        gen, reco, number = reader.from_arrays(arrays, need_reco=need_reco)
        yield ParticleChunk(gen, reco, number, start, stop)
