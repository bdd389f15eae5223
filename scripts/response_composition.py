"""RESULTS.md §2 "The jet response and the jet's particle content": does the gen jet's
composition — the pT fractions it carries in charged particles, photons and neutral hadrons —
tell the detector response, beyond what the shipped response flow is conditioned on (gen pT, η,
m/pT, n, Flow_1..4 and the reco multiplicity)?

Delphes measures charged particles with the tracker, photons in the ECAL and neutral hadrons in
the HCAL, with different resolutions, so a jet's response width should follow its content; the
fast-sim input holds momenta only. Two flows are fitted exactly as a stage-2 refit fits one
(`hepgen.train.fastsim_fm.refit_response` with one member, written to OUTPUT/control.pt and
OUTPUT/composition.pt): (a) on the shipped context, a control; (b) on it plus the three fractions
(``content``). On the test split, per bin of gen pT and
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
from typing import Any

import numpy as np
import torch

from hepgen.commands import _exclude
from hepgen.data.datasets import JetPairDataset
from hepgen.evaluation import CONTENT_BINS
from hepgen.models import checkpoint
from hepgen.models.fastsim_fm import N_COND, N_JET, FSFMConfig
from hepgen.physics.kinematics import CONTENT, particle_content
from hepgen.shipped import resolve_checkpoint
from hepgen.train.fastsim_fm import _mean_nll, _response_features, _source_model, refit_response
from hepgen.train.loop import TrainConfig


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
    exclude = _exclude(a.exclude_events)
    source = resolve_checkpoint(a.source)
    ck = checkpoint.load(source)
    config = FSFMConfig.from_dict(ck["config"])
    model = _source_model(ck)
    k = config.n_particles
    split_seed = int(ck["dataset"].get("split_seed", 0))
    test = JetPairDataset(a.data, "test", k=k, seed=split_seed, gen_min_pt=100.0, exclude_events=exclude)
    ctx_te, y_te = _response_features(model, test)
    comp_te = particle_content(test.gen.double().numpy(), test.gen_pid.numpy())
    loop = TrainConfig(epochs=a.epochs, batch_size=512, learning_rate=3e-4, patience=a.patience,
                       schedule="cosine", seed=a.seed)
    os.makedirs(a.output, exist_ok=True)
    fitted: dict[str, Any] = {}
    fitted_ctx: dict[str, torch.Tensor] = {}
    records: dict[str, dict] = {}
    for name, arch in (("control", None), ("composition", {"content": True})):
        t0 = time.time()
        out = os.path.join(a.output, f"{name}.pt")
        record = refit_response(source, a.data, out, train=loop, split_seed=split_seed, exclude_events=exclude,
                                architecture=arch, progress=False)
        fitted[name] = _source_model(checkpoint.load(out))
        fitted_ctx[name] = _response_features(fitted[name], test)[0]
        records[name] = {"best_valid_nll": record["best_metric"], "best_epoch": record["best_epoch"],
                         "time_s": round(time.time() - t0, 1),
                         "test_nll": _mean_nll(fitted[name].response_log_prob, fitted_ctx[name], y_te, "cpu")}
        print(name, records[name], flush=True)
    records["shipped"] = {"test_nll": _mean_nll(model.response_log_prob, ctx_te, y_te, "cpu")}
    print("shipped", records["shipped"], flush=True)

    # draws on the test split (true reco multiplicity in the context)
    gen_pt = test.gen_jet[:, 0]
    g = torch.Generator().manual_seed(a.seed)
    names = ("shipped", "control", "composition") + (("content ckpt",) if a.content_checkpoint else ())
    draws: dict[str, list[torch.Tensor]] = {name: [] for name in names}
    if a.content_checkpoint:
        cmodel = _source_model(checkpoint.load(resolve_checkpoint(a.content_checkpoint)))
        cctx, cy = _response_features(cmodel, test)
        records["content ckpt"] = {"test_nll": _mean_nll(cmodel.response_log_prob, cctx, cy, "cpu")}
        print("content ckpt", records["content ckpt"], flush=True)
    with torch.no_grad():
        for _ in range(a.draws):
            z = torch.randn(len(y_te), N_JET, generator=g)
            u = torch.rand(len(y_te), 1, generator=g)
            draws["shipped"].append(model.response_sample(ctx_te, z, u))  # u picks an ensemble's member
            for name in ("control", "composition"):
                draws[name].append(fitted[name].response_sample(fitted_ctx[name], z))
            if a.content_checkpoint:
                draws["content ckpt"].append(cmodel.response_sample(cctx, z, u))

    def ratios(yn: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        raw = model._denorm("jet", yn).double().numpy()
        return np.exp(raw[:, 0]), np.exp(raw[:, 1])

    delphes = ratios(y_te)
    model_r = {n: [ratios(d) for d in ds] for n, ds in draws.items()}
    rows = []
    bins_pt = ((200, 300), (300, 600), (600, 1500))
    cols = " | ".join(names)
    print(f"\n| gen pT | fraction bin | jets | Delphes pT med / IQR | {cols} | Delphes m med / IQR | {cols} |")
    print("|---|---|---|" + "---|" * (2 + 2 * len(names)))
    for lo, hi in bins_pt:
        inbin = (gen_pt >= lo) & (gen_pt < hi)
        for frac, edges in (("all", (None,)), *CONTENT_BINS.items()):
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
                label = "all" if frac == "all" else f"{frac} {e0:.2f}–{min(e1 if e1 is not None else 1.0, 1.0):.2f}"
                print(f"| {lo}–{hi} | {label} | {int(sel.sum())} | " + " | ".join(cells) + " |")
                rows.append(row)
    scale = fitted["composition"]
    with open(os.path.join(a.output, "composition.json"), "w") as f:
        json.dump({"records": records, "rows": rows, "fraction_mean": scale.content_mean.tolist(),
                   "fraction_std": scale.content_std.tolist(), "n_cond": N_COND}, f, indent=1)


if __name__ == "__main__":
    main()
