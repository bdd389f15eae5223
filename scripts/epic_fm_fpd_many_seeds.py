"""FPD of EPiC-FM checkpoints and its floor, each averaged over many of jetnet's FPD seeds
(RESULTS.md §3a).

    OPENBLAS_NUM_THREADS=1 python scripts/epic_fm_fpd_many_seeds.py epic_fm_gluon [OTHER.pt ...] \
        [--reference …] [--fpd-seeds 40] [--steps N]

(One BLAS thread: FPD's 36×36 covariances gain nothing from two, and beside a training on the
same 2 cores OpenBLAS's spinning threads made every ``np.cov`` ~100× slower: the 40 floor FPDs
took 676 s instead of 33 s.)

jetnet's ``fpd`` extrapolates the Fréchet distance from random subsets of N/2 … N jets to
1/N → 0; on 10 497 jets that intercept moves with the subsets' seed: the real-vs-real floor
(validation vs test) takes values from ~0 to 0.00037 between seeds, so a ratio to one seed's
floor is mostly that seed's luck. Here the floor is the mean over ``--fpd-seeds`` seeds, and each
checkpoint's FPD the mean over as many seeds for each of five 10 497-jet samples (sample seeds
7–11); printed with their standard errors and the ratio of the means.
"""

from __future__ import annotations

import argparse
import glob
import time

import jetnet.evaluation as je
import numpy as np
import torch
from epic_fm_fpd_probe import load_generator, reference_jets, relative


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--reference", nargs="+", default=sorted(glob.glob("../shared/data/gluon_r08_s2*.h5")))
    p.add_argument("--fpd-seeds", type=int, default=40)
    p.add_argument("--samples", nargs="+", type=int, default=[7, 8, 9, 10, 11], help="sample seeds")
    p.add_argument("--steps", type=int, default=None, help="ODE steps (default: each checkpoint's)")
    a = p.parse_args()
    rr, rv = reference_jets(a.reference)
    n, fr, fv = len(rr), je.get_fpd_kpd_jet_features(rr), je.get_fpd_kpd_jet_features(rv)
    seeds = range(a.fpd_seeds)

    def fpd(fo: np.ndarray) -> np.ndarray:
        return np.array([je.fpd(fr, fo, min_samples=n // 2, max_samples=n, seed=s)[0] for s in seeds])

    t0 = time.time()
    fl = fpd(fv)
    print(f"floor over {len(fl)} FPD seeds: mean {fl.mean():.3g} ± {fl.std(ddof=1) / np.sqrt(len(fl)):.2g} "
          f"(std {fl.std(ddof=1):.2g}, min {fl.min():.2g}, max {fl.max():.2g}); {time.time() - t0:.0f} s", flush=True)
    for name in a.checkpoints:
        model = load_generator(name)
        per = []
        for seed in a.samples:
            ro = relative(model.sample(n, generator=torch.Generator().manual_seed(seed), steps=a.steps).numpy())
            per.append(fpd(je.get_fpd_kpd_jet_features(ro)).mean())
        fpds = np.array(per)
        print(f"{name}: FPD per sample {np.round(fpds * 1e4, 2)} e-4; mean {fpds.mean():.3g} ± "
              f"{fpds.std(ddof=1) / np.sqrt(len(fpds)):.2g} → {fpds.mean() / fl.mean():.2f}× the floor", flush=True)


if __name__ == "__main__":
    main()
