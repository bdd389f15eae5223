"""The notebooks run top to bottom on the shipped sample and checkpoints (nbclient), from a
folder outside the repository, and show their figures inline.

A notebook takes ~15 s here (a cell at most ~10 s), but about one full-suite run in seven (and
most first runs in a fresh venv) stalled in the first notebook and then passed. Caught live
(2026-12-07, with the logging below): every cell had run, the kernel sat idle with its last output
sent, and nbclient still waited for the last cell's reply — for exactly its cell ``timeout`` (then
600 s), after which it found the reply and passed: pyzmq's asyncio poll had missed the socket's
wake-up (zmq's descriptor is edge-triggered) and saw the message only in the ``poll(0)`` it makes
when a poll times out. A *new* poll looks for a waiting message first, so the kernel's sockets are
polled here in slices of :data:`POLL_SLICE` seconds (:func:`sliced`): a missed wake-up costs at
most that. The cell timeout, :data:`CELL_TIMEOUT`, is ~10× the slowest cell, so a cell that really
hangs still fails. nbclient's messages are logged with their times, and after :data:`SLOW_AFTER`
seconds a watchdog reads the kernel's threads from ``/proc`` (state, wait channel, CPU time;
nothing is sent to the kernel); a slow execution warns with both.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import warnings
from datetime import datetime
from queue import Empty

import nbformat
import pytest

CELL_TIMEOUT = 120
"""nbclient's per-cell timeout, seconds (the slowest cell takes ~10 s)."""

SLOW_AFTER = 120
"""Seconds after which a notebook's execution counts as stalled (the watchdog reads the kernel)."""

POLL_SLICE = 1.0
"""Seconds per poll of the kernel's sockets (:func:`sliced`)."""


