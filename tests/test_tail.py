"""The soft tail (``hepgen.models.tail``): the reco constituents beyond a fast-sim's leading k, so
that the processor's reclustered jets are whole, as Delphes' are."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import torch

from hepgen import shipped
from hepgen.cli import main
from hepgen.errors import HepgenInputError
from hepgen.inference import Runner
from hepgen.io import h5
from hepgen.models.tail import (
    MIN_PT,
    SoftTail,
    SoftTailConfig,
    place_tail,
    tail_context,
    tail_targets,
)

EXPECTED = shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")


def _jet(eta: float, phi: float, pts: np.ndarray, rng: np.random.Generator, spread: float = 0.3) -> np.ndarray:
    """Massless particles (px, py, pz) of the given pTs scattered around (eta, phi)."""
    e = eta + rng.uniform(-spread, spread, len(pts))
    f = phi + rng.uniform(-spread, spread, len(pts))
    return np.stack([pts * np.cos(f), pts * np.sin(f), pts * np.sinh(e)], -1)


def _whole(table: np.ndarray) -> np.ndarray:
    """(pT, η, φ, mass, E, n) of the sum of massless particles, the files' ``reco/jet`` layout."""
    e = np.linalg.norm(table, axis=-1)
    px, py, pz, en = table[:, 0].sum(), table[:, 1].sum(), table[:, 2].sum(), e.sum()
    pt = np.hypot(px, py)
    return np.array([pt, np.arcsinh(pz / pt), np.arctan2(py, px), np.sqrt(max(en**2 - pt**2 - pz**2, 0)), en, len(table)])


def test_tail_targets_recover_a_known_tail():
    """The flow's data: the count beyond the table (dequantised) and the mean pT along the axis
    per tail particle, from the whole jet the files record; a jet with no tail takes another's y₂."""
    rng = np.random.default_rng(0)
    k, extra = 50, 7
    lead = _jet(0.4, 1.0, np.sort(rng.uniform(1, 40, k))[::-1], rng)
    tail = _jet(0.4, 1.0, rng.uniform(0.3, 0.9, extra), rng)
    jets = np.stack([_whole(np.concatenate([lead, tail])), _whole(lead)])
    tables = torch.from_numpy(np.stack([lead, lead]).astype(np.float32))
    y = tail_targets(tables, torch.from_numpy(jets), torch.tensor([[0.3, 0.0], [0.6, 0.9]], dtype=torch.float64))
    n = np.floor(np.exp(y[:, 0].numpy()) - 1)
    assert n.tolist() == [extra, 0]
    axis = np.arctan2(lead[:, 1].sum(), lead[:, 0].sum())
    along = (tail[:, 0] * np.cos(axis) + tail[:, 1] * np.sin(axis)).sum() / extra
    assert float(torch.exp(y[0, 1]) + 0.25) == pytest.approx(along, rel=1e-3)
    assert float(y[1, 1]) == float(y[0, 1])  # the only jet with a tail is the donor


