"""pack.py SRC DST: checkpoint with float16 weights (as the shipped ConVAE+NF)."""
import sys

import torch

c = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
c["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in c["state_dict"].items()}
torch.save(c, sys.argv[2])
