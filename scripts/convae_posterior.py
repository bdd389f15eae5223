"""Posterior-collapse diagnosis of ConVAE checkpoints (issue 12): per latent dimension, the
validation-mean KL(q(z|x) ‖ N(0, 1)) and the activity Cov_x(E[z|x]) (Burda et al. 2015: a unit
is active above 0.01); the reconstruction (Chamfer distance, normalised features) and the
reconstructed jets' pT and mass response; EMD_sum of generated jets.

    python scripts/convae_posterior.py data/models/convae_gluon.pt out/convae_fb.pt \
        --data ../shared/data/gluon_r08_s2*.h5 -o docs/seed000/posterior
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from hepgen.data.datasets import JetDataset
from hepgen.data.postprocess import jet_feature_dict, to_cartesian
from hepgen.inference import Runner
from hepgen.losses import chamfer
from hepgen.metrics.distances import emd_sum
from hepgen.physics.kinematics import jet_features
from hepgen.train.generation import to_table


def diagnose(path: str, data: list[str], n: int = 4000) -> dict:
    r = Runner(path)
    model = r.model
    vae = getattr(model, "vae", model)
    norm = r.norms["table"]
    va = JetDataset(data, "reco", "valid", k=r.k, seed=r.dataset.get("split_seed", 0))
    x = va.constituents[:n].double()
    coords, axes = r.coordinates, r.jet_axes
    if coords in ("jet_frame", "jet_polar"):  # reconstruct in the input jet's own direction
        axes = torch.from_numpy(jet_features(x.numpy())[:, :3]).float()
    xn = norm.forward(torch.from_numpy(to_table(x.numpy(), coords))).float()
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        mu, logvar = vae.encode(xn)
        kl_dim = (-0.5 * (1 + logvar - mu**2 - logvar.exp())).mean(0).numpy()
        activity = mu.var(0).numpy()
        rec = vae.decode(mu)
        ch = float(chamfer(xn, rec, squared=False).mean())
        gen = model.sample(n, generator=g)
    target = jet_feature_dict(x.numpy())
    if coords in ("jet_frame", "jet_polar"):
        from hepgen.physics.coordinates import from_jet_frame, from_jet_polar

        back = from_jet_frame if coords == "jet_frame" else from_jet_polar
        assert axes is not None  # set above for these coordinates
        rec_c = back(norm.inverse(rec.float()).double().numpy(), axes.double().numpy()[:, 1:3])
        recj = jet_feature_dict(rec_c)
    else:
        recj = jet_feature_dict(to_cartesian(rec, norm, coords, axes, g))
    genj = jet_feature_dict(to_cartesian(gen, norm, coords, r.jet_axes, g))
    ratio_pt = recj["pt"] / target["pt"]
    ratio_m = recj["mass"] / np.maximum(target["mass"], 1e-3)
    q = lambda a: [float(v) for v in np.percentile(a, [25, 50, 75])]  # noqa: E731
    return {
        "checkpoint": path,
        "config": {k: r.config.get(k, (r.config.get("vae") or {}).get(k)) for k in ("beta", "free_bits", "latent", "frame")},
        "kl_total": float(kl_dim.sum()),
        "kl_per_dim": [float(v) for v in kl_dim],
        "active_units": int((activity > 0.01).sum()),
        "activity": [float(v) for v in activity],
        "chamfer": ch,
        "reco_pt_ratio_q25_50_75": q(ratio_pt),
        "reco_mass_ratio_q25_50_75": q(ratio_m),
        "reco_mass_corr": float(np.corrcoef(recj["mass"], target["mass"])[0, 1]),
        "emd_sum_reconstructed": emd_sum(target, recj),
        "emd_sum_generated": emd_sum(target, genj),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("-n", type=int, default=4000)
    p.add_argument("-o", "--output", type=Path, required=True)
    a = p.parse_args()
    a.output.mkdir(parents=True, exist_ok=True)
    rows = [diagnose(c, a.data, a.n) for c in a.checkpoints]
    (a.output / "posterior.json").write_text(json.dumps(rows, indent=1))
    print(f"{'checkpoint':34s} {'frame':>5s} {'β':>6s} {'free':>5s} {'KL':>8s} {'active':>7s} {'Chamfer':>8s} "
          f"{'m corr':>7s} {'pT rec/in':>9s} {'EMD rec':>8s} {'EMD gen':>8s}")
    for r in rows:
        c = r["config"]
        print(f"{Path(r['checkpoint']).name:34s} {c['frame'] or 'lab':>5s} {c['beta']:6.3f} {c['free_bits'] or 0:5.2f} "
              f"{r['kl_total']:8.3g} {r['active_units']:4d}/{len(r['kl_per_dim']):<3d}"
              f"{r['chamfer']:8.3f} {r['reco_mass_corr']:7.3f} {r['reco_pt_ratio_q25_50_75'][1]:9.3f} "
              f"{r['emd_sum_reconstructed']:8.3f} "
              f"{r['emd_sum_generated']:8.3f}")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for r in rows:
        ax.plot(sorted(r["kl_per_dim"], reverse=True), marker=".", label=Path(r["checkpoint"]).stem)
    ax.set_yscale("log")
    ax.set_xlabel("latent dimension (sorted)")
    ax.set_ylabel("mean KL per dimension [nats]")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(a.output / "kl_per_dim.png", dpi=120)


if __name__ == "__main__":
    main()
