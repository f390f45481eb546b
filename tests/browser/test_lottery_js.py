"""frontend_static/js/lottery-verify.js in real Chromium, against the vectors and Python.

A blank page and the script are served by `FakeTown` on http://127.0.0.1 (a secure context,
so WebCrypto is there; about:blank is not one), together with a lottery record, its list and
a JSON-RPC chain. The browser recomputes the vectors step by step, verifies served records
(with the chain) as `scripts/verify_lottery.py` does, fails tampered ones with the same
name for what differs, and ranks random lists exactly as `backend/lottery/algorithm.py`.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from backend.lottery import algorithm
from tests.lottery.fake_town import DROP_ID, FakeTown, Lottery, build_lottery, from_vector, vector, vectors
from tests.lottery.test_verifier import TAMPERING, chain_with_another_anchor, random_lottery, run

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).resolve().parents[2] / "frontend_static" / "js" / "lottery-verify.js"
BLANK = b"<!doctype html><meta charset='utf-8'><title>lottery-verify</title>"


@pytest.fixture
def town() -> Iterator[FakeTown]:
    static = {
        "/": (BLANK, "text/html; charset=utf-8"),
        "/js/lottery-verify.js": (SCRIPT.read_bytes(), "text/javascript"),
    }
    with FakeTown(from_vector(vector("basic")), static=static) as serving:
        yield serving


@pytest.fixture
def lottery_page(page: Page, town: FakeTown) -> Page:
    page.goto(town.url + "/")
    page.add_script_tag(url="/js/lottery-verify.js")
    assert page.evaluate("window.isSecureContext && !!crypto.subtle")
    assert page.evaluate("typeof Furusato.lotteryVerify.verify") == "function"
    return page


RECOMPUTE = """async (c) => {
  const L = Furusato.lotteryVerify;
  const listHash = await L.listHash(c.entries);
  const finalSeed = await L.finalSeed(c.server_seed, c.block_hash, listHash);
  const keys = {};
  for (const e of c.entries) keys[e.entry_id] = await L.entryKey(finalSeed, e.entry_id);
  const ranked = await L.ranking(finalSeed, c.entries);
  const {winners, waitlist} = L.allocate(ranked, c.supply);
  const quantities = new Map(c.entries.map((e) => [e.entry_id, e.quantity]));
  const settlement = new L.Settlement(c.supply, winners, waitlist, quantities);
  const promotions = (c.promotions || []).map(
    (r) => ({at: r.at, lapsed: r.lapsed, promoted: settlement.apply(r.lapsed)}));
  return {
    seed_commitment: await L.seedCommitment(c.server_seed),
    lines: L.listLines(c.entries),
    list_hash: listHash,
    final_seed: finalSeed,
    keys,
    ranking: ranked.map((e) => e.entry_id),
    winners,
    waitlist,
    promotions,
  };
}"""


@pytest.mark.parametrize("name", [case["name"] for case in vectors()["cases"]])
def test_the_browser_reproduces_the_vectors(lottery_page: Page, name: str) -> None:
    case = vector(name)
    got = lottery_page.evaluate(RECOMPUTE, case)
    for field in ("seed_commitment", "lines", "list_hash", "final_seed", "keys", "ranking", "winners", "waitlist"):
        assert got[field] == case[field], field
    assert got["promotions"] == case.get("promotions", [])


VERIFY = """async ([dropId, rpcUrl, commitment]) => {
  const L = Furusato.lotteryVerify;
  const {record, listing} = await L.load("", dropId);
  const result = await L.verify(record, listing, {rpcUrl, commitment});
  const first = record.winners && record.winners.length ? record.winners[0].entry_id : null;
  return {ok: result.ok, failure: result.failure, notDrawn: result.notDrawn, chainChecked: result.chainChecked,
          checks: result.checks, warnings: result.warnings, ranking: result.ranking,
          rank: first ? result.rankOf(first.toUpperCase()) : null};
}"""


def browser_verify(page: Page, town: FakeTown, rpc: bool = True, commitment: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(VERIFY, [DROP_ID, town.rpc_url if rpc else None, commitment])
    return result


def test_a_served_record_verifies_with_its_chain(lottery_page: Page, town: FakeTown) -> None:
    result = browser_verify(lottery_page, town)
    assert result["failure"] is None
    assert result["ok"] is True
    assert result["chainChecked"] is True
    codes = [c["code"] for c in result["checks"]]
    assert codes == [
        "algorithm",
        "seed_commitment",
        "entries",
        "list_hash",
        "anchor",
        "anchor.first",
        "server_seed",
        "final_seed",
        "winners",
        "waitlist",
        "promotions[1]",
        "promotions[2]",
        "promotions[3]",
    ]
    assert result["ranking"] == vector("basic")["ranking"]
    assert result["rank"] == {"rank": 1, "of": 12, "quantity": 5, "outcome": "won", "lapsed": False}
    without_chain = browser_verify(lottery_page, town, rpc=False)
    assert without_chain["ok"] is True
    assert without_chain["chainChecked"] is False


def python_what(town: FakeTown, rpc: bool) -> str | None:
    """What scripts/verify_lottery.py names on its ✗ line, or None when it passes."""
    status, out = run(town, rpc=rpc)
    if status == 0:
        return None
    line = next(line for line in out.splitlines() if line.startswith("✗ "))
    return line[2:].split(":")[0]


def test_tampering_fails_in_the_browser_as_in_python(lottery_page: Page, town: FakeTown) -> None:
    """Every tampering of tests/lottery/test_verifier.py: the same verdict, the same name."""
    for name, (tamper, _, _) in TAMPERING.items():
        town.lottery = from_vector(vector("basic"))
        tamper(town.lottery)
        for rpc in (True, False):
            expected = python_what(town, rpc)
            result = browser_verify(lottery_page, town, rpc=rpc)
            got = None if result["failure"] is None else result["failure"]["code"]
            assert got == expected, (name, rpc, result["failure"])
            assert result["ok"] is (expected is None), name


def test_a_noted_commitment_and_a_record_before_the_draw(lottery_page: Page, town: FakeTown) -> None:
    result = browser_verify(lottery_page, town, commitment="77" * 32)
    assert result["failure"]["code"] == "seed_commitment"
    record = town.lottery.record
    for key in ("server_seed", "final_seed", "winners", "waitlist", "promotions"):
        del record[key]
    record["state"] = "closed"
    result = browser_verify(lottery_page, town)
    assert result["notDrawn"] is True
    assert result["failure"] is None
    assert [c["code"] for c in result["checks"]][-2:] == ["anchor", "anchor.first"]


def test_random_cases_agree_with_python(lottery_page: Page, town: FakeTown) -> None:
    rng = random.Random(11)
    for _ in range(15):
        lottery: Lottery = random_lottery(rng)
        town.lottery = copy.deepcopy(lottery)
        result = browser_verify(lottery_page, town)
        assert result["failure"] is None, result["failure"]
        assert result["ok"] is True
        entries = [(e["entry_id"], e["quantity"]) for e in lottery.listing["entries"]]
        expected = algorithm.ranking(lottery.record["final_seed"], entries)
        assert result["ranking"] == [e.entry_id for e in expected]
        assert run(town)[0] == 0


def test_twenty_thousand_entries(lottery_page: Page, town: FakeTown) -> None:
    """Many HMACs in flight (chunks of 4096) still rank as Python does."""
    rng = random.Random(5)
    entries = [(rng.randbytes(16).hex(), rng.randint(1, 5)) for _ in range(20_000)]
    town.lottery = build_lottery("12" * 32, "0x" + "34" * 32, entries, 1000)
    result = browser_verify(lottery_page, town)
    assert result["ok"] is True, result["failure"]
    expected = algorithm.ranking(town.lottery.record["final_seed"], entries)
    assert result["ranking"] == [e.entry_id for e in expected]


def test_an_earlier_anchor_of_other_data_is_a_warning(lottery_page: Page, town: FakeTown) -> None:
    town.lottery, other = chain_with_another_anchor()
    result = browser_verify(lottery_page, town)
    assert result["ok"] is True
    assert [w["code"] for w in result["warnings"]] == ["anchor.others"]
    assert other in result["warnings"][0]["detail"]
