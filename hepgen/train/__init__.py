"""Training: one loop (:mod:`hepgen.train.loop`), one trainer per model family, Optuna tuning.

:func:`train_model` is the one entry point from a registry name to the right trainer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["train_model"]


def train_model(
    name: str,
    config,
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    train,
    *,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    exclude_events: np.ndarray | None = None,
    reco_min_pt: float = 130.0,
    gen_min_pt: float = 100.0,
    half: bool = False,
    balance: bool = False,
    reflow: str | os.PathLike | None = None,
    reflow_pairs: int = 100_000,
    reflow_steps: int = 16,
    reflow_loss: str = "line",
    reflow_init: str | os.PathLike | None = None,
) -> dict:
    """Train model ``name`` (a checkpoint name of :mod:`hepgen.models.registry`).

    Args:
        name: registry name (``fastsim_vae``, ``fastsim_fm``, ``convae``, ...).
        config: the model's config (from :func:`hepgen.models.registry.config_for`).
        data: HDF5 files.
        output: checkpoint to write (best epoch); ``output.last.pt`` for resuming.
        train: a :class:`~hepgen.train.loop.TrainConfig`.
        split_seed: seed of the 70/15/15 split by event.
        resume: continue from ``output.last.pt``.
        progress: progress bars.
        exclude_events: event numbers held out (fast-sims).
        reco_min_pt: fastsim_vae's training phase space (reco jet pT).
        gen_min_pt: fastsim_fm's selection (gen jet pT).
        half: store float16 weights (fastsim_vae).
        balance: weight the processes (file families) equally (fastsim_fm).
        reflow, reflow_pairs, reflow_steps, reflow_loss, reflow_init: epic_fm reflow student (see
            :func:`hepgen.train.epic_fm.train_epic_fm`).
    """
    if name == "fastsim_fm":
        from hepgen.train.fastsim_fm import train_fastsim_fm

        return train_fastsim_fm(
            data, output, config, train, gen_min_pt=gen_min_pt, split_seed=split_seed,
            resume=resume, progress=progress, exclude_events=exclude_events, balance=balance,
        )
    if name == "fastsim_vae":
        from hepgen.train.fastsim import train_fastsim

        return train_fastsim(
            data, output, config, train, reco_min_pt=reco_min_pt, split_seed=split_seed,
            resume=resume, progress=progress, half=half, exclude_events=exclude_events,
        )
    if name == "epic_fm":
        from hepgen.train.epic_fm import train_epic_fm

        return train_epic_fm(
            data, output, config, train, split_seed=split_seed, resume=resume, progress=progress,
            reflow=reflow, reflow_pairs=reflow_pairs, reflow_steps=reflow_steps,
            reflow_loss=reflow_loss, reflow_init=reflow_init,
        )
    from hepgen.train.generation import train_generator

    return train_generator(
        name, data, output, config, train, split_seed=split_seed, resume=resume, progress=progress
    )
