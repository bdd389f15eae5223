"""torch ``Dataset`` s over the HDF5 layout: gen→reco pairs (fast-sim) and single-sided jets
(generation), with seeded splits grouped by event, plus a reader for JetNet ``.hdf5`` files.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence, Sized
from typing import cast

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from hepgen.errors import HepgenInputError
from hepgen.io import h5
from hepgen.io.paths import repeated

SPLITS = ("train", "valid", "test")


def split_indices(
    event_keys: np.ndarray, fractions: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> dict[str, np.ndarray]:
    """Seeded train/valid/test jet indices; jets of one event always land in the same split.

    ``event_keys`` identifies the event of each jet (e.g. source_file · 2^40 + event_number).
    """
    if abs(sum(fractions) - 1) > 1e-6 or len(fractions) != 3:
        raise ValueError(f"split fractions must be three numbers summing to 1, got {fractions}")
    events, inverse = np.unique(event_keys, return_inverse=True)
    perm = np.random.default_rng(seed).permutation(len(events))
    rank = np.empty_like(perm)
    rank[perm] = np.arange(len(events))
    bounds = np.cumsum(np.array(fractions) * len(events))
    which = np.searchsorted(bounds, rank[inverse], side="right")
    return {name: np.flatnonzero(which == i) for i, name in enumerate(SPLITS)}


def fold_indices(event_keys: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Seeded K-fold assignment (B,) in 0…k−1 for cross-validation; the jets of one event share
    a fold, and the folds' event counts differ by at most one.

    Example::

        >>> fold_indices(np.array([7, 7, 3, 5, 3]), 2).tolist()  # events 3, 5, 7
        [0, 0, 1, 0, 1]
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {k}")
    events, inverse = np.unique(event_keys, return_inverse=True)
    if len(events) < k:
        raise ValueError(f"{len(events)} events cannot fill {k} folds")
    perm = np.random.default_rng(seed).permutation(len(events))
    rank = np.empty_like(perm)
    rank[perm] = np.arange(len(events))
    return (rank % k)[inverse.reshape(-1)]


def gen_domain(gen_jet: np.ndarray) -> dict:
    """The range of gen jets a fast-sim was trained on, from its training jets' ``gen/jet`` rows
    (pT, η, ...): the pT range, the largest |η|, the pT below which 99.9% of them lie (above it
    the model saw few jets: the shipped default 89 of 75 000 above 1 TeV) and their number (jets
    repeated to balance processes counted as often as they were trained on).
    Stored in the checkpoint (``dataset["gen_domain"]``) so that :class:`hepgen.inference.Runner`
    can say when it is asked to extrapolate."""
    jets = np.asarray(gen_jet, np.float64)
    pt, eta = jets[:, 0], jets[:, 1]
    if not len(pt):
        raise ValueError("no training jets to take the range from")
    return {
        "pt": [float(pt.min()), float(pt.max())],
        "abs_eta": float(np.abs(eta).max()),
        "pt_q999": float(np.quantile(pt, 0.999)),
        "jets": int(len(pt)),
    }


_PILEUP_TAG = re.compile(r"(?:^|[_.-])pu(\d+)(?=[_.-]|$)", re.IGNORECASE)


def pileup_from_names(files: Sequence[str | os.PathLike]) -> float | None:
    """The pile-up ⟨μ⟩ the training files' names state (the shared sets' tag ``_pu50_``:
    Delphes' CMS pile-up card, Poisson ⟨μ⟩ = 50), when every file states one and all agree;
    else None (a mixture, or unknown)."""
    found = set()
    for f in files:
        m = _PILEUP_TAG.search(os.path.basename(os.fspath(f)))
        if m is None:
            return None
        found.add(int(m.group(1)))
    return float(found.pop()) if len(found) == 1 else None


def _names(paths) -> str:
    """One path or several, as a message names them."""
    return ", ".join(os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths))


def require_jets(train: Dataset, valid: Dataset, paths) -> None:
    """Refuse training on an empty train or validation split (naming the files)."""
    names = _names(paths)
    for name, ds in (("train", train), ("validation", valid)):
        if len(cast(Sized, ds)) == 0:
            raise HepgenInputError(
                f"{names}: no jets in the {name} split after the selection; nothing to train on"
            )


def event_keys(pairs: h5.JetPairs, file_index: int = 0) -> np.ndarray:
    return (
        (np.int64(file_index) << 48)
        + (pairs.source_file.astype(np.int64) << 40)
        + pairs.event_number
    )


def load_pairs(
    paths: Sequence[str | os.PathLike], k: int | None = None, sides: tuple[str, ...] = h5.SIDES
) -> tuple[h5.JetPairs, np.ndarray]:
    """Concatenate several dataset files; returns the pairs and per-jet event keys.

    A file given twice is refused: the keys tell files apart by position, so its events would
    count as other events and could sit on both sides of a split (training and test).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    twice = repeated(paths)
    if twice:
        raise HepgenInputError(
            f"{', '.join(twice)}: given more than once (its events would be counted twice and "
            "could fall on both sides of the train/test split)"
        )
    parts = [h5.read(p, sides=sides, k=k) for p in paths]
    keys = np.concatenate([event_keys(p, i) for i, p in enumerate(parts)])

    pairs = h5.JetPairs.concatenate(parts)
    return pairs, keys


