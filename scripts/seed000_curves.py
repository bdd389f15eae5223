"""Training curves of the seed-000 generators (issue 12): the validation metric of every epoch
(EMD_sum of generated jets, or the flow's latent NLL; for ConVAE+NF's first step, of reconstructed
jets), the validation W1P (mean of the three particle features; recorded since 2026-11-27) and the
training loss, read from the checkpoints' stored histories — the evidence that a run converged.

    python scripts/seed000_curves.py data/models/convae_gluon.pt data/models/convae_nf_gluon.pt \
        data/models/nf_gluon.pt --vae out/run12/convae_nf_gluon.vae.pt -o docs/seed000/curves.png
"""

from __future__ import annotations

import argparse
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402


def history(path: str) -> tuple[list[dict], dict]:
    c = torch.load(path, weights_only=True, map_location="cpu")
    return c["training"]["history"], c["training"]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--vae", default=None, help="ConVAE+NF's first-step (reconstruction) checkpoint")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    runs = [(os.path.basename(f), *history(f)) for f in a.checkpoints]
    if a.vae:
        runs.append(("ConVAE+NF step 1 (reconstruction)", *history(a.vae)))
    fig, (ax_v, ax_p, ax_t) = plt.subplots(1, 3, figsize=(16, 4))
    for label, h, tr in runs:
        ep = [e["epoch"] + 1 for e in h]
        key = tr.get("metric", "valid_emd_sum")
        (line,) = ax_v.plot(
            ep, [e[key] for e in h], marker=".", label=f"{label} (best {tr['best_epoch'] + 1})"
        )
        if all("valid_w1p" in e for e in h):  # same colour as the run's other curves
            ax_p.plot(ep, [e["valid_w1p"] for e in h], marker=".", color=line.get_color(), label=label)
            print(f"{label}: validation W1P last epoch {h[-1]['valid_w1p']:.4g}")
        ax_t.plot(ep, [e["train_loss"] for e in h], label=label)
        print(
            f"{label}: {len(h)} epochs, {tr['time_s']:.0f} s, best epoch {tr['best_epoch'] + 1}: "
            f"{key} = {tr['best_metric']:.4g}"
        )
    ax_v.set(xlabel="epoch", ylabel="selection metric (EMD_sum or latent NLL)", yscale="log")
    ax_p.set(xlabel="epoch", ylabel="validation W1P (mean of η_rel, φ_rel, pT_rel)", yscale="log")
    ax_t.set(xlabel="epoch", ylabel="training loss (model's own units)")
    ax_t.set_yscale("symlog")
    ax_v.legend(fontsize=7)
    if ax_p.lines:
        ax_p.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(a.output) or ".", exist_ok=True)
    fig.savefig(a.output, dpi=80)
    print("wrote", a.output)


if __name__ == "__main__":
    main()
