from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SHARED = Path(os.environ.get("HEPGEN_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "README.md").exists():
        pytest.skip(f"shared data not found at {SHARED} (set HEPGEN_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def ww_sample() -> Path:
    return DATA / "samples" / "delphes_ww_pu50_highpt_25ev.root"


@pytest.fixture(scope="session")
def ww_events():
    """The shipped 25-event Delphes file in the common particle format (one chunk)."""
    from hepgen.io import iterate_particles

    return next(
        iterate_particles(DATA / "samples" / "delphes_ww_pu50_highpt_25ev.root", step_size=25)
    )
