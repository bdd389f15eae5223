from __future__ import annotations

import numpy as np
import pytest
import torch

from hepgen import shipped
from hepgen.data.datasets import (
    JetDataset,
    JetNetDataset,
    JetPairDataset,
    read_jetnet,
    split_indices,
)
from hepgen.data.normalise import Normalisation

EXPECTED = shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")


def test_splits_are_seeded_disjoint_and_grouped_by_event():
    keys = np.repeat(np.arange(1000), 3)
    a = split_indices(keys, seed=1)
    b = split_indices(keys, seed=1)
    c = split_indices(keys, seed=2)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.array_equal(a["train"], c["train"])
    all_idx = np.concatenate(list(a.values()))
    assert sorted(all_idx.tolist()) == list(range(3000))
    sets = [set(keys[v]) for v in a.values()]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert abs(len(a["train"]) / 3000 - 0.7) < 0.01
    with pytest.raises(ValueError):
        split_indices(keys, fractions=(0.5, 0.2, 0.2))


def test_folds_are_seeded_balanced_and_grouped_by_event():
    from hepgen.data.datasets import fold_indices

    keys = np.repeat(np.arange(1001), 3)[np.random.default_rng(0).permutation(3003)]
    f = fold_indices(keys, 5, seed=1)
    np.testing.assert_array_equal(f, fold_indices(keys, 5, seed=1))
    assert not np.array_equal(f, fold_indices(keys, 5, seed=2))
    assert all(len(set(f[keys == e])) == 1 for e in range(0, 1001, 50))  # an event in one fold
    events = np.bincount(f, minlength=5) // 3
    assert set(f.tolist()) == set(range(5)) and events.max() - events.min() <= 1
    with pytest.raises(ValueError, match="at least 2 folds"):
        fold_indices(keys, 1)
    with pytest.raises(ValueError, match="cannot fill"):
        fold_indices(np.array([4, 4, 9]), 3)


def test_pair_dataset():
    full = JetPairDataset(EXPECTED, split="all")
    parts = [JetPairDataset(EXPECTED, split=s, seed=3) for s in ("train", "valid", "test")]
    assert sum(len(p) for p in parts) == len(full) == 87
    gen, reco = full[0]
    assert gen.shape == (50, 3) and reco.dtype == torch.float32
    hi = JetPairDataset(EXPECTED, split="all", reco_min_pt=130.0)
    assert np.all(hi.reco_jet[:, 0] > 130) and len(hi) < len(full)
    single = JetDataset(EXPECTED, side="gen", split="all", k=30)
    assert single[0].shape == (30, 3)
    # single-sided splits carry their events, for floors split by event; the splits share none
    one = {s: JetDataset(EXPECTED, side="reco", split=s, k=30, seed=3) for s in ("train", "test")}
    assert all(len(d.event_keys) == len(d) for d in one.values())
    assert not set(one["train"].event_keys) & set(one["test"].event_keys)
    np.testing.assert_array_equal(np.sort(one["test"].event_keys), np.sort(parts[2].event_keys))


