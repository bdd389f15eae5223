"""The bad-input catalogue: every case ends as exit code 2 and one line on stderr naming the
file or argument, with no traceback, and leaves every input and previous output byte-identical.
README § "What happens with bad input" describes the same behaviour."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import uproot

from hepgen import shipped
from hepgen.cli import main
from hepgen.io import h5

EXPECTED = shipped.sample("delphes_ww_pu50_highpt_25ev.expected.h5")
SAMPLE = shipped.sample("delphes_ww_pu50_highpt_25ev.root")
FASTSIM = str(shipped.checkpoint(shipped.DEFAULT_FASTSIM))
GENERATOR = str(shipped.checkpoint("mcflow_gluon"))


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _copy(src: Path, dst: Path) -> str:
    shutil.copy(src, dst)
    return str(dst)


def _h5(tmp: Path, name: str, edit) -> str:
    path = tmp / name
    shutil.copy(EXPECTED, path)
    with h5py.File(path, "r+") as f:
        edit(f)
    return str(path)


def _nan_h5(f):
    c = f["gen/constituents"][...]
    c[3, 0, 0] = np.nan
    c[7, 2, 1] = np.inf
    f["gen/constituents"][...] = c


def _wrong_shape(f):
    del f["gen/constituents"]
    f["gen/constituents"] = np.zeros((len(f["event_number"]), 50, 2), np.float32)


def _empty_h5(tmp):
    pairs = h5.read(EXPECTED).take(np.zeros(0, int))
    h5.write(tmp / "empty.h5", pairs)
    return str(tmp / "empty.h5")


def _plain_nanoaod(tmp):
    path = tmp / "nano.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"event": np.int64, "nJet": np.int32})
        f["Events"].extend({"event": np.arange(3, dtype=np.int64), "nJet": np.ones(3, np.int32)})
    return str(path)


def _delphes_no_particle(tmp):
    path = tmp / "delphes_bad.root"
    with uproot.recreate(path) as f:
        f.mktree("Delphes", {"Event.Number": np.int64})
        f["Delphes"].extend({"Event.Number": np.arange(3, dtype=np.int64)})
    return str(path)


def _delphes_flat(tmp):
    """A Delphes-like tree written by uproot: flat 'Particle.PID' branches, not Delphes' split
    'Particle/Particle.PID' (uproot and build-dataset read it; coffea's DelphesSchema cannot)."""
    import awkward as ak

    src = uproot.open(SAMPLE)["Delphes"]
    names = ["Event.Number"] + [f"Particle.{leaf}" for leaf in ("PID", "Status", "Px", "Py", "Pz", "E")]
    groups: dict[str, dict] = {}
    for name, values in src.arrays(names, how=dict).items():
        collection, leaf = name.split(".")
        groups.setdefault(collection, {})[leaf] = values
    data = {c: ak.zip(d) for c, d in groups.items()}
    path = tmp / "delphes_flat.root"
    with uproot.recreate(path) as f:
        f.mktree("Delphes", {c: v.type.content for c, v in data.items()},
                 field_name=lambda outer, inner: f"{outer}.{inner}", counter_name=lambda c: f"{c}_size")
        f["Delphes"].extend(data)
    return str(path)


def _ckpt(tmp, name, edit):
    ckpt = torch.load(FASTSIM, weights_only=True)
    edit(ckpt)
    torch.save(ckpt, tmp / name)
    return str(tmp / name)


def _r08(tmp):
    """A fast-sim output relabelled R = 0.8: compared with an R = 0.5 reference."""
    out = tmp / "r08.h5"
    shutil.copy(EXPECTED, out)
    with h5py.File(out, "r+") as f:
        f.attrs["R"] = 0.8
    return str(out)


def _lock(tmp):
    (tmp / "out").mkdir()
    (tmp / "out" / "keep.txt").write_text("previous good output")
    (tmp / ".out.lock").write_text(f"{socket.gethostname()} {os.getpid()}")  # a live writer
    return str(tmp / "out")


def _existing_dir(tmp):
    (tmp / "ev").mkdir()
    (tmp / "ev" / "metrics.md").write_text("previous good output")
    return str(tmp / "ev")


def _existing(tmp, name="out.h5"):
    (tmp / name).write_bytes(b"previous good output")
    return str(tmp / name)


# (id, argv builder (tmp → argv), substring the one line must contain)
CASES = [
    ("simulate-output-is-input", lambda t: ["simulate", FASTSIM, (i := _copy(EXPECTED, t / "d.h5")), "-o", i], "also an input"),
    ("build-output-is-input", lambda t: ["build-dataset", (i := _copy(SAMPLE, t / "d.root")), "-o", i], "also an input"),
    ("simulate-existing-output", lambda t: ["simulate", FASTSIM, str(EXPECTED), "-o", _existing(t)], "--overwrite"),
    ("simulate-missing-folder", lambda t: ["simulate", FASTSIM, str(EXPECTED), "-o", str(t / "no" / "x.h5")], "does not exist"),
    ("run-plain-nanoaod", lambda t: ["run", _plain_nanoaod(t), "-o", str(t / "o")], "GenCands"),
    ("run-delphes-missing-branches", lambda t: ["run", _delphes_no_particle(t), "-o", str(t / "o")], "Particle.PID"),
    ("run-delphes-written-by-uproot", lambda t: ["run", _delphes_flat(t), "-o", str(t / "o")], "split layout"),
    ("run-generator-checkpoint", lambda t: ["run", str(SAMPLE), "--checkpoint", GENERATOR, "-o", str(t / "o")], "generator checkpoint"),
    ("run-device-cuda", lambda t: ["run", str(SAMPLE), "--device", "cuda:7", "-o", str(t / "o")], "cuda"),
    ("simulate-wrong-shape", lambda t: ["simulate", FASTSIM, _h5(t, "w.h5", _wrong_shape), "-o", str(t / "x.h5")], "shapes"),
    ("simulate-no-event-number", lambda t: ["simulate", FASTSIM, _h5(t, "e.h5", lambda f: f.__delitem__("event_number")), "-o", str(t / "x.h5")], "event_number"),
    ("checkpoint-missing-keys", lambda t: ["simulate", _ckpt(t, "k.pt", lambda c: c.pop("state_dict")), str(EXPECTED), "-o", str(t / "x.h5")], "state_dict"),
    ("checkpoint-unknown-model", lambda t: ["simulate", _ckpt(t, "u.pt", lambda c: c.update(model="nosuchmodel")), str(EXPECTED), "-o", str(t / "x.h5")], "nosuchmodel"),
    ("checkpoint-not-torch", lambda t: ["simulate", _copy(SAMPLE, t / "x.pt"), str(EXPECTED), "-o", str(t / "x.h5")], "not a readable checkpoint"),
    ("fileset-malformed", lambda t: ["run", "--fileset", (t / "fs.json").as_posix(), "-o", str(t / "o")] if (t / "fs.json").write_text("{not json") else [], "not valid JSON"),
    ("fileset-wrong-structure", lambda t: ["run", "--fileset", (t / "fs2.json").as_posix(), "-o", str(t / "o")] if (t / "fs2.json").write_text(json.dumps({"ww": 3})) else [], "must list file paths"),
    ("run-chunksize-0", lambda t: ["run", str(SAMPLE), "--chunksize", "0"], "--chunksize"),
    ("run-workers-0", lambda t: ["run", str(SAMPLE), "--workers", "0"], "--workers"),
    ("run-R-negative", lambda t: ["run", str(SAMPLE), "--R", "-0.4"], "--R"),
    ("run-R-huge", lambda t: ["run", str(SAMPLE), "--R", "40"], "--R"),
    ("build-R-zero", lambda t: ["build-dataset", str(SAMPLE), "--R", "0", "-o", str(t / "x.h5")], "--R"),
    ("build-n-particles-0", lambda t: ["build-dataset", str(SAMPLE), "--n-particles", "0", "-o", str(t / "x.h5")], "--n-particles"),
    ("build-file-twice", lambda t: ["build-dataset", str(SAMPLE), os.path.join(os.path.dirname(SAMPLE), ".", SAMPLE.name), "-o", str(t / "x.h5")], "given more than once"),
    ("build-two-formats", lambda t: ["build-dataset", str(SAMPLE), str(shipped.sample("cms_pfnano_10events.root")), "-o", str(t / "x.h5")], "different formats"),
    ("train-file-twice", lambda t: ["train", "mcflow", "--data", str(EXPECTED), (i := _copy(EXPECTED, t / "d.h5")), os.path.relpath(i), "-o", str(t / "m.pt")], "given more than once"),
    ("evaluate-file-twice", lambda t: ["evaluate", "--reference", str(EXPECTED), str(EXPECTED), "-o", str(t / "ev")], "given more than once"),
    ("train-zero-jets", lambda t: ["train", "fastsim-fm", "--data", _empty_h5(t), "-o", str(t / "m.pt"), "--epochs", "1"], "no jets"),
    ("train-malformed-config", lambda t: ["train", "mcflow", "--data", str(EXPECTED), "--config", (t / "c.json").as_posix(), "-o", str(t / "m.pt")] if (t / "c.json").write_text("[1, 2") else [], "not valid JSON"),
    ("train-config-unknown-key", lambda t: ["train", "mcflow", "--data", str(EXPECTED), "--config", (t / "c2.json").as_posix(), "-o", str(t / "m.pt")] if (t / "c2.json").write_text(json.dumps({"model": {"nosuch": 1}})) else [], "do not fit"),
    ("train-unknown-preset", lambda t: ["train", "mcflow", "--data", str(EXPECTED), "--preset", "table9", "-o", str(t / "m.pt")], "table9"),
    ("train-existing-output", lambda t: ["train", "mcflow", "--data", str(EXPECTED), "-o", _existing(t, "m.pt")], "--overwrite"),
    ("tune-bad-storage", lambda t: ["tune", "mcflow", "--data", str(EXPECTED), "--study", "s", "--storage", "notaurl", "--trials", "1"], "notaurl"),
    ("simulate-nan-momenta", lambda t: ["simulate", FASTSIM, _h5(t, "nan.h5", _nan_h5), "-o", str(t / "x.h5")], "non-finite"),
    ("simulate-mismatched-R", lambda t: ["simulate", FASTSIM, _r08(t), "-o", str(t / "x.h5")], "R = 0.8"),
    ("evaluate-mismatched-R", lambda t: ["evaluate", _r08(t), "--reference", str(EXPECTED), "--split", "all", "-o", str(t / "ev")], "R = 0.8"),
    ("evaluate-generation-too-small", lambda t: ["evaluate", "--reference", str(EXPECTED), "--mode", "generation", "-o", str(t / "ev")], "at least"),
    ("evaluate-existing-output", lambda t: ["evaluate", "--reference", str(EXPECTED), "-o", _existing_dir(t)], "--overwrite"),
    ("sample-too-many", lambda t: ["sample", GENERATOR, "-n", "1000000000", "-o", str(t / "s.h5")], "-n 1000000000"),
    ("sample-zero", lambda t: ["sample", GENERATOR, "-n", "0", "-o", str(t / "s.h5")], "-n"),
    ("sample-fastsim-checkpoint", lambda t: ["sample", FASTSIM, "-n", "10", "-o", str(t / "s.h5")], "needs a generator"),
    ("sample-unknown-checkpoint", lambda t: ["sample", "nosuchmodel", "-n", "10", "-o", str(t / "s.h5")], "nosuchmodel"),
    ("run-file-twice", lambda t: ["run", str(SAMPLE), str(SAMPLE), "-o", str(t / "o")], "more than once"),
    ("run-missing-file", lambda t: ["run", str(t / "missing.root"), "-o", str(t / "o")], "missing.root: no such file"),
    ("run-not-root", lambda t: ["run", _copy(EXPECTED, t / "notroot.root"), "-o", str(t / "o")], "not a readable ROOT file"),
    ("run-into-locked-folder", lambda t: ["run", str(SAMPLE), "-o", _lock(t), "--overwrite"], "another hepgen process"),
    ("run-existing-output", lambda t: ["run", str(SAMPLE), "-o", str(t)], "--overwrite"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path, capsys):
    _, make_argv, expected = case
    work = tmp_path / "work"
    work.mkdir()
    argv = make_argv(work)
    assert argv, "case set-up failed"
    before = _digest(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert expected in lines[0], lines[0]
    # nothing destroyed, nothing partial left behind (lock files of other processes stay)
    assert _digest(tmp_path) == before


def test_a_killed_writers_lock_is_taken_over(tmp_path):
    """A writer killed by a signal leaves its lock and its partial folder behind; the next run
    into that folder takes the lock over and clears the debris, while a lock of a live process
    (or of another machine) still refuses."""
    from hepgen.errors import HepgenInputError
    from hepgen.outputs import atomic_dir

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    out = tmp_path / "out"
    (tmp_path / ".out.lock").write_text(f"{socket.gethostname()} {int(dead.stdout)}")
    (tmp_path / ".out.abc123.part").mkdir()
    with atomic_dir(out) as tmp:
        (tmp / "new.txt").write_text("done")
    assert (out / "new.txt").read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    for holder in (f"{socket.gethostname()} {os.getpid()}", f"another-host {int(dead.stdout)}"):
        (tmp_path / ".out.lock").write_text(holder)
        with pytest.raises(HepgenInputError, match="another hepgen process"):
            with atomic_dir(out):
                pass
        assert (tmp_path / ".out.lock").read_text() == holder


def test_interrupted_write_keeps_the_previous_output(tmp_path, monkeypatch):
    """Ctrl-C while an HDF5 output is written leaves the previous file intact and no partial file."""
    out = tmp_path / "out.h5"
    shutil.copy(EXPECTED, out)
    before = out.read_bytes()
    pairs = h5.read(EXPECTED)

    real = h5py.Group.create_dataset

    def interrupted(self, name, *a, **k):
        if name == "match_dr":
            raise KeyboardInterrupt
        return real(self, name, *a, **k)

    monkeypatch.setattr(h5py.Group, "create_dataset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        h5.write(out, pairs)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5"]


def test_library_refuses_nan_input():
    import hepgen

    gen = h5.read(EXPECTED).gen.constituents[:5].copy()
    gen[2, 1, 0] = np.nan
    with pytest.raises(hepgen.HepgenInputError, match="1 jet.*non-finite.*jet 2"):
        hepgen.simulate(gen)


def test_non_ascii_paths_work(tmp_path):
    folder = tmp_path / "données_é"
    folder.mkdir()
    sample = folder / "échantillon.root"
    shutil.copy(SAMPLE, sample)
    assert main(["run", str(sample), "-o", str(folder / "sortie"), "--chunksize", "25"]) == 0
    assert (folder / "sortie" / "fidelity.md").exists()
    # reached through an ASCII link for coffea, but reported under its own name
    summary = json.loads((folder / "sortie" / "files.json").read_text())
    assert list(summary["files"]) == [str(sample)] and summary["skipped_files"] == []


def test_files_of_one_name_in_two_folders_stay_apart(tmp_path, capsys):
    """files.json is keyed by path: two runs' ``sample.root`` from two folders are not merged
    (they were, by base name, before); a file twice in one dataset is refused, a file in two
    datasets is said to be processed once for each."""
    from hepgen.errors import HepgenInputError
    from hepgen.run import load_fileset, run_processor, short_names

    a, b = tmp_path / "a" / "sample.root", tmp_path / "b" / "sample.root"
    for f in (a, b):
        f.parent.mkdir()
        shutil.copy(SAMPLE, f)
    acc = run_processor(
        load_fileset([str(a), str(b)], None), shipped.DEFAULT_FASTSIM, chunksize=25
    )
    assert set(acc["files"]) == {str(a), str(b)}
    assert [d["events"] for d in acc["files"].values()] == [25, 25]
    assert short_names([str(a), str(b), "c/other.root"]) == {
        str(a): str(a), str(b): str(b), "c/other.root": "other.root"
    }
    with pytest.raises(HepgenInputError, match="lists .*sample.root more than once"):
        load_fileset([str(a), str(tmp_path / "a" / ".." / "a" / "sample.root")], None)
    fs = tmp_path / "fileset.json"
    fs.write_text(json.dumps({"all": [str(a), str(b)], "signal": [str(a)]}))
    assert load_fileset(None, str(fs)) == {"all": [str(a), str(b)], "signal": [str(a)]}
    assert "in datasets 'all', 'signal': it is processed once for each" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, capsys):
    rc = main(["--debug", "run", str(tmp_path / "missing.root"), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" in err and "missing.root: no such file" in err.splitlines()[-1]


def test_every_cli_option_says_what_it_does():
    """``hepgen CMD --help`` explains every option and argument of every subcommand."""
    import argparse

    from hepgen.cli import make_parser

    sub = next(a for a in make_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [
        f"{cmd} {'/'.join(a.option_strings) or a.dest}"
        for cmd, parser in sub.choices.items()
        for a in parser._actions
        if not a.help and not isinstance(a, argparse._HelpAction)
    ]
    assert len(sub.choices) >= 7
    assert not bare, f"options without help: {bare}"
    # hepgen run's default chunk size is the library's (the CLI does not import coffea to know it)
    from hepgen.run import DEFAULT_CHUNKSIZE

    run = sub.choices["run"]
    assert run.get_default("chunksize") == DEFAULT_CHUNKSIZE and f"default {DEFAULT_CHUNKSIZE}" in run.format_help()
