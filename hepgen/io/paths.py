"""Input paths: the files a list names more than once."""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["repeated"]


def repeated(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The paths in ``paths`` that name the same file as another one (after resolving links,
    ``..`` and relative paths), sorted; empty when every file is named once.

    Example:
        >>> repeated(["a.h5", "./a.h5", "b.h5"])
        ['./a.h5', 'a.h5']
    """
    real = [os.path.realpath(os.fspath(p)) for p in paths]
    return sorted({os.fspath(p) for p, r in zip(paths, real) if real.count(r) > 1})
