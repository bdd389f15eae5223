"""coffea processors: :class:`FastSimProcessor` (gen → hepgen reco jets) and
:class:`GenerateProcessor` (jets from noise), sharing :mod:`~hepgen.processors.base` and
:mod:`~hepgen.processors.histograms`."""

from hepgen.processors.fastsim import FastSimProcessor
from hepgen.processors.generate import GenerateProcessor

__all__ = ["FastSimProcessor", "GenerateProcessor"]
