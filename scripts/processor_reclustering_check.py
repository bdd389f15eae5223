"""Does the processor's reclustering change the fast-sim's jets? For events with one gen jet
above the processor's gen threshold, the jet of *all* the particles the model made for it
(before any clustering) against the leading reclustered hepgen jet of the same draw:

    python scripts/processor_reclustering_check.py out/pairs/pairs_ww_test.root [--checkpoint NAME] [--seed S] [--tail]

(`scripts/pairs_to_nanoaod.py` writes such files, one held-out jet pair per event; Delphes or
PFNanoAOD files work as well, where events hold several gen jets only their one-jet events
count.) Prints, per gen-pT bin, the median ratio reclustered / whole set of the mass and pT, the
fraction of jets whose mass the reclustering moved by more than 1%, and the fraction whose set
fell into more than one jet above 1 GeV.
"""

from __future__ import annotations

import argparse

import numpy as np

BINS = [(200, 300), (300, 400), (400, 600), (600, 1500)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file")
    p.add_argument("--checkpoint", default="fastsim_ww_pu50")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tail", action="store_true", help="the sets with the checkpoint's soft tail (whole jets)")
    a = p.parse_args()

    import awkward as ak

    from hepgen.io.formats import open_events
    from hepgen.physics.clustering import cluster
    from hepgen.processors import FastSimProcessor
    from hepgen.processors.fastsim import predicted_particles

    events = open_events(a.file)
    proc = FastSimProcessor(a.checkpoint, seed=a.seed)
    gen, _, _ = proc.read(events, need_reco=False)
    gen_jets = cluster(gen, proc.R, min_pt=proc.gen_min_pt)
    keys = proc.jet_keys(events, ak.to_numpy(ak.num(gen_jets)))
    pred = predicted_particles(proc.runner, gen_jets, keys, proc.acceptance, a.seed, tail=a.tail)
    one = ak.to_numpy(ak.num(gen_jets)) == 1
    made = pred[one]
    px, py, pz, E = (ak.to_numpy(ak.sum(made[f], axis=1)) for f in ("px", "py", "pz", "E"))
    m_set, pt_set = np.sqrt(np.maximum(E**2 - px**2 - py**2 - pz**2, 0)), np.hypot(px, py)
    lead = ak.firsts(cluster(made, proc.R, min_pt=proc.cluster_min_pt))
    m_jet = ak.to_numpy(ak.fill_none(lead.mass, 0.0))
    pt_jet = ak.to_numpy(ak.fill_none(lead.pt, 0.0))
    n_jets = ak.to_numpy(ak.num(cluster(made, proc.R, min_pt=1.0)))
    gen_pt = ak.to_numpy(ak.firsts(gen_jets[one]).pt)
    print(f"{a.file}: {int(one.sum())} of {len(one)} events with one gen jet above {proc.gen_min_pt:g} GeV; "
          f"{a.checkpoint}, seed {a.seed}{', with its soft tail' if a.tail else ''}\n")
    print("| gen pT [GeV] | jets | m reclustered / set, median | |Δm| > 1% | pT reclustered / set, median | > 1 jet |")
    print("|---|---|---|---|---|---|")
    for lo, hi in BINS:
        s = (gen_pt >= lo) & (gen_pt < hi) & (m_set > 0)
        if not s.any():
            continue
        r = m_jet[s] / m_set[s]
        print(f"| {lo}–{hi} | {int(s.sum())} | {np.median(r):.4f} | {np.mean(np.abs(r - 1) > 0.01):.3f} | "
              f"{np.median(pt_jet[s] / pt_set[s]):.4f} | {np.mean(n_jets[s] > 1):.3f} |")


if __name__ == "__main__":
    main()
