"""EPiC-FM: a set-based flow-matching jet generator (hepgen's default generator).

Conditional flow matching (Lipman et al., arXiv 2210.02747: straight paths from a Gaussian,
MSE on the velocity) on particle sets, with a permutation-equivariant velocity network of EPiC
layers (Buhmann et al., arXiv 2301.08128; EPiC-FM / EPiC-JeDi: Birk, Buhmann, Ewen, Kasieczka,
Shih, arXiv 2310.00049 — no adversary, linear in the number of particles).

- particles: JetNet relative coordinates (η_rel, φ_rel, log pT_rel), standardised, zero padded
  with a mask; the first ``n`` slots of a jet are its particles;
- jet condition: (log pT, m/pT, n/k) of the jet. At sampling time the conditions (and the jet
  axis η, φ) are drawn as whole rows from the training jets' empirical table (stored in the
  checkpoint, as EPiC-JeDi and MCFlow do), or given by the user to generate jets of a chosen
  pT, mass and multiplicity (:meth:`EPiCFM.sample` ``condition=``);
- ODE: midpoint rule with ``steps`` steps (two network calls each) — the speed/quality knob;
- ``project``: rescale the constituents' pT so the jet pT equals the condition's;
  ``project_mass``: scale the angular offsets so the jet mass does too (off in the config's
  default; the shipped gluon checkpoint has it on, RESULTS.md §3a); ``center``: move the jet
  axis onto the condition's (η, φ) (a boost and a rotation; on in the shipped student).

Inputs and outputs are physical cartesian (px, py, pz) tables in GeV (``physical_io``); the
model holds its own normalisation buffers (:meth:`EPiCFM.fit`).

Example::

    >>> model = EPiCFM(EPiCFMConfig.small())
    >>> model.fit(torch.randn(64, 30, 3) * 20 + torch.tensor([300.0, 0.0, 0.0]))
    >>> model.sample(4, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([4, 30, 3])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from hepgen.models.epic import EPiCLayer, mlp, split_first, time_embedding
from hepgen.physics.coordinates import ptetaphi_to_cartesian, to_relative
from hepgen.physics.kinematics import jet_features
from hepgen.physics.projection import project_jet

__all__ = ["EPiCFM", "EPiCFMConfig"]

N_COND = 3  # log pT, m/pT, n/k
EPS = 1e-6


@dataclass(frozen=True)
class EPiCFMConfig:
    """Hyperparameters of :class:`EPiCFM`.

    Args:
        n_particles: k, the table size.
        R: jet radius (for ``contain``).
        hidden: width of the per-particle network.
        global_hidden: width of the per-jet global vector.
        layers: EPiC layers.
        time_features: sinusoidal features of the flow-matching time.
        steps: ODE steps at sampling (midpoint rule: two network calls each).
        sigma_min: width of the Gaussian around the straight path (0: deterministic path).
        project: rescale the pT so the jet pT equals the condition.
        project_mass: scale the angles so the jet mass equals the condition.
        contain: mirror particles beyond ΔR = R back into the cone.
        center: shift the particles' η and φ (a longitudinal boost and a rotation) so the jet
            axis is the condition's: the generated set's pT-weighted centroid scatters by ~0.016
            in η around it (shipped gluon student), so a requested axis was met only to that;
            pT, mass and the offsets from the axis are unchanged.
        table_rows: rows of the training condition table kept in the checkpoint.
        bf16: run the velocity network in bfloat16 when sampling on CPU (autocast; inference
            only: ~1.7× faster on CPUs with AVX-512 BF16, W1M in ``benchmarks/generation.py``).
        chunk: jets per network call when sampling (cache-sized; the output does not depend on it).
        learning_rate: Adam's.
    """

    n_particles: int = 30
    R: float = 0.8
    hidden: int = 96
    global_hidden: int = 32
    layers: int = 4
    time_features: int = 16
    steps: int = 8
    sigma_min: float = 1e-4
    project: bool = False
    project_mass: bool = False
    contain: bool = False
    center: bool = False
    table_rows: int = 60_000
    bf16: bool = False
    chunk: int = 1024
    learning_rate: float = 1e-3

    @classmethod
    def cpu(cls) -> EPiCFMConfig:
        """The shipped preset: trains in ~90 minutes on 2 CPU cores, ≤ 200 µs/jet to sample."""
        return cls()

    @classmethod
    def epic(cls) -> EPiCFMConfig:
        """The published EPiC-FM size (128 wide, 6 layers, global 10 → here 32); a GPU preset."""
        return cls(hidden=128, layers=6, global_hidden=32, steps=10)

    @classmethod
    def small(cls) -> EPiCFMConfig:
        """A tiny network for tests and quick looks."""
        return cls(hidden=16, global_hidden=8, layers=1, steps=2, table_rows=1000)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EPiCFMConfig:
        return cls(**dict(d))


class _Velocity(nn.Module):
    """v(x_t, t | jet condition): EPiC layers over the masked particle set."""

    def __init__(self, c: EPiCFMConfig) -> None:
        super().__init__()
        self.c = c
        self.embed = mlp([3 + c.time_features + N_COND, c.hidden, c.hidden])
        self.glob0 = mlp([N_COND + c.time_features, c.global_hidden, c.global_hidden])
        self.layers = nn.ModuleList(EPiCLayer(c.hidden, c.global_hidden) for _ in range(c.layers))
        self.out = mlp([c.hidden, c.hidden, 3])

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor):
        te = time_embedding(t, self.c.time_features)
        per_jet = torch.cat([te, cond], -1)
        h = split_first(self.embed, x, per_jet)
        g = self.glob0(torch.cat([cond, te], -1))
        for layer in self.layers:
            h, g = layer(h, g, mask)
        return self.out(h) * mask.unsqueeze(-1)


class EPiCFM(nn.Module):
    """Set-based flow-matching jet generator (see the module docstring)."""

    physical_io = True
    part_mean: torch.Tensor
    part_std: torch.Tensor
    cond_mean: torch.Tensor
    cond_std: torch.Tensor
    jets: torch.Tensor

    def __init__(self, config: EPiCFMConfig = EPiCFMConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.register_buffer("part_mean", torch.zeros(3))
        self.register_buffer("part_std", torch.ones(3))
        self.register_buffer("cond_mean", torch.zeros(N_COND))
        self.register_buffer("cond_std", torch.ones(N_COND))
        # rows of training jets: pT, η, φ, m, n (the empirical condition distribution)
        self.register_buffer("jets", torch.zeros(0, 5))
        self.velocity = _Velocity(c)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # the jet table's length is the checkpoint's, not the config's
        key = prefix + "jets"
        if key in state_dict:
            self.jets = torch.empty_like(state_dict[key], device=self.jets.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ features
    def _features(self, table: torch.Tensor):
        """Cartesian table (B, ≥k, 3) → (particles (B, k, 3) raw, mask, jets (B, 5))."""
        table = table[:, : self.config.n_particles]
        jet = jet_features(table)
        rel = to_relative(table, jet)  # (η_rel, φ_rel, pT_rel), zero padded
        mask = rel[..., 2] > 0
        log_pt = torch.log(torch.where(mask, rel[..., 2], torch.ones_like(rel[..., 2])))
        part = torch.stack([rel[..., 0], rel[..., 1], log_pt], -1)
        jets = torch.cat([jet[:, :4], mask.sum(1, keepdim=True).to(jet.dtype)], -1)
        return part * mask.unsqueeze(-1), mask, jets

    def _raw_condition(self, jets: torch.Tensor) -> torch.Tensor:
        """Jet rows (pT, η, φ, m, n) → (log pT, m/pT, n/k), before normalisation."""
        pt = jets[:, 0:1].clamp_min(EPS)
        return torch.cat(
            [torch.log(pt), jets[:, 3:4] / pt, jets[:, 4:5] / self.config.n_particles], -1
        )

    def _condition(self, jets: torch.Tensor) -> torch.Tensor:
        """Jet rows (pT, η, φ, m, n) → normalised condition (B, 3)."""
        return (self._raw_condition(jets) - self.cond_mean) / self.cond_std

    @torch.no_grad()
    def fit(self, table: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Normalisation and the empirical jet table from training constituents (N, k, 3) GeV."""
        part, mask, jets = self._features(table.double())
        x = part[mask]
        self.part_mean.copy_(x.mean(0).float())
        self.part_std.copy_(x.std(0).clamp_min(1e-3).float())
        raw = self._raw_condition(jets)
        self.cond_mean.copy_(raw.mean(0).float())
        self.cond_std.copy_(raw.std(0).clamp_min(1e-3).float())
        rows = self.config.table_rows
        if len(jets) > rows:
            jets = jets[torch.randperm(len(jets), generator=generator)[:rows]]
        self.jets = jets.float().clone()

    # ------------------------------------------------------------------ training
    def loss(
        self, table: torch.Tensor, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Flow-matching MSE on the velocity for a batch of physical tables (B, k, 3)."""
        part, mask, jets = self._features(table)
        cond = self._condition(jets)
        m = mask.unsqueeze(-1).to(part.dtype)
        x1 = (part - self.part_mean) / self.part_std * m
        x0 = torch.randn(x1.shape, generator=generator, device=x1.device) * m
        t = torch.rand(len(x1), generator=generator, device=x1.device)
        tt = t[:, None, None]
        xt = (1 - (1 - self.config.sigma_min) * tt) * x0 + tt * x1
        target = x1 - (1 - self.config.sigma_min) * x0
        v = self.velocity(xt, t, cond, mask)
        fm = (((v - target) ** 2) * m).sum() / (3 * m.sum()).clamp_min(1.0)
        return {"loss": fm, "fm": fm}

    # ------------------------------------------------------------------ sampling
    def draw_jets(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` jet rows (pT, η, φ, m, n) drawn from the stored training table."""
        if len(self.jets) == 0:
            raise RuntimeError("EPiCFM has no jet table: call fit() on training jets first")
        idx = torch.randint(0, len(self.jets), (n,), generator=generator, device="cpu")
        return self.jets[idx.to(self.jets.device)]

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        condition: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``n`` jets as physical cartesian tables (n, k, 3), sorted by pT, zero padded.

        Args:
            n: number of jets.
            generator: torch generator for the noise (CPU or the model's device).
            steps: ODE steps (default: the config's).
            condition: (n, 5) rows of jet pT [GeV], η, φ, mass [GeV], multiplicity; default:
                drawn from the training jets.
        """
        _, x, jets, mask = self._flow(n, generator, condition, steps)
        return self._to_physical(x, jets, mask)

    @torch.no_grad()
    def reflow_pairs(
        self, n: int, generator: torch.Generator | None = None, steps: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Couplings for a reflow student (rectified flow, Liu et al., arXiv 2209.03003): ``n``
        noise tables, the ODE endpoints they flow to (both in the model's normalised particle
        space, masked) and their jet rows (pT, η, φ, m, n), conditions drawn as in :meth:`sample`.
        """
        x0, x1, jets, _ = self._flow(n, generator, None, steps)
        return x0, x1, jets

    def pair_loss(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        jets: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        """Flow-matching MSE along the straight line between given couplings (x0 → x1), e.g. a
        teacher's :meth:`reflow_pairs`: the student learns paths that few ODE steps follow."""
        mask, cond = self._mask_and_condition(jets)
        m = mask.unsqueeze(-1).to(x0.dtype)
        t = torch.rand(len(x0), generator=generator, device=x0.device)
        tt = t[:, None, None]
        v = self.velocity((1 - tt) * x0 + tt * x1, t, cond, mask)
        fm = (((v - (x1 - x0)) ** 2) * m).sum() / (3 * m.sum()).clamp_min(1.0)
        return {"loss": fm, "fm": fm}

    def endpoint_loss(
        self,
        x0: torch.Tensor,
        x1: torch.Tensor,
        jets: torch.Tensor,
        generator: torch.Generator | None = None,
        steps: int | None = None,
        pt_weighted: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Distillation through the solver (Luhman & Luhman, arXiv 2101.02388): MSE between this
        model's ``steps``-step ODE solution from ``x0`` (default: the config's steps; fp32, with
        gradients through every network call) and the given endpoint ``x1``, e.g. a teacher's
        :meth:`reflow_pairs`. The target is the teacher's deterministic map, so the regression
        does not blur; it trains exactly what sampling with ``steps`` steps computes.
        ``generator`` is unused (the loss is deterministic), kept for the loss interface.
        ``pt_weighted``: each particle's error weighted by 1 + k·z, z its pT share of the target
        jet — the hard particles, which make the jet-level shape (and FPD's energy-flow
        polynomials), count as much as the soft ones together."""
        mask, cond = self._mask_and_condition(jets)
        m = mask.unsqueeze(-1).to(x0.dtype)
        steps = self.config.steps if steps is None else int(steps)
        y = self._integrate(x0, cond, mask, steps, bf16=False)
        if pt_weighted:
            pt = torch.exp(x1[..., 2] * self.part_std[2] + self.part_mean[2]) * mask
            z = pt / pt.sum(1, keepdim=True).clamp_min(EPS)
            m = m * (1 + self.config.n_particles * z).unsqueeze(-1)
        err = (((y - x1) ** 2) * m).sum() / (3 * m.sum()).clamp_min(1.0)
        return {"loss": err, "fm": err}

    def _flow(
        self,
        n: int,
        generator: torch.Generator | None,
        condition: torch.Tensor | None,
        steps: int | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Jet rows (drawn or given), masked noise and the ODE's endpoint for it, in the normalised
        particle space: (x0, x1, jets, mask)."""
        steps = self.config.steps if steps is None else int(steps)
        jets = self._jet_rows(n, generator, condition)
        mask, cond = self._mask_and_condition(jets)
        x0 = torch.randn(mask.shape + (3,), generator=generator, device=mask.device)
        x0 = x0 * mask.unsqueeze(-1)
        return x0, self._integrate_chunked(x0, cond, mask, steps), jets, mask

    def _mask_and_condition(self, jets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Jet rows (pT, η, φ, m, n) → the particle mask (the first n slots) and the normalised
        condition."""
        k = self.config.n_particles
        mult = jets[:, 4].round().clamp(1, k).long()
        mask = torch.arange(k, device=jets.device).unsqueeze(0) < mult.unsqueeze(-1)
        cond = self._condition(torch.cat([jets[:, :4], mult.unsqueeze(-1).to(jets.dtype)], -1))
        return mask, cond

    def _jet_rows(
        self, n: int, generator: torch.Generator | None, condition: torch.Tensor | None
    ) -> torch.Tensor:
        """``n`` jet rows (pT, η, φ, m, n) on the model's device: the user's, or drawn."""
        dev = self.part_mean.device
        if condition is None:
            gcpu = generator
            if generator is not None and generator.device.type != "cpu":  # seeded from it
                seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
                gcpu = torch.Generator().manual_seed(seed)
            jets = self.draw_jets(n, gcpu)
        else:
            jets = torch.as_tensor(condition, dtype=torch.float32, device=dev)
            if jets.shape != (n, 5):
                raise ValueError(f"condition must have shape ({n}, 5), got {tuple(jets.shape)}")
        return jets.to(dev)

    def _integrate_chunked(
        self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor, steps: int
    ) -> torch.Tensor:
        c = max(self.config.chunk, 1)
        if not len(x):
            return x
        return torch.cat(
            [self._integrate(x[i : i + c], cond[i : i + c], mask[i : i + c], steps) for i in range(0, len(x), c)]
        )

    def _to_physical(self, x: torch.Tensor, jets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Normalised particles at t = 1 → physical cartesian tables, pT-sorted (projection applied)."""
        c = self.config
        part = x * self.part_std + self.part_mean
        pt = jets[:, 0:1] * torch.exp(part[..., 2].clamp(max=1.0)) * mask
        eta = jets[:, 1:2] + part[..., 0]
        phi = jets[:, 2:3] + part[..., 1]
        if c.project or c.project_mass or c.contain or c.center:
            pt, eta, phi = project_jet(
                pt, eta, phi, jets[:, 0:1], jets[:, 3:4].clamp_min(0.1), c.R,
                project=c.project, project_mass=c.project_mass, contain=c.contain,
                target_axis=jets[:, 1:3] if c.center else None,
            )
        out = ptetaphi_to_cartesian(torch.stack([pt, eta, phi], -1)) * mask.unsqueeze(-1)
        order = torch.argsort(-torch.hypot(out[..., 0], out[..., 1]), dim=1)
        return torch.take_along_dim(out, order.unsqueeze(-1), dim=1)

    def _integrate(
        self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor, steps: int, bf16: bool = True
    ) -> torch.Tensor:
        """The ODE from noise (t = 0) to particles (t = 1): midpoint rule, ``steps`` steps (in
        bfloat16 on CPU if the config says so and ``bf16``)."""
        dt = 1.0 / max(steps, 1)
        n = len(x)
        fast = bf16 and self.config.bf16 and x.device.type == "cpu"
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fast):
            for i in range(steps):
                t = torch.full((n,), i * dt, device=x.device)
                xm = x + 0.5 * dt * self.velocity(x, t, cond, mask).float()
                x = x + dt * self.velocity(xm, t + 0.5 * dt, cond, mask).float()
        return x.float()
