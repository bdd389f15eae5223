"""A fast-sim v2 checkpoint with another checkpoint's jet-response flow (RESULTS.md §2, "which part
does what"): the particle network, multiplicity head and settings of TARGET, the ``response.*``
weights of DONOR (the flow architectures must match).

    python scripts/swap_response_flow.py DONOR TARGET OUTPUT
"""

import sys

import torch

from hepgen.shipped import resolve_checkpoint

donor, target, output = sys.argv[1:4]
d = torch.load(resolve_checkpoint(donor), weights_only=True)
t = torch.load(resolve_checkpoint(target), weights_only=True)
keys = [k for k in t["state_dict"] if k.startswith("response.")]
if not keys or any(k not in d["state_dict"] or d["state_dict"][k].shape != t["state_dict"][k].shape for k in keys):
    sys.exit(f"{donor} and {target}: response flows of different architectures")
for k in keys:
    t["state_dict"][k] = d["state_dict"][k].clone()  # the donor's dtype: no rounding
t["training"]["note_response_flow"] = f"response.* weights copied from {donor} (scripts/swap_response_flow.py)"
torch.save(t, output)
print(f"{output}: {len(keys)} response tensors from {donor}")
