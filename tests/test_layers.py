"""hepgen's layers run one way: io → physics → data / metrics → models → train / inference →
simulation, sampling → evaluation, processors → run → commands → cli. A module may import from
its own layer or below, never above (and the training stack never reaches the workers)."""

from __future__ import annotations

import ast
from pathlib import Path

import hepgen

LAYER = {
    "errors": 0, "outputs": 0, "io": 1, "physics": 2, "metrics": 3, "data": 3, "losses": 4,
    "models": 4, "shipped": 4, "train": 5, "inference": 5, "plotting": 5, "simulation": 6,
    "sampling": 6, "evaluation": 7, "processors": 7, "run": 8, "commands": 9, "cli": 10,
}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hepgen."):
            yield node.lineno, node.module.split(".")[1]
        elif isinstance(node, ast.ImportFrom) and node.module == "hepgen":
            for alias in node.names:
                yield node.lineno, alias.name


def test_imports_run_one_way():
    root = Path(hepgen.__file__).parent
    upward = []
    for path in sorted(root.rglob("*.py")):
        top = path.relative_to(root).with_suffix("").parts[0]
        if top not in LAYER:
            continue
        upward += [
            f"{path.relative_to(root)}:{line} imports hepgen.{target}"
            for line, target in _imports(path)
            if target in LAYER and LAYER[target] > LAYER[top]
        ]
    assert not upward, upward
    assert set(LAYER) >= {p.stem for p in root.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").exists() and p.name != "resources"
    }


def test_inference_does_not_load_the_training_stack():
    import subprocess
    import sys

    code = (
        "import sys, hepgen.inference, hepgen.processors; "
        "print([m for m in sys.modules if m.startswith(('hepgen.train', 'optuna'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
