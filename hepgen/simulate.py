"""``hepgen simulate``: apply a fast-sim checkpoint to the ``gen`` side of a dataset file."""

from __future__ import annotations

import os

import numpy as np
from tqdm.auto import tqdm

from hepgen.inference import Runner
from hepgen.io import h5
from hepgen.physics.clustering import delta_r
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance
from hepgen.physics.kinematics import jet_features, n_constituents


def reco_side(constituents: np.ndarray, acceptance: Acceptance = Acceptance()) -> h5.JetSide:
    """Predicted constituents → the layout's reco side (constituent acceptance applied).

    The model predicts momenta only: ``pid`` is 0 for every entry, and the jet table's
    n_constituents counts the accepted predicted constituents (at most k).
    """
    c = apply_constituent_acceptance(
        np.asarray(constituents, np.float64),
        acceptance.constituent_min_pt,
        acceptance.constituent_max_eta,
    )
    jet = np.concatenate([jet_features(c), n_constituents(c)[:, None]], axis=1)
    return h5.JetSide(c.astype(np.float32), np.zeros(c.shape[:2], np.int16), jet.astype(np.float32))


def simulate_pairs(
    runner: Runner,
    pairs: h5.JetPairs,
    seed: int = 0,
    acceptance: Acceptance = Acceptance(),
    chunk: int = 20_000,
    progress: bool = True,
) -> h5.JetPairs:
    """The same jets with the ``reco`` side replaced by the fast-sim prediction."""
    if pairs.gen is None:
        raise ValueError("the input has no 'gen' side to simulate from")
    parts = []
    for i in tqdm(range(0, len(pairs), chunk), desc="simulate", unit="chunk", disable=not progress):
        parts.append(runner.simulate(pairs.gen.constituents[i : i + chunk], seed=seed + i))
    pred = np.concatenate(parts) if parts else np.zeros((0, runner.k, 3), np.float32)
    reco = reco_side(pred, acceptance)
    gen_k = h5.JetSide(
        pairs.gen.constituents[:, : runner.k], pairs.gen.pid[:, : runner.k], pairs.gen.jet
    )
    dr = delta_r(reco.jet[:, 1], reco.jet[:, 2], pairs.gen.jet[:, 1], pairs.gen.jet[:, 2]).astype(
        np.float32
    )
    attrs = dict(pairs.attrs)
    attrs.update(
        k=runner.k,
        hepgen_kind="fastsim",
        hepgen_model=runner.name,
        hepgen_checkpoint=os.path.basename(runner.path),
        hepgen_seed=seed,
        reco_pid="not simulated (0)",
    )
    return h5.JetPairs(gen_k, reco, dr, pairs.event_number, pairs.source_file, attrs)


def simulate_file(
    checkpoint: str | os.PathLike,
    input_path: str | os.PathLike,
    output: str | os.PathLike,
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
) -> h5.JetPairs:
    runner = Runner(checkpoint, device=device)
    pairs = h5.read(input_path, sides=("gen",))
    out = simulate_pairs(runner, pairs, seed=seed, progress=progress)
    h5.write(output, out)
    return out
