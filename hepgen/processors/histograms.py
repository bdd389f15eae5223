"""Booking and filling of the analysis histograms, shared by the fast-sim and generator processors
and the notebooks, so every source (``gen``, ``hepgen``, ``delphes``) is binned identically.

Every histogram has a ``dataset`` category (the fileset's keys, as coffea processors keep
signal and backgrounds apart; ``h[{"dataset": sum}]`` adds them up), a ``source`` category and a
``half`` axis (event number parity): the two halves of a sample give the truth floor of any
distance computed from the histograms. They hold weighted sums with their variances
(``Weight`` storage): the processors fill them with the files' generator weights (1 for the
shipped samples), so ``h.values()`` and ``h.variances()`` are what a coffea analysis expects.
"""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np

from hepgen.metrics.detector import RESPONSE_BINS
from hepgen.physics.clustering import delta_r
from hepgen.physics.coordinates import pad
from hepgen.physics.substructure import momentum_flows

# Ranges cover boosted jets up to ~3 TeV (CMS PFNano's leading jets reach 1.4+ TeV); anything
# beyond lands in the overflow bin, which the main job's table counts and reports.
JET_AXES = {
    "jet_pt": (r"Jet $p_T$ [GeV]", 75, 200.0, 3200.0),
    "jet_mass": (r"Jet mass [GeV]", 80, 0.0, 400.0),
    "jet_eta": (r"Jet $\eta$", 50, -2.5, 2.5),
    "jet_phi": (r"Jet $\phi$", 50, -np.pi, np.pi),
    "jet_E": (r"Jet energy [GeV]", 75, 0.0, 6000.0),
    "jet_n_constituents": ("Number of constituents", 75, 0.0, 150.0),
    "jet_flow1": (r"Flow$_1$", 50, 0.0, 1.0),
    "jet_flow2": (r"Flow$_2$", 50, 0.0, 1.0),
    "jet_flow3": (r"Flow$_3$", 50, 0.0, 1.0),
    "jet_flow4": (r"Flow$_4$", 50, 0.0, 1.0),
}
DIJET_AXES = {
    "mjj": (r"$m_{jj}$ [GeV]", 70, 0.0, 7000.0),
    "deta_jj": (r"$|\Delta\eta_{jj}|$", 50, 0.0, 5.0),
    "pt_lead": (r"Leading jet $p_T$ [GeV]", 75, 200.0, 3200.0),
    "pt_sublead": (r"Subleading jet $p_T$ [GeV]", 75, 200.0, 3200.0),
}
SOURCES = ("gen", "hepgen", "delphes")  # CMS PFNano adds "reco_pf" (growth axis)


def book() -> dict[str, hist.Hist]:
    """A fresh set of empty histograms (one per observable, and the jet responses)."""
    out = {}
    for q, label in (("pt", r"$p_T^{reco}/p_T^{gen}$"), ("mass", r"$m^{reco}/m^{gen}$")):
        out[f"response_{q}"] = (
            hist.Hist.new.StrCat([], name="dataset", label="Dataset", growth=True)
            .StrCat([], name="source", label="Source", growth=True)
            .IntCat([0, 1], name="half", label="Event-number parity")
            .Var(list(RESPONSE_BINS), name="gen_pt", label=r"gen jet $p_T$ [GeV]")
            .Reg(400, 0.0, 2.0, name=f"response_{q}", label=label)
            .Weight()
        )
    # the jet direction: ΔR between each gen jet and its matched reco jet (within R/2)
    out["response_dr"] = (
        hist.Hist.new.StrCat([], name="dataset", label="Dataset", growth=True)
        .StrCat([], name="source", label="Source", growth=True)
        .IntCat([0, 1], name="half", label="Event-number parity")
        .Var(list(RESPONSE_BINS), name="gen_pt", label=r"gen jet $p_T$ [GeV]")
        .Reg(1000, 0.0, 1.0, name="response_dr", label=r"$\Delta R$(reco jet, gen jet)")
        .Weight()
    )
    for name, (label, n, lo, hi) in {**JET_AXES, **DIJET_AXES}.items():  # noqa: B007
        out[name] = (
            hist.Hist.new.StrCat([], name="dataset", label="Dataset", growth=True)
            .StrCat(list(SOURCES), name="source", label="Source", growth=True)
            .IntCat([0, 1], name="half", label="Event-number parity")
            .Reg(n, lo, hi, name=name, label=label)
            .Weight()
        )
    return out


