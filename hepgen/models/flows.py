"""Normalising-flow generators, built on ``zuko``'s flows rather than hand-written couplings.

- :class:`NF` — seed 000's NF-only baseline: a RealNVP on the flattened 90-vector
  (all px, then all py, then all pz; min-max scaled), Table 7.
- :class:`MCFlow` — Käch et al. (seed 004): a rational-quadratic spline coupling flow
  (``zuko.flows.NSF`` with two passes, i.e. coupling layers) over the (η_rel, φ_rel, pT_rel) of
  up to 30 particles, conditioned on the jet's relative mass m/pT and multiplicity n, with
  the mass-constraint penalty λ·(m_gen − m_cond)² on samples drawn during training; tiny
  noise (10⁻⁷ scale) on padded entries. At sampling time (m, n) are drawn from the training
  set's empirical distribution (stored in the checkpoint), and particles beyond n are zeroed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import zuko
from torch import nn

from hepgen.models.convae import RealNVPConfig, realnvp
from hepgen.models.rng import seeded_from
from hepgen.physics.coordinates import relative_jet_mass


@dataclass(frozen=True)
class NFConfig:
    n_particles: int = 30
    flow: RealNVPConfig = RealNVPConfig()
    normalisation: str = "minmax"  # seed 000; the CPU preset standardises
    frame: str = "lab"  # "jet" or "jet_polar": as ConVAEConfig.frame

    @classmethod
    def table7(cls) -> NFConfig:
        """Seed 000's Table 7 NF (min-max scaled)."""
        return cls(flow=RealNVPConfig.table7())

    @classmethod
    def cpu(cls) -> NFConfig:
        """CPU-sized: 8 transforms of (256, 256), standardised inputs."""
        return cls(
            flow=RealNVPConfig(transforms=8, hidden=(256, 256), learning_rate=1e-3),
            normalisation="standardise",
        )

    def to_dict(self) -> dict:
        return {
            "n_particles": self.n_particles,
            "flow": self.flow.to_dict(),
            "normalisation": self.normalisation,
            "frame": self.frame,
        }

    @classmethod
    def from_dict(cls, d: dict) -> NFConfig:
        return cls(
            int(d["n_particles"]),
            RealNVPConfig.from_dict(d["flow"]),
            d.get("normalisation", "minmax"),
            d.get("frame", "lab"),
        )


class NF(nn.Module):
    """RealNVP on the flattened particle table (seed 000's NF baseline). Tables are (B, N, 3)."""

    def __init__(self, config: NFConfig = NFConfig()) -> None:
        super().__init__()
        self.config = config
        self.flow = realnvp(3 * config.n_particles, config.flow)

    @staticmethod
    def flatten(x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).reshape(len(x), -1)  # px..., py..., pz...

    def unflatten(self, v: torch.Tensor) -> torch.Tensor:
        return self.unflatten_n(v, self.config.n_particles)

    @staticmethod
    def unflatten_n(v: torch.Tensor, n_particles: int) -> torch.Tensor:
        return v.reshape(len(v), 3, n_particles).transpose(1, 2)

    def training_loss(
        self, x: torch.Tensor, generator, to_physical, pt_scale: float
    ) -> dict[str, torch.Tensor]:
        nll = -self.flow().log_prob(self.flatten(x))
        return {"loss": nll.mean(), "nll": nll.mean()}

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        with seeded_from(generator):
            return self.unflatten(self.flow().sample((n,)))


@dataclass(frozen=True)
class MCFlowConfig:
    """Seed 004's conditioned spline flow."""

    n_particles: int = 30
    transforms: int = 6
    hidden: tuple[int, ...] = (256, 256)
    bins: int = 8
    lam: float = 1.0
    noise: float = 1e-7
    learning_rate: float = 5e-4

    @classmethod
    def seed004(cls) -> MCFlowConfig:
        """Seed 004's flow (6 transforms of (256, 256))."""
        return cls()

    @classmethod
    def cpu(cls) -> MCFlowConfig:
        """CPU-sized: 4 transforms of (128, 128)."""
        return cls(transforms=4, hidden=(128, 128))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MCFlowConfig:
        d = dict(d)
        d["hidden"] = tuple(d["hidden"])
        return cls(**d)


