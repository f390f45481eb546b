"""Start-up benchmark: compile (cold vs cached) and `furusato run` to a healthy /healthz.

    .venv/bin/python scripts/bench/startup.py [--runs N]

Prints each figure with its baseline from the same run:
- compile: a cold compile (empty build folder, the real compiler) vs a cached one;
- start-up: first start (start anvil, compile from cache, deploy) vs a restart on the same
  data directory (no deploy), both measured from process start to `status: ok`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from minting.anvil import free_port  # noqa: E402
from minting.compiler import CONTRACTS_DIR, compile_contracts, resolve_solc_binary  # noqa: E402


def time_compile(runs: int) -> tuple[list[float], list[float]]:
    cold, cached = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as build:
            started = time.perf_counter()
            assert not compile_contracts(CONTRACTS_DIR, Path(build)).from_cache
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert compile_contracts(CONTRACTS_DIR, Path(build)).from_cache
            cached.append(time.perf_counter() - started)
    return cold, cached


def time_to_healthy(data_dir: Path) -> tuple[float, dict[str, object]]:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "run", "--data-dir", str(data_dir), "--port", str(port)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"furusato run exited with {process.returncode}")
            try:
                response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                if response.status_code == 200 and response.json()["status"] == "ok":
                    return time.perf_counter() - started, response.json()
            except requests.RequestException:
                pass
            time.sleep(0.02)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)


def _runs(seconds: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    print(f"compiler: {resolve_solc_binary()}  (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    cold, cached = time_compile(args.runs)
    cold_s, cached_s = statistics.median(cold), statistics.median(cached)
    print(f"compile cold   median {cold_s:7.3f} s  (runs: {_runs(cold)})")
    print(f"compile cached median {cached_s:7.3f} s  -> {cold_s / cached_s:.0f}x faster than cold")

    first, restart = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as data_dir:
            seconds, health = time_to_healthy(Path(data_dir))
            first.append(seconds)
            seconds, again = time_to_healthy(Path(data_dir))
            restart.append(seconds)
            assert again["contracts"] == health["contracts"], "restart redeployed"
            assert int(again["block"]) >= int(health["block"]), "block height went down"  # type: ignore[call-overload]
    first_s, restart_s = statistics.median(first), statistics.median(restart)
    print(f"first start to healthy   median {first_s:6.2f} s  (runs: {_runs(first)})")
    print(f"restart to healthy       median {restart_s:6.2f} s  -> {restart_s / first_s:.2f}x of first start")


if __name__ == "__main__":
    main()
