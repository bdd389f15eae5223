"""Choosing the torch device: CUDA when present, the CPU otherwise, and a clear error for a
device that this machine does not have."""

from __future__ import annotations

import torch

from hepgen.errors import HepgenInputError

__all__ = ["pick_device"]


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """``'auto'`` (or None) → CUDA when available, else CPU; anything else is checked to exist.

    Raises:
        HepgenInputError: an unknown device string, or a CUDA device this machine lacks.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise HepgenInputError(f"--device {device!r}: not a torch device ({exc})") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise HepgenInputError(f"--device {device}: no CUDA GPU on this machine (use cpu or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise HepgenInputError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type != "cpu":
        if dev.type == "mps" and torch.backends.mps.is_available():
            return dev
        raise HepgenInputError(f"--device {device}: not available here (use cpu, cuda or auto)")
    return dev
