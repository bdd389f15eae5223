"""mplhep figures: ratio plots with statistical bands, and average jet images (seed 003)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import matplotlib.style
import mplhep
import numpy as np
from matplotlib.figure import Figure

# Figures are built with matplotlib's object API (``Figure``), not pyplot: importing or using
# this module never changes the backend, so notebooks keep their inline figures. The style is
# mplhep's ROOT style with a neutral label — these are Delphes and hepgen figures, not CMS's.
STYLE = mplhep.style.ROOT


def _label(ax, text: str = "hepgen") -> None:
    ax.text(0.0, 1.01, text, transform=ax.transAxes, fontsize=14, fontweight="bold", va="bottom")
    ax.text(1.0, 1.01, "13 TeV (simulation)", transform=ax.transAxes, fontsize=12, ha="right", va="bottom")

MIN_BIN_JETS = 5
"""A gen-pT bin of the main job's response histograms with fewer (weighted) jets is not drawn
(its response plot: the reference's jets) and shows no spread (IQR, 90% quantile) in the response
table or the resolution plot: the spread of one or two jets is the histogram's bin width, not a
resolution."""

SOURCE_LABELS = {"delphes": "Delphes", "reco_pf": "reco (PF)", "gen": "gen", "hepgen": "hepgen"}
"""How histogram sources are named in legends (CMS PFCands are not Delphes)."""
COLOURS = ("black", "tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple")
LABELS = {
    "pt": r"Jet $p_T$ [GeV]",
    "mass": r"Jet mass [GeV]",
    "eta": r"Jet $\eta$",
    "phi": r"Jet $\phi$",
    "E": r"Jet energy [GeV]",
    "n_constituents": "Number of constituents",
    "flow1": r"Flow$_1$",
    "flow2": r"Flow$_2$",
    "flow3": r"Flow$_3$",
    "flow4": r"Flow$_4$",
    "eta_rel": r"Particle $\eta^{rel}$",
    "phi_rel": r"Particle $\phi^{rel}$",
    "pt_rel": r"Particle $p_T^{rel}$",
    "mjj": r"$m_{jj}$ [GeV]",
    "deta_jj": r"$|\Delta\eta_{jj}|$",
}


def auto_bins(
    reference: np.ndarray, n: int = 40, quantiles: tuple[float, float] = (0.001, 0.999)
) -> np.ndarray:
    lo, hi = np.quantile(reference, quantiles) if len(reference) else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    return np.linspace(lo, hi, n + 1)


def ratio_plot(
    samples: Mapping[str, np.ndarray],
    reference: str,
    path: str | os.PathLike,
    xlabel: str | None = None,
    bins: np.ndarray | int = 40,
    density: bool = True,
    logy: bool = False,
) -> str:
    """Histogram every sample over ``bins`` and draw :func:`ratio_plot_counts`."""
    if np.isscalar(bins):  # a number of bins; else the edges
        bins = auto_bins(np.asarray(samples[reference]), int(np.asarray(bins)))
    counts = {name: np.histogram(values, bins)[0] for name, values in samples.items()}
    return ratio_plot_counts(counts, np.asarray(bins), reference, path, xlabel, density, logy)


def ratio_plot_counts(
    counts: Mapping[str, np.ndarray],
    bins: np.ndarray,
    reference: str,
    path: str | os.PathLike,
    xlabel: str | None = None,
    density: bool = True,
    logy: bool = False,
    variances: Mapping[str, np.ndarray] | None = None,
) -> str:
    """Step histograms of binned counts (or sums of weights) with a ratio panel to ``reference``.

    The grey band is the reference's relative statistical uncertainty (√N, or √ of the sum of
    squared weights where ``variances`` are given); error bars on the other samples are theirs.
    Returns the path written.
    """
    with matplotlib.style.context(STYLE):
        return _ratio_plot_counts(counts, bins, reference, path, xlabel, density, logy, variances)


def _ratio_plot_counts(counts, bins, reference, path, xlabel, density, logy, variances=None) -> str:
    fig = Figure(figsize=(8, 8))
    ax, rax = fig.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05}
    )
    width = np.diff(bins)

    def norm(name):
        c = np.asarray(counts[name], dtype=float)
        var = c if variances is None else np.asarray(variances[name], dtype=float)
        err = np.sqrt(np.clip(var, 0.0, None))
        total = c.sum()
        return (c / (total * width), err / (total * width)) if density and total else (c, err)

    ref_y, ref_e = norm(reference)
    centres = 0.5 * (bins[1:] + bins[:-1])
    for colour, (name, c) in zip(COLOURS, counts.items()):
        y, e = norm(name)
        mplhep.histplot(y, bins, yerr=e, ax=ax, label=f"{name} ({np.sum(c):.6g})", color=colour)
        if name == reference:
            rel = np.divide(ref_e, ref_y, out=np.zeros_like(ref_y), where=ref_y > 0)
            rax.stairs(
                1 + rel,
                bins,
                baseline=1 - rel,
                fill=True,
                color="grey",
                alpha=0.4,
                label="stat. unc.",
            )
            continue
        r = np.divide(y, ref_y, out=np.full_like(y, np.nan), where=ref_y > 0)
        re = np.divide(e, ref_y, out=np.zeros_like(y), where=ref_y > 0)
        rax.errorbar(centres, r, yerr=re, fmt="o", ms=3, color=colour)
    rax.axhline(1.0, color="black", lw=1)
    rax.set_ylim(0.0, 2.0)
    rax.set_ylabel(f"ratio to\n{reference}", fontsize=14)
    rax.set_xlabel(xlabel or "")
    ax.set_ylabel("density" if density else "entries")
    if logy:
        ax.set_yscale("log")
    ax.legend(fontsize=14)
    _label(ax)
    fig.savefig(path, bbox_inches="tight", dpi=80)
    return os.fspath(path)


def hist_ratio_plots(
    hists: Mapping, outdir: str | os.PathLike, reference: str = "delphes"
) -> list[str]:
    """One ratio plot per ``hist.Hist`` with a ``source`` axis (summed over other category axes)."""
    paths = []
    for name, h in hists.items():
        if name.startswith("response_"):
            paths += _response_plots(name, h, outdir, reference)
            continue
        sources = filled_sources(h)
        if not sources:
            continue
        ref = reference if reference in sources else sources[0]
        order = [ref, *(s for s in sources if s != ref)]
        proj = {s: h[{"source": s}].project(h.axes[-1].name) for s in order}
        paths.append(
            ratio_plot_counts(
                {SOURCE_LABELS.get(s, s): p.values() for s, p in proj.items()},
                h.axes[-1].edges,
                SOURCE_LABELS.get(ref, ref),
                os.path.join(outdir, f"{name}.png"),
                h.axes[-1].label,
                variances={SOURCE_LABELS.get(s, s): _variances(p) for s, p in proj.items()},
            )
        )
    return paths


def total(h, flow: bool = False) -> float:
    """A histogram's sum as a number, whatever its storage (``Weight``: the sum of weights)."""
    t = h.sum(flow=flow)
    return float(getattr(t, "value", t))


