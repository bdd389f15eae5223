"""Where a generator puts its particles (issue 12, RESULTS.md §3c): the share of generated
particles farther than R from the jet axis, the jets that have one, their pT share, the jet mass
with and without them (W1M of m/pT against the test split, jetnet's definition), and the median
ΔR to the axis per pT rank — beside the real validation jets (their W1M: the floor).

An anti-kt jet of radius R holds (almost) no particle beyond R. A generator whose jet mass is
made by one soft particle pointing backwards (Δφ ≈ π) passes the W1M and the jet-feature W1s
while its in-cone particles are far too narrow; this prints what gives it away.

    python scripts/out_of_cone.py convae_nf_gluon out/new.pt --data ../shared/data/gluon_r08_s2*.h5 \
        [-n 10000] [--seed 7] [-o out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hepgen.data.datasets import JetDataset
from hepgen.inference import Runner
from hepgen.metrics.jetnet import w1m
from hepgen.physics.coordinates import relative_jet_mass, to_relative
from hepgen.physics.cuts import apply_constituent_acceptance


def median_dr_by_pt_rank(rel: np.ndarray) -> np.ndarray:
    """Median ΔR to the jet axis of the k-th hardest live particle, for every rank k."""
    live = rel[..., 2] > 0
    dr = np.where(live, np.hypot(rel[..., 0], rel[..., 1]), np.nan)
    return np.nanmedian(np.take_along_axis(dr, np.argsort(-rel[..., 2], axis=1), 1), 0)


def summary(c: np.ndarray, test_rel: np.ndarray, R: float, seed: int) -> dict:
    rel = to_relative(c)
    live = rel[..., 2] > 0
    dr = np.hypot(rel[..., 0], rel[..., 1])
    out = (dr > R) & live
    inside = np.where(out[..., None], 0.0, c)
    rel_in = to_relative(inside)
    return {
        "share_out_of_cone": float(out.sum() / live.sum()),
        "jets_with_one": float(out.any(1).mean()),
        "pt_share_out_of_cone": float((rel[..., 2] * out).sum() / (rel[..., 2] * live).sum()),
        "median_m_over_pt": float(np.median(relative_jet_mass(rel))),
        "median_m_over_pt_in_cone": float(np.median(relative_jet_mass(rel_in))),
        "W1M": w1m(test_rel, rel, seed=seed)[0],
        "W1M_in_cone": w1m(test_rel, rel_in, seed=seed)[0],
        "median_dR_by_pt_rank": [float(v) for v in median_dr_by_pt_rank(rel)],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--data", nargs="+", required=True, help="the generators' gluon files (test split)")
    p.add_argument("-n", type=int, default=None, help="generated jets (default: as many as test jets)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-o", "--output", type=Path, default=None)
    a = p.parse_args()
    rows, test_rel = {}, None
    for ck in a.checkpoints:
        r = Runner(ck)
        R = float(r.dataset.get("R", 0.8))
        if test_rel is None:
            test = JetDataset(a.data, "reco", "test", k=r.k, seed=r.dataset.get("split_seed", 0))
            test_c = apply_constituent_acceptance(test.constituents.numpy().astype(np.float64))
            test_rel = to_relative(test_c)
            valid = JetDataset(a.data, "reco", "valid", k=r.k, seed=r.dataset.get("split_seed", 0))
            valid_c = apply_constituent_acceptance(valid.constituents.numpy().astype(np.float64))
            rows["real (validation jets)"] = summary(valid_c, test_rel, R, a.seed)
        gen = r.sample(a.n or len(test_rel), seed=a.seed).astype(np.float64)
        rows[ck] = summary(gen, test_rel, R, a.seed)
    print("| | share of particles beyond R | jets with one | their pT share | median m/pT (in cone) "
          "| W1M (in cone) | median ΔR, pT ranks 1 / 5 / 10 / 20 / 30 |")
    print("|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        d = s["median_dR_by_pt_rank"]
        ranks = " / ".join(f"{d[i]:.3f}" for i in (0, 4, 9, 19, 29) if i < len(d))
        print(f"| {name} | {s['share_out_of_cone']:.4f} | {s['jets_with_one']:.3f} | "
              f"{s['pt_share_out_of_cone']:.4f} | {s['median_m_over_pt']:.4f} ({s['median_m_over_pt_in_cone']:.4f}) | "
              f"{s['W1M']:.4f} ({s['W1M_in_cone']:.4f}) | {ranks} |")
    if a.output:
        a.output.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
