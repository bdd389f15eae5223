"""Does a quantity the response flow does not see explain the QCD pT-response offset?

The shipped response flow is conditioned on the leading k = 50 gen constituents only (jet pT, η,
m/pT, n, Flow_1..4) and the reco multiplicity. Cross-validated on all 75 000 jets
(scripts/fastsim_response_cv.py) it leaves QCD's pT response 0.8–1.3% high at 300–600 GeV. This
script repeats that cross-validation of the flow alone (same folds, seeds, loss, loop and
selection as ``hepgen.train.fastsim_fm.cross_validate_response``) with extra context inputs,
standardised and appended to the flow's context, and prints the same table:

- ``whole``: the *whole* gen jet beyond its leading k constituents, from the files' ``gen/jet``
  table (the clustered jet): log(n_all / k) and log(pT of the leading k / pT of the jet). A quarter
  to a third of the QCD and tt̄ jets at 300–600 GeV have more than 50 gen constituents.
- ``event``: the event around the jet, from the other selected jets of its event (gen pT > 100
  GeV): the number of distinct gen jets, the ΔR to the nearest other one (9 if none) and their
  scalar pT sum over this jet's pT. The files hold only gen jets matched to one of the ≤ 4 stored
  reco jets, so this is a probe, not something a processor could compute the same way.
- ``process``: the process itself (one-hot of the file's family). No simulation can use it; it
  bounds what any gen-level input could do: if even the label leaves the offset, the flow does not
  resolve QCD's response from its 4 000 training jets; if the label removes it, the cause is a
  property of QCD events that the flow's inputs do not carry.
- ``none``: no extra input, a control: it must reproduce ``fastsim_response_cv.py``'s flow-alone
  run (same folds, seeds and fits).

    python scripts/response_context_cv.py out/cv_context --source fastsim_ww_pu50 \\
        --data ../shared/data/fastsim_{ww_pu50_highpt_s1*,qcd_pu50_highpt_s*,ttbar_pu50_highpt_s*}.h5 \\
        --exclude-events ../shared/data/samples/expected/delphes_ww_pu50_highpt_100ev.h5 \\
        --context whole event process none [--baseline out/cv/default/cv_flow.npz]

Each context takes ~22 min on 2 CPU cores (5 folds). ``--baseline``: also print the table of a
``fastsim_response_cv.py`` run without extra context (its ``cv_flow.npz``) for comparison.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import torch

CONTEXTS = ("whole", "event", "process", "none")


def whole_jet(ds, k: int) -> np.ndarray:
    """(N, 2): log(n_all / k), log(pT of the leading k constituents / pT of the clustered jet)."""
    from hepgen.physics.kinematics import jet_features

    pt_k = jet_features(ds.gen[:, :k].double()).numpy()[:, 0]
    n_all, pt_all = ds.gen_jet[:, 5].astype(np.float64), ds.gen_jet[:, 0].astype(np.float64)
    return np.stack([np.log(np.maximum(n_all, 1) / k), np.log(np.clip(pt_k / pt_all, 0.5, 1.0))], 1)


def event_activity(ds) -> np.ndarray:
    """(N, 3): number of distinct gen jets of the jet's event among ``ds``'s jets, ΔR to the
    nearest other one (9 if none), their scalar pT sum / this jet's pT."""
    gj = ds.gen_jet.astype(np.float64)
    out = np.zeros((len(ds), 3))
    out[:, 1] = 9.0
    order = np.argsort(ds.event_keys, kind="stable")
    keys = ds.event_keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], len(keys)]):
        rows = order[s:e]
        # a gen jet paired with two reco jets appears twice: one per distinct (pT, η)
        _, first = np.unique(np.round(gj[rows, :2], 4), axis=0, return_index=True)
        jets = gj[rows[first]]
        for i in rows:
            other = ~((np.abs(jets[:, 0] - gj[i, 0]) < 1e-3) & (np.abs(jets[:, 1] - gj[i, 1]) < 1e-4))
            out[i, 0] = len(jets)
            if other.any():
                dphi = (jets[other, 2] - gj[i, 2] + np.pi) % (2 * np.pi) - np.pi
                out[i, 1] = np.hypot(jets[other, 1] - gj[i, 1], dphi).min()
                out[i, 2] = jets[other, 0].sum() / gj[i, 0]
    return out


