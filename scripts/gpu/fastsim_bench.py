"""GPU µs/jet of fast-sim checkpoints (Runner.simulate on 10^4 real gen jets, best of 3), per ODE
step count and per internal batch (jets per model call; the CPU default was 512 until 2026-12-05, 2048 since).

    python scripts/gpu/fastsim_bench.py [cuda|cpu] [CHECKPOINT ...]   (default: fastsim_ww_pu50)
"""

import os
import sys

import torch

sys.path.insert(0, "benchmarks")
from fastsim import best_of, real_gen  # noqa: E402

from hepgen.inference import Runner  # noqa: E402

dev = sys.argv[1] if len(sys.argv) > 1 else "cuda"
print("device", torch.cuda.get_device_name(0) if dev == "cuda" else dev, "torch", torch.__version__, flush=True)
names = sys.argv[2:] or ["fastsim_ww_pu50"]
STEPS = [int(s) for s in os.environ.get("STEPS", "3 1 2 6").split()]
for name, steps, batch in ((n, s, b) for n in names for s in STEPS for b in (512, 2048, 10_000)):
    try:
        r = Runner(name, device=dev, steps=steps, batch_size=batch)
        x = real_gen(r.k)
        r.simulate(x[:1000])  # load + warm up
        # simulate returns numpy arrays: the copy back waits for the GPU, no synchronize needed
        t = best_of(lambda r=r, x=x: r.simulate(x), 3)
        print(f"{name} steps={steps} model batch={batch:6d} {t / len(x) * 1e6:8.2f} us/jet (10^4 jets, best of 3)", flush=True)
    except Exception as e:
        print(name, steps, batch, "failed:", repr(e)[:300], flush=True)
