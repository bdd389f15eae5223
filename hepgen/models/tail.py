"""The soft tail: a fast-sim jet's reco constituents beyond the leading ``k`` it is trained on.

A fast-sim is trained on tables of each jet's leading ``k`` = 50 reco constituents and makes those
only, but a reconstructed jet has all of its constituents: with pile-up 50, 22% (boosted WW), 32%
(QCD) and 26% (tt̄) of the Delphes jets above 200 GeV have more than 50 (up to 64% for tt̄ above
600 GeV), a median of 7–8 more, each softer than the 50th. The leading 50's median pT response is
0.2–1.3% and their mass response 0.3–3.5% below the whole jets' (RESULTS.md §2, "Whole jets: the
soft tail"), so a processor that reclusters the leading 50 against Delphes' whole jets comes out
low by that much.

:class:`SoftTail` draws, for a jet whose table is full (``k`` particles), how many constituents
follow (``n``, dequantised: y₁ = log(1 + n + u), u ~ U(0, 1)) and their mean pT along the jet
axis (y₂ = log(mean − 0.25 GeV)) from a conditional spline flow (zuko NSF) given the gen jet's
table and the reco table's pT response (:func:`tail_context`). :func:`place_tail` then makes the
particles — pT exponential above :data:`MIN_PT`, scaled so that their pT along the jet axis is
the drawn total, directions uniform in the cone's area around the table's axis (the tail is
pile-up and underlying event) — and makes the whole set anti-kt stable. Given the true count and
total, that placement gives Delphes' whole-jet pT medians exactly and the mass medians to ≤ 0.001
(boosted WW; ≤ 0.005 on QCD and tt̄).

Example::

    >>> tail = SoftTail()
    >>> ctx = tail_context(torch.rand(4, 50, 3) + 1, torch.rand(4, 50, 3) + 1)
    >>> ctx.shape
    torch.Size([4, 7])
    >>> tail.sample(ctx, torch.randn(4, 2)).shape
    torch.Size([4, 2])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
import zuko
from torch import nn

from hepgen.physics.kinematics import jet_features
from hepgen.physics.projection import antikt_contain

__all__ = ["MIN_PT", "SoftTail", "SoftTailConfig", "full_tables", "place_tail", "tail_context", "tail_targets"]

MIN_PT = 0.26
"""GeV: the tail's softest particle (the reco tables hold no particle under 0.25 GeV; the
fast-sim's own ``min_pt`` is 0.26)."""

N_CONTEXT = 7


@dataclass(frozen=True)
class SoftTailConfig:
    """The tail flow's architecture and the most particles it adds to one jet.

    Args:
        transforms: spline coupling transforms.
        hidden: hidden layer widths of each transform's network.
        max_particles: the most tail particles per jet (the shared sets' largest tail: 77).
    """

    transforms: int = 3
    hidden: tuple[int, ...] = (64, 64)
    max_particles: int = 128

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, d: dict) -> SoftTailConfig:
        return cls(**{**d, "hidden": tuple(d.get("hidden", cls.hidden))})


def _pt(table: torch.Tensor) -> torch.Tensor:
    return torch.hypot(table[..., 0], table[..., 1])


def full_tables(table: np.ndarray) -> np.ndarray:
    """(N,) whether each (N, k, 3) table holds k particles: only a full table can have a tail
    (a jet of fewer constituents than k has them all in its table)."""
    table = np.asarray(table)
    return (np.hypot(table[..., 0], table[..., 1]) > 0).sum(1) == table.shape[1]


