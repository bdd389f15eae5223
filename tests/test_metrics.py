"""Metrics against known answers: identical samples give 0 (or the floor), shifted Gaussians
give the analytic W1, and the JetNet metrics order a shifted sample after an identical one."""

from __future__ import annotations

import numpy as np
import pytest

from hepgen.metrics import detector, floor, jetnet
from hepgen.metrics.distances import emd_sum, kld_symmetric, w1, w1_hist


def test_w1_analytic_and_identity():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 200_000)
    assert w1(a, a) == 0
    assert w1(a, a + 0.5) == pytest.approx(0.5, abs=1e-9)
    b = rng.normal(0.3, 1, 200_000)
    assert w1(a, b) == pytest.approx(0.3, abs=0.01)
    # histogram W1 converges to the same for fine bins
    assert w1_hist(a / 10 + 0.5, b / 10 + 0.5, bins=1000) == pytest.approx(0.03, abs=0.002)


def test_kld_symmetric():
    rng = np.random.default_rng(1)
    a = rng.normal(0, 1, 100_000)
    assert kld_symmetric(a, a) == pytest.approx(0.0, abs=1e-12)
    # two unit Gaussians 0.5 apart: symmetric KL = Δ² = 0.25 (binned estimate)
    assert kld_symmetric(a, rng.normal(0.5, 1, 100_000)) == pytest.approx(0.25, rel=0.15)


def test_emd_sum():
    rng = np.random.default_rng(2)
    feats = {f: rng.normal(0, 1, 50_000) for f in ("mass", "E", "pt", "eta", "phi")}
    assert emd_sum(feats, feats) == 0
    shifted = {f: v + 0.1 * (np.max(feats[f]) - np.min(feats[f])) for f, v in feats.items()}
    assert emd_sum(feats, shifted) == pytest.approx(0.5, abs=0.02)  # 0.1 of the range for each of 5


def test_jetnet_metrics_order_and_analytic_shift(gaussian_jets):
    real, same, shifted = (
        gaussian_jets(2000, 0),
        gaussian_jets(2000, 1),
        gaussian_jets(2000, 2, shift=0.05),
    )
    w_same, _ = jetnet.w1p(real, same, seed=0)
    w_shift, _ = jetnet.w1p(real, shifted, seed=0)
    assert w_shift[0] == pytest.approx(0.05, abs=0.01)  # η_rel shifted by 0.05
    assert w_shift[0] > 5 * w_same[0]
    # W1M against an independent computation: masses of massless particles with `vector`,
    # the 1-d W1 with scipy, on the full samples (hepgen bootstraps batches of them)
    import vector
    from scipy.stats import wasserstein_distance

    def masses(x):
        p = vector.array({"pt": x[..., 2], "eta": x[..., 0], "phi": x[..., 1], "mass": 0 * x[..., 2]})
        e, px, py, pz = (np.asarray(getattr(p, f)).sum(1) for f in ("E", "px", "py", "pz"))
        return np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0))

    wide = gaussian_jets(2000, 5, width=0.13)
    expected = wasserstein_distance(masses(real), masses(wide))
    got, std = jetnet.w1m(real, wide, seed=0, n_samples=2000, n_batches=3)
    # bootstrap batches (with replacement) scatter around the full-sample value
    assert expected > 0.01 and abs(got - expected) <= 4 * std + 0.02 * expected
    e_same, _ = jetnet.w1efp(real[:300], same[:300], seed=0)
    assert np.all(np.isfinite(e_same)) and e_same.shape == (5,)
    # EFPs depend on angles between particles only, so compare a wider (not a shifted) sample
    wide = gaussian_jets(2000, 4, width=0.2)
    f_real, f_same, f_shift = (jetnet.fpd_kpd_features(x[:600]) for x in (real, same, wide))
    assert f_real.shape == (600, 36)
    fpd_same = jetnet.fpd(f_real, f_same, seed=0, n_batches=4, n_points=3)[0]
    fpd_shift = jetnet.fpd(f_real, f_shift, seed=0, n_batches=4, n_points=3)[0]
    assert fpd_shift > fpd_same
    assert (
        jetnet.kpd(f_real, f_shift, seed=0, n_batches=3)[0]
        > jetnet.kpd(f_real, f_same, seed=0, n_batches=3)[0]
    )
    cov_same, mmd_same = jetnet.cov_mmd(real, same, seed=0, n_samples=30, n_batches=2)
    cov_shift, mmd_shift = jetnet.cov_mmd(
        real, gaussian_jets(2000, 3, shift=0.3), seed=0, n_samples=30, n_batches=2
    )
    assert mmd_shift > mmd_same and 0 < cov_same <= 1
    # explicit seeds make every metric reproducible
    assert jetnet.w1p(real, same, seed=5)[0].tolist() == jetnet.w1p(real, same, seed=5)[0].tolist()


