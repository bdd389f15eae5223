"""W1 of a generator's jet pT, η, φ, mass, E and multiplicity against the test split over many
fresh draws (RESULTS.md §3a).

    python scripts/epic_fm_mass_draws.py [CKPT] [--reference …] [--draws 20]

Each draw: a random half of the test split against (a) the other half (the floor), (b) as many
training jets, (c) as many freshly generated jets (a new seed every draw). Prints mean ± standard
error and the ratio of the means — one sample reused across splits cannot average its own
fluctuation, fresh draws can. (EPiC-FM draws its jet rows — pT, η, φ, m, n — from the training
table, so (b) is what it can reach on those.)
"""

from __future__ import annotations

import argparse
import glob

import numpy as np

from hepgen.data.datasets import load_pairs, split_indices
from hepgen.inference import Runner
from hepgen.metrics.distances import w1
from hepgen.physics.kinematics import JET_FEATURES, jet_features, n_constituents


def _features(constituents: np.ndarray) -> np.ndarray:
    c = constituents[:, :30].astype(np.float64)
    return np.concatenate([jet_features(c), n_constituents(c)[:, None].astype(np.float64)], axis=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default="epic_fm_gluon")
    p.add_argument("--reference", nargs="+", default=sorted(glob.glob("../shared/data/gluon_r08_s2*.h5")))
    p.add_argument("--draws", type=int, default=20)
    a = p.parse_args()
    pairs, keys = load_pairs(a.reference)
    split = split_indices(keys, seed=0)
    jets = _features(pairs.side("reco").constituents)
    test, train = jets[split["test"]], jets[split["train"]]
    runner = Runner(a.checkpoint)
    rng = np.random.default_rng(1)
    names = (*JET_FEATURES, "n")
    res: dict[str, list[np.ndarray]] = {"floor": [], "training jets": [], a.checkpoint: []}
    for d in range(a.draws):
        perm = rng.permutation(len(test))
        half, other = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        gen = _features(runner.sample(len(other), seed=100 + d))
        tr = train[rng.choice(len(train), len(other), replace=False)]
        for key, o in (("floor", test[other]), ("training jets", tr), (a.checkpoint, gen)):
            res[key].append(np.array([w1(test[half, i], o[:, i]) for i in range(len(names))]))
    floor = np.mean(res["floor"], axis=0)
    for i, f in enumerate(names):
        for name, runs in res.items():
            v = np.array(runs)[:, i]
            print(f"{f:5s} {name:20s} W1 {np.mean(v):.4g} ± {np.std(v) / np.sqrt(len(v)):.2g} "
                  f"({np.mean(v) / floor[i]:.2f}× the floor)")


if __name__ == "__main__":
    main()