def tail_context(reco: torch.Tensor, gen: torch.Tensor) -> torch.Tensor:
    """(N, 7) the tail flow's condition: the gen jet — log pT, |η|, its table's particle count / k,
    log pT of its softest particle, its particles under 1 GeV (count / k, pT fraction) — and the
    log pT response of the reco table (GeV; sums of the tables).

    The reco table's own soft end (its k-th particle's pT) would say most (it follows the
    event's pile-up: residual spread of log(1 + n) 0.50 against 0.79 with these), but a fast-sim's
    soft end is not Delphes' (the default's k-th particle: 0.30 GeV in geometric mean against 0.57, full tables),
    so the tail is drawn from what the model does reproduce.

    Args:
        reco: (N, k, 3) reco tables (px, py, pz; GeV).
        gen: (N, k, 3) gen tables.
    """
    k = gen.shape[1]
    gpt_i = _pt(gen)
    has = gpt_i > 0
    n = has.sum(1)
    g, r = gen.sum(1), reco.sum(1)
    gpt = torch.hypot(g[:, 0], g[:, 1]).clamp_min(1e-3)
    rpt = torch.hypot(r[:, 0], r[:, 1]).clamp_min(1e-3)
    softest = torch.where(has, gpt_i, torch.full_like(gpt_i, float("inf"))).min(1).values
    soft = has & (gpt_i < 1.0)
    return torch.stack(
        [
            gpt.log(),
            torch.asinh(g[:, 2] / gpt).abs(),
            n / k,
            torch.where(n > 0, softest, torch.ones_like(softest)).clamp_min(1e-3).log(),
            soft.sum(1) / k,
            (gpt_i * soft).sum(1) / gpt,
            (rpt / gpt).log(),
        ],
        dim=-1,
    )


