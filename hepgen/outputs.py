"""Writing outputs without ever destroying an input or a previous good output.

Every file or folder hepgen writes goes through :func:`check_output` (before any work starts:
the parent folder exists and is writable, the output is not one of the inputs, an existing
output is replaced only when ``overwrite`` is asked for) and then :func:`atomic_file` or
:func:`atomic_dir`, which write under a temporary name beside the target and rename it into
place only when complete — an interrupted run leaves the previous output intact and no partial
file. :func:`atomic_dir` also holds a lock, so two runs into one folder cannot race: the second
is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from hepgen.errors import HepgenInputError

__all__ = ["atomic_dir", "atomic_file", "check_output"]


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    output: str | os.PathLike,
    inputs: Iterable[str | os.PathLike] = (),
    overwrite: bool = False,
    what: str = "output",
) -> Path:
    """Validate an output path before the work starts; returns it as a ``Path``.

    Raises:
        HepgenInputError: the output is an input, its folder is missing or not writable, or it
            exists and ``overwrite`` is False.
    """
    out = Path(output)
    for p in inputs:
        p = Path(p)
        if _same(out, p) or out.resolve() == p.resolve():
            raise HepgenInputError(f"{out}: the {what} is also an input; choose another path")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise HepgenInputError(f"{out}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise HepgenInputError(f"{out}: the folder {parent} is not writable")
    if out.exists() and not overwrite:
        raise HepgenInputError(f"{out}: exists already; pass --overwrite to replace it")
    return out


@contextlib.contextmanager
def atomic_file(output: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``output``; rename it onto ``output`` on success only."""
    out = Path(output)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.resolve().parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, out)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(output: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``output``; it replaces ``output`` on success only.

    A lock file (``.NAME.lock``) refuses a second writer of the same folder while this one runs.
    """
    out = Path(output)
    parent = out.resolve().parent
    lock = parent / f".{out.name}.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if not _stale(lock):
            raise HepgenInputError(
                f"{out}: another hepgen process is writing this folder (lock {lock}); wait for it, "
                "or remove the lock if no such process runs"
            ) from None
        # its writer was killed (SIGTERM/SIGKILL skip the clean-up): take over, drop its debris
        lock.unlink(missing_ok=True)
        for part in parent.glob(f".{out.name}.*.part"):
            shutil.rmtree(part, ignore_errors=True)
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # another process took it over first
            raise HepgenInputError(f"{out}: another hepgen process is writing this folder (lock {lock})") from None
    os.write(fd, f"{socket.gethostname()} {os.getpid()}".encode())
    os.close(fd)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".part", dir=parent))
    try:
        yield tmp
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=parent))
            os.replace(out, old / "previous")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)


def _stale(lock: Path) -> bool:
    """True when ``lock`` ("HOST PID") names a process of this machine that no longer runs (a
    killed writer). A lock of another machine (a shared file system), without a readable process
    id, or of a live process, is not stale."""
    try:
        host, pid_text = lock.read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    if host != socket.gethostname():
        return False
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, under another user
        return False
    return False
