"""``hepgen evaluate`` on the shared test splits: floors printed, figures written."""

from __future__ import annotations

import json

import pytest

from hepgen.cli import main


def test_ww_floors_and_identity_baseline(shared, tmp_path, capsys):
    refs = [str(shared / f"fastsim_ww_pu50_highpt_s11{i}.h5") for i in (1, 3, 4)]
    assert main(["evaluate", "--reference", *refs, "--n-splits", "3", "-o", str(tmp_path / "ev")]) == 0
    printed = capsys.readouterr().out
    assert "floor W1" in printed and "| mass |" in printed
    res = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    ident = res["features"]["gen (identity)"]
    # Delphes smears and adds pile-up: gen jets taken as reco are far from Delphes in mass and multiplicity
    assert ident["mass/w1"]["ratio"] > 3 and ident["n_constituents/w1"]["ratio"] > 10
    assert all((tmp_path / "ev" / f).stat().st_size > 10_000 for f in res["figures"])


@pytest.mark.slow
def test_gluon_floors_full_jetnet_sizes(shared, tmp_path, capsys):
    refs = [str(shared / f"gluon_r08_s20{i}.h5") for i in (1, 2, 3, 5)]
    assert (
        main(["evaluate", "--reference", *refs, "--mode", "generation", "-o", str(tmp_path / "ev")]) == 0
    )
    res = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert res["sample"] is None and res["metrics"]["COV"]["floor"] > 0.4
    assert "W1EFP" in capsys.readouterr().out
