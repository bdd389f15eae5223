"""Training the jet generators (seeds 000, 003, 004) on single-sided jet sets.

All models share one loop (:func:`hepgen.train.loop.fit`), one checkpoint format and one
model-selection metric: the validation EMD_sum of jet (mass, E, pT, η, φ) between jets the
model generates and the validation jets (seed 000 §4) — or, for the reconstruction-tuned
ConVAE of the two-step ConVAE+NF, between reconstructed and input jets.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from hepgen.data.datasets import JetDataset, require_jets
from hepgen.data.normalise import Normalisation
from hepgen.data.postprocess import jet_feature_dict, to_cartesian
from hepgen.metrics.distances import emd_sum
from hepgen.metrics.jetnet import w1m, w1p
from hepgen.models import checkpoint, registry
from hepgen.models.convae import ConVAEConfig, ConVAENF, ConVAENFConfig, jet_term_scale
from hepgen.models.device import pick_device
from hepgen.physics.coordinates import (
    ptetaphi_to_cartesian,
    relative_jet_mass,
    to_jet_frame,
    to_jet_polar,
    to_relative,
)
from hepgen.physics.kinematics import jet_features
from hepgen.train.loop import TrainConfig, fit_checkpointed

RELATIVE_MODELS = ("mcflow",)


#: a ConVAE's / NF's ``frame`` → the table it models
FRAMES = {"lab": "cartesian", "jet": "jet_frame", "jet_polar": "jet_polar"}


def coordinates_of(name: str, config) -> str:
    """The table a generator models: ``relative`` (JetNet), ``jet_frame`` (cartesian momenta in
    the jet's frame), ``jet_polar`` ((η_rel, φ_rel, pT)) or ``cartesian`` (lab frame)."""
    if name in RELATIVE_MODELS:
        return "relative"
    vae = getattr(config, "vae", config)
    frame = getattr(vae, "frame", "lab")
    if frame not in FRAMES:
        raise ValueError(f"unknown frame {frame!r}: use one of {sorted(FRAMES)}")
    return FRAMES[frame]


def to_table(c: np.ndarray, coordinates: str) -> np.ndarray:
    """Physical cartesian constituents → the model's table (before normalisation)."""
    if coordinates == "relative":
        return to_relative(c)
    if coordinates == "jet_frame":
        return to_jet_frame(c)
    if coordinates == "jet_polar":
        return to_jet_polar(c)
    return c


def table_to_momenta(x: torch.Tensor, coordinates: str) -> torch.Tensor:
    """A de-normalised table → cartesian momenta whose jet pT and mass are the jet's
    (differentiable; for the loss's jet terms). Cartesian tables pass through; a jet-polar
    table becomes the jet at η = φ = 0 (pT and mass do not depend on the jet's direction), its
    non-positive pT clipped to 0 as at sampling (:func:`~hepgen.physics.coordinates.from_jet_polar`):
    a negative pT is a particle pointing backwards, and a decoder trained with the raw values makes
    the jet mass with one (mass of the 30-epoch reconstruction 0.53× its input's, RESULTS.md §3c)."""
    if coordinates == "jet_polar":
        pt = torch.relu(x[..., 2])
        return ptetaphi_to_cartesian(torch.stack([pt, x[..., 0], x[..., 1]], -1))
    if coordinates == "relative":
        raise ValueError("relative tables have no absolute jet pT: no jet terms")
    return x


def _dataset_info(ds: JetDataset, k: int, files, split_seed: int) -> dict:
    return {
        "R": float(ds.attrs.get("R", 0.8)),
        "k": k,
        "files": [os.path.basename(os.fspath(f)) for f in files],
        "split_seed": split_seed,
        "n_train": len(ds),
        "side": "reco",
    }


def _validation_scores(target_c: np.ndarray, out_c: np.ndarray) -> dict[str, float]:
    """The per-epoch validation record of a generator: EMD_sum of the jet features (seed 000's
    selection metric) and, for the curves only, W1M and the mean of W1P's three particle features
    (one fixed-seed batch of the validation jets: comparable from epoch to epoch)."""
    rel_t, rel_o = to_relative(target_c), to_relative(out_c)
    return {
        "valid_emd_sum": emd_sum(jet_feature_dict(target_c), jet_feature_dict(out_c)),
        "valid_w1m": w1m(rel_t, rel_o, n_batches=1)[0],
        "valid_w1p": float(w1p(rel_t, rel_o, n_batches=1)[0].mean()),
    }


def train_generator(
    name: str,
    data: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    config,
    train: TrainConfig = TrainConfig(),
    split_seed: int = 0,
    resume: bool = False,
    progress: bool = True,
    n_valid: int = 2000,
    on_epoch=None,
) -> dict:
    """Train generator ``name`` (a registry name) and write its best checkpoint to ``output``."""
    if name == "convae_nf":
        return train_convae_nf(
            data, output, config, train, split_seed, resume, progress, n_valid, on_epoch
        )
    if train.learning_rate is None:
        lr = config.flow.learning_rate if hasattr(config, "flow") else config.learning_rate
        train = replace(train, learning_rate=lr)
    torch.manual_seed(train.seed)
    k = config.n_particles
    tr = JetDataset(data, "reco", "train", k=k, seed=split_seed)
    va = JetDataset(data, "reco", "valid", k=k, seed=split_seed)
    require_jets(tr, va, data)
    if train.max_train_jets and len(tr) > train.max_train_jets:
        tr.subset(np.arange(train.max_train_jets))
    coordinates = coordinates_of(name, config)
    c_train = tr.constituents.numpy().astype(np.float64)
    table = to_table(c_train, coordinates)
    kind = getattr(
        config, "normalisation", "standardise" if coordinates == "relative" else "minmax"
    )
    norm = Normalisation.fit(kind, table)
    x_train = norm.forward(torch.from_numpy(table).float())
    jets_train = jet_features(c_train)
    jet_axes = torch.from_numpy(jets_train[:, :3]).float()
    pt_scale = float(jets_train[:, 0].mean())
    jet_scale = (
        jet_term_scale(config, jets_train[:, 0], jets_train[:, 3])
        if isinstance(config, ConVAEConfig)
        else pt_scale
    )
    device = pick_device(train.device)
    model: Any = registry.build(name, config.to_dict())  # the family's own methods (set_data, vae, ...)
    if name == "mcflow":
        rel = to_relative(c_train)
        cond = torch.stack(
            [
                torch.from_numpy(relative_jet_mass(rel).astype(np.float32)),
                torch.from_numpy((rel[..., 2] > 0).sum(-1)),
            ],
            -1,
        )
        model.set_data(norm.shift, norm.scale, cond.float())

    def to_physical(x):
        return table_to_momenta(
            x * torch.tensor(norm.scale, device=x.device)
            + torch.tensor(norm.shift, device=x.device),
            coordinates,
        )

    def loss_fn(m, batch, g):
        return m.training_loss(batch[0], None if batch[0].is_cuda else g, to_physical, jet_scale)

    va_c = va.constituents.numpy()[:n_valid]
    select_on = getattr(config, "select_on", "generation")
    vgen = torch.Generator().manual_seed(train.seed + 1)

    if select_on == "reconstruction":  # the validation inputs, normalised once
        xv = norm.forward(torch.from_numpy(to_table(va_c, coordinates)).float()).to(device)

    def validate(m) -> dict[str, float]:
        with torch.inference_mode():
            if select_on == "reconstruction":
                out = m(xv, None)[0]
            else:
                out = m.sample(len(va_c), generator=vgen if device.type == "cpu" else None)
        return _validation_scores(va_c, to_cartesian(out, norm, coordinates, jet_axes, vgen))

    files = list(data)
    command = " ".join(shlex.quote(a) for a in ["hepgen", *sys.argv[1:]]) if sys.argv else ""
    info = _dataset_info(tr, k, files, split_seed)

    def save_best(record: dict) -> None:
        checkpoint.save(
            output,
            model=name,
            config=config.to_dict(),
            state_dict={kk: v.detach().cpu() for kk, v in model.state_dict().items()},
            normalisation={"table": norm.to_dict()},
            dataset=info,
            training={**record, "command": command, "pt_scale": pt_scale, "jet_scale": jet_scale},
            extra={"coordinates": coordinates, "jet_axes": jet_axes[:20000].clone()},
        )

    record = fit_checkpointed(
        output,
        resume,
        model,
        loss_fn,
        torch.utils.data.TensorDataset(x_train),
        validate,
        "valid_emd_sum",
        train,
        save_best,
        progress=progress,
        on_epoch=on_epoch,
    )
    return record


def train_convae_nf(
    data,
    output,
    config: ConVAENFConfig,
    train: TrainConfig,
    split_seed: int,
    resume: bool,
    progress: bool,
    n_valid: int,
    on_epoch=None,
) -> dict:
    """Seed 000's two-step training: reconstruction-tuned ConVAE, then RealNVP on its latent values
    (``config.flow_samples`` draws z ~ q(z|x) per training jet, or the means when 0)."""
    output = os.fspath(output)
    vae_path = output.replace(".pt", "") + ".vae.pt"
    vae_cfg = replace(config.vae, select_on="reconstruction")
    if not (resume and os.path.exists(vae_path) and not os.path.exists(vae_path + ".last.pt")):
        rec_vae = train_generator(
            "convae", data, vae_path, vae_cfg, train, split_seed, resume, progress, n_valid
        )
    else:
        rec_vae = checkpoint.load(vae_path)["training"]
    vae_ckpt = checkpoint.load(vae_path)
    norm = Normalisation.from_dict(vae_ckpt["normalisation"]["table"])
    model = ConVAENF(replace(config, vae=vae_cfg))
    model.vae.load_state_dict(vae_ckpt["state_dict"])
    for p in model.vae.parameters():
        p.requires_grad_(False)
    model.vae.eval()
    k = vae_cfg.n_particles
    tr = JetDataset(data, "reco", "train", k=k, seed=split_seed)
    va = JetDataset(data, "reco", "valid", k=k, seed=split_seed)
    require_jets(tr, va, data)
    with torch.inference_mode():
        coordinates = vae_ckpt.get("coordinates", "cartesian")
        jet_axes = vae_ckpt.get("jet_axes", torch.zeros(1, 3))
        table = torch.from_numpy(to_table(tr.constituents.numpy().astype(np.float64), coordinates))
        mus, logvars = zip(
            *(
                model.vae.encode(norm.forward(table[i : i + 4096]).float())
                for i in range(0, len(tr), 4096)
            )
        )
        mu, logvar = torch.cat(mus), torch.cat(logvars)
        zg = torch.Generator().manual_seed(train.seed + 2)

        def latents(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
            if config.flow_samples > 0:  # draws z ~ q(z|x): what the decoder was trained to decode
                sd = torch.exp(0.5 * logvar)
                return torch.cat(
                    [mu + sd * torch.randn(mu.shape, generator=zg) for _ in range(config.flow_samples)]
                )
            return mu

        if config.flow_resample and config.flow_samples > 0:  # drawn afresh in every batch
            z = torch.cat([mu, logvar], 1).repeat(config.flow_samples, 1)
        else:
            z = latents(mu, logvar)
        # the validation jets' latent values, drawn the same way: the flow's held-out NLL
        va_table = to_table(va.constituents.numpy().astype(np.float64), coordinates)
        z_valid = latents(*model.vae.encode(norm.forward(torch.from_numpy(va_table)).float()))
    z_train = z.clone()
    device = pick_device(train.device)
    va_c = va.constituents.numpy()[:n_valid]
    vgen = torch.Generator().manual_seed(train.seed + 1)

    def loss_fn(m, batch, g):
        z = batch[0]
        if config.flow_resample and config.flow_samples > 0:  # rows hold (μ, log σ²)
            mu_b, logvar_b = z.chunk(2, dim=1)
            eps = torch.randn(mu_b.shape, generator=None if z.is_cuda else g, device=z.device)
            z = mu_b + torch.exp(0.5 * logvar_b) * eps
        nll = -m.flow().log_prob(z)
        return {"loss": nll.mean(), "nll": nll.mean()}

    def validate(m) -> dict[str, float]:
        with torch.inference_mode():
            out = m.sample(len(va_c), generator=vgen if device.type == "cpu" else None)
            nll = -m.flow().log_prob(z_valid.to(device)).mean()
        return {
            **_validation_scores(va_c, to_cartesian(out, norm, coordinates, jet_axes, vgen)),
            "valid_nll": float(nll),
        }

    flow_train = replace(
        train,
        learning_rate=config.flow.learning_rate
        if train.learning_rate is None
        else train.learning_rate,
        epochs=config.flow_epochs or train.epochs,
    )
    info = {
        **_dataset_info(tr, k, list(data), split_seed),
        "vae_checkpoint": os.path.basename(vae_path),
    }
    command = " ".join(shlex.quote(a) for a in ["hepgen", *sys.argv[1:]]) if sys.argv else ""

    def save_best(record: dict) -> None:
        checkpoint.save(
            output,
            model="convae_nf",
            config=replace(config, vae=vae_cfg).to_dict(),
            state_dict={kk: v.detach().cpu() for kk, v in model.state_dict().items()},
            normalisation={"table": norm.to_dict()},
            dataset=info,
            training={
                **record,
                "command": command,
                "vae_training_time_s": rec_vae.get("time_s", 0.0),
                "vae_best_epoch": rec_vae.get("best_epoch", -1),
            },
            extra={"coordinates": coordinates, "jet_axes": jet_axes},
        )

    record = fit_checkpointed(
        output,
        resume,
        model,
        loss_fn,
        torch.utils.data.TensorDataset(z_train),
        validate,
        "valid_nll" if config.flow_select == "nll" else "valid_emd_sum",
        flow_train,
        save_best,
        progress=progress,
        on_epoch=on_epoch,
    )
    return record
