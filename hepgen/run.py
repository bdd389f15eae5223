"""``hepgen run``: the main job — the fast-sim processor over a fileset, with plots and a table.

Runs :class:`processors.fastsim.FastSimProcessor` through coffea's ``Runner`` (iterative,
futures or a local Dask cluster), saves the accumulator with ``coffea.util.save``, draws
mplhep ratio plots (hepgen vs Delphes vs gen) and writes a table of W1 per observable with
the Delphes truth floor (event-number parity halves, from the histograms).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from hepgen.errors import HepgenInputError
from hepgen.io.paths import repeated

DEFAULT_CHUNKSIZE = 1000
"""Events per coffea chunk of ``hepgen run``. Every chunk costs ~0.45 s besides its events
(coffea re-opens the file and its Delphes tree of hundreds of branches, NanoEvents, the model's
fixed cost per call): on the demo file 45.5 / 20.4 / 12.2 / 6.7 ms per event in chunks of 10 / 25 /
50 / 100 events (``python benchmarks/fastsim.py``, RESULTS.md §2 "Speed"), ~2.6 ms at 1 000 by that
fit; memory grows ~0.3–0.5 MB per event of a chunk (``benchmarks/memory.py``: 25 → 100 events,
60 → 81 MB), so ~0.5 GB at 1 000."""


def load_fileset(files: list[str] | None, fileset: str | None) -> dict[str, list[str]]:
    """Files on the command line, or a coffea-style JSON fileset {dataset: [files] | {"files": ...}}.

    Only the fileset's structure is checked here; :func:`check_files` opens the files.
    """
    from hepgen.io.jsonfile import read_json
    from hepgen.shipped import sample

    if fileset and files:
        raise HepgenInputError("give files or --fileset, not both")
    if fileset:
        raw = read_json(fileset, "fileset")
        out = {}
        for name, entry in raw.items():
            fl = entry.get("files") if isinstance(entry, dict) else entry
            if isinstance(fl, dict):
                fl = list(fl.keys())
            if not isinstance(fl, list) or not fl or not all(isinstance(f, str) for f in fl):
                raise HepgenInputError(
                    f"{fileset}: dataset {name!r} must list file paths "
                    '(["a.root", ...] or {"files": {"a.root": "Delphes"}})'
                )
            out[str(name)] = fl
        if not out:
            raise HepgenInputError(f"{fileset}: the fileset names no datasets")
    else:
        files = files or [str(sample())]
        out = {Path(files[0]).stem: [str(f) for f in files]}
    _check_repeats(out, fileset or "the command line")
    return out


def _check_repeats(fileset: dict[str, list[str]], where: str) -> None:
    """A file twice in one dataset would count its events twice: refused. A file in two datasets
    is processed once for each (on purpose, e.g. "all" beside "signal"): said, not refused."""
    seen: dict[str, list[str]] = {}
    for name, files in fileset.items():
        twice = repeated(files)
        if twice:
            raise HepgenInputError(
                f"{where}: dataset {name!r} lists {', '.join(twice)} more than once "
                "(its events would be counted twice)"
            )
        for f in files:
            seen.setdefault(os.path.realpath(f), []).append(name)
    for p, names in seen.items():
        if len(names) > 1:
            print(
                f"hepgen run: {p} is in datasets {', '.join(map(repr, names))}: it is processed "
                "once for each",
                file=sys.stderr,
            )


def short_names(paths: list[str]) -> dict[str, str]:
    """{path: its base name, or the path itself where two paths share a base name}."""
    base = [os.path.basename(p) for p in paths]
    return {p: b if base.count(b) == 1 else p for p, b in zip(paths, base)}


def check_files(fileset: dict[str, list[str]], skip_bad_files: bool = False):
    """Open every file: all must share one format, with the branches the processor reads.

    Returns (format, the usable files). With ``skip_bad_files`` an unusable file is reported
    and left out (coffea's ``skipbadfiles``), otherwise it stops the run.
    """
    from hepgen.io.formats import open_tree

    fmt, good = None, []
    for files in fileset.values():
        for f in files:
            try:
                tree, this = open_tree(f)
                this.reader.branches(tree, f, need_reco=False)
                this.check_coffea_layout(tree, f)
                if fmt is not None and this.name != fmt.name:
                    raise HepgenInputError(
                        f"{f}: a {this.name} file among {fmt.name} files; run them separately"
                    )
            except HepgenInputError as exc:
                if not skip_bad_files:
                    raise
                print(f"hepgen run: skipping {exc}", file=sys.stderr)
                continue
            fmt = this
            good.append(f)
    if fmt is None:
        raise HepgenInputError("no usable input file (all were skipped)")
    return fmt, good


def _ascii_fileset(
    fileset: dict[str, list[str]], folder: str
) -> tuple[dict[str, list[str]], dict[str, str]]:
    """coffea hashes dataset and file names as ASCII: files with other characters in their path
    are reached through ASCII-named symbolic links in ``folder`` (same file, same UUID).

    Returns the fileset to give coffea and {link path: the file's own path}.
    """
    out: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for name, files in fileset.items():
        safe = []
        for i, f in enumerate(files):
            if f.isascii():
                safe.append(f)
                continue
            link = os.path.join(folder, f"{len(out)}_{i}.root")
            os.symlink(os.path.abspath(f), link)
            names[link] = f
            safe.append(link)
        out[name.encode("ascii", "backslashreplace").decode()] = safe
    return out, names


def connect(address: str, timeout: float = 5.0):
    """A ``dask.distributed.Client`` on a running scheduler, or one clear error within seconds."""
    try:
        from dask.distributed import Client
    except ImportError as exc:
        raise HepgenInputError("the dask executor needs dask.distributed: pip install 'hepgen[dask]'") from exc
    try:
        return Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise HepgenInputError(
            f"--scheduler {address}: no Dask scheduler answers there within {timeout:g} s "
            f"({type(exc).__name__})"
        ) from exc


def make_executor(name: str, workers: int, scheduler: str | None = None, retries: int = 0):
    """(coffea executor, the Dask client to close or None).

    ``dask`` with ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS``) connects to a running cluster;
    without one it starts a local cluster of ``workers`` processes.
    """
    from coffea import processor

    if name == "iterative":
        return processor.IterativeExecutor(), None
    if name == "futures":
        return processor.FuturesExecutor(workers=workers, retries=retries), None
    if name == "dask":
        address = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        if address:
            client = connect(address)
            return processor.DaskExecutor(client=client, status=False, retries=retries), client
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        return processor.DaskExecutor(client=client, status=False, retries=retries), client
    raise HepgenInputError(f"unknown executor {name!r}: iterative, futures or dask")


def run_processor(
    fileset: dict[str, list[str]],
    checkpoint: str,
    executor: str = "iterative",
    workers: int = 2,
    chunksize: int = DEFAULT_CHUNKSIZE,
    device: str | None = None,
    seed: int = 0,
    maxchunks: int | None = None,
    skip_bad: bool = False,
    R: float | None = None,
    scheduler: str | None = None,
    retries: int = 0,
    skip_bad_files: bool = False,
    weights: bool = True,
    tail: bool | None = None,
) -> dict:
    """Run the fast-sim processor over ``fileset``; returns the accumulator.

    Args:
        fileset: {dataset: [files]} (Delphes or PFNanoAOD, one format).
        checkpoint: fast-sim checkpoint file or shipped name.
        executor: ``iterative``, ``futures`` or ``dask`` (a local cluster).
        workers: worker processes for futures / dask.
        chunksize: events per chunk.
        device: torch device.
        seed: noise seed.
        maxchunks: stop after this many chunks per dataset (coffea's ``maxchunks``; a quick look).
        skip_bad: drop particles with non-finite momenta (counted) instead of stopping.
        R: jet radius (default: the checkpoint's).
        scheduler: address of a running Dask scheduler (``executor='dask'``).
        retries: retries of a failed chunk (futures / dask).
        skip_bad_files: skip unreadable files (coffea's ``skipbadfiles``); they are listed in
            the output's ``skipped_files``.
        weights: fill the histograms with the files' generator weights (False: unweighted).
        tail: simulate the constituents beyond the model's leading k too (None: where the
            checkpoint has a soft tail; :class:`~hepgen.processors.fastsim.FastSimProcessor`).
    """
    from coffea import processor

    from hepgen.processors.fastsim import FastSimProcessor

    if chunksize < 1 or workers < 1:
        raise HepgenInputError(f"chunksize ({chunksize}) and workers ({workers}) must be ≥ 1")
    fmt, good = check_files(fileset, skip_bad_files=skip_bad_files)
    skipped = [f for files in fileset.values() for f in files if f not in good]
    fileset = {name: [f for f in files if f in good] for name, files in fileset.items()}
    fileset = {name: files for name, files in fileset.items() if files}
    proc = FastSimProcessor(checkpoint, device=device, seed=seed, skip_bad=skip_bad, R=R, weights=weights, tail=tail)
    ex, client = make_executor(executor, workers, scheduler, retries)
    links = tempfile.TemporaryDirectory(prefix="hepgen-links-")
    try:
        runner = processor.Runner(
            ex, schema=fmt.schema, chunksize=chunksize, maxchunks=maxchunks,
            skipbadfiles=skip_bad_files,
        )
        ascii_fileset, names = _ascii_fileset(fileset, links.name)
        try:
            acc = runner(ascii_fileset, processor_instance=proc, treename=fmt.tree)
        except Exception as exc:  # coffea wraps a chunk's error; a bad input says so itself
            cause = exc.__cause__
            if isinstance(cause, HepgenInputError):
                raise HepgenInputError(str(cause)) from exc
            raise
        # per-file statistics under the files' own paths, not the links'
        acc["files"] = {names.get(k, k): v for k, v in acc.get("files", {}).items()}
        if skip_bad_files:  # files coffea skipped while reading
            skipped += [f for files in fileset.values() for f in files if f not in acc["files"]]
        acc["skipped_files"] = skipped
        return acc
    finally:
        links.cleanup()
        if client is not None:
            local = getattr(client, "cluster", None)
            client.close()
            if local is not None:
                local.close()


def hist_w1(h, a: dict, b: dict) -> float:
    """Binned W1 between two selections of a histogram (dicts of category values); bins of
    negative weight (negative generator weights) count as empty."""
    axis = h.axes[-1]
    ua, ub = (np.clip(h[x].project(axis.name).values(), 0.0, None) for x in (a, b))
    if ua.sum() == 0 or ub.sum() == 0:
        return float("nan")
    return float(wasserstein_distance(axis.centers, axis.centers, ua, ub))


REFERENCE_LABELS = {"delphes": "Delphes", "reco_pf": "reco (PF)"}


def dataset_hists(hists: Mapping, dataset: str | None = None) -> dict:
    """The histograms of one dataset (fileset key) without the ``dataset`` axis; None: all
    datasets added up. A dataset none of whose jets reached a histogram gives it empty."""
    out = {}
    for k, h in hists.items():
        if dataset is None or dataset not in list(h.axes["dataset"]):
            part = h[{"dataset": sum}]
            out[k] = part if dataset is None else part.reset()
        else:
            out[k] = h[{"dataset": dataset}]
    return out


def dataset_folders(datasets: list[str]) -> dict[str, str]:
    """A distinct folder name for each dataset (characters other than letters, digits, ``._-``
    become ``_``; a clash gets a numbered suffix)."""
    import re

    out: dict[str, str] = {}
    for ds in datasets:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", ds).strip(".") or "dataset"
        name, i = base, 2
        while name in out.values():
            name, i = f"{base}_{i}", i + 1
        out[ds] = name
    return out


def reference_source(hists: Mapping) -> str | None:
    """The reconstruction the histograms hold: the first of ``REFERENCE_LABELS`` with entries.

    The jet histograms book ``delphes`` on their source axis whatever the input, so a CMS
    PFNanoAOD run has an empty ``delphes`` category beside a filled ``reco_pf``; being on the
    axis is not enough. Without entries anywhere, the first reconstruction on an axis (or None).
    """
    from hepgen.plotting import total

    present, filled = [], set()
    for h in hists.values():
        for s in h.axes["source"]:
            present.append(s)
            if total(h[{"source": s}], flow=True) > 0:
                filled.add(s)
    return next((s for s in REFERENCE_LABELS if s in filled), None) or next(
        (s for s in REFERENCE_LABELS if s in present), None
    )


def response_table(hists: dict) -> tuple[str, dict]:
    """Median and IQR of the reclustered jets' pT and mass response per gen-pT bin, and the
    median and 90% quantile of their ΔR to the gen jet (the jet direction; histograms written
    before it have none: "—"). With weighted histograms the quantiles and the counts are of
    the weights."""
    from hepgen.plotting import MIN_BIN_JETS, total
    from hepgen.processors.histograms import hist_quantiles

    if "response_pt" not in hists:
        return "", {}
    data: dict = {}
    sources = [s for s in hists["response_pt"].axes["source"]]
    edges = hists["response_pt"].axes["gen_pt"].edges
    quantities = (("pt", "pT med / IQR"), ("mass", "m med / IQR"), ("dr", "ΔR med / 90%"))
    lines = [
        "Reclustered-jet response per gen-jet pT bin (each gen jet, |eta| < 2.5, paired with the "
        "nearest reco jet within R/2; median / IQR of reco/gen, from 0.005-wide bins; the jets' "
        "ΔR to their gen jet, median / 90% quantile, from 0.001-wide bins; the IQR and 90% "
        f"quantile of a bin of fewer than {MIN_BIN_JETS} jets are left out (—); unmatched "
        "gen jets are counted in cutflow.json):",
        "",
        "| gen pT [GeV] | " + " | ".join(
            f"{REFERENCE_LABELS.get(s, s)} {label}" for s in sources for _, label in quantities
        ) + " |",
        "|---|" + "---|" * len(quantities) * len(sources),
    ]
    for b in range(len(edges) - 1):
        cells = []
        for s in sources:
            for q, _ in quantities:
                h = hists.get(f"response_{q}")
                if h is None or s not in list(h.axes["source"]):
                    cells.append("—")
                    continue
                sl = h[{"source": s, "gen_pt": b}].project(f"response_{q}")
                lo, med, hi = hist_quantiles(sl.values(), sl.axes[0].edges, (0.25, 0.5, 0.75) if q != "dr" else (0.0, 0.5, 0.9))
                n = total(sl)  # jets, or their sum of weights
                entry = {"bin": [float(edges[b]), float(edges[b + 1])], "median": float(med), "n": n}
                entry.update({"q90": float(hi)} if q == "dr" else {"iqr": float(hi - lo)})
                data.setdefault(s, {}).setdefault(q, []).append(entry)
                spread = hi if q == "dr" else hi - lo
                digits = 4 if q == "dr" else 3
                shown = f"{spread:.{digits}f}" if n >= MIN_BIN_JETS else "—"  # one jet's IQR: a bin width
                cells.append("—" if not np.isfinite(med) else f"{med:.{digits}f} / {shown} ({n:.6g})")
        lines.append(f"| {edges[b]:.0f}–{edges[b + 1]:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", data


def fidelity_table(hists: dict, reference: str | None = None) -> tuple[str, dict]:
    """W1 per observable: hepgen and gen vs the reference, with the reference's parity-half floor.

    Model figures use opposite halves (reference half 0 vs model half 1 and vice versa,
    averaged), so they have the same sample sizes as the floor. Entries outside a histogram's
    range are counted in its overflow column (they do not enter the W1). A W1 from empty
    histograms is shown as "—".
    """
    from hepgen.plotting import total

    rows, data = [], {}
    reference = reference or reference_source(hists)
    for name, h in hists.items():
        if name.startswith("response_"):
            continue
        sources = list(h.axes["source"])
        if reference is None or reference not in sources:
            continue
        fl = hist_w1(h, {"source": reference, "half": 0}, {"source": reference, "half": 1})
        entry: dict[str, Any] = {"floor": fl}
        for s in ("hepgen", "gen"):
            if s in sources:
                halves = [
                    hist_w1(h, {"source": reference, "half": 0}, {"source": s, "half": 1}),
                    hist_w1(h, {"source": reference, "half": 1}, {"source": s, "half": 0}),
                ]
                finite = [w for w in halves if np.isfinite(w)]  # a half can be empty
                entry[s] = float(np.mean(finite)) if finite else float("nan")
        over = {s: float(h[{"source": s}].project(h.axes[-1].name).values(flow=True)[[0, -1]].sum()) for s in sources}
        entry["outside_range"] = over
        entry["entries"] = {s: total(h[{"source": s}], flow=True) for s in sources}
        data[name] = entry

        def f(x: float, fmt: str = ".4g") -> str:
            return "—" if x is None or not np.isfinite(x) else format(x, fmt)

        hep = entry.get("hepgen", float("nan"))
        ratio = hep / fl if fl and np.isfinite(fl) and fl > 0 else float("nan")
        rows.append(
            f"| {name} | {f(hep)} | {f(entry.get('gen', float('nan')))} | {f(fl)} | {f(ratio, '.2f')} | "
            f"{entry['entries'].get(reference, 0):.6g} | {sum(over.values()):.6g} |"
        )
    label = REFERENCE_LABELS.get(reference or "", reference)
    head = [
        f"| observable | hepgen W1 | gen (identity) W1 | {label} floor W1 | hepgen / floor | {label} entries | outside range (all sources) |",
        "|---|---|---|---|---|---|---|",
    ]
    return "\n".join(head + rows) + "\n", data


def tail_note(tail: bool, k: int) -> str:
    """The summary's line on whether the fast-sim's jets are whole (its soft tail, beyond the
    leading ``k`` constituents it models, :mod:`hepgen.models.tail`)."""
    if tail:
        return (
            f"hepgen jets are whole: the model's leading {k} constituents per gen jet and its soft "
            f"tail beyond them (--no-tail: the leading {k} only)."
        )
    return (
        f"hepgen jets hold the model's leading {k} constituents per gen jet only (no soft tail): "
        f"whole jets of more than {k} constituents lack their softest, so their pT and mass come "
        "out low against the reference's whole jets."
    )


def weights_note(files: Mapping[str, Mapping[str, Any]], weights: bool) -> str:
    """A line for fidelity.md: how the histograms were weighted (from the processor's per-file
    record of the generator weights it used)."""
    if not weights:
        return "Histograms unweighted (--no-weights): every event counts 1."
    used = [d for d in files.values() if "weight_sum" in d]
    if not used:
        return "Histograms unweighted: the files store no generator weights."
    n = sum(int(d["events"]) for d in used)
    not_1 = sum(int(d["weights_not_1"]) for d in used)
    if not not_1:
        return f"Histograms weighted by the files' generator weights (all {n} are 1)."
    negative = sum(int(d["weights_negative"]) for d in used)
    return (
        f"Histograms weighted by the files' generator weights ({n} events, sum "
        f"{sum(float(d['weight_sum']) for d in used):.6g}; {not_1} not 1, {negative} negative; "
        "entries, medians and W1s are of the weights, negative bins counted as empty in the "
        "quantiles and W1s; --no-weights for counts)."
    )


PILEUP_TOLERANCE = 0.2
"""The files' mean pile-up may differ from the fast-sim's training ⟨μ⟩ by this fraction (at
least 5 interactions) before the main job says so."""


def files_pileup(files: Mapping[str, Mapping[str, Any]]) -> dict[str, tuple[int, float]]:
    """{file: (events counted, mean pile-up interactions)} for the files that state their
    pile-up, from the processor's per-file record (``acc["files"]``)."""
    return {
        name: (int(d["pileup_events"]), float(d["pileup_sum"]) / int(d["pileup_events"]))
        for name, d in files.items()
        if d.get("pileup_events")
    }


def pileup_note(
    per_file: Mapping[str, tuple[int, float]], trained_mu: float | None
) -> tuple[str, str | None]:
    """(a line for fidelity.md, a warning or None) from the pile-up the processor counted in each
    file (:func:`files_pileup`) and the fast-sim's training ⟨μ⟩: the model adds the pile-up it
    was trained with, so on files simulated with another the comparison with their own
    reconstruction is not like for like. Judged file by file: a file without pile-up among files
    with it must not hide in the mean."""
    trained = "not recorded in the checkpoint" if trained_mu is None else f"{trained_mu:g}"
    if not per_file:
        return (
            f"Pile-up: the files do not say theirs; the fast-sim adds that of its training sample "
            f"(⟨μ⟩ {trained}).", None,
        )
    counted = sum(n for n, _ in per_file.values())
    mean = sum(n * mu for n, mu in per_file.values()) / counted
    mus = [mu for _, mu in per_file.values()]
    spread = f"; per file {min(mus):.1f}–{max(mus):.1f}" if len(per_file) > 1 else ""
    text = (
        f"Pile-up: the files' ⟨μ⟩ ≈ {mean:.1f} ({counted} events{spread}); the fast-sim adds that "
        f"of its training sample (⟨μ⟩ {trained})."
    )
    if trained_mu is None:
        return text, None
    off = {
        name: mu for name, (_, mu) in per_file.items()
        if abs(mu - trained_mu) > max(5.0, PILEUP_TOLERANCE * trained_mu)
    }
    if not off:
        return text, None
    shown = short_names(list(per_file))
    listed = ", ".join(f"{shown[name]} ⟨μ⟩ ≈ {mu:.1f}" for name, mu in off.items())
    return text, (
        f"{len(off)} of {len(per_file)} file(s) were simulated with another pile-up than the "
        f"fast-sim's ⟨μ⟩ {trained_mu:g} ({listed}): its jets carry its training's pile-up, so they "
        "differ from those files' own reconstruction by more than the detector response (use a "
        "fast-sim trained at their pile-up)"
    )


def resolution_series(rdata: Mapping[str, Mapping[str, list]], quantity: str) -> dict[str, dict[str, list]]:
    """Per source (legend label; the reference first, then hepgen), the response table's bins,
    IQRs and medians of ``quantity`` (``pt`` or ``mass``), as :func:`hepgen.plotting.
    resolution_plot` takes them: bins of fewer than :data:`hepgen.plotting.MIN_BIN_JETS` jets
    are NaN; the medians' error bars are the normal approximation 0.929·IQR/√n (1.2533 σ/√n with σ = IQR/1.349;
    n: jets, or their weights' sum)."""
    from hepgen.plotting import MIN_BIN_JETS, SOURCE_LABELS

    series: dict[str, dict[str, list]] = {}
    for source in sorted(rdata, key=lambda s: (s not in REFERENCE_LABELS, s != "hepgen")):
        rows = rdata[source].get(quantity, [])
        if not rows:
            continue
        keep = [r["n"] >= MIN_BIN_JETS and np.isfinite(r["median"]) for r in rows]
        series[SOURCE_LABELS.get(source, source)] = {
            "bins": [rows[0]["bin"][0], *(r["bin"][1] for r in rows)],
            f"{quantity}_iqr": [r["iqr"] if k else np.nan for r, k in zip(rows, keep)],
            f"{quantity}_median": [r["median"] if k else np.nan for r, k in zip(rows, keep)],
            f"{quantity}_median_err": [
                0.929 * r["iqr"] / np.sqrt(r["n"]) if k else np.nan for r, k in zip(rows, keep)
            ],
        }
    return series


def resolution_plots(rdata: Mapping[str, Mapping[str, list]], outdir: Path) -> list[str]:
    """``resolution_pt.png`` and ``resolution_mass.png``: the reclustered jets' IQR (resolution)
    and median (scale) of reco/gen per gen-pT bin for every source (:func:`resolution_series`),
    as ``hepgen evaluate`` draws them for the model's own jets; none where no bin has enough jets."""
    from hepgen.plotting import resolution_plot

    paths = []
    for q in ("pt", "mass"):
        series = resolution_series(rdata, q)
        if any(np.isfinite(v[f"{q}_iqr"]).any() for v in series.values()):
            paths.append(resolution_plot(series, q, outdir / f"resolution_{q}.png"))
    return paths


def main_job(
    files=None,
    fileset=None,
    checkpoint=None,
    executor="iterative",
    workers=2,
    chunksize=DEFAULT_CHUNKSIZE,
    device=None,
    output="hepgen-output",
    seed=0,
    overwrite: bool = False,
    skip_bad: bool = False,
    R: float | None = None,
    scheduler: str | None = None,
    retries: int = 0,
    skip_bad_files: bool = False,
    maxchunks: int | None = None,
    weights: bool = True,
    tail: bool | None = None,
) -> Path:
    """``hepgen run``: the fast-sim processor over files, then plots and the fidelity table.

    Everything is checked before the work starts (checkpoint kind, device, output here; the
    files in :func:`run_processor`, before coffea starts); the
    output folder is written under a temporary name and renamed into place when complete, and
    a second run into the same folder is refused while one runs.
    """
    from coffea.util import save

    from hepgen.inference import Runner
    from hepgen.outputs import atomic_dir, check_output
    from hepgen.plotting import hist_ratio_plots
    from hepgen.shipped import resolve_checkpoint

    fs = load_fileset(files, fileset)  # its files are opened and checked by run_processor
    ckpt = str(resolve_checkpoint(checkpoint))
    runner = Runner(ckpt, device=device)
    if runner.kind != "fastsim":
        raise HepgenInputError(f"{ckpt}: a {runner.kind} checkpoint; hepgen run needs a fast-sim")
    with_tail = runner.use_tail(tail)  # refused now, before the output folder is made
    out = check_output(output, [f for fl in fs.values() for f in fl], overwrite)
    with atomic_dir(out) as tmp:
        t0 = time.perf_counter()
        acc = run_processor(
            fs, ckpt, executor, workers, chunksize, device, seed, maxchunks=maxchunks,
            skip_bad=skip_bad, R=R, scheduler=scheduler, retries=retries,
            skip_bad_files=skip_bad_files, weights=weights, tail=with_tail,
        )
        elapsed = time.perf_counter() - t0
        save(acc, tmp / "hists.coffea")
        total = dataset_hists(acc["hists"])
        reference = reference_source(total)
        plots = hist_ratio_plots(total, tmp, reference=reference or "gen")
        table, data = fidelity_table(total, reference)
        data["reference"] = reference
        rtable, rdata = response_table(total)
        table = table + "\n" + rtable
        data["response"] = rdata
        plots += resolution_plots(rdata, tmp)
        by_dataset = acc.get("cutflow_by_dataset", {})
        datasets = [d for d in fs if d in by_dataset] + [d for d in by_dataset if d not in fs]
        if len(datasets) > 1:  # signal and backgrounds apart, as a coffea user keeps them
            data["datasets"], sections = {}, []
            for ds, folder in dataset_folders(datasets).items():
                part = dataset_hists(acc["hists"], ds)
                (tmp / folder).mkdir()
                plots += hist_ratio_plots(part, tmp / folder, reference=reference or "gen")
                t, d = fidelity_table(part, reference)
                rt, d["response"] = response_table(part)
                plots += resolution_plots(d["response"], tmp / folder)
                events = by_dataset[ds]["gen"]["events"]
                d["events"], d["folder"] = events, folder
                data["datasets"][ds] = d
                sections.append(f"\n## Dataset {ds} ({events} events; plots in {folder}/)\n\n{t}\n{rt}")
            table = table + "".join(sections)
        n = acc["events"]
        per_file = files_pileup(acc.get("files", {}))
        pileup_text, pileup_warning = pileup_note(per_file, runner.pileup_mu)
        data["pileup"] = {
            "files": {name: {"events": k, "mu": mu} for name, (k, mu) in per_file.items()},
            "trained_mu": runner.pileup_mu,
        }
        summary = (
            f"hepgen fast-sim: {n} events from {sum(len(v) for v in fs.values())} file(s)"
            + (f" in {len(datasets)} datasets (all together first, then each)" if len(datasets) > 1 else "")
            + f", checkpoint {ckpt}\n"
            f"executor {executor}, {elapsed:.1f} s ({1e3 * elapsed / max(n, 1):.1f} ms/event incl. start-up)\n\n"
            f"Jets with pT > 200 GeV, |eta| < 2.5, reclustered anti-kt R = {R or runner.R}; W1 from the "
            "histograms' bins; reference: "
            f"{REFERENCE_LABELS.get(reference or '', 'none (the file has no reconstructed particles)')}."
            + (
                " The fast-sim models Delphes' CMS card; CMS PF candidates are the full "
                "reconstruction, so a difference here is the model's and Delphes' together."
                if reference == "reco_pf" else ""
            )
            + "\n\n"
            + tail_note(with_tail, runner.k) + "\n\n"
            + weights_note(acc.get("files", {}), weights) + "\n\n"
            + (pileup_text + "\n\n" if pileup_text else "")
            + table
        )
        (tmp / "fidelity.md").write_text(summary)
        (tmp / "fidelity.json").write_text(json.dumps(data, indent=2))
        cutflow = dict(acc["cutflow"])
        if len(datasets) > 1:
            cutflow["by_dataset"] = by_dataset
        (tmp / "cutflow.json").write_text(json.dumps(cutflow, indent=2))
        files_summary = {
            "files": acc.get("files", {}),
            "skipped_files": acc.get("skipped_files", []),
        }
        (tmp / "files.json").write_text(json.dumps(files_summary, indent=2))
        shown = short_names(list(files_summary["files"]))
        summary += "\nPer file: " + "; ".join(
            f"{shown[name]}: {d['events']} events, {d['chunks']} chunks, {d['time_s']:.1f} s"
            for name, d in files_summary["files"].items()
        ) + (f"\nSkipped files: {', '.join(files_summary['skipped_files'])}" if files_summary["skipped_files"] else "") + "\n"
    print(summary)
    print("cutflow:", json.dumps(acc["cutflow"]))
    simulated = acc["cutflow"].get("hepgen", {})
    if simulated.get("gen jets above the trained pT"):
        print(
            f"note: {simulated['gen jets above the trained pT']} of {simulated.get('gen jets simulated')} "
            "simulated gen jets are harder than any the fast-sim was trained on: their reco jets are an "
            "extrapolation"
        )
    if pileup_warning:
        print("note: " + pileup_warning)
    print(f"wrote hists.coffea, {len(plots)} plots, fidelity.md and cutflow.json to {out.resolve()}")
    return out
