"""hepgen: machine-learned fast simulation and generation of LHC jets, for coffea.

The public API, in one screen::

    import hepgen
    runner = hepgen.load("fastsim_ww_pu50")              # a checkpoint file or shipped name
    reco = hepgen.simulate(gen_constituents)             # (N, k, 3) GeV → (N, k, 3) GeV
    jets = hepgen.sample(10_000)                         # the default generator
    hepgen.evaluate("fastsim_ww_pu50", ["ref.h5"], "out")  # metrics with truth floors
    from hepgen import FastSimProcessor, GenerateProcessor  # coffea processors

Layers run one way: io → physics → data → models → train / inference → processors → CLI.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

__version__ = "0.2.0"

__all__ = [
    "FastSimProcessor",
    "GenerateProcessor",
    "HepgenInputError",
    "__version__",
    "evaluate",
    "load",
    "sample",
    "simulate",
]

from hepgen.errors import HepgenInputError

if TYPE_CHECKING:
    from hepgen.inference import Runner
    from hepgen.processors import FastSimProcessor, GenerateProcessor


def load(path: str | os.PathLike | None = None, device: str | None = None, **kwargs) -> Runner:
    """A checkpoint ready to run (:class:`hepgen.inference.Runner`).

    Args:
        path: a checkpoint file or a shipped checkpoint's name; None: the default fast-sim.
        device: ``auto`` (CUDA when present), ``cpu``, ``cuda``...
        **kwargs: ``batch_size``, ``steps``, ``settings`` (see :class:`~hepgen.inference.Runner`).
    """
    from hepgen.inference import Runner
    from hepgen.shipped import DEFAULT_FASTSIM

    return Runner(path or DEFAULT_FASTSIM, device=device, **kwargs)


def simulate(
    gen: np.ndarray, checkpoint: str | os.PathLike | None = None, seed: int = 0,
    device: str | None = None, pid: np.ndarray | None = None, tail: bool = False,
) -> np.ndarray:
    """Reco-level constituents (N, k, 3) for gen-level ones (N, any, 3), GeV, with a fast-sim.

    Args:
        gen: generator-level constituents px, py, pz, zero padded.
        checkpoint: fast-sim checkpoint file or shipped name (default: hepgen's default).
        seed: noise seed; each jet's noise depends on (seed, row) only.
        device: torch device.
        pid: the gen constituents' PDG ids (N, any), for a checkpoint conditioned on the
            particle content (``fastsim_content_ww_pu50``); ignored by the others.
        tail: whole jets — the leading k, then the softer constituents beyond them from the
            checkpoint's soft tail (:mod:`hepgen.models.tail`): (N, k + 128, 3).

    Example::

        >>> reco = hepgen.simulate(gen, seed=1)
        >>> whole = hepgen.simulate(gen, seed=1, tail=True)   # whole[:, :50]: reco (a few edge particles moved)
    """
    return load(checkpoint, device=device).simulate(gen, seed=seed, pid=pid, tail=tail)


def sample(
    n: int, checkpoint: str | os.PathLike | None = None, seed: int = 0, device: str | None = None
) -> np.ndarray:
    """``n`` generated jets, cartesian constituents (n, k, 3) in GeV.

    Args:
        n: number of jets.
        checkpoint: generator checkpoint file or shipped name (default: hepgen's default).
        seed: sampling seed.
        device: torch device.
    """
    from hepgen.shipped import DEFAULT_GENERATOR

    return load(checkpoint or DEFAULT_GENERATOR, device=device).sample(n, seed=seed)


def evaluate(sample, reference, output="hepgen-evaluate", **kwargs) -> dict:
    """Metrics with truth floors and figures; see :func:`hepgen.evaluation.evaluate`."""
    from hepgen.evaluation import evaluate as _evaluate

    return _evaluate(sample, reference, output, **kwargs)


def __getattr__(name: str):
    if name in ("FastSimProcessor", "GenerateProcessor"):
        from hepgen import processors

        return getattr(processors, name)
    raise AttributeError(f"module 'hepgen' has no attribute {name!r}")
