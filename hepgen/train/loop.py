"""A generic training loop: Adam, progress bar with the loss terms, periodic validation metric,
best-epoch selection, early stopping, and resumable checkpoints."""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sized
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hepgen.errors import HepgenInputError
from hepgen.models import checkpoint
from hepgen.models.device import pick_device


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-4
    eval_every: int = 1
    patience: int = 10
    seed: int = 0
    device: str = "auto"
    max_train_jets: int | None = None
    max_minutes: float | None = None  # wall-clock budget: stop after the epoch that exceeds it
    schedule: str = "constant"  # or "cosine": lr · ½(1 + cos(π · epoch / epochs)), resume-safe
    # exponential moving average of the weights (decay per step, e.g. 0.999): validated, selected
    # and saved instead of the raw weights, which keep training (torch.optim.swa_utils)
    ema: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def fit(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, tuple, torch.Generator], dict[str, torch.Tensor]],
    train_data: torch.utils.data.Dataset,
    validate: Callable[[torch.nn.Module], dict[str, float]],
    metric: str,
    config: TrainConfig,
    save_best: Callable[[dict], None],
    resume_path: str | os.PathLike | None = None,
    progress: bool = True,
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict:
    """Train ``model``; returns the training record (history, best epoch, time).

    ``loss_fn(model, batch, generator)`` returns a dict with ``loss`` and any named terms;
    ``validate(model)`` returns metrics, of which ``metric`` (lower is better) selects the best
    epoch; ``save_best(record)`` is called whenever it improves. ``resume_path`` holds the
    optimizer and RNG state after every epoch so an interrupted run continues where it stopped.
    ``on_epoch(epoch, value)`` is called after each validation (Optuna reports/prunes there).
    With ``config.ema`` the model holds the averaged weights while ``validate`` and ``save_best``
    run (and when ``fit`` returns); the raw weights continue training.
    """
    if len(cast(Sized, train_data)) == 0:
        raise HepgenInputError("no training jets: the data (after the selection) is empty")
    if config.ema is not None and not 0.0 < config.ema < 1.0:
        raise HepgenInputError(f"ema {config.ema}: the decay must lie in (0, 1), e.g. 0.999")
    device = pick_device(config.device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    gen = torch.Generator().manual_seed(config.seed)
    record: dict[str, Any] = {
        "history": [],
        "best_epoch": -1,
        "best_metric": math.inf,
        "metric": metric,
        "train_config": config.to_dict(),
        "time_s": 0.0,
        "device": str(device),
    }
    start_epoch = 0
    state = None  # the resume file's, when there is one
    if resume_path and os.path.exists(resume_path):
        state = torch.load(resume_path, map_location=device, weights_only=True)
        model.load_state_dict(state["model_state"])
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["rng"])
        record = state["record"]
        if record.get("train_config") != config.to_dict():  # resumed with other settings
            record.setdefault("earlier_train_configs", []).append(
                {"until_epoch": len(record["history"]), **record.get("train_config", {})}
            )
            record["train_config"] = config.to_dict()
        record["device"] = str(device)
        start_epoch = record["history"][-1]["epoch"] + 1 if record["history"] else 0
    ema = None
    if config.ema is not None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        # buffers (normalisation, tables) are constants: averaging them leaves them exact; a run
        # without EMA resumed with it starts the average at its weights
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema), use_buffers=True)
        if state is not None and "ema_state" in state:
            ema.load_state_dict(state["ema_state"])
    loader = DataLoader(
        train_data, batch_size=config.batch_size, shuffle=True, generator=gen, drop_last=False
    )
    bad = 0 if not record["history"] else _evals_since_best(record)
    t0 = time.perf_counter() - record["time_s"]
    for epoch in range(start_epoch, config.epochs):
        model.train()
        if config.schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
        sums: dict[str, torch.Tensor] = {}
        bar = tqdm(
            loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, disable=not progress
        )
        for step, batch in enumerate(bar):
            batch = (
                tuple(b.to(device, non_blocking=True) for b in batch)
                if isinstance(batch, (tuple, list))
                else (batch.to(device, non_blocking=True),)
            )
            terms = loss_fn(model, batch, gen)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            if ema is not None:
                ema.update_parameters(model)
            # summed on the device: a float() per step would wait for the GPU at every step
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v.detach().float() * len(batch[0])
            if progress and step % 20 == 0:
                bar.set_postfix({k: f"{v.item():.3g}" for k, v in terms.items()})
        entry = {
            "epoch": epoch,
            **{f"train_{k}": float(v) / len(cast(Sized, train_data)) for k, v in sums.items()},
        }
        if (epoch + 1) % config.eval_every == 0 or epoch + 1 == config.epochs:
            model.eval()
            raw = _swap_in(model, ema)
            entry.update(validate(model))
            value = entry[metric]
            if value < record["best_metric"]:
                record["best_metric"], record["best_epoch"], bad = value, epoch, 0
                record["time_s"] = time.perf_counter() - t0
                save_best(record)
            else:
                bad += 1
            _swap_back(model, raw)
            if on_epoch is not None:
                on_epoch(epoch, value)
        record["history"].append(entry)
        record["time_s"] = time.perf_counter() - t0
        shown = {k: f"{v:.4g}" for k, v in entry.items() if k != "epoch"}
        tqdm.write(f"epoch {epoch + 1}: {shown}") if progress else None
        if not math.isfinite(entry.get("train_loss", 0.0)):
            # the weights are NaN from here on: every later epoch would be wasted (the shipped
            # ConVAE of 2026-11-27 ran 20 NaN epochs after epoch 20); the resume file keeps the
            # last finite state
            record["stopped"] = (
                f"non-finite training loss in epoch {epoch + 1} (learning rate "
                f"{opt.param_groups[0]['lr']:.3g}): stopped; the best checkpoint is epoch "
                f"{record['best_epoch'] + 1}"
            )
            warnings.warn(record["stopped"], RuntimeWarning, stacklevel=2)
            break
        if resume_path:
            torch.save(
                {
                    "model_state": model.state_dict(),
                    "optimizer": opt.state_dict(),
                    "rng": gen.get_state(),
                    "record": record,
                    **({"ema_state": ema.state_dict()} if ema is not None else {}),
                },
                resume_path,
            )
        if config.max_minutes is not None and record["time_s"] > 60 * config.max_minutes:
            record["stopped"] = (
                f"time budget of {config.max_minutes} min reached after epoch {epoch + 1}"
            )
            tqdm.write(record["stopped"]) if progress else None
            break
        if bad >= config.patience:
            record["stopped"] = f"early stop after epoch {epoch + 1}"
            tqdm.write(
                f"early stop: no improvement of {metric} in {bad} evaluations"
            ) if progress else None
            break
    _swap_in(model, ema)
    return record


