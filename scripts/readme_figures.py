"""The README's figures, drawn from ``hepgen evaluate`` outputs (``metrics.json``) — nothing is
re-simulated here, so they show exactly what RESULTS.md §2's tables do.

    DRAWS=5 scripts/evaluate_fastsim.sh ../shared/data out/eval     # or an existing out/evalNN
    python scripts/readme_figures.py out/eval [-o docs/figures]

1. ``resolution.png``: jet by jet on boosted WW (the default's held-out test split): the IQR of
   pT(reco)/pT(gen) and of m(reco)/m(gen) per gen-jet pT bin for Delphes, the default fast-sim
   (v2), seed 001's VAE and the identity (gen taken as reco), and each model's ratio to Delphes'
   on its own split, with the ±20% target.
2. ``w1_over_floor.png``: per jet observable, the W1 distance to Delphes over Delphes' own
   half-vs-half floor, for the same models, on WW and, for the default, QCD and tt̄.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

MODELS = {  # folder of scripts/evaluate_fastsim.sh → label, colour
    "mixed-ww": ("hepgen v2 (default)", "tab:red"),
    "vae-ww": ("seed-001 VAE (baseline)", "tab:orange"),
}
FEATURES = ["pt", "mass", "eta", "phi", "E", "n_constituents", "flow1", "flow2", "flow3", "flow4"]
LABELS = {"pt": "$p_T$", "mass": "mass", "eta": r"$\eta$", "phi": r"$\phi$", "E": "E",
          "n_constituents": "n", "flow1": "Flow$_1$", "flow2": "Flow$_2$", "flow3": "Flow$_3$",
          "flow4": "Flow$_4$"}


def _load(folder: Path) -> dict:
    path = folder / "metrics.json"
    if not path.exists():
        raise SystemExit(f"{path}: not found — run scripts/evaluate_fastsim.sh first")
    return json.loads(path.read_text())


def resolution(evals: Path, out: Path) -> Path:
    runs = {name: _load(evals / name) for name in MODELS}
    ref = runs["mixed-ww"]["response"]
    edges = np.asarray(ref["delphes"]["bins"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    plt.style.use(mplhep.style.CMS)
    fig, axes = plt.subplots(2, 2, figsize=(16, 8.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.3], "wspace": 0.3})
    for col, (q, name) in enumerate((("pt", "$p_T$"), ("mass", "mass"))):
        top, bottom = axes[0, col], axes[1, col]
        d = ref["delphes"]
        top.errorbar(centres, d[f"{q}_iqr"], yerr=d[f"{q}_iqr_err"], xerr=np.diff(edges) / 2, fmt="o",
                     color="black", label="Delphes")
        for folder, (label, colour) in MODELS.items():
            r = runs[folder]["response"]
            top.plot(centres, r["hepgen"][f"{q}_iqr"], "s-", color=colour, label=label)
            ratio = np.asarray(r["hepgen"][f"{q}_iqr"]) / np.asarray(r["delphes"][f"{q}_iqr"])
            bottom.plot(centres, ratio, "s-", color=colour)
        top.plot(centres, ref["gen (identity)"][f"{q}_iqr"], "^:", color="tab:blue", label="identity (gen as reco)")
        top.set_ylabel(f"IQR of {name}(reco) / {name}(gen)", fontsize=18)
        top.set_ylim(0, None)
        top.legend(fontsize=13)
        bottom.axhspan(0.8, 1.2, color="grey", alpha=0.25, label="±20%")
        bottom.axhline(1, color="black", lw=1)
        bottom.set_ylim(0, 1.9)
        bottom.set_ylabel("model / Delphes", fontsize=14)
        bottom.set_xlabel("gen jet $p_T$ [GeV]")
        bottom.set_xscale("log")
        bottom.set_xticks(edges, [f"{e:g}" for e in edges])
        bottom.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    fig.suptitle("Resolution jet by jet: boosted WW, pile-up 50, held-out events", fontsize=16)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "resolution.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def w1_over_floor(evals: Path, out: Path) -> Path:
    series = [
        ("boosted WW: hepgen v2 (default)", evals / "mixed-ww", "hepgen", "tab:red"),
        ("QCD: hepgen v2 (default)", evals / "mixed-qcd", "hepgen", "darkred"),
        (r"$t\bar{t}$: hepgen v2 (default)", evals / "mixed-ttbar", "hepgen", "salmon"),
        ("boosted WW: seed-001 VAE", evals / "vae-ww", "hepgen", "tab:orange"),
        ("boosted WW: identity (gen as reco)", evals / "mixed-ww", "gen (identity)", "tab:blue"),
    ]
    series = [s for s in series if (s[1] / "metrics.json").exists()]
    plt.style.use(mplhep.style.CMS)
    fig, ax = plt.subplots(figsize=(15, 6))
    x = np.arange(len(FEATURES))
    width = 0.8 / len(series)
    for i, (label, folder, source, colour) in enumerate(series):
        f = _load(folder)["features"][source]
        ratios = [f[f"{name}/w1"]["ratio"] for name in FEATURES]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, ratios, width, color=colour, label=label)
    ax.axhline(1, color="black", lw=1)
    ax.axhline(3, color="grey", ls="--", lw=1)
    ax.set_yscale("log")
    ax.set_xticks(x, [LABELS[n] for n in FEATURES])
    ax.set_ylabel("W1 to Delphes / Delphes' floor", fontsize=18)
    ax.legend(fontsize=12, ncol=2)
    ax.set_title("Jet observables, held-out events (reco jets $p_T$ > 200 GeV; dashed: 3× the floor)", fontsize=15)
    path = out / "w1_over_floor.png"
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("evals", type=Path, help="output folder of scripts/evaluate_fastsim.sh")
    p.add_argument("-o", "--output", type=Path, default=Path("docs/figures"), help="folder for the figures")
    args = p.parse_args()
    for path in (resolution(args.evals, args.output), w1_over_floor(args.evals, args.output)):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