def gaussianise(x: torch.Tensor) -> torch.Tensor:
    """Each column mapped to the standard-normal quantile of its mid-rank (ties share one score)."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    cols = [ndtri((rankdata(c, method="average") - 0.5) / len(c)) for c in x.double().numpy().T]
    return torch.from_numpy(np.stack(cols, 1)).float()


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fastsim_response_cv import common_arguments, table

    p = common_arguments(__doc__)
    p.add_argument("--context", nargs="+", choices=CONTEXTS, default=list(CONTEXTS))
    p.add_argument("--gaussianise", action="store_true",
                   help="map the whole/event inputs to normal scores of their ranks (their tails are heavy)")
    p.add_argument("--tag", default="", help="appended to the output names (cv_{context}{tag}.npz)")
    p.add_argument("--baseline", default=None, help="a fastsim_response_cv.py cv_flow.npz to print first")
    a = p.parse_args()

    import zuko

    from hepgen.commands import _exclude
    from hepgen.data.datasets import JetPairDataset, fold_indices, split_indices
    from hepgen.models import checkpoint
    from hepgen.models.fastsim_fm import N_JET, FSFMConfig
    from hepgen.physics.kinematics import jet_features
    from hepgen.shipped import resolve_checkpoint
    from hepgen.train.fastsim_fm import (
        _mean_nll,
        _response_features,
        _response_loss,
        _source_model,
        process_family,
    )
    from hepgen.train.loop import TrainConfig, fit

    exclude = _exclude(a.exclude_events)
    ck = checkpoint.load(resolve_checkpoint(a.source))
    model = _source_model(ck)
    config = FSFMConfig.from_dict({**ck["config"], "response_members": 1})
    k = config.n_particles
    ds = JetPairDataset(a.data, "all", k=k, gen_min_pt=100.0, exclude_events=exclude)
    ctx0, y = _response_features(model, ds)
    gj, rj = (jet_features(t[:, :k].double()).numpy() for t in (ds.gen, ds.reco))
    base = {
        "family": np.array([process_family(a.data[int(i)]) for i in ds.event_keys >> 48]),
        "gen_pt": gj[:, 0], "gen_mass": gj[:, 3], "reco_pt": rj[:, 0], "reco_mass": rj[:, 3], "index": ds.index,
    }
    fold = fold_indices(ds.event_keys, a.folds, 0)
    if a.baseline:
        b = np.load(a.baseline)
        if not np.array_equal(b["index"], ds.index):
            raise SystemExit(f"{a.baseline}: other jets than these files' selection")
        from hepgen.models.fastsim_fm import response_flow

        nll0 = []
        for j in range(a.folds):  # the baseline's fold flows, where they lie beside it
            path = os.path.join(os.path.dirname(a.baseline), f"fold{j}.pt")
            if os.path.exists(path):
                f0 = response_flow(config)
                f0.load_state_dict({key[len("response."):]: v for key, v in checkpoint.load(path)["state_dict"].items()
                                    if key.startswith("response.")})
                held = np.flatnonzero(fold == j)
                nll0.append(_mean_nll(lambda c, t, f0=f0: f0(c).log_prob(t), ctx0[held], y[held], "cpu"))
        table({**base, "pt_ratio": b["pt_ratio"], "mass_ratio": b["mass_ratio"]},
              f"{a.baseline} (no extra context): held-out NLL per fold {' / '.join(f'{v:.4f}' for v in nll0)}",
              "CV flow", a)
    train = TrainConfig(epochs=100, batch_size=512, learning_rate=3e-4, patience=20, schedule="cosine")
    os.makedirs(a.output_dir, exist_ok=True)
    for name in a.context:
        if name == "none":
            extra = torch.zeros(len(ds), 0)
        elif name == "process":
            families = sorted(set(base["family"]))
            extra = torch.from_numpy((base["family"][:, None] == np.array(families)[None]).astype(np.float32))
        else:
            extra = torch.from_numpy(whole_jet(ds, k) if name == "whole" else event_activity(ds)).float()
        if a.gaussianise and name in ("whole", "event"):
            extra = gaussianise(extra)
        if extra.shape[1]:
            extra = (extra - extra.mean(0)) / extra.std(0).clamp_min(1e-3)
        ctx = torch.cat([ctx0, extra], 1)
        ratios = np.empty((a.draws, len(ds), 2))
        nll = []
        for j in range(a.folds):
            torch.manual_seed(train.seed)
            flow = zuko.flows.NSF(N_JET, ctx.shape[1], transforms=config.flow_transforms,
                                  hidden_features=config.flow_hidden, passes=2)
            rest = np.flatnonzero(fold != j)
            inner = split_indices(ds.event_keys[rest], (0.85, 0.15, 0.0), 1 + j)
            tr, va = (torch.from_numpy(rest[inner[s]]) for s in ("train", "valid"))
            path = os.path.join(a.output_dir, f"{name}{a.tag}_fold{j}.pt")

            def validate(f, va=va, ctx=ctx):
                return {"valid_nll": _mean_nll(lambda c, t: f(c).log_prob(t), ctx[va], y[va], "cpu")}

            def save_best(record, f=flow, path=path):
                torch.save(f.state_dict(), path)

            rec = fit(flow, _response_loss, torch.utils.data.TensorDataset(ctx[tr], y[tr], torch.ones(len(tr))),
                      validate, "valid_nll", train, save_best, progress=False)
            flow.load_state_dict(torch.load(path))
            flow.eval()
            held = np.flatnonzero(fold == j)
            g = torch.Generator().manual_seed(train.seed + 1000 + j)
            with torch.no_grad():
                for d in range(a.draws):
                    z = torch.randn(len(held), y.shape[1], generator=g)
                    r = model._denorm("jet", flow(ctx[held]).transform.inv(z)).exp()
                    ratios[d, held] = r[:, :2].double().numpy()
                nll.append(_mean_nll(lambda c, t, f=flow: f(c).log_prob(t), ctx[held], y[held], "cpu"))
            print(f"{name}: fold {j} best epoch {rec['best_epoch'] + 1}, held-out NLL {nll[-1]:.4f}", flush=True)
        np.savez_compressed(os.path.join(a.output_dir, f"cv_{name}{a.tag}.npz"),
                            pt_ratio=ratios[..., 0], mass_ratio=ratios[..., 1], index=ds.index)
        table({**base, "pt_ratio": ratios[..., 0], "mass_ratio": ratios[..., 1]},
              f"context + {name}{' (gaussianised)' if a.gaussianise else ''}: held-out NLL per fold {' / '.join(f'{v:.4f}' for v in nll)}", "CV flow", a)


if __name__ == "__main__":
    main()
