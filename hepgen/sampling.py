"""``hepgen sample``: generate jets with a generator checkpoint into the dataset layout.

Generated jets are written as the ``reco`` side (constituents px, py, pz and the jet table),
so every hepgen tool reads real and generated jets alike; there is no ``gen`` side.
"""

from __future__ import annotations

import os

import numpy as np

from hepgen.data.postprocess import reco_side
from hepgen.errors import HepgenInputError
from hepgen.inference import Runner
from hepgen.io import h5
from hepgen.outputs import check_output

__all__ = ["MAX_JETS", "sample_file"]

MAX_JETS = 50_000_000
"""Largest ``n`` in one call (memory: n × k × 3 floats, ~6 GB at k = 30): split larger jobs."""


def sample_file(
    checkpoint: str | os.PathLike | None,
    n: int,
    output: str | os.PathLike,
    seed: int = 0,
    device: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> h5.JetPairs:
    """Generate ``n`` jets with ``checkpoint`` (None: the default generator) into ``output``.

    Args:
        checkpoint: generator checkpoint file or shipped name; None for hepgen's default.
        n: number of jets, 1 … :data:`MAX_JETS`.
        output: HDF5 file to write (atomically; replaced only with ``overwrite``).
        seed: sampling seed.
        device: torch device.
        overwrite: replace an existing ``output``.
        progress: progress bar.
    """
    from hepgen.shipped import DEFAULT_GENERATOR, resolve_checkpoint

    if not 1 <= n <= MAX_JETS:
        raise HepgenInputError(f"-n {n}: must be between 1 and {MAX_JETS:,} jets per call")
    path = resolve_checkpoint(checkpoint, default=DEFAULT_GENERATOR)
    check_output(output, [path], overwrite)
    runner = Runner(path, device=device)
    if runner.kind != "generator":
        raise HepgenInputError(f"{path}: a {runner.kind} checkpoint; sample needs a generator")
    c = runner.sample(n, seed=seed, progress=progress)
    reco = reco_side(c)
    attrs = {
        "R": runner.R,
        "k": runner.k,
        "events": n,
        "source_files": [os.path.basename(os.fspath(path))],
        "hepgen_kind": "generation",
        "hepgen_model": runner.name,
        "hepgen_seed": seed,
        "reco_pid": "not generated (0)",
    }
    pairs = h5.JetPairs(
        None,
        reco,
        np.zeros(n, np.float32),
        np.arange(n, dtype=np.int64),
        np.zeros(n, np.int16),
        attrs,
    )
    h5.write(output, pairs)
    return pairs
