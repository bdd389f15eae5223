"""Loss terms shared by the VAEs: Chamfer distance, jet-kinematic penalties, KL divergence.

References: Chamfer (nearest-neighbour) distance — Fan, Su, Guibas (2016), as used in seeds
000 eq. (3) and 001 eq. (2); jet pT / mass penalties — seed 001 eq. (1), seed 000 eq. (4).
"""

from __future__ import annotations

import torch

from hepgen.physics.kinematics import jet_features


def chamfer(target: torch.Tensor, output: torch.Tensor, squared: bool = True) -> torch.Tensor:
    """Per-jet Chamfer distance between point sets (B, k, F) → (B,).

    Σ_i min_j d(p_i, p̂_j) + Σ_j min_i d(p_i, p̂_j); ``squared`` uses squared Euclidean
    distances (seed 001 eq. 2), otherwise Euclidean (seed 000 eq. 3).
    """
    d = torch.cdist(target, output, compute_mode="donot_use_mm_for_euclid_dist")
    if squared:
        d = d * d
    return d.min(dim=2).values.sum(dim=1) + d.min(dim=1).values.sum(dim=1)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, 1)) summed over latent dimensions → (B,)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)


def jet_pt_mass(constituents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Jet pT and mass from physical cartesian constituents (B, k, 3), differentiable."""
    f = jet_features(constituents)
    return f[:, 0], f[:, 3]
