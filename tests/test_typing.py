"""``hepgen/py.typed`` tells type checkers to trust the package's annotations: this keeps them
true. mypy checks the package as installed, and the benchmarks and scripts that use it — the
commands behind RESULTS.md, which would otherwise break unseen when an API they call changes (its
settings: pyproject.toml ``[tool.mypy]``; the scientific stack without type information is named
there)."""

from __future__ import annotations

from pathlib import Path

import hepgen

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "pyproject.toml"


def test_the_package_and_its_tools_type_check(tmp_path) -> None:
    from mypy import api  # in the test extra

    assert (Path(hepgen.__file__).parent / "py.typed").is_file()
    common = ["--config-file", str(CONFIG), "--cache-dir", str(tmp_path), "--no-error-summary"]
    tools = sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "scripts").rglob("*.py"))
    for what in (["-p", "hepgen"], [str(p) for p in tools]):
        stdout, stderr, status = api.run(common + what)
        errors = [line for line in stdout.splitlines() if ": error:" in line]
        assert status == 0 and not errors, "\n".join(errors[:40]) or stdout + stderr
