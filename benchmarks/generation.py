"""Generation speed per model, measured side by side in one run: µs per jet at batch 10³ and
10⁴ on CPU (and CUDA when present). Anchors from seed 000: ConVAE+NF 18.3 µs/jet and MPGAN
35.7 µs/jet on an NVIDIA T4 (not re-measured here).

For flow-matching generators (EPiC-FM) ``--steps`` adds a sweep over the number of ODE steps:
µs per jet at batch 10⁴ and, with ``--reference``, the W1M (jetnet's, 10k jets) of each step
count against the held-out test split of the reference files, so a user can pick the trade-off.

    python benchmarks/generation.py [--models data/models/*_gluon.pt] [--repeat 3]
    python benchmarks/generation.py --models epic_fm_gluon --steps 1 2 4 8 16 \
        --reference ../shared/data/gluon_r08_s2*.h5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hepgen import shipped

ANCHORS = {"ConVAE+NF (T4, seed 000)": 18.3, "MPGAN (T4, seed 000)": 35.7}


def per_jet_us(
    path: str, device: str, batch: int, repeat: int, steps: int | None = None
) -> tuple[float, float]:
    """(model-only µs/jet, µs/jet including de-normalisation and the constituent cuts)."""
    from hepgen.inference import Runner

    r = Runner(path, device=device, batch_size=batch, steps=steps)
    r.sample(16)  # load + warm-up
    model = r.model
    g = torch.Generator(device=r.device).manual_seed(0)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    best_model, best_full = float("inf"), float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        with torch.inference_mode():
            model.sample(batch, generator=g, **({"steps": steps} if steps else {}))
        sync()
        best_model = min(best_model, time.perf_counter() - t)
        t = time.perf_counter()
        r.sample(batch, seed=1)
        best_full = min(best_full, time.perf_counter() - t)
    return best_model / batch * 1e6, best_full / batch * 1e6


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--models",
        nargs="*",
        default=[n for n in shipped.checkpoints() if n.endswith("_gluon")],
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--steps", type=int, nargs="*", default=[], help="ODE step counts to sweep")
    p.add_argument("--reference", nargs="*", default=[], help="HDF5 files: W1M on their test split")
    p.add_argument("--n-eval", type=int, default=10_000, help="jets per side for W1M")
    args = p.parse_args()
    if args.steps:
        steps_sweep(args)
        return
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads\n")
    print(f"{'model':22s} {'device':6s} {'batch':>6s} {'model µs/jet':>13s} {'+post µs/jet':>13s}")
    rows = []
    for path in args.models:
        for d in devices:
            for batch in (1_000, 10_000):
                m, f = per_jet_us(path, d, batch, args.repeat)
                rows.append((Path(path).stem, d, batch, m, f))
                print(f"{Path(path).stem:22s} {d:6s} {batch:6d} {m:13.2f} {f:13.2f}")
    print(
        "\nratios to the seed's anchors (model-only, batch 10⁴; different hardware — a scale, not a race):"
    )
    for name, d, batch, m, _ in rows:
        if batch == 10_000:
            print(
                f"  {name:22s} {d:5s}: "
                + ", ".join(f"{m / a:.2f}× {k}" for k, a in ANCHORS.items())
            )


def steps_sweep(args) -> None:
    """µs/jet at batch 10⁴ and W1M (with its real-vs-real floor) per ODE step count."""
    import numpy as np

    from hepgen.data.datasets import JetDataset
    from hepgen.inference import Runner
    from hepgen.metrics.jetnet import w1m
    from hepgen.physics.coordinates import to_relative
    from hepgen.physics.cuts import apply_constituent_acceptance

    ref = None
    if args.reference:
        r0 = Runner(args.models[0])
        split_seed = r0.dataset.get("split_seed", 0)
        test, valid = (
            to_relative(apply_constituent_acceptance(
                JetDataset(args.reference, "reco", s, k=r0.k, seed=split_seed).constituents.numpy().astype(np.float64)
            ))
            for s in ("test", "valid")
        )
        n = min(args.n_eval, len(test), len(valid))
        ref = test[:n]
        # the floor at the same sample size: held-out real jets (validation split) vs the test split
        floor = np.mean([w1m(ref, valid[:n], seed=s, n_samples=n)[0] for s in range(3)])
        print(f"W1M floor (validation vs test split, {n} jets per side): {floor:.3g}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch 10⁴\n")
    print(f"{'model':22s} {'steps':>5s} {'model µs/jet':>13s} {'+post µs/jet':>13s} {'W1M':>9s} {'/floor':>7s}")
    for path in args.models:
        for steps in args.steps:
            m, f = per_jet_us(path, "cpu", 10_000, args.repeat, steps)
            line = f"{Path(path).stem:22s} {steps:5d} {m:13.1f} {f:13.1f}"
            if ref is not None:
                gen = Runner(path, steps=steps).sample(n, seed=7)
                w = w1m(ref, to_relative(gen.astype(np.float64)), n_samples=n)[0]
                line += f" {w:9.3g} {w / floor:7.2f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
