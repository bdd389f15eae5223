"""Subcommands beyond ``build-dataset``, registered on the ``hepgen`` parser."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add the remaining subcommands (evaluate, train, simulate, run, ...)."""
