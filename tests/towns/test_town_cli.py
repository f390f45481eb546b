"""`furusato town add --data-dir DIR` beside a running `furusato run` on anvil: it uses that
deployment's database and node (no second anvil, no other option), refuses bad input with one
line and exit code 2, and finishes without a second deployment when killed midway."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from web3 import Web3

from minting.anvil import NODE_FILE
from minting.store import OnceAttemptRow, OnceTxRow
from tests.conftest import FURUSATO, REPO_ROOT

pytestmark = pytest.mark.anvil


def _town_add(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("FURUSATO_")}
    return subprocess.run(
        [*FURUSATO, "town", "add", *args, "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _sakura(slug: str = "sakura") -> list[str]:
    return ["--slug", slug, "--name-ja", "桜町", "--name-en", "Sakura Town", "--prefecture", "06"]


def _one_line_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("furusato: error:")
    assert expected in line


def test_town_add_against_a_running_deployment(tmp_path: Path, start_server: Any) -> None:
    server = start_server(["--data-dir", str(tmp_path)])
    health = server.wait_healthy()
    node = json.loads((tmp_path / NODE_FILE).read_text())
    recorded = json.loads((tmp_path / "deployment.json").read_text())
    assert recorded["public_url"] == server.url

    started = time.monotonic()
    treasury = "0x" + "ab" * 20
    added = _town_add(tmp_path, *_sakura(), "--treasury", treasury)
    elapsed = time.monotonic() - started
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("town sakura added: ResidentCard 0x"), added.stdout
    print(f"town add against a running deployment: {elapsed:.1f} s ({added.stdout.strip()})")

    # The server's own node served it: still the same process, the server still healthy.
    assert json.loads((tmp_path / NODE_FILE).read_text()) == node
    assert server.wait_healthy()["chain_id"] == health["chain_id"]
    towns = requests.get(f"{server.url}/api/v1/municipalities", timeout=5).json()["items"]
    assert [town["slug"] for town in towns] == ["hoshikawa", "sakura"]

    engine = create_engine(f"sqlite:///{tmp_path}/furusato.db")
    with Session(engine) as session:
        card = session.scalar(select(OnceTxRow).where(OnceTxRow.purpose == "town:sakura:ResidentCard:deploy"))
        assert card is not None
        assert card.contract_address is not None
        assert card.contract_address in added.stdout
    w3 = Web3(Web3.HTTPProvider(node["url"]))
    assert len(w3.eth.get_code(Web3.to_checksum_address(card.contract_address))) > 0

    _one_line_error(_town_add(tmp_path, *_sakura()), "slug 'sakura' is taken")
    _one_line_error(_town_add(tmp_path, *_sakura("hoshikawa")), "slug 'hoshikawa' is taken")
    _one_line_error(_town_add(tmp_path, *_sakura("ume"), "--treasury", "0x12"), "bad treasury address '0x12'")
    bad_prefecture = ["--slug", "ume", "--name-ja", "梅町", "--name-en", "Ume", "--prefecture", "99"]
    _one_line_error(_town_add(tmp_path, *bad_prefecture), "bad prefecture '99'")

    # Killed after the second broadcast (NamingRights sent, receipt not read), then run again.
    killed = _town_add(tmp_path, *_sakura("kaede"), env={"FURUSATO_FAILPOINT": "once_after_broadcast:2"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    finished = _town_add(tmp_path, *_sakura("kaede"))
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.startswith("town kaede finished adding:"), finished.stdout
    with Session(engine) as session:
        purposes = session.scalars(select(OnceTxRow.purpose).where(OnceTxRow.purpose.like("town:kaede:%"))).all()
        assert sorted(purposes) == [f"town:kaede:{name}" for name in (
            "NamingRights:base-uri", "NamingRights:deploy", "ResidentCard:base-uri", "ResidentCard:deploy"
        )]  # fmt: skip
        attempts = session.scalars(
            select(OnceAttemptRow)
            .join(OnceTxRow, OnceTxRow.id == OnceAttemptRow.once_tx_id)
            .where(OnceTxRow.purpose.like("town:%"))
        ).all()
        assert len(attempts) == 8  # sakura's 4 and kaede's 4: nothing signed twice (the demo's own apart)
    engine.dispose()
    towns = requests.get(f"{server.url}/api/v1/municipalities", timeout=5).json()["items"]
    assert [town["slug"] for town in towns] == ["hoshikawa", "sakura", "kaede"]
