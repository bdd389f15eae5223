"""The fast-sim's constituent pT spectrum against Delphes' (the leading 50 of each reco jet above
200 GeV, |η| < 2.5, on the checkpoint's test split): quantiles, the shares below 0.3 / 0.5 / 1 GeV,
and the W1 of log pT over the Delphes half-vs-half floor (split by event, 5 splits). The jet-level
tables cannot see it: the projections fix every jet's totals whatever the particles' spectrum.

    python scripts/fastsim_soft_end.py fastsim_ww_pu50 --data <its training files, its order> \\
        --exclude-events ../shared/data/samples/expected/delphes_ww_pu50_highpt_100ev.h5 \\
        [--set project_substructure=false ...]
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--exclude-events", nargs="*", default=[])
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="inference settings (JSON values)")
    a = p.parse_args()

    from scipy.stats import wasserstein_distance

    from hepgen.commands import _exclude
    from hepgen.data.datasets import JetPairDataset
    from hepgen.evaluation import file_families
    from hepgen.inference import Runner
    from hepgen.metrics.floor import event_halves

    settings = {k: json.loads(v) for k, v in (s.split("=", 1) for s in a.set)}
    runner = Runner(a.checkpoint, settings=settings or None)
    ds = JetPairDataset(a.data, "test", k=runner.k, seed=int(runner.dataset.get("split_seed", 0)),
                        gen_min_pt=float(runner.dataset.get("gen_min_pt", 100.0)),
                        exclude_events=_exclude(a.exclude_events))
    family = np.array(file_families(a.data))[(ds.event_keys >> 48).astype(np.int64)]
    out = runner.simulate(ds.gen.numpy(), seed=0)
    pt_d, pt_m = np.hypot(ds.reco[..., 0].numpy(), ds.reco[..., 1].numpy()), np.hypot(out[..., 0], out[..., 1])
    print(f"{a.checkpoint} {settings or ''}: constituent pT, test split, reco jets above 200 GeV\n")
    print("| process | source | particles | pT 5% / 25% / 50% / 75% [GeV] | < 0.3 / 0.5 / 1 GeV | W1(log pT) / floor |")
    print("|---|---|---|---|---|---|")
    for fam in dict.fromkeys(family):
        idx = np.flatnonzero((family == fam) & (ds.reco_jet[:, 0] > 200) & (np.abs(ds.reco_jet[:, 1]) < 2.5))
        rng = np.random.default_rng(0)
        floor, model = [], []
        for _ in range(5):
            ia, ib = event_halves(ds.event_keys[idx], rng)
            ref = np.log(pt_d[idx[ia]][pt_d[idx[ia]] > 0])
            floor.append(wasserstein_distance(ref, np.log(pt_d[idx[ib]][pt_d[idx[ib]] > 0])))
            model.append(wasserstein_distance(ref, np.log(pt_m[idx[ib]][pt_m[idx[ib]] > 0])))
        for name, pt in (("Delphes", pt_d), ("model", pt_m)):
            x = pt[idx][pt[idx] > 0]
            q = " / ".join(f"{v:.2f}" for v in np.percentile(x, [5, 25, 50, 75]))
            shares = " / ".join(f"{(x < c).mean():.3f}" for c in (0.3, 0.5, 1.0))
            ratio = f"{np.mean(model) / np.mean(floor):.1f}" if name == "model" else f"(floor {np.mean(floor):.4f})"
            print(f"| {fam} | {name} | {len(x)} | {q} | {shares} | {ratio} |")


if __name__ == "__main__":
    main()
