"""Self-describing checkpoints, loadable with ``torch.load(path, weights_only=True)``.

A checkpoint is one dict: ``format``, ``model`` (registry name), ``config``, ``state_dict``,
``normalisation`` (per table, :class:`~hepgen.data.normalise.Normalisation` dicts),
``dataset`` (R, k, selection, files), ``training`` (history, best epoch, time, command),
``versions``; a resumable one (``*.last.pt``) also holds ``optimizer`` and ``rng``.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import torch

from hepgen.errors import HepgenInputError

FORMAT = "hepgen-checkpoint/1"
REQUIRED = ("model", "config", "state_dict", "normalisation", "dataset")


def versions() -> dict[str, str]:
    import awkward
    import numpy

    import hepgen

    return {
        "hepgen": hepgen.__version__,
        "torch": str(torch.__version__),
        "numpy": numpy.__version__,
        "awkward": awkward.__version__,
        "python": platform.python_version(),
    }


def save(
    path: str | os.PathLike,
    *,
    model: str,
    config: dict,
    state_dict: dict,
    normalisation: dict,
    dataset: dict,
    training: dict,
    extra: dict | None = None,
    half: bool = False,
) -> None:
    """Write a checkpoint atomically. ``half`` stores float weights as float16 (smaller files)."""
    if half:
        state_dict = {k: v.half() if v.is_floating_point() else v for k, v in state_dict.items()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "model": model,
        "config": config,
        "state_dict": state_dict,
        "normalisation": normalisation,
        "dataset": dataset,
        "training": training,
        "versions": versions(),
    }
    payload.update(extra or {})
    tmp = f"{os.fspath(path)}.tmp"
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", data: bytes | None = None
) -> dict:
    """Read a checkpoint (weights only, no pickled code) and check its format.

    ``data``: the checkpoint's bytes (``path`` then only names it in messages).
    """
    import io

    path = os.fspath(path)
    if data is None and not os.path.exists(path):
        raise HepgenInputError(f"{path}: no such checkpoint")
    try:
        source = io.BytesIO(data) if data is not None else path
        ckpt = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise HepgenInputError(
            f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise HepgenInputError(f"{path}: not a hepgen checkpoint (format {FORMAT} expected)")
    missing = [key for key in REQUIRED if key not in ckpt]
    if missing:
        raise HepgenInputError(f"{path}: incomplete checkpoint, no {', '.join(missing)}")
    for key in ("config", "state_dict", "normalisation", "dataset"):
        if not isinstance(ckpt[key], dict):
            raise HepgenInputError(f"{path}: checkpoint entry {key!r} is not a dict")
    if not {"R", "k"} <= set(ckpt["dataset"]):
        raise HepgenInputError(f"{path}: checkpoint dataset info lacks R or k")
    return ckpt
