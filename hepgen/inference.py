"""Batched inference on any hepgen checkpoint: lazy loading, device choice, picklable.

Follows coffea's ``torch_wrapper`` pattern: the model loads on first use on the worker and is
dropped when the runner is pickled. What a worker needs travels with the pickled runner: the
checkpoint's bytes and their SHA-256 (a shipped checkpoint travels by name and hash and is
resolved from the worker's installed hepgen) — never a driver-side path, which a worker on
another machine or in another folder does not have. The worker verifies the hash before
loading (``weights_only=True``). Inputs and outputs are physical (GeV) float32 tables; normalisation,
batching, noise and device transfers happen here, under ``torch.inference_mode``.

coffea unpickles the processor — and so the runner — afresh for every chunk (its
``processor_compression``), so runners that arrive by pickle share their loaded models within a
process, keyed by the checkpoint's hash, its (inference) config and the device
(:data:`MODEL_CACHE_SIZE` at most; :func:`clear_model_cache`): a worker loads each model once,
not once per chunk (0.07–0.25 s each, about a 50-event chunk's simulation). Such copies only
read their model (``eval``, inference mode); a runner made directly keeps a model of its own,
which its user may change without touching any other.

This module imports only the model layer (registry, checkpoint format, device, keyed noise)
and the post-processing of :mod:`hepgen.data.postprocess` — never the training stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hepgen.data.normalise import Normalisation
from hepgen.data.postprocess import to_cartesian
from hepgen.errors import HepgenInputError
from hepgen.models import checkpoint, registry
from hepgen.models.device import pick_device
from hepgen.models.noise import jet_keys, keyed_normal, keyed_uniform
from hepgen.physics.cuts import apply_constituent_acceptance
from hepgen.physics.kinematics import jet_features

__all__ = ["Runner", "check_finite", "clear_model_cache"]

MODEL_CACHE_SIZE = 4
"""Loaded models kept per process (the oldest dropped first)."""

TAIL_STREAM = 1000
"""Keyed-noise stream of the soft tail (:meth:`Runner.simulate` with ``tail``): apart from the
model's own (100 + i)."""

_MODELS: dict[tuple[str, str, str, str], torch.nn.Module] = {}


def clear_model_cache() -> None:
    """Forget the models loaded in this process (the next use of a runner loads its own again)."""
    _MODELS.clear()


def check_finite(table: np.ndarray, what: str, events: np.ndarray | None = None) -> None:
    """Refuse jets (rows of ``table``) with NaN or inf momenta, naming the count and the first
    (and its event, when ``events`` gives each row's event number)."""
    bad = ~np.isfinite(table).all(axis=tuple(range(1, table.ndim)))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        event = f" (event {int(events[first])})" if events is not None else ""
        raise HepgenInputError(
            f"{what}: {int(bad.sum())} jet(s) with non-finite momenta (NaN or inf), the first is "
            f"jet {first}{event}"
        )


def _with_settings(path: str, name: str, config: dict, settings: Mapping[str, object]) -> dict:
    """``config`` with the inference-only ``settings`` of a fast-sim v2 checkpoint, checked."""
    from hepgen.models.fastsim_fm import INFERENCE_FIELDS, FSFMConfig

    if name != "fastsim_fm":
        raise HepgenInputError(f"{path}: settings apply to fastsim_fm checkpoints, not {name}")
    unknown = sorted(set(settings) - set(INFERENCE_FIELDS))
    if unknown:
        raise HepgenInputError(f"settings {unknown}: not inference settings (those are {', '.join(INFERENCE_FIELDS)})")
    defaults = FSFMConfig()
    for key, value in settings.items():
        want = type(getattr(defaults, key))
        if not (type(value) is want or (want is float and type(value) is int)):
            raise HepgenInputError(f"setting {key}={value!r}: a {want.__name__} expected")
    config = {**config, **settings}
    try:
        FSFMConfig.from_dict(config)
    except (TypeError, ValueError) as exc:
        raise HepgenInputError(f"settings {dict(settings)}: {exc}") from exc
    return config


