"""Fast-sim speed, measured side by side in one run.

1. The model alone: µs per jet for calls of 1, 10³ and 10⁴ jets (the runner batches internally) (CPU, and CUDA when present), on real
   gen jets.
2. Flow-matching models: the padded computation (as before 2026-12-05) against the default
   (jets grouped by multiplicity, padding trimmed), side by side; then µs per jet at batch 10⁴
   for several ODE step counts, each with its pT-response IQR ratio to Delphes (mean over gen-pT bins) on ``--reference`` jet pairs, so a
   user can pick the trade-off (``Runner(steps=...)``, ``hepgen evaluate --steps``); and µs per
   jet for several numbers of flow-matching starts per jet (``candidates``), side by side;
   with ``--against``, other checkpoints timed side by side with ``--checkpoint``; with
   ``--toggle KEY|KEY=VALUE ...`` (default ``project_axis contain_antikt flows_mode="scale"``), the
   checkpoint with each inference setting flipped (a boolean KEY) or set (VALUE in JSON), side by
   side with its own.
3. The processor stages on a Delphes file, events/s: read only; read + gen clustering; full
   (read, cluster, fast-sim, recluster, cuts, histograms) through coffea's Runner, with and
   without also reclustering Delphes' own EFlow candidates as the reference.
4. The processor with the model kept per process against loading it in every chunk (coffea
   unpickles the processor per chunk), side by side, for two chunk sizes.
5. The per-event cost of the full processor without the per-file overhead: the slope between
   the shipped 25- and 100-event samples of the same process.
6. The soft tail (a checkpoint with one, ``hepgen.models.tail``): the model alone with and
   without it, and the full processor with and without it, side by side.
Prints the ratios, and the speed-up against Delphes' CMS card with pile-up 50 (77 ms/event on
this machine kind, shared/data/README.md) — a reference figure, not re-measured here.

    python benchmarks/fastsim.py [--checkpoint NAME|PATH] [--file ROOT] [--repeat 3]
        [--reference ../shared/data/fastsim_ww_pu50_highpt_s1*.h5] [--steps 1 2 4 6 8]
        [--candidates 1 2 4] [--against OTHER.pt ...] [--toggle project_axis ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

DELPHES_MS_PER_EVENT = 77.0


def real_gen(k: int, n: int = 10_000, with_pid: bool = False):
    """n real gen jets (the shipped sample's, repeated) as the model's input; with ``with_pid``
    also their PDG ids (n, k), for a checkpoint conditioned on the particle content."""
    from hepgen import shipped
    from hepgen.io import h5

    gen = h5.read(shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")).side("gen")
    x = np.resize(gen.constituents[:, :k], (n, k, 3)).astype(np.float32)
    return (x, np.resize(gen.pid[:, :k], (n, k))) if with_pid else x


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def model_speed(checkpoint: str, device: str, repeat: int) -> dict[int, float]:
    from hepgen.inference import Runner

    r = Runner(checkpoint, device=device)  # its default internal batch (2048 for flow matching)
    gen = real_gen(r.k)
    r.simulate(gen[:10])  # load + warm up
    out = {}
    for batch in (1, 1_000, 10_000):
        n_calls = {1: 200, 1_000: 5, 10_000: 1}[batch]

        def run(n_calls=n_calls, batch=batch):
            for _ in range(n_calls):
                r.simulate(gen[:batch])
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        out[batch] = best_of(run, repeat) / (n_calls * batch) * 1e6
    return out


def side_by_side(runners: list, repeat: int, outputs: list | None = None) -> list[float]:
    """µs/jet at batch 10⁴ on the CPU of several fast-sim runners (checkpoints, or one checkpoint
    with different settings), in interleaved rounds on the same jets, best round each.
    ``outputs``: if a list, each runner's simulated jets (seed 1, the last round) are appended."""
    x, pid = real_gen(runners[0].k, with_pid=True)
    ids = [pid if r.needs_pid else None for r in runners]  # content checkpoints take the PDG ids
    for r, p in zip(runners, ids):
        r.simulate(x[:10], pid=None if p is None else p[:10])
    times: list[list[float]] = [[] for _ in runners]
    last: list = [None] * len(runners)
    for _ in range(repeat):
        for i, r in enumerate(runners):
            t = time.perf_counter()
            last[i] = r.simulate(x, seed=1, pid=ids[i])
            times[i].append((time.perf_counter() - t) / len(x) * 1e6)
    if outputs is not None:
        outputs.extend(last)
    return [min(t) for t in times]


def padding_speed(checkpoint: str, repeat: int) -> tuple[float, float, float]:
    """Flow-matching fast-sim at batch 1e4 on the CPU, side by side: the padded computation as it
    was before 2026-12-05 (512 jets per call, every jet padded to k, ``nn.MultiheadAttention``;
    ``chunk=0``) and the default (2048 per call, groups of 128 jets of similar multiplicity
    trimmed to their largest, the gen keys computed once per ODE solve). Returns (padded µs/jet,
    default µs/jet, largest relative difference of the jet masses between the two outputs)."""
    import functools

    from hepgen.inference import Runner
    from hepgen.physics.kinematics import jet_features

    padded = Runner(checkpoint, device="cpu", batch_size=512)
    padded.model.simulate = functools.partial(padded.model.simulate, chunk=0)
    default = Runner(checkpoint, device="cpu")
    sims: list = []
    t_pad, t_default = side_by_side([padded, default], repeat, outputs=sims)
    m = [jet_features(y.astype(np.float64))[:, 3] for y in sims]
    rel = float(np.max(np.abs(m[1] - m[0]) / np.maximum(m[0], 1e-3)))
    return t_pad, t_default, rel


def steps_sweep(checkpoint: str, reference: list[str], steps: list[int], repeat: int) -> list[tuple]:
    """(steps, µs/jet at batch 1e4, mean IQR ratio, worst IQR ratio) for a flow-matching model."""
    from hepgen.data.datasets import load_pairs, split_indices
    from hepgen.inference import Runner
    from hepgen.metrics.detector import response
    from hepgen.physics.cuts import apply_constituent_acceptance
    from hepgen.physics.kinematics import jet_features
    from hepgen.simulation import pair_keys

    pairs, keys = load_pairs(reference)
    pairs = pairs.take(split_indices(keys)["test"])
    bins = np.array([200.0, 300.0, 400.0, 600.0, 1500.0])
    gen = jet_features(pairs.side("gen").constituents.astype(np.float64))
    sel = gen[:, 0] > 150
    pairs = pairs.take(np.flatnonzero(sel))
    gen = gen[sel]
    ref = jet_features(apply_constituent_acceptance(pairs.side("reco").constituents.astype(np.float64)))
    r_ref = response(gen[:, 0], gen[:, 3], ref[:, 0], ref[:, 3], bins)
    x = real_gen(Runner(checkpoint).k)
    rows = []
    for s in steps:
        r = Runner(checkpoint, steps=s)
        r.simulate(x[:10])
        t = best_of(lambda r=r: r.simulate(x), repeat) / len(x) * 1e6
        pred = r.simulate(pairs.side("gen").constituents, keys=pair_keys(pairs))
        f = jet_features(apply_constituent_acceptance(pred.astype(np.float64)))
        r_mod = response(gen[:, 0], gen[:, 3], f[:, 0], f[:, 3], bins)
        ratio = np.array(r_mod["pt_iqr"]) / np.array(r_ref["pt_iqr"])
        rows.append((s, t, float(np.mean(ratio)), float(ratio[np.argmax(np.abs(ratio - 1))])))
    return rows


def candidates_sweep(checkpoint: str, ks: list[int], repeat: int) -> dict[int, float]:
    """µs/jet at batch 10⁴ on the CPU of the flow-matching fast-sim with ``candidates`` = K
    (K flow-matching starts per jet, the one nearest the sampled mass kept), side by side;
    every other setting the checkpoint's."""
    from hepgen.inference import Runner

    runners = [Runner(checkpoint, device="cpu", settings={"candidates": k}) for k in ks]
    return dict(zip(ks, side_by_side(runners, repeat)))


def stage_speed(checkpoint: str, path: str, repeat: int) -> dict[str, float]:
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    from hepgen.inference import Runner
    from hepgen.io import iterate_particles
    from hepgen.physics.clustering import cluster
    from hepgen.processors.fastsim import FastSimProcessor

    R = Runner(checkpoint).R
    n = sum(c.entry_stop - c.entry_start for c in iterate_particles(path, step_size=1000))

    def read():
        for _ in iterate_particles(path, step_size=1000):
            pass

    def read_cluster():
        for c in iterate_particles(path, step_size=1000):
            cluster(c.gen, R, min_pt=100.0)

    def full(with_reference: bool):
        proc = FastSimProcessor(checkpoint, with_reference=with_reference)
        proc.runner.simulate(np.zeros((1, proc.runner.k, 3), np.float32))  # load the model outside the timing

        def run():
            runner = processor.Runner(
                processor.IterativeExecutor(status=False), schema=DelphesSchema, chunksize=1000
            )
            runner({"bench": [path]}, processor_instance=proc, treename="Delphes")

        return run

    stages = (
        ("read only", read),
        ("read + gen clustering", read_cluster),
        ("full, fast-sim only", full(False)),
        ("full + Delphes reference", full(True)),
    )
    for _, fn in stages[2:]:
        fn()  # warm-up: awkward/numba first calls
    return {name: n / best_of(fn, repeat) for name, fn in stages}


def model_cache_speed(checkpoint: str, path: str, repeat: int, chunksizes=(10, 25, 50, 100)) -> list[tuple]:
    """The processor (iterative executor, fast-sim only) with the per-process model cache and
    without it (``MODEL_CACHE_SIZE = 0``: the model loaded again in every chunk, as coffea's
    per-chunk unpickling did before 2026-12-07), interleaved: (chunksize, chunks, ms/event
    without, with)."""
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    import hepgen.inference as inference
    from hepgen.processors.fastsim import FastSimProcessor

    proc = FastSimProcessor(checkpoint, with_reference=False)
    size = inference.MODEL_CACHE_SIZE
    rows = []
    try:
        for chunksize in chunksizes:
            def run(chunksize=chunksize):
                runner = processor.Runner(
                    processor.IterativeExecutor(status=False), schema=DelphesSchema, chunksize=chunksize
                )
                return runner({"bench": [path]}, processor_instance=proc, treename="Delphes")

            times: dict[int, list[float]] = {0: [], size: []}
            for _ in range(repeat):
                for cache in (0, size):
                    inference.MODEL_CACHE_SIZE = cache
                    inference.clear_model_cache()
                    t = time.perf_counter()
                    acc = run()
                    times[cache].append(time.perf_counter() - t)
            n, chunks = acc["events"], sum(f["chunks"] for f in acc["files"].values())
            rows.append((chunksize, chunks, 1e3 * min(times[0]) / n, 1e3 * min(times[size]) / n))
    finally:
        inference.MODEL_CACHE_SIZE = size
    return rows


def per_event_slope(checkpoint: str, repeat: int) -> float:
    """ms per event of the full processor (fast-sim only) without the per-file overhead."""
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    from hepgen import shipped
    from hepgen.processors.fastsim import FastSimProcessor

    proc = FastSimProcessor(checkpoint, with_reference=False)
    proc.runner.simulate(np.zeros((1, proc.runner.k, 3), np.float32))
    times = {}
    for n, name in ((25, "delphes_ww_pu50_highpt_25ev.root"), (100, "delphes_ww_pu50_highpt_100ev.root")):
        path = str(shipped.sample(name))

        def run(path=path):
            runner = processor.Runner(
                processor.IterativeExecutor(status=False), schema=DelphesSchema, chunksize=1000
            )
            runner({"bench": [path]}, processor_instance=proc, treename="Delphes")

        run()
        times[n] = best_of(run, repeat)
    return 1e3 * (times[100] - times[25]) / 75


def tail_speed(checkpoint: str, path: str, repeat: int) -> tuple[float, float, float, float]:
    """(µs/jet without, with the soft tail at batch 10⁴; ms/event of the full processor without,
    with it), each pair in interleaved rounds, best round each."""
    from coffea import processor
    from coffea.nanoevents import DelphesSchema

    from hepgen.inference import Runner
    from hepgen.processors.fastsim import FastSimProcessor

    r = Runner(checkpoint, device="cpu")
    x = real_gen(r.k)
    r.simulate(x[:10], tail=True)
    model: list[list[float]] = [[], []]
    for _ in range(repeat):
        for i, tail in enumerate((False, True)):
            t = time.perf_counter()
            r.simulate(x, seed=1, tail=tail)
            model[i].append((time.perf_counter() - t) / len(x) * 1e6)
    procs = [FastSimProcessor(checkpoint, with_reference=False, tail=tail) for tail in (False, True)]
    n = 0
    for proc in procs:
        proc.runner.simulate(np.zeros((1, proc.runner.k, 3), np.float32))
    full: list[list[float]] = [[], []]
    for _ in range(repeat + 1):  # the first round warms up
        for i, proc in enumerate(procs):
            runner = processor.Runner(processor.IterativeExecutor(status=False), schema=DelphesSchema, chunksize=1000)
            t = time.perf_counter()
            out = runner({"bench": [path]}, processor_instance=proc, treename="Delphes")
            full[i].append(time.perf_counter() - t)
            n = out["events"]
    return min(model[0]), min(model[1]), 1e3 * min(full[0][1:]) / n, 1e3 * min(full[1][1:]) / n


def main() -> None:
    from hepgen import shipped

    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", default=shipped.DEFAULT_FASTSIM)
    p.add_argument("--file", default=str(shipped.sample()))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--reference", nargs="*", default=[], help="jet-pair files for the steps sweep")
    p.add_argument("--steps", nargs="*", type=int, default=[1, 2, 4, 6, 8])
    p.add_argument("--candidates", nargs="*", type=int, default=[1, 2, 4],
                   help="flow-matching starts per jet to time side by side")
    p.add_argument("--against", nargs="*", default=[],
                   help="other fast-sim checkpoints to time side by side with --checkpoint")
    p.add_argument("--toggle", nargs="*", default=["project_axis", "contain_antikt", 'flows_mode="scale"'],
                   help="inference settings of a v2 checkpoint to time changed, side by side with the checkpoint's "
                        "own: KEY (a boolean, flipped) or KEY=VALUE (VALUE in JSON)")
    args = p.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: {devices}\n")
    print("model alone (µs per jet):")
    print(
        f"{'device':8s} {'batch 1':>10s} {'batch 1e3':>10s} {'batch 1e4':>10s} {'1/1e4 ratio':>12s}"
    )
    for d in devices:
        s = model_speed(args.checkpoint, d, args.repeat)
        print(f"{d:8s} {s[1]:10.1f} {s[1000]:10.2f} {s[10000]:10.2f} {s[1] / s[10000]:12.1f}")
    from hepgen.inference import Runner

    runner = Runner(args.checkpoint)
    if runner.name == "fastsim_fm":
        pad, default, rel = padding_speed(args.checkpoint, args.repeat)
        print(
            "\nflow matching, padded (as before 2026-12-05) vs grouped and trimmed (default), CPU, "
            f"batch 1e4: {pad:.1f} vs {default:.1f} µs/jet → {pad / default:.2f}× faster "
            f"(largest relative jet-mass difference between the outputs: {rel:.1e})"
        )
    if args.against:
        names = [args.checkpoint, *args.against]
        print("\nside by side (batch 1e4, CPU, interleaved):")
        runners = [Runner(n, device="cpu") for n in names]
        for name, t in zip(names, side_by_side(runners, args.repeat)):
            print(f"  {t:8.1f} µs/jet  {name}")
    if runner.name == "fastsim_fm" and args.toggle:
        print("\ninference settings changed (batch 1e4, CPU, side by side with the checkpoint's own):")
        for item in args.toggle:
            key, _, value = item.partition("=")
            own = runner.config.get(key, False)
            other = json.loads(value) if value else not bool(own)
            t_own, t_flip = side_by_side(
                [Runner(args.checkpoint, device="cpu"), Runner(args.checkpoint, device="cpu", settings={key: other})],
                args.repeat,
            )
            print(f"  {key}={own} (own) {t_own:8.1f} µs/jet, {key}={other} {t_flip:8.1f} µs/jet "
                  f"({t_own / t_flip:.2f}× the other's cost)")
    if runner.name == "fastsim_fm" and args.candidates:
        own = runner.config.get("candidates", 1)
        print(f"\ncandidates per jet (batch 1e4, CPU, side by side; the checkpoint's: {own}):")
        sweep = candidates_sweep(args.checkpoint, args.candidates, args.repeat)
        for k, t in sweep.items():
            print(f"  K = {k:2d}: {t:8.1f} µs/jet ({t / sweep[args.candidates[0]]:.2f}× K = {args.candidates[0]})")
    if runner.name == "fastsim_fm" and args.reference:
        print(f"\nODE steps (batch 1e4, CPU; default {runner.config['steps']}): µs/jet and pT-response IQR / Delphes")
        print(f"{'steps':>6s} {'µs/jet':>9s} {'mean IQR ratio':>15s} {'worst bin':>10s}")
        for s_, t, mean, worst in steps_sweep(args.checkpoint, args.reference, args.steps, args.repeat):
            print(f"{s_:6d} {t:9.1f} {mean:15.2f} {worst:10.2f}")
    print(f"\nprocessor stages on {Path(args.file).name} (events/s, best of {args.repeat}):")
    st = stage_speed(args.checkpoint, args.file, args.repeat)
    base = st["read only"]
    for name, v in st.items():
        print(
            f"  {name:24s} {v:9.1f} ev/s  {1e3 / v:8.2f} ms/event  ({v / base:5.2f} × read-only rate)"
        )
    full_ms = 1e3 / st["full, fast-sim only"]
    print(
        f"\nDelphes CMS + PU50 reference: {DELPHES_MS_PER_EVENT} ms/event → hepgen full processor is "
        f"{DELPHES_MS_PER_EVENT / full_ms:.1f}× faster per event (fast-sim only; includes reading, clustering "
        "and histogramming)"
    )
    print(f"\nthe model loaded once per process vs once per chunk, {Path(args.file).name} (iterative, interleaved):")
    for chunksize, chunks, without, with_cache in model_cache_speed(args.checkpoint, args.file, args.repeat):
        print(f"  chunksize {chunksize:4d} ({chunks:3d} chunks): {without:7.2f} → {with_cache:7.2f} ms/event "
              f"({without / with_cache:.2f}× faster)")
    slope = per_event_slope(args.checkpoint, args.repeat)
    print(
        f"per-event cost without the per-file overhead (slope 25 → 100 events): {slope:.2f} ms/event "
        f"→ {DELPHES_MS_PER_EVENT / slope:.1f}× faster than Delphes per event"
    )
    if runner.has_tail:
        m0, m1, p0, p1 = tail_speed(args.checkpoint, args.file, args.repeat)
        print(f"\nthe soft tail (interleaved): model alone, batch 1e4, {m0:.1f} → {m1:.1f} µs/jet ({m1 / m0:.2f}×); "
              f"full processor on {Path(args.file).name}, {p0:.2f} → {p1:.2f} ms/event ({p1 / p0:.2f}×)")


if __name__ == "__main__":
    main()
