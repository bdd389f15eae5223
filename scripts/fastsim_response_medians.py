"""Where a fast-sim v2 (FSFM) response-median offset comes from (RESULTS.md §2): per process and
gen-pT bin, the median pT and mass response of Delphes against the model's response flow alone
(given the true and the sampled multiplicity) and against the full simulation (particle network
and projections), with the simulation's IQR over Delphes', on a chosen split of the
checkpoint's own file list.

    python scripts/fastsim_response_medians.py fastsim_ww_pu50 OTHER.pt --split train \\
        --data ../shared/data/fastsim_{ww_pu50_highpt_s1*,qcd_pu50_highpt_s*,ttbar_pu50_highpt_s*}.h5

The files must be the checkpoints' training list in its order (the split is by event over it).
Jets as in the response table of ``hepgen evaluate`` but without its acceptance cuts; bins with
fewer than ``--min-jets`` jets are skipped. The first line per checkpoint gives the response
flow's NLL on the split (per dimension, given the true multiplicity); the last the mean and the
largest |model − Delphes| over the printed (process, bin) cells, of the full simulation and of
the flow alone. "output / target": the median ratio of the simulated jet's pT and mass to the
ones its response draw asked for (the projection's targets): 1 where the particle network and
the projections pass the flow's response through unchanged.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset
from hepgen.metrics import detector
from hepgen.models import checkpoint
from hepgen.models.fastsim_fm import FSFM, FSFMConfig
from hepgen.physics.kinematics import jet_features
from hepgen.shipped import resolve_checkpoint
from hepgen.train.fastsim_fm import process_family

BINS = [(200, 300), (300, 400), (400, 600), (600, 1500)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--data", nargs="+", required=True)
    p.add_argument("--split", default="train", choices=["train", "valid", "test"])
    p.add_argument("--min-jets", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    for name in a.checkpoints:
        ck = checkpoint.load(resolve_checkpoint(name))
        model = FSFM(FSFMConfig.from_dict(ck["config"]))
        model.load_state_dict(ck["state_dict"])
        model.eval()
        ds = JetPairDataset(a.data, a.split, k=ck["dataset"]["k"], seed=ck["dataset"].get("split_seed", 0),
                            gen_min_pt=100.0)
        family = np.array([process_family(a.data[int(i)]) for i in ds.event_keys >> 48])
        g = torch.Generator().manual_seed(a.seed)
        with torch.no_grad():
            cn, _, pool, _, gjet = model._encode_gen(ds.gen)
            y, _, _, n = model._reco_targets(ds.reco, gjet)
            n_sampled = model.multiplicity(cn, torch.rand(len(cn), 1, generator=g), pool=pool)
            # the response flow's own draws, seeded apart from the simulation's (whose figures stay)
            g_flow, flow = torch.Generator().manual_seed(a.seed + 1), {}
            for label, m in (("flow, true n", n), ("flow, sampled n", n_sampled)):
                z = torch.randn(len(cn), model.noise_shapes()["response"][1][0], generator=g_flow)
                u = torch.rand(len(cn), 1, generator=g_flow) if "member" in model.noise_shapes() else None
                flow[label] = model._denorm("jet", model.response_sample(model._response_context(cn, m), z, u)).exp()
            # the simulation's noise drawn here exactly as simulate(generator=g) would, so that
            # the response it was asked to reach (its projection targets) can be recomputed
            noise = model.draw_noise(len(cn), g)
            sim = model.simulate(ds.gen, noise=noise)
            target = model._denorm("jet", model.response_sample(
                model._response_context(cn, model.multiplicity(cn, noise["count"], pool=pool)),
                noise["response"], noise.get("member"),
            )).exp().numpy()
            target = np.stack([target[:, 0] * gjet[:, 0].numpy(), target[:, 1] * gjet[:, 3].clamp_min(0.1).numpy()], 1)
            nll = float(-model.response_log_prob(model._response_context(cn, n), model._norm("jet", y)).mean()) / 4
        k = model.config.n_particles
        gj, rj, sj = (jet_features(t[:, :k].double()).numpy() for t in (ds.gen, ds.reco, sim))
        print(f"{name} ({a.split} split, response NLL {nll:.4f}): median pT / mass response, model − Delphes")
        cells, ratios, flow_cells = [], [], []
        for fam in sorted(set(family)):
            for lo, hi in BINS:
                s = (family == fam) & (gj[:, 0] > lo) & (gj[:, 0] < hi) & (gj[:, 3] > 0.1)
                if s.sum() < a.min_jets:
                    continue
                dl, sm = (
                    {key: v[0] for key, v in detector.response(gj[s, 0], gj[s, 3], t[s, 0], t[s, 3], np.array([lo, hi])).items()}
                    for t in (rj, sj)
                )
                pt_d, m_d = dl["pt_median"], dl["mass_median"]
                parts = [f"Delphes {pt_d:.4f} / {m_d:.4f}"]
                for label, drawn in flow.items():
                    f = drawn.numpy()
                    parts.append(f"{label} {np.median(f[s, 0]) - pt_d:+.4f} / {np.median(f[s, 1]) - m_d:+.4f}")
                    if label == "flow, true n":
                        flow_cells += [abs(np.median(f[s, 0]) - pt_d), abs(np.median(f[s, 1]) - m_d)]
                dpt, dm = sm["pt_median"] - pt_d, sm["mass_median"] - m_d
                cells += [abs(dpt), abs(dm)]
                ipt, im = sm["pt_iqr"] / dl["pt_iqr"], sm["mass_iqr"] / dl["mass_iqr"]
                ratios += [ipt, im]
                parts.append(f"simulation {dpt:+.4f} / {dm:+.4f}, IQR ratio {ipt:.2f} / {im:.2f}")
                reach = np.median(sj[s, 0] / target[s, 0]), np.median(sj[s, 3] / target[s, 1])
                parts.append(f"output / target {reach[0]:.4f} / {reach[1]:.4f}")
                print(f"  {fam} {lo}–{hi} GeV ({s.sum()} jets): " + "; ".join(parts))
        if cells:
            print(f"  simulation: mean |Δ median| {np.mean(cells):.4f}, largest {np.max(cells):.4f}; "
                  f"IQR ratios {np.min(ratios):.2f}–{np.max(ratios):.2f}; flow alone (true n): mean |Δ median| "
                  f"{np.mean(flow_cells):.4f}, largest {np.max(flow_cells):.4f}")


if __name__ == "__main__":
    main()
