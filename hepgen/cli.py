"""The ``hepgen`` command.

Every user error ends as one line on stderr — ``hepgen COMMAND: error: FILE: what is wrong`` —
and exit code 2, also when it was raised inside a coffea worker (coffea's wrapper is unwrapped
to its cause). ``--debug`` or ``HEPGEN_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from hepgen import __version__
from hepgen.errors import HepgenInputError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="hepgen",
        description="Machine-learned fast simulation and generation of LHC jets, for coffea analyses.",
    )
    p.add_argument("--version", action="version", version=f"hepgen {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks (also HEPGEN_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    from hepgen import commands

    commands.register(sub)
    return p


def user_error(exc: BaseException) -> BaseException | None:
    """The user error behind ``exc`` (following ``__cause__``/``__context__`` through wrappers
    such as coffea's), or None when it is a bug."""
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, (HepgenInputError, FileNotFoundError, PermissionError, IsADirectoryError)):
            return e
        e = e.__cause__ or e.__context__
    return None


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    try:
        args = make_parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return int(exc.code or 0)
    debug = args.debug or os.environ.get("HEPGEN_DEBUG", "") not in ("", "0")
    prog = f"hepgen {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no partial output was written", file=sys.stderr)
        return 130
    except Exception as exc:
        cause = user_error(exc)
        if cause is None:
            raise
        if debug:
            traceback.print_exc()
        print(f"{prog}: error: {_one_line(cause)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