def test_subset_keeps_every_per_jet_field_aligned():
    """Subsampling and process balancing (repeats) move constituents, jet rows, event keys and
    the file index together: a jet's row must still describe its constituents afterwards."""
    from hepgen.physics.kinematics import jet_features
    from hepgen.train.fastsim_fm import balance_processes

    full = JetPairDataset(EXPECTED, split="all")
    keep = np.array([5, 2, 2, 40, 0])
    pt_before = jet_features(full.reco.double())[:, 0].numpy()
    idx, keys = full.index.copy(), full.event_keys.copy()
    full.subset(keep)
    assert len(full) == len(full.gen_jet) == len(full.reco_jet) == len(full.event_keys) == 5
    np.testing.assert_array_equal(full.index, idx[keep])
    np.testing.assert_array_equal(full.event_keys, keys[keep])
    np.testing.assert_allclose(jet_features(full.reco.double())[:, 0].numpy(), pt_before[keep])
    # the stored jet rows follow their constituents (rows of the file, not of the 50-slot table)
    fresh = JetPairDataset(EXPECTED, split="all")
    np.testing.assert_array_equal(full.reco_jet, fresh.reco_jet[keep])
    np.testing.assert_array_equal(full.gen.numpy(), fresh.gen.numpy()[keep])
    # two process families of unequal size: balancing repeats the smaller one, and every field
    # repeats with it (``index`` points back into the unbalanced table)
    files = [EXPECTED, shipped.sample("delphes_gg_25ev.expected.h5")]
    two = JetPairDataset(files, split="all", k=30)
    ref = JetPairDataset(files, split="all", k=30)
    weights = balance_processes(two, files, seed=0)
    assert len(two) > len(ref) and max(w["weight"] for w in weights.values()) > 1
    for name in ("gen", "reco", "gen_jet", "reco_jet", "event_keys"):
        mine, theirs = getattr(two, name), getattr(ref, name)
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs)[two.index], err_msg=name)
    single = JetDataset(EXPECTED, side="reco", split="all", k=30)
    single.subset(np.arange(10)[::-1])
    assert len(single.constituents) == len(single.jet) == len(single.event_keys) == len(single.index) == 10
    np.testing.assert_array_equal(single.index, np.arange(10)[::-1])


@pytest.mark.parametrize("kind", ["standardise", "minmax", "identity"])
def test_normalisation_round_trip(kind):
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 30, 3))
    n = Normalisation.fit(kind, x)
    y = n.forward(x)
    if kind == "standardise":
        np.testing.assert_allclose(y.reshape(-1, 3).mean(0), 0, atol=1e-9)
        np.testing.assert_allclose(y.reshape(-1, 3).std(0), 1, atol=1e-9)
    if kind == "minmax":
        assert y.min() == pytest.approx(0) and y.max() == pytest.approx(1)
    np.testing.assert_allclose(n.inverse(y), x, atol=1e-9)
    t = torch.tensor(x, dtype=torch.float32)
    np.testing.assert_allclose(n.inverse(n.forward(t)).numpy(), x, rtol=1e-5, atol=1e-4)
    assert Normalisation.from_dict(n.to_dict()) == n


def test_read_jetnet(tmp_path):
    import h5py

    pf = np.random.default_rng(0).random((4, 30, 4)).astype(np.float32)
    pf[:, 20:, 3] = 0
    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        f["particle_features"] = pf
        f["jet_features"] = np.ones((4, 5), np.float32)
    parts, jets = read_jetnet(tmp_path / "g.hdf5")
    assert parts.shape == (4, 30, 3) and np.all(parts[:, 20:] == 0) and jets.shape == (4, 4)
    ds = JetNetDataset(tmp_path / "g.hdf5", split="all")
    assert len(ds) == 4 and ds[0].shape == (30, 3)


def test_jet_frame_axes_are_drawn_near_the_generated_pt():
    """A jet-frame generator's direction comes from a training jet of nearly its pT (the pT–η
    correlation sets the jet energy), at random within the window, reproducibly per seed."""
    from hepgen.data.postprocess import axes_near_pt

    rng = np.random.default_rng(0)
    axes = np.stack(
        [rng.uniform(200, 2000, 1000), rng.normal(0, 1, 1000), rng.uniform(-3, 3, 1000)], 1
    )
    pt = np.array([150.0, 500.0, 1000.0, 2500.0] * 50)
    got = axes_near_pt(axes, pt, torch.Generator().manual_seed(1), window=0.01)
    ranks = np.searchsorted(np.sort(axes[:, 0]), got[:, 0])
    want = np.searchsorted(np.sort(axes[:, 0]), pt)
    assert np.all(np.abs(ranks - want) <= 11)  # ±1% of 1000 rows, clipped at the ends
    assert len(np.unique(got[pt == 1000.0, 0])) > 5  # drawn, not always the same neighbour
    np.testing.assert_array_equal(
        got, axes_near_pt(axes, pt, torch.Generator().manual_seed(1), window=0.01)
    )
    assert {tuple(r) for r in got} <= {tuple(r) for r in axes}  # whole rows of the table
