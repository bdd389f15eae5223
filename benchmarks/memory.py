"""Fast-sim memory, measured side by side in one run.

Every measurement runs in a fresh process (multiprocessing, ``spawn``): it imports, loads the
model and makes its inputs, then resets the kernel's peak-RSS mark (``/proc/self/clear_refs``,
``5``), runs the workload once and reads the peak resident set (``VmHWM``). Printed: the workload's
peak above the set-up's resident set, in MB, its ratio to the first row of its table, and the
process's peak (what a batch system sees; where the kernel refuses the reset, the peak since the
start is used, and the table says so).

1. The model alone, ``--jets`` real gen jets (the shipped demo's, repeated) in one
   ``Runner.simulate`` call, for several ``Runner`` batch sizes (the default first), MB per jet of
   the batch; with ``--against``, other checkpoints at their default batch (the seed-001 VAE by
   default). With CUDA also ``torch.cuda.max_memory_allocated``.
2. The processor (coffea's iterative executor, the shipped 100-event demo), one job each, the model
   loaded and nothing processed before: reading only, reading + gen-jet clustering, the full
   fast-sim processor, the same with Delphes' own EFlow reclustered as the reference — and the
   file listed 4× (``--copies``) in chunks of ``--chunksize`` events: the peak is per chunk, so it
   must not grow with the number of files (a leak would).

    python benchmarks/memory.py [--checkpoint NAME|PATH] [--jets 10000] [--batches 2048 256 8192]
        [--against fastsim_vae_ww_pu50] [--file ROOT] [--copies 4] [--chunksize 25]
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _status_mb(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process from /proc/self/status, MB (NaN where unreadable)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _model_workload(checkpoint: str, batch: int | None, jets: int) -> Callable[[], Any]:
    import torch
    from fastsim import real_gen

    from hepgen.inference import Runner

    runner = Runner(checkpoint, device="cpu", batch_size=batch)
    pid = getattr(runner.model, "needs_pid", False)
    data = real_gen(runner.k, jets, with_pid=pid)
    x, p = data if isinstance(data, tuple) else (data, None)
    runner.simulate(x[:16], pid=None if p is None else p[:16])  # the model loaded, first calls made
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    return lambda: runner.simulate(x, pid=p)


def _processor_workload(checkpoint: str, path: str, mode: str, copies: int, chunksize: int) -> Callable[[], Any]:
    """One job as a user runs it: the model is loaded (as a worker loads it), nothing processed
    yet, so the workload's peak holds the first chunk's one-off costs (numba compilation, caches)."""
    import numpy as np
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    from hepgen.io import iterate_particles
    from hepgen.physics.clustering import cluster
    from hepgen.processors.fastsim import FastSimProcessor

    proc = FastSimProcessor(checkpoint, with_reference=mode == "reference")
    proc.runner.simulate(np.zeros((1, proc.runner.k, 3), np.float32))
    if mode == "read":
        return lambda: [None for _ in iterate_particles(path, step_size=chunksize)]
    if mode == "cluster":
        return lambda: [cluster(c.gen, proc.R, min_pt=100.0) for c in iterate_particles(path, step_size=chunksize)]
    fileset = {f"copy{i}": [path] for i in range(copies)}

    def run() -> Any:
        runner = processor.Runner(processor.IterativeExecutor(status=False), schema=DelphesSchema, chunksize=chunksize)
        return runner(fileset, processor_instance=proc, treename="Delphes")

    return run


def _child(kind: str, args: tuple, queue: Any) -> None:
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = (_model_workload if kind == "model" else _processor_workload)(*args)
    gc.collect()
    base = _status_mb("VmRSS")
    reset = _reset_peak()
    work()
    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else float("nan")
    queue.put((base, _status_mb("VmHWM"), reset, cuda))


def measure(kind: str, *args: Any) -> tuple[float, float, bool, float]:
    """(set-up RSS, peak RSS, whether the peak mark was reset after the set-up, CUDA peak) of one
    workload in a fresh process, MB."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(kind, args, queue))
    proc.start()
    out = queue.get()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"the {kind} measurement {args} failed (exit code {proc.exitcode})")
    return out


def _table(rows: list[tuple[str, tuple[float, float, bool, float]]], per: dict[str, int] | None = None) -> None:
    first = None
    for name, (base, peak, reset, cuda) in rows:
        extra = peak - base
        first = extra if first is None else first
        tail = f"  {1e3 * extra / per[name]:6.1f} kB per jet of the batch" if per and name in per else ""
        gpu = f"  CUDA peak {cuda:7.1f} MB" if cuda == cuda else ""
        note = "" if reset else "  (peak since the start: the kernel refused the reset)"
        print(f"  {name:38s} {extra:7.1f} MB above {base:6.1f} MB ({extra / first:5.2f}×), "
              f"peak {peak:7.1f} MB{tail}{gpu}{note}")


def main() -> None:
    from hepgen import shipped

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=shipped.DEFAULT_FASTSIM)
    p.add_argument("--jets", type=int, default=10_000)
    p.add_argument("--batches", nargs="*", type=int, default=[0, 256, 8192],
                   help="Runner batch sizes; 0: the runner's default")
    p.add_argument("--against", nargs="*", default=["fastsim_vae_ww_pu50"])
    p.add_argument("--file", default=str(shipped.sample()))
    p.add_argument("--copies", type=int, default=4)
    p.add_argument("--chunksize", type=int, default=25)
    args = p.parse_args()
    from hepgen.inference import Runner

    default_batch = Runner(args.checkpoint).batch_size
    print(f"model alone: {args.jets} gen jets in one simulate() call, {args.checkpoint}")
    rows, per = [], {}
    for b in args.batches:
        name = f"batch {b or default_batch}" + (" (default)" if not b else "")
        rows.append((name, measure("model", args.checkpoint, b or None, args.jets)))
        per[name] = min(b or default_batch, args.jets)
    for other in args.against:
        name = f"{other}, its default batch"
        rows.append((name, measure("model", other, None, args.jets)))
        per[name] = min(Runner(other).batch_size, args.jets)
    _table(rows, per)
    print(f"\nprocessor on {Path(args.file).name} (chunks of {args.chunksize} events), {args.checkpoint}")
    stages = [
        ("read only", ("read", 1)),
        ("read + gen clustering", ("cluster", 1)),
        ("full, fast-sim only", ("full", 1)),
        ("full + Delphes reference", ("reference", 1)),
        (f"full, the file listed {args.copies}×", ("full", args.copies)),
    ]
    _table([(name, measure("processor", args.checkpoint, args.file, mode, n, args.chunksize)) for name, (mode, n) in stages])


if __name__ == "__main__":
    main()
