"""Seed 003's comparison: the same VAE trained with an MSE or a Chamfer reconstruction loss on
100-particle gluon jets — reconstruction and generation, jet features and average jet images.

    python scripts/seed003_report.py --mse CKPT --chamfer CKPT --reference ../shared/data/gluon_r08_s20*.h5 -o docs/seed003

Checkpoints come from ``hepgen train vae-mse`` / ``hepgen train vae-chamfer``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from hepgen.data.datasets import load_pairs, split_indices
from hepgen.data.postprocess import jet_feature_dict
from hepgen.inference import Runner
from hepgen.metrics.distances import emd_sum
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.plotting import LABELS, jet_image, jet_images_plot, ratio_plot


def reconstruct(r: Runner, jets: np.ndarray) -> np.ndarray:
    norm = r.norms["table"]
    with torch.inference_mode():
        x = norm.forward(torch.from_numpy(jets.astype(np.float64))).float()
        out = r.model(x, torch.Generator().manual_seed(0))[0]
    return apply_constituent_acceptance(norm.inverse(out.double()).numpy())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mse", required=True)
    p.add_argument("--chamfer", required=True)
    p.add_argument("--reference", nargs="+", required=True)
    p.add_argument("-n", type=int, default=3000)
    p.add_argument("-o", "--output", default="docs/seed003")
    args = p.parse_args()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    pairs, keys = load_pairs(args.reference, k=100, sides=("reco",))
    test = pairs.side("reco").constituents[split_indices(keys)["test"]][: args.n].astype(np.float64)
    runners = {"MSE": Runner(args.mse), "Chamfer": Runner(args.chamfer)}
    ref = jet_feature_dict(test)
    half = len(test) // 2
    floor = emd_sum(jet_feature_dict(test[:half]), jet_feature_dict(test[half:]))
    lines = ["| loss | EMD_sum reconstruction | EMD_sum generation | truth floor |", "|---|---|---|---|"]
    recs, gens = {}, {}
    for name, r in runners.items():
        recs[name] = reconstruct(r, test)
        gens[name] = r.sample(len(test), seed=0).astype(np.float64)
        lines.append(f"| {name} | {emd_sum(ref, jet_feature_dict(recs[name])):.4f} | "
                     f"{emd_sum(ref, jet_feature_dict(gens[name])):.4f} | {floor:.4f} |")
    for tag, samples in (("reconstruction", recs), ("generation", gens)):
        feats = {n: jet_feature_dict(s) for n, s in samples.items()}
        for f in ("mass", "pt", "eta", "phi", "E"):
            vals = {"input": ref[f], **{n: v[f] for n, v in feats.items()}}
            ratio_plot(vals, "input", out / f"{tag}_{f}.png", LABELS[f])
        imgs = {"input": jet_image(to_relative(test), extent=0.8)}
        imgs.update({n: jet_image(to_relative(s), extent=0.8) for n, s in samples.items()})
        jet_images_plot(imgs, out / f"{tag}_jet_images.png", extent=0.8)
    text = (f"Seed 003: MSE vs Chamfer VAE on 100-particle gluon jets ({len(test)} test jets).\n\n"
            + "\n".join(lines) + "\n\nFigures: reconstruction_*.png, generation_*.png, *_jet_images.png (100×100 in η–φ).\n")
    (out / "README.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
