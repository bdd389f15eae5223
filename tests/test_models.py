"""Every model through one parametrised check: shapes, gradients, save/load round trip,
determinism under a seeded generator, and the permutation invariance of the Chamfer loss;
fast-sim v2 adds masks, variable-length outputs and permutation equivariance in its input set."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from hepgen.data.normalise import Normalisation
from hepgen.losses import chamfer, hungarian, kl_divergence
from hepgen.models import registry
from hepgen.models.convae import ConVAEConfig, ConVAENFConfig, RealNVPConfig, jet_term_scale
from hepgen.models.epic_fm import EPiCFMConfig
from hepgen.models.fastsim_fm import FSFMConfig
from hepgen.models.fastsim_vae import FastSimLoss, FastSimVAEConfig
from hepgen.models.flows import MCFlowConfig, NFConfig
from hepgen.physics.coordinates import cartesian_to_ptetaphi
from hepgen.physics.kinematics import jet_features

CASES = {
    "fastsim_vae/seed": ("fastsim_vae", FastSimVAEConfig.seed().to_dict()),
    "fastsim_vae/residual": ("fastsim_vae", FastSimVAEConfig.residual_preset().to_dict()),
    "fastsim_vae/residual-cone": ("fastsim_vae", FastSimVAEConfig.residual_cone_preset().to_dict()),
    "fastsim_vae/k30": (
        "fastsim_vae",
        {**FastSimVAEConfig().to_dict(), "n_particles": 30, "latent_dim": 8},
    ),
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


def _gen_jets(n: int, k: int = 50, seed: int = 0) -> torch.Tensor:
    """Physical gen tables: n jets of 5–40 massless particles around η ≈ 0.3, φ ≈ 1, pT-sorted."""
    g = torch.Generator().manual_seed(seed)
    counts = torch.randint(5, 40, (n,), generator=g)
    pt = torch.distributions.Exponential(0.05).sample((n, k)) + 0.5
    eta = 0.3 + 0.15 * torch.randn(n, k, generator=g)
    phi = 1.0 + 0.15 * torch.randn(n, k, generator=g)
    mask = torch.arange(k)[None] < counts[:, None]
    pt = torch.sort(pt * mask, dim=1, descending=True).values
    x = torch.stack([pt * torch.cos(phi), pt * torch.sin(phi), pt * torch.sinh(eta)], -1)
    return x * mask[..., None]


def _assert_same_sets(a: torch.Tensor, b: torch.Tensor, atol: float = 1e-3) -> None:
    """The same particles per jet (B, k, 3), compared as sorted pT, η and φ lists: an output
    sorted by pT may swap two particles of nearly equal pT under float rounding."""
    pa, pb = cartesian_to_ptetaphi(a), cartesian_to_ptetaphi(b)
    ma, mb = pa[..., 0] > 0, pb[..., 0] > 0
    assert torch.equal(ma, mb)
    for i in range(3):
        sa = torch.sort(torch.where(ma, pa[..., i], 0.0), dim=1).values
        sb = torch.sort(torch.where(mb, pb[..., i], 0.0), dim=1).values
        torch.testing.assert_close(sa, sb, atol=atol, rtol=1e-4)


def test_fastsim_fm_project_axis_puts_the_jet_on_the_drawn_axis():
    """``project_axis``: the set's jet axis is the gen jet's plus the response flow's Δη, Δφ
    draw, and the set is only moved as a whole (jet pT, mass and the particles' relative
    positions as without it, with the same noise)."""
    from hepgen.physics.kinematics import wrap_phi

    cfg = replace(FSFMConfig.small(), project_mass=True, contain=True, mass_mode="radial", project_axis=True)
    torch.manual_seed(0)
    model = registry.build("fastsim_fm", cfg.to_dict())
    gen = _gen_jets(64)
    model.fit_normalisation(gen, _gen_jets(64, seed=1) * 1.05)
    model.eval()
    plain = registry.build("fastsim_fm", replace(cfg, project_axis=False).to_dict())
    plain.load_state_dict(model.state_dict())
    plain.eval()
    noise = model.draw_noise(16, torch.Generator().manual_seed(0))
    out, before = model.simulate(gen[:16], noise=noise), plain.simulate(gen[:16], noise=noise)
    with torch.no_grad():
        cn, _, _, _, gjet = model._encode_gen(gen[:16])
        n = model.multiplicity(cn, noise["count"])
        y = model._denorm("jet", model.response_sample(model._response_context(cn, n), noise["response"]))
    j, j0 = jet_features(out.double()), jet_features(before.double())
    torch.testing.assert_close(j[:, 1], (gjet[:, 1] + y[:, 2] * cfg.R).double(), atol=1e-4, rtol=0)
    torch.testing.assert_close(wrap_phi(j[:, 2] - gjet[:, 2] - y[:, 3] * cfg.R), torch.zeros(16, dtype=j.dtype), atol=1e-4, rtol=0)
    assert not torch.allclose(j0[:, 1], j[:, 1], atol=1e-3)  # it did move them
    torch.testing.assert_close(j[:, [0, 3]], j0[:, [0, 3]], rtol=1e-4, atol=1e-3)  # pT and mass kept
    # every particle of a jet moved by the same Δη and Δφ (the set moved as a whole, its pT
    # order kept); the jet's pseudorapidity, of a massive sum, follows to second order only
    a, b = cartesian_to_ptetaphi(out.double()), cartesian_to_ptetaphi(before.double())
    mask = b[..., 0] > 0
    torch.testing.assert_close(a[..., 0], b[..., 0])
    for i, q in ((1, lambda x: x), (2, wrap_phi)):
        shift = q(a[..., i] - b[..., i])
        first = shift[:, :1].expand_as(shift)
        torch.testing.assert_close(shift[mask], first[mask], atol=1e-4, rtol=0)


def test_fastsim_fm_gen_source_starts_at_the_gen_particles():
    """``source="gen"``: a path starts at the gen particle of its slot (by pT rank at inference,
    ``"rank"`` in training) or, with ``source_pairing="ot"``, at the reco particle's partner in the
    optimal assignment — for a reco set that is the gen set shuffled, exactly its own gen
    particle; slots beyond the gen set start from the noise."""
    cfg = replace(FSFMConfig.small(), source="gen", source_pairing="ot", source_sigma=1e-6)
    model = registry.build("fastsim_fm", cfg.to_dict())
    gen = _gen_jets(8)
    model.fit_normalisation(gen, gen)
    _, gpart, gmask, gjet = model._gen_features(gen)
    g = model._norm("part", gpart)
    perm = torch.randperm(cfg.n_particles, generator=torch.Generator().manual_seed(0))
    reco = gen[:, perm]  # the same particles in another order
    _, part, mask, _ = model._reco_targets(reco, gjet)
    x1 = model._norm("part", part) * mask.unsqueeze(-1)
    eps = torch.randn(x1.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model._start_ot(gen, gjet, x1, eps, mask), x1, atol=1e-4, rtol=0)
    # rank: slot i at the i-th hardest gen particle; a slot beyond the gen set keeps its noise
    wide = torch.ones(8, cfg.n_particles, dtype=torch.bool)
    start = model._start(gen, gjet, eps, wide)
    n_gen = gmask.sum(1)
    for b in range(8):
        hard = g[b][gmask[b]][torch.argsort(gpart[b][gmask[b]][:, 0], descending=True)]
        torch.testing.assert_close(start[b, : n_gen[b]], hard, atol=1e-4, rtol=0)
        torch.testing.assert_close(start[b, n_gen[b]:], eps[b, n_gen[b]:])


def test_velocity_attention_written_out_is_the_module():
    """The ODE's attention, written out with precomputed keys (inference), equals
    ``nn.MultiheadAttention`` (training) on the same weights, padded gen sets included."""
    from hepgen.models.fastsim_fm import N_COND, N_JET, Velocity

    torch.manual_seed(0)
    c = FSFMConfig.small()
    v = Velocity(c).eval()
    B, k, kg, d = 6, 7, 9, c.hidden
    x, t = torch.randn(B, k, 3), torch.rand(B)
    ctx, gh, gpool = torch.randn(B, N_COND + N_JET + 1), torch.randn(B, kg, d), torch.randn(B, d)
    gmask = torch.arange(kg)[None] < torch.tensor([1, 3, 9, 5, 2, 8])[:, None]
    mask = torch.arange(k)[None] < torch.tensor([7, 1, 4, 2, 6, 3])[:, None]
    ref = v(x, t, ctx, gh, gpool, gmask, mask)
    out = v(x, t, ctx, gh, gpool, gmask, mask, v.gen_keys(gh))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(v(x, t, ctx, gh, gpool, gmask & (torch.arange(kg) < 1), mask), ref)


FM_CASES = {
    "fastsim_fm/small": FSFMConfig.small(),
    "fastsim_fm/cpu": FSFMConfig.cpu(),
    "fastsim_fm/gpu": FSFMConfig.gpu(),
    # the shipped checkpoints' inference settings on the small network
    "fastsim_fm/small-shipped-inference": replace(
        FSFMConfig.small(), project_mass=True, contain=True, contain_antikt=True, min_pt=0.26,
        mass_mode="radial",
    ),
    # the response as a uniform mixture of three flows (stage 2 --members 3)
    "fastsim_fm/small-ensemble": replace(FSFMConfig.small(), response_members=3),
    # three flow-matching starts per jet, the nearest to the sampled mass kept (without the mass
    # projection: its bisection turns the candidates' float rounding into 0.1% moves, beyond the
    # permutation check's tolerance on soft particles)
    # the velocity network sees the current set's jet pT and mass against the targets
    "fastsim_fm/small-state": replace(FSFMConfig.small(), state_features=True, contain=True),
    "fastsim_fm/small-candidates": replace(
        FSFMConfig.small(), contain=True, candidates=3, response_members=2
    ),
    # the shipped inference settings with the jet axis moved to the flow's Δη, Δφ draw
    "fastsim_fm/small-axis": replace(
        FSFMConfig.small(), project_mass=True, contain=True, contain_antikt=True, mass_mode="radial",
        project_axis=True,
    ),
    # the paths start at the gen particles (a bridge gen set → reco set), shipped inference settings
    "fastsim_fm/small-gen-source": replace(
        FSFMConfig.small(), source="gen", project_mass=True, contain=True, mass_mode="radial", project_axis=True,
    ),
    # the same, training paths paired to the gen particles by optimal assignment
    "fastsim_fm/small-gen-source-ot": replace(FSFMConfig.small(), source="gen", source_pairing="ot"),
    # the response flow also conditioned on the gen particle content (needs the PDG ids)
    "fastsim_fm/small-content": replace(FSFMConfig.small(), content=True, response_members=2),
    # the response also draws Flow_1..4, each annulus projected onto them with the mass
    "fastsim_fm/small-substructure": replace(
        FSFMConfig.small(), substructure_response=True, project_substructure=True, project_mass=True,
        contain=True, mass_mode="radial", projection_rounds=8, response_members=2,
    ),
    # ... with every shipped inference setting: anti-kt stable sets, the sets left off their
    # mass projected once more, the axis moved
    "fastsim_fm/small-substructure-shipped": replace(
        FSFMConfig.small(), substructure_response=True, project_substructure=True, project_mass=True,
        contain=True, contain_antikt=True, mass_mode="radial", projection_rounds=8, close_mass=True,
        project_axis=True, min_pt=0.26,
    ),
    # the particle network sees each gen particle's class, the count head the content
    "fastsim_fm/small-types": replace(FSFMConfig.small(), particle_types=True, contain=True),
    # the multiplicity head also sees the gen set's pooled features (with the content, as above)
    "fastsim_fm/small-count-pooled": replace(FSFMConfig.small(), count_pooled=True, particle_types=True),
}


@pytest.mark.parametrize("case", sorted(FM_CASES))
def test_fastsim_fm(case, tmp_path):
    """Fast-sim v2: shapes and masks, gradients, permutation equivariance in the input set,
    save/load round trip, same output for the same noise, a variable-length output."""
    cfg = FM_CASES[case]
    torch.manual_seed(0)
    model = registry.build("fastsim_fm", cfg.to_dict())
    gen = _gen_jets(64)
    reco = _gen_jets(64, seed=1) * 1.05
    # PDG ids for a model that takes them: photons, charged pions and neutrons
    ids = torch.tensor([22, 211, -211, 2112])[torch.randint(0, 4, gen.shape[:2], generator=torch.Generator().manual_seed(5))]
    pid = torch.where(gen.abs().sum(-1) > 0, ids, 0)
    takes_pid = cfg.content or cfg.particle_types
    assert model.needs_pid == takes_pid
    model.fit_normalisation(gen, reco, pid if takes_pid else None)
    kw = {"pid": pid[:8]} if takes_pid else {}
    if takes_pid:
        assert (model.content_std > 0).all() and not torch.allclose(model.content_mean, torch.zeros(3))
        with pytest.raises(ValueError, match="PDG ids"):
            model.loss(gen, reco)
    terms = model.loss(gen, reco, generator=torch.Generator().manual_seed(0), pid=pid if takes_pid else None)
    assert set(terms) == {"loss", "fm", "nll", "count"} and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), [
        n for n, g in grads.items() if g is None
    ]
    model.eval()
    noise = {
        name: (torch.rand if dist == "uniform" else torch.randn)(
            (8, *shape), generator=torch.Generator().manual_seed(i)
        )
        for i, (name, (dist, shape)) in enumerate(model.noise_shapes().items())
    }
    out = model.simulate(gen[:8], noise=noise, **kw)
    assert out.shape == (8, cfg.n_particles, 3) and torch.isfinite(out).all()
    pt = torch.hypot(out[..., 0], out[..., 1])
    n = (pt > 0).sum(1)
    # padding is exact zeros at the end, pT-sorted
    assert torch.all(pt[:, :-1] >= pt[:, 1:])
    assert all((out[i, n[i] :] == 0).all() for i in range(8))
    if cfg.min_pt > 0:  # no generated particle below the threshold
        assert (pt[pt > 0] >= cfg.min_pt * (1 - 1e-5)).all()
    # the default groups the jets by multiplicity and trims their padding: the padded
    # computation (chunk=0) up to float rounding, for any group size
    for chunk in (0, 3):
        _assert_same_sets(model.simulate(gen[:8], noise=noise, chunk=chunk, **kw), out)
    with pytest.raises(ValueError, match="chunk"):
        model.simulate(gen[:8], noise=noise, chunk=-1, **kw)
    # the gen set is a set: permuting the input particles (padding moves to the middle, where
    # the trimming must keep it masked) does not change the output
    # (seeded: the check must not depend on the tests run before it; the mass projection's
    # bisection turns the permuted sums' float rounding into moves of up to 0.023% over 40
    # permutations, without it 0.0004%)
    perm = torch.randperm(cfg.n_particles, generator=torch.Generator().manual_seed(1))
    permuted = model.simulate(gen[:8, perm], noise=noise, **({"pid": pid[:8, perm]} if takes_pid else {}))
    if cfg.contain_antikt and cfg.project_substructure:
        # annulus edges and anti-kt's boundary are discrete: the permuted sums' rounding can take
        # an edge particle across one (over 40 permutations a particle's coordinate moved by up
        # to 10%, the jets' pT and mass by < 10⁻⁴: the projections hit the same targets), so the
        # jets must agree, the sets before the post-processing exactly
        jets, jets_permuted = jet_features(out.double()), jet_features(permuted.double())
        torch.testing.assert_close(jets_permuted[:, [0, 3]], jets[:, [0, 3]], rtol=1e-3, atol=0.0)
        model.config = replace(cfg, project=False, project_mass=False, contain=False, contain_antikt=False,
                               min_pt=0.0, project_substructure=False, project_axis=False, close_mass=False)
        raw = model.simulate(gen[:8], noise=noise, **kw)
        permuted = model.simulate(gen[:8, perm], noise=noise, **({"pid": pid[:8, perm]} if takes_pid else {}))
        model.config = cfg
        torch.testing.assert_close(permuted, raw, atol=2e-4, rtol=1e-4)
    else:
        torch.testing.assert_close(permuted, out, atol=2e-4, rtol=1e-3 if cfg.project_mass else 1e-4)
    if takes_pid:  # the ids are an input (response, or count head and particles): others, another output
        assert not torch.allclose(model.simulate(gen[:8], noise=noise, pid=torch.where(pid[:8] != 0, 22, 0)), out)
    # the multiplicity is drawn, not fixed: different count noise → different cardinalities
    many = model.simulate(gen[:1].expand(200, -1, -1), generator=torch.Generator().manual_seed(3),
                          **({"pid": pid[:1].expand(200, -1)} if takes_pid else {}))
    assert len(torch.unique((torch.hypot(many[..., 0], many[..., 1]) > 0).sum(1))) > 1
    # save / load (weights only, normalisation buffers included) and determinism
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    clone = registry.build("fastsim_fm", loaded["config"])
    clone.load_state_dict(loaded["state_dict"])
    clone.eval()
    torch.testing.assert_close(clone.simulate(gen[:8], noise=noise, **kw), out)
    other = {k: v + 0.5 for k, v in noise.items() if k != "count"} | {"count": noise["count"]}
    assert not torch.allclose(clone.simulate(gen[:8], noise=other, **kw), out)


def test_response_ensemble_is_the_mixture_of_its_flows():
    """Each jet's response comes from the flow its uniform picks (the others are not used), and
    the log-density is that of the uniform mixture; one member reproduces its flow."""
    from hepgen.models.fastsim_fm import ResponseEnsemble, response_flow

    torch.manual_seed(0)
    cfg = FSFMConfig.small()
    flows = [response_flow(cfg) for _ in range(3)]
    ens = ResponseEnsemble(flows)
    ctx, z, y = torch.randn(12, 9), torch.randn(12, 4), torch.randn(12, 4)
    u = (torch.arange(12) % 3 + 0.5).unsqueeze(-1) / 3  # members 0, 1, 2, 0, 1, 2, …
    with torch.no_grad():
        out = ens.sample(ctx, z, u)
        for j, f in enumerate(flows):
            rows = torch.arange(12) % 3 == j
            torch.testing.assert_close(out[rows], f(ctx[rows]).transform.inv(z[rows]))
        lp = torch.stack([f(ctx).log_prob(y) for f in flows]).exp().mean(0).log()
        torch.testing.assert_close(ens.log_prob(ctx, y), lp)
        one = ResponseEnsemble(flows[:1])
        torch.testing.assert_close(one.sample(ctx, z, torch.rand(12, 1)), flows[0](ctx).transform.inv(z))
    # the member uniform is a noise stream of its own, after the single-flow streams
    model = registry.build("fastsim_fm", replace(cfg, response_members=3).to_dict())
    assert list(model.noise_shapes()) == ["count", "response", "x0", "member"]
    assert "member" not in registry.build("fastsim_fm", cfg.to_dict()).noise_shapes()
    with pytest.raises(ValueError, match="response_members"):
        replace(cfg, response_members=0)


def test_fastsim_fm_candidates_keep_the_start_nearest_the_sampled_mass():
    """``candidates`` = K: each jet's output is the single-start output (same count, response
    and member noise) of one of its K starts, the one whose m/pT is nearest the sampled
    response's; the extra starts are a noise stream after the others."""
    cfg = replace(FSFMConfig.small(), project=False, response_members=2)
    torch.manual_seed(0)
    one = registry.build("fastsim_fm", cfg.to_dict())
    gen = _gen_jets(64)
    one.fit_normalisation(gen, _gen_jets(64, seed=1) * 1.05)
    one.eval()
    three = registry.build("fastsim_fm", replace(cfg, candidates=3).to_dict())
    three.load_state_dict(one.state_dict())
    three.eval()
    assert list(three.noise_shapes()) == [*one.noise_shapes(), "x0_more"]
    assert three.noise_shapes()["x0_more"] == ("normal", (2, cfg.n_particles, 3))
    noise = three.draw_noise(16, torch.Generator().manual_seed(1))
    out = three.simulate(gen[:16], noise=noise)
    starts = [noise["x0"], *noise["x0_more"].unbind(1)]
    singles = [one.simulate(gen[:16], noise=noise | {"x0": x0}) for x0 in starts]
    with torch.no_grad():  # the sampled targets, as simulate draws them
        cn, _, _, _, gjet = one._encode_gen(gen[:16])
        n = one.multiplicity(cn, noise["count"])
        y = one._denorm("jet", one.response_sample(one._response_context(cn, n), noise["response"], noise["member"]))
    target = torch.log(gjet[:, 3].clamp_min(0.1) / gjet[:, 0]) + y[:, 1] - y[:, 0]
    miss = torch.stack([
        (torch.log(jet_features(s)[:, 3].clamp_min(0.1) / jet_features(s)[:, 0]) - target).abs()
        for s in singles
    ], 1)
    best = miss.argmin(1)
    assert len(torch.unique(best)) > 1  # not always the first start
    for i in range(16):
        torch.testing.assert_close(out[i], singles[int(best[i])][i], atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="candidates"):
        replace(cfg, candidates=0)


