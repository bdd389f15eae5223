"""RESULTS.md §2 "The jet response and the jet's particle content": does the gen jet's
composition — the pT fractions it carries in charged particles, photons and neutral hadrons —
tell the detector response, beyond what the shipped response flow is conditioned on (gen pT, η,
m/pT, n, Flow_1..4 and the reco multiplicity)?

Delphes measures charged particles with the tracker, photons in the ECAL and neutral hadrons in
the HCAL, with different resolutions, so a jet's response width should follow its content; the
fast-sim input holds momenta only. Two flows are fitted exactly as a stage-2 refit fits one
(same architecture, loss, optimiser, split, selection on the validation NLL): (a) on the shipped
context, a control; (b) on it plus the three fractions. On the test split, per bin of gen pT and
of a fraction, each flow's draws (true reco multiplicity in the context, as in training) against
Delphes: the median and IQR of pT(reco)/pT(gen) and of m(reco)/m(gen) as the flow draws them
(the simulated jets follow the flow's draws within 0.001, RESULTS.md §2), and each flow's test NLL.
No particles are generated; the shipped mixture is drawn beside them.

    python scripts/response_composition.py <the default's 9 training files, in its order> \\
        --exclude-events ../shared/data/samples/expected/delphes_ww_pu50_highpt_100ev.h5 [-o out/comp]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from hepgen.data.datasets import JetPairDataset, load_pairs
from hepgen.io import h5
from hepgen.models import checkpoint
from hepgen.models.fastsim_fm import N_COND, N_JET, FSFMConfig
from hepgen.physics.kinematics import CONTENT, particle_content
from hepgen.shipped import resolve_checkpoint
from hepgen.train.fastsim_fm import _mean_nll, _response_features, _source_model


def fit(ctx_tr, y_tr, ctx_va, y_va, config: FSFMConfig, seed: int, epochs: int, patience: int):
    """A zuko NSF p(response | context) trained as refit_response trains one (Adam 3e-4, cosine,
    batch 512), selected on the validation NLL."""
    import zuko

    torch.manual_seed(seed)
    flow = zuko.flows.NSF(N_JET, ctx_tr.shape[1], transforms=config.flow_transforms,
                          hidden_features=config.flow_hidden, passes=2)
    opt = torch.optim.Adam(flow.parameters(), lr=3e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    g = torch.Generator().manual_seed(seed)
    best, best_state, wait, history = np.inf, None, 0, []
    for _epoch in range(epochs):
        flow.train()
        for idx in torch.randperm(len(y_tr), generator=g).split(512):
            loss = -flow(ctx_tr[idx]).log_prob(y_tr[idx]).mean() / N_JET
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        flow.eval()
        nll = _mean_nll(lambda c, y: flow(c).log_prob(y), ctx_va, y_va, "cpu")
        history.append(nll)
        if nll < best:
            best, best_state, wait = nll, {k: v.clone() for k, v in flow.state_dict().items()}, 0
        else:
            wait += 1
            if wait >= patience:
                break
    flow.load_state_dict(best_state)
    return flow.eval(), {"best_valid_nll": best, "epochs": len(history), "best_epoch": int(np.argmin(history)) + 1}


def quartiles(x: np.ndarray) -> tuple[float, float]:
    q = np.percentile(x, [25, 50, 75])
    return float(q[1]), float(q[2] - q[0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="+")
    p.add_argument("--source", default="fastsim_ww_pu50")
    p.add_argument("--exclude-events", nargs="+", default=None)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default="out/composition")
    p.add_argument("--content-checkpoint", default=None,
                   help="also draw this content checkpoint's response (e.g. fastsim_content_ww_pu50)")
    a = p.parse_args()
    exclude = (np.unique(np.concatenate([h5.read(f, sides=()).event_number for f in a.exclude_events]))
               if a.exclude_events else None)
    ck = checkpoint.load(resolve_checkpoint(a.source))
    config = FSFMConfig.from_dict(ck["config"])
    model = _source_model(ck)
    k = config.n_particles
    pairs, _ = load_pairs(a.data)
    sets, feats = {}, {}
    for split in ("train", "valid", "test"):
        ds = JetPairDataset(a.data, split, k=k, seed=int(ck["dataset"].get("split_seed", 0)),
                            gen_min_pt=100.0, exclude_events=exclude)
        sets[split] = ds
        ctx, y = _response_features(model, ds)
        comp = particle_content(pairs.gen.constituents[ds.index, :k].astype(np.float64), pairs.gen.pid[ds.index, :k])
        feats[split] = (ctx, y, comp)
    mean, std = feats["train"][2].mean(0), feats["train"][2].std(0)
    with_comp = {s: torch.cat([c, torch.from_numpy((f - mean) / std).float()], -1) for s, (c, _, f) in feats.items()}
    flows, records = {}, {}
    for name, ctx in (("control", {s: feats[s][0] for s in feats}), ("composition", with_comp)):
        t0 = time.time()
        flows[name], records[name] = fit(ctx["train"], feats["train"][1], ctx["valid"], feats["valid"][1],
                                         config, a.seed, a.epochs, a.patience)
        records[name]["time_s"] = round(time.time() - t0, 1)
        records[name]["test_nll"] = _mean_nll(lambda c, y, f=flows[name]: f(c).log_prob(y), ctx["test"], feats["test"][1], "cpu")
        print(name, records[name], flush=True)
    records["shipped"] = {"test_nll": _mean_nll(model.response_log_prob, feats["test"][0], feats["test"][1], "cpu")}
    print("shipped", records["shipped"], flush=True)

    # draws on the test split (true reco multiplicity in the context)
    ctx_te, y_te, comp_te = feats["test"]
    test = sets["test"]
    gen_pt = test.gen_jet[:, 0]
    g = torch.Generator().manual_seed(a.seed)
    names = ("shipped", "control", "composition") + (("content ckpt",) if a.content_checkpoint else ())
    draws = {name: [] for name in names}
    if a.content_checkpoint:
        cmodel = _source_model(checkpoint.load(resolve_checkpoint(a.content_checkpoint)))
        cparts = [cmodel.response_data(test.gen[i : i + 4096], test.reco[i : i + 4096], test.gen_pid[i : i + 4096])
                  for i in range(0, len(test), 4096)]
        cctx = torch.cat([c for c, _ in cparts])
        ccfg = FSFMConfig.from_dict(checkpoint.load(resolve_checkpoint(a.content_checkpoint))["config"])
        records["content ckpt"] = {"test_nll": _mean_nll(cmodel.response_log_prob, cctx, torch.cat([y for _, y in cparts]), "cpu")}
        print("content ckpt", records["content ckpt"], flush=True)
    with torch.no_grad():
        for _ in range(a.draws):
            z = torch.randn(len(y_te), N_JET, generator=g)
            u = torch.rand(len(y_te), 1, generator=g)
            draws["shipped"].append(model.response_sample(ctx_te, z, u if config.response_members > 1 else None))
            draws["control"].append(flows["control"](ctx_te).transform.inv(z))
            draws["composition"].append(flows["composition"](with_comp["test"]).transform.inv(z))
            if a.content_checkpoint:
                draws["content ckpt"].append(cmodel.response_sample(cctx, z, u if ccfg.response_members > 1 else None))

    def ratios(yn: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        raw = model._denorm("jet", yn).double().numpy()
        return np.exp(raw[:, 0]), np.exp(raw[:, 1])

    delphes = ratios(y_te)
    model_r = {n: [ratios(d) for d in ds] for n, ds in draws.items()}
    rows = []
    bins_pt = ((200, 300), (300, 600), (600, 1500))
    cuts = {"photon": (0, 0.15, 0.25, 0.35, 0.5, 1.01), "neutral hadron": (0, 0.05, 0.1, 0.2, 0.3, 1.01)}
    cols = " | ".join(names)
    print(f"\n| gen pT | fraction bin | jets | Delphes pT med / IQR | {cols} | Delphes m med / IQR | {cols} |")
    print("|---|---|---|" + "---|" * (2 + 2 * len(names)))
    for lo, hi in bins_pt:
        inbin = (gen_pt >= lo) & (gen_pt < hi)
        for frac, edges in (("all", (None,)), *cuts.items()):
            for e0, e1 in ([(None, None)] if frac == "all" else zip(edges[:-1], edges[1:])):
                sel = inbin if frac == "all" else inbin & (comp_te[:, CONTENT.index(frac)] >= e0) & (comp_te[:, CONTENT.index(frac)] < e1)
                if sel.sum() < 50:
                    continue
                cells, row = [], {"gen_pt": [lo, hi], "fraction": frac, "bin": [e0, e1], "n": int(sel.sum())}
                for q in (0, 1):
                    dmed, diqr = quartiles(delphes[q][sel])
                    cells.append(f"{dmed:.3f} / {diqr:.3f}")
                    row[f"delphes_{q}"] = [dmed, diqr]
                    for n in names:
                        mmed, miqr = quartiles(np.concatenate([r[q][sel] for r in model_r[n]]))
                        cells.append(f"{mmed - dmed:+.3f} / {miqr / diqr:.2f}×")
                        row[f"{n}_{q}"] = [mmed, miqr]
                label = "all" if frac == "all" else f"{frac} {e0:.2f}–{min(e1, 1):.2f}"
                print(f"| {lo}–{hi} | {label} | {int(sel.sum())} | " + " | ".join(cells) + " |")
                rows.append(row)
    os.makedirs(a.output, exist_ok=True)
    with open(os.path.join(a.output, "composition.json"), "w") as f:
        json.dump({"records": records, "rows": rows, "fraction_mean": mean.tolist(), "fraction_std": std.tolist(),
                   "n_cond": N_COND}, f, indent=1)


if __name__ == "__main__":
    main()