def sliced(get_msg):
    """``get_msg(timeout)`` of a jupyter_client async channel, made of polls of at most
    :data:`POLL_SLICE` seconds up to the same timeout: each new poll first looks for a message
    already waiting, so one whose wake-up the event loop missed is found within a slice."""

    async def get_msg_sliced(timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = POLL_SLICE if deadline is None else min(POLL_SLICE, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=left)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get_msg_sliced


def _client(nb, **kwargs):
    """An nbclient ``NotebookClient`` whose shell and IOPub channels poll in slices."""
    from nbclient import NotebookClient

    class SlicedPolls(NotebookClient):
        async def async_start_new_kernel_client(self):
            kc = await super().async_start_new_kernel_client()
            for channel in (kc.shell_channel, kc.iopub_channel):
                channel.get_msg = sliced(channel.get_msg)
            return kc

    return SlicedPolls(nb, **kwargs)


def _notebooks():
    from pathlib import Path

    return sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _proc_state(pid: int) -> str:
    """Each thread of process ``pid`` and of its children: state, wait channel and user+system
    CPU seconds, from ``/proc``."""
    from pathlib import Path

    def children(p: int) -> list[int]:
        f = Path(f"/proc/{p}/task/{p}/children")
        return [int(c) for c in f.read_text().split()] if f.exists() else []

    tick = os.sysconf("SC_CLK_TCK")
    lines = []
    for p in [pid, *children(pid)]:
        tasks = Path(f"/proc/{p}/task")
        for task in sorted(tasks.glob("*")) if tasks.exists() else []:
            try:
                stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
                wchan = (task / "wchan").read_text() or "-"
                comm = (task / "comm").read_text().strip()
            except OSError:  # the thread ended meanwhile
                continue
            cpu = (int(stat[11]) + int(stat[12])) / tick
            lines.append(f"pid {p} thread {task.name} {comm}: state {stat[0]}, wchan {wchan}, cpu {cpu:.1f} s")
    return "\n".join(lines) or "(nothing in /proc)"


def _around_longest_gap(lines: list[str]) -> str:
    """The log lines either side of the longest pause between two timestamped lines."""
    stamps = []
    for i, line in enumerate(lines):
        try:
            stamps.append((datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f"), i))
        except ValueError:
            continue
    if len(stamps) < 2:
        return "\n".join(lines[-20:])
    gap, i = max(((b[0] - a[0]).total_seconds(), a[1]) for a, b in zip(stamps, stamps[1:]))
    return f"(longest gap {gap:.0f} s after line {i})\n" + "\n".join(lines[max(0, i - 6) : i + 4])


@pytest.mark.parametrize("path", _notebooks(), ids=[p.name for p in _notebooks()])
def test_notebook_executes(path, tmp_path, monkeypatch, repo_root):
    shared = repo_root.parent / "shared" / "data"
    if shared.exists():
        monkeypatch.setenv("HEPGEN_SHARED_DATA", str(shared))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    client = _client(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    log = tmp_path / "nbclient.log"
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    client.log.addHandler(handler)
    level = client.log.level
    client.log.setLevel(logging.DEBUG)
    seen: list[str] = []
    done = threading.Event()

    def watch() -> None:  # the kernel's threads, every SLOW_AFTER s once the run counts as stalled
        while not done.wait(SLOW_AFTER):
            pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            state = _proc_state(pid) if pid else "(no kernel process)"
            seen.append(f"{time.strftime('%H:%M:%S')} kernel pid {pid}:\n{state}")

    watchdog = threading.Thread(target=watch, daemon=True)
    start = time.monotonic()
    watchdog.start()
    try:
        client.execute()
    finally:
        done.set()
        client.log.removeHandler(handler)
        client.log.setLevel(level)
        handler.close()
    took = time.monotonic() - start
    finished = datetime.now()
    if took > SLOW_AFTER:
        messages = [line[:300] for line in log.read_text().splitlines()]
        # the wait after the last message counts too (the stall seen so far sat there)
        messages.append(f"{finished:%Y-%m-%d %H:%M:%S},{finished.microsecond // 1000:03d} execute() returned")
        warnings.warn(
            f"{path.name} took {took:.0f} s (normally ~15 s). nbclient's messages around the "
            "longest gap and at the end:\n" + _around_longest_gap(messages)
            + "\n...\n" + "\n".join(messages[-10:])
            + f"\nthe kernel after {SLOW_AFTER} s:\n" + "\n".join(seen),
            UserWarning, stacklevel=2,
        )
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "pass the dijet selection" in text or "generated" in text
    if path.name == "fastsim_dijet.ipynb":  # the demo's true pile-up (vertices) beside the model's
        assert "pile-up: the file's <mu> = 50.5, the fast-sim's training sample's 50" in text
    # importing hepgen must not switch matplotlib off inline figures
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")


def test_sliced_polls_find_a_message_whose_wake_up_was_missed():
    """A channel that, like the stall, never wakes a waiting poll (only a new poll sees the
    message): sliced, a 60-s wait returns within a slice of the message's arrival; a timeout still
    raises ``Empty`` on time."""

    class Missed:
        def __init__(self, arrives: float | None):
            self.arrives, self.polls = arrives, 0

        async def get_msg(self, timeout=None):
            self.polls += 1
            if self.arrives is not None and time.monotonic() >= self.arrives:
                return {"msg_id": "reply"}
            await asyncio.sleep(3600 if timeout is None else timeout)  # the missed wake-up
            raise Empty

    async def wait(channel, timeout):
        start = time.monotonic()
        try:
            return await sliced(channel.get_msg)(timeout=timeout), time.monotonic() - start
        except Empty:
            return None, time.monotonic() - start

    with pytest.raises(TimeoutError):  # unsliced, the poll waits its whole timeout
        asyncio.run(asyncio.wait_for(Missed(time.monotonic() + 0.2).get_msg(timeout=60), 1.5))
    late = Missed(time.monotonic() + 0.2)
    msg, took = asyncio.run(wait(late, 60.0))
    assert msg == {"msg_id": "reply"} and took < 0.2 + POLL_SLICE + 0.5 and late.polls == 2
    msg, took = asyncio.run(wait(Missed(None), 2.5))
    assert msg is None and 2.5 <= took < 3.0
    msg, took = asyncio.run(wait(Missed(None), 0))
    assert msg is None and took < 0.1
