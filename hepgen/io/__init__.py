"""Readers of ROOT files into hepgen's common particle format, and the HDF5 dataset layout.

The common particle format is an awkward array, events × var × {px, py, pz, E, pid}
(float64 momenta in GeV, int32 PDG id), one for generator level and one for
reconstruction level.
"""


from hepgen.io.root import ParticleChunk, iterate_particles, open_tree

__all__ = ["ParticleChunk", "iterate_particles", "open_tree"]
