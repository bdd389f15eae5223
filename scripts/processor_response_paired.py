"""The jet response *in the processor* (after reclustering), paired jet by jet with Delphes.

`hepgen run` fills the response histograms of the reclustered hepgen and Delphes jets (each
paired with its gen jet) and compares their medians; on the shipped samples that rests on ~20–80
jets per bin, where a median carries ±0.02–0.05 of gen-jet population noise on each side. Here
both sources are paired with the *same* gen jets and the model is run with several noise seeds,
so the median difference hepgen − Delphes gets the standard deviation of a paired bootstrap
over gen jets (each resample takes a gen jet's Delphes response and all its draws together):

    python scripts/processor_response_paired.py --seeds 10 [--checkpoint fastsim_ww_pu50] [FILES]

Default files: the shipped Delphes samples with pile-up 50 (boosted WW 100 events, QCD and tt̄ 50
events each); `scripts/pairs_to_nanoaod.py` turns the HDF5 sets' held-out jet pairs into
PFNanoAOD-like files (one pair per event) for the same measurement on thousands of jets. Gen jets as in the processor's response histograms (pT 200–1500 GeV, |η| < 2.5)
whose Delphes jet lies within ΔR < R/2; a hepgen draw without such a jet is left out of its
median (counted).
"""

from __future__ import annotations

import argparse
import os

import numpy as np

BINS = [(200, 300), (300, 400), (400, 600), (200, 1500)]
SAMPLES = (
    "delphes_ww_pu50_highpt_100ev.root",
    "delphes_qcd_pu50_highpt_50ev.root",
    "delphes_ttbar_pu50_highpt_50ev.root",
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="*", help="Delphes or PFNanoAOD ROOT files (default: the shipped pile-up 50 "
                   "samples; scripts/pairs_to_nanoaod.py writes the held-out jet pairs of the HDF5 sets as such files)")
    p.add_argument("--checkpoint", default="fastsim_ww_pu50")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--n-boot", type=int, default=500)
    p.add_argument("--no-tail", action="store_true",
                   help="the model's leading k constituents only, without its soft tail: for files whose reco "
                   "side holds only each jet's leading k (scripts/pairs_to_nanoaod.py writes such)")
    a = p.parse_args()

    from hepgen import shipped
    from hepgen.io.formats import detect_events, open_events
    from hepgen.metrics import detector
    from hepgen.processors import FastSimProcessor
    from hepgen.processors.histograms import match_to_gen

    files = a.files or [str(shipped.sample(s)) for s in SAMPLES]
    rows = []  # per file: (process, gen pt, gen mass, delphes pt, mass, hepgen pt (S, n), mass (S, n))
    unmatched = total = 0
    for f in files:
        events = open_events(f)
        hp, hm = [], []
        for s in range(a.seeds):
            proc = FastSimProcessor(a.checkpoint, seed=s, tail=False if a.no_tail else None)
            sources, _ = proc.sources(events)
            if s == 0:
                md = match_to_gen(sources["gen"], sources[detect_events(events).reference_source], proc.R)
            mh = match_to_gen(sources["gen"], sources["hepgen"], proc.R)
            hp.append(mh["reco_pt"])
            hm.append(mh["reco_mass"])
        keep = md["matched"] & (md["gen_mass"] > 0)
        hp_k, hm_k = np.array(hp)[:, keep], np.array(hm)[:, keep]
        unmatched += int(np.isnan(hp_k).sum())
        total += hp_k.size
        name = os.path.basename(f)
        process = next((t for t in ("ww", "qcd", "ttbar") if f"_{t}_" in name), name)
        gp, gm = md["gen_pt"][keep], md["gen_mass"][keep]
        rows.append((process, gp, gm, md["reco_pt"][keep], md["reco_mass"][keep], hp_k, hm_k))
    print(f"{a.checkpoint} in the processor, {a.seeds} noise seeds, paired with Delphes on the same gen jets "
          f"({unmatched} of {total} hepgen draws without a reco jet within R/2, left out); "
          f"Δ = hepgen − Delphes median ± paired-bootstrap std ({a.n_boot} resamples)\n")
    print("| process | gen pT [GeV] | jets | Delphes pT med | hepgen pT med | Δ pT | pT IQR ratio "
          "| Delphes m med | hepgen m med | Δ m | m IQR ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    groups = sorted({r[0] for r in rows}) + ["all"]
    for g in groups:
        sel = [r for r in rows if g in ("all", r[0])]
        gp, gm = (np.concatenate([r[i] for r in sel]) for i in (1, 2))
        dp, dm, hp, hm = (np.concatenate([r[i] for r in sel], axis=-1) for i in (3, 4, 5, 6))
        for lo, hi in BINS:
            b = (gp >= lo) & (gp < hi)
            if b.sum() < 5:
                continue
            # the paired bootstrap of `hepgen evaluate` (draws without a reco jet, NaN, left out)
            r = detector.response(gp[b], gm[b], hp[:, b], hm[:, b], np.array([lo, hi]), n_boot=a.n_boot,
                                  seed=rng, reference=(dp[b], dm[b]))
            cells = [g, f"{lo}–{hi}", str(int(b.sum()))]
            for q in ("pt", "mass"):
                med, diff = r[f"{q}_median"][0], r[f"{q}_median_diff"][0]
                cells += [f"{med - diff:.3f}", f"{med:.3f}", f"{diff:+.3f} ± {r[f'{q}_median_diff_err'][0]:.3f}",
                          f"{r[f'{q}_iqr_ratio'][0]:.2f}"]
            print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
