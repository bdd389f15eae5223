"""Are the fast-sim v2 response-median offsets real? K-fold cross-validation of the response flow
(`hepgen.train.fastsim_fm.cross_validate_response`): every jet of every file gets responses from a
flow that never saw its event, so each (process, gen-pT bin) cell is judged on all its jets instead
of the 15% test split (boosted WW 300–400 GeV: ~7 000 jets instead of 1 100).

    python scripts/fastsim_response_cv.py out/cv --source fastsim_ww_pu50 \\
        --data ../shared/data/fastsim_{ww_pu50_highpt_s1*,qcd_pu50_highpt_s*,ttbar_pu50_highpt_s*}.h5 \\
        --exclude-events ../shared/data/samples/expected/delphes_ww_pu50_highpt_100ev.h5

Per cell it prints Delphes' median and IQR of reco/gen pT and mass, the cross-validated flow's
(all draws pooled) and the difference model − Delphes with its standard deviation from a *paired*
bootstrap over gen jets (each resample takes a jet's Delphes response and all its draws together:
both medians move with the gen-jet population, so the difference is known better than the two
errors combined). ✔ as in `hepgen evaluate`: median within 0.01, IQR within ±20%. The arrays are
kept in OUTPUT_DIR/cv_flow.npz (cv_simulation.npz with
`--simulate`: each fold's flow in the full simulation chain, the source's particle network); `--resume` continues an interrupted run (finished folds are skipped).
Jets as in scripts/fastsim_response_medians.py (no acceptance cuts; gen mass > 0.1 GeV).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

BINS = [(200, 300), (300, 400), (400, 600), (600, 1500)]


def common_arguments(doc: str) -> argparse.ArgumentParser:
    """The arguments this script shares with scripts/response_context_cv.py."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("output_dir")
    p.add_argument("--source", default="fastsim_ww_pu50")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--exclude-events", nargs="+", default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--n-boot", type=int, default=200)
    p.add_argument("--min-jets", type=int, default=30)
    return p


def main() -> None:
    p = common_arguments(__doc__)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--simulate", action="store_true",
                   help="draw from the full simulation with each fold's flow (default: the flow alone, true n)")
    p.add_argument("--test-split", action="store_true",
                   help="also print the table on the source's own test split (its split seed, these files)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--seed", type=int, default=0,
                   help="the flows' training seed (as `--members`: a refit's member j is seed j)")
    p.add_argument("--pool", nargs="+", default=[],
                   help="OUTPUT_DIRs of runs with other --seed: their draws are pooled with this run's, "
                        "as the shipped mixture of refits draws each jet from a uniform member")
    p.add_argument("-q", "--quiet", action="store_true")
    a = p.parse_args()

    from dataclasses import replace

    from hepgen.commands import _exclude
    from hepgen.train.fastsim_fm import cross_validate_response
    from hepgen.train.loop import TrainConfig

    exclude = _exclude(a.exclude_events)
    train = replace(TrainConfig(epochs=100, batch_size=512, learning_rate=3e-4, patience=20, schedule="cosine"),
                    epochs=a.epochs, seed=a.seed)
    cv = cross_validate_response(
        a.source, a.data, a.output_dir, folds=a.folds, draws=a.draws, train=train, exclude_events=exclude,
        resume=a.resume, progress=not a.quiet, simulate=a.simulate,
    )
    what = "simulation" if a.simulate else "flow"
    np.savez_compressed(os.path.join(a.output_dir, f"cv_{what}.npz"), **cv)
    label = "CV simulation" if a.simulate else "CV flow"
    table(cv, f"{a.source}: {a.folds}-fold cross-validated response {what}, {a.draws} draws per jet", label, a)
    if a.pool:
        runs = [cv] + [dict(np.load(os.path.join(d, f"cv_{what}.npz"))) for d in a.pool]
        for other in runs[1:]:  # the same jets in the same folds, or pooling means nothing
            for key in ("index", "fold", "gen_pt", "reco_mass"):
                if not np.array_equal(other[key], cv[key]):
                    raise SystemExit(f"--pool: the runs differ in {key} (other data, folds or exclusions)")
        cv = {**cv, **{q: np.concatenate([r[q] for r in runs]) for q in ("pt_ratio", "mass_ratio")}}
        label += f", {len(runs)} flows"
        table(cv, f"the draws of {len(runs)} flows per fold pooled (a uniform mixture, as shipped)", label, a)
    if a.test_split:
        from hepgen.data.datasets import JetPairDataset
        from hepgen.models import checkpoint
        from hepgen.shipped import resolve_checkpoint

        ck = checkpoint.load(resolve_checkpoint(a.source))
        test = JetPairDataset(a.data, "test", k=ck["dataset"]["k"], seed=ck["dataset"].get("split_seed", 0),
                              gen_min_pt=100.0, exclude_events=exclude).index
        keep = np.isin(cv["index"], test)
        sub = {key: v[..., keep] for key, v in cv.items()}
        table(sub, f"the same draws on {a.source}'s test split only", label, a)


def table(cv: dict, title: str, label: str, a: argparse.Namespace) -> None:
    """Print the per-(process, gen-pT bin) comparison of ``cv``'s draws with Delphes."""
    rng = np.random.default_rng(0)
    print(f"{title}, {len(cv['gen_pt'])} jets; model − Delphes ± paired-bootstrap std ({a.n_boot} resamples)")
    print(f"| process | gen pT [GeV] | jets | Delphes pT med / IQR | {label} pT med / IQR | Δ median | IQR ratio "
          f"| Delphes m med / IQR | {label} m med / IQR | Δ median | IQR ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    from hepgen.metrics import detector

    for fam in sorted(set(cv["family"])):
        for lo, hi in BINS:
            s = (cv["family"] == fam) & (cv["gen_pt"] > lo) & (cv["gen_pt"] < hi) & (cv["gen_mass"] > 0.1)
            if s.sum() < a.min_jets:
                continue
            gp, gm = cv["gen_pt"][s], cv["gen_mass"][s]
            r = detector.response(  # the paired bootstrap of `hepgen evaluate`, one stream for the table
                gp, gm, cv["pt_ratio"][:, s] * gp, cv["mass_ratio"][:, s] * gm, np.array([lo, hi]),
                n_boot=a.n_boot, seed=rng, reference=(cv["reco_pt"][s], cv["reco_mass"][s]),
            )
            row = [fam, f"{lo}–{hi}", str(int(s.sum()))]
            for name in ("pt", "mass"):
                c = {k[len(name) + 1:]: v[0] for k, v in r.items() if k.startswith(f"{name}_")}
                d_med, d_iqr = c["median"] - c["median_diff"], c["iqr"] / c["iqr_ratio"]
                ok = abs(c["median_diff"]) <= 0.01 and abs(c["iqr_ratio"] - 1) <= 0.2
                row += [
                    f"{d_med:.3f} / {d_iqr:.3f}", f"{c['median']:.3f} / {c['iqr']:.3f}",
                    f"{c['median_diff']:+.4f} ± {c['median_diff_err']:.4f} {'✔' if ok else '✘'}",
                    f"{c['iqr_ratio']:.2f} ± {c['iqr_ratio_err']:.2f}",
                ]
            print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
