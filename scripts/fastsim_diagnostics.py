"""Diagnostics behind RESULTS.md §2's inference settings of fast-sim v2 (FSFM), on held-out
boosted-WW jets with gen pT 200–300 GeV:

- the pT projection factor: the jet pT the particle network produces on its own (``project``
  off) against the sampled jet response — 2 midpoint steps overshoot by ~14%, 3+ do not;
- Flow_4 percentiles (outer annulus) against Delphes, per mass-projection mode;
- particles per jet below the 0.25 GeV EFlow threshold (what ``min_pt`` is for).

    python scripts/fastsim_diagnostics.py [CHECKPOINT] --data ../shared/data/fastsim_ww_pu50_highpt_s1*.h5 \\
        [--steps 2 3 4]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset
from hepgen.metrics import detector
from hepgen.models import checkpoint
from hepgen.models.fastsim_fm import FSFM, FSFMConfig
from hepgen.physics.coordinates import cartesian_to_ptetaphi
from hepgen.physics.kinematics import jet_features
from hepgen.shipped import resolve_checkpoint

Q = [5, 10, 25, 50, 75, 90, 95]


def build(ck: dict, **overrides) -> FSFM:
    model = FSFM(FSFMConfig.from_dict({**ck["config"], **overrides}))
    model.load_state_dict(ck["state_dict"])
    return model.eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", nargs="?", default="fastsim_ww_pu50")
    p.add_argument("--data", nargs="+", required=True, help="the files the checkpoint was trained on (its split)")
    p.add_argument("--steps", nargs="+", type=int, default=[2, 3, 4])
    p.add_argument("--seed", type=int, default=3)
    a = p.parse_args()
    path = resolve_checkpoint(a.checkpoint)
    ck = checkpoint.load(path)
    ds = JetPairDataset(a.data, "test", k=ck["dataset"]["k"], seed=ck["dataset"].get("split_seed", 0), gen_min_pt=100.0)
    sel = (ds.gen_jet[:, 0] > 200) & (ds.gen_jet[:, 0] < 300)
    gen, reco = ds.gen[sel], ds.reco[sel]
    print(f"{path.name}: {len(gen)} test jets with gen pT 200–300 GeV; config {ck['config']}")
    g = lambda: torch.Generator().manual_seed(a.seed)  # noqa: E731

    print("\npT projection factor (sampled response / the network's own jet pT), percentiles 10/25/50/75/90:")
    with torch.no_grad():
        for s in a.steps:
            raw = build(ck, steps=s, project=False, project_mass=False, min_pt=0.0).simulate(gen, generator=g())
            full = build(ck, steps=s).simulate(gen, generator=g())
            f = (jet_features(full.double())[:, 0] / jet_features(raw.double())[:, 0]).numpy()
            soft = cartesian_to_ptetaphi(raw.double())[..., 0].numpy()
            below = ((soft > 0) & (soft < 0.25)).sum(1).mean()
            print(f"  steps {s}: {np.round(np.percentile(f, [10, 25, 50, 75, 90]), 3)}; "
                  f"particles below 0.25 GeV per jet before min_pt: {below:.2f}")

    ref = detector.observables(reco.numpy(), ck["dataset"]["R"], apply_jet_cuts=False)
    print(f"\nFlow_4 percentiles {Q}:\n  Delphes:          {np.round(np.percentile(ref['flow4'], Q), 4)}")
    with torch.no_grad():
        for mode in ("scale", "radial"):
            out = build(ck, mass_mode=mode).simulate(gen, generator=g())
            o = detector.observables(out.numpy(), ck["dataset"]["R"], apply_jet_cuts=False)
            print(f"  mass_mode {mode:6s}: {np.round(np.percentile(o['flow4'], Q), 4)}")


if __name__ == "__main__":
    main()
