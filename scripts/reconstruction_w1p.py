"""Where a ConVAE+NF's particle-level error comes from (issue 12, RESULTS.md §3c cause 6): the
validation jets reconstructed from the posterior mean, from a posterior draw, and jets sampled
through the flow, each scored like generated jets — W1P per feature (×10⁻³, jetnet's definition),
W1M, and the median ΔR to the axis of the 1st / 5th / 10th / 20th / 30th hardest particle —
beside the real jets, and the KL of each latent dimension (how many carry information).

    python scripts/reconstruction_w1p.py data/models/convae_nf_gluon.pt \
        --data ../shared/data/gluon_r08_s2*.h5 [-n 5000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from out_of_cone import median_dr_by_pt_rank  # scripts/ is on sys.path when run as a script

from hepgen.data.datasets import JetDataset
from hepgen.data.postprocess import to_cartesian
from hepgen.inference import Runner
from hepgen.metrics.jetnet import w1m, w1p
from hepgen.physics.coordinates import to_relative
from hepgen.train.generation import to_table


def rank_dr(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rel = to_relative(c)
    return median_dr_by_pt_rank(rel)[[0, 4, 9, 19, 29]], rel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--data", nargs="+", required=True, help="the model's gluon files (validation split)")
    p.add_argument("-n", type=int, default=5000)
    a = p.parse_args()
    r = Runner(a.checkpoint)
    if not hasattr(r.model, "vae"):
        raise SystemExit(f"{a.checkpoint}: not a ConVAE+NF checkpoint")
    m, norm = r.model.float(), r.norms["table"]
    va = JetDataset(a.data, "reco", "valid", k=30, seed=r.dataset.get("split_seed", 0))
    c = va.constituents.numpy()[: a.n].astype(np.float64)
    x = norm.forward(torch.from_numpy(to_table(c, r.coordinates))).float()
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        mu, logvar = m.vae.encode(x)
        outs = {
            "reconstructed (mean)": m.vae.decode(mu),
            "reconstructed (draw)": m.vae.decode(mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)),
            "sampled (flow)": m.sample(len(c), generator=g),
        }
    real_d, real_rel = rank_dr(c)
    print(f"{'real':22s} median ΔR {np.round(real_d, 3)}")
    for name, o in outs.items():
        d, rel = rank_dr(to_cartesian(o, norm, r.coordinates, r.jet_axes, torch.Generator().manual_seed(1)))
        w = w1p(real_rel, rel, n_batches=1)[0] * 1e3
        print(f"{name:22s} median ΔR {np.round(d, 3)}  W1P η/φ/pT ×1e3 {np.round(w, 1)}  "
              f"W1M {w1m(real_rel, rel, n_batches=1)[0]:.4f}")
    kl = (0.5 * (mu**2 + logvar.exp() - 1 - logvar)).mean(0).numpy()
    print(f"KL per latent dimension: total {kl.sum():.1f} nats, {int((kl > 0.5).sum())} of {len(kl)} dimensions > 0.5")


if __name__ == "__main__":
    main()
