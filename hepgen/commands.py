"""Subcommands beyond ``build-dataset``, registered on the ``hepgen`` parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _train(args: argparse.Namespace) -> int:
    from hepgen.train.loop import TrainConfig

    overrides = json.loads(Path(args.config).read_text()) if args.config else {}
    model_cfg = overrides.get("model", {})
    train_cfg = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "eval_every": args.eval_every,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "max_train_jets": args.max_train_jets,
        "max_minutes": args.max_minutes,
    }
    train_cfg.update(overrides.get("train", {}))
    tc = TrainConfig(**train_cfg)
    if args.model == "fastsim":
        from hepgen.models.fastsim_vae import FastSimVAEConfig
        from hepgen.train.fastsim import train_fastsim

        presets = {
            "seed": FastSimVAEConfig.seed,
            "residual": FastSimVAEConfig.residual_preset,
            "residual-cone": FastSimVAEConfig.residual_cone_preset,
        }
        if (args.preset or "seed") not in presets:
            raise SystemExit(
                f"hepgen: error: fastsim presets are {sorted(presets)}, not {args.preset!r}"
            )
        base = presets[args.preset or "seed"]()
        cfg = FastSimVAEConfig.from_dict({**base.to_dict(), **model_cfg})
        exclude = None
        if args.exclude_events:
            from hepgen.io import h5

            exclude = np.unique(
                np.concatenate([h5.read(p, sides=()).event_number for p in args.exclude_events])
            )
        record = train_fastsim(
            args.data,
            args.output,
            cfg,
            tc,
            reco_min_pt=args.reco_min_pt,
            split_seed=args.split_seed,
            resume=args.resume,
            progress=not args.quiet,
            half=args.half,
            exclude_events=exclude,
        )
    else:
        from hepgen.train.generation import train_generator

        name, cfg = generator_config(args.model, args.preset, model_cfg)
        record = train_generator(
            name,
            args.data,
            args.output,
            cfg,
            tc,
            split_seed=args.split_seed,
            resume=args.resume,
            progress=not args.quiet,
        )
    print(
        f"best epoch {record['best_epoch'] + 1}: {record['metric']} = {record['best_metric']:.4g}; "
        f"{record['time_s']:.0f} s on {record['device']}; wrote {args.output}"
    )
    return 0


GENERATORS = {
    "convae": ("convae", ("table4", "table5", "table1", "cpu")),
    "convae-nf": ("convae_nf", ("table5+table6", "cpu")),
    "nf": ("nf", ("table7", "cpu")),
    "vae-mse": ("convae", ("seed003",)),
    "vae-chamfer": ("convae", ("seed003",)),
    "mcflow": ("mcflow", ("seed004", "cpu")),
}


def generator_config(model: str, preset: str | None, overrides: dict):
    """CLI model name + preset (+ JSON overrides) → (registry name, config)."""
    from hepgen.models.convae import ConVAEConfig, ConVAENFConfig, RealNVPConfig
    from hepgen.models.flows import MCFlowConfig, NFConfig

    name, presets = GENERATORS[model]
    preset = preset if preset not in (None, "seed", "residual") else presets[0]
    if preset not in presets:
        raise SystemExit(f"hepgen: error: preset {preset!r} is not one of {presets} for {model}")
    if model == "convae":
        cfg = ConVAEConfig.cpu() if preset == "cpu" else getattr(ConVAEConfig, preset)()
    elif model in ("vae-mse", "vae-chamfer"):
        cfg = ConVAEConfig.seed003(model.split("-")[1])
    elif model == "convae-nf":
        cfg = (
            ConVAENFConfig(
                ConVAEConfig.cpu("table5"),
                RealNVPConfig(transforms=8, hidden=(128, 128), learning_rate=1e-3),
            )
            if preset == "cpu"
            else ConVAENFConfig()
        )
    elif model == "nf":
        cfg = (
            NFConfig(
                flow=RealNVPConfig(transforms=8, hidden=(256, 256), learning_rate=1e-3),
                normalisation="standardise",
            )
            if preset == "cpu"
            else NFConfig.table7()
        )
    else:
        cfg = MCFlowConfig(transforms=4, hidden=(128, 128)) if preset == "cpu" else MCFlowConfig()
    if overrides:
        if model == "convae-nf":
            cfg = ConVAENFConfig.from_dict(
                {
                    "vae": {**cfg.vae.to_dict(), **overrides.get("vae", {})},
                    "flow": {**cfg.flow.to_dict(), **overrides.get("flow", {})},
                }
            )
        elif model == "nf":
            cfg = NFConfig.from_dict(
                {
                    **cfg.to_dict(),
                    **overrides,
                    "flow": {**cfg.flow.to_dict(), **overrides.get("flow", {})},
                }
            )
        else:
            cfg = type(cfg).from_dict({**cfg.to_dict(), **overrides})
    return name, cfg


def _sample(args: argparse.Namespace) -> int:
    from hepgen.sample import sample_file

    out = sample_file(args.checkpoint, args.n, args.output, seed=args.seed, device=args.device)
    print(f"wrote {len(out)} generated jets to {args.output}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    import optuna

    from hepgen.train.tune import export_best, make_study, plot_study, tune

    if args.trials > 0:
        study = tune(
            args.model,
            args.data,
            args.trials,
            args.storage,
            args.study,
            step=args.step,
            base_study=args.base_study,
            epochs=args.epochs,
            max_train_jets=args.max_train_jets,
            preset=args.preset,
            pruner=args.pruner,
            seed=args.seed,
        )
    else:
        study = make_study(args.study, args.storage, args.pruner, args.seed)
    states = [t.state for t in study.trials]
    n = {s.name: states.count(s) for s in set(states)}
    print(f"study {args.study}: {len(states)} trials {n}")
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        best = study.best_trial
        print(f"best trial {best.number}: objective {best.value:.5g}, params {best.params}")
        if args.export:
            export_best(study, args.export)
            print(
                f"exported the best trial's config to {args.export} (use: hepgen train {args.model} --config {args.export})"
            )
        if args.plots:
            print("plots:", ", ".join(plot_study(study, args.plots)))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from hepgen.simulate import simulate_file

    out = simulate_file(
        args.checkpoint,
        args.input,
        args.output,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    print(f"wrote {len(out)} fast-simulated jets to {args.output}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from hepgen.evaluate import run_evaluate

    results = run_evaluate(args)
    print((Path(args.output) / "metrics.md").read_text())
    print(f"wrote metrics.json, metrics.md and {len(results['figures'])} figures to {args.output}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from hepgen.run import main_job

    main_job(
        args.files,
        args.fileset,
        args.checkpoint,
        args.executor,
        args.workers,
        args.chunksize,
        args.device,
        args.output,
        args.seed,
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the remaining subcommands (train, simulate, evaluate, run)."""
    t = sub.add_parser("train", help="train a model on dataset files")
    t.add_argument(
        "model",
        choices=["fastsim", *GENERATORS],
        help="fastsim: detector-response VAE (seed 001); convae, convae-nf, nf (seed 000); "
        "vae-mse, vae-chamfer (seed 003); mcflow (seed 004)",
    )
    t.add_argument("--data", nargs="+", required=True, type=Path, help="HDF5 dataset files")
    t.add_argument(
        "-o", "--output", required=True, type=Path, help="checkpoint to write (best epoch)"
    )
    t.add_argument(
        "--preset",
        default=None,
        help="fastsim: seed (default) | residual | residual-cone; convae: table4 | table5 | table1 | cpu; "
        "convae-nf: table5+table6 | cpu; nf: table7 | cpu; mcflow: seed004 | cpu",
    )
    t.add_argument(
        "--config",
        type=Path,
        help="JSON {'model': {...}, 'train': {...}} overrides (e.g. from hepgen tune)",
    )
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=None, help="default: the preset's learning rate")
    t.add_argument("--eval-every", type=int, default=1)
    t.add_argument(
        "--patience", type=int, default=10, help="evaluations without improvement before stopping"
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--split-seed", type=int, default=0, help="seed of the 70/15/15 split by event")
    t.add_argument(
        "--reco-min-pt", type=float, default=130.0, help="extended phase space (seed 001 §5)"
    )
    t.add_argument(
        "--exclude-events",
        nargs="+",
        type=Path,
        default=None,
        help="dataset files whose event numbers are held out of training (e.g. a demo sample's)",
    )
    t.add_argument("--max-train-jets", type=int, default=None)
    t.add_argument(
        "--max-minutes", type=float, default=None, help="wall-clock budget (stops after that epoch)"
    )
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    t.add_argument("--resume", action="store_true", help="continue from OUTPUT.last.pt")
    t.add_argument("--half", action="store_true", help="store float16 weights (smaller checkpoint)")
    t.add_argument("-q", "--quiet", action="store_true")
    t.set_defaults(func=_train)

    u = sub.add_parser(
        "tune", help="Optuna hyperparameter search (seed 000's two-step procedure), resumable"
    )
    u.add_argument("model", choices=["fastsim", "convae", "convae-nf", "nf", "mcflow"])
    u.add_argument("--data", nargs="+", type=Path, required=True)
    u.add_argument(
        "--trials", type=int, default=20, help="trials to add now (0: only report/export/plot)"
    )
    u.add_argument("--storage", default="sqlite:///hepgen-study.db")
    u.add_argument(
        "--study", required=True, help="study name (re-use it to resume or to add workers)"
    )
    u.add_argument(
        "--step",
        choices=["loss", "architecture", "flow"],
        default="loss",
        help="loss: loss parameters + lr (architecture fixed); architecture: with --base-study's best "
        "loss parameters fixed; flow: flows' one-step search",
    )
    u.add_argument("--base-study", default=None)
    u.add_argument("--epochs", type=int, default=5, help="epochs per trial")
    u.add_argument("--max-train-jets", type=int, default=5000)
    u.add_argument(
        "--preset", default=None, help="generator preset the search starts from (default cpu)"
    )
    u.add_argument("--pruner", choices=["median", "hyperband"], default="median")
    u.add_argument("--seed", type=int, default=0)
    u.add_argument(
        "--export",
        type=Path,
        default=None,
        help="write the best trial as a hepgen train --config JSON",
    )
    u.add_argument("--plots", type=Path, default=None, help="folder for the study's plots")
    u.set_defaults(func=_tune)

    g = sub.add_parser(
        "sample", help="generate jets with a generator checkpoint (written as the reco side)"
    )
    g.add_argument("checkpoint", type=Path)
    g.add_argument("-n", type=int, required=True, help="number of jets")
    g.add_argument("-o", "--output", required=True, type=Path)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--device", default=None)
    g.set_defaults(func=_sample)

    s = sub.add_parser(
        "simulate", help="apply a fast-sim checkpoint to the gen side of a dataset file"
    )
    s.add_argument("checkpoint", type=Path)
    s.add_argument("input", type=Path, help="HDF5 dataset file (its gen side is read)")
    s.add_argument("-o", "--output", required=True, type=Path)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default=None)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_simulate)

    e = sub.add_parser("evaluate", help="metrics with truth floors, a Markdown table and figures")
    e.add_argument(
        "sample",
        nargs="?",
        type=Path,
        help="checkpoint (.pt) or HDF5 file of simulated/generated jets; omit for floors only",
    )
    e.add_argument(
        "--reference", nargs="+", required=True, type=Path, help="reference HDF5 dataset file(s)"
    )
    e.add_argument(
        "--mode",
        choices=["fastsim", "generation"],
        default=None,
        help="default: from the checkpoint or file, else fastsim when the reference has gen jets",
    )
    e.add_argument("--split", choices=["train", "valid", "test", "all"], default="test")
    e.add_argument("--split-seed", type=int, default=0)
    e.add_argument(
        "-k", "--n-particles", type=int, default=None, help="constituents per jet (generation: 30)"
    )
    e.add_argument("--n-splits", type=int, default=5, help="random event splits for the floors")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--fast", action="store_true", help="reduced bootstrap sizes (quick look)")
    e.add_argument("--device", default=None)
    e.add_argument("-o", "--output", type=Path, default=Path("hepgen-evaluate"))
    e.set_defaults(func=_evaluate)

    r = sub.add_parser(
        "run",
        help="the main job: the fast-sim coffea processor on a fileset (default: shipped sample)",
    )
    r.add_argument(
        "files",
        nargs="*",
        help="Delphes or PFNanoAOD ROOT files (default: the shipped 100-event sample)",
    )
    r.add_argument("--fileset", help="coffea-style JSON fileset instead of files")
    r.add_argument("--checkpoint", default=None, help="default: data/models/fastsim_ww_pu50.pt")
    r.add_argument("--executor", choices=["iterative", "futures", "dask"], default="iterative")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--chunksize", type=int, default=50)
    r.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("-o", "--output", default="hepgen-output")
    r.set_defaults(func=_run)
