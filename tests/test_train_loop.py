"""The shared training loop: a run whose loss turns non-finite stops and says so."""

from __future__ import annotations

import pytest
import torch

from hepgen.errors import HepgenInputError
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


def test_ema_validates_the_average_while_the_raw_weights_train(tmp_path):
    """With ``ema`` the validated (and saved) weights are the exponential moving average of the
    weights after each step, the raw weights keep training, and a resumed run averages on as
    an uninterrupted one does."""
    data = torch.utils.data.TensorDataset(torch.randn(32, 2))

    def run(epochs, seen, validated, resume_path=None):
        torch.manual_seed(0)
        model = torch.nn.Linear(2, 1)

        def loss_fn(m, batch, g):  # sees the weights before each step
            seen.append(m.weight.detach().clone())
            return {"loss": (m(batch[0]) - 3).pow(2).mean()}

        def validate(m):
            validated.append(m.weight.detach().clone())
            return {"valid": float(validated[-1].sum())}

        fit(model, loss_fn, data, validate, "valid",
            TrainConfig(epochs=epochs, batch_size=8, learning_rate=0.1, ema=0.5),
            lambda r: None, progress=False, resume_path=resume_path)
        return model

    seen, validated = [], []
    model = run(2, seen, validated)
    # 4 steps per epoch: the weights after step k are the ones step k + 1 sees
    ema = seen[1]
    for w in seen[2:5]:
        ema = 0.5 * ema + 0.5 * w
    torch.testing.assert_close(validated[0], ema)
    assert not torch.allclose(validated[0], seen[4])  # epoch 2 started from the raw weights
    torch.testing.assert_close(model.weight.detach(), validated[1])  # fit returns the average
    # resumed after one epoch: the same average at the end of the second
    seen2, validated2 = [], []
    run(1, seen2, validated2, str(tmp_path / "last.pt"))
    run(2, seen2, validated2, str(tmp_path / "last.pt"))
    torch.testing.assert_close(validated2[-1], validated[1])
    with pytest.raises(HepgenInputError, match="decay must lie in"):
        fit(torch.nn.Linear(2, 1), lambda m, b, g: {"loss": m(b[0]).sum()}, data, lambda m: {"v": 0.0},
            "v", TrainConfig(epochs=1, ema=1.0), lambda r: None, progress=False)
