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

from hepgen.errors import HepgenInputError

JET_COLUMNS = ("pt", "eta", "phi", "mass", "E", "n_constituents")
SIDES = ("gen", "reco")


@dataclass
class JetSide:
    constituents: np.ndarray  # (N, k, 3) float32
    pid: np.ndarray  # (N, k) int16
    jet: np.ndarray  # (N, 6) float32

    def take(self, idx) -> JetSide:
        """The jets ``idx`` (an index array, mask or slice)."""
        return JetSide(self.constituents[idx], self.pid[idx], self.jet[idx])

    @staticmethod
    def concatenate(parts: list[JetSide]) -> JetSide:
        return JetSide(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in ("constituents", "pid", "jet"))
        )


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

    def side(self, name: str, where: str = "these jets") -> JetSide:
        """The ``gen`` or ``reco`` side, refused with a clear error (naming ``where``, e.g. the
        file) where the jets have none: a generated sample holds no gen side."""
        if name not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {name!r}")
        out = getattr(self, name)
        if out is None:
            raise HepgenInputError(f"{where}: no {name} side (a generated sample holds reco jets only)")
        return out

    def take(self, idx) -> JetPairs:
        """The jets ``idx`` (an index array, mask or slice); attributes are copied."""
        return JetPairs(
            None if self.gen is None else self.gen.take(idx),
            None if self.reco is None else self.reco.take(idx),
            self.match_dr[idx],
            self.event_number[idx],
            self.source_file[idx],
            dict(self.attrs),
        )

    @staticmethod
    def concatenate(parts: list[JetPairs]) -> JetPairs:
        """Jets of several files in order; the first file's attributes."""

        def side(name: str) -> JetSide | None:
            sides = [getattr(p, name) for p in parts]
            return None if any(s is None for s in sides) else JetSide.concatenate(sides)

        return JetPairs(
            side("gen"),
            side("reco"),
            np.concatenate([p.match_dr for p in parts]),
            np.concatenate([p.event_number for p in parts]),
            np.concatenate([p.source_file for p in parts]),
            dict(parts[0].attrs),
        )


def write(path: str | os.PathLike, pairs: JetPairs) -> None:
    """Write ``pairs`` in the shared layout, atomically: a temporary file beside ``path`` is
    renamed onto it when complete, so an interruption leaves any previous file intact."""
    from hepgen.outputs import atomic_file

    with atomic_file(path) as tmp, h5py.File(tmp, "w") as f:
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
        if "event_number" not in f:
            raise HepgenInputError(f"{path}: no 'event_number' dataset (not a hepgen jet-pair file?)")
        n = len(f["event_number"])
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
            shapes = {d: g[d].shape for d in ("constituents", "pid", "jet")}
            if (
                len(shapes["constituents"]) != 3
                or shapes["constituents"][2] != 3
                or shapes["pid"] != shapes["constituents"][:2]
                or len(shapes["jet"]) != 2
                or shapes["jet"][1] != len(JET_COLUMNS)
                or not shapes["constituents"][0] == shapes["jet"][0] == n
            ):
                raise HepgenInputError(
                    f"{path}: '{name}' has shapes {shapes}; expected constituents (N, k, 3), "
                    f"pid (N, k), jet (N, {len(JET_COLUMNS)}) with N = {n} jets"
                )
            out[name] = JetSide(g["constituents"][sl, :kk], g["pid"][sl, :kk], g["jet"][sl])
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
