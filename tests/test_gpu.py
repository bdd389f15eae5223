"""The models on a CUDA device (skipped without one; run on a lent GPU with ``pytest -m gpu``):
seeded sampling with a CUDA generator is reproducible and leaves the global RNGs alone, a
training step runs on the device, and every shipped checkpoint samples / simulates there.
The CPU versions of these checks are tests/test_models.py's."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_models import (
    EPIC_CASES,
    FM_CASES,
    GENERATORS,
    _assert_same_sets,
    _gen_jets,
    built_generator,
)

from hepgen import shipped
from hepgen.models import registry

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]
CUDA = "cuda"


@pytest.mark.parametrize("case", sorted(GENERATORS))
def test_generator_samples_and_trains_on_cuda(case):
    name, cfg, train_step = GENERATORS[case]
    model, x = built_generator(case)
    k = x.shape[1]
    model.to(CUDA).eval()
    state = torch.cuda.get_rng_state(), torch.get_rng_state()
    a = model.sample(5, generator=torch.Generator(CUDA).manual_seed(1))
    b = model.sample(5, generator=torch.Generator(CUDA).manual_seed(1))
    assert a.device.type == CUDA and a.shape == (5, k, 3) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert torch.equal(torch.cuda.get_rng_state(), state[0])
    assert torch.equal(torch.get_rng_state(), state[1])
    if train_step and hasattr(model, "training_loss"):
        model.train()
        scale = (100.0, 10.0) if cfg.get("jet_norm") == "std" else 100.0
        terms = model.training_loss(x.to(CUDA), None, lambda t: 100 * t, scale)
        terms["loss"].backward()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("case", sorted(EPIC_CASES))
def test_epic_fm_on_cuda(case):
    cfg = EPIC_CASES[case]
    model = registry.build("epic_fm", cfg.to_dict())
    model.fit(_gen_jets(128, k=cfg.n_particles), generator=torch.Generator().manual_seed(0))
    model.to(CUDA)
    terms = model.loss(_gen_jets(32, k=cfg.n_particles).to(CUDA), None)
    terms["loss"].backward()
    model.eval()
    a = model.sample(8, generator=torch.Generator(CUDA).manual_seed(1))
    b = model.sample(8, generator=torch.Generator(CUDA).manual_seed(1))
    assert a.device.type == CUDA and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("case", sorted(FM_CASES))
def test_fastsim_fm_on_cuda(case):
    cfg = FM_CASES[case]
    model = registry.build("fastsim_fm", cfg.to_dict())
    gen, reco = _gen_jets(64), _gen_jets(64, seed=1) * 1.05
    model.fit_normalisation(gen, reco)
    model.to(CUDA)
    model.loss(gen.to(CUDA), reco.to(CUDA), generator=None)["loss"].backward()
    model.eval()
    a = model.simulate(gen[:8].to(CUDA), generator=torch.Generator(CUDA).manual_seed(3))
    b = model.simulate(gen[:8].to(CUDA), generator=torch.Generator(CUDA).manual_seed(3))
    assert a.device.type == CUDA and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    # the grouped, trimmed inference (one group per batch on CUDA, or groups of 3) is the padded
    # computation (chunk=0) to float rounding, as on the CPU
    noise = model.draw_noise(8, device=CUDA)
    padded = model.simulate(gen[:8].to(CUDA), noise=noise, chunk=0).cpu()
    for chunk in (None, 3):
        _assert_same_sets(model.simulate(gen[:8].to(CUDA), noise=noise, chunk=chunk).cpu(), padded)


@pytest.mark.parametrize("name", [n for n in shipped.checkpoints() if n.endswith("_gluon")])
def test_shipped_generators_sample_on_cuda(name):
    from hepgen.inference import Runner

    out = Runner(name, device=CUDA, batch_size=256).sample(300, seed=1)
    again = Runner(name, device=CUDA, batch_size=256).sample(300, seed=1)
    assert out.shape[0] == 300 and np.isfinite(out).all()
    np.testing.assert_allclose(out, again, rtol=1e-4, atol=1e-3)


def test_shipped_fastsim_on_cuda_batches_large_and_matches_small_batches():
    from hepgen.inference import Runner
    from hepgen.io import h5

    r = Runner(shipped.DEFAULT_FASTSIM, device=CUDA)
    assert r.batch_size == 10_000
    gen = h5.read(shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")).gen.constituents[:40]
    a = r.simulate(gen, seed=1)
    b = Runner(shipped.DEFAULT_FASTSIM, device=CUDA, batch_size=8).simulate(gen, seed=1)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-2)