def test_place_tail_makes_the_drawn_particles_in_the_cone():
    """Whole sets: the table, then n = floor(e^y₁ − 1) particles for full tables only, each above
    MIN_PT and within R of the table's axis, with n × mean pT along the axis; every particle in
    the whole set's leading anti-kt jet; the same noise gives the same tail."""
    from hepgen.physics.clustering import leading_jet_members

    rng = np.random.default_rng(1)
    k, m, R = 50, 32, 0.5
    full = _jet(-1.0, 2.5, np.sort(rng.uniform(0.5, 30, k))[::-1], rng)
    short = np.concatenate([full[:40], np.zeros((10, 3))])
    reco = np.stack([full, short]).astype(np.float32)
    y = np.log([[1 + 10 + 0.5, 0.6 - 0.25], [1 + 10 + 0.5, 0.6 - 0.25]])
    u = rng.uniform(size=(2, 3 * m))
    whole = place_tail(reco, y, u, R, m)
    assert whole.shape == (2, k + m, 3)
    np.testing.assert_array_equal(whole[1, :k], reco[1])  # no tail: the table as it was
    out = whole[:, k:]
    pt = np.hypot(out[..., 0], out[..., 1])
    assert (pt[0] > 0).sum() == 10 and not out[1].any()
    assert (pt[0][pt[0] > 0] >= MIN_PT - 1e-6).all()
    s = full.sum(0)
    axis_eta, axis_phi = np.arcsinh(s[2] / np.hypot(s[0], s[1])), np.arctan2(s[1], s[0])
    eta = np.arcsinh(out[0, :10, 2] / pt[0, :10])
    dphi = np.angle(np.exp(1j * (np.arctan2(out[0, :10, 1], out[0, :10, 0]) - axis_phi)))
    assert (np.hypot(eta - axis_eta, dphi) <= R + 1e-5).all()
    assert (pt[0, :10] * np.cos(dphi)).sum() == pytest.approx(10 * 0.6, rel=2e-2)  # moved ones aside
    all_pt = np.hypot(whole[..., 0], whole[..., 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        all_eta = np.where(all_pt > 0, np.arcsinh(whole[..., 2] / all_pt), 0)
    inside, _, _ = leading_jet_members(all_pt, all_eta, np.arctan2(whole[..., 1], whole[..., 0]), R)
    assert inside[all_pt > 0].all()
    np.testing.assert_array_equal(whole, place_tail(reco, y, u, R, m))


def test_soft_tail_flow_trains_and_round_trips():
    """Shapes, a gradient step that lowers the NLL, and a state-dict round trip that draws the
    same tail from the same noise."""
    torch.manual_seed(0)
    t = SoftTail(SoftTailConfig(transforms=2, hidden=(16,)))
    ctx, y = torch.randn(256, 7), torch.randn(256, 2) * 0.5 + 1
    t.fit_normalisation(ctx, y)
    opt = torch.optim.Adam(t.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = -t.log_prob(ctx, y).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    z = torch.randn(5, 2)
    u = SoftTail(SoftTailConfig.from_dict(t.config.to_dict()))
    u.load_state_dict(t.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(u.sample(ctx[:5], z), t.sample(ctx[:5], z))
    assert tail_context(torch.rand(3, 50, 3) + 1, torch.rand(3, 50, 3) + 1).shape == (3, 7)


def test_runner_tail_adds_softer_constituents_to_full_tables_only():
    """``simulate(tail=True)`` keeps the leading k as without it (but for the few sets where
    anti-kt stability of the whole set moved an edge particle: directions only) and adds a tail
    only to jets whose table is full; keyed noise: a jet's tail depends on its own table and key,
    not on the other jets of the call."""
    gen = h5.read(EXPECTED).gen.constituents
    r = Runner("fastsim_ww_pu50")
    assert r.has_tail
    lead = r.simulate(gen, seed=3)
    whole = r.simulate(gen, seed=3, tail=True)
    k, m = r.k, r.tail_config["max_particles"]
    assert whole.shape == (len(gen), k + m, 3)
    same = (whole[:, :k] == lead).all((1, 2))
    assert same.mean() > 0.95
    np.testing.assert_allclose(np.hypot(whole[:, :k, 0], whole[:, :k, 1]), np.hypot(lead[..., 0], lead[..., 1]), rtol=1e-5)
    full = (np.hypot(lead[..., 0], lead[..., 1]) > 0).sum(1) == k
    extra = (np.hypot(whole[:, k:, 0], whole[:, k:, 1]) > 0).sum(1)
    assert full.any() and (extra[full] > 0).any() and not extra[~full].any()
    keys = np.arange(len(gen), dtype=np.uint64) * 7919
    gen_k = np.asarray(r._fit_k(gen.astype(np.float32))[0])
    sets = r._whole(lead, gen_k, keys)
    np.testing.assert_array_equal(sets, r._whole(lead, gen_k, keys))
    sub = np.random.default_rng(0).permutation(len(gen))[: len(gen) // 3]
    part = r._whole(lead[sub], gen_k[sub], keys[sub])
    count = lambda t: (np.hypot(t[..., 0], t[..., 1]) > 0).sum(-1)  # noqa: E731
    np.testing.assert_array_equal(count(part), count(sets[sub]))
    np.testing.assert_allclose(part, sets[sub], rtol=1e-4, atol=1e-5)
    assert r.simulate(gen[:0], tail=True).shape == (0, k + m, 3)


def test_a_checkpoint_without_a_tail_refuses_it():
    from hepgen.processors import FastSimProcessor

    gen = h5.read(EXPECTED).gen.constituents[:4]
    vae = Runner("fastsim_vae_ww_pu50")
    assert not vae.has_tail
    with pytest.raises(HepgenInputError, match="soft tail"):
        vae.simulate(gen, tail=True)
    with pytest.raises(HepgenInputError, match="soft tail"):
        FastSimProcessor("fastsim_vae_ww_pu50", tail=True)
    assert FastSimProcessor("fastsim_vae_ww_pu50").tail is False


def test_processor_jets_are_whole_with_the_tail(ww_sample_100):
    """On the shipped 100-event Delphes sample: Delphes' reclustered jets above 200 GeV have more
    than 50 constituents in a share that the leading 50 alone cannot give (at most the few that
    reclustering merges); with the tail the hepgen jets' share is within a factor 2 of Delphes'
    and their mean constituent count within 10%."""
    from hepgen.io.formats import open_events
    from hepgen.processors import FastSimProcessor

    events = open_events(str(ww_sample_100))

    def shares(proc, name):
        jets = ak.flatten(proc.sources(events)[0][name])
        jets = jets[(jets.pt > 200) & (abs(jets.eta) < 2.5)]
        n = ak.to_numpy(ak.num(jets.constituents))
        return (n > 50).mean(), n.mean()

    with_tail = FastSimProcessor("fastsim_ww_pu50")
    assert with_tail.tail
    delphes_share, delphes_n = shares(with_tail, "delphes")
    share, n = shares(with_tail, "hepgen")
    lead_share, lead_n = shares(FastSimProcessor("fastsim_ww_pu50", tail=False), "hepgen")
    assert delphes_share > 0.1
    assert lead_share < 0.5 * delphes_share < share < 2 * delphes_share, (lead_share, share, delphes_share)
    assert abs(n / delphes_n - 1) < 0.1 and n > lead_n


@pytest.mark.filterwarnings("ignore:.*above the gen pT")  # the tiny model's 87 jets: one is its hardest
def test_fit_tail_cli(tmp_path, capsys):
    """``--fit-tail SRC`` fits a soft tail on the source's files and copies everything else;
    the NLL falls, and it refuses to be combined with another refit."""
    src, out = tmp_path / "fm.pt", tmp_path / "tail.pt"
    common = ["--data", str(EXPECTED), "--gen-min-pt", "30", "--batch-size", "32", "-q"]
    assert main(["train", "fastsim-fm", "--preset", "small", "-o", str(src), "--epochs", "1", *common]) == 0
    capsys.readouterr()
    assert main(["train", "fastsim-fm", "--fit-tail", str(src), "--refit-count", str(src), "-o", str(out), *common]) != 0
    assert "--fit-tail" in capsys.readouterr().err and not out.exists()
    assert main(["train", "fastsim-fm", "--fit-tail", str(src), "--balance", "-o", str(out), *common]) != 0
    assert "--balance" in capsys.readouterr().err and not out.exists()
    assert main(["train", "fastsim-fm", "--fit-tail", str(src), "-o", str(out), "--epochs", "8", "--lr", "3e-3",
                 *common]) == 0
    a, b = torch.load(src, weights_only=True), torch.load(out, weights_only=True)
    assert set(b) - set(a) == {"tail"} and not list(tmp_path.glob("*.tail.pt*"))
    assert all(torch.equal(a["state_dict"][key], v) for key, v in b["state_dict"].items())
    assert {key: a[key] for key in ("config", "dataset", "training")} == {key: b[key] for key in ("config", "dataset", "training")}
    losses = [h["train_nll"] for h in b["tail"]["training"]["history"]]
    assert losses[-1] < losses[0], losses
    r = Runner(out)
    gen = h5.read(EXPECTED).gen.constituents
    assert r.has_tail and r.simulate(gen, tail=True).shape[1] == r.k + SoftTailConfig().max_particles


def test_main_job_says_whether_its_jets_are_whole(tmp_path, ww_sample):
    """``hepgen run`` simulates whole jets with a checkpoint's tail and says so; ``--no-tail``
    keeps the leading 50 only, says that, and fills fewer constituents per jet."""
    from coffea.util import load

    from hepgen.run import tail_note

    counts = {}
    for flag in ([], ["--no-tail"]):
        out = tmp_path / f"run{len(flag)}"
        assert main(["run", str(ww_sample), "-o", str(out), *flag]) == 0
        text = (out / "fidelity.md").read_text()
        assert tail_note(not flag, 50) in text
        h = load(out / "hists.coffea")["hists"]["jet_n_constituents"]
        h = h[{"source": "hepgen", "dataset": sum, "half": sum}]
        counts[bool(flag)] = (h.values() * h.axes[0].centers).sum() / h.values().sum()
    assert counts[False] > counts[True]
    assert main(["run", str(ww_sample), "-o", str(tmp_path / "vae"), "--checkpoint", "fastsim_vae_ww_pu50"]) == 0
    assert tail_note(False, 50) in (tmp_path / "vae" / "fidelity.md").read_text()
