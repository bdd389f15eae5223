"""hepgen's exceptions: the one place every layer imports them from.

A :class:`HepgenInputError` is a *user* error — a file, argument or checkpoint that hepgen cannot
use. Its message names the object and what is wrong; the CLI prints it as one line and exits
with code 2 (``--debug`` or ``HEPGEN_DEBUG=1`` shows the traceback).
"""

from __future__ import annotations

__all__ = ["HepgenInputError"]


class HepgenInputError(ValueError):
    """An input (file, argument, checkpoint) that hepgen cannot use; the message says why."""
