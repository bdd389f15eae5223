"""GPU µs/jet of the shipped gluon generators at batch 10^4 (benchmarks/generation.py's per_jet_us)."""
import sys

import torch

sys.path.insert(0, "benchmarks")
from generation import per_jet_us

dev = sys.argv[1] if len(sys.argv) > 1 else "cuda"
print("device", torch.cuda.get_device_name(0) if dev == "cuda" else dev, "torch", torch.__version__, flush=True)
rows = [("epic_fm_gluon", None), ("convae_nf_gluon", None), ("epic_fm_gluon", 4), ("epic_fm_gluon", 2), ("nf_gluon", None), ("convae_gluon", None), ("mcflow_gluon", None)]
for name, steps in rows:
    for batch in (10_000,):
        try:
            m, f = per_jet_us(name, dev, batch, 3, steps)
            print(f"{name:18s} steps={steps} batch={batch:6d} model {m:8.2f} us/jet  +post {f:8.2f} us/jet", flush=True)
        except Exception as e:
            print(name, steps, batch, "failed:", repr(e)[:300], flush=True)
