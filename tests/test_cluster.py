"""The fast-sim on a real Dask cluster on this machine: a ``dask scheduler`` and two
``dask worker`` processes, each in its own working directory, a checkpoint given by a path
relative to the driver's directory — histograms and cutflows identical to the iterative
executor, and workers whose memory stays flat over many chunks."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hepgen import shipped

distributed = pytest.importorskip("dask.distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    dask = str(Path(sys.executable).parent / "dask")
    base = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = []
    (base / "scheduler").mkdir()
    procs.append(
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=base / "scheduler", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
    )
    for i in range(2):
        (base / f"worker{i}").mkdir()
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-dashboard", "--name", f"w{i}",
                 "--local-directory", str(base / f"worker{i}")],
                cwd=base / f"worker{i}", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
        )
    client = None
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                client = distributed.Client(address, timeout="2s")
                client.wait_for_workers(2, timeout=30)
                break
            except (OSError, TimeoutError):
                time.sleep(0.5)
        assert client is not None, "the cluster did not start"
        yield address, client
    finally:
        if client is not None:
            client.close()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def test_cluster_matches_iterative_with_a_relative_checkpoint(cluster, tmp_path, monkeypatch):
    from hepgen.run import run_processor

    address, client = cluster
    driver = tmp_path / "driver"
    driver.mkdir()
    # a user's own checkpoint, by a path relative to the driver's folder (no worker has it)
    shutil.copy(shipped.checkpoint(shipped.DEFAULT_FASTSIM), driver / "my_fastsim.pt")
    monkeypatch.chdir(driver)
    sample = str(shipped.sample("delphes_ww_pu50_highpt_25ev.root"))
    fileset = {"ww": [sample]}
    ref = run_processor(fileset, "my_fastsim.pt", executor="iterative", chunksize=10)
    got = run_processor(fileset, "my_fastsim.pt", executor="dask", scheduler=address, chunksize=10)
    assert got["cutflow"] == ref["cutflow"]
    for name, h in ref["hists"].items():
        np.testing.assert_array_equal(got["hists"][name].values(), h.values(), err_msg=name)
    stats = got["files"][sample]
    assert stats["events"] == 25 and stats["chunks"] >= 2 and got["skipped_files"] == []
    # both workers took part, and none of them has the driver's checkpoint file
    assert len(client.scheduler_info()["workers"]) == 2
    assert not any(client.run(lambda: Path("my_fastsim.pt").exists()).values())


@pytest.mark.slow
def test_worker_memory_stays_flat(cluster, monkeypatch, tmp_path):
    import psutil

    from hepgen.run import run_processor

    address, client = cluster
    monkeypatch.chdir(tmp_path)
    sample = str(shipped.sample("delphes_ww_pu50_highpt_100ev.root"))

    def rss():
        return max(client.run(lambda: psutil.Process().memory_info().rss).values())

    run_processor({"ww": [sample]}, shipped.DEFAULT_FASTSIM, executor="dask", scheduler=address, chunksize=10)
    before = rss()
    for _ in range(3):  # 30 more chunks
        run_processor({"ww": [sample]}, shipped.DEFAULT_FASTSIM, executor="dask", scheduler=address, chunksize=10)
    growth = (rss() - before) / 2**20
    assert growth < 100, f"worker memory grew by {growth:.0f} MiB over 30 chunks"


def test_unreachable_scheduler_is_one_line(tmp_path, capsys):
    from hepgen.cli import main

    t = time.time()
    rc = main(["run", "--scheduler", f"tcp://127.0.0.1:{_free_port()}", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no Dask scheduler answers" in err[0]
    assert time.time() - t < 30
