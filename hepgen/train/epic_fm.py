"""Training the EPiC-FM generator (:class:`~hepgen.models.epic_fm.EPiCFM`) on single-sided jets.

Selection on the validation flow-matching loss with fixed noise (deterministic across epochs);
each epoch also records the W1 of the relative jet mass and of the particle features of 2 000
jets sampled with the config's ODE steps against the validation jets (jetnet's W1M / W1P), so
the history shows sample quality, not only the loss.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from hepgen.data.datasets import JetDataset, require_jets
from hepgen.metrics.jetnet import w1m, w1p
from hepgen.models import checkpoint
from hepgen.models.device import pick_device
from hepgen.models.epic_fm import EPiCFM, EPiCFMConfig
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.train.loop import TrainConfig, command_line, fit_checkpointed

__all__ = ["train_epic_fm"]


def train_epic_fm(
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config: EPiCFMConfig = EPiCFMConfig(),
    train: TrainConfig = TrainConfig(),
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    n_valid: int = 2000,
    on_epoch=None,
) -> dict:
    """Train :class:`EPiCFM` on the reco side of ``data``; best checkpoint to ``output``.

    Args:
        data: HDF5 jet files (all take part in the 70/15/15 split by event).
        output: checkpoint path (``output.last.pt`` for resuming).
        config: model hyperparameters.
        train: loop settings.
        split_seed: seed of the split.
        resume: continue from ``output.last.pt``.
        progress: progress bars.
        n_valid: validation jets sampled each epoch for W1M / W1P.
    """
    torch.manual_seed(train.seed)
    k = config.n_particles
    tr = JetDataset(data, "reco", "train", k=k, seed=split_seed)
    va = JetDataset(data, "reco", "valid", k=k, seed=split_seed)
    require_jets(tr, va, data)
    x_train = tr.constituents.float()
    if train.max_train_jets and len(x_train) > train.max_train_jets:
        x_train = x_train[: train.max_train_jets]
    device = pick_device(train.device)
    model = EPiCFM(config)
    model.fit(x_train, generator=torch.Generator().manual_seed(train.seed))
    x_valid = va.constituents.float()
    rel_valid = to_relative(apply_constituent_acceptance(x_valid[:n_valid].numpy().astype(np.float64)))
    loss_state = torch.Generator().manual_seed(train.seed + 1).get_state()

    def loss_fn(m, batch, g):
        return m.loss(batch[0], None if batch[0].is_cuda else g)

    def validate(m) -> dict[str, float]:
        g = torch.Generator().manual_seed(0)
        g.set_state(loss_state)
        total = 0.0
        with torch.inference_mode():
            for i in range(0, len(x_valid), 4096):
                xb = x_valid[i : i + 4096].to(device)
                total += float(m.loss(xb, None if xb.is_cuda else g)["fm"]) * len(xb)
            gs = torch.Generator(device=device).manual_seed(train.seed + 2)
            out = m.sample(len(rel_valid), generator=gs).cpu().numpy().astype(np.float64)
        rel = to_relative(apply_constituent_acceptance(out))
        return {
            "valid_fm": total / len(x_valid),
            "valid_w1m": w1m(rel_valid, rel, n_samples=len(rel), n_batches=1)[0],
            "valid_w1p_mean": float(np.mean(w1p(rel_valid, rel, n_samples=len(rel), n_batches=1)[0])),
        }

    output = os.fspath(output)
    info = {
        "R": float(tr.attrs.get("R", config.R)),
        "k": k,
        "files": [os.path.basename(os.fspath(f)) for f in data],
        "split_seed": split_seed,
        "n_train": len(x_train),
        "n_valid": len(va),
        "side": "reco",
    }
    command = command_line()

    def save_best(record: dict) -> None:
        checkpoint.save(
            output,
            model="epic_fm",
            config=config.to_dict(),
            state_dict={key: v.detach().cpu() for key, v in model.state_dict().items()},
            normalisation={},
            dataset=info,
            training={**record, "command": command},
        )

    train = replace(train, learning_rate=train.learning_rate or config.learning_rate)
    return fit_checkpointed(
        output, resume, model, loss_fn, torch.utils.data.TensorDataset(x_train), validate,
        "valid_fm", train, save_best, progress=progress, on_epoch=on_epoch,
    )
