"""``hepgen evaluate``: metrics with truth floors, a Markdown table and mplhep figures.

Two modes, chosen by what is compared:

- ``fastsim``: predicted reco jets (the ``reco`` side of a file written by ``hepgen simulate``)
  against the reference reco jets of the same jets (Delphes), with the identity baseline
  (gen jets taken as reco) beside them. Measured where seed 001 analyses: jets with
  pT > 200 GeV, |η| < 2.5 after the constituent acceptance.
- ``generation``: generated jets against real jets, with the JetNet metric set and EMD_sum.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from hepgen.data.datasets import event_keys, pileup_from_names, split_indices
from hepgen.errors import HepgenInputError
from hepgen.io import h5
from hepgen.metrics import detector, floor, jetnet
from hepgen.metrics.detector import RESPONSE_BINS
from hepgen.metrics.distances import emd_sum, w1
from hepgen.physics.clustering import same_radius
from hepgen.physics.coordinates import to_relative
from hepgen.physics.cuts import Acceptance, apply_constituent_acceptance, jet_mask
from hepgen.physics.kinematics import CONTENT, JET_FEATURES, jet_features, particle_content
from hepgen.plotting import LABELS, jet_image, jet_images_plot, ratio_plot


def select_split(pairs: h5.JetPairs, split: str, seed: int = 0) -> h5.JetPairs:
    """Restrict a dataset to one of the seeded train/valid/test splits (or 'all')."""
    if split == "all":
        return pairs
    idx = split_indices(event_keys(pairs), seed=seed)[split]
    return pairs.take(idx)


def _obs_all(constituents: np.ndarray, R: float, acc: Acceptance) -> tuple[dict, np.ndarray]:
    """Observables of every jet (constituent acceptance applied) and the jet-acceptance mask."""
    obs = detector.observables(constituents, R, acc, apply_jet_cuts=False)
    return obs, jet_mask(np.stack([obs["pt"], obs["eta"]], -1), acc.jet_min_pt, acc.jet_max_eta)


def evaluate_fastsim(
    reference: h5.JetPairs,
    samples: Mapping[str, np.ndarray],
    outdir: str | os.PathLike,
    R: float,
    acceptance: Acceptance = Acceptance(),
    n_splits: int = 5,
    seed: int = 0,
    reference_name: str = "delphes",
    more_draws: Mapping[str, Sequence[np.ndarray]] | None = None,
    run: Mapping | None = None,
    pt_bins: Sequence[float] = RESPONSE_BINS,
) -> dict:
    """Fidelity of each aligned sample (name → reco constituents (N, k, 3)) against ``reference.reco``.

    ``more_draws`` (name → further simulations of the same jets) are pooled with the sample in
    the response table only (:func:`hepgen.metrics.detector.response`); the W1s and the figures
    use the sample itself. ``run``: a record of what was run, stored as ``results["run"]``.
    ``acceptance`` selects the reco jets of the W1 table; ``pt_bins`` are the gen-jet pT bin
    edges (GeV) of the response table, whose jets are selected on the gen jet alone."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    keys = event_keys(reference)
    ref_obs, ref_ok = _obs_all(reference.side("reco").constituents, R, acceptance)
    all_obs = {name: _obs_all(c, R, acceptance) for name, c in samples.items()}

    results: dict = {
        "mode": "fastsim",
        "n_jets": int(len(reference)),
        "n_splits": n_splits,
        "selection": f"jet pT > {acceptance.jet_min_pt} GeV, |eta| < {acceptance.jet_max_eta}",
        "features": {},
    }
    if run is not None:
        results["run"] = dict(run)
    for name, (obs, ok) in all_obs.items():

        def metric(a, b, side, obs=obs, ok=ok):
            other, other_ok = (ref_obs, ref_ok) if side == "real" else (obs, ok)
            ia, ib = a[ref_ok[a]], b[other_ok[b]]
            fid = detector.fidelity(
                {f: ref_obs[f][ia] for f in detector.FEATURES},
                {f: other[f][ib] for f in detector.FEATURES},
            )
            return {f"{f}/{m}": v for f, d in fid.items() for m, v in d.items()}

        results["features"][name] = floor.with_floor(
            metric, keys, model_aligned=True, n_splits=n_splits, seed=seed
        )

    # response and resolution in bins of gen pT, for every source paired with its gen jet
    # (selected on the gen jet, the model's condition; no reco cut, which would bias the lowest bin)
    gen = reference.side("gen")
    gen_feats = jet_features(gen.constituents.astype(np.float64))
    gen_obs = detector.observables(gen.constituents, R, None)  # the truth: no acceptance
    content = particle_content(gen.constituents.astype(np.float64), gen.pid) if np.any(gen.pid != 0) else None
    bins = np.array(pt_bins, float)
    results["response"] = {}
    ratios = {}
    more_draws = more_draws or {}
    for name, (obs, _) in {reference_name: (ref_obs, ref_ok), **all_obs}.items():
        extra = [_obs_all(c, R, acceptance)[0] for c in more_draws.get(name, ())]

        def drawn(q: str, obs=obs, extra=extra) -> np.ndarray:  # (draws, jets): the draws pooled
            return np.stack([obs[q], *(e[q] for e in extra)])

        pt = drawn("pt")
        results["response"][name] = detector.response(
            gen_feats[:, 0], gen_feats[:, 3], pt, drawn("mass"), bins, n_boot=200, seed=seed,
            reference=None if name == reference_name else (ref_obs["pt"], ref_obs["mass"]),
        )
        results["response"][name]["draws"] = 1 + len(extra)
        if name != "gen (identity)":
            results.setdefault("shifts", {})[name] = detector.shifts(
                gen_feats[:, 0], gen_obs, {f: drawn(f) for f in detector.JET_SHIFTS}, bins
            )
        results.setdefault("direction", {})[name] = detector.direction(
            gen_feats[:, 0], gen_feats[:, 1], gen_feats[:, 2], drawn("eta"), drawn("phi"), bins, R
        )
        ratios[name] = (obs["pt"] / np.where(gen_feats[:, 0] > 0, gen_feats[:, 0], np.nan),
                        obs["mass"] / np.where(gen_feats[:, 3] > 0, gen_feats[:, 3], np.nan))
        if name not in (reference_name, "gen (identity)") and content is not None:
            results.setdefault("response_by_content", {})[name] = response_by_content(
                gen_feats, content, ref_obs["pt"], pt, seed=seed
            )

    # figures: every feature for all sources after the jet acceptance
    figs = []
    for f in detector.FEATURES:
        vals = {reference_name: ref_obs[f][ref_ok]}
        vals.update({name: obs[f][ok] for name, (obs, ok) in all_obs.items()})
        bins_f = np.arange(-0.5, 51.5, 2) if f == "n_constituents" else 40
        figs.append(
            ratio_plot(vals, reference_name, out / f"jet_{f}.png", LABELS.get(f, f), bins=bins_f)
        )
    rel = {reference_name: _rel(reference.side("reco").constituents, acceptance, ref_ok)}
    rel.update({name: _rel(samples[name], acceptance, ok) for name, (_, ok) in all_obs.items()})
    for i, f in enumerate(("eta_rel", "phi_rel", "pt_rel")):
        vals = {n: r[..., i][r[..., 2] > 0] for n, r in rel.items()}
        figs.append(
            ratio_plot(
                vals, reference_name, out / f"particle_{f}.png", LABELS[f], logy=(f == "pt_rel")
            )
        )
    figs.append(
        jet_images_plot(
            {n: jet_image(r, extent=R) for n, r in rel.items()}, out / "jet_images.png", extent=R
        )
    )
    results["constituents"] = constituent_spectrum(
        {reference_name: (reference.side("reco").constituents, ref_ok),
         **{name: (samples[name], ok) for name, (_, ok) in all_obs.items()}},
        reference_name, keys, acceptance, n_splits=n_splits, seed=seed,
    )
    figs += response_plots(ratios, gen_feats[:, 0], bins, reference_name, out, results["response"])
    results["figures"] = [os.path.basename(p) for p in figs]
    tables = _fastsim_table(results) + "\n" + response_table(results["response"], reference_name)
    tables += "\n" + direction_table(results["direction"], reference_name, R)
    tables += "\n" + shifts_table(results["shifts"], reference_name)
    tables += "\n" + constituents_table(results["constituents"], reference_name)
    if any(results.get("response_by_content", {}).values()):
        tables += "\n" + content_table(results["response_by_content"], reference_name)
    _write(results, out, tables)
    return results


