"""``hepgen sample``: generate jets with a generator checkpoint into the dataset layout.

Generated jets are written as the ``reco`` side (constituents px, py, pz and the jet table),
so every hepgen tool reads real and generated jets alike; there is no ``gen`` side.
"""

from __future__ import annotations

import os

import numpy as np

from hepgen.inference import Runner
from hepgen.io import h5
from hepgen.simulate import reco_side


def sample_file(
    checkpoint: str | os.PathLike,
    n: int,
    output: str | os.PathLike,
    seed: int = 0,
    device: str | None = None,
) -> h5.JetPairs:
    runner = Runner(checkpoint, device=device)
    c = runner.sample(n, seed=seed)
    reco = reco_side(c)
    attrs = {
        "R": runner.R,
        "k": runner.k,
        "events": n,
        "source_files": [os.path.basename(os.fspath(checkpoint))],
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