class JetPairDataset(Dataset):
    """gen → reco jet pairs for fast simulation: items are (gen (k, 3), reco (k, 3)) float32.

    ``reco_min_pt`` restricts to the training phase space (seed 001 §5: reco pT > 130 GeV);
    ``gen_min_pt`` selects on the generator-level jet instead (what a processor feeds a model).
    """

    def __init__(
        self,
        paths,
        split: str = "train",
        k: int | None = None,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
        reco_min_pt: float | None = None,
        exclude_events: np.ndarray | None = None,
        gen_min_pt: float | None = None,
    ) -> None:
        if split not in SPLITS + ("all",):
            raise ValueError(f"split must be one of {SPLITS + ('all',)}, got {split!r}")
        pairs, keys = load_pairs(paths, k=k)
        idx = (
            np.arange(len(pairs)) if split == "all" else split_indices(keys, fractions, seed)[split]
        )
        where = _names(paths)
        gen, reco = pairs.side("gen", where), pairs.side("reco", where)
        if exclude_events is not None:  # e.g. hold out the events of a demo sample
            idx = idx[~np.isin(pairs.event_number[idx], exclude_events)]
        if reco_min_pt is not None:
            idx = idx[reco.jet[idx, 0] > reco_min_pt]
        if gen_min_pt is not None:  # select on the model's condition (the gen jet), not its output
            idx = idx[gen.jet[idx, 0] > gen_min_pt]
        self.index = idx
        self.gen = torch.from_numpy(gen.constituents[idx])
        self.reco = torch.from_numpy(reco.constituents[idx])
        # the gen particles' PDG ids (0: padding), for models conditioned on the particle content
        self.gen_pid = torch.from_numpy(gen.pid[idx].astype(np.int64))
        self.gen_jet = gen.jet[idx]
        self.reco_jet = reco.jet[idx]
        self.event_keys = keys[idx]
        self.attrs = pairs.attrs

    def __len__(self) -> int:
        return len(self.gen)

    def subset(self, keep: np.ndarray) -> None:
        """Keep the jets ``keep`` (indices, repeats allowed), in place: every per-jet field —
        constituents, jet rows, event keys and ``index`` — moves together."""
        keep = np.ascontiguousarray(keep, dtype=np.int64)
        self.index, self.event_keys = self.index[keep], self.event_keys[keep]
        self.gen_jet, self.reco_jet = self.gen_jet[keep], self.reco_jet[keep]
        t = torch.from_numpy(keep)
        self.gen, self.reco, self.gen_pid = self.gen[t], self.reco[t], self.gen_pid[t]

    def __getitem__(self, i):
        return self.gen[i], self.reco[i]


class JetDataset(Dataset):
    """Single-sided jets for generation: items are constituents (k, 3) float32 (px, py, pz)."""

    def __init__(
        self,
        paths,
        side: str = "reco",
        split: str = "train",
        k: int | None = 30,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
    ) -> None:
        pairs, keys = load_pairs(paths, k=k, sides=(side,))
        idx = (
            np.arange(len(pairs)) if split == "all" else split_indices(keys, fractions, seed)[split]
        )
        s = getattr(pairs, side)
        self.index = idx
        self.constituents = torch.from_numpy(s.constituents[idx])
        self.jet = s.jet[idx]
        self.event_keys = keys[idx]
        self.attrs = pairs.attrs

    def __len__(self) -> int:
        return len(self.constituents)

    def subset(self, keep: np.ndarray) -> None:
        """Keep the jets ``keep`` (indices, repeats allowed), in place: constituents, jet rows,
        event keys and ``index`` move together."""
        keep = np.ascontiguousarray(keep, dtype=np.int64)
        self.index, self.event_keys, self.jet = self.index[keep], self.event_keys[keep], self.jet[keep]
        self.constituents = self.constituents[torch.from_numpy(keep)]

    def __getitem__(self, i):
        return self.constituents[i]


def read_jetnet(path: str | os.PathLike, k: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """A JetNet ``.hdf5`` file → (particles (N, k, 3) as (η_rel, φ_rel, pT_rel), jets (N, 4)).

    JetNet stores ``particle_features`` (η_rel, φ_rel, pT_rel, mask) and ``jet_features``
    (type, pT, η, mass, n). Padded particles are zeroed via the mask.
    """
    path = os.fspath(path)
    try:
        with h5py.File(path, "r") as f:
            if "particle_features" not in f:
                raise HepgenInputError(f"{path}: not a JetNet file (no 'particle_features')")
            pf = f["particle_features"][:, :k]
            jf = f["jet_features"][...] if "jet_features" in f else np.zeros((len(pf), 5))
    except OSError as exc:
        raise HepgenInputError(f"{path}: not a readable HDF5 file ({exc})") from exc
    parts = pf[..., :3] * (pf[..., 3:4] if pf.shape[-1] > 3 else 1)
    return parts.astype(np.float32), jf[:, 1:5].astype(np.float32)


class JetNetDataset(Dataset):
    """Jets of a JetNet ``.hdf5`` file as items (k, 3) in relative coordinates (η_rel, φ_rel, pT_rel),
    with the same seeded 70/15/15 splits (by jet: JetNet files carry no event numbers)."""

    def __init__(
        self,
        path: str | os.PathLike,
        split: str = "train",
        k: int = 30,
        fractions: Sequence[float] = (0.7, 0.15, 0.15),
        seed: int = 0,
    ) -> None:
        parts, jets = read_jetnet(path, k=k)
        idx = (
            np.arange(len(parts))
            if split == "all"
            else split_indices(np.arange(len(parts)), fractions, seed)[split]
        )
        self.particles = torch.from_numpy(parts[idx])
        self.jet = jets[idx]

    def __len__(self) -> int:
        return len(self.particles)

    def __getitem__(self, i):
        return self.particles[i]
