"""Truth floors: each metric also computed between two disjoint halves of the real sample.

Halves are split by event (jets of one event are correlated) and the figure is averaged over
``n_splits`` random splits. For the model, the same split is used: the model's jets of half
B against the real jets of half A, so model and floor use samples of the same size.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def event_halves(event_keys: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Indices of two halves of the jets, split by event."""
    events = np.unique(event_keys)
    chosen = rng.permutation(events)[: len(events) // 2]
    in_a = np.isin(event_keys, chosen)
    return np.flatnonzero(in_a), np.flatnonzero(~in_a)


def with_floor(
    metric: Callable[[np.ndarray, np.ndarray, str], dict[str, float]],
    event_keys: np.ndarray,
    model_aligned: bool = True,
    n_model: int | None = None,
    n_splits: int = 5,
    seed: int = 0,
    progress: str | None = None,
    floor_only: bool = False,
) -> dict[str, dict[str, float]]:
    """Average ``metric(idx_real, idx_other, side)`` over random event splits.

    ``metric(a, b, other)`` gets real-sample indices ``a``, indices ``b`` and ``other`` in
    {"real", "model"}; it returns a flat dict of figures. With ``model_aligned`` the model's
    jet i belongs to real jet i's event (fast simulation); otherwise (generation) the model
    sample is indexed 0..n_model-1: each split takes the next disjoint block of a random
    permutation while the sample holds enough jets (so a model sample ``n_splits`` times the
    real sample's size gives every split fresh jets, and the splits average the model's
    sampling noise as they average the floor's), then a fresh random choice per split.
    ``progress``: the label of a progress bar over the splits (None: none).
    ``floor_only``: no model (``metric`` is called for the floor side only); the result has
    ``floor`` and ``floor_std`` per figure.
    """
    from tqdm.auto import tqdm

    if not model_aligned and n_model is None:
        raise ValueError("a model sample that is not aligned with the real jets needs n_model")
    rng = np.random.default_rng(seed)
    acc: dict[str, dict[str, list[float]]] = {}
    n_model = len(event_keys) if n_model is None else n_model
    order = rng.permutation(n_model) if not model_aligned else None
    used = 0
    for _ in tqdm(range(n_splits), desc=progress, unit="split", disable=progress is None):
        a, b = event_halves(event_keys, rng)
        if model_aligned or order is None:
            mb = b
        elif used + len(b) <= n_model:
            mb, used = order[used : used + len(b)], used + len(b)
        else:
            mb = rng.choice(n_model, size=len(b), replace=n_model < len(b))
        for side, idx in (("floor", b),) if floor_only else (("floor", b), ("model", mb)):
            for key, value in metric(a, idx, "real" if side == "floor" else "model").items():
                acc.setdefault(key, {}).setdefault(side, []).append(value)
    out = {}
    for key, d in acc.items():
        if floor_only:
            out[key] = {"floor": float(np.mean(d["floor"])), "floor_std": float(np.std(d["floor"]))}
            continue
        f, m = np.array(d["floor"]), np.array(d["model"])
        out[key] = {
            "model": float(m.mean()),
            "model_std": float(m.std()),
            "floor": float(f.mean()),
            "floor_std": float(f.std()),
            "ratio": float(m.mean() / f.mean()) if f.mean() > 0 else float("inf"),
        }
    return out