SOFT_PT = (0.3, 0.5, 1.0)
"""The pT thresholds [GeV] of the constituent-spectrum table's shares of soft constituents."""


def constituent_spectrum(
    sources: Mapping[str, tuple[np.ndarray, np.ndarray]],
    reference_name: str,
    keys: np.ndarray,
    acceptance: Acceptance = Acceptance(),
    n_splits: int = 5,
    seed: int = 0,
) -> dict[str, dict]:
    """The constituents' own pT spectrum, which no jet-level table sees (the fast-sim's
    projections fix every jet's totals whatever its particles' spectrum; RESULTS.md §2, "The soft
    end"): per source (name → (constituents (N, k, 3) aligned with the reference's jets, the
    jets to use (N,) bool)), the constituents of those jets inside the constituent acceptance —
    their number, pT quantiles (5 / 25 / 50 / 75%), shares below :data:`SOFT_PT` — and, for every
    source but the reference, the W1 of log pT against the reference's over the floor
    (:func:`hepgen.metrics.floor.with_floor`, split by event)."""
    logpt = {}
    for name, (c, ok) in sources.items():
        inside = apply_constituent_acceptance(np.asarray(c, np.float64), acceptance.constituent_min_pt,
                                              acceptance.constituent_max_eta)
        pt = np.hypot(inside[..., 0], inside[..., 1])
        logpt[name] = np.where((pt > 0) & np.asarray(ok)[:, None], np.log(np.where(pt > 0, pt, 1.0)), np.nan)

    def flat(name: str, idx: np.ndarray) -> np.ndarray:
        x = logpt[name][idx].ravel()
        return x[np.isfinite(x)]

    out: dict[str, dict] = {}
    everything = np.arange(len(keys))
    for name in sources:
        pt = np.exp(flat(name, everything))
        entry: dict = {
            "particles": int(pt.size),
            "quantiles": [float(q) for q in np.percentile(pt, [5, 25, 50, 75])] if pt.size else [],
            "below": {f"{t:g}": float(np.mean(pt < t)) if pt.size else float("nan") for t in SOFT_PT},
        }
        if name != reference_name:
            def metric(a, b, side, name=name):
                return {"logpt/w1": w1(flat(reference_name, a), flat(reference_name if side == "real" else name, b))}

            entry["w1_logpt"] = floor.with_floor(metric, keys, model_aligned=True, n_splits=n_splits, seed=seed)["logpt/w1"]
        out[name] = entry
    return out


def constituents_table(spectrum: Mapping[str, dict], reference_name: str = "delphes") -> str:
    """Markdown of :func:`constituent_spectrum`."""
    lines = [
        "Constituent pT (the constituents of the jets of the W1 table, inside the constituent acceptance; "
        "the jet-level tables cannot see the particles' own spectrum): quantiles, shares of soft "
        f"constituents and the W1 of log pT over the {reference_name} floor",
        "",
        "| source | constituents | pT 5% / 25% / 50% / 75% [GeV] | "
        + " / ".join(f"< {t:g}" for t in SOFT_PT) + " GeV | W1(log pT) / floor |",
        "|---|---|---|---|---|",
    ]
    floors = [d["w1_logpt"]["floor"] for d in spectrum.values() if "w1_logpt" in d]
    for name, d in spectrum.items():
        q = " / ".join(f"{v:.2f}" for v in d["quantiles"]) or "—"
        below = " / ".join(f"{d['below'][f'{t:g}']:.3f}" for t in SOFT_PT)
        if "w1_logpt" in d:
            ratio = f"{d['w1_logpt']['ratio']:.2f}"
        else:  # the reference: the floor every ratio is taken over (the same splits for all)
            ratio = f"(floor {floors[0]:.4f})" if floors else "—"
        lines.append(f"| {name} | {d['particles']} | {q} | {below} | {ratio} |")
    return "\n".join(lines) + "\n"


CONTENT_BINS = {
    "photon": (0.0, 0.15, 0.25, 0.35, 0.5, 1.01),
    "neutral hadron": (0.0, 0.05, 0.1, 0.2, 0.3, 1.01),
}
"""Bins of the gen jet's photon and neutral-hadron pT fractions in the response-by-content table."""
CONTENT_PT_BINS = (200.0, 300.0, 600.0)
"""Its gen-jet pT bins (GeV)."""


