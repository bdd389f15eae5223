"""hepgen: machine-learned fast simulation and generation of LHC jets, for coffea.

The data flow (one implementation each, shared by the CLI, training and processors)::

    ROOT (Delphes | PFNanoAOD) → hepgen.io → hepgen.physics.clustering → dense tables
      → hepgen.data.normalise → hepgen.models → back to physics → cuts → reclustering → hist
"""

from __future__ import annotations

__version__ = "0.1.0"


def load(path, device: str | None = None):
    """Load a hepgen checkpoint and return a ready :class:`hepgen.inference.Runner`."""
    from hepgen.inference import Runner

    return Runner(path, device=device)


__all__ = ["__version__", "load"]
