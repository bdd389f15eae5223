"""Fitting a fast-sim's soft tail (:class:`~hepgen.models.tail.SoftTail`): the reco constituents
of a jet beyond the leading ``k`` of its tables, drawn from what the dataset files record of the
whole reco jet (``reco/jet``: its four-momentum and constituent count)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset
from hepgen.models import checkpoint
from hepgen.models.device import pick_device
from hepgen.models.tail import SoftTail, SoftTailConfig, full_tables, tail_context, tail_targets
from hepgen.train.fastsim_fm import _refit_source, _splits
from hepgen.train.loop import TrainConfig, command_line, fit_checkpointed

__all__ = ["fit_tail", "tail_data"]


def tail_data(ds: JetPairDataset, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(context, data) of the jet pairs of ``ds`` whose reco table is full (``k`` particles):
    :func:`~hepgen.models.tail.tail_context` and :func:`~hepgen.models.tail.tail_targets`, the
    dequantisation uniforms drawn from ``seed``."""
    reco = ds.reco
    full = torch.from_numpy(np.flatnonzero(full_tables(reco.numpy())))
    reco_jet = torch.from_numpy(np.asarray(ds.reco_jet, np.float64))[full]
    u = torch.rand(len(full), 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return tail_context(reco[full], ds.gen[full]), tail_targets(reco[full], reco_jet, u)


def _loss(tail, batch, generator) -> dict[str, torch.Tensor]:
    c, y = batch
    nll = -tail.log_prob(c, y).mean() / 2
    return {"loss": nll, "nll": nll}


def fit_tail(
    source: str | os.PathLike,
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    train: TrainConfig = TrainConfig(epochs=100, batch_size=512, learning_rate=3e-4, patience=20, schedule="cosine"),
    config: SoftTailConfig = SoftTailConfig(),
    gen_min_pt: float = 100.0,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    exclude_events: np.ndarray | None = None,
) -> dict:
    """Fit a soft tail for a trained fast-sim v2 checkpoint on its own training split; write the
    checkpoint, unchanged but for its new ``tail`` entry, to ``output``.

    The fast-sim's weights, settings and records are copied as they are (its leading-``k``
    tables do not change); the tail (``tail``: config, weights, training record) is used by the
    processor, which reclusters whole jets (``Runner.simulate(tail=True)``). Selection on the
    validation NLL; checkpoints every epoch in ``output.tail.pt`` (``resume`` continues it). Fit
    it last: a refit of another part (``refit_response``, ``refit_count``) writes a checkpoint
    without it. The tail is learnt from the data alone (Delphes' tables and whole jets), not from
    the fast-sim's output, so checkpoints trained on the same files get the same tail.

    Args:
        source: a trained ``fastsim_fm`` checkpoint.
        data: the files it was trained on, in its order (the split is by event over the list).
        output: the checkpoint to write (may be ``source``: it is replaced at the end).
        train: loop settings.
        config: the tail flow's architecture.
        gen_min_pt, split_seed, exclude_events: as the fast-sim was trained.

    Example::

        >>> fit_tail("fastsim_ww_pu50.pt", files, "fastsim_ww_pu50.pt")
    """
    ck = _refit_source(source, data, split_seed, "--fit-tail")
    k = int(ck["dataset"]["k"])
    tr, va, _ = _splits(data, k, train, gen_min_pt, split_seed, exclude_events, False)
    c_tr, y_tr = tail_data(tr, train.seed)
    c_va, y_va = tail_data(va, train.seed + 1)
    torch.manual_seed(train.seed)
    tail = SoftTail(config)
    tail.fit_normalisation(c_tr, y_tr)
    device = pick_device(train.device)

    def validate(t) -> dict[str, float]:
        with torch.inference_mode():
            nll = -float(t.log_prob(c_va.to(device), y_va.to(device)).mean()) / 2
        return {"valid_nll": nll}

    part = f"{os.fspath(output)}.tail.pt"
    command = command_line()

    def save_best(record: dict) -> None:
        checkpoint.save(
            part,
            model="soft_tail",
            config=config.to_dict(),
            state_dict={key: v.detach().cpu() for key, v in tail.state_dict().items()},
            normalisation={},
            dataset={"R": ck["dataset"]["R"], "k": k, "train_jets": len(y_tr), "valid_jets": len(y_va)},
            training={**record, "command": command},
        )

    record = fit_checkpointed(part, resume, tail, _loss, torch.utils.data.TensorDataset(c_tr, y_tr),
                              validate, "valid_nll", train, save_best, progress=progress)
    fitted = checkpoint.load(part)
    standard = ("format", "model", "config", "state_dict", "normalisation", "dataset", "training", "versions")
    checkpoint.save(
        output,
        model=ck["model"],
        config=ck["config"],
        state_dict=ck["state_dict"],
        normalisation=ck["normalisation"],
        dataset=ck["dataset"],
        training=ck["training"],
        extra={
            **{key: v for key, v in ck.items() if key not in standard or key == "versions"},
            "tail": {
                "versions": fitted["versions"],
                "config": fitted["config"],
                "state_dict": fitted["state_dict"],
                "training": {**fitted["training"], "jets": fitted["dataset"]},
            },
        },
    )
    for leftover in (part, f"{part}.last.pt"):
        if os.path.exists(leftover):
            os.remove(leftover)
    return record