def filled_sources(h) -> list[str]:
    """The ``source`` categories of ``h`` that hold anything (a positive sum)."""
    return [s for s in h.axes["source"] if total(h[{"source": s}]) > 0]


def _variances(h) -> np.ndarray:
    """Per bin, the variance of a 1-d histogram (Weight storage: the sum of squared weights;
    counts: the counts)."""
    v = h.variances()
    return h.values() if v is None else v


def _response_plots(name: str, h, outdir, reference: str) -> list[str]:
    """One ratio plot of the response per gen-pT bin of a response histogram."""
    paths: list[str] = []
    sources = filled_sources(h)
    if reference not in sources:
        return paths
    edges = h.axes["gen_pt"].edges
    for b in range(len(edges) - 1):
        sliced = {
            SOURCE_LABELS.get(s, s): h[{"source": s, "gen_pt": b}].project(name)
            for s in [reference, *[x for x in sources if x != reference]]
        }
        proj = {k: p.values() for k, p in sliced.items()}
        if sum(proj[SOURCE_LABELS.get(reference, reference)]) < MIN_BIN_JETS:
            continue
        group, stop = 4, len(h.axes[-1].edges) - 1  # responses: 0.02-wide bins over 0–2
        if name == "response_dr":  # ΔR: 0.005-wide bins up to the filled range (a multiple of 0.05)
            filled = max(int(np.flatnonzero(v)[-1]) + 1 if np.any(v) else 0 for v in proj.values())
            group, stop = 5, min(stop, max(50, -(-filled // 50) * 50))
        coarse = {k: v[:stop].reshape(-1, group).sum(1) for k, v in proj.items()}
        coarse_var = {k: _variances(p)[:stop].reshape(-1, group).sum(1) for k, p in sliced.items()}
        paths.append(
            ratio_plot_counts(
                coarse,
                h.axes[-1].edges[: stop + 1 : group],
                SOURCE_LABELS.get(reference, reference),
                os.path.join(outdir, f"{name}_{edges[b]:.0f}_{edges[b + 1]:.0f}.png"),
                f"{h.axes[-1].label}, gen $p_T$ {edges[b]:.0f}–{edges[b + 1]:.0f} GeV",
                variances=coarse_var,
            )
        )
    return paths


def resolution_plot(
    response: Mapping[str, Mapping[str, list]],
    quantity: str,
    path: str | os.PathLike,
) -> str:
    """IQR (resolution) and median (scale) of reco/gen vs gen pT for every source, from the
    per-bin results of :func:`hepgen.metrics.detector.response` (``quantity``: ``pt`` or
    ``mass``); medians carry their bootstrap standard deviation when it was computed."""
    with matplotlib.style.context(STYLE):
        fig = Figure(figsize=(8, 8))
        ax, rax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1], "hspace": 0.05})
        for colour, (name, r) in zip(COLOURS, response.items()):
            bins = np.asarray(r["bins"])
            centres = 0.5 * (bins[1:] + bins[:-1])
            ax.plot(centres, r[f"{quantity}_iqr"], "o-", color=colour, label=name)
            rax.errorbar(
                centres, r[f"{quantity}_median"], yerr=r.get(f"{quantity}_median_err"),
                fmt="o-", color=colour, capsize=3,
            )
        label = "$p_T$" if quantity == "pt" else "mass"
        ax.set_ylabel(f"IQR of {label} reco/gen")
        ax.set_ylim(bottom=0)
        rax.set_ylabel("median")
        rax.set_xlabel("gen jet $p_T$ [GeV]")
        fig.align_ylabels([ax, rax])
        ax.legend(fontsize=13, title=f"{label} resolution", title_fontsize=13)
        _label(ax)
        fig.savefig(path, bbox_inches="tight", dpi=80)
    return os.fspath(path)