def test_fastsim_fm_state_features_vanish_on_the_data():
    """The state features of a reco set against its own jet pT and mass (the training targets
    at t = 1) are zero: the gen jet's frame keeps the set's pT and mass; a set scaled in pT by
    1.1 reads log 1.1 on both."""
    model = registry.build("fastsim_fm", replace(FSFMConfig.small(), state_features=True).to_dict())
    gen, reco = _gen_jets(32), _gen_jets(32, seed=1) * 1.05
    model.fit_normalisation(gen, reco)
    _, _, _, _, gjet = model._encode_gen(gen)
    y, part, mask, _ = model._reco_targets(reco, gjet)
    x1 = model._norm("part", part) * mask.unsqueeze(-1)
    with torch.no_grad():
        torch.testing.assert_close(model._state(x1, model._targets(y, gjet), mask), torch.zeros(32, 2), atol=2e-4, rtol=0)
        y2 = y.clone()
        y2[:, :2] -= float(np.log(1.1))
        torch.testing.assert_close(model._state(x1, model._targets(y2, gjet), mask), torch.full((32, 2), float(np.log(1.1))), atol=2e-4, rtol=0)
    with pytest.raises(ValueError, match="state features"):
        model.velocity(x1, torch.zeros(32), torch.zeros(32, 13), torch.zeros(32, 5, 16), torch.zeros(32, 16),
                       torch.ones(32, 5, dtype=torch.bool), mask)


