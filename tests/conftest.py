"""Shared fixtures. Shipped files are found through the installed package (``hepgen.shipped``),
so the suite runs the same against an editable or a wheel install."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hepgen import shipped

REPO = Path(__file__).resolve().parents[1]


def _shared_dir() -> Path:
    return Path(os.environ.get("HEPGEN_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared() -> Path:
    d = _shared_dir()
    if not (d / "README.md").exists():
        pytest.skip(f"shared data not found at {d} (set HEPGEN_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def ww_sample() -> Path:
    """The shipped 25-event boosted-WW Delphes file."""
    return shipped.sample("delphes_ww_pu50_highpt_25ev.root")


@pytest.fixture(scope="session")
def pfnano_sample() -> Path:
    """The shipped 10-event CMS PFNanoAOD file (GenCands, PFCands; from coffea's test samples)."""
    return shipped.sample("cms_pfnano_10events.root")


@pytest.fixture(scope="session")
def ww_sample_100() -> Path:
    """The shipped 100-event boosted-WW Delphes file (the main job's)."""
    return shipped.sample("delphes_ww_pu50_highpt_100ev.root")


@pytest.fixture(scope="session")
def expected_ww() -> Path:
    """The 25-event sample through the dataset builder (the shared layout)."""
    return shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")


@pytest.fixture(scope="session")
def expected_gg() -> Path:
    return shipped.sample("delphes_gg_25ev.expected.h5")


@pytest.fixture(scope="session")
def ww_events(ww_sample):
    """The shipped 25-event Delphes file in the common particle format (one chunk)."""
    from hepgen.io import iterate_particles

    return next(iterate_particles(ww_sample, step_size=25))


def _gaussian_jets(n, seed, shift=0.0, k=30, width=0.1):
    """Jets in JetNet relative coordinates (η_rel, φ_rel, pT_rel) with 5 padded particles."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.zeros((n, k, 3))
    x[..., 0] = rng.normal(shift, width, (n, k))
    x[..., 1] = rng.normal(0, width, (n, k))
    p = rng.exponential(1, (n, k))
    x[..., 2] = p / p.sum(1, keepdims=True)
    x[:, k - 5 :] = 0
    return x


@pytest.fixture(scope="session")
def gaussian_jets():
    """A factory of toy jets: ``gaussian_jets(n, seed, shift=0, k=30, width=0.1)``."""
    return _gaussian_jets