class MCFlow(nn.Module):
    """Mass- and multiplicity-conditioned RQ-spline coupling flow (seed 004), relative coordinates.

    Works on standardised (η_rel, φ_rel, pT_rel); ``shift``/``scale`` buffers hold that
    normalisation so the mass penalty is computed in physical relative units. ``conditions``
    holds the training set's (m/pT, n) pairs to sample from.
    """

    shift: torch.Tensor
    scale: torch.Tensor
    conditions: torch.Tensor
    context_shift: torch.Tensor
    context_scale: torch.Tensor

    def __init__(self, config: MCFlowConfig = MCFlowConfig()) -> None:
        super().__init__()
        self.config = c = config
        self.flow = zuko.flows.NSF(
            3 * c.n_particles,
            context=2,
            bins=c.bins,
            transforms=c.transforms,
            passes=2,
            hidden_features=list(c.hidden),
        )
        self.register_buffer("shift", torch.zeros(3))
        self.register_buffer("scale", torch.ones(3))
        self.register_buffer("conditions", torch.zeros(1, 2))
        self.register_buffer("context_shift", torch.zeros(2))
        self.register_buffer("context_scale", torch.ones(2))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "conditions"
        if key in state_dict:  # the stored (m, n) sample has the training set's length
            self.conditions = torch.empty_like(state_dict[key], device=self.conditions.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def set_data(self, norm_shift, norm_scale, conditions: torch.Tensor) -> None:
        self.shift.copy_(torch.as_tensor(norm_shift))
        self.scale.copy_(torch.as_tensor(norm_scale))
        self.conditions = conditions.clone().float()
        self.context_shift = self.conditions.mean(0)
        self.context_scale = self.conditions.std(0).clamp(min=1e-6)

    def context(self, x_norm: torch.Tensor) -> torch.Tensor:
        """(m/pT, n) of normalised tables."""
        rel = x_norm * self.scale + self.shift
        n = (rel[..., 2] > 0).sum(-1).float()
        return torch.stack([relative_jet_mass(rel * (rel[..., 2:3] > 0), floor=1e-12), n], -1)

    def _ctx(self, cond: torch.Tensor) -> torch.Tensor:
        return (cond - self.context_shift) / self.context_scale

    def training_loss(
        self, x: torch.Tensor, generator, to_physical, pt_scale: float
    ) -> dict[str, torch.Tensor]:
        c = self.config
        cond = self.context(x)
        pad = (x * self.scale + self.shift)[..., 2:3] <= 0
        noisy = x + c.noise * torch.randn(x.shape, generator=generator, device=x.device) * pad
        dist = self.flow(self._ctx(cond))
        nll = -dist.log_prob(NF.flatten(noisy))
        loss = nll
        out = {"nll": nll.mean()}
        if c.lam > 0:
            gen = self._mask(NF.unflatten_n(dist.rsample(), c.n_particles), cond[:, 1])
            m_gen = relative_jet_mass(gen * self.scale + self.shift, floor=1e-12)
            pen = (m_gen - cond[:, 0]) ** 2
            loss = nll + c.lam * pen
            out["mass"] = pen.mean()
        out["loss"] = loss.mean()
        return out

    def _mask(self, x_norm: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        """Zero (in physical units) the particles beyond n in each jet."""
        keep = torch.arange(x_norm.shape[1], device=x_norm.device)[None, :] < n[:, None]
        pad_value = -self.shift / self.scale
        return torch.where(keep[..., None], x_norm, pad_value.expand_as(x_norm))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = generator.device if generator is not None else self.conditions.device
        idx = torch.randint(0, len(self.conditions), (n,), generator=generator, device=device)
        idx = idx.to(self.conditions.device)
        cond = self.conditions[idx]
        with seeded_from(generator):
            x = NF.unflatten_n(self.flow(self._ctx(cond)).sample(), self.config.n_particles)
        x = self._mask(x, cond[:, 1].round())
        # sampled pT_rel ≤ 0 are padding
        rel = x * self.scale + self.shift
        return torch.where((rel[..., 2:3] > 0), x, (-self.shift / self.scale).expand_as(x))
