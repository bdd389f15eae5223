"""RESULTS.md §2 "The projections hit the drawn mass": how closely a fast-sim v2 checkpoint's
output jet mass follows its response flow's draw, jet by jet, with its own inference settings and
with others side by side (same noise per jet).

Per variant: the median of output mass / drawn mass and the shares of jets more than 5% and 1%
under it (and 5% over), the pT's largest miss, the time per jet, and what the projections do to
the particles: the share of jets whose leading particle carries more than 75% of the jet pT
(Delphes' reco tables beside it) and the W1 of Flow_1..4 to Delphes' over the W1 of the gen jets'
to Delphes' (the identity's distance: 0 is Delphes, 1 the identity).

    python scripts/fastsim_mass_closure.py CHECKPOINT FILE [FILE ...] [--only-files _ww_]
        [--split test] [--pt-range 200 400] [--seed 0] [--variant KEY=VALUE[,KEY=VALUE...] ...]

FILE ...: the checkpoint's training files, in its order (the split is by event over the list).
``--variant close_mass=False`` times and scores the checkpoint with that inference setting
flipped (:data:`hepgen.models.fastsim_fm.INFERENCE_FIELDS`).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.stats import wasserstein_distance

from hepgen.data.datasets import load_pairs, split_indices
from hepgen.inference import Runner
from hepgen.models.fastsim_fm import INFERENCE_FIELDS, FSFMConfig
from hepgen.physics.kinematics import jet_features
from hepgen.physics.substructure import momentum_flows


def _leading_share(table: np.ndarray) -> np.ndarray:
    pt = np.hypot(table[..., 0], table[..., 1])
    return pt.max(1) / np.maximum(pt.sum(1), 1e-9)


def _parse(variant: str) -> dict:
    """``KEY=VALUE,...`` → inference settings, each value read as its field's type."""
    defaults, out = FSFMConfig(), {}
    for item in variant.split(","):
        key, _, value = item.partition("=")
        if key not in INFERENCE_FIELDS:
            raise SystemExit(f"{key!r} is not an inference setting ({', '.join(INFERENCE_FIELDS)})")
        kind = type(getattr(defaults, key))
        out[key] = value.lower() in ("1", "true", "yes") if kind is bool else kind(value)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("files", nargs="+")
    p.add_argument("--only-files", default="_ww_")
    p.add_argument("--split", default="test", choices=("train", "valid", "test", "all"))
    p.add_argument("--pt-range", nargs=2, type=float, default=(200.0, 400.0), help="gen jet pT [GeV]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variant", nargs="*", default=[])
    args = p.parse_args()
    pairs, keys = load_pairs(args.files)
    idx = np.arange(len(pairs)) if args.split == "all" else split_indices(keys, seed=0)[args.split]
    chosen = [i for i, f in enumerate(args.files) if args.only_files in f]
    pairs = pairs.take(idx[np.isin(keys[idx] >> 48, chosen)])
    gpt = jet_features(pairs.side("gen").constituents.astype(np.float64))[:, 0]
    pairs = pairs.take(np.flatnonzero((gpt > args.pt_range[0]) & (gpt < args.pt_range[1])))
    variants = {"own settings": {}} | {v: _parse(v) for v in args.variant}
    reco = pairs.side("reco").constituents.astype(np.float64)
    runner = Runner(args.checkpoint, device="cpu")
    k = runner.model.config.n_particles
    reco = reco[:, :k]
    gen = torch.from_numpy(pairs.side("gen").constituents[:, :k]).float()
    delphes_flows = momentum_flows(reco, runner.model.config.R)
    identity = [wasserstein_distance(momentum_flows(pairs.side("gen").constituents[:, :k].astype(np.float64), runner.model.config.R)[:, i],
                                     delphes_flows[:, i]) for i in range(4)]
    delphes_lead = _leading_share(reco)
    print(f"{len(gen)} jets of {args.pt_range[0]:g}–{args.pt_range[1]:g} GeV gen pT ({args.split} split, {args.only_files}); "
          f"Delphes: leading particle > 75% of the jet pT in {100 * np.mean(delphes_lead > 0.75):.2f}%")
    print("variant | µs/jet | m/draw median | < 0.95 | < 0.99 | > 1.05 | max |pT/draw − 1| | lead > 75% | Flow_1..4 W1 / identity's")
    for name, settings in variants.items():
        model = Runner(args.checkpoint, device="cpu", settings=settings or None).model
        noise = model.draw_noise(len(gen), torch.Generator().manual_seed(args.seed))
        with torch.no_grad():
            cn, _, pool, _, gjet = model._encode_gen(gen)
            n = model.multiplicity(cn, noise["count"], None, pool)
            y = model._denorm("jet", model.response_sample(model._response_context(cn, n, None), noise["response"], noise.get("member"))).double()
            t0 = time.perf_counter()
            out = model.simulate(gen, noise=noise).double()
            dt = time.perf_counter() - t0
        f = jet_features(out).numpy()
        gj = gjet.double().numpy()
        r = f[:, 3] / (np.maximum(gj[:, 3], 0.1) * np.exp(y[:, 1].numpy()))
        rp = f[:, 0] / (gj[:, 0] * np.exp(y[:, 0].numpy()))
        flows = momentum_flows(out.numpy(), model.config.R)
        w = [wasserstein_distance(flows[:, i], delphes_flows[:, i]) / identity[i] for i in range(4)]
        print(f"{name} | {1e6 * dt / len(gen):.0f} | {np.median(r):.5f} | {100 * np.mean(r < 0.95):.2f}% | "
              f"{100 * np.mean(r < 0.99):.2f}% | {100 * np.mean(r > 1.05):.2f}% | {np.abs(rp - 1).max():.1e} | "
              f"{100 * np.mean(_leading_share(out.numpy()) > 0.75):.2f}% | " + " / ".join(f"{x:.3f}" for x in w), flush=True)


if __name__ == "__main__":
    main()
