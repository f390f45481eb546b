"""The code's own rules, enforced by the test suite: lint, types, layering, exports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import minting

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(command: list[str]) -> None:
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_minting_never_imports_backend() -> None:
    offenders = []
    for path in (REPO_ROOT / "minting").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "backend"]
    assert offenders == []


def test_public_names_exist() -> None:
    for name in minting.__all__:
        assert hasattr(minting, name), name
    assert sorted(minting.__all__) == sorted(set(minting.__all__))