def jet_image(rel: np.ndarray, bins: int = 100, extent: float = 0.8) -> np.ndarray:
    """Average jet image: pT_rel-weighted 2-D histogram in (η_rel, φ_rel), averaged over jets."""
    m = rel[..., 2] > 0
    img, _, _ = np.histogram2d(  # bins equal steps over the range: np.linspace(-extent, extent, bins + 1)
        rel[..., 0][m], rel[..., 1][m], bins=bins, range=[[-extent, extent], [-extent, extent]],
        weights=rel[..., 2][m],
    )
    return img / max(len(rel), 1)


def jet_images_plot(
    images: Mapping[str, np.ndarray], path: str | os.PathLike, extent: float = 0.8
) -> str:
    """Side-by-side average jet images on a common log colour scale."""
    from matplotlib.colors import LogNorm

    with matplotlib.style.context(STYLE):
        fig = Figure(figsize=(6 * len(images), 5.5))
        axes = fig.subplots(1, len(images), squeeze=False)
        return _images(fig, axes, images, path, extent, LogNorm)


def _images(fig, axes, images, path, extent, LogNorm) -> str:
    vmax = max(float(i.max()) for i in images.values()) or 1.0
    for ax, (name, img) in zip(axes[0], images.items()):
        im = ax.imshow(
            img.T + 1e-12,
            origin="lower",
            extent=(-extent, extent, -extent, extent),
            norm=LogNorm(vmin=vmax * 1e-5, vmax=vmax),
            cmap="viridis",
        )
        ax.set_title(name, fontsize=16)
        ax.set_xlabel(r"$\eta^{rel}$")
        if ax is axes[0][0]:
            ax.set_ylabel(r"$\phi^{rel}$")
    fig.colorbar(im, ax=axes[0].tolist(), label=r"$\langle p_T^{rel}\rangle$")
    fig.savefig(path, bbox_inches="tight", dpi=80)
    return os.fspath(path)