def response_by_content(
    gen: np.ndarray, content: np.ndarray, ref_pt: np.ndarray, pt: np.ndarray, seed: int = 0
) -> list[dict]:
    """The pT response jet by jet where the detector differs: per gen-pT bin and bin of the gen
    jet's photon or neutral-hadron pT fraction (:func:`~hepgen.physics.kinematics.
    particle_content`; tracker, ECAL and HCAL resolve them differently), the model's median and
    IQR of pT(reco)/pT(gen) against the reference's on the same gen jets (paired bootstrap, 100
    resamples). ``gen``: the gen jets' (pT, η, φ, m, E) (N, 5); ``content``: their fractions (N, 3);
    ``ref_pt``: the reference's reco pT (N,); ``pt``: the model's, (N,) or (draws, N). Rows with
    fewer than 30 jets are left out."""
    rows = []
    for name, edges in CONTENT_BINS.items():
        f = content[:, CONTENT.index(name)]
        for e0, e1 in zip(edges[:-1], edges[1:]):
            sel = (f >= e0) & (f < e1)
            if sel.sum() < 30:
                continue
            # pT alone: it stands in for the mass arguments too
            r = detector.response(
                gen[sel, 0], gen[sel, 3], np.asarray(pt)[..., sel], np.asarray(pt)[..., sel],
                np.array(CONTENT_PT_BINS), n_boot=100, seed=seed, reference=(ref_pt[sel], ref_pt[sel]),
            )
            d = detector.response(gen[sel, 0], gen[sel, 3], ref_pt[sel], ref_pt[sel], np.array(CONTENT_PT_BINS))
            for b in range(len(CONTENT_PT_BINS) - 1):
                if r["n"][b] < 30:
                    continue
                rows.append({
                    "gen_pt": [CONTENT_PT_BINS[b], CONTENT_PT_BINS[b + 1]], "fraction": name,
                    "bin": [e0, min(e1, 1.0)], "n": r["n"][b],
                    "reference_median": d["pt_median"][b], "reference_iqr": d["pt_iqr"][b],
                    "median": r["pt_median"][b], "median_diff": r["pt_median_diff"][b],
                    "median_diff_err": r["pt_median_diff_err"][b], "iqr": r["pt_iqr"][b],
                    "iqr_ratio": r["pt_iqr_ratio"][b],
                    "iqr_ratio_err": r["pt_iqr_ratio_err"][b],
                })
    return rows


def content_table(by_content: Mapping[str, list[dict]], reference_name: str = "delphes") -> str:
    """Markdown: the pT response per gen-pT bin and particle-content bin (:func:`response_by_content`)."""
    names = list(by_content)
    if not names:
        return ""
    lines = [
        "pT response by the gen jet's particle content (photon / neutral-hadron pT fraction; median "
        "Δ model − reference on the same gen jets and IQR ratio, ± paired bootstrap): a fast-sim "
        "can be right over all jets and wrong per class",
        "",
        f"| gen pT [GeV] | content bin | jets | {reference_name} pT med / IQR | "
        + " | ".join(f"{n} Δ med / IQR ratio" for n in names) + " |",
        "|---|---|---|---|" + "---|" * len(names),
    ]
    for i, row in enumerate(by_content[names[0]]):
        cells = [
            f"{r['median_diff']:+.3f} ± {r['median_diff_err']:.3f} / {r['iqr_ratio']:.2f}× ± {r['iqr_ratio_err']:.2f}"
            for r in (by_content[n][i] for n in names)
        ]
        lines.append(
            f"| {row['gen_pt'][0]:.0f}–{row['gen_pt'][1]:.0f} | {row['fraction']} {row['bin'][0]:.2f}–{row['bin'][1]:.2f} "
            f"| {row['n']} | {row['reference_median']:.3f} / {row['reference_iqr']:.3f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def training_overlap(
    dataset: Mapping, reference: Sequence[str | os.PathLike], split: str, split_seed: int
) -> str | None:
    """Why the ``split`` of ``reference`` may hold jets a checkpoint was trained on, or None.

    ``dataset`` is the checkpoint's record (its training ``files`` by name and ``split_seed``).
    The split is by event over the file list, so a checkpoint's held-out jets are the ``test``
    split of exactly its training list, in its order, with its seed; files it never saw are
    held out whole (``--split all`` on them is fine).
    """
    trained = [str(f) for f in dataset.get("files", [])]
    names = [os.path.basename(os.fspath(p)) for p in reference]
    seen = sorted(set(trained) & set(names))
    if not seen:
        return None
    if split != "test":
        return (
            f"the {split} split of {', '.join(seen)} holds events it was trained on: its metrics "
            "there are biased in its favour (held out: the test split of its training files)"
        )
    if names != trained or int(dataset.get("split_seed", 0)) != split_seed:
        return (
            f"it was trained on {', '.join(seen)} with a split by event over {trained} (seed "
            f"{dataset.get('split_seed', 0)}); the test split over {names} (seed {split_seed}) is "
            "another one and holds some of its training events: give its training files in "
            "that order (restrict with --only-files)"
        )
    return None


def file_families(paths: Sequence[str | os.PathLike]) -> list[str]:
    """Each file's family: its name without the extension and a trailing ``_sNNN`` seed, so
    ``fastsim_qcd_pu50_highpt_s302.h5`` and ``…_s303.h5`` are one family (one process).

    Example:
        >>> file_families(["a/ww_s1.h5", "b/ww_s2.h5", "qcd_s7.h5", "other.h5"])
        ['ww', 'ww', 'qcd', 'other']
    """
    return [re.sub(r"_s\d+$", "", Path(os.fspath(p)).stem) or Path(os.fspath(p)).stem for p in paths]