def test_fastsim_fm_short_training_lowers_the_loss():
    torch.manual_seed(0)
    model = registry.build("fastsim_fm", FSFMConfig.small().to_dict())
    gen = _gen_jets(256)
    reco = _gen_jets(256, seed=1)
    model.fit_normalisation(gen, reco)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)

    def evaluate():
        with torch.no_grad():
            return float(model.loss(gen, reco, generator=torch.Generator().manual_seed(9))["loss"])

    before = evaluate()
    for _ in range(60):
        i = torch.randint(0, 256, (64,), generator=g)
        loss = model.loss(gen[i], reco[i], generator=g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert evaluate() < before - 0.3


EPIC_CASES = {"epic_fm/small": EPiCFMConfig.small(), "epic_fm/cpu": EPiCFMConfig.cpu()}


@pytest.mark.parametrize("case", sorted(EPIC_CASES))
def test_epic_fm(case, tmp_path):
    """EPiC-FM generator: loss and gradients, permutation equivariance of the velocity, the
    multiplicity of each jet is its condition's, padding last and pT-sorted, seeded sampling,
    save/load round trip (the jet table included), user conditions and projection."""
    cfg = EPIC_CASES[case]
    torch.manual_seed(0)
    model = registry.build("epic_fm", cfg.to_dict())
    data = _gen_jets(128, k=cfg.n_particles)
    model.fit(data, generator=torch.Generator().manual_seed(0))
    assert model.jets.shape == (min(128, cfg.table_rows), 5)
    terms = model.loss(data[:32], generator=torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "fm"} and torch.isfinite(terms["loss"])
    terms["loss"].backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values()), [
        n for n, g in grads.items() if g is None
    ]
    model.eval()
    # the velocity network is permutation equivariant over the particles
    x = torch.randn(4, cfg.n_particles, 3)
    mask = torch.arange(cfg.n_particles)[None] < torch.tensor([[3], [10], [17], [25]])
    t, cond = torch.rand(4), torch.randn(4, 3)
    perm = torch.randperm(cfg.n_particles)
    with torch.no_grad():
        v = model.velocity(x, t, cond, mask)
        torch.testing.assert_close(
            model.velocity(x[:, perm], t, cond, mask[:, perm]), v[:, perm], atol=1e-5, rtol=1e-4
        )
    g = torch.Generator().manual_seed(1)
    rows = model.draw_jets(8, generator=torch.Generator().manual_seed(2))
    out = model.sample(8, generator=g, condition=rows)
    assert out.shape == (8, cfg.n_particles, 3) and torch.isfinite(out).all()
    pt = torch.hypot(out[..., 0], out[..., 1])
    n = (pt > 0).sum(1)
    assert torch.equal(n, rows[:, 4].round().long().clamp(1, cfg.n_particles))
    assert torch.all(pt[:, :-1] >= pt[:, 1:])
    assert all((out[i, n[i] :] == 0).all() for i in range(8))
    # seeded; a different seed differs
    torch.testing.assert_close(
        model.sample(8, generator=torch.Generator().manual_seed(5)),
        model.sample(8, generator=torch.Generator().manual_seed(5)),
    )
    assert not torch.allclose(
        model.sample(8, generator=torch.Generator().manual_seed(5)),
        model.sample(8, generator=torch.Generator().manual_seed(6)),
    )
    # save / load: weights only, the jet table's length comes from the checkpoint
    torch.save({"config": cfg.to_dict(), "state_dict": model.state_dict()}, tmp_path / "m.pt")
    loaded = torch.load(tmp_path / "m.pt", weights_only=True)
    clone = registry.build("epic_fm", loaded["config"])
    clone.load_state_dict(loaded["state_dict"])
    clone.eval()
    torch.testing.assert_close(
        clone.sample(8, generator=torch.Generator().manual_seed(1), condition=rows), out
    )
    # the chunk size (jets per network call) does not change the output
    chunked = registry.build("epic_fm", {**cfg.to_dict(), "chunk": 3})
    chunked.load_state_dict(loaded["state_dict"])
    torch.testing.assert_close(
        chunked.eval().sample(8, generator=torch.Generator().manual_seed(1), condition=rows), out
    )
    # a user's condition: with projection the jet pT is the requested one
    projected = registry.build("epic_fm", {**cfg.to_dict(), "project": True})
    projected.load_state_dict(loaded["state_dict"])
    want = torch.tensor([[500.0, 0.3, 1.0, 60.0, 12.0], [900.0, -1.0, -2.0, 120.0, 20.0]])
    jets = jet_features(projected.eval().sample(2, generator=g, condition=want))
    torch.testing.assert_close(jets[:, 0], want[:, 0], rtol=1e-4, atol=1e-3)
    # ... and with ``center`` the jet axis too (mass projection on: pT, mass, η, φ as asked)
    centred = registry.build(
        "epic_fm", {**cfg.to_dict(), "project": True, "project_mass": True, "center": True}
    )
    centred.load_state_dict(loaded["state_dict"])
    jets = jet_features(centred.eval().sample(2, generator=g, condition=want).double())
    torch.testing.assert_close(jets[:, [0, 1, 2]], want[:, [0, 1, 2]].double(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(jets[:, 3], want[:, 3].double(), rtol=0.02, atol=0.0)
    # ... and with ``contain`` every particle inside the jet's cone, as in a clustered jet, to a
    # few % (the mass and axis rounds re-derive the axis after the mirroring); the untrained
    # network spreads particles well beyond it without
    from hepgen.physics.coordinates import to_relative

    def delta_r(settings):
        m = registry.build("epic_fm", {**cfg.to_dict(), "project_mass": True, "center": True, **settings})
        m.load_state_dict(loaded["state_dict"])
        rel = to_relative(m.eval().sample(64, generator=torch.Generator().manual_seed(3)).double().numpy())
        return np.hypot(rel[..., 0], rel[..., 1])[rel[..., 2] > 0]

    assert delta_r({}).max() > 1.2 * cfg.R
    assert delta_r({"contain": True}).max() <= 1.05 * cfg.R
    # no jets asked, none made (every projection on: the shipped settings)
    every = registry.build("epic_fm", {**cfg.to_dict(), "project": True, "project_mass": True,
                                        "contain": True, "center": True})
    every.load_state_dict(loaded["state_dict"])
    assert every.eval().sample(0).shape == (0, cfg.n_particles, 3)
    with pytest.raises(ValueError, match="shape"):
        model.sample(3, condition=want)


def test_epic_fm_short_training_lowers_the_loss():
    torch.manual_seed(0)
    model = registry.build("epic_fm", EPiCFMConfig.small().to_dict())
    data = _gen_jets(256, k=30)
    model.fit(data)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    g = torch.Generator().manual_seed(0)

    def evaluate():
        with torch.no_grad():
            return float(model.loss(data, generator=torch.Generator().manual_seed(9))["loss"])

    before = evaluate()
    for _ in range(60):
        i = torch.randint(0, 256, (64,), generator=g)
        loss = model.loss(data[i], generator=g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert evaluate() < before - 0.2


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


def test_hungarian_matches_one_to_one_where_chamfer_lets_points_crowd():
    torch.manual_seed(0)
    a, b = torch.randn(3, 12, 3), torch.randn(3, 12, 3)
    torch.testing.assert_close(hungarian(a, b), hungarian(a[:, torch.randperm(12)], b[:, torch.randperm(12)]))
    torch.testing.assert_close(hungarian(a, a[:, torch.randperm(12)]), torch.zeros(3))
    # brute force over every matching of 5 points: the minimum, twice (chamfer's two-sided scale)
    import itertools

    x, y = torch.randn(1, 5, 2), torch.randn(1, 5, 2)
    d = torch.cdist(x, y)[0]
    best = min(sum(d[i, p[i]] for i in range(5)) for p in itertools.permutations(range(5)))
    assert hungarian(x, y).item() == pytest.approx(2 * float(best), rel=1e-5)
    # targets at 0 and 2, both outputs at 0: Chamfer charges only the far target (2), the
    # matching charges the crowding (one output must go to 2: 2 × 2)
    t, o = torch.tensor([[[0.0], [2.0]]]), torch.tensor([[[0.0], [0.0]]])
    assert chamfer(t, o, squared=False).item() == pytest.approx(2.0)
    assert hungarian(t, o).item() == pytest.approx(4.0)
    o = o.requires_grad_()
    hungarian(t, o).backward()
    assert o.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        ConVAEConfig(reconstruction="chamfr")


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


SMALL_FLOW = RealNVPConfig(transforms=2, hidden=(16,))
GENERATORS = {
    "convae/table4": ("convae", ConVAEConfig.table4().to_dict(), False),
    "convae/cpu": ("convae", ConVAEConfig.cpu().to_dict(), True),
    "vae-mse/seed003": ("convae", ConVAEConfig.seed003("mse").to_dict(), True),
    "convae/jet-std": (  # issue 12: jet frame, jet terms scaled by the jets' σ
        "convae",
        replace(ConVAEConfig.cpu("table5"), frame="jet", jet_norm="std", free_bits=0.2).to_dict(),
        True,
    ),
    "convae_nf/cpu": (
        "convae_nf",
        ConVAENFConfig(ConVAEConfig.cpu("table5"), SMALL_FLOW).to_dict(),
        True,
    ),
    "nf/small": ("nf", NFConfig(flow=SMALL_FLOW).to_dict(), True),
    "mcflow/small": ("mcflow", MCFlowConfig(transforms=2, hidden=(16,)).to_dict(), True),
}


def built_generator(case: str) -> tuple[torch.nn.Module, torch.Tensor]:
    """A GENERATORS case built with a fixed seed, and 6 random input jets (MCFlow: its
    conditions set from them)."""
    name, cfg, _ = GENERATORS[case]
    torch.manual_seed(0)
    model = registry.build(name, cfg)
    k = (cfg.get("vae") or cfg)["n_particles"]
    x = torch.rand(6, k, 3)
    if name == "mcflow":
        x[:, k - 5 :] = 0.0
        model.set_data((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), model.context(x))
    return model, x


@pytest.mark.parametrize("case", sorted(GENERATORS))
def test_generator(case, tmp_path):
    """Shapes, gradients of the training loss, seeded sampling and a weights-only round trip."""
    name, cfg, train_step = GENERATORS[case]
    model, x = built_generator(case)
    k = x.shape[1]
    state = torch.get_rng_state()
    a = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert a.shape == (5, k, 3) and torch.isfinite(a).all()
    b = model.sample(5, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    # seeded sampling leaves the global RNG alone (zuko draws from it inside seeded_from)
    assert torch.equal(torch.get_rng_state(), state)
    assert not torch.equal(a, model.sample(5, generator=torch.Generator().manual_seed(2)))
    if train_step and hasattr(model, "training_loss"):
        scale = (100.0, 10.0) if cfg.get("jet_norm") == "std" else 100.0
        terms = model.training_loss(x, torch.Generator().manual_seed(0), lambda t: 100 * t, scale)
        terms["loss"].backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert any(g is not None and g.abs().sum() > 0 for g in grads)
        assert all(g is None or torch.isfinite(g).all() for g in grads)
    torch.save({"config": cfg, "state_dict": model.state_dict()}, tmp_path / "g.pt")
    loaded = torch.load(tmp_path / "g.pt", weights_only=True)
    clone = registry.build(name, loaded["config"])
    clone.load_state_dict(loaded["state_dict"])
    model.eval()
    clone.eval()
    torch.testing.assert_close(
        clone.sample(5, generator=torch.Generator().manual_seed(1)),
        model.sample(5, generator=torch.Generator().manual_seed(1)),
    )


def test_convae_kernel_rules_follow_seed000():
    m = registry.build("convae", ConVAEConfig.table4().to_dict())
    convs = [l for l in m.encoder if isinstance(l, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3), (1, 3), (1, 3), (1, 3)]
    assert [c.out_channels for c in convs] == [75, 150, 300, 600]
    assert isinstance(m.decoder_conv[-1], torch.nn.Sigmoid)
    with pytest.raises(ValueError, match="do not fit"):
        registry.build("convae", {**ConVAEConfig().to_dict(), "kernel": 12})


def test_convae_nf_config_reads_checkpoints_from_before_flow_samples():
    """Checkpoints written before ``flow_samples`` existed had their flow fitted to μ(x)."""
    cfg = ConVAENFConfig.cpu()
    assert cfg.flow_samples == 2
    assert ConVAENFConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in cfg.to_dict().items() if k != "flow_samples"}
    assert ConVAENFConfig.from_dict(old).flow_samples == 0
    # and before 2026-11-27 (evening): fixed draws, selected on EMD_sum; now fresh draws, NLL
    assert (cfg.flow_select, cfg.flow_resample) == ("nll", True)
    older = {k: v for k, v in cfg.to_dict().items() if k not in ("flow_select", "flow_resample")}
    assert (ConVAENFConfig.from_dict(older).flow_select, ConVAENFConfig.from_dict(older).flow_resample) == (
        "emd_sum",
        False,
    )
    with pytest.raises(ValueError, match="flow_select"):
        ConVAENFConfig(flow_select="w1m")


def test_jet_term_scale():
    """``std``: one σ of jet pT (mass) costs 2N units, like the Chamfer sum; ``mean_pt``: ⟨pT⟩."""
    pt, m = np.array([100.0, 300.0]), np.array([10.0, 30.0])
    c = ConVAEConfig(n_particles=30, jet_norm="std")
    s_pt, s_m = jet_term_scale(c, pt, m)
    assert (s_pt, s_m) == (pytest.approx(100 / np.sqrt(60)), pytest.approx(10 / np.sqrt(60)))
    assert jet_term_scale(replace(c, jet_norm="mean_pt"), pt, m) == (200.0, 200.0)
    with pytest.raises(ValueError, match="jet_norm"):
        jet_term_scale(replace(c, jet_norm="median"), pt, m)


def test_in_cone_weight_drops_wide_angle_particles():
    from hepgen.models.fastsim_vae import in_cone_weight

    jet = torch.tensor(
        [[[100.0, 0.0, 0.0], [10.0, 1.0, 0.0], [0.0, 5.0, 0.0]]]
    )  # last one at Δφ = π/2
    w = in_cone_weight(jet, jet, R=0.5)
    assert w[0, 0] > 0.99 and w[0, 1] > 0.99 and w[0, 2] < 1e-6
