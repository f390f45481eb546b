"""What the HTTP benchmarks share: a `furusato run` to measure, many clients driving it, the
no-op baseline, latency figures, and a throw-away PostgreSQL database.

Each benchmark measures its endpoint beside `/api/v1/ping` (an endpoint that does nothing) on
the same server, with the same clients, in the same run, so the ratio between the two holds
on a busy machine where absolute figures do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from minting.anvil import free_port  # noqa: E402

#: One call of what is measured: given the client's own HTTP session and the call's index,
#: the outcome to count ("ok", an error code…).
Action = Callable[[requests.Session, int], str]


@dataclass
class Figures:
    """Latencies (seconds) and outcomes of one driven phase."""

    seconds: float
    latencies: list[float]
    outcomes: Counter[str]

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, fraction: float) -> float:
        """Milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    def line(self, name: str) -> str:
        return (
            f"{name:<22} {self.per_second:8.1f}/s  p50 {self.percentile(0.5):7.1f} ms"
            f"  p99 {self.percentile(0.99):7.1f} ms  {dict(self.outcomes)}"
        )


def drive(clients: int, count: int, action: Action) -> Figures:
    """`count` calls of `action` spread over `clients` threads, each with its own HTTP session."""
    local = threading.local()
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def one(index: int) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        started = time.perf_counter()
        outcome = action(local.session, index)
        elapsed = time.perf_counter() - started
        with lock:
            latencies.append(elapsed)
            outcomes[outcome] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(count)))
    return Figures(time.perf_counter() - started, latencies, outcomes)


def ping(url: str) -> Action:
    """The baseline: `/api/v1/ping`, which does nothing."""

    def action(session: requests.Session, _index: int) -> str:
        return "ok" if session.get(f"{url}/api/v1/ping", timeout=60).status_code == 200 else "error"

    return action


@contextmanager
def running_server(
    data_dir: str, database_url: str | None = None, env: Mapping[str, str] | None = None, timeout: float = 180.0
) -> Iterator[str]:
    """A `furusato run` (anvil, demo town) on a free port, healthy; yields its base URL and
    stops it (SIGINT, so anvil dumps its state) on the way out."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "backend.cli", "run", "--port", str(port), "--data-dir", data_dir]
    if database_url:
        command += ["--database-url", database_url]
    server = subprocess.Popen(
        command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"furusato run did not start (exit {server.poll()})")
            try:
                if requests.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        yield url
    finally:
        server.send_signal(2)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()


def postgres_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    """A new, empty database on the server of `admin_url`, and the function that drops it."""
    admin = create_engine(make_url(admin_url).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    name = f"furusato_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False), drop
