"""Generator metrics with the ``jetnet`` package's own functions (issue 13): W1M, W1P, W1EFP,
FPD, KPD, COV/MMD of generated jets against the held-out test split, beside the real-vs-real
floor at the same sample size (the validation split against the test split), plus the W1 of jet
pT, mass, E, η, φ and multiplicity (scipy) with the same floor.

    python scripts/jetnet_table.py epic_fm_gluon --reference ../shared/data/gluon_r08_s2*.h5 \
        [--steps 8] [-o docs/generators/epic_fm.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import wasserstein_distance

from hepgen.data.datasets import JetDataset
from hepgen.inference import Runner
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.physics.kinematics import JET_FEATURES, jet_features


def metrics(real: np.ndarray, other: np.ndarray, seed: int = 0) -> dict:
    import jetnet.evaluation as je

    rr, ro = to_relative(real), to_relative(other)
    n = min(len(rr), len(ro))
    out = {}
    out["W1M"], _ = je.w1m(rr, ro, num_eval_samples=min(n, 50_000), num_batches=5)
    w1p, _ = je.w1p(rr, ro, num_eval_samples=min(n, 50_000), num_batches=5)
    out["W1P"] = float(np.mean(w1p))
    w1efp, _ = je.w1efp(rr, ro, num_eval_samples=min(n, 50_000), num_batches=5)
    out["W1EFP"] = float(np.mean(w1efp))
    fr, fo = je.get_fpd_kpd_jet_features(rr), je.get_fpd_kpd_jet_features(ro)
    # FPD: jetnet's 1/N extrapolation from N/2 to N jets (its defaults assume ≥ 50k jets)
    out["FPD"], _ = je.fpd(fr, fo, min_samples=n // 2, max_samples=n, seed=seed)
    out["KPD"], _ = je.kpd(fr, fo, batch_size=min(n, 5000), seed=seed)
    out["COV"], out["MMD"] = je.cov_mmd(rr, ro, num_eval_samples=100, num_batches=10, use_tqdm=False)
    jr, jo = jet_features(real), jet_features(other)
    for i, f in enumerate(JET_FEATURES):
        out[f"W1_{f}"] = wasserstein_distance(jr[:, i], jo[:, i])
    out["W1_n"] = wasserstein_distance((rr[..., 2] > 0).sum(1), (ro[..., 2] > 0).sum(1))
    return {k: float(v) for k, v in out.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--reference", nargs="+", required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("-o", "--output", type=Path, default=None)
    a = p.parse_args()
    r = Runner(a.checkpoint, steps=a.steps)
    split_seed = r.dataset.get("split_seed", 0)
    sets = {s: JetDataset(a.reference, "reco", s, k=r.k, seed=split_seed) for s in ("test", "valid")}
    test, valid = (apply_constituent_acceptance(sets[s].constituents.numpy().astype(np.float64)) for s in ("test", "valid"))
    n = min(len(test), len(valid))
    test, valid = test[:n], valid[:n]
    gen = r.sample(n, seed=a.seed).astype(np.float64)
    floor, model = metrics(test, valid), metrics(test, gen)
    rows = {k: {"model": model[k], "floor": floor[k], "ratio": model[k] / floor[k] if floor[k] > 0 else None} for k in model}
    print(f"{Path(a.checkpoint).stem}, steps {a.steps or r.config.get('steps')}: {n} generated vs {n} test jets; floor = valid vs test ({n} each), jetnet.evaluation")
    print("| metric | model | floor | ratio |\n|---|---|---|---|")
    for k, v in rows.items():
        ratio = f"{v['ratio']:.2f}" if v["ratio"] is not None else "—"
        print(f"| {k} | {v['model']:.4g} | {v['floor']:.4g} | {ratio} |")
    if a.output:
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(json.dumps({"checkpoint": a.checkpoint, "n": n, "steps": a.steps, "metrics": rows}, indent=1))


if __name__ == "__main__":
    main()