def test_floor_ratio_near_one_for_an_independent_sample_and_large_for_a_shifted_one():
    """Model aligned with the real jets (same events): a model drawn independently from the
    real distribution scores ~1× the floor; a model shifted by 0.3σ scores far above it."""
    rng = np.random.default_rng(0)
    n = 20_000
    real = rng.normal(0, 1, n)
    keys = np.repeat(np.arange(n // 2), 2)
    models = {"same": rng.normal(0, 1, n), "shifted": rng.normal(0.3, 1, n)}
    ratios = {}
    for name, model in models.items():

        def metric(a, b, side, model=model):
            return {"w1": w1(real[a], (real if side == "real" else model)[b])}

        res = floor.with_floor(metric, keys, model_aligned=True, n_splits=5, seed=0)
        ratios[name] = res["w1"]["ratio"]
        assert res["w1"]["floor"] > 0
    assert 0.6 < ratios["same"] < 1.6
    assert ratios["shifted"] > 5


def test_with_floor_gives_each_split_fresh_model_jets_when_the_sample_holds_enough():
    """Generation mode: a model sample n_splits times the real size is cut into disjoint blocks
    (one per split); a smaller one is drawn from at random, every split the real half's size."""
    keys = np.arange(1000)
    for n_model, disjoint in ((3000, True), (700, False)):
        seen = []

        def metric(a, b, side, seen=seen):
            if side == "model":
                seen.append(np.asarray(b))
            return {"x": 1.0}

        floor.with_floor(metric, keys, model_aligned=False, n_model=n_model, n_splits=3, seed=0)
        assert len(seen) == 3 and all(len(b) == 500 and b.max() < n_model for b in seen)
        union = np.unique(np.concatenate(seen))
        assert (len(union) == 1500) is disjoint


def test_detector_observables_and_response(expected_ww):
    from hepgen.io import h5
    pairs = h5.read(expected_ww)
    obs = detector.observables(pairs.reco.constituents, R=0.5)
    assert set(detector.FEATURES) <= set(obs)
    assert np.all(obs["pt"] > 200) and np.all(np.abs(obs["eta"]) < 2.5)
    fid = detector.fidelity(obs, obs)
    assert all(v["w1"] == 0 and v["kld"] == pytest.approx(0, abs=1e-12) for v in fid.values())
    r = detector.response(
        pairs.gen.jet[:, 0],
        pairs.gen.jet[:, 3],
        pairs.gen.jet[:, 0],
        pairs.gen.jet[:, 3],
        np.array([0, 1000.0]),
    )
    assert r["pt_median"][0] == 1.0 and r["pt_iqr"][0] == 0.0


def test_response_median_bootstrap_error_matches_the_asymptotic_formula():
    """σ(median) of n normal draws is √(π/2)·σ/√n; the bootstrap error must reproduce it and
    shrink with the bin's population."""
    rng = np.random.default_rng(1)
    gen_pt = np.concatenate([rng.uniform(200, 300, 4000), rng.uniform(300, 400, 400)])
    gen_m = np.full_like(gen_pt, 80.0)
    reco_pt = gen_pt * rng.normal(1.0, 0.1, len(gen_pt))
    r = detector.response(gen_pt, gen_m, reco_pt, gen_m, np.array([200.0, 300, 400]), n_boot=400)
    for b, n in enumerate((4000, 400)):
        expected = np.sqrt(np.pi / 2) * 0.1 / np.sqrt(n)
        assert r["pt_median_err"][b] == pytest.approx(expected, rel=0.25)
    assert r["mass_median_err"] == [0.0, 0.0]  # reco mass = gen mass: no spread
    # the IQR of a normal sample: σ(IQR) ≈ 1.57·σ/√n (asymptotic), within the bootstrap's noise
    for b, n in enumerate((4000, 400)):
        assert r["pt_iqr_err"][b] == pytest.approx(1.57 * 0.1 / np.sqrt(n), rel=0.3)
    assert "pt_median_err" not in detector.response(gen_pt, gen_m, reco_pt, gen_m, np.array([200.0, 400]))


def test_direction_measures_a_known_smearing():
    """Reco axes smeared by Gaussians of known width in η and φ: the IQRs are 1.349 σ, the
    fraction beyond R/2 that of a Rayleigh tail, φ wrapped across ±π; draws (D, N) pool, NaN
    (no reco jet) is left out."""
    rng = np.random.default_rng(0)
    n = 40_000
    gen_pt = rng.uniform(200, 600, n)
    gen_eta, gen_phi = rng.uniform(-2, 2, n), np.full(n, np.pi - 0.01)  # φ next to the wrap
    s_eta, s_phi = 0.03, 0.1
    eta = gen_eta + rng.normal(0, s_eta, (2, n))
    phi = (gen_phi + rng.normal(0, s_phi, (2, n)) + np.pi) % (2 * np.pi) - np.pi
    eta[1, :100] = np.nan
    d = detector.direction(gen_pt, gen_eta, gen_phi, eta, phi, np.array([200.0, 400.0, 600.0]), R=0.5)
    assert d["n"] == list(np.histogram(gen_pt, [200, 400, 600])[0])
    np.testing.assert_allclose(d["eta_iqr"], 1.349 * s_eta, rtol=0.03)
    np.testing.assert_allclose(d["phi_iqr"], 1.349 * s_phi, rtol=0.03)
    # P(ΔR > 0.25) for independent normals of widths 0.03 and 0.1: ~ P(|Δφ| > 0.25) = 1.2%
    truth = np.mean(np.hypot(rng.normal(0, s_eta, 10**6), rng.normal(0, s_phi, 10**6)) > 0.25)
    np.testing.assert_allclose(d["outside"], truth, rtol=0.2)
    assert all(0 < m < q for m, q in zip(d["dr_median"], d["dr_q90"]))


def test_shifts_measure_a_known_jet_by_jet_change():
    """reco = gen + a per-jet Gaussian change: the median and IQR of reco − gen per bin are the
    change's (1.349 σ), whatever the gen distribution's own width; draws (D, N) pool."""
    rng = np.random.default_rng(1)
    n = 30_000
    gen_pt = rng.uniform(200, 600, n)
    gen = {f: rng.exponential(0.2, n) for f in detector.JET_SHIFTS}  # broad marginals
    reco = {f: gen[f][None] + 0.01 + rng.normal(0, 0.02, (2, n)) for f in detector.JET_SHIFTS}
    out = detector.shifts(gen_pt, gen, reco, np.array([200.0, 400.0, 600.0]))
    assert out["n"] == list(np.histogram(gen_pt, [200, 400, 600])[0])
    for f in detector.JET_SHIFTS:
        np.testing.assert_allclose(out[f"{f}_median"], 0.01, atol=0.001)
        np.testing.assert_allclose(out[f"{f}_iqr"], 1.349 * 0.02, rtol=0.03)
    # a reco that ignores its gen jet (the same marginal, shuffled) has a far wider change
    loose = detector.shifts(gen_pt, gen, {f: rng.permutation(gen[f]) for f in detector.JET_SHIFTS}, np.array([200.0, 600.0]))
    assert loose["flow1_iqr"][0] > 5 * out["flow1_iqr"][0]


def test_response_pools_draws_and_bootstraps_gen_jets():
    """(D, N) reco arrays: D simulations of the same N gen jets, pooled. Independent draws shrink
    the median's error by √D; a part shared by a jet's draws does not shrink, because the
    bootstrap resamples gen jets with all their draws."""
    rng = np.random.default_rng(2)
    n, d = 2000, 4
    gen_pt = rng.uniform(200, 300, n)
    gen_m = np.full(n, 80.0)
    bins = np.array([200.0, 300.0])
    one = detector.response(gen_pt, gen_m, gen_pt * rng.normal(1.0, 0.1, n), gen_m, bins, n_boot=400)
    fresh = gen_pt * rng.normal(1.0, 0.1, (d, n))  # every draw independent
    pooled = detector.response(gen_pt, gen_m, fresh, np.tile(gen_m, (d, 1)), bins, n_boot=400)
    assert pooled["n"] == [n] and pooled["pt_iqr"][0] == pytest.approx(1.349 * 0.1, rel=0.05)
    assert pooled["pt_median_err"][0] == pytest.approx(one["pt_median_err"][0] / np.sqrt(d), rel=0.3)
    shared = np.tile(gen_pt * rng.normal(1.0, 0.1, n), (d, 1))  # the draws agree: no new information
    same = detector.response(gen_pt, gen_m, shared, np.tile(gen_m, (d, 1)), bins, n_boot=400)
    assert same["pt_median_err"][0] == pytest.approx(one["pt_median_err"][0], rel=0.3)
    # one draw given as (1, N) is the 1-D call, bootstrap included
    r1 = detector.response(gen_pt, gen_m, fresh[0], gen_m, bins, n_boot=50, seed=3)
    assert detector.response(gen_pt, gen_m, fresh[:1], gen_m[None], bins, n_boot=50, seed=3) == r1


def test_response_paired_difference_with_a_reference():
    """``reference``: the model − reference median difference with a paired bootstrap. When the
    response varies from gen jet to gen jet (here with the gen mass), both medians follow the
    resampled population, and the paired error is well under the two errors in quadrature; a
    model that is the reference scaled by 1.02 differs by 0.02 with no error at all. The other
    entries, bootstrap errors included, are those of the call without a reference."""
    rng = np.random.default_rng(4)
    n = 3000
    gen_pt, gen_m = rng.uniform(200, 300, n), rng.uniform(5, 150, n)
    law = 1 + 20 / gen_m  # the mass response falls with the gen mass (pile-up on light jets)
    delphes_m = gen_m * law * rng.normal(1, 0.05, n)
    model_m = gen_m * law * rng.normal(1, 0.05, (3, n))  # the same law, independent draws
    bins = np.array([200.0, 300.0])
    ref = (gen_pt, delphes_m)
    a = detector.response(gen_pt, gen_m, np.tile(gen_pt, (3, 1)), model_m, bins, n_boot=300, reference=ref)
    d = detector.response(gen_pt, gen_m, gen_pt, delphes_m, bins, n_boot=300)
    combined = np.hypot(a["mass_median_err"][0], d["mass_median_err"][0])
    assert a["mass_median_diff"][0] == pytest.approx(a["mass_median"][0] - d["mass_median"][0])
    assert a["mass_median_diff_err"][0] < 0.6 * combined
    assert abs(a["mass_median_diff"][0]) < 3 * a["mass_median_diff_err"][0]
    plain = detector.response(gen_pt, gen_m, np.tile(gen_pt, (3, 1)), model_m, bins, n_boot=300)
    assert {k: v for k, v in a.items() if "_diff" not in k and "_ratio" not in k} == plain
    assert a["mass_iqr_ratio"][0] == pytest.approx(a["mass_iqr"][0] / d["mass_iqr"][0])
    assert 0 < a["mass_iqr_ratio_err"][0] < 0.1 and abs(a["mass_iqr_ratio"][0] - 1) < 3 * a["mass_iqr_ratio_err"][0]
    s = detector.response(gen_pt, gen_m, gen_pt, 1.02 * delphes_m, bins, n_boot=100, reference=ref)
    med = np.median(delphes_m / gen_m)
    assert s["mass_median_diff"][0] == pytest.approx(0.02 * med, rel=1e-6)
    assert s["mass_median_diff_err"][0] == pytest.approx(0.02 * s["mass_median_err"][0] / 1.02, rel=1e-6)
    assert s["pt_median_diff"] == [0.0] and s["pt_median_diff_err"] == [0.0]
    assert s["mass_iqr_ratio"][0] == pytest.approx(1.02) and s["mass_iqr_ratio_err"][0] < 1e-9
    assert "mass_median_diff" not in detector.response(gen_pt, gen_m, gen_pt, delphes_m, bins, reference=ref)


def test_response_leaves_out_draws_without_a_reco_jet():
    """A NaN draw (no reco jet, e.g. unmatched after reclustering) is left out of the medians,
    IQRs and bootstrap, the jet's other draws kept: as if the draw had not been made."""
    rng = np.random.default_rng(5)
    n = 500
    gen_pt, gen_m = rng.uniform(200, 300, n), rng.uniform(20, 150, n)
    draws = gen_pt * rng.normal(1.0, 0.1, (2, n))
    lost = draws.copy()
    lost[1, :50] = np.nan  # the second draw of 50 jets found no reco jet
    bins = np.array([200.0, 300.0])
    ref = (gen_pt * rng.normal(1.0, 0.1, n), gen_m)
    r = detector.response(gen_pt, gen_m, lost, np.tile(gen_m, (2, 1)), bins, n_boot=100, reference=ref)
    kept = np.concatenate([draws[0], draws[1, 50:]]) / gen_pt[np.r_[0:n, 50:n]]
    assert r["pt_median"][0] == pytest.approx(np.median(kept))
    assert r["pt_iqr"][0] == pytest.approx(np.subtract(*np.percentile(kept, [75, 25])))
    assert all(np.isfinite(r[k][0]) for k in r if k.startswith("pt_"))
    assert r["n"] == [n]


def test_fpd_of_non_finite_features_is_inf():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 5))
    bad = real.copy()
    bad[0, 0] = np.inf
    assert jetnet.fpd(real, bad, n_batches=2, n_points=3)[0] == float("inf")


def test_w1p_of_a_generator_without_particles_is_nan(gaussian_jets):
    """A generator that emits no particle (an early epoch of a tuning trial) has no W1P; the
    per-epoch validation record must get NaN, not stop the run."""
    real = gaussian_jets(200, 0)
    w, _ = jetnet.w1p(real, np.zeros_like(real), seed=0, n_batches=2)
    assert np.isnan(w).all()
    assert np.isfinite(jetnet.w1p(real, gaussian_jets(200, 1), seed=0)[0]).all()


def test_with_floor_shows_progress_only_when_asked(capsys):
    """Generation metrics take minutes per split at 10⁴ jets: a labelled bar over the splits."""
    keys = np.arange(100)

    def metric(a, b, side):
        return {"x": float(len(b))}

    quiet = floor.with_floor(metric, keys, n_splits=3, seed=0)
    assert "split" not in capsys.readouterr().err
    shown = floor.with_floor(metric, keys, n_splits=3, seed=0, progress="floors")
    err = capsys.readouterr().err
    assert "floors" in err and "3/3" in err
    assert shown == quiet
