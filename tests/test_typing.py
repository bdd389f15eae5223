"""``hepgen/py.typed`` tells type checkers to trust the package's annotations: this keeps them
true. mypy checks the package as installed (its settings: pyproject.toml ``[tool.mypy]``; the
scientific stack without type information is named there)."""

from __future__ import annotations

from pathlib import Path

import hepgen

CONFIG = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_package_type_checks() -> None:
    from mypy import api  # in the test extra

    assert (Path(hepgen.__file__).parent / "py.typed").is_file()
    stdout, stderr, status = api.run(
        ["--config-file", str(CONFIG), "--cache-dir", "/dev/null", "--no-error-summary", "-p", "hepgen"]
    )
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 0 and not errors, "\n".join(errors[:40]) or stdout + stderr
