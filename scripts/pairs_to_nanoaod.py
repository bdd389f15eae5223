"""Jet pairs of the shared HDF5 sets → PFNanoAOD-like ROOT files, one jet pair per event, so
that the processor's whole chain (`hepgen run`: clustering, keyed noise, reclustering,
acceptance, the response pairing) can be measured on thousands of held-out jets instead of the
~40 per bin of the shipped Delphes samples:

    python scripts/pairs_to_nanoaod.py ../shared/data/fastsim_{ww_pu50_highpt_s1,qcd_pu50_highpt_s,ttbar_pu50_highpt_s}*.h5 -o out/pairs
    python scripts/processor_response_paired.py --seeds 5 out/pairs/pairs_*_test.root

Each event holds one pair: ``GenCands`` = the gen jet's leading-k constituents (massless, with
their PDG ids), ``PFCands`` = the matched Delphes reco jet's (EFlow, massless). What this is not:
whole events — neighbouring jets, the soft particles beyond the leading k and the pile-up
outside the jets are absent on both sides alike, so it tests the chain and the model, not the
clustering of crowded events (the shipped Delphes samples do that). The split is the one
`hepgen evaluate` takes for the files in the order given (by event, 70/15/15, seed 0): give the
checkpoint's training files in its order to get its held-out events. Files are written per
process (``_ww_``, ``_qcd_``, ``_ttbar_`` in the file name, else the file's stem).
"""

from __future__ import annotations

import argparse
import os
import re

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", help="HDF5 jet-pair files (a checkpoint's training list, in its order)")
    p.add_argument("-o", "--output", default="out/pairs", help="folder for pairs_<process>_<split>.root")
    p.add_argument("--split", default="test", choices=["train", "valid", "test", "all"])
    p.add_argument("--split-seed", type=int, default=0)
    a = p.parse_args()

    import awkward as ak
    import uproot

    from hepgen.data.datasets import load_pairs, split_indices
    from hepgen.physics.coordinates import cartesian_to_ptetaphi

    pairs, keys = load_pairs(a.files)
    idx = np.arange(len(pairs)) if a.split == "all" else split_indices(keys, seed=a.split_seed)[a.split]
    source = keys >> 48
    names = [os.path.basename(f) for f in a.files]
    process = [next((t for t in ("ww", "qcd", "ttbar") if f"_{t}_" in n), re.sub(r"\.h5$", "", n)) for n in names]
    os.makedirs(a.output, exist_ok=True)
    for proc in dict.fromkeys(process):
        rows = idx[np.isin(source[idx], [i for i, q in enumerate(process) if q == proc])]
        cands = {}
        for side, branch in (("gen", "GenCands"), ("reco", "PFCands")):
            c = getattr(pairs, side).constituents[rows].astype(np.float64)
            pid = getattr(pairs, side).pid[rows].astype(np.int32)
            h = cartesian_to_ptetaphi(c)
            real = h[..., 0] > 0
            counts = real.sum(1)
            flat = {
                "pt": h[..., 0][real], "eta": h[..., 1][real], "phi": h[..., 2][real],
                "mass": np.zeros(int(counts.sum())), "pdgId": pid[real],
            }
            cands[branch] = ak.zip({
                k: ak.unflatten(v.astype(np.int32 if k == "pdgId" else np.float32), counts)
                for k, v in flat.items()
            })
        path = os.path.join(a.output, f"pairs_{proc}_{a.split}.root")
        with uproot.recreate(path) as f:
            f.mktree("Events", {"run": np.int32, "luminosityBlock": np.int32, "event": np.uint64,
                                **{b: v.type.content for b, v in cands.items()}})
            f["Events"].extend({
                "run": np.ones(len(rows), np.int32), "luminosityBlock": np.ones(len(rows), np.int32),
                "event": np.arange(len(rows), dtype=np.uint64), **cands,
            })
        print(f"{path}: {len(rows)} events (jet pairs) of {proc}, {a.split} split")


if __name__ == "__main__":
    main()
