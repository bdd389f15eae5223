"""The HDF5 jet-pair layout shared by the dataset builder, ``simulate``, ``sample`` and ``evaluate``.

Per side (``gen``, ``reco``): ``constituents`` (N, k, 3) float32 px, py, pz; ``pid`` (N, k)
int16; ``jet`` (N, 6) float32 pt, eta, phi, mass, E, n_constituents. Plus ``match_dr``
(N,) float32, ``event_number`` (N,) int64, ``source_file`` (N,) int16, and the file
attributes ``R``, ``k``, ``reco_min_pt``, ``gen_min_pt``, ``max_eta``, ``events``,
``source_files``. See ``shared/data/README.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import h5py
import numpy as np

from hepgen.io.root import HepgenInputError

JET_COLUMNS = ("pt", "eta", "phi", "mass", "E", "n_constituents")
SIDES = ("gen", "reco")


@dataclass
class JetSide:
    constituents: np.ndarray  # (N, k, 3) float32
    pid: np.ndarray  # (N, k) int16
    jet: np.ndarray  # (N, 6) float32


@dataclass
class JetPairs:
    """A dataset file in memory. ``gen`` or ``reco`` may be None (generated jets only)."""

    gen: JetSide | None
    reco: JetSide | None
    match_dr: np.ndarray
    event_number: np.ndarray
    source_file: np.ndarray
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.event_number)


def write(path: str | os.PathLike, pairs: JetPairs) -> None:
    """Write ``pairs`` in the shared layout (overwrites ``path``)."""
    with h5py.File(path, "w") as f:
        for name in SIDES:
            side = getattr(pairs, name)
            if side is None:
                continue
            g = f.create_group(name)
            g.create_dataset("constituents", data=side.constituents.astype(np.float32))
            g.create_dataset("pid", data=side.pid.astype(np.int16))
            g.create_dataset("jet", data=side.jet.astype(np.float32))
        f.create_dataset("match_dr", data=pairs.match_dr.astype(np.float32))
        f.create_dataset("event_number", data=pairs.event_number.astype(np.int64))
        f.create_dataset("source_file", data=pairs.source_file.astype(np.int16))
        for key, value in pairs.attrs.items():
            if key == "source_files":
                value = np.array(list(value), dtype=h5py.string_dtype())
            f.attrs[key] = value


def read(
    path: str | os.PathLike,
    sides: tuple[str, ...] = SIDES,
    k: int | None = None,
    start: int = 0,
    stop: int | None = None,
) -> JetPairs:
    """Read a dataset file; ``k`` keeps the leading k constituents, ``start:stop`` a slice of jets."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise HepgenInputError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise HepgenInputError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        out: dict[str, JetSide | None] = {}
        for name in SIDES:
            if name not in sides:
                out[name] = None
                continue
            if name not in f:
                raise HepgenInputError(f"{path}: no '{name}' group (has {sorted(f.keys())})")
            g = f[name]
            missing = [d for d in ("constituents", "pid", "jet") if d not in g]
            if missing:
                raise HepgenInputError(f"{path}: '{name}' lacks {missing}")
            sl = slice(start, stop)
            kk = g["constituents"].shape[1] if k is None else k
            if kk > g["constituents"].shape[1]:
                raise HepgenInputError(
                    f"{path}: asked for {kk} constituents, the file stores {g['constituents'].shape[1]}"
                )
            out[name] = JetSide(g["constituents"][sl, :kk], g["pid"][sl, :kk], g["jet"][sl])
        n = len(f["event_number"])
        sl = slice(start, stop)
        attrs = {key: f.attrs[key] for key in f.attrs}
        if "source_files" in attrs:
            attrs["source_files"] = [
                s.decode() if isinstance(s, bytes) else str(s) for s in attrs["source_files"]
            ]
        return JetPairs(
            out["gen"],
            out["reco"],
            f["match_dr"][sl] if "match_dr" in f else np.zeros(n, np.float32)[sl],
            f["event_number"][sl],
            f["source_file"][sl] if "source_file" in f else np.zeros(n, np.int16)[sl],
            attrs,
        )
