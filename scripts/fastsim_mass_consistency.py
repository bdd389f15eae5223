"""RESULTS.md §2 "Several flow-matching starts per jet": how far the particle network's own jet
mass lies from the response flow's draw — what the mass projection has to move — per file.

The checkpoint runs with its projections and containments off (the pT projection too: scaling
every pT by one factor scales the jet mass by the same factor, so the m/pT miss is what the
angular mass projection must correct) and with the noise of the full simulation; per jet:
miss = log(m/pT) of the set − log(m/pT) of the draws. Printed: its median and IQR, the share
beyond ±0.1, and the correlation (and slope) of the set's mass response at fixed pT with the
drawn one.

    python scripts/fastsim_mass_consistency.py CHECKPOINT FILE [FILE ...] [--n 2000]
        [--candidates K] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hepgen.io import h5
from hepgen.models import checkpoint, registry
from hepgen.physics.kinematics import jet_features
from hepgen.shipped import resolve_checkpoint

RAW = {"project": False, "project_mass": False, "contain": False, "contain_antikt": False, "min_pt": 0.0}


def consistency(model, gen: torch.Tensor, seed: int, pid: torch.Tensor | None = None) -> dict[str, float]:
    """The m/pT miss of ``model``'s raw sets (a model built with :data:`RAW`) on gen tables (with
    their PDG ids ``pid`` for a model that takes them)."""
    with torch.no_grad():
        noise = model.draw_noise(len(gen), torch.Generator().manual_seed(seed))
        raw = model.simulate(gen, noise=noise, pid=pid).double()
        g = gen[:, : model.config.n_particles].float()
        content = model.content(g, pid)
        cn, _, pool, _, gjet = model._encode_gen(g, pid)
        n = model.multiplicity(cn, noise["count"], content, pool)
        yn = model.response_sample(model._response_context(cn, n, content), noise["response"], noise.get("member"))
        y = model._denorm("jet", yn).double()
    gjet = gjet.double()
    f = jet_features(raw)
    gpt, gm = gjet[:, 0], gjet[:, 3].clamp_min(0.1)
    own = torch.log(f[:, 3].clamp_min(0.1) / gm) - torch.log(f[:, 0] / gpt)  # mass response at fixed pT
    drawn = y[:, 1] - y[:, 0]
    miss = (own - drawn).numpy()
    q1, med, q3 = np.percentile(miss, [25, 50, 75])
    return {
        "jets": len(miss), "median": med, "iqr": q3 - q1, "beyond_0.1": float(np.mean(np.abs(miss) > 0.1)),
        "corr": float(np.corrcoef(own.numpy(), drawn.numpy())[0, 1]),
        "slope": float(np.polyfit(drawn.numpy(), own.numpy(), 1)[0]),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--n", type=int, default=2000, help="the first N jets of each file")
    p.add_argument("--candidates", type=int, default=None, help="default: the checkpoint's")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    ck = checkpoint.load(resolve_checkpoint(args.checkpoint))
    config = {**ck["config"], **RAW}
    if args.candidates is not None:
        config["candidates"] = args.candidates
    model: Any = registry.build(ck["model"], config)  # an FSFM
    model.load_state_dict(ck["state_dict"])
    model.eval()
    print(f"{args.checkpoint}, candidates {model.config.candidates}: miss = log(m/pT) of the raw set − of the draws")
    print(f"{'file':40s} {'jets':>5s} {'median':>7s} {'IQR':>6s} {'|miss|>0.1':>10s} {'corr':>5s} {'slope':>5s}")
    for path in args.files:
        side = h5.read(path, sides=("gen",), stop=args.n).side("gen")
        gen = torch.from_numpy(side.constituents)
        pid = torch.from_numpy(side.pid.astype(np.int64)) if model.needs_pid else None
        r = consistency(model, gen, args.seed, pid)
        print(f"{Path(path).name:40s} {r['jets']:5d} {r['median']:+7.3f} {r['iqr']:6.3f} {r['beyond_0.1']:10.2f} "
              f"{r['corr']:5.2f} {r['slope']:5.2f}")


if __name__ == "__main__":
    main()
