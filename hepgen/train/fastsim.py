"""Training the detector-response VAE (seed 001) on matched gen/reco jet sets.

Trained on the extended phase space (reco jet pT > 130 GeV by default, §5); model selection
on the validation sum of symmetrised KLDs of jet mass, pT, E, η, φ (§6), computed after the
constituent acceptance is applied to the prediction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset, require_jets
from hepgen.data.normalise import Normalisation
from hepgen.data.postprocess import jet_feature_dict
from hepgen.metrics.distances import emd_sum, kld_sum
from hepgen.models import checkpoint
from hepgen.models.device import pick_device
from hepgen.models.fastsim_vae import FastSimLoss, FastSimVAE, FastSimVAEConfig
from hepgen.train.loop import TrainConfig, command_line, fit_checkpointed, pair_dataset_info


def train_fastsim(
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config: FastSimVAEConfig = FastSimVAEConfig(),
    train: TrainConfig = TrainConfig(),
    reco_min_pt: float = 130.0,
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    half: bool = False,
    on_epoch=None,
    exclude_events: np.ndarray | None = None,
) -> dict:
    """Train :class:`FastSimVAE`; writes the best checkpoint to ``output`` (and ``output.last.pt``)."""
    torch.manual_seed(train.seed)
    tr = JetPairDataset(
        data,
        "train",
        k=config.n_particles,
        seed=split_seed,
        reco_min_pt=reco_min_pt,
        exclude_events=exclude_events,
    )
    va = JetPairDataset(
        data,
        "valid",
        k=config.n_particles,
        seed=split_seed,
        reco_min_pt=reco_min_pt,
        exclude_events=exclude_events,
    )
    require_jets(tr, va, data)
    if train.max_train_jets and len(tr) > train.max_train_jets:
        tr.subset(np.random.default_rng(train.seed).choice(len(tr), train.max_train_jets, replace=False))
    reco_norm = Normalisation.fit("standardise", tr.reco.numpy())
    # the residual model adds the gen table to its output: both sides share the reco normalisation
    gen_norm = reco_norm if config.residual else Normalisation.fit("standardise", tr.gen.numpy())
    jet_scale = (1.0, 1.0)  # GeV, as seed 001's α_m, α_pT assume
    train_set = torch.utils.data.TensorDataset(gen_norm.forward(tr.gen), reco_norm.forward(tr.reco))
    device = pick_device(train.device)
    model = FastSimVAE(config)
    loss = FastSimLoss(config, reco_norm, jet_scale).to(device)

    def loss_fn(m, batch, generator):
        g, r = batch
        out, mu, logvar = m(g, generator=None if g.is_cuda else generator)
        return loss(out, r, mu, logvar)

    va_gen = gen_norm.forward(va.gen)
    va_reco = reco_norm.forward(va.reco)
    target = jet_feature_dict(va.reco.numpy())
    vgen = torch.Generator().manual_seed(train.seed + 1)

    def validate(m) -> dict[str, float]:
        outs: list[np.ndarray] = []
        terms: dict[str, float] = {}
        with torch.inference_mode():
            for i in range(0, len(va_gen), 1024):
                g = va_gen[i : i + 1024].to(device)
                r = va_reco[i : i + 1024].to(device)
                out, mu, logvar = m(g, generator=None if g.is_cuda else vgen)
                for k, v in loss(out, r, mu, logvar).items():
                    terms[k] = terms.get(k, 0.0) + float(v) * len(g)
                outs.append(reco_norm.inverse(out.cpu()).numpy())
        pred = jet_feature_dict(np.concatenate(outs))
        res = {f"valid_{k}": v / len(va_gen) for k, v in terms.items()}
        res["valid_kld_sum"] = kld_sum(target, pred)
        res["valid_emd_sum"] = emd_sum(target, pred)
        return res

    output = os.fspath(output)
    dataset_info = pair_dataset_info(
        tr, va, data, config.n_particles, split_seed, exclude_events, reco_min_pt=reco_min_pt
    )
    command = command_line()

    def save_best(record: dict) -> None:
        checkpoint.save(
            output,
            model="fastsim_vae",
            config=config.to_dict(),
            state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
            normalisation={"gen": gen_norm.to_dict(), "reco": reco_norm.to_dict()},
            dataset=dataset_info,
            training={**record, "command": command, "jet_scale": list(jet_scale)},
            half=half,
        )

    train = replace(train, learning_rate=train.learning_rate or config.learning_rate)
    record = fit_checkpointed(
        output,
        resume,
        model,
        loss_fn,
        train_set,
        validate,
        "valid_kld_sum",
        train,
        save_best,
        progress=progress,
        on_epoch=on_epoch,
    )
    return record
