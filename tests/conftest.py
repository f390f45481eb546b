"""Shared fixtures: chains, settings, an API client, a throw-away PostgreSQL database,
and a `furusato run` server process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from backend.core.config import Settings
from minting.anvil import free_port
from minting.chains import Chain, connect
from minting.compiler import CompiledTree, compile_contracts

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
FURUSATO = [sys.executable, "-m", "backend.cli"]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://root@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def compiled() -> CompiledTree:
    """The repository's contracts, compiled once per run (or loaded from the cache)."""
    return compile_contracts()


@pytest.fixture
def eth_tester_chain() -> Iterator[Chain]:
    with connect("eth-tester://") as chain:
        yield chain


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an app on a fresh eth-tester chain and a SQLite file in tmp_path."""
    return Settings(chain="eth-tester://", data_dir=tmp_path / "data")


def _postgres_admin_url() -> str:
    return os.environ.get("FURUSATO_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped afterwards.

    Skips when no server answers, unless FURUSATO_REQUIRE_POSTGRES=1 (CI), where it fails.
    """
    admin_url = make_url(_postgres_admin_url()).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        admin.dispose()
        if os.environ.get("FURUSATO_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {admin_url.render_as_string()}: {exc}")
        pytest.skip(f"no PostgreSQL at {admin_url.render_as_string()}")
    name = f"furusato_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class ServerProcess:
    """`furusato run` in a child process, stopped with SIGINT like Ctrl-C."""

    def __init__(self, args: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [*FURUSATO, "run", "--port", str(port), *args],
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        # Read what the server prints as it prints it: a pipe nobody reads fills at 64 KiB, and
        # then every server thread that logs blocks on the write (requests hang mid-test).
        self._printed: list[str] = []
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._printed.append(line)

    def output(self) -> str:
        """What the server has printed so far (all of it, once it has exited)."""
        if self.process.poll() is not None:
            self._reader.join(timeout=10)
        return "".join(self._printed)

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                response = requests.get(f"{self.url}/healthz", timeout=2)
                if response.status_code == 200:
                    body: dict[str, object] = response.json()
                    return body
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not healthy within {timeout} s")

    def stop(self) -> str:
        """Stop like Ctrl-C; return everything the server printed."""
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()


@pytest.fixture
def start_server() -> Iterator[object]:
    """Factory: `start_server(args)` starts `furusato run` on a free port; all stopped at the end."""
    servers: list[ServerProcess] = []

    def _start(args: list[str], env: dict[str, str] | None = None) -> ServerProcess:
        server = ServerProcess(args, free_port(), env)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop()
