"""Readers on real Delphes and PFNanoAOD files, every bad-input case, and the dataset builder."""

from __future__ import annotations

import shutil

import awkward as ak
import h5py
import numpy as np
import pytest
import uproot

from hepgen import shipped
from hepgen.cli import main
from hepgen.data.build import Selection, build
from hepgen.errors import HepgenInputError
from hepgen.io import h5 as h5io
from hepgen.io import iterate_particles


def test_delphes_reader(ww_sample):
    chunks = list(iterate_particles(ww_sample, step_size=10))
    assert [c.entry_stop - c.entry_start for c in chunks] == [10, 10, 5]
    gen = ak.concatenate([c.gen for c in chunks])
    reco = ak.concatenate([c.reco for c in chunks])
    assert gen.fields == ["px", "py", "pz", "E", "pid"]
    # the gen selection: status 1 and no neutrinos, checked against the raw branches
    t = uproot.open(ww_sample)["Delphes"]
    raw = t.arrays(["Particle.Status", "Particle.PID"])
    apid = np.abs(raw["Particle.PID"])
    expected = (raw["Particle.Status"] == 1) & (apid != 12) & (apid != 14) & (apid != 16)
    np.testing.assert_array_equal(ak.num(gen), ak.sum(expected, axis=1))
    assert not np.any(np.isin(np.abs(ak.flatten(gen.pid)), [12, 14, 16]))
    # reco candidates: massless, inside the acceptance
    pt = np.hypot(ak.flatten(reco.px), ak.flatten(reco.py))
    assert np.all(pt > 0.25)
    p = np.sqrt(ak.flatten(reco.px) ** 2 + ak.flatten(reco.py) ** 2 + ak.flatten(reco.pz) ** 2)
    np.testing.assert_allclose(ak.flatten(reco.E), p, rtol=1e-12)
    assert set(np.unique(ak.flatten(reco.pid))) >= {22, 130}
    assert chunks[0].event_number[0] == t["Event.Number"].array()[0][0]


def test_nanoaod_reader(pfnano_sample):
    path = pfnano_sample
    (chunk,) = list(iterate_particles(path, step_size=100))
    t = uproot.open(path)["Events"]
    np.testing.assert_array_equal(ak.num(chunk.gen), t["nGenCands"].array())
    np.testing.assert_array_equal(ak.num(chunk.reco), t["nPFCands"].array())
    pt = np.hypot(chunk.reco.px, chunk.reco.py)
    np.testing.assert_allclose(ak.flatten(pt), ak.flatten(t["PFCands_pt"].array()), rtol=1e-6)
    m2 = chunk.gen.E**2 - chunk.gen.px**2 - chunk.gen.py**2 - chunk.gen.pz**2
    np.testing.assert_allclose(
        ak.flatten(np.sqrt(np.maximum(m2, 0))), ak.flatten(t["GenCands_mass"].array()), atol=2e-3
    )


def test_open_events_reads_either_format_whole(ww_sample, pfnano_sample):
    """coffea events of a whole file in its own schema: the same particles the chunked reader gives."""
    from hepgen.io.formats import detect_events, open_events

    for path, n, tree in ((ww_sample, 25, "Delphes"), (pfnano_sample, 10, "Events")):
        events = open_events(path)
        fmt = detect_events(events)
        assert len(events) == n and fmt.tree == tree
        gen, reco = fmt.particles(events)
        (chunk,) = list(iterate_particles(path, step_size=100))
        np.testing.assert_array_equal(ak.num(gen), ak.num(chunk.gen))
        np.testing.assert_array_equal(ak.num(reco), ak.num(chunk.reco))


