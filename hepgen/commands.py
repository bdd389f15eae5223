"""The ``hepgen`` subcommands. argparse lives here and in :mod:`hepgen.cli` only: every handler
turns its arguments into typed calls of the library, after validating ranges and outputs so
that bad input stops before any work starts."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from hepgen.errors import HepgenInputError
from hepgen.io.jsonfile import read_json
from hepgen.models.registry import CLI


# ---------------------------------------------------------------------- argument types
def _int_in(lo: int, hi: int | None = None):
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not an integer") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(
                f"{v} is out of range ({lo} … {hi if hi is not None else '∞'})"
            )
        return v

    return parse


def _float_in(lo: float, hi: float, lo_open: bool = True):
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
        if not np.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
            raise argparse.ArgumentTypeError(f"{v} is out of range ({lo} … {hi})")
        return v

    return parse


POSITIVE = _int_in(1)
NONNEG = _int_in(0)
#: ``hepgen train``'s loop settings when neither a flag nor the ``--config`` file's "train" gives them
TRAIN_FLAG_DEFAULTS = {
    "epochs": 30, "batch_size": 128, "learning_rate": None, "eval_every": 1, "patience": 10,
    "seed": 0, "device": "auto", "max_train_jets": None, "max_minutes": None, "schedule": "constant",
    "ema": None,
}
RADIUS = _float_in(0.0, 2.0)  # anti-kt R: 0 < R ≤ 2


def _exclude(paths) -> np.ndarray | None:
    if not paths:
        return None
    from hepgen.io import h5

    return np.unique(np.concatenate([h5.read(p, sides=()).event_number for p in paths]))


# ---------------------------------------------------------------------- handlers
def _part_fit(args, name: str, overrides: dict, tc, flag: str, others: tuple[str, ...], why: str, made: str,
              fit, **extra) -> dict:
    """Fit one part of a trained fastsim-fm checkpoint (``--refit-count``, ``--fit-tail``): the
    flag checked against the others, then ``fit(source, data, output, tc, ...)``."""
    if name != "fastsim_fm":
        raise HepgenInputError(f"{flag} applies to fastsim-fm only")
    given = [o for o in others if getattr(args, o.lstrip("-").replace("-", "_")) is not None]
    if given or args.preset is not None or overrides.get("model"):
        raise HepgenInputError(
            f"{flag} {why}: drop {', '.join(others)}, --preset and the config's 'model' settings"
        )
    source = _source_checkpoint(getattr(args, flag.lstrip("-").replace("-", "_")), args.output, made, "its source")
    return fit(
        source, args.data, args.output, tc, gen_min_pt=args.gen_min_pt, split_seed=args.split_seed,
        resume=args.resume, progress=not args.quiet, exclude_events=_exclude(args.exclude_events), **extra,
    )


def _source_checkpoint(path_or_name: str, output: Path, made: str, source: str) -> Path:
    """A checkpoint a training starts from (a path or shipped name), which must not be ``output``."""
    from hepgen.shipped import resolve_checkpoint

    path = resolve_checkpoint(path_or_name)
    if Path(path).resolve() == Path(output).resolve():
        raise HepgenInputError(f"{output}: write {made} to a new file, not over {source}")
    return path


def _train(args: argparse.Namespace) -> int:
    from hepgen.models import registry
    from hepgen.outputs import check_output
    from hepgen.train import train_model
    from hepgen.train.loop import TrainConfig

    overrides = read_json(args.config, "config") if args.config else {}
    name, cfg = registry.config_for(args.model, args.preset, overrides.get("model", {}))
    given = {  # the flags on the command line (None: not given)
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "eval_every": args.eval_every,
        "patience": args.patience,
        "seed": args.seed,
        "device": args.device,
        "max_train_jets": args.max_train_jets,
        "max_minutes": args.max_minutes,
        "schedule": args.schedule,
        "ema": args.ema,
    }
    given = {k: v for k, v in given.items() if v is not None}
    try:
        # a flag on the command line wins over the config's "train" settings, which win over
        # the flags' defaults
        tc = TrainConfig(**{**TRAIN_FLAG_DEFAULTS, **overrides.get("train", {}), **given})
    except TypeError as exc:
        raise HepgenInputError(f"{args.config}: 'train' settings do not fit ({exc})") from exc
    from hepgen.models.device import pick_device

    pick_device(tc.device)
    check_output(args.output, args.data, overwrite=args.overwrite or args.resume, what="checkpoint")
    if args.balance_pt and args.refit_response is None:
        raise HepgenInputError("--balance-pt applies to --refit-response only")
    if args.members != 1 and args.refit_response is None:
        raise HepgenInputError("--members applies to --refit-response only")
    if args.balance_pt and args.balance_pt < 1:
        raise HepgenInputError(f"--balance-pt CAP must be at least 1 (0: off), got {args.balance_pt:g}")
    if args.fit_tail is not None:
        if args.balance:
            raise HepgenInputError("--balance does not apply to --fit-tail (the tail is fitted to every training jet)")
        from hepgen.train.tail import fit_tail

        record = _part_fit(
            args, name, overrides, tc, "--fit-tail", ("--refit-response", "--refit-count"),
            "adds a soft tail to its checkpoint and changes nothing else", "the checkpoint with a tail", fit_tail,
        )
    elif args.refit_count is not None:
        from hepgen.train.fastsim_fm import refit_count

        record = _part_fit(
            args, name, overrides, tc, "--refit-count", ("--refit-response",),
            "refits the multiplicity head of its checkpoint alone", "the refitted model", refit_count,
            balance=args.balance,
        )
    elif args.refit_response is not None:
        if name != "fastsim_fm":
            raise HepgenInputError("--refit-response applies to fastsim-fm only")
        from hepgen.train.fastsim_fm import RESPONSE_FLOW_KEYS, refit_response

        fixed = sorted(set(overrides.get("model") or {}) - set(RESPONSE_FLOW_KEYS))
        if args.preset is not None or fixed:
            raise HepgenInputError(
                "--refit-response takes the architecture from its checkpoint: drop --preset and "
                f"the config's 'model' settings other than {', '.join(RESPONSE_FLOW_KEYS)}"
                + (f" (got {', '.join(fixed)})" if fixed else "")
            )

        source = _source_checkpoint(args.refit_response, args.output, "the refitted model", "its source")
        kept = [f"{args.output}.member{j}.pt" for j in range(args.members)] if args.members > 1 else []
        if not (args.overwrite or args.resume) and any(Path(p).exists() for p in kept):
            raise HepgenInputError(
                f"{args.output}.member*.pt exist (an earlier run?): --resume continues it, "
                "--overwrite starts again"
            )
        record = refit_response(
            source, args.data, args.output, tc, gen_min_pt=args.gen_min_pt,
            split_seed=args.split_seed, resume=args.resume, progress=not args.quiet,
            exclude_events=_exclude(args.exclude_events), balance=args.balance,
            architecture=overrides.get("model") or None, balance_pt=args.balance_pt,
            members=args.members,
        )
    else:
        reflow = None
        if args.reflow is not None:
            if name != "epic_fm":
                raise HepgenInputError("--reflow applies to epic-fm only")
            reflow = _source_checkpoint(args.reflow, args.output, "the student", "its teacher")
        elif args.reflow_init is not None or args.reflow_loss != "line":
            raise HepgenInputError("--reflow-init and --reflow-loss need --reflow TEACHER")
        reflow_init = (
            None if args.reflow_init is None
            else _source_checkpoint(args.reflow_init, args.output, "the student", "its start")
        )
        record = train_model(
            name, cfg, args.data, args.output, tc,
            split_seed=args.split_seed, resume=args.resume, progress=not args.quiet,
            exclude_events=_exclude(args.exclude_events), reco_min_pt=args.reco_min_pt,
            gen_min_pt=args.gen_min_pt, half=args.half, balance=args.balance,
            reflow=reflow, reflow_pairs=args.reflow_pairs, reflow_steps=args.reflow_steps,
            reflow_loss=args.reflow_loss, reflow_init=reflow_init,
        )
    print(
        f"best epoch {record['best_epoch'] + 1}: {record['metric']} = {record['best_metric']:.4g}; "
        f"{record['time_s']:.0f} s on {record['device']}; wrote {args.output}"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from hepgen.sampling import sample_file

    out = sample_file(
        args.checkpoint, args.n, args.output, seed=args.seed, device=args.device,
        overwrite=args.overwrite, progress=not args.quiet,
    )
    print(f"wrote {len(out)} generated jets to {args.output}")
    return 0


def _tune_fixed(path: Path | None) -> dict | None:
    """The model overrides of a ``--config`` JSON ({'model': {...}}) that every trial keeps."""
    if path is None:
        return None
    model = read_json(path, "config").get("model", {})
    if not isinstance(model, dict):
        raise HepgenInputError(f"{path}: 'model' must be a JSON object of config overrides")
    return model


def _tune_enqueue(path: Path | None) -> dict | None:
    """The parameter values of an ``--enqueue`` JSON ({name: value}) to run as the next trial."""
    if path is None:
        return None
    params = read_json(path, "enqueue")
    if not isinstance(params, dict) or not all(
        isinstance(v, (int, float, str)) for v in params.values()
    ):
        raise HepgenInputError(f"{path}: --enqueue needs a JSON object of parameter name: value")
    return params


def _tune(args: argparse.Namespace) -> int:
    import optuna

    from hepgen.train.tune import export_best, make_study, plot_study, tune

    if args.trials > 0:
        study = tune(
            args.model, args.data, args.trials, args.storage, args.study, step=args.step,
            base_study=args.base_study, epochs=args.epochs, max_train_jets=args.max_train_jets,
            preset=args.preset, pruner=args.pruner, seed=args.seed,
            fixed=_tune_fixed(args.config), enqueue=_tune_enqueue(args.enqueue),
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
                f"exported the best trial's config to {args.export} "
                f"(use: hepgen train {args.model} --config {args.export})"
            )
        if args.plots:
            print("plots:", ", ".join(plot_study(study, args.plots)))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from hepgen.simulation import simulate_file

    out = simulate_file(
        args.checkpoint, args.input, args.output, seed=args.seed, device=args.device,
        progress=not args.quiet, overwrite=args.overwrite, force=args.force,
    )
    print(f"wrote {len(out)} fast-simulated jets to {args.output}")
    return 0


def _settings(items: list[str]) -> dict:
    """``--set KEY=VALUE`` items → {KEY: VALUE parsed as JSON, else the string}."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HepgenInputError(f"--set {item!r}: KEY=VALUE expected")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _evaluate(args: argparse.Namespace) -> int:
    from hepgen.evaluation import evaluate

    results = evaluate(
        args.sample, args.reference, args.output, mode=args.mode, split=args.split,
        split_seed=args.split_seed, n_particles=args.n_particles, n_splits=args.n_splits,
        seed=args.seed, fast=args.fast, device=args.device, force=args.force,
        overwrite=args.overwrite, steps=args.steps, only_files=args.only_files, draws=args.draws,
        settings=_settings(args.set), min_pt=args.min_pt, max_eta=args.max_eta, pt_bins=args.pt_bins,
        progress=not args.quiet, per_family=not args.no_per_family,
    )
    print((Path(args.output) / "metrics.md").read_text())
    print(f"wrote metrics.json, metrics.md and {len(results['figures'])} figures to {args.output}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from hepgen.run import main_job

    if args.scheduler:
        args.executor = "dask"

    main_job(
        args.files, args.fileset, args.checkpoint, args.executor, args.workers, args.chunksize,
        args.device, args.output, args.seed, overwrite=args.overwrite, skip_bad=args.skip_bad,
        R=args.R, scheduler=args.scheduler, retries=args.retries,
        skip_bad_files=args.skip_bad_files, maxchunks=args.maxchunks, weights=not args.no_weights,
        tail=False if args.no_tail else None,
    )
    return 0


def _build_dataset(args: argparse.Namespace) -> int:
    from hepgen.data.build import Selection, build
    from hepgen.outputs import check_output

    check_output(args.output, args.inputs, args.overwrite)
    base = Selection.gluon() if args.preset == "gluon" else Selection.ww()
    sel = replace(
        base,
        **{
            key: value
            for key, value in {
                "R": args.R,
                "k": args.n_particles,
                "reco_min_pt": args.reco_min_pt,
                "gen_min_pt": args.gen_min_pt,
                "max_eta": args.max_eta,
                "max_jets": args.max_jets,
            }.items()
            if value is not None
        },
    )
    pairs = build(args.inputs, args.output, sel, step_size=args.step_size, progress=not args.quiet)
    print(f"wrote {len(pairs)} jet pairs from {pairs.attrs['events']} events to {args.output}")
    return 0


# ---------------------------------------------------------------------- parser
def _overwrite(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing output (default: refuse)"
    )


def register(sub: argparse._SubParsersAction) -> None:
    """Add every subcommand to the ``hepgen`` parser."""
    b = sub.add_parser("build-dataset", help="ROOT files → matched gen/reco jet pairs (HDF5)")
    b.add_argument("inputs", nargs="+", type=Path, help="Delphes or PFNanoAOD ROOT files")
    b.add_argument("-o", "--output", required=True, type=Path, help="HDF5 file to write")
    b.add_argument(
        "--preset", choices=["ww", "gluon"], default="ww", help="defaults of the shared sets"
    )
    b.add_argument("--R", type=RADIUS, default=None, help="jet radius, 0 < R ≤ 2 (ww 0.5, gluon 0.8)")
    b.add_argument("--n-particles", type=POSITIVE, default=None, help="constituents kept per jet (k)")
    b.add_argument("--reco-min-pt", type=_float_in(0, 1e5, False), default=None, metavar="GEV", help="reco jets above this pT (ww 30, gluon 300)")
    b.add_argument("--gen-min-pt", type=_float_in(0, 1e5, False), default=None, metavar="GEV", help="gen jets above this pT (20)")
    b.add_argument("--max-eta", type=_float_in(0, 10), default=None, help="reco jets within |eta| < this (ww 2.7, gluon 2.5)")
    b.add_argument("--max-jets", type=POSITIVE, default=None, help="leading reco jets kept per event (ww 4, gluon 2)")
    b.add_argument("--step-size", type=POSITIVE, default=200, help="events per chunk (bounds memory)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _overwrite(b)
    b.set_defaults(func=_build_dataset)

    models = ", ".join(f"{name}: {entry.help}" for name, entry in CLI.items())
    presets = "; ".join(f"{name}: {' | '.join(entry.presets)}" for name, entry in CLI.items())
    t = sub.add_parser("train", help="train a model on dataset files")
    t.add_argument("model", choices=list(CLI), help=models)
    t.add_argument("--data", nargs="+", required=True, type=Path, help="HDF5 dataset files")
    t.add_argument(
        "-o", "--output", required=True, type=Path, help="checkpoint to write (best epoch)"
    )
    t.add_argument("--preset", default=None, help=f"(first = default) {presets}")
    t.add_argument(
        "--config",
        type=Path,
        help="JSON {'model': {...}, 'train': {...}} overrides (e.g. from hepgen tune); a flag given "
        "on the command line wins over the file's 'train' settings",
    )
    d = TRAIN_FLAG_DEFAULTS
    t.add_argument("--epochs", type=POSITIVE, default=None, help=f"default {d['epochs']}")
    t.add_argument("--batch-size", type=POSITIVE, default=None, help=f"default {d['batch_size']}")
    t.add_argument(
        "--lr", type=_float_in(0, 10), default=None,
        help="default: the config's train.learning_rate, else the preset's",
    )
    t.add_argument("--schedule", choices=["constant", "cosine"], default=None, help=f"default {d['schedule']}")
    t.add_argument(
        "--ema", type=_float_in(0, 1, lo_open=True), default=None, metavar="DECAY",
        help="validate, select and save an exponential moving average of the weights (decay per "
        "step, e.g. 0.999); default: the raw weights",
    )
    t.add_argument("--eval-every", type=POSITIVE, default=None, help=f"default {d['eval_every']}")
    t.add_argument(
        "--patience", type=POSITIVE, default=None,
        help=f"evaluations without improvement before stopping (default {d['patience']})"
    )
    t.add_argument("--seed", type=NONNEG, default=None, help=f"default {d['seed']}")
    t.add_argument("--split-seed", type=NONNEG, default=0, help="seed of the 70/15/15 split by event")
    t.add_argument(
        "--reco-min-pt", type=float, default=130.0, help="fastsim (VAE): reco jet pT selection (seed 001 §5)"
    )
    t.add_argument(
        "--gen-min-pt", type=float, default=100.0,
        help="fastsim-fm: gen jet pT selection (the model's condition)",
    )
    t.add_argument(
        "--exclude-events", nargs="+", type=Path, default=None,
        help="dataset files whose event numbers are held out of training (e.g. a demo sample's)",
    )
    t.add_argument(
        "--balance", action="store_true",
        help="fastsim-fm: weight processes (file families, e.g. ww / qcd / ttbar) equally",
    )
    t.add_argument(
        "--balance-pt", type=float, default=0.0, metavar="CAP",
        help="fastsim-fm --refit-response: weight the response flow's NLL to flatten the gen-pT "
        "spectrum over the response bins, each bin at most CAP× (default 0: unweighted)",
    )
    t.add_argument(
        "--refit-response", metavar="CHECKPOINT", default=None,
        help="fastsim-fm, stage 2: re-train only the jet-response flow of this trained checkpoint "
        "on the same files, selected on its own validation NLL (default lr 3e-4); --config may "
        "give the flow a new architecture (model: flow_transforms, flow_hidden) or condition it on "
        "the gen particle content (model: content: true)",
    )
    t.add_argument(
        "--refit-count", metavar="CHECKPOINT", default=None,
        help="fastsim-fm: re-train only the multiplicity head of this trained checkpoint, on the same "
        "files, with the gen set's pooled features among its inputs (count_pooled), selected on its "
        "validation cross-entropy (default lr 1e-3)",
    )
    t.add_argument(
        "--fit-tail", metavar="CHECKPOINT", default=None,
        help="fastsim-fm: fit a soft tail for this trained checkpoint (the reco constituents beyond "
        "its leading k, from the files' whole reco jets; used by the processor, which reclusters "
        "whole jets), on the same files; everything else is copied unchanged",
    )
    t.add_argument(
        "--members", type=POSITIVE, default=1, metavar="K",
        help="fastsim-fm --refit-response: fit K flows (seeds SEED … SEED+K-1, each kept as "
        "OUTPUT.memberJ.pt) and save their uniform mixture (an ensemble response; default 1)",
    )
    t.add_argument(
        "--reflow", metavar="TEACHER", default=None,
        help="epic-fm: train a reflow student on this trained EPiC-FM's (noise, endpoint) pairs, "
        "so that few ODE steps suffice (starts from the teacher's weights if the preset matches)",
    )
    t.add_argument("--reflow-pairs", type=POSITIVE, default=100_000, help="epic-fm --reflow: pairs")
    t.add_argument(
        "--reflow-steps", type=POSITIVE, default=16, help="epic-fm --reflow: the teacher's ODE steps"
    )
    t.add_argument(
        "--reflow-loss", choices=["line", "endpoint", "endpoint-pt"], default="line",
        help="epic-fm --reflow: learn the straight lines between the pairs (line), or train the "
        "config's few-step solve to land on the teacher's endpoints (endpoint: distillation "
        "through the solver, ~4x the cost per epoch at 2 midpoint steps; endpoint-pt: each "
        "particle's error weighted by its pT share, for the jet-level shape)",
    )
    t.add_argument(
        "--reflow-init", metavar="STUDENT", default=None,
        help="epic-fm --reflow: start the student from this EPiC-FM checkpoint (same architecture) "
        "instead of the teacher, e.g. a line-trained student for an endpoint stage",
    )
    t.add_argument("--max-train-jets", type=POSITIVE, default=None, help="use at most this many training jets (default: all)")
    t.add_argument(
        "--max-minutes", type=_float_in(0, 1e6), default=None,
        help="wall-clock budget (stops after that epoch)",
    )
    t.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    t.add_argument("--resume", action="store_true", help="continue from OUTPUT.last.pt")
    t.add_argument("--half", action="store_true", help="store float16 weights (smaller checkpoint)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _overwrite(t)
    t.set_defaults(func=_train)

    u = sub.add_parser(
        "tune", help="Optuna hyperparameter search (seed 000's two-step procedure), resumable"
    )
    u.add_argument("model", choices=[n for n, e in CLI.items() if e.tunable], help="model family to tune")
    u.add_argument("--data", nargs="+", type=Path, required=True, help="HDF5 dataset file(s)")
    u.add_argument(
        "--trials", type=NONNEG, default=20, help="trials to add now (0: only report/export/plot)"
    )
    u.add_argument("--storage", default="sqlite:///hepgen-study.db", help="Optuna storage URL (default: sqlite:///hepgen-study.db)")
    u.add_argument("--study", required=True, help="study name (re-use it to resume or to add workers)")
    u.add_argument(
        "--step", choices=["loss", "architecture", "flow"], default="loss",
        help="loss: loss parameters + lr (architecture fixed); architecture: with --base-study's "
        "best loss parameters fixed; flow: flows' one-step search",
    )
    u.add_argument("--base-study", default=None, help="--step architecture: the loss study whose best parameters are kept")
    u.add_argument("--epochs", type=POSITIVE, default=5, help="epochs per trial")
    u.add_argument("--max-train-jets", type=POSITIVE, default=5000, help="training jets per trial (default 5000)")
    u.add_argument("--preset", default=None, help="generator preset the search starts from (default cpu)")
    u.add_argument(
        "--config", type=Path, default=None,
        help="JSON {'model': {...}}: fixed model settings every trial keeps (e.g. frame, free_bits)",
    )
    u.add_argument(
        "--enqueue", type=Path, default=None,
        help="JSON {parameter: value} run as the next trial (e.g. the published values as a "
        "baseline); skipped if the study already has it",
    )
    u.add_argument("--pruner", choices=["median", "hyperband"], default="median", help="Optuna pruner (default median)")
    u.add_argument("--seed", type=NONNEG, default=0, help="sampler and training seed (default 0)")
    u.add_argument(
        "--export", type=Path, default=None, help="write the best trial as a hepgen train --config JSON"
    )
    u.add_argument("--plots", type=Path, default=None, help="folder for the study's plots")
    u.set_defaults(func=_tune)

    g = sub.add_parser(
        "sample", help="generate jets with a generator checkpoint (written as the reco side)"
    )
    g.add_argument(
        "checkpoint", nargs="?", default=None,
        help="generator checkpoint file or shipped name (default: hepgen's default generator)",
    )
    g.add_argument("-n", type=POSITIVE, required=True, help="number of jets")
    g.add_argument("-o", "--output", required=True, type=Path, help="HDF5 file to write")
    g.add_argument("--seed", type=NONNEG, default=0, help="noise seed (default 0)")
    g.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    _overwrite(g)
    g.set_defaults(func=_sample)

    s = sub.add_parser("simulate", help="apply a fast-sim checkpoint to the gen side of a dataset file")
    s.add_argument("checkpoint", help="fast-sim checkpoint file or shipped name")
    s.add_argument("input", type=Path, help="HDF5 dataset file (its gen side is read)")
    s.add_argument("-o", "--output", required=True, type=Path, help="HDF5 file to write (the input with the simulated reco side)")
    s.add_argument("--seed", type=NONNEG, default=0, help="noise seed (default 0)")
    s.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    s.add_argument("--force", action="store_true", help="simulate jets of another R than the checkpoint's anyway")
    _overwrite(s)
    s.set_defaults(func=_simulate)

    e = sub.add_parser("evaluate", help="metrics with truth floors, a Markdown table and figures")
    e.add_argument(
        "sample", nargs="?",
        help="checkpoint (.pt or shipped name) or HDF5 file of simulated/generated jets; omit for floors only",
    )
    e.add_argument("--reference", nargs="+", required=True, type=Path, help="reference HDF5 dataset file(s)")
    e.add_argument(
        "--mode", choices=["fastsim", "generation"], default=None,
        help="default: from the checkpoint or file, else fastsim when the reference has gen jets",
    )
    e.add_argument(
        "--split", choices=["train", "valid", "test", "all", "auto"], default="auto",
        help="reference jets to compare on (split by event, 70/15/15); auto (default): all of them "
        "when the checkpoint was trained on none of the reference files, else the test split",
    )
    e.add_argument("--split-seed", type=NONNEG, default=0, help="seed of the train/valid/test event split (the trainers' default 0)")
    e.add_argument(
        "--no-per-family", action="store_true",
        help="fast-sim mode: skip the per-family evaluations (reference files whose names differ "
        "only in a trailing _sNNN are one family, one process; by default each family is also "
        "evaluated on its own, in by_family/FAMILY/)",
    )
    e.add_argument(
        "--only-files", default=None, metavar="SUBSTRING",
        help="after the split, keep only jets of reference files whose name contains SUBSTRING "
        "(one process of a multi-process training list)",
    )
    e.add_argument(
        "-k", "--n-particles", type=POSITIVE, default=None, help="constituents per jet (generation: 30)"
    )
    e.add_argument("--n-splits", type=POSITIVE, default=5, help="random event splits for the floors")
    e.add_argument("--seed", type=NONNEG, default=0, help="seed of the model's noise, the floors' splits and the bootstraps (default 0)")
    e.add_argument("--steps", type=POSITIVE, default=None, help="ODE steps (flow-matching models)")
    e.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="fast-sim v2: an inference setting of the checkpoint to change, VALUE in JSON "
        "(repeatable; e.g. --set candidates=4 --set project_mass=false: four flow-matching starts "
        "per jet, the one nearest the sampled jet mass kept, no mass projection)",
    )
    e.add_argument(
        "--draws", type=POSITIVE, default=1,
        help="fast-sim checkpoints: simulations per gen jet pooled in the response table (less of "
        "the model's sampling noise; W1s and figures use the first)",
    )
    e.add_argument(
        "--min-pt", type=float, default=None, metavar="GEV",
        help="fast-sim: reco jets of the W1 table above this pT (default 200)",
    )
    e.add_argument(
        "--max-eta", type=float, default=None, help="fast-sim: reco jets of the W1 table within |eta| < this (default 2.5)"
    )
    e.add_argument(
        "--pt-bins", type=float, nargs="+", default=None, metavar="GEV",
        help="fast-sim: gen-jet pT bin edges of the response table (default 200 300 400 600 1500; "
        "the shipped fast-sims were trained on gen jets above 100 GeV)",
    )
    e.add_argument("--fast", action="store_true", help="reduced bootstrap sizes (quick look)")
    e.add_argument("--force", action="store_true", help="compare even if R or k differ from the reference")
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    e.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    e.add_argument("-o", "--output", type=Path, default=Path("hepgen-evaluate"), help="output folder (default hepgen-evaluate)")
    _overwrite(e)
    e.set_defaults(func=_evaluate)

    r = sub.add_parser(
        "run", help="the main job: the fast-sim coffea processor on a fileset (default: shipped sample)"
    )
    r.add_argument(
        "files", nargs="*", help="Delphes or PFNanoAOD ROOT files (default: the shipped 100-event sample)"
    )
    r.add_argument("--fileset", help="coffea-style JSON fileset instead of files")
    r.add_argument(
        "--checkpoint", default=None,
        help="fast-sim checkpoint file or shipped name (default: fastsim_ww_pu50)",
    )
    r.add_argument("--executor", choices=["iterative", "futures", "dask"], default="iterative", help="coffea executor (default iterative)")
    r.add_argument(
        "--scheduler", default=None,
        help="address of a running Dask scheduler (tcp://host:8786); implies --executor dask. "
        "--executor dask alone uses DASK_SCHEDULER_ADDRESS when set, else a local cluster",
    )
    r.add_argument("--retries", type=NONNEG, default=0, help="retries of a failed chunk (futures, dask)")
    r.add_argument("--maxchunks", type=POSITIVE, default=None, help="at most this many chunks per dataset (coffea's maxchunks; a quick look)")
    r.add_argument(
        "--skip-bad-files", action="store_true",
        help="skip unreadable files (listed in files.json and the summary) instead of stopping",
    )
    r.add_argument(
        "--no-weights", action="store_true",
        help="fill the histograms unweighted (default: with the files' generator weights, "
        "Delphes Event.Weight / NanoAOD genWeight)",
    )
    r.add_argument(
        "--no-tail", action="store_true",
        help="simulate each gen jet's leading k (50) reco constituents only, without the checkpoint's "
        "soft tail beyond them (default: whole jets where the checkpoint has a tail, as the shipped "
        "fast-sims do)",
    )
    r.add_argument("--workers", type=_int_in(1, 512), default=2, help="processes of the futures executor, or workers of a local Dask cluster (default 2)")
    r.add_argument(
        "--chunksize", type=POSITIVE, default=1000,
        help="events per chunk (default 1000: coffea opens the file again for every chunk, "
        "~0.4 s for a Delphes tree; memory grows ~0.3–0.5 MB per event of a chunk; the histograms do "
        "not depend on it)",
    )
    r.add_argument("--R", type=RADIUS, default=None, help="jet radius (default: the checkpoint's)")
    r.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    r.add_argument("--seed", type=NONNEG, default=0, help="noise seed (default 0; a jet's noise depends on seed, file, event and jet index)")
    r.add_argument(
        "--skip-bad", action="store_true",
        help="drop particles with non-finite momenta (counted in the cutflow) instead of stopping",
    )
    r.add_argument("-o", "--output", default="hepgen-output", help="output folder (default hepgen-output)")
    _overwrite(r)
    r.set_defaults(func=_run)
