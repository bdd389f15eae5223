"""Jet-mass W1 of a generator against the test split over many fresh draws (RESULTS.md §3a).

    python scripts/epic_fm_mass_draws.py [CKPT] [--reference …] [--draws 20]

Each draw: a random half of the test split against (a) the other half (the floor), (b) as many
training jets, (c) as many freshly generated jets (a new seed every draw). Prints mean ± standard
error and the ratio of the means — one sample reused across splits cannot average its own
fluctuation, fresh draws can.
"""

from __future__ import annotations

import argparse
import glob

import numpy as np

from hepgen.data.datasets import load_pairs, split_indices
from hepgen.inference import Runner
from hepgen.metrics.distances import w1
from hepgen.physics.kinematics import jet_features


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default="epic_fm_gluon")
    p.add_argument("--reference", nargs="+", default=sorted(glob.glob("../shared/data/gluon_r08_s2*.h5")))
    p.add_argument("--draws", type=int, default=20)
    a = p.parse_args()
    pairs, keys = load_pairs(a.reference)
    split = split_indices(keys, seed=0)
    jets = jet_features(pairs.reco.constituents[:, :30].astype(np.float64))
    test, train = jets[split["test"]], jets[split["train"]]
    runner = Runner(a.checkpoint)
    rng = np.random.default_rng(1)
    res: dict[str, list[float]] = {"floor": [], "training jets": [], a.checkpoint: []}
    for d in range(a.draws):
        perm = rng.permutation(len(test))
        half, other = perm[: len(perm) // 2], perm[len(perm) // 2 :]
        gen = jet_features(runner.sample(len(other), seed=100 + d)[:, :30].astype(np.float64))
        res["floor"].append(w1(test[half, 3], test[other, 3]))
        res["training jets"].append(w1(test[half, 3], train[rng.choice(len(train), len(other), replace=False), 3]))
        res[a.checkpoint].append(w1(test[half, 3], gen[:, 3]))
    floor = np.mean(res["floor"])
    for name, v in res.items():
        print(f"{name:20s} jet-mass W1 {np.mean(v):.3f} ± {np.std(v) / np.sqrt(len(v)):.3f} GeV "
              f"({np.mean(v) / floor:.2f}× the floor)")


if __name__ == "__main__":
    main()