def jet_observables(jets: ak.Array, R: float, k_flow: int = 200) -> dict[str, ak.Array]:
    """Per-jet observables (events × var) of clustered jets (records of ``cluster``)."""
    counts = ak.num(jets)
    flat = ak.flatten(jets)
    c = flat.constituents
    c = c[ak.argsort(np.hypot(c.px, c.py), axis=-1, ascending=False)]
    dense = pad(c, k_flow)
    jet = np.stack([ak.to_numpy(flat[f]) for f in ("pt", "eta", "phi")], axis=-1)
    flows = momentum_flows(dense, R, jet) if len(dense) else np.zeros((0, 4))
    obs = {f"jet_{f}": flat[f] for f in ("pt", "mass", "eta", "phi", "E", "n_constituents")}
    obs.update({f"jet_flow{i + 1}": flows[:, i] for i in range(4)})
    return {
        k: ak.unflatten(np.asarray(ak.to_numpy(v), dtype=np.float64), counts)
        for k, v in obs.items()
    }


def match_to_gen(gen_jets: ak.Array, reco_jets: ak.Array, R: float, max_eta: float = 2.5) -> dict[str, np.ndarray]:
    """Every gen jet in the response bins (pT in ``RESPONSE_BINS``, |η| < ``max_eta``), flattened
    over the events in order, with its nearest reco jet of the same event if ΔR < R/2.

    Returns float64 arrays ``gen_pt``, ``gen_mass``, ``reco_pt``, ``reco_mass``, ``dr`` (their
    ΔR; NaN where no reco jet is that close), the bool ``matched`` and ``event`` (each gen jet's
    event index). The gen
    jets and their order depend on ``gen_jets`` only, so two sources' results line up row by row
    (a paired comparison: ``scripts/processor_response_paired.py``).
    """
    g = gen_jets[
        (gen_jets.pt >= RESPONSE_BINS[0]) & (gen_jets.pt < RESPONSE_BINS[-1]) & (np.abs(gen_jets.eta) < max_eta)
    ]
    pairs = ak.cartesian({"g": g, "r": reco_jets}, axis=1, nested=True)
    dr = delta_r(pairs.g.eta, pairs.g.phi, pairs.r.eta, pairs.r.phi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    dr_best = ak.flatten(dr[best], axis=2)
    r_best = ak.flatten(pairs.r[best], axis=2)
    ok = ak.to_numpy(ak.flatten(ak.fill_none(dr_best < R / 2, False))).astype(bool)
    event = np.repeat(np.arange(len(g)), ak.to_numpy(ak.num(g)))
    gp, gm = (ak.to_numpy(ak.flatten(x)).astype(np.float64) for x in (g.pt, g.mass))
    rp, rm = (
        ak.to_numpy(ak.fill_none(ak.flatten(x), np.nan)).astype(np.float64) for x in (r_best.pt, r_best.mass)
    )
    d = ak.to_numpy(ak.fill_none(ak.flatten(dr_best), np.nan)).astype(np.float64)
    rp, rm, d = (np.where(ok, x, np.nan) for x in (rp, rm, d))
    return {"gen_pt": gp, "gen_mass": gm, "reco_pt": rp, "reco_mass": rm, "dr": d, "matched": ok, "event": event}


def fill_response(
    hists: dict[str, hist.Hist],
    source: str,
    gen_jets: ak.Array,
    reco_jets: ak.Array,
    half: np.ndarray,
    R: float,
    max_eta: float = 2.5,
    dataset: str = "sample",
    weight: np.ndarray | None = None,
) -> dict[str, int]:
    """Pair every gen jet (|η| < ``max_eta``, pT in the response bins) with its nearest reco jet
    within ΔR < R/2 (:func:`match_to_gen`) and fill pT and mass responses and their ΔR (the jet
    direction), each pair with its event's ``weight`` (default 1). Returns matched / unmatched
    counts (of jets, not weighted)."""
    m = match_to_gen(gen_jets, reco_jets, R, max_eta)
    ok = m["matched"]
    gp, gm, rp, rm = (m[k][ok] for k in ("gen_pt", "gen_mass", "reco_pt", "reco_mass"))
    h = np.asarray(half)[m["event"][ok]]
    w = np.ones(len(h)) if weight is None else np.asarray(weight, np.float64)[m["event"][ok]]
    hists["response_pt"].fill(dataset=dataset, source=source, half=h, gen_pt=gp, response_pt=rp / gp, weight=w)
    hists["response_dr"].fill(dataset=dataset, source=source, half=h, gen_pt=gp, response_dr=m["dr"][ok], weight=w)
    m_ok = gm > 0
    hists["response_mass"].fill(
        dataset=dataset, source=source, half=h[m_ok], gen_pt=gp[m_ok], response_mass=rm[m_ok] / gm[m_ok],
        weight=w[m_ok],
    )
    n_gen = len(ok)
    return {"gen jets in response bins": n_gen, "matched": int(ok.sum()), "unmatched": n_gen - int(ok.sum())}


def hist_quantiles(counts: np.ndarray, edges: np.ndarray, qs=(0.25, 0.5, 0.75)) -> np.ndarray:
    """Quantiles of binned data (linear interpolation within bins); NaN when empty. Bins of
    negative weight (negative generator weights) count as empty."""
    c = np.cumsum(np.clip(np.asarray(counts, float), 0.0, None))
    if c[-1] <= 0:
        return np.full(len(qs), np.nan)
    return np.interp(np.asarray(qs) * c[-1], np.r_[0.0, c], edges)


def fill(
    hists: dict[str, hist.Hist],
    source: str,
    jets: ak.Array,
    half: np.ndarray,
    R: float,
    dataset: str = "sample",
    weight: np.ndarray | None = None,
) -> dict[str, int]:
    """Fill every histogram for ``source`` of ``dataset`` from selected jets (events × var,
    pT-sorted), each jet and dijet with its event's ``weight`` (default 1).

    Returns the event counts by jet multiplicity (0, 1, ≥2) for the cutflow (not weighted).
    """
    obs = jet_observables(jets, R)
    n = ak.num(jets)
    counts = ak.to_numpy(n)
    half_j = np.repeat(np.asarray(half), counts)
    w = np.ones(len(counts)) if weight is None else np.asarray(weight, np.float64)
    w_j = np.repeat(w, counts)
    for name, values in obs.items():
        hists[name].fill(
            dataset=dataset, source=source, half=half_j,
            **{name: ak.to_numpy(ak.flatten(values))}, weight=w_j,
        )
    two = jets[n >= 2]
    if len(two):
        j1, j2 = two[:, 0], two[:, 1]
        px, py, pz, E = (j1[f] + j2[f] for f in ("px", "py", "pz", "E"))
        mjj = np.sqrt(np.maximum(E**2 - px**2 - py**2 - pz**2, 0))
        h2 = half[counts >= 2]
        for name, v in (
            ("mjj", mjj),
            ("deta_jj", np.abs(j1.eta - j2.eta)),
            ("pt_lead", j1.pt),
            ("pt_sublead", j2.pt),
        ):
            hists[name].fill(dataset=dataset, source=source, half=h2, **{name: ak.to_numpy(v)}, weight=w[counts >= 2])
    return {
        "events": int(len(counts)),
        "0 jets": int((counts == 0).sum()),
        "1 jet": int((counts == 1).sum()),
        ">=2 jets": int((counts >= 2).sum()),
        "jets": int(counts.sum()),
    }
