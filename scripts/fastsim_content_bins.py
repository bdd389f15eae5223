"""RESULTS.md §2 "The jet response and the jet's particle content", full simulation: on a
checkpoint's test split, per gen-pT bin and bin of the gen jet's photon or neutral-hadron pT
fraction, the median and IQR of pT(reco)/pT(gen), the mass-response median and the mean
constituent multiplicity (top-k, after the acceptance), Delphes against
the simulated jets (``simulate_pairs``: the whole chain, drawn multiplicity and particles; the
content checkpoint gets the gen PDG ids from the file).

    python scripts/fastsim_content_bins.py CHECKPOINT <its training files, in its order> \\
        [--only-files _ww_] [--draws 3]
"""

from __future__ import annotations

import argparse

import numpy as np

from hepgen.data.datasets import load_pairs, split_indices
from hepgen.evaluation import CONTENT_BINS
from hepgen.inference import Runner
from hepgen.metrics import detector
from hepgen.physics.cuts import Acceptance
from hepgen.physics.kinematics import CONTENT, jet_features, particle_content
from hepgen.simulation import simulate_pairs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--only-files", default="_ww_")
    p.add_argument("--draws", type=int, default=3)
    a = p.parse_args()
    pairs, keys = load_pairs(a.files)
    idx = split_indices(keys, seed=0)["test"]
    idx = idx[np.isin(keys[idx] >> 48, [i for i, f in enumerate(a.files) if a.only_files in f])]
    pairs = pairs.take(idx)
    pairs.source_file = (keys[idx] >> 40).astype(np.int16)  # distinct event keys across files
    runner = Runner(a.checkpoint, device="cpu")
    c = pairs.side("gen").constituents.astype(np.float64)
    content = particle_content(c, pairs.side("gen").pid)
    gen = jet_features(c)
    acc = Acceptance()
    ref = detector.observables(pairs.side("reco").constituents, runner.R, acc, apply_jet_cuts=False)
    sims = [
        detector.observables(simulate_pairs(runner, pairs, seed=s, progress=False).side("reco").constituents,
                             runner.R, acc, apply_jet_cuts=False)
        for s in range(a.draws)
    ]
    print(f"{a.checkpoint}: {len(pairs)} test jets ({a.only_files}), {a.draws} draws")
    for lo, hi in ((200, 300), (300, 600)):
        inbin = (gen[:, 0] >= lo) & (gen[:, 0] < hi)
        for name in ("neutral hadron", "photon"):
            edges = CONTENT_BINS[name]
            f = content[:, CONTENT.index(name)]
            print(f"gen pT {lo}-{hi} GeV, {name} pT fraction")
            for e0, e1 in zip(edges[:-1], edges[1:]):
                m = inbin & (f >= e0) & (f < e1)
                if m.sum() < 30:
                    continue
                d = ref["pt"][m] / gen[m, 0]
                h = np.concatenate([s["pt"][m] / gen[m, 0] for s in sims])
                qd, qh = np.percentile(d, [25, 50, 75]), np.percentile(h, [25, 50, 75])
                dm = np.median(ref["mass"][m] / gen[m, 3])
                hm = np.median(np.concatenate([s["mass"][m] / gen[m, 3] for s in sims]))
                dn = ref["n_constituents"][m].mean()
                hn = np.mean([s["n_constituents"][m].mean() for s in sims])
                print(f"  {e0:.2f}-{min(e1, 1):.2f} n={m.sum():5d}  pT median Delphes {qd[1]:.3f} hepgen "
                      f"{qh[1]:.3f} ({qh[1] - qd[1]:+.3f}), IQR {qd[2] - qd[0]:.3f} / {qh[2] - qh[0]:.3f} "
                      f"({(qh[2] - qh[0]) / (qd[2] - qd[0]):.2f}x) | m median {dm:.3f} / {hm:.3f} ({hm - dm:+.3f})"
                      f" | mean multiplicity {dn:.2f} / {hn:.2f} ({hn - dn:+.2f})")


if __name__ == "__main__":
    main()
