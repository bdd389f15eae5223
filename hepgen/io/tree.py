"""Opening ROOT files with one-line errors, and checking that branches exist."""

from __future__ import annotations

import os

import uproot

from hepgen.errors import HepgenInputError

__all__ = ["open_root", "require_branches", "tree_names"]


def open_root(path: str | os.PathLike) -> uproot.ReadOnlyDirectory:
    """``uproot.open`` with :class:`HepgenInputError` for missing, non-ROOT or truncated files."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise HepgenInputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise HepgenInputError(f"{path}: is a directory, not a ROOT file")
    try:
        return uproot.open(path)
    except Exception as exc:  # uproot raises many types for non-ROOT or truncated files
        raise HepgenInputError(
            f"{path}: not a readable ROOT file ({type(exc).__name__}: {exc})"
        ) from exc


def tree_names(f: uproot.ReadOnlyDirectory) -> set[str]:
    return {k.split(";")[0] for k in f.keys(recursive=False)}


def branch_names(tree: uproot.TTree) -> set[str]:
    """Every branch of ``tree`` under its own name and its full path (``C.Leaf`` and
    ``C/C.Leaf`` in Delphes' split layout)."""
    return set(tree.keys(recursive=True, full_paths=False)) | set(tree.keys(recursive=True))


def require_branches(tree: uproot.TTree, path: str, branches: list[str], what: str) -> None:
    """Raise :class:`HepgenInputError` naming the missing branches, if any."""
    have = branch_names(tree)
    missing = [b for b in branches if b not in have]
    if missing:
        shown = ", ".join(missing[:6]) + (f" (+{len(missing) - 6} more)" if len(missing) > 6 else "")
        raise HepgenInputError(f"{path}: missing branches for {what}: {shown}")
