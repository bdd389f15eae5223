"""Opening ROOT files with clear errors, and chunked reading of both supported formats."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import awkward as ak
import numpy as np
import uproot


class HepgenInputError(ValueError):
    """An input file that hepgen cannot use; the message names the file and the problem."""


FORMATS = {"delphes": "Delphes", "nanoaod": "Events"}


def open_tree(path: str | os.PathLike, treename: str | None = None) -> tuple[uproot.TTree, str]:
    """Open ``path`` and return (tree, format). ``treename`` None detects Delphes or NanoAOD."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise HepgenInputError(f"{path}: no such file")
    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises many types for non-ROOT or truncated files
        raise HepgenInputError(
            f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})"
        ) from exc
    keys = {k.split(";")[0] for k in f.keys(recursive=False)}
    if treename is None:
        found = [fmt for fmt, tree in FORMATS.items() if tree in keys]
        if not found:
            raise HepgenInputError(
                f"{path}: no tree 'Delphes' (Delphes) or 'Events' (NanoAOD); the file holds {sorted(keys)}"
            )
        fmt = found[0]
        treename = FORMATS[fmt]
    else:
        if treename not in keys:
            raise HepgenInputError(f"{path}: no tree {treename!r}; the file holds {sorted(keys)}")
        fmt = {v: k for k, v in FORMATS.items()}.get(treename, "delphes")
    try:
        tree = f[treename]
        _ = tree.num_entries
    except Exception as exc:
        raise HepgenInputError(
            f"{path}: tree {treename!r} cannot be read ({type(exc).__name__}: {exc})"
        ) from exc
    return tree, fmt


def require_branches(tree: uproot.TTree, path: str, branches: list[str], what: str) -> None:
    """Raise :class:`HepgenInputError` naming the missing branches, if any."""
    have = set(tree.keys(recursive=True, full_paths=False)) | set(tree.keys(recursive=True))
    missing = [b for b in branches if b not in have]
    if missing:
        raise HepgenInputError(f"{path}: missing branches for {what}: {', '.join(missing)}")


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
    from hepgen.io import delphes, nanoaod

    path = os.fspath(path)
    tree, fmt = open_tree(path, treename)
    reader = delphes if fmt == "delphes" else nanoaod
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
