"""Reading JSON inputs (filesets, training configs) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from hepgen.errors import HepgenInputError

__all__ = ["read_json"]


def read_json(path: str | Path, what: str) -> dict:
    """A JSON object from ``path`` with one-line errors."""
    p = Path(path)
    if not p.is_file():
        raise HepgenInputError(f"{p}: no such {what} file")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HepgenInputError(f"{p}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise HepgenInputError(f"{p}: a {what} must be a JSON object, not {type(data).__name__}")
    return data
