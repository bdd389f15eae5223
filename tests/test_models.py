"""Every model through one parametrised check: shapes, gradients, save/load round trip,
determinism under a seeded generator, and the permutation invariance of the Chamfer loss."""

from __future__ import annotations

import pytest
import torch

from hepgen.data.normalise import Normalisation
from hepgen.losses import chamfer, kl_divergence
from hepgen.models import registry
from hepgen.models.fastsim_vae import FastSimLoss, FastSimVAEConfig

CASES = {
    "fastsim_vae/seed": ("fastsim_vae", FastSimVAEConfig.seed().to_dict()),
    "fastsim_vae/residual": ("fastsim_vae", FastSimVAEConfig.residual_preset().to_dict()),
    "fastsim_vae/k30": ("fastsim_vae", {**FastSimVAEConfig().to_dict(), "n_particles": 30, "latent_dim": 8}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model(case, tmp_path):
    name, cfg = CASES[case]
    torch.manual_seed(0)
    model = registry.build(name, cfg)
    k = cfg["n_particles"]
    x = torch.randn(4, k, 3)
    out, mu, logvar = model(x, generator=torch.Generator().manual_seed(1))
    assert out.shape == x.shape and mu.shape == (4, cfg["latent_dim"]) == logvar.shape
    # gradients reach every parameter
    norm = Normalisation("standardise", (0.0, 0.0, 0.0), (10.0, 10.0, 10.0))
    loss = FastSimLoss(FastSimVAEConfig.from_dict(cfg), norm)(out, x, mu, logvar)
    loss["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # save / load round trip (weights only) gives the same outputs in eval mode
    model.eval()
    torch.save({"config": cfg, "state_dict": model.state_dict()}, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    clone = registry.build(name, loaded["config"])
    clone.load_state_dict(loaded["state_dict"])
    clone.eval()
    a = model.simulate(x, generator=torch.Generator().manual_seed(2))
    b = clone.simulate(x, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    c = clone.simulate(x, generator=torch.Generator().manual_seed(3))
    assert not torch.allclose(a, c), "z must be sampled, not the posterior mean"


def test_chamfer_is_permutation_invariant_and_zero_on_identity():
    torch.manual_seed(0)
    a, b = torch.randn(3, 20, 3), torch.randn(3, 20, 3)
    perm_a, perm_b = torch.randperm(20), torch.randperm(20)
    torch.testing.assert_close(chamfer(a, b), chamfer(a[:, perm_a], b[:, perm_b]))
    torch.testing.assert_close(chamfer(a, a), torch.zeros(3))
    # closed form: one point each
    p, q = torch.tensor([[[0.0, 0.0, 0.0]]]), torch.tensor([[[3.0, 4.0, 0.0]]])
    assert chamfer(p, q).item() == pytest.approx(50.0)
    assert chamfer(p, q, squared=False).item() == pytest.approx(10.0)


def test_kl_divergence_closed_form():
    mu, logvar = torch.zeros(2, 5), torch.zeros(2, 5)
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.zeros(2))
    mu = torch.ones(1, 2)
    assert kl_divergence(mu, torch.zeros(1, 2)).item() == pytest.approx(1.0)


def test_seed_architecture_matches_paper():
    m = registry.build("fastsim_vae")
    convs = [l for l in m.encoder_conv if isinstance(l, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 128]
    assert [c.kernel_size for c in convs] == [(3, 5), (1, 5), (1, 5)]
    dense = [l for l in m.encoder_dense if isinstance(l, torch.nn.Linear)]
    assert [d.out_features for d in dense] == [640, 150]
    assert m.mu.out_features == 20
    assert sum(isinstance(l, torch.nn.Upsample) for l in m.decoder_conv) == 2
    assert sum(isinstance(l, torch.nn.Dropout) for l in m.decoder_dense) == 2
    cfg = m.config
    assert (cfg.beta, cfg.alpha_m, cfg.alpha_pt) == (pytest.approx(1 / 9), 1.0, 0.1)
