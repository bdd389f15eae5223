"""Training fast-sim v2 (:class:`~hepgen.models.fastsim_fm.FSFM`) on matched gen/reco jet sets.

Pairs are selected on the model's *condition* — gen jet pT > ``gen_min_pt`` (100 GeV: what the
processor simulates) — never on its output, and every matched reco jet is kept. Model selection
on the validation loss (flow-matching MSE + response NLL + multiplicity cross-entropy).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset, require_jets
from hepgen.models import checkpoint
from hepgen.models.device import pick_device
from hepgen.models.fastsim_fm import FSFM, FSFMConfig
from hepgen.train.loop import TrainConfig, command_line, fit_checkpointed, pair_dataset_info

__all__ = ["process_family", "train_fastsim_fm"]


def process_family(path: str | os.PathLike) -> str:
    """A dataset file's family: its name without the ``_sNNN`` seed and suffix."""
    import re

    return re.sub(r"_s\d+$", "", os.path.splitext(os.path.basename(os.fspath(path)))[0])


def train_fastsim_fm(
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config: FSFMConfig = FSFMConfig(),
    train: TrainConfig = TrainConfig(),
    gen_min_pt: float = 100.0,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    exclude_events: np.ndarray | None = None,
    on_epoch=None,
    balance: bool = False,
) -> dict:
    """Train :class:`FSFM`; writes the best checkpoint to ``output`` (and ``output.last.pt``).

    Args:
        data: HDF5 jet-pair files (all of them take part in the event-grouped split).
        output: checkpoint path.
        config: model hyperparameters.
        train: loop settings (epochs, batch size, budget, seed, device).
        gen_min_pt: selection on the gen jet pT (GeV).
        split_seed: seed of the 70/15/15 split by event.
        resume: continue from ``output.last.pt``.
        progress: progress bars.
        exclude_events: event numbers held out (e.g. a demo sample's).
        balance: weight the processes equally — the training jets of each file family (the
            file name without its ``_sNNN`` seed, e.g. ``fastsim_qcd_pu50_highpt``) are repeated
            up to the largest family's count (at most 3×). Validation is not reweighted.
    """
    torch.manual_seed(train.seed)
    sets = {
        s: JetPairDataset(
            data, s, k=config.n_particles, seed=split_seed, gen_min_pt=gen_min_pt,
            exclude_events=exclude_events,
        )
        for s in ("train", "valid")
    }
    tr, va = sets["train"], sets["valid"]
    require_jets(tr, va, data)
    if train.max_train_jets and len(tr) > train.max_train_jets:
        keep = np.random.default_rng(train.seed).choice(len(tr), train.max_train_jets, replace=False)
        tr.gen, tr.reco = tr.gen[keep], tr.reco[keep]
    families = {}
    if balance:
        names = [process_family(p) for p in data]
        fam = np.array([names[int(i)] for i in (tr.event_keys >> 48)])
        counts = {f: int((fam == f).sum()) for f in set(names)}
        top = max(counts.values())
        reps = []
        for f, n in counts.items():
            idx = np.flatnonzero(fam == f)
            factor = min(3.0, top / max(n, 1))
            whole, frac = int(factor), factor - int(factor)
            extra = np.random.default_rng(train.seed).choice(idx, int(frac * len(idx)), replace=False)
            reps.append(np.concatenate([np.tile(idx, whole), extra]))
            families[f] = {"jets": n, "weight": round(factor, 3)}
        keep = np.concatenate(reps)
        tr.gen, tr.reco = tr.gen[keep], tr.reco[keep]
    device = pick_device(train.device)
    model = FSFM(config)
    model.fit_normalisation(tr.gen, tr.reco)
    train_set = torch.utils.data.TensorDataset(tr.gen, tr.reco)
    vgen_state = torch.Generator().manual_seed(train.seed + 1).get_state()

    def loss_fn(m, batch, generator):
        g, r = batch
        return m.loss(g, r, generator=None if g.is_cuda else generator)

    def validate(m) -> dict[str, float]:
        vgen = torch.Generator().manual_seed(0)
        vgen.set_state(vgen_state)
        terms: dict[str, float] = {}
        with torch.inference_mode():
            for i in range(0, len(va), 2048):
                g = va.gen[i : i + 2048].to(device)
                r = va.reco[i : i + 2048].to(device)
                for key, v in m.loss(g, r, generator=None if g.is_cuda else vgen).items():
                    terms[key] = terms.get(key, 0.0) + float(v) * len(g)
        return {f"valid_{key}": v / max(len(va), 1) for key, v in terms.items()}

    output = os.fspath(output)
    dataset_info = pair_dataset_info(
        tr, va, data, config.n_particles, split_seed, exclude_events, gen_min_pt=gen_min_pt, processes=families
    )
    command = command_line()

    def save_best(record: dict) -> None:
        checkpoint.save(
            output,
            model="fastsim_fm",
            config=config.to_dict(),
            state_dict={key: v.detach().cpu() for key, v in model.state_dict().items()},
            normalisation={},
            dataset=dataset_info,
            training={**record, "command": command},
        )

    train = replace(train, learning_rate=train.learning_rate or config.learning_rate)
    return fit_checkpointed(
        output, resume, model, loss_fn, train_set, validate, "valid_loss", train, save_best,
        progress=progress, on_epoch=on_epoch,
    )
