"""One-dimensional distances between samples of jet features.

References: EMD_sum — Orzari et al. 2023 (seed 000) §4: the 1-Wasserstein distance of the
jet mass, energy, pT, η, φ histograms, summed. Symmetrised KLD — Touranakou et al. 2022
(seed 001) §6: KL(p‖q) + KL(q‖p) of histograms after rescaling so that the reference lies in
[0, 1]. W1 itself is ``scipy.stats.wasserstein_distance`` (a maintained implementation; we
do not rewrite it).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import wasserstein_distance

EMD_FEATURES = ("mass", "E", "pt", "eta", "phi")


def rescale(reference: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Rescale all samples with the min-max range of ``reference`` (reference → [0, 1])."""
    lo, hi = float(np.min(reference)), float(np.max(reference))
    scale = hi - lo if hi > lo else 1.0
    return [(np.asarray(x, dtype=np.float64) - lo) / scale for x in (reference, *others)]


def w1(a: np.ndarray, b: np.ndarray) -> float:
    """1-Wasserstein distance between two 1-D samples (unbinned)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        return float("inf")
    return float(wasserstein_distance(a, b))


def w1_hist(
    a: np.ndarray, b: np.ndarray, bins: int = 100, range_: tuple[float, float] = (0.0, 1.0)
) -> float:
    """W1 between the histograms of ``a`` and ``b`` (bin centres weighted by counts)."""
    edges = np.linspace(*range_, bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    ha, _ = np.histogram(np.clip(a, *range_), edges)
    hb, _ = np.histogram(np.clip(b, *range_), edges)
    if ha.sum() == 0 or hb.sum() == 0:
        return float("inf")
    return float(wasserstein_distance(centres, centres, ha, hb))


def kld_symmetric(
    p_sample: np.ndarray, q_sample: np.ndarray, bins: int = 50, pseudo_count: float = 1.0
) -> float:
    """KL(p‖q) + KL(q‖p) of [0, 1]-rescaled histograms (the reference ``p`` spans [0, 1]).

    Values of ``q`` outside the reference's range land in the edge bins. Each bin gets
    ``pseudo_count`` (Laplace smoothing) so that an empty bin in one sample gives a finite,
    sample-size-aware penalty instead of one set by an arbitrary epsilon.
    """
    p_s, q_s = rescale(p_sample, q_sample)
    edges = np.linspace(0.0, 1.0, bins + 1)
    p, _ = np.histogram(np.clip(p_s, 0, 1), edges)
    q, _ = np.histogram(np.clip(q_s, 0, 1), edges)
    p = (p + pseudo_count) / (p.sum() + pseudo_count * bins)
    q = (q + pseudo_count) / (q.sum() + pseudo_count * bins)
    return float(np.sum(p * np.log(p / q)) + np.sum(q * np.log(q / p)))


def emd_sum(
    reference: dict[str, np.ndarray],
    other: dict[str, np.ndarray],
    bins: int = 100,
    features: tuple[str, ...] = EMD_FEATURES,
) -> float:
    """Σ over jet (mass, E, pT, η, φ) of the histogram W1 on the reference's [0, 1] range."""
    total = 0.0
    for f in features:
        r, o = rescale(reference[f], other[f])
        total += w1_hist(r, o, bins=bins)
    return total


def kld_sum(
    reference: dict[str, np.ndarray],
    other: dict[str, np.ndarray],
    bins: int = 50,
    features: tuple[str, ...] = EMD_FEATURES,
) -> float:
    """Σ over jet (mass, E, pT, η, φ) of the symmetrised KLD (seed 001's model selection)."""
    return sum(kld_symmetric(reference[f], other[f], bins=bins) for f in features)
