"""ConVAE and ConVAE + normalising flow (Orzari et al. 2023, seed 000), and the MSE/Chamfer
VAEs of seed 003 as configurations of the same network.

ConVAE (§3.1): input 3 × N (px, py, pz; min-max scaled to [0, 1]); ``layers`` 2-D convs
with stride 1, padding 0, kernel (3, K) for the first and (1, K) after (§5.1: k1 = 3 for the
first conv / last deconv, 1 otherwise; k2 = ``kernel``), filters N_f · 2^ℓ; flatten → one
hidden dense layer (``linear``) → μ, log σ² of ``latent`` dims; mirrored decoder with
transposed convs and a sigmoid output. Loss eq. (2)–(5):
(1−β)(α·Chamfer + γ(γ_pT·MSE(pT) + γ_m·MSE(m))) + β·KL, with Euclidean (not squared)
Chamfer distances as eq. (3); jet pT and mass are computed from the de-normalised
constituents and divided by the training set's mean jet pT (so that γ_m ≈ ⟨pT⟩/⟨m⟩ balances
the two terms, as the seed's γ_m range implies).

ConVAE+NF (§4.1): two-step — train a reconstruction-tuned ConVAE, encode the training set,
fit a RealNVP flow (``zuko.flows.RealNVP``) on their latent values (draws z ~ q(z|x), or the
means: ``ConVAENFConfig.flow_samples``), sample z from the flow and decode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
import zuko
from torch import nn

from hepgen.losses import chamfer, hungarian, jet_pt_mass, kl_divergence
from hepgen.models.rng import seeded_from

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "leakyrelu": nn.LeakyReLU,
    "selu": nn.SELU,
    "elu": nn.ELU,
}


RECONSTRUCTIONS = ("chamfer", "mse", "hungarian")


@dataclass(frozen=True)
class ConVAEConfig:
    """ConVAE hyperparameters; presets: :meth:`table4`, :meth:`table5`, :meth:`cpu`, :meth:`seed003`."""

    n_particles: int = 30
    latent: int = 30
    filters: int = 50
    kernel: int = 5
    linear: int = 1500
    layers: int = 3
    activation: str = "relu"
    learning_rate: float = 1e-3
    alpha: float = 0.5
    beta: float = 0.5
    gamma: float = 0.5
    gamma_pt: float = 1.0
    gamma_m: float = 12.0
    # "chamfer" (seeds 000, 003), "mse" (seed 003: slot by slot), or "hungarian" (one-to-one
    # matching: Chamfer lets the decoder crowd its points into the jet core; RESULTS.md §3c)
    reconstruction: str = "chamfer"
    normalisation: str = "minmax"  # seed 000; "standardise" for seed 003
    output: str = "sigmoid"  # "linear" with standardised inputs (seed 003)
    select_on: str = "generation"  # EMD_sum of generated ("generation") or reconstructed jets
    free_bits: float = 0.0  # nats per latent dimension that cost no KL (0: the seed's plain KL)
    # "jet": cartesian momenta in the jet's frame (η = φ = 0), the direction drawn apart;
    # "jet_polar": (η_rel, φ_rel, pT) in that frame (see hepgen.physics.coordinates.to_jet_polar)
    frame: str = "lab"
    # jet-term scale: "mean_pt" divides both differences by the mean jet pT (hepgen ≤ 2026-11-27);
    # "std" by the training jets' σ(pT) and σ(m) over √(2N), in the Chamfer sum's units
    jet_norm: str = "mean_pt"

    def __post_init__(self) -> None:
        if self.reconstruction not in RECONSTRUCTIONS:
            raise ValueError(
                f"reconstruction must be one of {RECONSTRUCTIONS}, got {self.reconstruction!r}"
            )

    @classmethod
    def table1(cls) -> ConVAEConfig:
        """Table 1 architecture with mid-range loss parameters (the seed's first tuning step)."""
        return cls()

    @classmethod
    def table4(cls) -> ConVAEConfig:
        """Table 4: the ConVAE tuned for generation."""
        return cls(
            latent=190,
            filters=75,
            kernel=3,
            linear=1100,
            layers=4,
            learning_rate=6.1e-4,
            alpha=0.449,
            beta=0.998,
            gamma=0.118,
            gamma_pt=0.817,
            gamma_m=11.7,
        )

    @classmethod
    def table5(cls) -> ConVAEConfig:
        """Table 5: the ConVAE tuned for reconstruction (first step of ConVAE+NF)."""
        return cls(
            latent=180,
            filters=50,
            kernel=2,
            linear=3000,
            layers=4,
            learning_rate=5.3e-4,
            alpha=0.425,
            beta=0.046,
            gamma=0.121,
            gamma_pt=1.15,
            gamma_m=11.8,
            select_on="reconstruction",
        )

    @classmethod
    def cpu(cls, preset: str = "table4") -> ConVAEConfig:
        """A preset's loss parameters on a network small enough to train on 2 CPU cores in minutes.

        Also standardises the features (linear output) instead of min-max scaling them: min-max
        scaling of cartesian momenta squeezes the particles into ~0.5% of [0, 1] (the range is
        set by the hardest particles), and small networks trained for minutes then learn only
        an average jet (reconstructed jet η correlation 0.01 with min-max vs 0.95 standardised,
        4 epochs on 8k gluon jets).
        """
        base = getattr(cls, preset)()
        return replace(
            base,
            latent=min(base.latent, 32),
            filters=16,
            linear=256,
            layers=3,
            normalisation="standardise",
            output="linear",
        )

    @classmethod
    def seed003(cls, reconstruction: str = "chamfer") -> ConVAEConfig:
        """Seed 003: 100 particles, standardised, linear output, latent 20, lr 1e-3."""
        return cls(
            n_particles=100,
            latent=20,
            filters=16,
            kernel=5,
            linear=256,
            layers=3,
            learning_rate=1e-3,
            alpha=1.0,
            beta=0.01,
            gamma=1.0,
            gamma_pt=1.0,
            gamma_m=1.0,
            reconstruction=reconstruction,
            normalisation="standardise",
            output="linear",
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ConVAEConfig:
        return cls(**d)


class ConVAE(nn.Module):
    """Convolutional VAE on 3 × N particle tables (seed 000 §3.1). Tensors are (B, N, 3)."""

    def __init__(self, config: ConVAEConfig = ConVAEConfig()) -> None:
        super().__init__()
        self.config = c = config
        act = ACTIVATIONS[c.activation]
        chans = [1] + [c.filters * 2**i for i in range(c.layers)]
        enc, width = [], c.n_particles
        for i in range(c.layers):
            enc += [nn.Conv2d(chans[i], chans[i + 1], (3 if i == 0 else 1, c.kernel)), act()]
            width -= c.kernel - 1
        if width < 1:
            raise ValueError(
                f"{c.layers} convolutions of kernel {c.kernel} do not fit {c.n_particles} particles"
            )
        self.shape = (chans[-1], 1, width)
        flat = chans[-1] * width
        self.encoder = nn.Sequential(
            *enc, nn.Flatten(), nn.Linear(flat, c.linear), act(), nn.Linear(c.linear, 2 * c.latent)
        )
        dec: list[nn.Module] = []
        for i in reversed(range(c.layers)):
            dec += [nn.ConvTranspose2d(chans[i + 1], chans[i], (3 if i == 0 else 1, c.kernel))]
            if i > 0:
                dec.append(act())
        if c.output == "sigmoid":
            dec.append(nn.Sigmoid())
        self.decoder_dense = nn.Sequential(
            nn.Linear(c.latent, c.linear), act(), nn.Linear(c.linear, flat), act()
        )
        self.decoder_conv = nn.Sequential(*dec)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.transpose(1, 2).unsqueeze(1))
        return h.chunk(2, dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.decoder_dense(z).view(-1, *self.shape)
        return self.decoder_conv(h).squeeze(1).transpose(1, 2)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return self.decode(mu + eps * torch.exp(0.5 * logvar)), mu, logvar

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode z ~ N(0, 1) (normalised table)."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.config.latent), generator=generator, device=device)
        return self.decode(z)

    def training_loss(
        self, x: torch.Tensor, generator, to_physical, jet_scale: float | tuple[float, float]
    ) -> dict[str, torch.Tensor]:
        """Seed 000 eq. (2)–(5) (or seed 003's MSE variant).

        ``jet_scale``: the pT and mass differences of the jet term are divided by it (one number
        for both, or (pT scale, mass scale); see :func:`jet_term_scale`).
        """
        c = self.config
        s_pt, s_m = jet_scale if isinstance(jet_scale, tuple) else (jet_scale, jet_scale)
        out, mu, logvar = self(x, generator)
        if c.reconstruction == "chamfer":
            rec = chamfer(x, out, squared=False)
        elif c.reconstruction == "hungarian":
            rec = hungarian(x, out)
        else:
            rec = ((x - out) ** 2).sum(dim=(1, 2))
        pt_o, m_o = jet_pt_mass(to_physical(out))
        pt_t, m_t = jet_pt_mass(to_physical(x))
        jet = c.gamma_pt * ((pt_o - pt_t) / s_pt) ** 2 + c.gamma_m * ((m_o - m_t) / s_m) ** 2
        kl = kl_divergence(mu, logvar)
        if c.free_bits > 0:
            # free bits (Kingma et al. 2016, arXiv 1606.04934 app. C.8): the batch-mean KL of each
            # latent dimension below ``free_bits`` nats is not penalised, so a β close to 1 can no
            # longer buy a lower loss by switching the posterior off (seed 000's β = 0.998 does:
            # KL → 1e-6, every generated jet the same average jet; RESULTS.md §3)
            per_dim = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())
            kl_term = per_dim.mean(0).clamp_min(c.free_bits).sum()
        else:
            kl_term = kl
        loss = (1 - c.beta) * (c.alpha * rec + c.gamma * jet) + c.beta * kl_term
        return {
            "loss": loss.mean(),
            "reconstruction": rec.mean(),
            "jet": jet.mean(),
            "kl": kl.mean(),
        }


def jet_term_scale(config: ConVAEConfig, pt: np.ndarray, mass: np.ndarray) -> tuple[float, float]:
    """The (pT, mass) scales of the jet term for training jets' ``pt`` and ``mass``.

    ``mean_pt``: both ⟨pT⟩ (the seed's γ_m ≈ ⟨pT⟩/⟨m⟩ then balances the two). ``std``: σ(pT)/√(2N)
    and σ(m)/√(2N), so that one standard deviation of jet pT (mass) costs 2N units, as much as N
    particles of both Chamfer sums misplaced by one standard deviation: with standardised features
    the Chamfer sum of a 30-particle jet is ~30 and ``mean_pt`` leaves the jet terms at ~0.5% of the
    loss (reconstructed gluon jets: mass 0.2× the input's, median; RESULTS.md §3c).
    """
    if config.jet_norm == "mean_pt":
        s = float(np.mean(pt))
        return s, s
    if config.jet_norm == "std":
        root = float(np.sqrt(2 * config.n_particles))
        return float(np.std(pt)) / root, float(np.std(mass)) / root
    raise ValueError(f"unknown jet_norm {config.jet_norm!r}: use mean_pt or std")


@dataclass(frozen=True)
class RealNVPConfig:
    """RealNVP (zuko) hyperparameters; :meth:`table6` / :meth:`table7` are seed 000's."""

    transforms: int = 8
    hidden: tuple[int, ...] = (128, 128)
    learning_rate: float = 1e-3

    @classmethod
    def table6(cls) -> RealNVPConfig:
        return cls(transforms=55, hidden=(400, 350, 400, 400), learning_rate=2.9e-4)

    @classmethod
    def table7(cls) -> RealNVPConfig:
        return cls(transforms=65, hidden=(150, 200, 350, 150), learning_rate=3.4e-4)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RealNVPConfig:
        d = dict(d)
        d["hidden"] = tuple(d["hidden"])
        return cls(**d)


def realnvp(features: int, config: RealNVPConfig) -> zuko.flows.Flow:
    """A RealNVP-style affine coupling flow from zuko (alternating masks)."""
    return zuko.flows.RealNVP(
        features, transforms=config.transforms, hidden_features=list(config.hidden)
    )


@dataclass(frozen=True)
class ConVAENFConfig:
    """The two steps of ConVAE+NF. ``flow_samples``: what the flow is fitted to — 0: the posterior
    means μ(x) of the training jets; k > 0: k draws z ~ q(z|x) per jet, the latent values the
    decoder was trained on (decoding μ gives jets a third lighter at the 10th mass percentile than
    decoding draws, which reproduce the real mass distribution; RESULTS.md §3c, measured on the
    cartesian jet-frame models, whose mass a backward particle made — cause 5). ``flow_select``:
    the flow's epoch is selected on ``"nll"`` (its NLL on the validation jets' latent values) or
    ``"emd_sum"`` (EMD_sum of 2 000 decoded jets, the seed's metric)."""

    vae: ConVAEConfig = ConVAEConfig.table5()
    flow: RealNVPConfig = RealNVPConfig.table6()
    flow_samples: int = 2
    # "emd_sum" is ±20% noise epoch to epoch: it picked epoch 3 of 30 (jet-mass W1 on the
    # validation split 4.1 GeV, epoch 30: 1.8); the NLL is smooth and what the flow optimises
    flow_select: str = "nll"
    # True: fresh draws z ~ q(z|x) in every batch (``flow_samples`` per jet and epoch), so the flow
    # fits the aggregate posterior; False: the same ``flow_samples`` draws every epoch — a flow of
    # 16 couplings memorises them (train NLL 84.6 → 73.8 in 30 epochs, validation NLL rising from
    # the 3rd; RESULTS.md §3b)
    flow_resample: bool = True
    # epochs of the second step (0: as many as the first); the tuned network's VAE takes ~11 s
    # per epoch on 2 cores and its 188-dimensional flow several times that
    flow_epochs: int = 0

    def __post_init__(self) -> None:
        if self.flow_select not in ("nll", "emd_sum"):
            raise ValueError(f"flow_select must be 'nll' or 'emd_sum', got {self.flow_select!r}")
        if self.flow_epochs < 0:
            raise ValueError(f"flow_epochs must be ≥ 0 (0: as many as the VAE), got {self.flow_epochs}")

    @classmethod
    def table5_table6(cls) -> ConVAENFConfig:
        """Seed 000: the Table 5 (reconstruction-tuned) ConVAE and the Table 6 RealNVP."""
        return cls()

    @classmethod
    def cpu(cls) -> ConVAENFConfig:
        """CPU-sized: the Table 5 loss on the CPU network, an 8-transform RealNVP."""
        return cls(
            ConVAEConfig.cpu("table5"),
            RealNVPConfig(transforms=8, hidden=(128, 128), learning_rate=1e-3),
        )

    def to_dict(self) -> dict:
        return {
            "vae": self.vae.to_dict(),
            "flow": self.flow.to_dict(),
            "flow_samples": self.flow_samples,
            "flow_select": self.flow_select,
            "flow_resample": self.flow_resample,
            "flow_epochs": self.flow_epochs,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ConVAENFConfig:
        return cls(
            ConVAEConfig.from_dict(d["vae"]),
            RealNVPConfig.from_dict(d["flow"]),
            int(d.get("flow_samples", 0)),  # checkpoints before 2026-11-27: fitted to μ
            d.get("flow_select", "emd_sum"),  # and selected on EMD_sum
            bool(d.get("flow_resample", False)),  # on fixed draws
            int(d.get("flow_epochs", 0)),
        )


class ConVAENF(nn.Module):
    """ConVAE + RealNVP on its latent space (seed 000 §4.1): z ~ flow, x = decoder(z)."""

    def __init__(self, config: ConVAENFConfig = ConVAENFConfig()) -> None:
        super().__init__()
        self.config = config
        self.vae = ConVAE(config.vae)
        self.flow = realnvp(config.vae.latent, config.flow)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        with seeded_from(generator):
            z = self.flow().sample((n,))
        return self.vae.decode(z)