def tail_targets(reco: torch.Tensor, reco_jet: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(N, 2) the flow's data for full tables: y₁ = log(1 + n + u), n = the jet's constituents beyond
    the table, and y₂ = log(mean − 0.25 GeV), mean = the pT along the table's axis that the
    whole jet has beyond the table, per tail particle. A jet with nothing beyond its table
    (n = 0; 10% of the full tables) places no particle; its y₂ is another such jet's, picked by
    ``u[:, 1]`` (a point mass there would be a density the flow could fit without bound).

    Args:
        reco: (N, k, 3) full reco tables (k particles each).
        reco_jet: (N, 6) the whole reco jets (pT, η, φ, mass, E, constituent count), the
            dataset files' ``reco/jet``.
        u: (N, 2) uniforms in [0, 1): the dequantisation and the pick above.
    """
    j = reco_jet.double()
    pt, phi = j[:, 0], j[:, 2]
    px, py = pt * torch.cos(phi), pt * torch.sin(phi)
    axis_phi = jet_features(reco.double())[:, 2]
    tx, ty = px - reco[..., 0].double().sum(1), py - reco[..., 1].double().sum(1)
    along = tx * torch.cos(axis_phi) + ty * torch.sin(axis_phi)
    n = (j[:, 5] - reco.shape[1]).clamp_min(0)
    mean = along / n.clamp_min(1)
    y2 = torch.log((mean - 0.25).clamp_min(1e-3))
    u = u.double()
    has = (n > 0).nonzero(as_tuple=True)[0]
    if len(has):
        donor = has[(u[:, 1] * len(has)).long().clamp_max(len(has) - 1)]
        y2 = torch.where(n > 0, y2, y2[donor])
    return torch.stack([torch.log(1 + n + u[:, 0]), y2], dim=-1).float()


class SoftTail(nn.Module):
    """p(y₁, y₂ | context) of a full table's tail (module docstring), with the context and data
    standardised by their training-set mean and deviation (:meth:`fit_normalisation`).

    Args:
        config: the flow's architecture.
    """

    ctx_mean: torch.Tensor
    ctx_std: torch.Tensor
    y_mean: torch.Tensor
    y_std: torch.Tensor

    def __init__(self, config: SoftTailConfig = SoftTailConfig()) -> None:
        super().__init__()
        self.config = config
        self.flow = zuko.flows.NSF(
            2, N_CONTEXT, transforms=config.transforms, hidden_features=config.hidden, passes=2
        )
        self.register_buffer("ctx_mean", torch.zeros(N_CONTEXT))
        self.register_buffer("ctx_std", torch.ones(N_CONTEXT))
        self.register_buffer("y_mean", torch.zeros(2))
        self.register_buffer("y_std", torch.ones(2))

    def fit_normalisation(self, context: torch.Tensor, y: torch.Tensor) -> None:
        """Standardise by these (training) contexts and data."""
        self.ctx_mean.copy_(context.mean(0))
        self.ctx_std.copy_(context.std(0).clamp_min(1e-6))
        self.y_mean.copy_(y.mean(0))
        self.y_std.copy_(y.std(0).clamp_min(1e-6))

    def _c(self, context: torch.Tensor) -> torch.Tensor:
        return (context - self.ctx_mean) / self.ctx_std

    def log_prob(self, context: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """log p(y | context) per jet (B,), in the standardised coordinates."""
        return self.flow(self._c(context)).log_prob((y - self.y_mean) / self.y_std)

    def sample(self, context: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """(B, 2) draws (y₁, y₂) from standard normal base noise ``z`` (B, 2)."""
        return self.flow(self._c(context)).transform.inv(z) * self.y_std + self.y_mean


def place_tail(
    reco: np.ndarray, y: np.ndarray, u: np.ndarray, R: float, max_particles: int
) -> np.ndarray:
    """(N, k + max_particles, 3) whole sets: the reco tables ``reco`` (N, k, 3) followed by their
    tail particles (px, py, pz; zero padded) drawn as ``y`` (N, 2); a table with fewer than k
    particles has no tail.

    ``u``: (N, 3·max_particles) uniforms in (0, 1), the jet's own (keyed) noise: pT exponential
    above :data:`MIN_PT` with the drawn mean, scaled so that the pT along the table's axis is n ×
    mean (kept above :data:`MIN_PT`); ΔR = R·√u (uniform in the cone's area), azimuth 2πu. Then
    the whole set is made anti-kt stable (:func:`~hepgen.physics.projection.antikt_contain`, as
    the fast-sim's own sets are): a particle the whole set's leading jet would leave out is moved
    just inside it. Mostly tail particles near the edge, where the core's prongs, not the axis,
    decide; and in 0.4% / 1.0% / 0.7% of the sets (the default on its boosted-WW / QCD / tt̄ test
    splits) a table particle at the edge that the added soft particles put out of a prong's
    reach: the leading ``k`` change there, in direction only.
    Not capped at the table's softest pT: a fast-sim's soft end is softer than Delphes' (the
    default's k-th particle 0.30 GeV in geometric mean, Delphes' 0.57), and capped there the tail
    carried half of Delphes' pT.
    """
    reco = np.asarray(reco, np.float64)
    pt_tab = np.hypot(reco[..., 0], reco[..., 1])
    n = np.where(full_tables(reco), np.floor(np.exp(y[:, 0]) - 1), 0).clip(0, max_particles).astype(np.int64)
    mean = np.maximum(0.25 + np.exp(y[:, 1]), MIN_PT + 1e-3)
    m = max_particles
    used = np.arange(m)[None, :] < n[:, None]
    e = -np.log(u[:, :m])
    e = np.where(used, e, 0.0)
    e_mean = e.sum(1) / np.maximum(n, 1)
    pt = MIN_PT + (mean - MIN_PT)[:, None] * e / np.maximum(e_mean, 1e-12)[:, None]
    axis = jet_features(reco)  # the table's axis: the tail is placed around it
    axis_eta, axis_phi = axis[:, 1], axis[:, 2]
    dr = R * np.sqrt(u[:, m : 2 * m])
    angle = 2 * np.pi * u[:, 2 * m : 3 * m]
    dphi = dr * np.sin(angle)
    along = np.where(used, pt * np.cos(dphi), 0.0).sum(1)
    pt = pt * (n * mean / np.maximum(along, 1e-12))[:, None]
    pt = np.where(used, np.maximum(pt, MIN_PT), 0.0)
    whole_pt = np.concatenate([pt_tab, pt], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        eta_tab = np.where(pt_tab > 0, np.arcsinh(reco[..., 2] / pt_tab), 0.0)
    eta = np.concatenate([eta_tab, axis_eta[:, None] + dr * np.cos(angle)], axis=1)
    phi = np.concatenate([np.arctan2(reco[..., 1], reco[..., 0]), axis_phi[:, None] + dphi], axis=1)
    rows = np.flatnonzero(n > 0)
    moved = np.zeros(eta.shape, bool)
    if len(rows):
        contained = antikt_contain(
            torch.from_numpy(whole_pt[rows]), torch.from_numpy(eta[rows]), torch.from_numpy(phi[rows]), R
        )
        e_new, f_new = contained[0].numpy(), contained[1].numpy()
        moved[rows] = (e_new != eta[rows]) | (f_new != phi[rows])
        eta[rows], phi[rows] = e_new, f_new
    made = np.stack([whole_pt * np.cos(phi), whole_pt * np.sin(phi), whole_pt * np.sinh(eta)], axis=-1)
    out = np.concatenate([reco, np.zeros((len(reco), m, 3))], axis=1)
    redo = moved | np.concatenate([np.zeros(pt_tab.shape, bool), used], axis=1)
    out[redo] = made[redo]  # the tail, and the few table particles anti-kt stability moved
    return out.astype(np.float32)
