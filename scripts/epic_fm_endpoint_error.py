"""How far each EPiC-FM's few-step solve lands from its teacher's endpoints (RESULTS.md §3a).

    python scripts/epic_fm_endpoint_error.py PAIRS.pt CKPT [CKPT ...] [--steps 1 2 3 8]

``PAIRS.pt``: a reflow run's cached pairs (``OUTPUT.pairs.pt`` of ``hepgen train epic-fm
--reflow``); its 5 000 held-out (noise, teacher endpoint, jet row) triples are integrated by each
checkpoint with each step count (midpoint rule, fp32) and the masked mean squared distance to the
teacher's endpoint is printed, in the model's normalised particle space — the quantity
``--reflow-loss endpoint`` trains for the config's steps (its ``valid_fm``).
"""

from __future__ import annotations

import argparse

import torch

from hepgen.models import checkpoint, registry
from hepgen.shipped import resolve_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs")
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--steps", nargs="+", type=int, default=[1, 2, 3, 8])
    args = p.parse_args()
    pairs = torch.load(args.pairs, weights_only=True)
    x0, x1, jets = pairs["valid"]
    print(f"{len(x0)} held-out pairs of {pairs['info']['teacher']} ({pairs['info']['teacher_steps']} steps)")
    for name in args.checkpoints:
        c = checkpoint.load(resolve_checkpoint(name))
        model = registry.build("epic_fm", {**c["config"], "bf16": False})
        model.load_state_dict(c["state_dict"])
        model.float().eval()
        mask, cond = model._mask_and_condition(jets)
        m = mask.unsqueeze(-1).float()
        for steps in args.steps:
            with torch.no_grad():
                y = model._integrate_chunked(x0, cond, mask, steps)
            mse = float(((y - x1) ** 2 * m).sum() / (3 * m.sum()))
            print(f"{name:40s} {steps:2d} steps: endpoint MSE {mse:.3g}", flush=True)


if __name__ == "__main__":
    main()
