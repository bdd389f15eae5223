"""How far each EPiC-FM's few-step solve lands from its teacher's endpoints (RESULTS.md §3a).

    python scripts/epic_fm_endpoint_error.py PAIRS.pt CKPT [CKPT ...] [--steps 1 2 3 8]

``PAIRS.pt``: a reflow run's cached pairs (``OUTPUT.pairs.pt`` of ``hepgen train epic-fm
--reflow``); its 5 000 held-out (noise, teacher endpoint, jet row) triples are integrated by each
checkpoint with each step count (midpoint rule, fp32) and the masked mean squared distance to the
teacher's endpoint is printed, in the model's normalised particle space — the quantity
``--reflow-loss endpoint`` trains for the config's steps (its ``valid_fm``). With ``--efp``, also
at the jet level, where FPD looks: the energy-flow polynomials of jetnet's FPD (after the
checkpoint's projection) of each solve and of the teacher's endpoint for the same noise, scaled by
the teacher's spread — their paired RMS difference and the Fréchet distance between the two sets
(no extrapolation; paired noise makes it far steadier than FPD against real jets).
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from hepgen.metrics.jetnet import _frechet, fpd_kpd_features
from hepgen.models import checkpoint, registry
from hepgen.shipped import resolve_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pairs")
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--steps", nargs="+", type=int, default=[1, 2, 3, 8])
    p.add_argument("--efp", action="store_true", help="also the jet-level (EFP) differences")
    args = p.parse_args()
    pairs = torch.load(args.pairs, weights_only=True)
    x0, x1, jets = pairs["valid"]
    print(f"{len(x0)} held-out pairs of {pairs['info']['teacher']} ({pairs['info']['teacher_steps']} steps)")
    ref = None  # the teacher endpoints' EFPs (the same for every checkpoint: one normalisation)
    for name in args.checkpoints:
        c = checkpoint.load(resolve_checkpoint(name))
        model: Any = registry.build("epic_fm", {**c["config"], "bf16": False})  # an EPiCFM
        model.load_state_dict(c["state_dict"])
        model.float().eval()
        mask, cond = model._mask_and_condition(jets)
        m = mask.unsqueeze(-1).float()
        for steps in args.steps:
            with torch.no_grad():
                y = model._integrate_chunked(x0, cond, mask, steps)
            mse = float(((y - x1) ** 2 * m).sum() / (3 * m.sum()))
            extra = ""
            if args.efp:
                if ref is None:
                    ref = _efp(model, x1, jets, mask)
                e = _efp(model, y, jets, mask)
                scale = ref.std(0)
                a, b = e / scale, ref / scale
                rms = float(np.sqrt(((a - b) ** 2).mean()))
                fd = _frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
                extra = f"; EFP paired RMS {rms:.4g}, Fréchet {fd:.4g}"
            print(f"{name:40s} {steps:2d} steps: endpoint MSE {mse:.3g}{extra}", flush=True)


def _efp(model, x: torch.Tensor, jets: torch.Tensor, mask: torch.Tensor) -> np.ndarray:
    """jetnet's FPD features of normalised particles (the model's normalisation and projection)."""
    from hepgen.physics.coordinates import to_relative
    from hepgen.physics.cuts import apply_constituent_acceptance

    with torch.no_grad():
        table = model._to_physical(x, jets, mask).numpy().astype(np.float64)
    return fpd_kpd_features(to_relative(apply_constituent_acceptance(table)))



if __name__ == "__main__":
    main()
