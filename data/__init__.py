"""Installed as ``hepgen.resources``: the shipped checkpoints (models/) and demo samples
(samples/). Find them with :mod:`hepgen.shipped`, never through the repository's path."""
