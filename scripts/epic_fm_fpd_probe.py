"""jetnet's FPD, W1P, W1M and W1EFP of the default EPiC-FM (the reflow student) at a few solver
settings, and of its teacher, on the gluon test split (one 10 497-jet sample each, seed 7;
RESULTS.md §3a).

    python scripts/epic_fm_fpd_probe.py [--reference ../shared/data/gluon_r08_s2*.h5]
    python scripts/epic_fm_fpd_probe.py --models epic_fm_gluon OTHER.pt --seeds 7 8 9 [--solver rk4 --steps 1]

``--models``: each checkpoint as configured (its steps, solver and precision) over several sample
seeds, with the mean and spread of the ratios: FPD moves by ±40% between 10k-jet samples, so two
students are compared over the same seeds.

Floors: jetnet's functions on the validation vs the test jets, computed here for every seed:
the sample seed also seeds FPD's subsets (its 1/N extrapolation from N/2 to N jets: the floor
alone moves 0.00021 → 0.00037 between FPD seeds 0 and 7) and jetnet's W1 batches (drawn from an
unseeded module-level generator, which this probe reseeds), for the model and the floor alike —
each seed's ratio is a paired comparison, and a rerun gives the same numbers. "euler 4" replaces the midpoint rule by 4 Euler steps, "rk4 1" by one classical Runge–Kutta
step (both the same 4 network calls).
"""

from __future__ import annotations

import argparse
import glob
import time

import jetnet.evaluation as je
import jetnet.evaluation.gen_metrics as jgm
import numpy as np
import torch

from hepgen.data.datasets import JetDataset
from hepgen.models import checkpoint, registry
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.shipped import resolve_checkpoint

NAMES = ("FPD", "W1P", "W1M", "W1EFP")


def relative(table: np.ndarray) -> np.ndarray:
    """Generated or real cartesian tables → jetnet's relative coordinates, after the acceptance."""
    return to_relative(apply_constituent_acceptance(table.astype(np.float64)))


def reference_jets(files) -> tuple[np.ndarray, np.ndarray]:
    """The test and validation jets of ``files`` (split seed 0, k = 30), relative coordinates."""
    test, valid = (relative(JetDataset(files, "reco", s, k=30, seed=0).constituents.numpy()) for s in ("test", "valid"))
    return test, valid


def load_generator(name: str, **overrides):
    """An EPiC-FM checkpoint (a path or a shipped name) as a model in eval mode; ``overrides``
    replace config entries (``steps``, ``bf16``)."""
    c = checkpoint.load(resolve_checkpoint(name))
    model = registry.build("epic_fm", {**c["config"], **{k: v for k, v in overrides.items() if v is not None}})
    model.load_state_dict(c["state_dict"])
    return model.eval()


def jetnet_metrics(rr: np.ndarray, fr: np.ndarray, ro: np.ndarray, seed: int, fo=None) -> np.ndarray:
    """FPD, W1P (mean of η, φ, pT), W1M, W1EFP of ``ro`` against ``rr`` (relative coordinates)
    with jetnet's functions: FPD's subsets and the W1 batches drawn with ``seed`` (jetnet's
    module-level batch generator is reseeded before each W1)."""
    n = len(rr)
    fo = je.get_fpd_kpd_jet_features(ro) if fo is None else fo
    fpd, _ = je.fpd(fr, fo, min_samples=n // 2, max_samples=n, seed=seed)
    out = [fpd]
    for f in (je.w1p, je.w1m, je.w1efp):
        jgm.rng = np.random.default_rng(seed)
        w = f(rr, ro, num_eval_samples=n, num_batches=5)[0]
        out.append(float(np.mean(w)))
    return np.array(out)


def euler(model, bf16: bool):
    def integrate(x, cond, mask, steps):
        dt = 1.0 / steps
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(steps):
                t = torch.full((len(x),), i * dt)
                x = x + dt * model.velocity(x, t, cond, mask).float()
        return x.float()

    return integrate


def rk4(model, bf16: bool):
    """One classical Runge–Kutta step per ``steps`` (4 network calls each, like 2 midpoint steps)."""

    def integrate(x, cond, mask, steps):
        dt = 1.0 / steps
        v = lambda x, t: model.velocity(x, torch.full((len(x),), t), cond, mask).float()  # noqa: E731
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(steps):
                t = i * dt
                k1 = v(x, t)
                k2 = v(x + 0.5 * dt * k1, t + 0.5 * dt)
                k3 = v(x + 0.5 * dt * k2, t + 0.5 * dt)
                k4 = v(x + dt * k3, t + dt)
                x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        return x.float()

    return integrate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", nargs="+", default=sorted(glob.glob("../shared/data/gluon_r08_s2*.h5")))
    p.add_argument("--models", nargs="+", default=None, help="compare these checkpoints as configured")
    p.add_argument("--seeds", nargs="+", type=int, default=[7])
    p.add_argument("--solver", default="midpoint", choices=["midpoint", "euler", "rk4"], help="with --models")
    p.add_argument("--steps", type=int, default=None, help="with --models (default: each checkpoint's)")
    args = p.parse_args()
    rr, rv = reference_jets(args.reference)
    n, fr, fv = len(rr), je.get_fpd_kpd_jet_features(rr), je.get_fpd_kpd_jet_features(rv)
    floors = {seed: jetnet_metrics(rr, fr, rv, seed, fv) for seed in args.seeds}
    for seed, floor in floors.items():
        print(f"floors (validation vs test jets), seed {seed}: " + ", ".join(f"{k} {v:.4g}" for k, v in zip(NAMES, floor)))
    runs: list[tuple[str, str, int, str, bool | None]] = [
        ("epic_fm_gluon", "student midpoint 2 bf16", 2, "midpoint", True),
        ("epic_fm_gluon", "student midpoint 2 fp32", 2, "midpoint", False),
        ("epic_fm_gluon", "student euler 4 bf16", 4, "euler", True),
        ("epic_fm_gluon", "student rk4 1 bf16", 1, "rk4", True),
        ("epic_fm_gluon", "student midpoint 3 bf16", 3, "midpoint", True),
        ("epic_fm_teacher_gluon", "teacher midpoint 8 bf16", 8, "midpoint", True),
    ]
    if args.models:
        runs = [(name, f"{name} {args.solver}", args.steps, args.solver, None) for name in args.models]
    for name, label, steps, solver, bf16 in runs:
        model = load_generator(name, steps=steps, bf16=bf16)
        bf16 = model.config.bf16
        if solver != "midpoint":
            model._integrate = {"euler": euler, "rk4": rk4}[solver](model, bf16)
        ratios = []
        for seed in args.seeds:
            t0 = time.perf_counter()
            out = model.sample(n, generator=torch.Generator().manual_seed(seed)).numpy()
            us = (time.perf_counter() - t0) / n * 1e6
            ro = relative(out)
            m, floor = jetnet_metrics(rr, fr, ro, seed), floors[seed]
            ratios.append(m / floor)
            print(f"{label:26s} seed {seed}: " + "  ".join(f"{k} {v:.3g} ({v / f:.2f}×)" for k, v, f in zip(NAMES, m, floor))
                  + f"  ~{us:.0f} µs/jet (sampling + projection, one run)", flush=True)
        if len(ratios) > 1:
            r = np.array(ratios)
            print(f"{label:26s} mean over {len(r)} seeds: " + ", ".join(
                f"{k} {r[:, i].mean():.2f}× ± {r[:, i].std(ddof=1):.2f}" for i, k in enumerate(NAMES)), flush=True)


if __name__ == "__main__":
    main()
