"""Fast-sim speed, measured side by side in one run.

1. The model alone: µs per jet at batch 1, 10³ and 10⁴ (CPU, and CUDA when present).
2. The processor stages on a Delphes file, events/s: read only; read + gen clustering; full
   (read, cluster, fast-sim, recluster, cuts, histograms) through coffea's Runner, with and
   without also reclustering Delphes' own EFlow candidates as the reference.
Prints the ratios, and the speed-up against Delphes' CMS card with pile-up 50 (77 ms/event on
this machine kind, shared/data/README.md) — a reference figure, not re-measured here.

    python benchmarks/fastsim.py [--checkpoint data/models/fastsim_ww_pu50.pt] [--file ROOT] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DELPHES_MS_PER_EVENT = 77.0


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def model_speed(checkpoint: str, device: str, repeat: int) -> dict[int, float]:
    from hepgen.inference import Runner

    r = Runner(checkpoint, device=device, batch_size=10_000)
    rng = np.random.default_rng(0)
    gen = rng.normal(0, 20, size=(10_000, r.k, 3)).astype(np.float32)
    r.simulate(gen[:10])  # load + warm up
    out = {}
    for batch in (1, 1_000, 10_000):
        n_calls = {1: 200, 1_000: 5, 10_000: 1}[batch]

        def run(n_calls=n_calls, batch=batch):
            for _ in range(n_calls):
                r.simulate(gen[:batch])
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        out[batch] = best_of(run, repeat) / (n_calls * batch) * 1e6
    return out


def stage_speed(checkpoint: str, path: str, repeat: int) -> dict[str, float]:
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    from hepgen.inference import Runner
    from hepgen.io import iterate_particles
    from hepgen.physics.clustering import cluster
    from processors.fastsim import FastSimProcessor

    R = Runner(checkpoint).R
    n = sum(c.entry_stop - c.entry_start for c in iterate_particles(path, step_size=1000))

    def read():
        for _ in iterate_particles(path, step_size=1000):
            pass

    def read_cluster():
        for c in iterate_particles(path, step_size=1000):
            cluster(c.gen, R, min_pt=100.0)

    def full(with_reference: bool):
        proc = FastSimProcessor(checkpoint, with_reference=with_reference)
        proc.runner.simulate(np.zeros((1, proc.runner.k, 3), np.float32))  # load the model outside the timing

        def run():
            runner = processor.Runner(
                processor.IterativeExecutor(status=False), schema=DelphesSchema, chunksize=1000
            )
            runner({"bench": [path]}, processor_instance=proc, treename="Delphes")

        return run

    stages = (
        ("read only", read),
        ("read + gen clustering", read_cluster),
        ("full, fast-sim only", full(False)),
        ("full + Delphes reference", full(True)),
    )
    for _, fn in stages[2:]:
        fn()  # warm-up: awkward/numba first calls
    return {name: n / best_of(fn, repeat) for name, fn in stages}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", default=str(ROOT / "data" / "models" / "fastsim_ww_pu50.pt"))
    p.add_argument(
        "--file", default=str(ROOT / "data" / "samples" / "delphes_ww_pu50_highpt_100ev.root")
    )
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: {devices}\n")
    print("model alone (µs per jet):")
    print(
        f"{'device':8s} {'batch 1':>10s} {'batch 1e3':>10s} {'batch 1e4':>10s} {'1/1e4 ratio':>12s}"
    )
    for d in devices:
        s = model_speed(args.checkpoint, d, args.repeat)
        print(f"{d:8s} {s[1]:10.1f} {s[1000]:10.2f} {s[10000]:10.2f} {s[1] / s[10000]:12.1f}")
    print(f"\nprocessor stages on {Path(args.file).name} (events/s, best of {args.repeat}):")
    st = stage_speed(args.checkpoint, args.file, args.repeat)
    base = st["read only"]
    for name, v in st.items():
        print(
            f"  {name:24s} {v:9.1f} ev/s  {1e3 / v:8.2f} ms/event  ({v / base:5.2f} × read-only rate)"
        )
    full_ms = 1e3 / st["full, fast-sim only"]
    print(
        f"\nDelphes CMS + PU50 reference: {DELPHES_MS_PER_EVENT} ms/event → hepgen full processor is "
        f"{DELPHES_MS_PER_EVENT / full_ms:.1f}× faster per event (fast-sim only; includes reading, clustering "
        "and histogramming)"
    )


if __name__ == "__main__":
    main()
