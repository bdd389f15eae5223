"""hepgen's JetNet metrics agree with the reference implementation (the ``jetnet`` package's
``jetnet.evaluation``) on the same jets, within bootstrap noise."""

from __future__ import annotations

import numpy as np
import pytest

from hepgen.metrics import jetnet as hj

je = pytest.importorskip("jetnet.evaluation")


@pytest.fixture(scope="module")
def samples(gaussian_jets):
    return gaussian_jets(4000, 0), gaussian_jets(4000, 1, shift=0.02, width=0.12)


def close(a, sa, b, sb, rel=0.0):
    """|a − b| within 4 combined bootstrap standard deviations (plus ``rel``·|b|)."""
    return abs(a - b) <= 4 * np.hypot(sa, sb) + rel * abs(b)


def test_w1m_w1p_w1efp_match_jetnet(samples):
    real, gen = samples
    kw = {"n_samples": 2000, "n_batches": 5}
    jkw = {"num_eval_samples": 2000, "num_batches": 5}
    a, sa = hj.w1m(real, gen, seed=0, **kw)
    b, sb = je.w1m(real, gen, **jkw)
    assert b > 0 and close(a, sa, b, sb), (a, sa, b, sb)
    a, sa = hj.w1p(real, gen, seed=0, **kw)
    b, sb = je.w1p(real, gen, **jkw)
    for i in range(3):
        assert close(a[i], sa[i], b[i], sb[i]), (i, a, sa, b, sb)
    a, sa = hj.w1efp(real[:2000], gen[:2000], seed=0, n_samples=1000, n_batches=5)
    b, sb = je.w1efp(real[:2000], gen[:2000], num_eval_samples=1000, num_batches=5)
    for i in range(5):
        assert close(a[i], sa[i], b[i], sb[i], rel=0.05), (i, a, sa, b, sb)


def test_fpd_and_features_match_jetnet(samples):
    real, gen = samples
    f_real, f_gen = hj.fpd_kpd_features(real[:3000]), hj.fpd_kpd_features(gen[:3000])
    ref = je.get_fpd_kpd_jet_features(real[:3000])
    np.testing.assert_allclose(f_real, ref, rtol=1e-6, atol=1e-12)
    kw = {"min_samples": 1000, "max_samples": 3000, "n_batches": 10, "n_points": 5}
    a, sa = hj.fpd(f_real, f_gen, seed=42, **kw)
    b, sb = je.fpd(f_real, f_gen, min_samples=1000, max_samples=3000, num_batches=10, num_points=5, seed=42)
    assert b > 0 and close(a, sa, b, sb, rel=0.05), (a, sa, b, sb)


def test_cov_mmd_match_jetnet(samples):
    real, gen = samples
    a_cov, a_mmd = hj.cov_mmd(real, gen, seed=0, n_samples=100, n_batches=10)
    b_cov, b_mmd = je.cov_mmd(real, gen, num_eval_samples=100, num_batches=10, use_tqdm=False)
    assert abs(a_cov - b_cov) < 0.08, (a_cov, b_cov)
    assert abs(a_mmd - b_mmd) < 0.15 * b_mmd, (a_mmd, b_mmd)
