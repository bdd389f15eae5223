"""Hyperparameter optimisation with Optuna, as in seed 000 §3–4.

Two steps (§4): ``loss`` tunes the loss parameters and the learning rate with the architecture
fixed (Table 1 — or the CPU-sized network); ``architecture`` then tunes the network with the
best loss parameters of the first study fixed. Flows (NF, the flow of ConVAE+NF, the
conditioned spline flow) are tuned in one step (Table 3). The objective is the validation
EMD_sum (generators) or the sum of jet-feature KLDs (fast-sim), reported after every epoch so a
median or Hyperband pruner stops poor trials early. Studies live in an RDB storage (SQLite):
an interrupted study resumes where it stopped (trials whose process died are retried via
Optuna's heartbeat), and several worker processes can share one study.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna

from hepgen.models import registry
from hepgen.train.loop import TrainConfig

MODELS = tuple(name for name, entry in registry.CLI.items() if entry.tunable)


def suggest(trial: optuna.Trial, model: str, step: str, base: dict) -> tuple[dict, float]:
    """Sample (model-config overrides, learning rate) for ``model``; ``base`` holds fixed values."""
    lr = (
        trial.suggest_float("learning_rate", 1e-5, 1e-1, log=True)
        if step != "architecture"
        else base.get("learning_rate", 1e-3)
    )
    if model == "fastsim":
        if step == "architecture":
            return {
                **base.get("model", {}),
                "latent_dim": trial.suggest_int("latent_dim", 8, 64, log=True),
            }, lr
        return {
            "beta": trial.suggest_float("beta", 1e-3, 0.5, log=True),
            "alpha_m": trial.suggest_float("alpha_m", 0.1, 10.0, log=True),
            "alpha_pt": trial.suggest_float("alpha_pt", 0.01, 1.0, log=True),
            "latent_dim": trial.suggest_int("latent_dim", 8, 64, log=True),
        }, lr
    if model in ("nf", "mcflow") or (model == "convae-nf" and step == "flow"):
        n_layers = trial.suggest_int("flow_layers", 1, 4)
        hidden = [trial.suggest_int(f"flow_linear_{i}", 50, 400, log=True) for i in range(n_layers)]
        transforms = trial.suggest_int("flows", 2, 16)
        if model == "mcflow":
            return {
                "transforms": transforms,
                "hidden": hidden,
                "lam": trial.suggest_float("lam", 0.01, 10, log=True),
            }, lr
        flow = {"transforms": transforms, "hidden": hidden, "learning_rate": lr}
        return ({"flow": flow} if model == "nf" else {**base.get("model", {}), "flow": flow}), lr
    # ConVAE (generation-tuned: β in [0.9, 1]; reconstruction-tuned for ConVAE+NF: β in [1e-4, 0.1])
    if step == "architecture":
        arch = {
            "latent": trial.suggest_int("latent", 10, 200, log=True),
            "filters": trial.suggest_int("filters", 4, 64, log=True),
            "kernel": trial.suggest_int("kernel", 2, 5),
            "linear": trial.suggest_int("linear", 64, 1024, log=True),
            "layers": trial.suggest_int("layers", 2, 4),
            "activation": trial.suggest_categorical(
                "activation", ["relu", "gelu", "leakyrelu", "selu", "elu"]
            ),
        }
        fixed = base.get("model", {})
        merged = {**fixed.get("vae", fixed), **arch}
        # ConVAE+NF keeps the base trial's flow (and its other settings): only the VAE is searched
        return ({**fixed, "vae": merged} if model == "convae-nf" else merged), lr
    # β: seed 000 searched [0.9, 1] (generation) and [0, 0.1] (reconstruction) on its loss scale; with
    # hepgen's per-jet loss normalisation β ≳ 0.5 collapses the posterior (KL → 0, one average jet:
    # validation EMD_sum 0.99 at β = 0.998), so the generation search spans [1e-3, 1].
    beta = (
        trial.suggest_float("beta", 1e-4, 0.1, log=True)
        if model == "convae-nf"
        else trial.suggest_float("beta", 1e-3, 1.0, log=True)
    )
    loss = {
        "alpha": trial.suggest_float("alpha", 0.1, 1.0),
        "beta": beta,
        "gamma": trial.suggest_float("gamma", 0.1, 1.0),
        "gamma_pt": trial.suggest_float("gamma_pt", 0.8, 1.2),
        "gamma_m": trial.suggest_float("gamma_m", 9.986, 14.98),
        "learning_rate": lr,
    }
    if model == "convae":
        # free bits (not in seed 000): with them a β near 1 no longer switches the posterior off
        loss["free_bits"] = trial.suggest_float("free_bits", 0.0, 1.0)
    return ({"vae": loss} if model == "convae-nf" else loss), lr


def make_study(name: str, storage: str, pruner: str = "median", seed: int = 0) -> optuna.Study:
    """Create or load (resume) a study; heartbeat-based retry of trials whose worker died."""
    import warnings

    import optuna.storages

    from hepgen.errors import HepgenInputError

    # optuna ≥ 4.9 renamed the callback (the old name warns); both are "experimental" there
    retry = getattr(
        optuna.storages, "RetryHeartbeatStaleTrialCallback", optuna.storages.RetryFailedTrialCallback
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            rdb = optuna.storages.RDBStorage(
                storage,
                heartbeat_interval=30,
                grace_period=90,
                heartbeat_stale_trial_callback=retry(max_retry=1),
            )
    except Exception as exc:  # sqlalchemy's ArgumentError, OperationalError, ...
        raise HepgenInputError(
            f"--storage {storage}: not a usable database URL ({type(exc).__name__}; "
            "e.g. sqlite:///study.db)"
        ) from exc
    p = (
        optuna.pruners.HyperbandPruner()
        if pruner == "hyperband"
        else optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    )
    return optuna.create_study(
        study_name=name,
        storage=rdb,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=p,
    )


def objective_factory(
    model: str,
    data: Sequence[str],
    step: str,
    base: dict,
    epochs: int,
    max_train_jets: int | None,
    preset: str | None,
    workdir: str,
    seed: int,
    fixed: dict | None = None,
):

    def objective(trial: optuna.Trial) -> float:
        trial_seed = seed + trial.number
        trial.set_user_attr("seed", trial_seed)
        overrides, lr = suggest(trial, model, step, base)
        # the searched values win over the fixed ones; the stored config holds both, so the
        # exported best trial (and an architecture step based on it) trains the same model
        overrides = registry.merge_overrides(fixed or {}, overrides)
        if model == "convae-nf":  # trials are compared on EMD_sum: the flow's latent NLL (its
            # default selection) depends on each trial's VAE, so it cannot rank them
            overrides = registry.merge_overrides(overrides, {"flow_select": "emd_sum"})
        trial.set_user_attr("config", {"model": overrides, "train": {"learning_rate": lr}})
        tc = TrainConfig(
            epochs=epochs,
            batch_size=100,
            learning_rate=lr,
            eval_every=1,
            patience=epochs,
            seed=trial_seed,
            max_train_jets=max_train_jets,
        )

        def on_epoch(epoch: int, value: float) -> None:
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

        out = os.path.join(workdir, f"trial{trial.number}.pt")
        if model == "fastsim":
            from hepgen.train.fastsim import train_fastsim

            _, cfg = registry.config_for("fastsim", "residual", overrides)
            record = train_fastsim(data, out, cfg, tc, progress=False, on_epoch=on_epoch)
        else:
            from hepgen.train.generation import train_generator

            name, cfg = registry.config_for(model, preset or "cpu", overrides)
            record = train_generator(name, data, out, cfg, tc, progress=False, on_epoch=on_epoch)
        return float(record["best_metric"])

    return objective


def tune(
    model: str,
    data: Sequence[str],
    trials: int,
    storage: str,
    study: str,
    step: str = "loss",
    base_study: str | None = None,
    epochs: int = 5,
    max_train_jets: int | None = 5000,
    preset: str | None = None,
    pruner: str = "median",
    seed: int = 0,
    workdir: str | None = None,
    fixed: dict | None = None,
    enqueue: dict | None = None,
) -> optuna.Study:
    """Run (or continue) ``trials`` more trials of a study.

    ``fixed``: model-config overrides every trial starts from and the search does not touch
    (e.g. ``{"frame": "jet", "free_bits": 0.5}``; for ``convae-nf`` under ``"vae"``).
    ``enqueue``: parameter values (the study's names, e.g. ``{"beta": 0.046, ...}``) to run as
    the next trial, e.g. a published configuration as the baseline the search must beat; skipped
    when the study already holds a trial with these values. It counts among ``trials``.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; tunable: {MODELS}")
    base: dict = {}
    if step == "architecture":
        if not base_study:
            raise ValueError("the architecture step needs --base-study (the loss-parameter study)")
        base = optuna.load_study(study_name=base_study, storage=storage).best_trial.user_attrs[
            "config"
        ]
        base = {"model": base["model"], "learning_rate": base["train"]["learning_rate"]}
    s = make_study(study, storage, pruner, seed)
    s.set_user_attr("model", model)
    s.set_user_attr("step", step)
    if enqueue:
        s.enqueue_trial(enqueue, skip_if_exists=True)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        s.optimize(
            objective_factory(
                model,
                [str(d) for d in data],
                step,
                base,
                epochs,
                max_train_jets,
                preset,
                tmp,
                seed,
                fixed,
            ),
            n_trials=trials,
            gc_after_trial=True,
        )
    return s


def export_best(study: optuna.Study, path: str | os.PathLike) -> dict:
    """Write the best trial as a config ``hepgen train --config`` accepts."""
    best = study.best_trial
    cfg = {
        **best.user_attrs["config"],
        "objective": best.value,
        "trial": best.number,
        "seed": best.user_attrs.get("seed"),
        "study": study.study_name,
    }
    Path(path).write_text(json.dumps(cfg, indent=2))
    return cfg


def plot_study(study: optuna.Study, outdir: str | os.PathLike) -> list[str]:
    """Optimisation history, parameter importances and parallel coordinates (matplotlib)."""
    import warnings

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ov

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    plots: list[tuple[str, Callable[..., Any]]] = [("history", ov.plot_optimization_history)]
    if len(complete) >= 2:
        plots += [
            ("importances", ov.plot_param_importances),
            ("parallel", ov.plot_parallel_coordinate),
        ]
    for name, fn in plots:
        try:
            ax = fn(study)
        except (ValueError, RuntimeError) as exc:  # e.g. importances need ≥ 2 varied parameters
            print(f"skipped {name} plot: {exc}")
            continue
        fig: Any = (ax.flat[0] if hasattr(ax, "flat") else ax).figure  # a Figure
        p = out / f"study_{name}.png"
        fig.savefig(p, bbox_inches="tight", dpi=80)
        plt.close(fig)
        paths.append(str(p))
    return paths