def test_bad_inputs(tmp_path, ww_sample):
    with pytest.raises(HepgenInputError, match="no such file"):
        next(iterate_particles(tmp_path / "missing.root"))
    text = tmp_path / "notroot.root"
    text.write_text("hello")
    with pytest.raises(HepgenInputError, match="notroot.root: not a readable ROOT file"):
        next(iterate_particles(text))
    truncated = tmp_path / "truncated.root"
    truncated.write_bytes(ww_sample.read_bytes()[:200_000])
    with pytest.raises(HepgenInputError, match="truncated.root"):
        for _ in iterate_particles(truncated):
            pass
    with pytest.raises(HepgenInputError, match="no tree 'Events'"):
        next(iterate_particles(ww_sample, treename="Events"))
    other = tmp_path / "other.root"
    with uproot.recreate(other) as f:
        f.mktree("t", {"x": np.float32})
        f["t"].extend({"x": np.zeros(3, np.float32)})
    with pytest.raises(HepgenInputError, match="no tree 'Delphes'"):
        next(iterate_particles(other))
    partial = tmp_path / "partial.root"
    with uproot.recreate(partial) as f:
        f.mktree("Delphes", {"Event.Number": np.int64})
        f["Delphes"].extend({"Event.Number": np.arange(3)})
    with pytest.raises(HepgenInputError, match=r"partial.root: missing branches .*Particle.PID"):
        next(iterate_particles(partial))
    with pytest.raises(HepgenInputError, match="not a readable HDF5"):
        h5io.read(text)
    # the CLI turns these into a one-line error and exit code 2
    assert main(["build-dataset", str(text), "-o", str(tmp_path / "x.h5"), "-q"]) == 2


EXPECTED = {
    "delphes_ww_pu50_highpt_25ev": ("small", Selection.ww()),
    "delphes_ww_pu50_25ev": ("small", Selection.ww()),
    "delphes_gg_25ev": ("small", Selection.gluon()),
    "delphes_ww_pu50_highpt_100ev": ("", Selection.ww()),
}


def assert_same_dataset(out, ref):
    with h5py.File(out) as a, h5py.File(ref) as b:
        assert dict(a.attrs).keys() == dict(b.attrs).keys()
        for key in b.attrs:
            if key == "source_files":
                assert list(a.attrs[key]) == list(b.attrs[key])
            else:
                assert a.attrs[key] == b.attrs[key], key
        names = []
        b.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        for n in names:
            x, y = a[n][...], b[n][...]
            assert x.shape == y.shape and x.dtype == y.dtype, n
            if np.issubdtype(y.dtype, np.integer):
                np.testing.assert_array_equal(x, y, err_msg=n)
            elif n.endswith("jet"):
                # pt, eta, phi, E to float32 precision; the mass (E² − p² cancels) to 0.01 GeV
                np.testing.assert_allclose(
                    x[:, [0, 1, 2, 4]], y[:, [0, 1, 2, 4]], rtol=2e-6, atol=1e-5, err_msg=n
                )
                np.testing.assert_allclose(x[:, 3], y[:, 3], atol=1e-2, err_msg=n)
                np.testing.assert_array_equal(x[:, 5], y[:, 5], err_msg=n)
            else:
                np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-4, err_msg=n)


def test_builder_reproduces_shipped_expected(tmp_path, ww_sample, expected_ww):
    out = tmp_path / "out.h5"
    build(
        [ww_sample], out, Selection.ww(), progress=False
    )
    assert_same_dataset(out, expected_ww)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_cli_builder_reproduces_shared_sets(shared, tmp_path, name):
    sub, sel = EXPECTED[name]
    src = shared / "samples" / sub / f"{name}.root"
    local = tmp_path / src.name  # source_files stores base names
    shutil.copy(src, local)
    out = tmp_path / "out.h5"
    args = [
        "build-dataset",
        str(local),
        "-o",
        str(out),
        "-q",
        "--step-size",
        "7",
        "--R",
        str(sel.R),
        "--n-particles",
        str(sel.k),
        "--reco-min-pt",
        str(sel.reco_min_pt),
        "--gen-min-pt",
        str(sel.gen_min_pt),
        "--max-eta",
        str(sel.max_eta),
        "--max-jets",
        str(sel.max_jets),
    ]
    assert main(args) == 0
    assert_same_dataset(out, shared / "samples" / "expected" / f"{name}.h5")


