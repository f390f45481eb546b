"""`furusato` from the outside: bad configuration exits with one line; a run survives restarts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import FURUSATO, REPO_ROOT


def _furusato(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [*FURUSATO, *args],
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("furusato: error:")]
    assert len(error_lines) == 1, result.stderr
    assert expected in error_lines[0]


def test_help_lists_every_command() -> None:
    result = _furusato("--help")
    assert result.returncode == 0
    for command in ("run", "compile", "deploy", "seed-demo"):
        assert command in result.stdout
    assert "FURUSATO_CHAIN" in _furusato("run", "--help").stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--chain", "ftp://x"], "unsupported chain URL 'ftp://x'"),
        (["--chain", "http://127.0.0.1:1"], "cannot reach an Ethereum node at http://127.0.0.1:1"),
        (["--database-url", "nonsense://"], "unsupported database URL 'nonsense://'"),
        (["--database-url", "postgresql://root@127.0.0.1:1/x"], "cannot open database"),
    ],
)
def test_run_with_bad_configuration_exits_with_one_line(args: list[str], expected: str, tmp_path: Path) -> None:
    _assert_one_line_error(_furusato("run", "--data-dir", str(tmp_path), *args), expected)


def test_run_outside_demo_mode_needs_a_real_secret(tmp_path: Path) -> None:
    result = _furusato("run", "--no-demo", "--data-dir", str(tmp_path))
    _assert_one_line_error(result, "FURUSATO_SECRET_KEY")


@pytest.mark.anvil
def test_run_refuses_a_manifest_from_another_chain(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"chain_id": 137, "artifact_key": "k", "deployer": "0x0", "deployed_at": "t", "contracts": {}})
    )
    result = _furusato("run", "--data-dir", str(tmp_path))
    _assert_one_line_error(result, "is for chain 137 but the node is chain 31337")


def test_run_without_anvil_binary_says_how_to_install(tmp_path: Path) -> None:
    result = _furusato("run", "--data-dir", str(tmp_path), env={"FURUSATO_ANVIL_BINARY": str(tmp_path / "none")})
    _assert_one_line_error(result, "npm ci")


def test_compile_reports_up_to_date() -> None:
    assert _furusato("compile").returncode == 0
    result = _furusato("compile")
    assert result.returncode == 0
    assert result.stdout.startswith("up to date: NamingRights, ResidentCard")


@pytest.mark.anvil
def test_run_restart_keeps_chain_database_and_addresses(tmp_path: Path, start_server: Any) -> None:
    first = start_server(["--data-dir", str(tmp_path)])
    health = first.wait_healthy()
    assert health["status"] == "ok"
    assert health["chain_id"] == 31337
    assert health["db"] == "ok"
    contracts = health["contracts"]
    assert set(contracts) == {"ResidentCard", "NamingRights"}
    towns = requests.get(f"{first.url}/api/v1/municipalities", timeout=5).json()
    output = first.stop()
    assert "deployed contracts on chain 31337" in output
    assert first.process.returncode == 0

    second = start_server(["--data-dir", str(tmp_path)])
    again = second.wait_healthy()
    assert again["contracts"] == contracts
    assert again["block"] >= health["block"]
    assert requests.get(f"{second.url}/api/v1/municipalities", timeout=5).json() == towns
    assert "reusing contracts on chain 31337" in second.stop()


@pytest.mark.anvil
def test_deploy_command_writes_a_manifest_that_run_reuses(tmp_path: Path, start_server: Any) -> None:
    result = _furusato("deploy", "--chain", "anvil://", "--data-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert result.stdout.startswith(f"deployed: ResidentCard at {manifest['contracts']['ResidentCard']['address']}")

    server = start_server(["--data-dir", str(tmp_path)])
    assert server.wait_healthy()["contracts"]["ResidentCard"] == manifest["contracts"]["ResidentCard"]["address"]
