"""Batched inference on any hepgen checkpoint: lazy loading, device choice, picklable.

Follows coffea's ``torch_wrapper`` pattern: the model loads on first use on the worker and is
dropped when the runner is pickled, so processors holding a :class:`Runner` ship cheaply to
Futures or Dask workers. Inputs and outputs are physical (GeV) float32 tables; normalisation,
batching and device transfers happen here, under ``torch.inference_mode``.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from hepgen.data.normalise import Normalisation
from hepgen.models import registry
from hepgen.train import checkpoint
from hepgen.train.loop import pick_device


class Runner:
    """A checkpoint ready to run: ``simulate`` (fast-sim models) or ``sample`` (generators)."""

    def __init__(
        self, path: str | os.PathLike, device: str | None = None, batch_size: int = 4096
    ) -> None:
        self.path = os.fspath(path)
        self.device_name = device or "auto"
        self.batch_size = batch_size
        ckpt = checkpoint.load(self.path)
        self.name: str = ckpt["model"]
        self.kind: str = registry.kind(self.name)
        self.config: dict = ckpt["config"]
        self.dataset: dict = ckpt["dataset"]
        self.training: dict = ckpt.get("training", {})
        self.norms = {k: Normalisation.from_dict(v) for k, v in ckpt["normalisation"].items()}
        self.coordinates: str = ckpt.get("coordinates", "cartesian")
        self.jet_axes: torch.Tensor | None = ckpt.get("jet_axes")
        self._model: torch.nn.Module | None = None

    @property
    def R(self) -> float:
        return float(self.dataset["R"])

    @property
    def k(self) -> int:
        return int(self.dataset["k"])

    @property
    def device(self) -> torch.device:
        return pick_device(self.device_name)

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            ckpt = checkpoint.load(self.path)
            model = registry.build(self.name, ckpt["config"])
            model.load_state_dict(
                {
                    k: v.float() if v.is_floating_point() else v
                    for k, v in ckpt["state_dict"].items()
                }
            )
            self._model = model.to(self.device).eval()
        return self._model

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def _fit_k(self, table: np.ndarray) -> np.ndarray:
        table = np.asarray(table, dtype=np.float32)
        if table.ndim != 3 or table.shape[-1] != 3:
            raise ValueError(f"expected constituents of shape (N, k, 3), got {table.shape}")
        if table.shape[1] >= self.k:
            return table[:, : self.k]
        return np.concatenate(
            [table, np.zeros((len(table), self.k - table.shape[1], 3), np.float32)], axis=1
        )

    def simulate(self, gen: np.ndarray, seed: int = 0) -> np.ndarray:
        """Reco-level constituents (N, k, 3) for gen-level constituents (N, ≥k or <k, 3), GeV.

        z is drawn from q(z | gen) with a generator seeded by ``seed``: the same input and seed
        give the same output on CPU.
        """
        if self.kind != "fastsim":
            raise TypeError(
                f"{self.path}: model {self.name!r} is a {self.kind}, it has no simulate()"
            )
        gen = self._fit_k(gen)
        out = np.empty_like(gen)
        if len(gen) == 0:
            return out
        device = self.device
        g = torch.Generator(device=device).manual_seed(int(seed))
        model = self.model
        with torch.inference_mode():
            for i in range(0, len(gen), self.batch_size):
                x = self.norms["gen"].forward(
                    torch.from_numpy(gen[i : i + self.batch_size]).to(device)
                )
                y = model.simulate(x, generator=g)
                out[i : i + self.batch_size] = self.norms["reco"].inverse(y).float().cpu().numpy()
        return out

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` generated jets as physical cartesian constituents (n, k, 3), acceptance applied."""
        from hepgen.train.generation import to_cartesian

        if self.kind != "generator":
            raise TypeError(
                f"{self.path}: model {self.name!r} is a {self.kind}, it has no sample()"
            )
        if n < 0:
            raise ValueError(f"n must be ≥ 0, got {n}")
        device = self.device
        g = torch.Generator(device=device).manual_seed(int(seed))
        g_axes = torch.Generator().manual_seed(int(seed) + 1)
        model = self.model
        parts = []
        with torch.inference_mode():
            for i in range(0, n, self.batch_size):
                out = model.sample(min(self.batch_size, n - i), generator=g)
                parts.append(
                    to_cartesian(out, self.norms["table"], self.coordinates, self.jet_axes, g_axes)
                )
        return (np.concatenate(parts) if parts else np.zeros((0, self.k, 3))).astype(np.float32)