class Runner:
    """A checkpoint ready to run: ``simulate`` (fast-sim models) or ``sample`` (generators).

    Args:
        path: a checkpoint file, or the name of a shipped checkpoint (``hepgen.shipped``).
        device: ``'auto'`` / None (CUDA when present), ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        batch_size: jets per model call (default: for the fast-sim flow-matching model 2048 on
            the CPU — the model integrates its particles in cache-sized groups of 128 jets of
            similar multiplicity itself, and its jet-response flows cost less per jet in larger
            calls: 13% faster than 512 on a 2-core CPU, ``benchmarks/fastsim.py`` — and 10 000 on
            CUDA, where 512 leaves the GPU launch-bound (H200: 85 vs 14 µs/jet, RESULTS.md §2
            "GPU"); 4096 for the others).
        steps: ODE steps of flow-matching models (None: the checkpoint's default).
        settings: inference-only settings of a fast-sim v2 checkpoint to change
            (:data:`~hepgen.models.fastsim_fm.INFERENCE_FIELDS`), e.g. ``{"candidates": 4,
            "project_mass": False}``: four flow-matching starts per jet, the one nearest the
            sampled jet mass kept, and no mass projection (4× the ODE's cost, for the
            substructure; RESULTS.md §2).

    Example::

        >>> import hepgen
        >>> runner = hepgen.load("fastsim_ww_pu50")
        >>> reco = runner.simulate(gen_constituents, seed=1)   # (N, k, 3) GeV
    """

    def __init__(
        self,
        path: str | os.PathLike,
        device: str | None = None,
        batch_size: int | None = None,
        steps: int | None = None,
        settings: Mapping[str, object] | None = None,
    ) -> None:
        from hepgen.shipped import checkpoint as shipped_checkpoint
        from hepgen.shipped import checkpoints, resolve_checkpoint

        if batch_size is not None and batch_size < 1:
            raise HepgenInputError(f"batch size must be ≥ 1, got {batch_size}")
        resolved = resolve_checkpoint(path)
        self.path = os.fspath(resolved)
        self.device_name = device or "auto"
        pick_device(self.device_name)  # fail now, not on a worker
        self._batch_size = batch_size
        self.steps = steps
        blob = resolved.read_bytes()
        self.sha256 = hashlib.sha256(blob).hexdigest()
        # a shipped checkpoint travels by name (+ hash); any other by its bytes
        shipped_name = resolved.stem if resolved.stem in checkpoints() else None
        if shipped_name and not os.path.samefile(shipped_checkpoint(shipped_name), resolved):
            shipped_name = None  # a user's file that happens to share a shipped name
        self.shipped_name: str | None = shipped_name
        self._blob: bytes | None = None if shipped_name else blob
        ckpt = checkpoint.load(self.path, data=blob)
        self.name: str = ckpt["model"]
        self.kind: str = registry.kind(self.name)
        self.config: dict = ckpt["config"]
        if settings:
            self.config = _with_settings(self.path, self.name, self.config, settings)
        self.dataset: dict = ckpt["dataset"]
        self.training: dict = ckpt.get("training", {})
        self.norms = {k: Normalisation.from_dict(v) for k, v in ckpt["normalisation"].items()}
        self.coordinates: str = ckpt.get("coordinates", "cartesian")
        self.jet_axes: torch.Tensor | None = ckpt.get("jet_axes")
        # inference-only post-processing stored beside the weights (e.g. {"min_pt": 0.26})
        self.postprocess: dict = dict(ckpt.get("postprocess", {}))
        unknown = sorted(set(self.postprocess) - {"min_pt"})
        if unknown:
            raise HepgenInputError(f"{self.path}: unknown post-processing settings {unknown}")
        if self.postprocess.get("min_pt") and self.coordinates != "jet_polar":
            raise HepgenInputError(f"{self.path}: min_pt applies to jet_polar models only")
        # the soft tail beyond the leading k (hepgen.models.tail), fitted into some fast-sims
        self.tail_config: dict | None = (ckpt.get("tail") or {}).get("config")
        self._model: torch.nn.Module | None = None
        self._shared = False  # True in a pickled copy: it takes the process's loaded model

    @property
    def batch_size(self) -> int:
        """Jets per model call: the one given, else the model's default on this device."""
        if self._batch_size is not None:
            return self._batch_size
        if self.name == "fastsim_fm":
            return 10_000 if self.device.type == "cuda" else 2048
        return 4096

    @property
    def R(self) -> float:
        return float(self.dataset["R"])

    @property
    def gen_domain(self) -> dict | None:
        """The range of gen jets the fast-sim was trained on (:func:`hepgen.data.datasets.
        gen_domain`: ``pt`` [min, max] GeV, ``abs_eta`` max, ``pt_q999``), or None where the
        checkpoint does not record it."""
        return self.dataset.get("gen_domain")

    @property
    def pileup_mu(self) -> float | None:
        """The mean pile-up ⟨μ⟩ of the fast-sim's training sample (its output carries that much
        pile-up whatever the input): recorded by the trainer (``dataset["pileup_mu"]``), else
        stated by its training files' names (checkpoints trained before it was recorded; the
        shipped ones: ``_pu50_``); None where neither says."""
        from hepgen.data.datasets import pileup_from_names

        mu = self.dataset.get("pileup_mu")
        return float(mu) if mu is not None else pileup_from_names(self.dataset.get("files", []))

    def above_trained_pt(self, pt: np.ndarray) -> np.ndarray:
        """Per gen jet: is its pT above the highest the fast-sim was trained on (an
        extrapolation)? All False where the checkpoint records no range. (Below the lowest is the
        processor's threshold warning; beyond the trained |η| are the forward jets of every event,
        which no acceptance keeps.)"""
        pt = np.asarray(pt, np.float64)
        d = self.gen_domain
        return np.zeros(pt.shape, bool) if d is None else pt > d["pt"][1]

    @property
    def k(self) -> int:
        return int(self.dataset["k"])

    @property
    def has_tail(self) -> bool:
        """Whether the checkpoint holds a soft tail (:mod:`hepgen.models.tail`): the reco
        constituents beyond the leading :attr:`k`, for whole jets (``simulate(tail=True)``)."""
        return self.tail_config is not None

    def use_tail(self, tail: bool | None) -> bool:
        """Whether to simulate the soft tail beyond the leading :attr:`k`: ``tail``, or (None)
        whether the checkpoint has one (:attr:`has_tail`); asking for it from a checkpoint
        without one is refused. :meth:`simulate`, the fast-sim processor and ``hepgen run``
        decide with it."""
        if tail and not self.has_tail:
            raise HepgenInputError(
                f"{self.path}: no soft tail (the constituents beyond its leading {self.k}); fit one with "
                "hepgen train fastsim-fm --fit-tail CHECKPOINT, or simulate without it (tail=False, hepgen run --no-tail)"
            )
        return self.has_tail if tail is None else bool(tail)

    @property
    def device(self) -> torch.device:
        return pick_device(self.device_name)

    @property
    def needs_pid(self) -> bool:
        """Whether :meth:`simulate` needs the gen particles' PDG ids (a fast-sim whose jet
        response or particle network is conditioned on the particle content:
        ``FSFMConfig.content``, ``FSFMConfig.particle_types``)."""
        return self.kind == "fastsim" and bool(
            self.config.get("content", False) or self.config.get("particle_types", False)
        )

    def _checkpoint_bytes(self) -> bytes:
        """The checkpoint's bytes, from the pickle or the installed package, hash-verified."""
        if self._blob is not None:
            blob = self._blob
        elif self.shipped_name is not None:
            from hepgen.shipped import checkpoint as shipped_checkpoint

            blob = shipped_checkpoint(self.shipped_name).read_bytes()
        else:  # __init__ keeps the bytes of every checkpoint that is not a shipped one
            raise RuntimeError(f"{self.path}: neither the checkpoint's bytes nor a shipped name")
        got = hashlib.sha256(blob).hexdigest()
        if got != self.sha256:
            raise HepgenInputError(
                f"{self.path}: checkpoint hash {got[:12]}… differs from the driver's "
                f"{self.sha256[:12]}… (a different hepgen version on this worker?)"
            )
        return blob

    @property
    def model(self) -> Any:
        """The model (an ``nn.Module`` with its kind's methods: ``simulate`` or ``sample``,
        ``noise_shapes``), loaded on first use — on a coffea worker, not in the driver."""
        if self._model is None and not getattr(self, "_shared", True):
            self._model = self._load()
        if self._model is None:  # a pickled copy (a coffea chunk's): the process's shared model
            key = (self.sha256, self.name, json.dumps(self.config, sort_keys=True, default=repr), str(self.device))
            model = _MODELS.get(key)
            if model is None:
                model = self._load()
                if MODEL_CACHE_SIZE > 0:
                    while len(_MODELS) >= MODEL_CACHE_SIZE:
                        _MODELS.pop(next(iter(_MODELS)))  # the oldest
                    _MODELS[key] = model
            self._model = model
        return self._model

    def _load(self) -> torch.nn.Module:
        """Build the model from the checkpoint's bytes (hash checked) on this runner's device."""
        ckpt = checkpoint.load(self.path, data=self._checkpoint_bytes())
        model = registry.build(self.name, self.config)
        try:
            model.load_state_dict(
                {
                    k: v.float() if v.is_floating_point() else v
                    for k, v in ckpt["state_dict"].items()
                }
            )
        except RuntimeError as exc:
            raise HepgenInputError(
                f"{self.path}: weights do not fit model {self.name!r} ({str(exc).splitlines()[0]})"
            ) from exc
        if "tail" in ckpt:  # loaded, cached and moved with the model it belongs to
            from hepgen.models.tail import SoftTail, SoftTailConfig

            soft_tail = SoftTail(SoftTailConfig.from_dict(ckpt["tail"]["config"]))
            soft_tail.load_state_dict({k: v.float() for k, v in ckpt["tail"]["state_dict"].items()})
            model.soft_tail = soft_tail
        return model.to(self.device).eval()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_model"] = None
        state["_shared"] = True  # an unpickled copy shares the process's loaded model
        return state

    @staticmethod
    def _as_table(table: np.ndarray) -> np.ndarray:
        table = np.asarray(table, dtype=np.float32)
        if table.ndim != 3 or table.shape[-1] != 3:
            raise HepgenInputError(
                f"constituents must have shape (jets, particles, 3) = px, py, pz; got {table.shape}"
            )
        return table

    def _fit_k(
        self, table: np.ndarray, pid: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Each jet's leading ``k`` particles by pT, in that order, zero padded (the tables the
        model was trained on), and their PDG ids. A table in another order is sorted first, so
        that cutting it at ``k`` drops the softest particles, not whichever come last."""
        pt2 = table[..., 0] ** 2 + table[..., 1] ** 2
        if np.any(np.diff(pt2, axis=1) > 0):  # not sorted (sorted tables, the usual, stay as given)
            order = np.argsort(-pt2, axis=1, kind="stable")
            table = np.take_along_axis(table, order[..., None], axis=1)
            if pid is not None:
                pid = np.take_along_axis(pid, order, axis=1)
        n = table.shape[1]
        if n >= self.k:
            return table[:, : self.k], None if pid is None else pid[:, : self.k]
        table = np.concatenate([table, np.zeros((len(table), self.k - n, 3), np.float32)], axis=1)
        return table, None if pid is None else np.pad(pid, ((0, 0), (0, self.k - n)))

    def _noise(self, keys: np.ndarray) -> dict[str, torch.Tensor]:
        out = {}
        for i, (name, (dist, shape)) in enumerate(self.model.noise_shapes().items()):
            x = (
                keyed_uniform(keys, int(np.prod(shape)), stream=100 + i).reshape(len(keys), *shape)
                if dist == "uniform"
                else keyed_normal(keys, shape, stream=100 + i)
            )
            out[name] = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        return out

    def simulate(
        self,
        gen: np.ndarray,
        seed: int = 0,
        keys: np.ndarray | None = None,
        progress: bool = False,
        pid: np.ndarray | None = None,
        tail: bool = False,
    ) -> np.ndarray:
        """Reco-level constituents (N, k, 3) for gen-level constituents (N, any, 3), GeV.

        Args:
            gen: generator-level constituents, zero padded; a row of padding only (no gen
                jet) gives a row of zeros. The model sees each jet's leading ``k`` particles by
                pT (as in training; the rest are dropped), in any input order.
            seed: the noise seed.
            keys: one uint64 key per jet (:func:`hepgen.models.noise.jet_keys`); a jet's noise
                depends only on (seed, key), so results do not depend on batching. Default: the
                row index.
            progress: show a progress bar.
            pid: the gen constituents' PDG ids (N, same particles), 0 for padding: needed by a
                checkpoint conditioned on the particle content (:attr:`needs_pid`), ignored by
                the others.
            tail: also the constituents beyond the leading ``k`` (:attr:`has_tail`; a whole
                jet, as a processor reclusters it): (N, k + m, 3), the leading ``k`` as without
                it (but for a particle at the edge that anti-kt stability of the whole set
                moved, in 0.4–1% of the sets), then up to ``m`` softer ones
                (``SoftTailConfig.max_particles``), zero padded.

        Raises:
            HepgenInputError: a generator checkpoint, a wrong shape, non-finite momenta, a
                content checkpoint without ``pid``, or ``tail`` for a checkpoint without one.

        Warns:
            UserWarning: gen jets harder than any the checkpoint was trained on
                (:attr:`gen_domain`): their output is an extrapolation.
        """
        if self.kind != "fastsim":
            raise HepgenInputError(
                f"{self.path}: model {self.name!r} is a {self.kind}, not a fast-sim (use sample())"
            )
        gen = self._as_table(gen)
        check_finite(gen, "gen constituents")
        pid_t = None
        if self.needs_pid:
            if pid is None:
                raise HepgenInputError(
                    f"{self.path}: its jet response is conditioned on the gen particle content; "
                    "give the gen particles' PDG ids (pid=, shape (jets, particles))"
                )
            pid = np.asarray(pid)
            if pid.shape != gen.shape[:2]:
                raise HepgenInputError(
                    f"pid must have one PDG id per gen constituent, shape {gen.shape[:2]}; got {pid.shape}"
                )
        else:
            pid = None
        tail = self.use_tail(tail)
        gen, pid = self._fit_k(gen, pid)
        if pid is not None:
            pid_t = torch.from_numpy(pid.astype(np.int64))
        out = np.zeros_like(gen)
        if len(gen) == 0:
            m = int(self.tail_config["max_particles"]) if tail and self.tail_config else 0
            return np.zeros((0, self.k + m, 3), np.float32)
        if keys is None:
            keys = jet_keys(seed, 0, np.zeros(len(gen)), np.arange(len(gen)))
        else:
            keys = jet_keys(seed, 0, np.asarray(keys, np.uint64), np.zeros(len(gen)))
        # a row without any gen constituent (padding only) has no jet to simulate: it stays an
        # all-zero row; the others keep their own keys, so their noise does not depend on it
        filled = np.flatnonzero(np.any(gen != 0, axis=(1, 2)))
        self._warn_above_trained_pt(gen[filled])
        device = self.device
        model = self.model
        physical = getattr(model, "physical_io", False)
        extra: dict[str, Any] = {"steps": self.steps} if self.steps is not None and physical else {}
        with torch.inference_mode():
            for i in tqdm(
                range(0, len(filled), self.batch_size), desc="simulate", unit="batch",
                disable=not progress,
            ):
                rows = filled[i : i + self.batch_size]
                x = torch.from_numpy(gen[rows]).to(device)
                noise = self._noise(keys[rows])
                if physical:
                    if pid_t is not None:
                        extra["pid"] = pid_t[rows].to(device)
                    y = model.simulate(x, noise=noise, **extra)
                else:
                    y = self.norms["reco"].inverse(
                        model.simulate(self.norms["gen"].forward(x), noise=noise)
                    )
                out[rows] = y.float().cpu().numpy()
        return self._whole(out, gen, keys) if tail else out

    def _whole(self, reco: np.ndarray, gen: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """(N, k + m, 3) whole sets: each simulated table with the soft tail that follows a full
        one (keyed noise; :func:`~hepgen.models.tail.place_tail`)."""
        from hepgen.models.tail import full_tables, place_tail, tail_context

        soft_tail = self.model.soft_tail
        m = soft_tail.config.max_particles
        res = np.concatenate([reco, np.zeros((len(reco), m, 3), np.float32)], axis=1)
        full = np.flatnonzero(full_tables(reco))
        device = self.device
        with torch.inference_mode():
            for i in range(0, len(full), 8192):
                rows = full[i : i + 8192]
                ctx = tail_context(torch.from_numpy(reco[rows]).to(device), torch.from_numpy(gen[rows]).to(device))
                z = torch.from_numpy(keyed_normal(keys[rows], (2,), stream=TAIL_STREAM)).to(device)
                y = soft_tail.sample(ctx, z).double().cpu().numpy()
                u = keyed_uniform(keys[rows], 3 * m, stream=TAIL_STREAM + 1)
                res[rows] = place_tail(reco[rows], y, u, self.R, m)
        return res

    def _warn_above_trained_pt(self, gen: np.ndarray) -> None:
        """Warn when gen jets (tables of their leading particles) are harder than any the model
        was trained on: its output there is an extrapolation, not a measured response."""
        if self.gen_domain is None or not len(gen):
            return
        above = int(self.above_trained_pt(jet_features(gen.astype(np.float64))[:, 0]).sum())
        if above:
            d = self.gen_domain
            warnings.warn(
                f"{above} of {len(gen)} gen jets lie above the gen pT {os.path.basename(self.path)} was "
                f"trained on (up to {d['pt'][1]:.0f} GeV, 99.9% of its jets below {d['pt_q999']:.0f} GeV): "
                "their reco jets are an extrapolation",
                UserWarning, stacklevel=3,
            )

    def sample(self, n: int, seed: int = 0, progress: bool = False) -> np.ndarray:
        """``n`` generated jets as physical cartesian constituents (n, k, 3), acceptance applied."""
        if self.kind != "generator":
            raise HepgenInputError(
                f"{self.path}: model {self.name!r} is a {self.kind}, not a generator (use simulate())"
            )
        if n < 0:
            raise HepgenInputError(f"the number of jets must be ≥ 0, got {n}")
        device = self.device
        g = torch.Generator(device=device).manual_seed(int(seed))
        g_axes = torch.Generator().manual_seed(int(seed) + 1)
        model = self.model
        physical = getattr(model, "physical_io", False)  # samples physical cartesian tables
        extra = {"steps": self.steps} if self.steps is not None and physical else {}
        parts = []
        with torch.inference_mode():
            for i in tqdm(
                range(0, n, self.batch_size), desc="sample", unit="batch", disable=not progress
            ):
                out = model.sample(min(self.batch_size, n - i), generator=g, **extra)
                if physical:
                    parts.append(apply_constituent_acceptance(out.double().cpu().numpy()))
                else:
                    parts.append(
                        to_cartesian(
                            out, self.norms["table"], self.coordinates, self.jet_axes, g_axes,
                            min_pt=float(self.postprocess.get("min_pt", 0.0)),
                        )
                    )
        return (np.concatenate(parts) if parts else np.zeros((0, self.k, 3))).astype(np.float32)
