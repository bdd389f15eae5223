"""The notebooks run top to bottom on the shipped sample and checkpoints (nbclient), from a
folder outside the repository, and show their figures inline."""

from __future__ import annotations

import nbformat
import pytest


def _notebooks():
    from pathlib import Path

    return sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", _notebooks(), ids=[p.name for p in _notebooks()])
def test_notebook_executes(path, tmp_path, monkeypatch, repo_root):
    from nbclient import NotebookClient

    shared = repo_root.parent / "shared" / "data"
    if shared.exists():
        monkeypatch.setenv("HEPGEN_SHARED_DATA", str(shared))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "pass the dijet selection" in text or "generated" in text
    if path.name == "fastsim_dijet.ipynb":  # the demo's true pile-up (vertices) beside the model's
        assert "pile-up: the file's <mu> = 50.5, the fast-sim's training sample's 50" in text
    # importing hepgen must not switch matplotlib off inline figures
    assert any("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")
