"""Whole jets: a fast-sim's reco jets with and without its soft tail against Delphes' whole jets.

The fast-sims are trained on, and `hepgen evaluate` compares, each jet's leading k = 50 reco
constituents; a processor reclusters *whole* jets, and Delphes' have more than 50 constituents in
15–64% of the jets above 200 GeV. The dataset files record the whole reco jet (``reco/jet``:
pT, η, φ, mass, E, constituent count), so the whole jets can be compared on the held-out split:
per process and gen-pT bin, the median and IQR of pT and mass over the *whole gen jet's* (the
processor's denominators), for Delphes' whole jets, Delphes' own leading k (what the tables
keep), Delphes' leading k plus a tail placed by ``place_tail`` from the *true* count and pT beyond
them (a test of the placement alone), the model's leading k (what it made before the soft tail)
and the model's leading k plus its tail (``Runner.simulate(tail=True)``); Δ = each − Delphes' whole-jet
median ± paired bootstrap over gen jets (all draws of a jet together); and the
whole-jet constituent count: W1 to Delphes' over the Delphes half-vs-half floor (split by
event, 10 splits), and the share above k.

    python scripts/fastsim_whole_jets.py fastsim_ww_pu50 --data <its training files, its order> \\
        --exclude-events ../shared/data/samples/expected/delphes_ww_pu50_highpt_100ev.h5 --draws 5
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

BINS = np.array([200.0, 300.0, 400.0, 600.0, 1500.0])


def _sums(table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, mass, constituent count) of massless (…, n, 3) tables."""
    t = table.astype(np.float64)
    e = np.sqrt((t**2).sum(-1))
    px, py, pz, en = t[..., 0].sum(-1), t[..., 1].sum(-1), t[..., 2].sum(-1), e.sum(-1)
    return np.hypot(px, py), np.sqrt(np.maximum(en**2 - px**2 - py**2 - pz**2, 0)), (e > 0).sum(-1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="a fast-sim checkpoint with a soft tail (path or shipped name)")
    p.add_argument("--data", nargs="+", required=True, help="its training files, in its order")
    p.add_argument("--exclude-events", nargs="*", default=[], help="as in its training")
    p.add_argument("--split", default="test")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--n-boot", type=int, default=200)
    a = p.parse_args()

    from scipy.stats import wasserstein_distance

    from hepgen.commands import _exclude
    from hepgen.data.datasets import JetPairDataset
    from hepgen.evaluation import file_families
    from hepgen.inference import Runner
    from hepgen.metrics import detector
    from hepgen.metrics.floor import event_halves
    from hepgen.models.noise import keyed_uniform
    from hepgen.models.tail import place_tail, tail_targets

    runner = Runner(a.checkpoint)
    if runner.tail_config is None:
        raise SystemExit(f"{a.checkpoint}: no soft tail (hepgen train fastsim-fm --fit-tail)")
    ds = JetPairDataset(a.data, a.split, k=runner.k, seed=int(runner.dataset.get("split_seed", 0)),
                        gen_min_pt=float(runner.dataset.get("gen_min_pt", 100.0)),
                        exclude_events=_exclude(a.exclude_events))
    family = np.array(file_families(a.data))[(ds.event_keys >> 48).astype(np.int64)]
    gen_pt, gen_m = ds.gen_jet[:, 0].astype(np.float64), ds.gen_jet[:, 3].astype(np.float64)
    d_pt, d_m, d_n = (ds.reco_jet[:, i].astype(np.float64) for i in (0, 3, 5))
    k = runner.k
    pid = ds.gen_pid.numpy() if runner.needs_pid else None  # a checkpoint conditioned on the content
    draws = [runner.simulate(ds.gen.numpy(), seed=s, tail=True, pid=pid) for s in range(a.draws)]
    lead = [_sums(o[:, :k]) for o in draws]
    whole = [_sums(o) for o in draws]
    # Delphes' own leading k, and with a tail placed from the true count and pT beyond it
    table = ds.reco.numpy()
    m = int(runner.tail_config["max_particles"])
    rows = np.arange(len(table), dtype=np.uint64)
    y = tail_targets(ds.reco, torch.from_numpy(np.asarray(ds.reco_jet, np.float64)),
                     torch.from_numpy(keyed_uniform(rows, 2, stream=7))).numpy()
    d_lead, d_placed = _sums(table), _sums(place_tail(table, y, keyed_uniform(rows, 3 * m, stream=8), runner.R, m))
    print(f"{os.path.basename(runner.path)}, {a.split} split, {a.draws} draws per gen jet; whole gen jets' pT and "
          f"mass as denominators; Δ = each − Delphes (whole jets) median, ± paired bootstrap ({a.n_boot}) for the model\n")
    print("| process | gen pT [GeV] | jets | Delphes pT med / IQR | Delphes leading k: Δ pT | + true tail placed | "
          "model leading k: Δ pT, IQR ratio | + tail: Δ pT, IQR ratio "
          "| Delphes m med / IQR | Delphes leading k: Δ m | + true tail placed | model leading k: Δ m, IQR ratio | "
          "+ tail: Δ m, IQR ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows_n = []
    for fam in dict.fromkeys(family):
        s = family == fam
        res = {}
        for name, sims in (("lead", lead), ("tail", whole), ("d_lead", [d_lead]), ("d_placed", [d_placed])):
            res[name] = detector.response(
                gen_pt[s], gen_m[s], np.stack([x[0][s] for x in sims]), np.stack([x[1][s] for x in sims]),
                BINS, n_boot=a.n_boot, seed=0, reference=(d_pt[s], d_m[s]),
            )
        ref = detector.response(gen_pt[s], gen_m[s], d_pt[s], d_m[s], BINS)
        for b in range(len(BINS) - 1):
            if res["lead"]["n"][b] < 20:
                continue

            def cell(r, q, b=b):
                return f"{r[f'{q}_median_diff'][b]:+.4f} ± {r[f'{q}_median_diff_err'][b]:.4f}, {r[f'{q}_iqr_ratio'][b]:.2f}"

            def diff(r, q, b=b):
                return f"{r[f'{q}_median_diff'][b]:+.4f}"

            print(f"| {fam} | {BINS[b]:.0f}–{BINS[b + 1]:.0f} | {res['lead']['n'][b]} | "
                  f"{ref['pt_median'][b]:.4f} / {ref['pt_iqr'][b]:.3f} | {diff(res['d_lead'], 'pt')} | "
                  f"{diff(res['d_placed'], 'pt')} | {cell(res['lead'], 'pt')} | {cell(res['tail'], 'pt')} | "
                  f"{ref['mass_median'][b]:.4f} / {ref['mass_iqr'][b]:.3f} | {diff(res['d_lead'], 'mass')} | "
                  f"{diff(res['d_placed'], 'mass')} | {cell(res['lead'], 'mass')} | {cell(res['tail'], 'mass')} |")
        sel = s & (gen_pt > BINS[0]) & (np.abs(ds.reco_jet[:, 1]) < 2.5)
        rng = np.random.default_rng(0)
        floor, w_lead, w_tail = [], [], []
        for _ in range(10):
            ia, ib = event_halves(ds.event_keys[sel], rng)
            idx = np.flatnonzero(sel)
            floor.append(wasserstein_distance(d_n[idx[ia]], d_n[idx[ib]]))
            w_lead.append(wasserstein_distance(d_n[idx[ia]], lead[0][2][idx[ib]]))
            w_tail.append(wasserstein_distance(d_n[idx[ia]], whole[0][2][idx[ib]]))
        rows_n.append((fam, int(sel.sum()), np.mean(floor), np.mean(w_lead), np.mean(w_tail),
                       (d_n[sel] > k).mean(), (lead[0][2][sel] >= k).mean(), (whole[0][2][sel] > k).mean(),
                       d_n[sel].mean(), whole[0][2][sel].mean()))
    print(f"\nWhole-jet constituent count (gen jets above {BINS[0]:.0f} GeV, |η| < 2.5; first draw): W1 / Delphes floor\n")
    print(f"| process | jets | floor W1 | leading k | + tail | Delphes > {k} | model's table full | model + tail > {k} | mean n: Delphes / model + tail |")
    print("|---|---|---|---|---|---|---|---|---|")
    for fam, n, fl, wl, wt, dk, lk, tk, dm, tm in rows_n:
        print(f"| {fam} | {n} | {fl:.3g} | {wl / fl:.2f} | {wt / fl:.2f} | {dk:.2f} | {lk:.2f} | {tk:.2f} | {dm:.1f} / {tm:.1f} |")


if __name__ == "__main__":
    main()