def test_a_generated_sample_has_no_gen_side_and_says_so(tmp_path, expected_ww):
    """A generated sample (``hepgen sample``) holds reco jets only: code that needs the gen side
    (training pairs, a fast-sim evaluation) is refused with the file named, not an AttributeError."""
    from hepgen.data.datasets import JetPairDataset

    pairs = h5io.read(expected_ww)
    generated = h5io.JetPairs(None, pairs.reco, pairs.match_dr, pairs.event_number, pairs.source_file, dict(pairs.attrs))
    path = tmp_path / "generated.h5"
    h5io.write(path, generated)
    back = h5io.read(path, sides=("reco",))
    assert back.gen is None and back.side("reco").constituents.shape == pairs.side("reco").constituents.shape
    with pytest.raises(HepgenInputError, match=f"{path.name}: no gen side"):
        back.side("gen", str(path))
    with pytest.raises(ValueError, match="side must be one of"):
        back.side("truth")
    with pytest.raises(HepgenInputError, match=f"{path.name}: no 'gen' group"):
        JetPairDataset([path], split="all")


def test_pileup_of_each_format(ww_sample_100, pfnano_sample):
    """The pile-up a file's simulation overlaid: Delphes' true vertices less the hard one; without
    them, the EFlow tracks flagged pile-up over their count per interaction (calibrated on the
    shared ⟨μ⟩ = 50 samples: right on average, ±25% per event); NanoAOD's Pileup_nPU."""
    from hepgen.io import delphes
    from hepgen.io.formats import detect_events, open_events

    ev = open_events(ww_sample_100)
    truth = detect_events(ev).pileup(ev)
    np.testing.assert_array_equal(truth, ak.to_numpy(ak.num(ev.Vertex)) - 1)
    tracks_only = ak.zip({"EFlowTrack": ak.zip({"IsPU": ev.EFlowTrack.IsPU})}, depth_limit=1)
    estimate = delphes.pileup_from_events(tracks_only)
    assert abs(estimate.mean() / truth.mean() - 1) < 0.03 and np.corrcoef(estimate, truth)[0, 1] > 0.4
    assert delphes.pileup_from_events(ak.zip({"Particle": ev.Particle}, depth_limit=1)) is None
    for name in ("delphes_qcd_pu50_highpt_50ev.root", "delphes_ttbar_pu50_highpt_50ev.root"):
        ev = open_events(shipped.sample(name))  # no Vertex branch: the estimate
        assert "Vertex" not in ev.fields and 45 < detect_events(ev).pileup(ev).mean() < 55, name
    ev = open_events(pfnano_sample)
    np.testing.assert_array_equal(detect_events(ev).pileup(ev), ak.to_numpy(ev.Pileup.nPU))


def test_gen_particles_leave_pileup_out():
    """A card that writes pile-up particles into Particle (IsPU = 1): they are not the gen jet's
    (the fast-sim adds its own pile-up)."""
    from hepgen.io.delphes import gen_particles

    one = {"Status": 1, "Px": 1.0, "Py": 0.0, "Pz": 0.0, "E": 1.0}
    particle = ak.Array([[{**one, "PID": 211, "IsPU": 0}, {**one, "PID": 211, "IsPU": 1}, {**one, "PID": 12, "IsPU": 0}]])
    assert ak.num(gen_particles(particle)).tolist() == [1]
    assert ak.num(gen_particles(particle[["PID", "Status", "Px", "Py", "Pz", "E"]])).tolist() == [2]


def test_pileup_from_training_file_names():
    from hepgen.data.datasets import pileup_from_names

    assert pileup_from_names(["fastsim_ww_pu50_highpt_s111.h5", "/x/fastsim_qcd_pu50_highpt_s302.h5"]) == 50.0
    assert pileup_from_names(["a_PU200.h5"]) == 200.0
    assert pileup_from_names(["a_pu50.h5", "b_pu0.h5"]) is None  # a mixture
    assert pileup_from_names(["a_pu50.h5", "gluon_r08_s201.h5"]) is None  # one unknown
    assert pileup_from_names(["setup50.h5", "a_spu50.h5"]) is None and pileup_from_names([]) is None
