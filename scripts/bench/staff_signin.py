"""Staff sign-in benchmark: from asking for a code to the console's home answering.

    .venv/bin/python scripts/bench/staff_signin.py [--runs N]

Starts `furusato run` on an eth-tester chain in a throw-away data directory (its demo owner,
owner@hoshikawa.example, is seeded), then for each run: `POST /api/v1/staff/sign-in`, waits
for the code's .eml in the data directory's mail folder, `POST /api/v1/staff/session` with
the code, `GET /api/v1/staff/me` and `GET /api/v1/staff/towns/hoshikawa/home` with the new
Bearer token. Prints the median of the whole path and of each step, against a baseline from
the same server in the same run: one `GET /healthz` round trip.
"""

from __future__ import annotations

import argparse
import email
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from email.policy import default as default_policy
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from minting.anvil import free_port  # noqa: E402

OWNER = "owner@hoshikawa.example"
CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"furusato run exited with {process.returncode}")
        try:
            if requests.get(f"{base}/healthz", timeout=1).json().get("status") == "ok":
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise SystemExit("furusato run did not become healthy in 120 s")


def wait_code(mail_dir: Path, seen: set[Path]) -> str:
    """The 6-digit code of the first new .eml (the server writes it after answering 202)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        new = sorted(set(mail_dir.glob("*.eml")) - seen) if mail_dir.exists() else []
        if new:
            message = email.message_from_bytes(new[0].read_bytes(), policy=default_policy)
            found = CODE.search(str(message["Subject"] or ""))
            if found:  # else the file is still being written: read it again
                seen.add(new[0])
                return found.group(1)
        time.sleep(0.005)
    raise SystemExit("no code mail within 30 s")


def one_sign_in(base: str, mail_dir: Path, seen: set[Path]) -> dict[str, float]:
    steps: dict[str, float] = {}
    started = time.perf_counter()
    mark = started
    assert requests.post(f"{base}/api/v1/staff/sign-in", json={"email": OWNER}, timeout=10).status_code == 202
    code = wait_code(mail_dir, seen)
    now = time.perf_counter()
    steps["code mailed"], mark = now - mark, now
    session = requests.post(f"{base}/api/v1/staff/session", json={"email": OWNER, "code": code}, timeout=10)
    assert session.status_code == 200, session.text
    headers = {"Authorization": f"Bearer {session.json()['token']}"}
    now = time.perf_counter()
    steps["session"], mark = now - mark, now
    me = requests.get(f"{base}/api/v1/staff/me", headers=headers, timeout=10)
    home = requests.get(f"{base}/api/v1/staff/towns/hoshikawa/home", headers=headers, timeout=10)
    assert me.status_code == 200, me.text
    assert home.status_code == 200, home.text
    now = time.perf_counter()
    steps["me + home"] = now - mark
    steps["sign-in to home"] = now - started
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="sign-ins (at most 5: the per-address code limit)")
    args = parser.parse_args()
    runs = min(args.runs, 5)
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "run",
                "--chain",
                "eth-tester://",
                "--data-dir",
                data_dir,
                "--port",
                str(port),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_healthy(base, process)
            baseline = []
            for _ in range(20):
                started = time.perf_counter()
                requests.get(f"{base}/healthz", timeout=10).raise_for_status()
                baseline.append(time.perf_counter() - started)
            seen: set[Path] = set()
            results = [one_sign_in(base, Path(data_dir) / "mail", seen) for _ in range(runs)]
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    base_s = statistics.median(baseline)
    print(f"baseline GET /healthz          median {base_s * 1000:7.1f} ms")
    for step in results[0]:
        median = statistics.median(result[step] for result in results)
        print(f"{step:<30} median {median * 1000:7.1f} ms  ({median / base_s:5.1f}x the baseline, {runs} runs)")


if __name__ == "__main__":
    main()
