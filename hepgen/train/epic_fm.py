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
from tqdm.auto import tqdm

from hepgen.data.datasets import JetDataset, require_jets
from hepgen.errors import HepgenInputError
from hepgen.metrics.jetnet import w1m, w1p
from hepgen.models import checkpoint
from hepgen.models.device import pick_device
from hepgen.models.epic_fm import EPiCFM, EPiCFMConfig
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.train.loop import TrainConfig, command_line, fit_checkpointed

__all__ = ["REFLOW_LOSSES", "train_epic_fm"]

#: reflow student losses: the straight line between the pairs, or the few-step solve's endpoint
#: (plain, or each particle weighted by its pT share)
REFLOW_LOSSES = ("line", "endpoint", "endpoint-pt")


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
    reflow: str | os.PathLike | None = None,
    reflow_pairs: int = 100_000,
    reflow_steps: int = 16,
    reflow_loss: str = "line",
    reflow_init: str | os.PathLike | None = None,
) -> dict:
    """Train :class:`EPiCFM` on the reco side of ``data``; best checkpoint to ``output``.

    With ``reflow`` (a trained EPiC-FM checkpoint, the teacher), the model is a reflow student
    (rectified flow, Liu et al., arXiv 2209.03003; InstaFlow, arXiv 2309.06380): the teacher
    integrates ``reflow_pairs`` noise tables with ``reflow_steps`` steps, and the student learns
    the straight lines between each noise and its endpoint (:meth:`EPiCFM.pair_loss`), so that
    a few ODE steps follow them. It starts from the teacher's weights when the architectures
    agree, takes the teacher's normalisation and jet table, and is selected on the pair loss
    of 5 000 held-out pairs. The pairs are cached in ``output.pairs.pt`` (kept for ``resume``).
    ``reflow_loss="endpoint"`` trains through the solver instead (:meth:`EPiCFM.endpoint_loss`:
    the config's steps from each noise must land on the teacher's endpoint), typically as a
    second stage from a line-trained student given as ``reflow_init``.

    Args:
        data: HDF5 jet files (all take part in the 70/15/15 split by event).
        output: checkpoint path (``output.last.pt`` for resuming).
        config: model hyperparameters.
        train: loop settings.
        split_seed: seed of the split.
        resume: continue from ``output.last.pt``.
        progress: progress bars.
        n_valid: validation jets sampled each epoch for W1M / W1P.
        reflow: teacher checkpoint (see above); ``None`` trains on the data.
        reflow_pairs: training couplings drawn from the teacher.
        reflow_steps: the teacher's ODE steps for them.
        reflow_loss: ``"line"`` (:meth:`EPiCFM.pair_loss`), ``"endpoint"``
            (:meth:`EPiCFM.endpoint_loss`) or ``"endpoint-pt"`` (the same, each particle
            weighted by its pT share: ``pt_weighted``).
        reflow_init: an EPiC-FM checkpoint of the same architecture to start the student from
            (default: the teacher's weights).
    """
    if reflow_loss not in REFLOW_LOSSES:
        raise HepgenInputError(f"reflow_loss must be one of {', '.join(REFLOW_LOSSES)}, not {reflow_loss!r}")
    if reflow is None and (reflow_init is not None or reflow_loss != "line"):
        raise HepgenInputError("reflow_init and reflow_loss apply to a reflow student (reflow=TEACHER) only")
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
    if reflow is not None:
        pairs, teacher_info = _reflow_pairs(
            reflow, model, os.fspath(output) + ".pairs.pt", reflow_pairs, reflow_steps,
            train.seed, resume, progress,
            shared=None if reflow_init is None else os.fspath(reflow_init) + ".pairs.pt",
        )
        teacher_info = {**teacher_info, "loss": reflow_loss}
        if reflow_init is not None:
            teacher_info["init"] = _init_student(model, reflow_init)
    x_valid = va.constituents.float()
    rel_valid = to_relative(apply_constituent_acceptance(x_valid[:n_valid].numpy().astype(np.float64)))
    loss_state = torch.Generator().manual_seed(train.seed + 1).get_state()

    def loss_fn(m, batch, g):
        g = None if batch[0].is_cuda else g
        if reflow is None:
            return m.loss(batch[0], g)
        if reflow_loss == "line":
            return m.pair_loss(*batch, g)
        return m.endpoint_loss(*batch, g, pt_weighted=reflow_loss == "endpoint-pt")

    def validate(m) -> dict[str, float]:
        g = torch.Generator().manual_seed(0)
        g.set_state(loss_state)
        total = 0.0
        # the training loss on held-out data: the validation jets, or a reflow's held-out couplings
        held_out = pairs["valid"] if reflow is not None else (x_valid,)
        with torch.inference_mode():
            for i in range(0, len(held_out[0]), 4096):
                batch = tuple(p[i : i + 4096].to(device) for p in held_out)
                total += float(loss_fn(m, batch, g)["fm"]) * len(batch[0])
            gs = torch.Generator(device=device).manual_seed(train.seed + 2)
            out = m.sample(len(rel_valid), generator=gs).cpu().numpy().astype(np.float64)
        rel = to_relative(apply_constituent_acceptance(out))
        return {
            "valid_fm": total / len(held_out[0]),
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
        **({"reflow": teacher_info} if reflow is not None else {}),
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
    dataset = (
        torch.utils.data.TensorDataset(*pairs["train"])
        if reflow is not None
        else torch.utils.data.TensorDataset(x_train)
    )
    return fit_checkpointed(
        output, resume, model, loss_fn, dataset, validate,
        "valid_fm", train, save_best, progress=progress, on_epoch=on_epoch,
    )


def _reflow_pairs(
    teacher_path: str | os.PathLike,
    student: EPiCFM,
    cache: str,
    n: int,
    steps: int,
    seed: int,
    resume: bool,
    progress: bool,
    shared: str | None = None,
) -> tuple[dict[str, tuple[torch.Tensor, ...]], dict]:
    """The teacher's couplings (train: ``n``, valid: 5 000), cached in ``cache``; the student
    takes the teacher's normalisation, jet table and (same architecture) weights. ``shared``:
    another run's cache (a stage-2 student's start's ``.pairs.pt``), used as it is when it holds
    the same pairs (same teacher, count, steps and seed) — read, never written."""
    ckpt = checkpoint.load(teacher_path)
    if ckpt["model"] != "epic_fm":
        raise HepgenInputError(f"{teacher_path}: --reflow needs an EPiC-FM checkpoint, not {ckpt['model']}")
    teacher = EPiCFM(EPiCFMConfig.from_dict({**ckpt["config"], "bf16": False}))
    teacher.load_state_dict(ckpt["state_dict"])
    teacher.float().eval()
    state = {k: v.float() for k, v in teacher.state_dict().items()}
    # the jet table's length is data, not architecture (the student takes the teacher's table)
    mine = {k: tuple(v.shape) for k, v in student.state_dict().items() if k != "jets"}
    same = mine == {k: tuple(v.shape) for k, v in state.items() if k != "jets"}
    if same:
        student.load_state_dict(state)
    else:  # another architecture: the teacher's normalisation and jet table only
        student.load_state_dict(
            {k: v for k, v in state.items() if not k.startswith("velocity.")}, strict=False
        )
    info = {
        "teacher": os.path.basename(os.fspath(teacher_path)),
        "teacher_config": ckpt["config"],
        "pairs": n,
        "teacher_steps": steps,
        "seed": seed,
        "init": "teacher" if same else "random",
    }
    for path in ([cache] if resume else []) + ([shared] if shared else []):
        if os.path.exists(path):
            pairs = torch.load(path, weights_only=True)
            cached = pairs.get("info") or {}
            # the student's start is no part of the pairs; caches from before "seed" was kept used 0
            if {**cached, "init": None, "seed": cached.get("seed", 0)} == {**info, "init": None}:
                return pairs, info
    pairs = {"info": info}
    for part, count, offset in (("train", n, 0), ("valid", 5000, 1)):
        g = torch.Generator().manual_seed(10_000 + seed + offset)
        chunks, size = [], 2048
        for i in tqdm(range(0, count, size), desc=f"reflow pairs ({part})", disable=not progress):
            chunks.append(teacher.reflow_pairs(min(size, count - i), g, steps))
        pairs[part] = tuple(torch.cat(c) for c in zip(*chunks))
    torch.save(pairs, cache)
    return pairs, info


def _init_student(student: EPiCFM, path: str | os.PathLike) -> str:
    """Load a same-architecture EPiC-FM checkpoint's weights (and table) into ``student``."""
    ckpt = checkpoint.load(path)
    if ckpt["model"] != "epic_fm":
        raise HepgenInputError(f"{path}: reflow_init needs an EPiC-FM checkpoint, not {ckpt['model']}")
    state = {k: v.float() for k, v in ckpt["state_dict"].items()}
    mine = {k: tuple(v.shape) for k, v in student.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in state.items()}
    if mine.keys() != theirs.keys() or any(mine[k] != theirs[k] for k in mine if k != "jets"):
        raise HepgenInputError(f"{path}: reflow_init needs the student's architecture (same preset and config)")
    student.load_state_dict(state)
    return os.path.basename(os.fspath(path))
