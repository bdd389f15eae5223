"""A 3-trial Optuna study end to end, resumed, exported, re-trained; and the architecture step."""

from __future__ import annotations

import json

import optuna
import pytest
import torch

from hepgen import shipped
from hepgen.cli import main

EXPECTED = shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")


@pytest.fixture
def storage(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def test_study_runs_resumes_exports_and_retrains(storage, tmp_path):
    common = [
        "tune",
        "convae",
        "--data",
        str(EXPECTED),
        "--storage",
        storage,
        "--study",
        "loss",
        "--epochs",
        "2",
        "--max-train-jets",
        "60",
    ]
    assert main([*common, "--trials", "3"]) == 0
    study = optuna.load_study(study_name="loss", storage=storage)
    assert len(study.trials) == 3
    assert all("seed" in t.user_attrs for t in study.trials)
    # resume: the same storage and name continue the study
    assert (
        main(
            [
                *common,
                "--trials",
                "1",
                "--export",
                str(tmp_path / "best.json"),
                "--plots",
                str(tmp_path / "plots"),
            ]
        )
        == 0
    )
    study = optuna.load_study(study_name="loss", storage=storage)
    assert len(study.trials) == 4
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["objective"] == pytest.approx(study.best_value)
    assert {"alpha", "beta", "gamma", "gamma_pt", "gamma_m"} <= set(best["model"])
    assert 1e-3 <= best["model"]["beta"] <= 1.0
    assert (tmp_path / "plots" / "study_history.png").exists()
    # the exported config is accepted by hepgen train, and with the trial's seed and data reproduces its value
    out = tmp_path / "retrained.pt"
    assert (
        main(
            [
                "train",
                "convae",
                "--preset",
                "cpu",
                "--data",
                str(EXPECTED),
                "--config",
                str(tmp_path / "best.json"),
                "--epochs",
                "2",
                "--batch-size",
                "100",
                "--max-train-jets",
                "60",
                "--seed",
                str(best["seed"]),
                "--patience",
                "2",
                "-o",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["config"]["beta"] == pytest.approx(best["model"]["beta"])
    assert ckpt["training"]["best_metric"] == pytest.approx(best["objective"], rel=1e-6)


def test_architecture_step_uses_best_loss_parameters(storage):
    assert (
        main(
            [
                "tune",
                "convae",
                "--data",
                str(EXPECTED),
                "--storage",
                storage,
                "--study",
                "loss",
                "--trials",
                "2",
                "--epochs",
                "1",
                "--max-train-jets",
                "60",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "tune",
                "convae",
                "--data",
                str(EXPECTED),
                "--storage",
                storage,
                "--study",
                "arch",
                "--step",
                "architecture",
                "--base-study",
                "loss",
                "--trials",
                "2",
                "--epochs",
                "1",
                "--max-train-jets",
                "60",
            ]
        )
        == 0
    )
    loss_best = optuna.load_study(study_name="loss", storage=storage).best_params
    arch = optuna.load_study(study_name="arch", storage=storage)
    for t in arch.trials:
        assert "layers" in t.params and "alpha" not in t.params
        assert t.user_attrs["config"]["model"]["alpha"] == pytest.approx(loss_best["alpha"])


def test_fixed_settings_reach_every_trial_and_the_export(storage, tmp_path, capsys):
    """``--config`` fixes model settings the search leaves alone (here the jet frame): every
    trial trains with them and the exported config carries them, so a retrain matches."""
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({"model": {"frame": "jet", "filters": 4}}))
    common = [
        "--data",
        str(EXPECTED),
        "--storage",
        storage,
        "--epochs",
        "1",
        "--max-train-jets",
        "60",
    ]
    export = tmp_path / "best.json"
    assert (
        main(
            [
                "tune",
                "convae",
                *common,
                "--study",
                "jet",
                "--trials",
                "2",
                "--config",
                str(fixed),
                "--export",
                str(export),
            ]
        )
        == 0
    )
    study = optuna.load_study(study_name="jet", storage=storage)
    for t in study.trials:
        cfg = t.user_attrs["config"]["model"]
        assert cfg["frame"] == "jet" and cfg["filters"] == 4
        assert 0.0 <= cfg["free_bits"] <= 1.0  # searched for the generation-tuned ConVAE
    assert json.loads(export.read_text())["model"]["frame"] == "jet"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": 3}))
    args = ["tune", "convae", *common, "--study", "bad", "--trials", "1", "--config", str(bad)]
    assert main(args) == 2
    assert "'model' must be a JSON object" in capsys.readouterr().err


def test_enqueued_baseline_runs_first_and_only_once(storage, tmp_path, capsys):
    """``--enqueue``: published values run as the next trial (the baseline the search must beat);
    re-running the command does not repeat it."""
    params = {"learning_rate": 5.3e-4, "alpha": 0.425, "beta": 0.046, "gamma": 0.121,
              "gamma_pt": 1.15, "gamma_m": 11.8, "free_bits": 0.0}
    enq = tmp_path / "table5.json"
    enq.write_text(json.dumps(params))
    args = ["tune", "convae", "--data", str(EXPECTED), "--storage", storage, "--epochs", "1",
            "--max-train-jets", "60", "--study", "enq", "--trials", "1", "--enqueue", str(enq)]
    assert main(args) == 0
    assert main(args) == 0
    trials = optuna.load_study(study_name="enq", storage=storage).trials
    assert len(trials) == 2
    assert trials[0].params == pytest.approx(params)
    assert trials[1].params != trials[0].params  # the second run sampled: the baseline ran once
    assert trials[0].user_attrs["config"]["model"]["beta"] == pytest.approx(0.046)
    enq.write_text(json.dumps({"beta": [0.1]}))
    assert main(args) == 2
    assert "--enqueue needs a JSON object" in capsys.readouterr().err


def test_convae_nf_trials_are_compared_on_emd_sum(storage, tmp_path):
    """ConVAE+NF's flow is selected on its latent NLL by default; a study must rank trials on the
    decoded jets' EMD_sum instead (the NLL depends on each trial's VAE)."""
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({"model": {"vae": {"latent": 4, "filters": 4, "linear": 16, "frame": "jet_polar"},
                                           "flow": {"transforms": 2, "hidden": [8]}}}))
    args = ["tune", "convae-nf", "--data", str(EXPECTED), "--storage", storage, "--epochs", "1",
            "--max-train-jets", "60", "--study", "cnf", "--trials", "1", "--config", str(fixed)]
    assert main(args) == 0
    (t,) = optuna.load_study(study_name="cnf", storage=storage).trials
    assert t.user_attrs["config"]["model"]["flow_select"] == "emd_sum"
    assert 0 <= t.value < 5  # an EMD_sum of jet features, not a 4-dim latent NLL
    # the architecture step searches the VAE only: the loss study's flow and settings stay
    arch = ["tune", "convae-nf", "--data", str(EXPECTED), "--storage", storage, "--epochs", "1",
            "--max-train-jets", "60", "--study", "cnf-arch", "--trials", "1",
            "--step", "architecture", "--base-study", "cnf"]
    assert main(arch) == 0
    (a,) = optuna.load_study(study_name="cnf-arch", storage=storage).trials
    model = a.user_attrs["config"]["model"]
    assert model["flow"] == {"transforms": 2, "hidden": [8]} and model["vae"]["frame"] == "jet_polar"
    assert model["vae"]["layers"] == a.params["layers"] and model["flow_select"] == "emd_sum"
