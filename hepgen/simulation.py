"""``hepgen simulate``: apply a fast-sim checkpoint to the ``gen`` side of a dataset file."""

from __future__ import annotations

import os

import numpy as np
from tqdm.auto import tqdm

from hepgen.data.postprocess import reco_side
from hepgen.errors import HepgenInputError
from hepgen.inference import Runner, check_finite
from hepgen.io import h5
from hepgen.models.noise import jet_keys
from hepgen.outputs import check_output
from hepgen.physics.clustering import delta_r, same_radius
from hepgen.physics.cuts import Acceptance


def pair_keys(pairs: h5.JetPairs) -> np.ndarray:
    """uint64 key per jet from (source file, event number, index of the jet in its event)."""
    event = (pairs.source_file.astype(np.int64) << 40) + pairs.event_number.astype(np.int64)
    order = np.argsort(event, kind="stable")
    sorted_ev = event[order]
    start = np.r_[0, np.flatnonzero(np.diff(sorted_ev)) + 1]
    counts = np.diff(np.r_[start, len(event)])
    index = np.empty(len(event), np.int64)
    index[order] = np.arange(len(event)) - np.repeat(start, counts)
    return jet_keys(0, 0, event, index)


def simulate_pairs(
    runner: Runner,
    pairs: h5.JetPairs,
    seed: int = 0,
    acceptance: Acceptance = Acceptance(),
    chunk: int = 20_000,
    progress: bool = True,
) -> h5.JetPairs:
    """The same jets with the ``reco`` side replaced by the fast-sim prediction.

    Each jet's noise depends on (seed, source file, event number, jet index in its event)
    only, so any subset or order of the same jets gets the same predictions.
    """
    if pairs.gen is None:
        raise HepgenInputError("the input has no 'gen' side to simulate from")
    keys = pair_keys(pairs)
    parts = []
    for i in tqdm(range(0, len(pairs), chunk), desc="simulate", unit="chunk", disable=not progress):
        parts.append(
            runner.simulate(
                pairs.gen.constituents[i : i + chunk], seed=seed, keys=keys[i : i + chunk],
                pid=pairs.gen.pid[i : i + chunk] if runner.needs_pid else None,
            )
        )
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
    overwrite: bool = False,
    force: bool = False,
) -> h5.JetPairs:
    """Fast-sim the ``gen`` side of ``input_path`` into a new file ``output`` (written atomically).

    Args:
        checkpoint: a fast-sim checkpoint file or shipped name.
        input_path: an HDF5 jet-pair file (its gen side is read).
        output: the file to write; never an input, replaced only with ``overwrite``.
        seed: noise seed.
        device: torch device (``auto``, ``cpu``, ``cuda``).
        progress: progress bars.
        overwrite: replace an existing ``output``.
        force: simulate jets of another radius than the checkpoint's anyway.

    Raises:
        HepgenInputError: a generator checkpoint, non-finite momenta, or gen jets whose radius R
            (the file's attribute) is not the checkpoint's: the model keeps its particles within
            its own R, so such jets would come out silently wrong.
    """
    check_output(output, [input_path, checkpoint], overwrite)
    runner = Runner(checkpoint, device=device)
    if runner.kind != "fastsim":
        raise HepgenInputError(f"{checkpoint}: a {runner.kind} checkpoint; simulate needs a fast-sim")
    pairs = h5.read(input_path, sides=("gen",))
    R = pairs.attrs.get("R")
    if R is not None and not same_radius(R, runner.R) and not force:
        raise HepgenInputError(
            f"{input_path}: jets of R = {float(R):g}, but {checkpoint} simulates R = {runner.R:g} "
            "jets; pass --force to simulate them anyway"
        )
    # before any work: the runner would refuse the same jets one chunk later
    check_finite(pairs.side("gen").constituents, f"{input_path}: gen side", pairs.event_number)
    out = simulate_pairs(runner, pairs, seed=seed, progress=progress)
    h5.write(output, out)
    return out
