"""The layering is a contract: noscope_cli > pipelines > noscope_core, checked by import-linter (pyproject.toml)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path, config: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    cmd = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]
    cmd += ["--config", str(config), "--no-cache"]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    out = lint_imports(REPO_ROOT, REPO_ROOT / "pyproject.toml", REPO_ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_lower_layer_importing_an_upper_one_breaks_the_contract(tmp_path):
    # The same contract shape on a two-package tree whose lower floor reaches up: the tool must say so.
    for pkg, body in (("upper", ""), ("lower", "import upper\n")):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(body)
    config = tmp_path / "contracts.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["upper", "lower"]

            [[tool.importlinter.contracts]]
            name = "upper over lower"
            type = "layers"
            layers = ["upper", "lower"]
            """
        )
    )
    out = lint_imports(tmp_path, config, tmp_path)
    assert out.returncode != 0
    assert "BROKEN" in out.stdout
