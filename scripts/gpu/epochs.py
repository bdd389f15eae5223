"""Epochs that fit before a deadline, from a probe checkpoint's training time: epochs.py CKPT N_PROBE SECONDS."""
import sys

import torch

c = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
t = c["training"]["time_s"] / int(sys.argv[2])
print(max(2, int(float(sys.argv[3]) / t)))
print(f"{sys.argv[1]}: {t:.2f} s/epoch", file=sys.stderr)