def _swap_in(model: torch.nn.Module, ema) -> dict | None:
    """Load the averaged weights into ``model``; returns the raw ones (None without EMA)."""
    if ema is None:
        return None
    raw = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(ema.module.state_dict())
    return raw


def _swap_back(model: torch.nn.Module, raw: dict | None) -> None:
    if raw is not None:
        model.load_state_dict(raw)


def _evals_since_best(record: dict) -> int:
    evals = [h for h in record["history"] if record["metric"] in h]
    return sum(1 for h in evals if h["epoch"] > record["best_epoch"])


def fit_checkpointed(
    output: str | os.PathLike,
    resume: bool,
    model,
    loss_fn,
    train_data,
    validate,
    metric: str,
    config: TrainConfig,
    save_best,
    progress: bool = True,
    on_epoch=None,
) -> dict:
    """:func:`fit` with the resume file ``OUTPUT.last.pt`` (removed unless ``resume``) and, at the
    end, the full history and training time written into the best checkpoint ``output``."""
    last = f"{os.fspath(output)}.last.pt"
    if not resume and os.path.exists(last):
        os.remove(last)
    record = fit(
        model,
        loss_fn,
        train_data,
        validate,
        metric,
        config,
        save_best,
        resume_path=last,
        progress=progress,
        on_epoch=on_epoch,
    )
    best = checkpoint.load(output)
    best["training"].update({k: record[k] for k in ("history", "time_s", "stopped") if k in record})
    torch.save(best, output)
    return record


def pair_dataset_info(
    train_set, valid_set, data, k: int, split_seed: int, exclude_events=None, **extra
) -> dict:
    """The ``dataset`` entry of a fast-sim checkpoint: R, k, files, split, selection, the range
    of its training gen jets (:func:`hepgen.data.datasets.gen_domain`) and, where the files' names
    state it, their pile-up (``pileup_mu``, :func:`hepgen.data.datasets.pileup_from_names`)."""
    import numpy as np

    from hepgen.data.datasets import gen_domain, pileup_from_names

    domain: dict[str, object] = {}
    if len(getattr(train_set, "gen_jet", ())):
        domain["gen_domain"] = gen_domain(train_set.gen_jet)
    mu = pileup_from_names(data)
    if mu is not None:
        domain["pileup_mu"] = mu
    return {
        "R": float(train_set.attrs.get("R", 0.5)),
        "k": k,
        "files": [os.path.basename(os.fspath(p)) for p in data],
        "split_seed": split_seed,
        "n_train": len(train_set),
        "n_valid": len(valid_set),
        "excluded_events": 0 if exclude_events is None else int(len(np.unique(exclude_events))),
        "selection": {
            key: (float(v) if isinstance(v, (int, float, np.number)) else str(v))
            for key, v in train_set.attrs.items()
            if key != "source_files"
        },
        **domain,
        **extra,
    }


def command_line() -> str:
    """The command that is running, for the checkpoint's record."""
    import shlex
    import sys

    return " ".join(shlex.quote(a) for a in ["hepgen", *sys.argv[1:]]) if sys.argv else ""
