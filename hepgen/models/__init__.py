"""hepgen models, one file per family; :mod:`registry` maps a checkpoint's name to a class."""
