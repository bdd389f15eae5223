"""Scaling of the fast-sim processor with workers, measured side by side in one run.

events/s of the full processor (read, cluster, fast-sim, recluster, histograms; no reference)
on the same file with 1 and 2 workers, for coffea's futures executor and a local Dask cluster
(a ``dask scheduler`` with ``dask worker`` processes behaves the same: ``hepgen run --scheduler``).
The file is repeated so each worker gets several chunks; start-up is excluded (one warm-up).

    python benchmarks/scaling.py [--checkpoint NAME|PATH] [--file ROOT] [--copies 4] [--chunksize 25]
"""

from __future__ import annotations

import argparse
import time

from hepgen import shipped


def rate(fileset, checkpoint, executor, workers, chunksize) -> float:
    from coffea import processor

    from hepgen.processors.fastsim import FastSimProcessor
    from hepgen.run import make_executor

    proc = FastSimProcessor(checkpoint, with_reference=False)
    ex, client = make_executor(executor, workers)
    try:
        from coffea.nanoevents import DelphesSchema

        runner = processor.Runner(ex, schema=DelphesSchema, chunksize=chunksize)
        runner(fileset, processor_instance=proc, treename="Delphes")  # warm-up (workers start)
        t = time.perf_counter()
        acc = runner(fileset, processor_instance=proc, treename="Delphes")
        return acc["events"] / (time.perf_counter() - t)
    finally:
        if client is not None:
            client.close()
            client.cluster.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=shipped.DEFAULT_FASTSIM)
    p.add_argument("--file", default=str(shipped.sample()))
    p.add_argument("--copies", type=int, default=4, help="the file listed this many times")
    p.add_argument("--chunksize", type=int, default=25)
    args = p.parse_args()
    fileset = {f"copy{i}": [args.file] for i in range(args.copies)}
    print(f"{args.copies} × {args.file}, chunksize {args.chunksize}, checkpoint {args.checkpoint}")
    for executor in ("futures", "dask"):
        r1 = rate(fileset, args.checkpoint, executor, 1, args.chunksize)
        r2 = rate(fileset, args.checkpoint, executor, 2, args.chunksize)
        print(f"{executor:8s} 1 worker {r1:7.1f} ev/s   2 workers {r2:7.1f} ev/s   ratio {r2 / r1:.2f}")


if __name__ == "__main__":
    main()
