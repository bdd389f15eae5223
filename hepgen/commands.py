"""Subcommands beyond ``build-dataset``, registered on the ``hepgen`` parser."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from hepgen.train.loop import TrainConfig

    overrides = json.loads(Path(args.config).read_text()) if args.config else {}
    model_cfg = overrides.get("model", {})
    train_cfg = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.lr,
                 "eval_every": args.eval_every, "patience": args.patience, "seed": args.seed,
                 "device": args.device, "max_train_jets": args.max_train_jets}
    train_cfg.update(overrides.get("train", {}))
    tc = TrainConfig(**train_cfg)
    if args.model == "fastsim":
        from hepgen.models.fastsim_vae import FastSimVAEConfig
        from hepgen.train.fastsim import train_fastsim

        base = FastSimVAEConfig.residual_preset() if args.preset == "residual" else FastSimVAEConfig.seed()
        cfg = FastSimVAEConfig.from_dict({**base.to_dict(), **model_cfg})
        record = train_fastsim(args.data, args.output, cfg, tc, reco_min_pt=args.reco_min_pt,
                               split_seed=args.split_seed, resume=args.resume, progress=not args.quiet,
                               half=args.half)
    else:  # pragma: no cover - parser restricts choices
        raise ValueError(args.model)
    print(f"best epoch {record['best_epoch'] + 1}: {record['metric']} = {record['best_metric']:.4g}; "
          f"{record['time_s']:.0f} s on {record['device']}; wrote {args.output}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from hepgen.simulate import simulate_file

    out = simulate_file(args.checkpoint, args.input, args.output, seed=args.seed, device=args.device,
                        progress=not args.quiet)
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

    main_job(args.files, args.fileset, args.checkpoint, args.executor, args.workers, args.chunksize,
             args.device, args.output, args.seed)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the remaining subcommands (train, simulate, evaluate, run)."""
    t = sub.add_parser("train", help="train a model on dataset files")
    t.add_argument("model", choices=["fastsim"], help="fastsim: detector-response VAE (seed 001)")
    t.add_argument("--data", nargs="+", required=True, type=Path, help="HDF5 dataset files")
    t.add_argument("-o", "--output", required=True, type=Path, help="checkpoint to write (best epoch)")
    t.add_argument("--preset", choices=["seed", "residual"], default="seed",
                   help="fastsim: 'seed' = seed 001 exactly; 'residual' = plus input→output skip (hepgen's fix)")
    t.add_argument("--config", type=Path, help="JSON {'model': {...}, 'train': {...}} overrides (e.g. from hepgen tune)")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--eval-every", type=int, default=1)
    t.add_argument("--patience", type=int, default=10, help="evaluations without improvement before stopping")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--split-seed", type=int, default=0, help="seed of the 70/15/15 split by event")
    t.add_argument("--reco-min-pt", type=float, default=130.0, help="extended phase space (seed 001 §5)")
    t.add_argument("--max-train-jets", type=int, default=None)
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    t.add_argument("--resume", action="store_true", help="continue from OUTPUT.last.pt")
    t.add_argument("--half", action="store_true", help="store float16 weights (smaller checkpoint)")
    t.add_argument("-q", "--quiet", action="store_true")
    t.set_defaults(func=_train)

    s = sub.add_parser("simulate", help="apply a fast-sim checkpoint to the gen side of a dataset file")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("input", type=Path, help="HDF5 dataset file (its gen side is read)")
    s.add_argument("-o", "--output", required=True, type=Path)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default=None)
    s.add_argument("-q", "--quiet", action="store_true")
    s.set_defaults(func=_simulate)

    e = sub.add_parser("evaluate", help="metrics with truth floors, a Markdown table and figures")
    e.add_argument("sample", nargs="?", type=Path,
                   help="checkpoint (.pt) or HDF5 file of simulated/generated jets; omit for floors only")
    e.add_argument("--reference", nargs="+", required=True, type=Path, help="reference HDF5 dataset file(s)")
    e.add_argument("--mode", choices=["fastsim", "generation"], default=None,
                   help="default: from the checkpoint or file, else fastsim when the reference has gen jets")
    e.add_argument("--split", choices=["train", "valid", "test", "all"], default="test")
    e.add_argument("--split-seed", type=int, default=0)
    e.add_argument("-k", "--n-particles", type=int, default=None, help="constituents per jet (generation: 30)")
    e.add_argument("--n-splits", type=int, default=5, help="random event splits for the floors")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--fast", action="store_true", help="reduced bootstrap sizes (quick look)")
    e.add_argument("--device", default=None)
    e.add_argument("-o", "--output", type=Path, default=Path("hepgen-evaluate"))
    e.set_defaults(func=_evaluate)

    r = sub.add_parser("run", help="the main job: the fast-sim coffea processor on a fileset (default: shipped sample)")
    r.add_argument("files", nargs="*", help="Delphes or PFNanoAOD ROOT files (default: the shipped 100-event sample)")
    r.add_argument("--fileset", help="coffea-style JSON fileset instead of files")
    r.add_argument("--checkpoint", default=None, help="default: data/models/fastsim_ww_pu50.pt")
    r.add_argument("--executor", choices=["iterative", "futures", "dask"], default="iterative")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--chunksize", type=int, default=50)
    r.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("-o", "--output", default="hepgen-output")
    r.set_defaults(func=_run)
