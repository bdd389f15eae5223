"""What ships inside the wheel: checkpoints and demo samples, found with ``importlib.resources``.

The repository's ``data/`` folder is installed as the package ``hepgen.resources``; these
functions work the same from a source checkout, an editable install and a wheel, from any
working directory, and on a Dask worker (a checkpoint may be named instead of given by path).

Example::

    >>> from hepgen import shipped
    >>> shipped.checkpoint("fastsim_ww_pu50").name
    'fastsim_ww_pu50.pt'
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

from hepgen.errors import HepgenInputError

__all__ = [
    "DEFAULT_FASTSIM",
    "DEFAULT_GENERATOR",
    "DEFAULT_SAMPLE",
    "checkpoint",
    "checkpoints",
    "resolve_checkpoint",
    "sample",
    "samples",
]

DEFAULT_FASTSIM = "fastsim_ww_pu50"
"""The default fast-sim (``hepgen run``, :class:`~hepgen.processors.FastSimProcessor`)."""
DEFAULT_GENERATOR = "epic_fm_gluon"
"""The default generator (``hepgen sample`` without a checkpoint)."""
DEFAULT_SAMPLE = "delphes_ww_pu50_highpt_100ev.root"
"""The demo Delphes sample of the main job."""


def _folder(name: str) -> Path:
    try:
        root = Path(str(files("hepgen.resources")))
    except ModuleNotFoundError:  # the source tree imported without installing (no mapping)
        root = Path(__file__).resolve().parents[1] / "data"
        if not (root / "models").is_dir():
            raise HepgenInputError(
                "hepgen's shipped files (package hepgen.resources) are missing; reinstall hepgen"
            ) from None
    return root / name


def checkpoints() -> list[str]:
    """Names of the shipped checkpoints."""
    return sorted(p.stem for p in _folder("models").glob("*.pt"))


def samples() -> list[str]:
    """File names of the shipped samples."""
    return sorted(p.name for p in _folder("samples").iterdir() if p.suffix in (".root", ".h5"))


def checkpoint(name: str) -> Path:
    """The path of shipped checkpoint ``name`` (with or without ``.pt``)."""
    stem = name[:-3] if name.endswith(".pt") else name
    p = _folder("models") / f"{stem}.pt"
    if not p.is_file():
        raise HepgenInputError(
            f"{name}: no such shipped checkpoint; shipped: {', '.join(checkpoints())}"
        )
    return p


def sample(name: str = DEFAULT_SAMPLE) -> Path:
    """The path of shipped sample ``name``."""
    p = _folder("samples") / name
    if not p.is_file():
        raise HepgenInputError(f"{name}: no such shipped sample; shipped: {', '.join(samples())}")
    return p


def resolve_checkpoint(path_or_name: str | os.PathLike | None, default: str = DEFAULT_FASTSIM) -> Path:
    """An existing file path as given, else a shipped checkpoint's name; None → ``default``."""
    if path_or_name is None:
        return checkpoint(default)
    p = Path(path_or_name)
    if p.exists():
        return p
    if p.parent == Path(".") and p.stem in checkpoints():
        return checkpoint(p.stem)
    raise HepgenInputError(
        f"{p}: no such checkpoint file, nor a shipped checkpoint ({', '.join(checkpoints())})"
    )
