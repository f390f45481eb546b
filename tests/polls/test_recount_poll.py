"""scripts/recount_poll.py, run as a subprocess with the system's python (no virtualenv, so
nothing but the standard library): a ballot file chained by the server's own functions
recounts, from a path and from a URL; each kind of tampering — a changed, reordered, dropped
or repeated vote, a changed header, footer tally or head, a consistently rewritten file
against the published results, altered results — fails with a non-zero status naming it."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backend.polls.ballots import Counted, chain, receipt_of

REPO = Path(__file__).resolve().parents[2]
RECOUNT = REPO / "scripts" / "recount_poll.py"
POLL_ID = 42
CONTRACT_A = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CONTRACT_B = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
HEADER = [
    "furusato-ballots-1",
    f"poll: {POLL_ID}",
    "town: hoshikawa",
    "chain_id: 31337",
    "question_ja: 新しい足湯はどこに？",
    "question_en: Where should the new foot bath go?",
    "option 1 ja: 駅前",
    "option 1 en: By the station",
    "option 2 ja: 川沿い",
    "option 2 en: By the river",
    "series: all",
    "electorate: 10",
    "opened_at: 2027-04-01T00:00:00Z",
    "frozen_block: 1234",
    "closes_at: 2027-04-08T00:00:00Z",
    "closed_at: 2027-04-08T00:00:01Z",
    "quorum_percent: 50",
    "allow_change: yes",
]
NONCES = [f"{n:032x}" for n in range(1, 7)]
CARDS = [(CONTRACT_A, 1, 1), (CONTRACT_A, 2, 2), (CONTRACT_A, 10, 1), (CONTRACT_B, 3, 1), (CONTRACT_B, 7, 2)]


def system_python() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists():
            return candidate
    found = shutil.which("python3")
    assert found is not None
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [system_python(), "-I", str(RECOUNT), *args], capture_output=True, text=True, timeout=60, check=False
    )


def votes() -> list[Counted]:
    return [
        Counted(contract, token, choice, receipt_of(POLL_ID, contract, token, choice, NONCES[n]))
        for n, (contract, token, choice) in enumerate(CARDS)
    ]


def ballot_text(header: list[str], counted: list[Counted], revoked: int = 1) -> str:
    lines, head = chain(header, counted)
    tally = {1: sum(v.position == 1 for v in counted), 2: sum(v.position == 2 for v in counted)}
    footer = [f"votes: {len(counted)}", f"revoked_excluded: {revoked}"]
    footer += [f"count {p}: {c}" for p, c in tally.items()] + [f"head: {head}"]
    return "\n".join([*header, "", *lines, "", *footer]) + "\n"


def results_of(text: str) -> dict[str, Any]:
    head = text.rstrip("\n").rsplit("head: ", 1)[1]
    return {
        "poll_id": POLL_ID,
        "algorithm": "furusato-ballots-1",
        "municipality": "hoshikawa",
        "options": [
            {"option_id": 7, "position": 1, "label_ja": "駅前", "label_en": "By the station", "votes": 3},
            {"option_id": 8, "position": 2, "label_ja": "川沿い", "label_en": "By the river", "votes": 2},
        ],
        "votes_cast": 5,
        "electorate": 10,
        "revoked_excluded": 1,
        "eligible": 9,
        "turnout_percent": 55.56,
        "quorum_percent": 50,
        "quorum_met": True,
        "ballots_head": head,
    }


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, str]:
    text = ballot_text(HEADER, votes())
    ballots, results = tmp_path / "ballots.txt", tmp_path / "results.json"
    ballots.write_text(text, encoding="utf-8")
    results.write_text(json.dumps(results_of(text)))
    return ballots, results, text


def test_an_intact_file_recounts_and_matches_its_results(files: tuple[Path, Path, str]) -> None:
    ballots, results, _text = files
    receipt = votes()[3].receipt
    done = run(str(ballots), "--results", str(results), "--receipt", receipt, "--nonce", NONCES[3])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1. 駅前 / By the station: 3" in done.stdout
    assert "2. 川沿い / By the river: 2" in done.stdout
    assert "turnout 55.56 %, quorum 50 % met" in done.stdout
    assert f"card {CONTRACT_B}:3, choice 1" in done.stdout
    assert "the results agree" in done.stdout


@pytest.fixture
def served(tmp_path: Path, files: tuple[Path, Path, str]) -> Iterator[str]:
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_it_reads_urls(served: str) -> None:
    done = run(f"{served}/ballots.txt", "--results", f"{served}/results.json")
    assert done.returncode == 0, done.stdout + done.stderr
    missing = run(f"{served}/nothing.txt")
    assert missing.returncode == 2
    assert "404" in missing.stderr


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _swap_votes(text: str) -> str:
    lines = _lines(text)
    first = len(HEADER) + 1
    lines[first], lines[first + 1] = lines[first + 1], lines[first]
    return "\n".join(lines)


def _drop_vote(text: str, index: int) -> str:
    lines = _lines(text)
    del lines[len(HEADER) + 1 + index]
    return "\n".join(lines)


def _repeat_vote(text: str) -> str:
    lines = _lines(text)
    lines.insert(len(HEADER) + 2, lines[len(HEADER) + 1])
    return "\n".join(lines)


def _rewritten(_text: str) -> str:
    """A file whose chain is whole but whose votes differ (one choice flipped, every hash
    recomputed): only the published head shows it."""
    counted = votes()
    counted[1] = Counted(counted[1].contract, counted[1].token_id, 1, counted[1].receipt)
    return ballot_text(HEADER, counted)


TAMPERED: dict[str, tuple[Callable[[str], str], str]] = {
    "a vote's choice": (lambda t: _edit(t, f"{CONTRACT_A}:2 choice=2", f"{CONTRACT_A}:2 choice=1"), "line 21"),
    "a receipt": (lambda t: _edit(t, votes()[0].receipt, "0" * 64), "line 20"),
    "two votes swapped": (_swap_votes, "line 21"),
    "a vote dropped": (lambda t: _drop_vote(t, 1), "line 21"),
    "the last vote dropped": (lambda t: _drop_vote(t, 4), "votes"),
    "a vote repeated": (_repeat_vote, "line 21"),
    "the question": (lambda t: _edit(t, "foot bath", "hot spring"), "line 20"),
    "the electorate": (lambda t: _edit(t, "electorate: 10", "electorate: 11"), "line 20"),
    "a footer count": (lambda t: _edit(t, "count 1: 3", "count 1: 4"), "count 1"),
    "the footer head": (lambda t: t[: t.rindex("head: ") + 6] + "f" * 64 + "\n", "head"),
    "the whole file rewritten": (_rewritten, "results.ballots_head"),
    "a line ending": (lambda t: t.replace("\n", "\r\n"), "file"),
}


@pytest.mark.parametrize("what", sorted(TAMPERED))
def test_a_tampered_file_fails(files: tuple[Path, Path, str], what: str) -> None:
    ballots, results, text = files
    tamper, where = TAMPERED[what]
    ballots.write_text(tamper(text), encoding="utf-8")
    done = run(str(ballots), "--results", str(results))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"✗ {where}" in done.stdout, done.stdout


RESULTS_ALTERED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "a count": (lambda r: r["options"][0].update(votes=4), "results option 1"),
    "the votes": (lambda r: r.update(votes_cast=6), "results.votes_cast"),
    "the quorum": (lambda r: r.update(quorum_met=False), "results.quorum_met"),
    "the turnout": (lambda r: r.update(turnout_percent=60.0), "results.turnout_percent"),
    "a label": (lambda r: r["options"][1].update(label_en="By the sea"), "results.options[2]"),
    "the poll": (lambda r: r.update(poll_id=41), "results.poll_id"),
}


@pytest.mark.parametrize("what", sorted(RESULTS_ALTERED))
def test_results_that_disagree_fail(files: tuple[Path, Path, str], what: str) -> None:
    ballots, results, text = files
    altered = results_of(text)
    change, where = RESULTS_ALTERED[what]
    change(altered)
    results.write_text(json.dumps(altered))
    done = run(str(ballots), "--results", str(results))
    assert done.returncode == 1, done.stdout
    assert f"✗ {where}" in done.stdout, done.stdout


def test_receipts_are_found_and_checked(files: tuple[Path, Path, str]) -> None:
    ballots, _results, _text = files
    unknown = run(str(ballots), "--receipt", "a" * 64)
    assert unknown.returncode == 1
    assert "✗ receipt" in unknown.stdout
    wrong_nonce = run(str(ballots), "--receipt", votes()[0].receipt, "--nonce", NONCES[1])
    assert wrong_nonce.returncode == 1
    assert "not the hash of the card and choice" in wrong_nonce.stdout


def test_an_empty_poll_recounts_to_the_header_hash(tmp_path: Path) -> None:
    text = ballot_text(HEADER, [], revoked=0)
    (tmp_path / "b.txt").write_text(text, encoding="utf-8")
    done = run(str(tmp_path / "b.txt"))
    assert done.returncode == 0, done.stdout
    assert "votes 0 of 10 eligible" in done.stdout
    assert "quorum 50 % NOT met" in done.stdout
