"""Slither on contracts/: no untriaged High or Medium finding (see contracts/SLITHER.md).

Runs `scripts/slither.py`, which analyses a build-info made by our own compiler with the
Slither in `.venv-slither` (never downloading a solc), and checks from its report that
Slither really analysed our sources with its detectors, so a run that silently analysed
nothing cannot pass.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "slither.py"
SLITHER_BIN = REPO_ROOT / ".venv-slither" / "bin" / "slither"
CONTRACTS_DIR = REPO_ROOT / "contracts"


def test_slither_finds_no_untriaged_high_or_medium_issue(tmp_path: Path) -> None:
    if not SLITHER_BIN.is_file():
        pytest.fail(
            f"{SLITHER_BIN.relative_to(REPO_ROOT)} is missing: run `make .venv-slither/.installed` "
            "(Slither lives in its own virtualenv, from requirements-slither.lock)"
        )
    report_path = tmp_path / "slither-report.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--report", str(report_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{proc.stdout}\n{proc.stderr}".strip()
    assert proc.returncode == 0, f"scripts/slither.py exited {proc.returncode}:\n{output}"

    report: dict[str, Any] = json.loads(report_path.read_text())
    assert report["detectors_run"] >= 50, output
    assert report["contracts_analyzed"] >= 2, output
    ours = {path.relative_to(REPO_ROOT).as_posix() for path in CONTRACTS_DIR.rglob("*.sol")}
    assert ours, "no Solidity sources under contracts/"
    assert ours <= set(report["source_units"]), f"not analysed: {sorted(ours - set(report['source_units']))}"
    assert isinstance(report["findings"], list)
    for finding in report["findings"]:
        assert {"detector", "impact", "location", "ours", "triaged"} <= finding.keys()
    assert report["untriaged_blocking"] == [], output
