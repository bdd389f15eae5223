"""Delphes' own jet pT response, per process and gen-pT bin, split by whether the gen jet has more
constituents than the k the tables keep (the files' ``gen/jet`` count, all constituents) — how much
of QCD's lower response at high pT is the truncation to the leading k (RESULTS.md §2, "What QCD's
pT-response offset needs"). Data only: no model.

    python scripts/response_by_saturation.py ../shared/data
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hepgen.io import h5

BINS = (200.0, 300.0, 400.0, 600.0)
FAMILIES = {"WW": "fastsim_ww_pu50_highpt_s1*.h5", "QCD": "fastsim_qcd_pu50_highpt_s*.h5",
            "ttbar": "fastsim_ttbar_pu50_highpt_s*.h5"}


def _table_pt(c: np.ndarray) -> np.ndarray:
    """pT of the sum of a (N, k, 3) px, py, pz table (what the response is measured on)."""
    return np.hypot(c[..., 0].sum(1), c[..., 1].sum(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, help="the shared data folder")
    args = p.parse_args()
    print("| process | gen pT [GeV] | jets | share with more than k gen constituents | median response: all / k or fewer / more than k |")
    print("|---|---|---|---|---|")
    for name, pattern in FAMILIES.items():
        files = sorted(args.data.glob(pattern))
        if not files:
            continue
        pairs = [h5.read(f) for f in files]
        gen = np.concatenate([_table_pt(q.side("gen").constituents) for q in pairs])
        reco = np.concatenate([_table_pt(q.side("reco").constituents) for q in pairs])
        count = np.concatenate([q.side("gen").jet[:, 5] for q in pairs])
        k = pairs[0].side("gen").constituents.shape[1]
        resp = reco / gen
        for lo, hi in zip(BINS[:-1], BINS[1:]):
            s = (gen > lo) & (gen < hi)
            full = count > k
            cells = [np.median(resp[s & sel]) if (s & sel).any() else float("nan") for sel in (s, ~full, full)]
            print(f"| {name} | {lo:.0f}–{hi:.0f} | {s.sum()} | {full[s].mean():.2f} | "
                  + " / ".join(f"{c:.4f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
