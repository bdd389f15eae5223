"""The shared training loop: a run whose loss turns non-finite stops and says so."""

from __future__ import annotations

import pytest
import torch

from hepgen.train.loop import TrainConfig, fit


def test_non_finite_loss_stops_the_run_and_keeps_the_best_epoch():
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    data = torch.utils.data.TensorDataset(torch.randn(32, 2))
    calls = {"n": 0}

    def loss_fn(m, batch, g):  # finite for the first two epochs (4 batches each), then NaN
        calls["n"] += 1
        loss = m(batch[0]).pow(2).mean()
        return {"loss": loss * (float("nan") if calls["n"] > 8 else 1.0)}

    saved = []
    with pytest.warns(RuntimeWarning, match="non-finite training loss in epoch 3"):
        record = fit(
            model,
            loss_fn,
            data,
            lambda m: {"valid": float(m.weight.detach().abs().sum())},
            "valid",
            TrainConfig(epochs=10, batch_size=8, learning_rate=1e-2),
            lambda r: saved.append(r["best_epoch"]),
            progress=False,
        )
    assert len(record["history"]) == 3  # not 10 epochs of NaN
    assert "best checkpoint is epoch" in record["stopped"] and record["best_epoch"] <= 1


def test_resume_with_more_epochs_records_both_settings(tmp_path):
    """A run resumed with other settings (more epochs) continues from its last epoch, and its
    record keeps the settings of each part: the first part's under ``earlier_train_configs``."""
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    data = torch.utils.data.TensorDataset(torch.randn(32, 2))

    def loss_fn(m, batch, g):
        return {"loss": m(batch[0]).pow(2).mean()}

    def run(epochs):
        return fit(
            model, loss_fn, data, lambda m: {"valid": float(m.weight.detach().abs().sum())}, "valid",
            TrainConfig(epochs=epochs, batch_size=8, learning_rate=1e-2, schedule="cosine"),
            lambda r: None, progress=False, resume_path=str(tmp_path / "last.pt"),
        )

    first = run(2)
    assert first["train_config"]["epochs"] == 2 and "earlier_train_configs" not in first
    second = run(4)
    assert [h["epoch"] for h in second["history"]] == [0, 1, 2, 3]
    assert second["train_config"]["epochs"] == 4
    assert second["earlier_train_configs"] == [{"until_epoch": 2, **first["train_config"]}]
