"""Generation speed per model, measured side by side in one run: µs per jet at batch 10³ and
10⁴ on CPU (and CUDA when present). Anchors from seed 000: ConVAE+NF 18.3 µs/jet and MPGAN
35.7 µs/jet on an NVIDIA T4 (not re-measured here).

    python benchmarks/generation.py [--models data/models/*_gluon.pt] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from hepgen import shipped

ANCHORS = {"ConVAE+NF (T4, seed 000)": 18.3, "MPGAN (T4, seed 000)": 35.7}


def per_jet_us(path: str, device: str, batch: int, repeat: int) -> tuple[float, float]:
    """(model-only µs/jet, µs/jet including de-normalisation and the constituent cuts)."""
    from hepgen.inference import Runner

    r = Runner(path, device=device, batch_size=batch)
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
            model.sample(batch, generator=g)
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
    args = p.parse_args()
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


if __name__ == "__main__":
    main()
