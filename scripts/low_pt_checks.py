"""RESULTS.md §2 "Below 200 GeV": two Delphes-only facts about the shared jet-pair files.

1. Per file, the median pT response (reco/gen, top-k constituents after the acceptance) of the
   matched jets per gen-pT bin, with its bootstrap standard deviation: do the files of a family
   agree, and does another sample of the same process (inclusive WW) differ?
2. At gen pT 100–130 GeV, per family, the same median in bins of the gen jet's m/pT: does a
   difference between families stay at fixed jet shape?
3. Per family, the share of Delphes reco jets (|η| < 2.5) above a reco threshold that are matched
   to a gen jet under 100 GeV — jets the processor cannot make, since it simulates gen jets above
   ``gen_min_pt`` = 100 GeV only (``hepgen.processors.fastsim.GEN_THRESHOLD_MARGIN``).

    python scripts/low_pt_checks.py ../shared/data
"""

from __future__ import annotations

import argparse
import glob
import os

import numpy as np

from hepgen.io import h5
from hepgen.metrics import detector
from hepgen.physics.cuts import Acceptance
from hepgen.physics.kinematics import jet_features

BINS = ((100, 130), (130, 160), (160, 200), (200, 300), (300, 400))
FAMILIES = {
    "boosted WW": "fastsim_ww_pu50_highpt_s*.h5",
    "QCD": "fastsim_qcd_pu50_highpt_s*.h5",
    "tt̄": "fastsim_ttbar_pu50_highpt_s*.h5",
    "inclusive WW": "fastsim_ww_pu50_s*.h5",
}


def _jets(paths: list[str]) -> tuple[np.ndarray, dict]:
    gen, reco = [], []
    for p in paths:
        pairs = h5.read(p)
        gen.append(jet_features(pairs.side("gen").constituents.astype(np.float64)))
        reco.append(detector.observables(pairs.side("reco").constituents, 0.5, Acceptance(), apply_jet_cuts=False))
    return np.concatenate(gen), {k: np.concatenate([r[k] for r in reco]) for k in ("pt", "eta")}


def _median_cell(label: str, r: np.ndarray, rng: np.random.Generator, n_boot: int) -> str:
    """'label: median ± bootstrap standard deviation (count)' of the ratios ``r``."""
    if not len(r):
        return f"{label}: — (0)"
    boot = np.median(rng.choice(r, (n_boot, len(r))), axis=1)
    return f"{label}: {np.median(r):.3f} ± {np.std(boot):.3f} ({len(r)})"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="the shared data folder")
    p.add_argument("--n-boot", type=int, default=200)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    print("median pT(reco)/pT(gen) ± bootstrap std (jets) per gen-pT bin [GeV]")
    families = {name: sorted(glob.glob(os.path.join(args.data, pat))) for name, pat in FAMILIES.items()}
    for paths in families.values():
        for path in paths:
            gen, reco = _jets([path])
            cells = []
            for lo, hi in BINS:
                b = (gen[:, 0] >= lo) & (gen[:, 0] < hi)
                cells.append(_median_cell(f"{lo}–{hi}", reco["pt"][b] / gen[b, 0], rng, args.n_boot))
            print(f"  {os.path.basename(path)}  " + " | ".join(cells))
    by_shape, shares = [], []
    for name, paths in families.items():
        if not paths:
            continue
        gen, reco = _jets(paths)
        b = (gen[:, 0] >= 100) & (gen[:, 0] < 130)
        ratio, mpt = reco["pt"][b] / gen[b, 0], gen[b, 3] / gen[b, 0]
        cells = [
            _median_cell(f"{lo}–{hi}", ratio[(mpt >= lo) & (mpt < hi)], rng, args.n_boot)
            for lo, hi in ((0, 0.08), (0.08, 0.15), (0.15, 0.3))
        ]
        by_shape.append(f"  {name}: " + " | ".join(cells))
        ok = np.abs(reco["eta"]) < 2.5
        cells = []
        for cut in (100, 130, 150, 200):
            s = ok & (reco["pt"] > cut)
            cells.append(f"> {cut} GeV: {100 * np.mean(gen[s, 0] < 100):.2f}% of {s.sum()}")
        shares.append(f"  {name}: " + " | ".join(cells))
    print("\nmedian pT(reco)/pT(gen) at gen pT 100-130 GeV per gen m/pT bin", *by_shape, sep="\n")
    print("\nshare of Delphes reco jets (|eta| < 2.5) above a threshold matched to a gen jet under 100 GeV",
          *shares, sep="\n")

if __name__ == "__main__":
    main()
