"""Generator metrics with the ``jetnet`` package's own functions (issue 13): W1M, W1P, W1EFP,
FPD, KPD, COV/MMD of generated jets against the held-out test split, beside the real-vs-real
floor at the same sample size (the validation split against the test split), plus the W1 of jet
pT, mass, E, η, φ and multiplicity (scipy) with the same floor. A third column scores n jets
of the *training* split as if they were generated: what a model that reproduced its training
sample exactly would get against the same test jets (the truth floor a generator can reach).

    python scripts/jetnet_table.py epic_fm_gluon --reference ../shared/data/gluon_r08_s2*.h5 \
        [--steps 8] [--draws 10] [-o docs/generators/epic_fm.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import wasserstein_distance

from hepgen.data.datasets import JetDataset
from hepgen.inference import Runner
from hepgen.metrics.floor import event_halves
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.physics.kinematics import JET_FEATURES, jet_features, n_constituents


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
    out.update(feature_w1(real, other))
    return {k: float(v) for k, v in out.items()}


def feature_w1(a: np.ndarray, b: np.ndarray) -> dict:
    """W1 (scipy) of jet pT, η, φ, mass, E and multiplicity between two cartesian samples."""
    ja, jb = jet_features(a), jet_features(b)
    out = {f"W1_{f}": wasserstein_distance(ja[:, i], jb[:, i]) for i, f in enumerate(JET_FEATURES)}
    out["W1_n"] = wasserstein_distance(n_constituents(a), n_constituents(b))
    return out


def split_floors(pool: np.ndarray, keys: np.ndarray, n_splits: int, seed: int) -> dict:
    """Mean and spread of the jet-feature W1 between two event-split halves of ``pool`` (the
    held-out jets, valid + test: halves of the test split's size), over ``n_splits`` splits.

    One valid-vs-test pair is a single draw of a heavy-tailed quantity: for gluon jet pT, 30
    random pairs of 10.5k jets gave W1 from 2.4 to 5.3 GeV (10–90%), valid-vs-test 2.0.
    """
    rng = np.random.default_rng(seed)
    runs = [feature_w1(pool[a], pool[b]) for a, b in (event_halves(keys, rng) for _ in range(n_splits))]
    return {k: (float(np.mean([r[k] for r in runs])), float(np.std([r[k] for r in runs]))) for k in runs[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--reference", nargs="+", required=True)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--floor-splits", type=int, default=20,
        help="event splits of valid+test averaged for the jet-feature floors (0: valid vs test only)",
    )
    p.add_argument(
        "--no-train-baseline", action="store_true",
        help="skip the column of training jets scored as if generated",
    )
    p.add_argument(
        "--draws", type=int, default=1,
        help="jet-feature W1s also as mean ± std over this many generated samples (and as many "
        "training subsamples): one 10k-jet draw of the gluon jet-mass W1 spreads by ±30%%",
    )
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
    tr = None
    if not a.no_train_baseline:  # n training jets (no replacement) scored like the model
        tr = JetDataset(a.reference, "reco", "train", k=r.k, seed=split_seed).constituents.numpy()
        pick = np.random.default_rng(a.seed).choice(len(tr), min(n, len(tr)), replace=False)
        for k, v in metrics(test, apply_constituent_acceptance(tr[pick].astype(np.float64))).items():
            rows[k]["train_jets"] = v
    draws = {}
    if a.draws > 1:  # jet features: mean ± std over fresh samples (model) and subsamples (train)
        runs = [feature_w1(test, gen)] + [
            feature_w1(test, r.sample(n, seed=a.seed + 1000 * (i + 1)).astype(np.float64))
            for i in range(a.draws - 1)
        ]
        draws["model"] = runs
        if tr is not None:
            rng = np.random.default_rng(a.seed + 1)
            draws["train_jets"] = [
                feature_w1(test, apply_constituent_acceptance(
                    tr[rng.choice(len(tr), min(n, len(tr)), replace=False)].astype(np.float64)))
                for _ in range(a.draws)
            ]
    if a.floor_splits > 0:  # jet features: the floor averaged over event splits of valid + test
        keys = np.concatenate([sets["test"].event_keys[:n], sets["valid"].event_keys[:n]])
        for k, (mean, std) in split_floors(np.concatenate([test, valid]), keys, a.floor_splits, a.seed).items():
            rows[k].update(floor_valid_test=rows[k]["floor"], floor=mean, floor_std=std, ratio=rows[k]["model"] / mean if mean > 0 else None)
    for which, runs in draws.items():
        for k in runs[0]:
            vals = [run[k] for run in runs]
            rows[k][f"{which}_draws"] = (float(np.mean(vals)), float(np.std(vals)))
    for v in rows.values():
        if "train_jets" in v:
            v["train_ratio"] = v["train_jets"] / v["floor"] if v["floor"] > 0 else None
    print(
        f"{Path(a.checkpoint).stem}, steps {a.steps or r.config.get('steps')}: {n} generated vs {n} test jets; "
        f"floor = valid vs test ({n} each), jetnet.evaluation; jet features (W1_*): floor = mean of "
        f"{a.floor_splits} event splits of valid + test into halves (± std), valid vs test beside it"
    )
    print(
        "| metric | model | floor | ratio | valid-vs-test floor | training jets as model (ratio) |\n"
        "|---|---|---|---|---|---|"
    )
    for k, v in rows.items():
        ratio = f"{v['ratio']:.2f}" if v["ratio"] is not None else "—"
        fl = f"{v['floor']:.4g}" + (f" ± {v['floor_std']:.2g}" if "floor_std" in v else "")
        vt = f"{v['floor_valid_test']:.4g}" if "floor_valid_test" in v else "(same)"
        tj = (
            f"{v['train_jets']:.4g} ({v['train_ratio']:.2f})"
            if v.get("train_ratio") is not None else "—"
        )
        print(f"| {k} | {v['model']:.4g} | {fl} | {ratio} | {vt} | {tj} |")
    if draws:
        print(
            f"\njet features over {a.draws} draws (mean ± std of the W1; ratio of the means to the "
            "split-averaged floor):\n\n| feature | model | training jets | floor |\n|---|---|---|---|"
        )
        for k, v in rows.items():
            if "model_draws" not in v:
                continue
            cells = []
            for which in ("model_draws", "train_jets_draws"):
                if which in v:
                    m, sd = v[which]
                    cells.append(f"{m:.4g} ± {sd:.2g} ({m / v['floor']:.2f})" if v["floor"] > 0 else f"{m:.4g}")
                else:
                    cells.append("—")
            print(f"| {k} | {cells[0]} | {cells[1]} | {v['floor']:.4g} |")
    if a.output:
        a.output.parent.mkdir(parents=True, exist_ok=True)
        a.output.write_text(json.dumps(
            {"checkpoint": a.checkpoint, "n": n, "steps": a.steps, "draws": a.draws, "metrics": rows}, indent=1
        ))


if __name__ == "__main__":
    main()
