"""RESULTS.md §2 "What the numbers say": the jet-response flow's own medians per gen-pT bin
against Delphes', on any split of a fast-sim v2 checkpoint's training files — does a median
offset on the test split come from the flow (then it shows on the training split too) or from the
test sample?

Per bin: the median of m(reco)/m(gen) and of pT(reco)/pT(gen) of Delphes (the reco table's first
k constituents, what the flow is trained on), of the flow's draws given the multiplicity the
count head draws (what the simulation does), and of its draws given the true reco multiplicity;
and the mean multiplicity, true and drawn. No particles are generated (the output's medians follow
the flow's draws within 0.001: the projections hit them).

    python scripts/fastsim_flow_medians.py CHECKPOINT FILE [FILE ...] [--split train] [--draws 3]
        [--only-files _ww_] [--by-stability]

``--by-stability`` splits every bin by a property of the gen jet alone (the model's condition, so
no selection on its output): whether its leading k particles, clustered again on their own
(anti-kt, the checkpoint's R), give back one jet of the same mass (within 10⁻³) — "stable" — or
not. That is what the processor's gen jet is when a jet's leading k particles are written as an
event of their own (`scripts/pairs_to_nanoaod.py`): for an unstable jet it is not the jet the model
was trained on.

FILE ...: the checkpoint's training files, in its order (the split is by event over the list).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hepgen.data.datasets import load_pairs, split_indices
from hepgen.inference import Runner
from hepgen.physics.kinematics import jet_features

BINS = (200.0, 300.0, 400.0, 600.0, 1500.0)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--split", default="train", choices=("train", "valid", "test", "all"))
    p.add_argument("--draws", type=int, default=3)
    p.add_argument(
        "--only-files", default="_ww_", help="keep the jets of files whose name contains this"
    )
    p.add_argument(
        "--by-stability",
        action="store_true",
        help="also each bin split by whether the gen jet's leading k particles recluster into it",
    )
    args = p.parse_args()
    pairs, keys = load_pairs(args.files)
    idx = np.arange(len(pairs)) if args.split == "all" else split_indices(keys, seed=0)[args.split]
    chosen = [i for i, f in enumerate(args.files) if args.only_files in f]
    pairs = pairs.take(idx[np.isin(keys[idx] >> 48, chosen)])
    model = Runner(args.checkpoint, device="cpu").model
    k = model.config.n_particles
    gen = torch.from_numpy(pairs.side("gen").constituents[:, :k]).float()
    reco = torch.from_numpy(pairs.side("reco").constituents[:, :k]).float()
    gf = jet_features(pairs.side("gen").constituents.astype(np.float64))
    rf = jet_features(pairs.side("reco").constituents[:, :k].astype(np.float64))
    drawn: dict[str, list[np.ndarray]] = {"drawn n": [], "true n": []}
    n_drawn = []
    with torch.no_grad():
        cn, _, pool, _, gjet = model._encode_gen(gen)
        n_true = model._reco_targets(reco, gjet)[3]
        for s in range(args.draws):
            noise = model.draw_noise(len(gen), torch.Generator().manual_seed(s))
            n = model.multiplicity(cn, noise["count"], pool=pool)
            n_drawn.append(n.numpy())
            for key, n_ in (("drawn n", n), ("true n", n_true)):
                yn = model.response_sample(
                    model._response_context(cn, n_), noise["response"], noise.get("member")
                )
                drawn[key].append(model._denorm("jet", yn).double().numpy())
    y = {key: np.concatenate(v) for key, v in drawn.items()}
    nd = np.concatenate(n_drawn)
    print(
        f"{args.checkpoint}, {args.split} split, {args.only_files} jets, {args.draws} draws: medians of "
        "reco/gen (Delphes | flow, drawn n | flow, true n)"
    )
    print(f"{'gen pT':>10s} {'jets':>6s} {'mass':>26s} {'pT':>26s} {'mean n true / drawn':>20s}")
    groups = {"": np.ones(len(gf), bool)}
    if args.by_stability:
        stable = reclusters_to_itself(pairs.side("gen").constituents[:, :k], gf[:, 3], model.config.R)
        print(
            f"gen jets whose leading {k} particles recluster into one jet of the same mass: "
            f"{stable[gf[:, 0] >= BINS[0]].mean():.3f} (gen pT > {BINS[0]:g} GeV)"
        )
        groups.update({"stable": stable, "unstable": ~stable})
    for (lo, hi), (name, subset) in (
        (b, gr) for b in zip(BINS[:-1], BINS[1:]) for gr in groups.items()
    ):
        s = (gf[:, 0] >= lo) & (gf[:, 0] < hi) & subset
        sg = np.tile(s, args.draws)
        with np.errstate(
            divide="ignore", invalid="ignore"
        ):  # a massless gen jet: inf, kept in the median
            m = [np.median(rf[s, 3] / gf[s, 3])] + [np.median(np.exp(y[key][sg, 1])) for key in y]
            t = [np.median(rf[s, 0] / gf[s, 0])] + [np.median(np.exp(y[key][sg, 0])) for key in y]
        print(
            f"{lo:4.0f}–{hi:<5.0f}{' ' + name if name else ''} {s.sum():6d} {m[0]:8.4f} {m[1]:8.4f} {m[2]:8.4f} {t[0]:8.4f} {t[1]:8.4f} {t[2]:8.4f}"
            f" {n_true.numpy()[s].mean():9.2f} / {nd[sg].mean():.2f}"
        )


def reclusters_to_itself(
    constituents: np.ndarray, mass: np.ndarray, R: float, tol: float = 1e-3
) -> np.ndarray:
    """Per jet: do its (N, k, 3) particles, anti-kt clustered on their own, give one leading jet
    whose mass is ``mass`` within a relative ``tol``?"""
    import awkward as ak

    from hepgen.physics.clustering import cluster

    c = constituents.astype(np.float64)
    real = np.abs(c).sum(-1) > 0
    counts = real.sum(1)
    e = np.linalg.norm(c, axis=-1)
    parts = ak.zip(
        {
            f: ak.unflatten(v[real], counts)
            for f, v in zip(("px", "py", "pz", "E"), (*c.transpose(2, 0, 1), e))
        }
    )
    lead = ak.to_numpy(ak.fill_none(ak.firsts(cluster(parts, R).mass), 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(lead / mass - 1) < tol


if __name__ == "__main__":
    main()
