"""Invertible per-feature normalisations, fitted on a training split and stored in checkpoints.

``Standardise`` (seed 001 §3: subtract the mean, scale to unit variance) and ``MinMax``
(seed 000: each feature to [0, 1]). Both act on the last axis of numpy arrays or torch
tensors and round-trip through plain dictionaries (``to_dict`` / ``from_dict``) so that a
checkpoint stays loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


def _like(values: np.ndarray, x):
    if isinstance(x, torch.Tensor):
        return torch.as_tensor(values, dtype=x.dtype, device=x.device)
    return values.astype(x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float64)


@dataclass(frozen=True)
class Normalisation:
    """x → (x − shift) / scale on the last axis."""

    kind: str
    shift: tuple[float, ...]
    scale: tuple[float, ...]

    @classmethod
    def fit(cls, kind: str, x: np.ndarray) -> Normalisation:
        """Fit on ``x`` (..., F): ``kind`` is 'standardise', 'minmax' or 'identity'."""
        flat = np.asarray(x, dtype=np.float64).reshape(-1, np.shape(x)[-1])
        if kind == "standardise":
            shift, scale = flat.mean(0), flat.std(0)
        elif kind == "minmax":
            shift, scale = flat.min(0), flat.max(0) - flat.min(0)
        elif kind == "identity":
            shift, scale = np.zeros(flat.shape[1]), np.ones(flat.shape[1])
        else:
            raise ValueError(f"unknown normalisation {kind!r}: use standardise, minmax or identity")
        scale = np.where(scale > 0, scale, 1.0)
        return cls(kind, tuple(float(v) for v in shift), tuple(float(v) for v in scale))

    def forward(self, x):
        return (x - _like(np.array(self.shift), x)) / _like(np.array(self.scale), x)

    def inverse(self, y):
        return y * _like(np.array(self.scale), y) + _like(np.array(self.shift), y)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "shift": list(self.shift), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, d: dict) -> Normalisation:
        return cls(
            str(d["kind"]), tuple(float(v) for v in d["shift"]), tuple(float(v) for v in d["scale"])
        )