def family_table(by_family: Mapping[str, dict]) -> str:
    """Markdown summary of per-family fast-sim results: jets, the model's W1 / floor for jet
    mass, multiplicity and the worst of Flow_1..4, and the range over gen-pT bins of its pT- and
    mass-response IQR ratios and of its Δη-IQR ratio to the reference (bins of ≥ 20 jets)."""
    lines = [
        "Per file family (one process each; full tables in by_family/FAMILY/metrics.md; IQR ratios "
        "over the gen-pT bins with at least 20 jets):",
        "",
        "| family | jets | mass W1/floor | n_constituents | worst Flow_n | pT-response IQR ratio | "
        "m-response IQR ratio | Δη IQR ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for family, r in by_family.items():
        model = "hepgen" if "hepgen" in r["features"] else next(iter(r["features"]))
        ratio = {f: r["features"][model][f"{f}/w1"]["ratio"] for f in detector.FEATURES}
        resp, ref_name = r["response"][model], next(iter(r["response"]))
        ok = [i for i, n in enumerate(resp["n"]) if n >= 20]

        def span(values: list[float]) -> str:
            v = [x for x in values if np.isfinite(x)]
            return f"{min(v):.2f}–{max(v):.2f}" if v else "—"

        d, d_ref = r["direction"][model], r["direction"][ref_name]
        lines.append(
            f"| {family} | {r['n_jets']} | {ratio['mass']:.2f} | {ratio['n_constituents']:.2f} | "
            f"{max(ratio[f'flow{i}'] for i in range(1, 5)):.2f} | "
            f"{span([resp['pt_iqr_ratio'][i] for i in ok])} | {span([resp['mass_iqr_ratio'][i] for i in ok])} | "
            f"{span([d['eta_iqr'][i] / d_ref['eta_iqr'][i] for i in ok if d_ref['eta_iqr'][i] > 0])} |"
        )
    return "\n".join(lines) + "\n"


def auto_split(dataset: Mapping | None, reference: Sequence[str | os.PathLike]) -> str:
    """The split ``evaluate`` takes by default: ``all`` where a checkpoint's training record
    names none of the reference files (it never saw them: every jet is held out), else ``test``.

    ``dataset`` is the checkpoint's record, None for an HDF5 sample or the floors alone; a record
    without training files (unknown) also gives ``test``.
    """
    trained = {str(f) for f in (dataset or {}).get("files", [])}
    names = {os.path.basename(os.fspath(p)) for p in reference}
    return "all" if trained and not trained & names else "test"


def direction_table(direction: Mapping[str, dict], reference_name: str, R: float) -> str:
    """Markdown: the jet-direction resolution per gen-pT bin (:func:`hepgen.metrics.detector.
    direction`), each source's IQRs also as a ratio to the reference's."""
    ref = direction[reference_name]
    lines = [
        "Jet direction per gen-jet pT bin (jets selected on the gen jet; IQR of Δη and Δφ = reco − "
        f"gen, median and 90% quantile of ΔR, fraction beyond ΔR = R/2 = {R / 2:g}: lost to a "
        "matching within R/2)",
        "",
        "| gen pT [GeV] | jets | " + " | ".join(
            f"{n} Δη IQR | {n} Δφ IQR | {n} ΔR med / 90% | {n} > R/2" for n in direction
        ) + " |",
        "|---|---|" + "---|---|---|---|" * len(direction),
    ]
    for i in range(len(ref["n"])):
        cells = [f"{ref['bins'][i]:.0f}–{ref['bins'][i + 1]:.0f}", str(ref["n"][i])]
        for name, d in direction.items():
            ratio = name != reference_name
            for q in ("eta_iqr", "phi_iqr"):
                r = d[q][i] / ref[q][i] if ratio and ref[q][i] > 0 else None
                cells.append(f"{d[q][i]:.4f}" + (f" ({r:.2f}×)" if r is not None else ""))
            cells += [f"{d['dr_median'][i]:.4f} / {d['dr_q90'][i]:.4f}", f"{100 * d['outside'][i]:.2f}%"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def response_table(response: Mapping[str, dict], reference_name: str = "delphes") -> str:
    """Markdown: median and IQR of pT(reco)/pT(gen) and m(reco)/m(gen) per gen-pT bin."""
    names = list(response)
    first = response[names[0]]
    pooled = [f"{n}: {r['draws']} draws per gen jet, pooled" for n, r in response.items() if r.get("draws", 1) > 1]
    lines = [
        "Response and resolution per gen-jet pT bin (jets selected on the gen jet; median / IQR of "
        "reco/gen; ± the median's bootstrap standard deviation where computed; Δ: the median "
        "minus the reference's, ± its paired-bootstrap standard deviation (the same gen jets on "
        "both sides); the model's IQR as a ratio to the reference's, ± the same bootstrap's standard deviation" + ("; " + "; ".join(pooled) if pooled else "") + ")",
        "",
        "| gen pT [GeV] | jets | " + " | ".join(
            f"{n} pT med | {n} pT IQR | {n} m med | {n} m IQR" for n in names
        ) + " |",
        "|---|---|" + "---|---|---|---|" * len(names),
    ]
    ref = response[reference_name]
    for b in range(len(first["bins"]) - 1):
        cells = []
        for n in names:
            r = response[n]
            pt_iqr, m_iqr = r["pt_iqr"][b], r["mass_iqr"][b]

            def med(q: str, r=r, b=b) -> str:
                err, diff = r.get(f"{q}_median_err"), r.get(f"{q}_median_diff")
                return (
                    f"{r[f'{q}_median'][b]:.3f}" + (f" ± {err[b]:.3f}" if err else "")
                    + (f" (Δ {diff[b]:+.3f} ± {r[f'{q}_median_diff_err'][b]:.3f})" if diff else "")
                )

            def iqr(q: str, r=r, b=b) -> str:
                ratio = r[f"{q}_iqr"][b] / ref[f"{q}_iqr"][b]
                err = r.get(f"{q}_iqr_ratio_err")  # paired, like the median's Δ
                return f"{r[f'{q}_iqr'][b]:.3f} ({ratio:.2f}×" + (f" ± {err[b]:.2f}" if err and np.isfinite(err[b]) else "") + ")"

            if n == reference_name:
                cells += [med("pt"), f"{pt_iqr:.3f}", med("mass"), f"{m_iqr:.3f}"]
            else:
                cells += [med("pt"), iqr("pt"), med("mass"), iqr("mass")]
        lo, hi = first["bins"][b], first["bins"][b + 1]
        lines.append(f"| {lo:.0f}–{hi:.0f} | {first['n'][b]} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def response_plots(
    ratios: Mapping[str, tuple[np.ndarray, np.ndarray]],
    gen_pt: np.ndarray,
    bins: np.ndarray,
    reference_name: str,
    out: Path,
    response: Mapping[str, dict],
) -> list[str]:
    """Response distributions per gen-pT bin (ratio panels to the reference) and resolution vs pT
    (``response``: the per-bin medians and IQRs of :func:`hepgen.metrics.detector.response`)."""
    from hepgen.plotting import ratio_plot, resolution_plot

    figs = []
    which = np.digitize(gen_pt, bins) - 1
    for i, q in enumerate(("pt", "mass")):
        for b in range(len(bins) - 1):
            sel = which == b
            vals = {n: r[i][sel & np.isfinite(r[i])] for n, r in ratios.items()}
            if min(len(v) for v in vals.values()) < 10:
                continue
            figs.append(
                ratio_plot(
                    vals, reference_name, out / f"response_{q}_{int(bins[b])}_{int(bins[b + 1])}.png",
                    f"{'$p_T$' if q == 'pt' else 'mass'} reco / gen, gen $p_T$ {bins[b]:.0f}–{bins[b + 1]:.0f} GeV",
                    bins=np.linspace(0.5, 1.5, 51) if q == "pt" else np.linspace(0.0, 2.0, 51),
                )
            )
        figs.append(resolution_plot(response, q, out / f"resolution_{q}.png"))
    return figs


def _rel(constituents: np.ndarray, acc: Acceptance, ok: np.ndarray) -> np.ndarray:
    c = apply_constituent_acceptance(
        np.asarray(constituents, np.float64)[ok], acc.constituent_min_pt, acc.constituent_max_eta
    )
    return to_relative(c)


def shifts_table(shifts: Mapping[str, dict], reference_name: str) -> str:
    """Markdown: per gen-pT bin, the reference's IQR of reco − gen per jet for the multiplicity
    and Flow_1..4 (:func:`hepgen.metrics.detector.shifts`), and each other source's as a ratio."""
    ref = shifts[reference_name]
    feats = detector.JET_SHIFTS
    short = {"n_constituents": "n", "flow1": "F1", "flow2": "F2", "flow3": "F3", "flow4": "F4"}
    others = [n for n in shifts if n != reference_name]
    lines = [
        "Multiplicity and substructure jet by jet (IQR of reco − gen per jet, per gen-jet pT bin: "
        f"the {reference_name} values, then each model's as a ratio; the marginals' W1s above "
        "cannot see this)",
        "",
        "| gen pT [GeV] | jets | " + " | ".join(f"{reference_name} {short[f]}" for f in feats)
        + "".join(f" | {n} {' / '.join(short[f] for f in feats)} ratio" for n in others) + " |",
        "|---|---|" + "---|" * (len(feats) + len(others)),
    ]
    for i in range(len(ref["n"])):
        cells = [f"{ref['bins'][i]:.0f}–{ref['bins'][i + 1]:.0f}", str(ref["n"][i])]
        cells += [f"{ref[f + '_iqr'][i]:.3g}" for f in feats]
        for n in others:
            cells.append(" / ".join(
                f"{shifts[n][f + '_iqr'][i] / ref[f + '_iqr'][i]:.2f}" if ref[f + "_iqr"][i] > 0 else "—"
                for f in feats
            ))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _split_label(run: Mapping | None) -> str:
    """'; reference: all jets' / '; reference: the test split' (from the run record), or ''."""
    if not run or "split" not in run:
        return ""
    what = "all jets" if run["split"] == "all" else f"the {run['split']} split by event"
    return f"; reference: {what}" + (f" of files named *{run['only_files']}*" if run.get("only_files") else "")


def _fastsim_table(results: dict) -> str:
    lines = [
        f"Fast-sim fidelity ({results['selection']}{_split_label(results.get('run'))}; W1 in feature "
        f"units; floor = Delphes half vs half, {results['n_splits']} event splits)",
        "",
        "| feature | "
        + " | ".join(f"{n} W1 | ratio to floor" for n in results["features"])
        + " | floor W1 |",
        "|---|" + "---|---|" * len(results["features"]) + "---|",
    ]
    first = next(iter(results["features"].values()))
    for f in detector.FEATURES:
        cells = []
        for d in results["features"].values():
            cells += [f"{d[f + '/w1']['model']:.4g}", f"{d[f + '/w1']['ratio']:.2f}"]
        lines.append(f"| {f} | " + " | ".join(cells) + f" | {first[f + '/w1']['floor']:.4g} |")
    return "\n".join(lines) + "\n"


def evaluate_generation(
    reference: np.ndarray,
    sample: np.ndarray | None,
    outdir: str | os.PathLike,
    R: float = 0.8,
    n_splits: int = 3,
    seed: int = 0,
    fast: bool = False,
    sample_name: str = "model",
    fpd_seeds: int = 10,
    run: Mapping | None = None,
    progress: bool = False,
) -> dict:
    """JetNet metrics + EMD_sum of generated cartesian constituents vs real ones, with floors.

    Besides the distances: W1P per particle feature (``W1P_eta``, ``W1P_phi``, ``W1P_pt``) and
    ``frac_out_of_cone``, the share of particles with ΔR > ``R`` from the jet axis (its "floor"
    is the real half's share, so its ratio says how many times more the model puts there).

    With ``sample`` None only the floors are computed (real half vs real half).
    ``fast`` shrinks the bootstrap sizes (for tests) and takes one FPD seed; the output says so.
    ``fpd_seeds``: FPD (floor and model alike) is the mean of jetnet's FPD over this many subset seeds.
    ``run``: a record of what was run, stored as ``results["run"]``.
    ``progress``: a progress bar over the splits (minutes each at 10⁴ jets: FPD, KPD, COV/MMD).
    """
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    ref_rel = to_relative(np.asarray(reference, np.float64))
    ref_jet = jet_features(np.asarray(reference, np.float64))
    sam_rel = None if sample is None else to_relative(np.asarray(sample, np.float64))
    sam_jet = None if sample is None else jet_features(np.asarray(sample, np.float64))
    cov_batches, fpd_kw, kpd_kw = (
        (3, {"n_batches": 5, "n_points": 4}, {"n_batches": 5}) if fast else (10, {}, {})
    )
    fpd_seeds = 1 if fast else fpd_seeds
    ref_efp = jetnet.fpd_kpd_features(ref_rel)
    sam_efp = None if sam_rel is None else jetnet.fpd_kpd_features(sam_rel)

    def metric(a, b, side):
        if side == "real":
            orel, ojet, oefp = ref_rel, ref_jet, ref_efp
        elif sam_rel is None or sam_jet is None or sam_efp is None:  # with_floor asks for none
            raise RuntimeError("no generated sample to compare")
        else:
            orel, ojet, oefp = sam_rel, sam_jet, sam_efp
        w1m, _ = jetnet.w1m(ref_rel[a], orel[b], seed=seed)
        w1p, _ = jetnet.w1p(ref_rel[a], orel[b], seed=seed)
        w1efp, _ = jetnet.w1efp(ref_rel[a], orel[b], seed=seed)
        # jetnet's extrapolated FPD moves with its subsets' seed about as much as the model-to-floor
        # difference at a few thousand jets (RESULTS.md §3a): the mean over ``fpd_seeds`` seeds
        fpd = float(
            np.mean([jetnet.fpd(ref_efp[a], oefp[b], seed=seed + i, **fpd_kw)[0] for i in range(fpd_seeds)])
        )
        kpd, _ = jetnet.kpd(ref_efp[a], oefp[b], seed=seed, **kpd_kw)
        cov, mmd = jetnet.cov_mmd(ref_rel[a], orel[b], seed=seed, n_batches=cov_batches)
        names = JET_FEATURES
        emd = emd_sum(
            {n: ref_jet[a, i] for i, n in enumerate(names)},
            {n: ojet[b, i] for i, n in enumerate(names)},
        )
        per_feature = {f"W1_{n}": w1(ref_jet[a, i], ojet[b, i]) for i, n in enumerate(names)}
        per_feature["W1_n"] = w1(
            (ref_rel[a, :, 2] > 0).sum(1).astype(float), (orel[b, :, 2] > 0).sum(1).astype(float)
        )
        # not a distance: the share of particles farther than R from the jet axis (an anti-kt
        # jet holds almost none; a generator that puts a soft particle backwards, Δφ ≈ π, makes
        # the jet mass with it while its in-cone particles stay too narrow — RESULTS.md §3c)
        live = orel[b, :, 2] > 0
        out_of_cone = float((np.hypot(orel[b, :, 0], orel[b, :, 1])[live] > R).mean())
        return {
            "W1M": w1m,
            "W1P": float(np.mean(w1p)),
            "W1P_eta": float(w1p[0]),
            "W1P_phi": float(w1p[1]),
            "W1P_pt": float(w1p[2]),
            "W1EFP": float(np.mean(w1efp)),
            "FPD": fpd,
            "KPD": kpd,
            "COV": cov,
            "MMD": mmd,
            "EMD_sum": emd,
            **per_feature,
            "frac_out_of_cone": out_of_cone,
        }

    keys = np.arange(len(reference))
    if sample is None:

        res = floor.with_floor(
            metric, keys, n_splits=n_splits, seed=seed, floor_only=True,
            progress="floors (real half vs half)" if progress else None,
        )
    else:
        res = floor.with_floor(
            metric, keys, model_aligned=False, n_model=len(sample), n_splits=n_splits, seed=seed,
            progress="metrics (floor and model per split)" if progress else None,
        )
    results: dict[str, Any] = {
        "mode": "generation",
        "n_reference": int(len(reference)),
        "n_splits": n_splits,
        "fast": fast,
        "note": "COV/MMD on 100-jet batches as jetnet; "
        + ("reduced bootstrap (fast)" if fast else "jetnet batch sizes")
        + f"; FPD: mean over {fpd_seeds} seed{'s' if fpd_seeds > 1 else ''}",
        "metrics": res,
        "sample": sample_name if sample is not None else None,
    }
    if run is not None:
        results["run"] = dict(run)
    figs = []
    names = JET_FEATURES
    for i, f in enumerate(names):
        vals = {"real": ref_jet[:, i]}
        if sam_jet is not None:
            vals[sample_name] = sam_jet[:, i]
        figs.append(ratio_plot(vals, "real", out / f"jet_{f}.png", LABELS[f]))
    for i, f in enumerate(("eta_rel", "phi_rel", "pt_rel")):
        vals = {"real": ref_rel[..., i][ref_rel[..., 2] > 0]}
        if sam_rel is not None:
            vals[sample_name] = sam_rel[..., i][sam_rel[..., 2] > 0]
        figs.append(
            ratio_plot(vals, "real", out / f"particle_{f}.png", LABELS[f], logy=(f == "pt_rel"))
        )
    imgs = {"real": jet_image(ref_rel, extent=R)}
    if sam_rel is not None:
        imgs[sample_name] = jet_image(sam_rel, extent=R)
    figs.append(jet_images_plot(imgs, out / "jet_images.png", extent=R))
    results["figures"] = [os.path.basename(p) for p in figs]
    lines = [
        f"Generation metrics ({results['note']}{_split_label(results.get('run'))}; floor = real half vs real half, {n_splits} splits)",
        "",
    ]
    if sample is None:
        lines += ["| metric | floor | std over splits |", "|---|---|---|"]
        lines += [f"| {k} | {d['floor']:.4g} | {d['floor_std']:.2g} |" for k, d in res.items()]
    else:
        lines += [f"| metric | {sample_name} | floor | ratio |", "|---|---|---|---|"]
        lines += [
            f"| {k}{' ↑' if k == 'COV' else ''} | {d['model']:.4g} | {d['floor']:.4g} | "
            + (f"{d['ratio']:.3g} |" if d["floor"] > 0 else "— (floor ≤ 0) |")
            for k, d in res.items()
        ]
    _write(results, out, "\n".join(lines) + "\n")
    return results


def _write_json(results: dict, out: Path) -> None:
    (out / "metrics.json").write_text(json.dumps(results, indent=2, default=float))


def _write(results: dict, out: Path, table: str) -> None:
    _write_json(results, out)
    (out / "metrics.md").write_text(table)


def _check_compatible(what: str, sample_attrs: dict, ref_attrs: dict, mode: str, force: bool) -> None:
    """Refuse comparing jets of different R or k (``force`` compares anyway)."""
    problems = []
    for key in ("R", "k"):
        a, b = sample_attrs.get(key), ref_attrs.get(key)
        if a is None or b is None:
            continue
        if key == "R" and not same_radius(a, b):
            problems.append(f"R = {float(a):g} vs the reference's {float(b):g}")
        if key == "k" and mode == "fastsim" and int(a) > int(b):
            problems.append(f"k = {int(a)} vs the reference's {int(b)}")
    if problems and not force:
        raise HepgenInputError(
            f"{what}: does not match the reference ({'; '.join(problems)}); pass --force to compare anyway"
        )


def evaluate(
    sample: str | os.PathLike | None,
    reference: list[str | os.PathLike],
    output: str | os.PathLike = "hepgen-evaluate",
    *,
    mode: str | None = None,
    split: str = "auto",
    split_seed: int = 0,
    n_particles: int | None = None,
    n_splits: int = 5,
    seed: int = 0,
    fast: bool = False,
    device: str | None = None,
    force: bool = False,
    overwrite: bool = False,
    steps: int | None = None,
    only_files: str | None = None,
    draws: int = 1,
    settings: dict | None = None,
    min_pt: float | None = None,
    max_eta: float | None = None,
    pt_bins: Sequence[float] | None = None,
    progress: bool = True,
    per_family: bool = True,
) -> dict:
    """Metrics with truth floors, ``metrics.json``, ``metrics.md`` and figures in ``output``.

    ``metrics.json`` also records the run under ``"run"``: sample, reference files, split, seeds,
    draws, the ``steps`` / ``settings`` asked for and, for a fast-sim v2 checkpoint, the inference
    settings it ran with.

    Args:
        sample: a checkpoint (``.pt`` or shipped name) or an HDF5 file written by ``simulate`` /
            ``sample``; None for the floors alone.
        reference: reference HDF5 jet-pair files (the same files, in the same order, as
            training used: the split is by event and file).
        output: folder to write (atomically; replaced only with ``overwrite``).
        mode: ``fastsim`` or ``generation`` (default: from the sample).
        split: ``train``, ``valid``, ``test``, ``all`` or ``auto`` (default: ``all`` when
            ``sample`` is a checkpoint trained on none of the reference files, which then are held
            out whole, else ``test``; :func:`auto_split`). ``metrics.json`` records the split taken.
        split_seed: seed of the 70/15/15 split by event.
        n_particles: constituents per jet in generation mode (default 30).
        n_splits: random event splits for the floors (in generation mode a checkpoint draws
            n_splits × the real jets: fresh model jets for every split; an HDF5
            sample is cut into disjoint blocks per split when it is that large, else drawn from).
        seed: noise / sampling seed.
        fast: reduced bootstrap sizes (a quick look).
        device: torch device.
        force: compare even when R or k differ from the reference's.
        overwrite: replace an existing ``output``.
        steps: ODE steps for flow-matching models (default: the checkpoint's).
        settings: inference-only settings of a fast-sim v2 checkpoint to change (e.g.
            ``{"candidates": 4, "project_mass": False}``; :class:`~hepgen.inference.Runner`).
        only_files: keep only the jets of reference files whose name contains this string,
            *after* the split — so a model trained on several processes is evaluated on one
            process with exactly the held-out events of its training split.
        draws: fast-sim checkpoints: simulate every gen jet this many times (seeds ``seed``,
            ``seed + 1``, …) and pool the draws in the response table, so that its medians and
            IQRs carry less of the model's own sampling noise (one draw of a mass-response median
            carries ~±0.01 at 1 000 boosted-WW jets); the W1s and figures use the first draw.
        min_pt, max_eta: fast-sim mode: the reco-jet acceptance of the W1 table (default
            :class:`~hepgen.physics.cuts.Acceptance`'s 200 GeV and 2.5).
        pt_bins: fast-sim mode: gen-jet pT bin edges (GeV) of the response table (default
            :data:`~hepgen.metrics.detector.RESPONSE_BINS`). The shipped fast-sims simulate gen
            jets above 100 GeV in the processor and were trained on them: bins below 100 GeV
            leave what they were trained on.
        progress: progress bars (simulation, sampling, the generation metrics' splits).
        per_family: fast-sim mode, reference files of several families (names that differ only
            in a trailing ``_sNNN`` seed: one process each, e.g. ``fastsim_qcd_pu50_highpt``):
            also evaluate each family on its own — the same simulated jets, their own floors —
            in ``by_family/FAMILY/`` (:func:`file_families`), with a summary in ``metrics.md``
            and ``metrics.json["by_family"]``. A fast-sim is judged per process: a mixture's
            marginals can hide a process it gets wrong.

    Raises:
        HepgenInputError: unreadable inputs, mismatched R/k, samples that do not line up.
    """
    from hepgen.data.datasets import load_pairs
    from hepgen.outputs import atomic_dir, check_output

    if split not in ("train", "valid", "test", "all", "auto"):
        raise HepgenInputError(f"--split {split!r}: train, valid, test, all or auto")
    if n_splits < 1:
        raise HepgenInputError(f"--n-splits {n_splits}: must be ≥ 1")
    if draws < 1:
        raise HepgenInputError(f"--draws {draws}: must be ≥ 1")
    if mode not in (None, "fastsim", "generation"):
        raise HepgenInputError(f"--mode {mode!r}: fastsim or generation")
    acceptance = Acceptance()
    if min_pt is not None or max_eta is not None:
        if min_pt is not None and not (np.isfinite(min_pt) and min_pt >= 0):
            raise HepgenInputError(f"--min-pt {min_pt}: must be a finite number ≥ 0 (GeV)")
        if max_eta is not None and not (np.isfinite(max_eta) and max_eta > 0):
            raise HepgenInputError(f"--max-eta {max_eta}: must be a finite number > 0")
        acceptance = replace(
            acceptance,
            jet_min_pt=acceptance.jet_min_pt if min_pt is None else float(min_pt),
            jet_max_eta=acceptance.jet_max_eta if max_eta is None else float(max_eta),
        )
    response_bins: tuple[float, ...] = RESPONSE_BINS
    if pt_bins is not None:
        edges = np.asarray(pt_bins, float)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or edges[0] < 0 or np.any(np.diff(edges) <= 0):
            raise HepgenInputError(
                f"--pt-bins {' '.join(f'{e:g}' for e in np.ravel(edges))}: at least two increasing, "
                "finite edges ≥ 0 (GeV)"
            )
        response_bins = tuple(float(e) for e in edges)
    sample_is_ckpt = sample is not None and not str(sample).endswith((".h5", ".hdf5"))
    if not sample_is_ckpt and (steps is not None or settings):
        raise HepgenInputError("steps and settings apply to a checkpoint, not to a file of jets")
    check_output(output, [*reference, *([sample] if sample is not None else [])], overwrite)
    ref_all, keys = load_pairs(reference)
    if len(ref_all) == 0:
        raise HepgenInputError(f"{reference[0]}: the reference holds no jets")
    runner = None
    if sample_is_ckpt and sample is not None:
        from hepgen.inference import Runner

        runner = Runner(sample, device=device, steps=steps, settings=settings)
    if split == "auto":
        split = auto_split(None if runner is None else runner.dataset, reference)
    idx = np.arange(len(ref_all)) if split == "all" else split_indices(keys, seed=split_seed)[split]
    if only_files:
        chosen = [i for i, p in enumerate(reference) if only_files in os.path.basename(os.fspath(p))]
        if not chosen:
            raise HepgenInputError(f"--only-files {only_files!r}: no reference file name contains it")
        idx = idx[np.isin(keys[idx] >> 48, chosen)]
    ref = ref_all.take(idx)
    # event keys must stay distinct across reference files
    ref.source_file = (keys[idx] >> 40).astype(np.int16)
    R = float(ref.attrs.get("R", 0.5))
    sample_pairs = None
    if runner is not None:
        mode = mode or runner.kind.replace("generator", "generation")
        overlap = training_overlap(runner.dataset, reference, split, split_seed)
        if overlap:
            warnings.warn(f"{sample}: {overlap}", UserWarning, stacklevel=2)
        ref_mu = pileup_from_names(reference)
        if runner.kind == "fastsim" and None not in (ref_mu, runner.pileup_mu) and ref_mu != runner.pileup_mu:
            warnings.warn(
                f"{sample}: trained with pile-up ⟨μ⟩ {runner.pileup_mu:g}, the reference files' names "
                f"state ⟨μ⟩ {ref_mu:g}: the model adds its training's pile-up, so the comparison "
                "is not of the detector response alone",
                UserWarning, stacklevel=2,
            )
        _check_compatible(str(sample), {"R": runner.R, "k": runner.k}, ref.attrs, mode, force)
    elif sample is not None:
        sample_pairs = h5.read(sample, sides=("reco",))  # generated files have no gen side
        mode = mode or (
            "fastsim"
            if sample_pairs.attrs.get("hepgen_kind", "fastsim") == "fastsim"
            else "generation"
        )
        _check_compatible(str(sample), sample_pairs.attrs, ref.attrs, mode, force)
    else:
        mode = mode or ("fastsim" if ref.gen is not None else "generation")
    if mode == "fastsim" and (ref.gen is None or ref.reco is None):
        raise HepgenInputError(f"{reference[0]}: fast-sim evaluation needs gen and reco sides")
    if mode == "fastsim" and runner is not None and runner.kind != "fastsim":
        raise HepgenInputError(f"{sample}: a {runner.kind} checkpoint cannot be evaluated as a fast-sim")
    if draws > 1 and (runner is None or mode != "fastsim"):
        raise HepgenInputError("--draws needs a fast-sim checkpoint (it simulates the jets again)")

    # what was compared, so that folders of several settings stay told apart
    inference = None
    if runner is not None and runner.name == "fastsim_fm":
        from hepgen.models.fastsim_fm import INFERENCE_FIELDS

        inference = {k: runner.config[k] for k in INFERENCE_FIELDS if k in runner.config}
        if steps is not None:
            inference["steps"] = steps
    if mode != "fastsim" and (min_pt is not None or max_eta is not None or pt_bins is not None):
        raise HepgenInputError(
            "--min-pt, --max-eta and --pt-bins select fast-sim jets; a generation evaluation "
            "compares every jet"
        )
    run = {
        "sample": None if sample is None else os.fspath(sample),
        "reference": [os.fspath(p) for p in reference],
        "split": split, "split_seed": split_seed, "only_files": only_files,
        "seed": seed, "draws": draws, "n_splits": n_splits,
        "steps": steps, "settings": dict(settings or {}), "inference": inference,
    }
    if mode == "fastsim":
        run["acceptance"] = asdict(acceptance)
        run["pt_bins"] = list(response_bins)
    with atomic_dir(output) as tmp:
        if mode == "fastsim":
            if len(ref) < 4:
                raise HepgenInputError(
                    f"{reference[0]}: {len(ref)} jets in the {split} split; too few for floors"
                )
            samples = {"gen (identity)": ref.side("gen").constituents}
            more: dict[str, list[np.ndarray]] = {}
            if runner is not None:
                from hepgen.simulation import simulate_pairs

                samples = {
                    "hepgen": simulate_pairs(runner, ref, seed=seed, progress=progress).side("reco").constituents,
                    **samples,
                }
                more = {"hepgen": [
                    simulate_pairs(runner, ref, seed=seed + j, progress=progress).side("reco").constituents
                    for j in range(1, draws)
                ]}
            elif sample_pairs is not None:
                if len(sample_pairs) == len(ref_all):
                    sample_pairs = sample_pairs.take(idx)
                if len(sample_pairs) != len(ref) or not np.array_equal(
                    sample_pairs.event_number, ref.event_number
                ):
                    raise HepgenInputError(
                        f"{sample}: its jets do not line up with the reference {split} split; "
                        "simulate the same reference file (hepgen simulate CHECKPOINT REF.h5)"
                    )
                samples = {"hepgen": sample_pairs.side("reco").constituents, **samples}
            results = evaluate_fastsim(
                ref, samples, tmp, R=R, acceptance=acceptance, n_splits=n_splits, seed=seed,
                more_draws=more, run=run, pt_bins=response_bins,
            )
            families = file_families(reference)
            position = keys[idx] >> 48  # each jet's file, by its place in ``reference``
            if per_family and len(set(families)) > 1:
                results["by_family"] = {}
                for family in dict.fromkeys(families):
                    rows = np.flatnonzero(np.isin(position, [i for i, f in enumerate(families) if f == family]))
                    if len(rows) < 4:
                        continue
                    results["by_family"][family] = evaluate_fastsim(
                        ref.take(rows), {n: a[rows] for n, a in samples.items()},
                        tmp / "by_family" / family, R=R, acceptance=acceptance, n_splits=n_splits,
                        seed=seed, more_draws={n: [a[rows] for a in v] for n, v in more.items()},
                        run={**run, "family": family}, pt_bins=response_bins,
                    )
                with open(tmp / "metrics.md", "a") as f:
                    f.write("\n" + family_table(results["by_family"]))
                _write_json(results, tmp)  # again, now with the families
        else:
            if ref.reco is None:
                raise HepgenInputError(f"{reference[0]}: generation evaluation needs a reco side")
            k = n_particles or 30
            real = ref.reco.constituents[:, :k]
            if len(real) < MIN_GENERATION_JETS:
                raise HepgenInputError(
                    f"{reference[0]}: {len(real)} jets in the {split} split; the JetNet metrics "
                    f"need at least {MIN_GENERATION_JETS} (FPD fits a covariance; the floors split "
                    "the sample in halves)"
                )
            gen_sample = None
            name = "model"
            splits = n_splits
            if runner is not None:
                # fresh jets for every split (floor.with_floor cuts the sample into blocks), so
                # the splits average the model's sampling noise as they average the floor's
                gen_sample = runner.sample(splits * len(real), seed=seed, progress=progress)[:, :k]
                name = runner.name
            elif sample_pairs is not None:
                gen_sample = sample_pairs.side("reco").constituents[:, :k]
                name = str(sample_pairs.attrs.get("hepgen_model", "model"))
            results = evaluate_generation(
                real, gen_sample, tmp, R=R, n_splits=splits, seed=seed, fast=fast,
                sample_name=name, run=run, progress=progress,
            )
    return results


MIN_GENERATION_JETS = 20
"""Fewer real jets than this cannot give a covariance (FPD) or two halves for the floors."""
