"""Fairness: over many draws, an entry's rank does not depend on when it applied.

The US DV-2012 diversity-visa lottery was voided because a programming error picked 98 %
of its winners from the first two days of applications. Here 400 draws of 100 entries each
(inputs from `random.Random(SEED)`: server seeds, block hashes, entry ids) rank every entry
with `backend/lottery/algorithm.py`, and two tests compare application order with rank:

- χ² test of independence on a 10 × 10 table (application-time decile × rank decile,
  40,000 placements, 400 expected per cell), df = 81;
- Kolmogorov–Smirnov test of the earliest decile's normalised ranks (4,000 of them)
  against the uniform distribution.

Threshold: each test rejects at α = 0.001 (χ² > the 0.999 quantile of χ²(81), about 126;
KS D > 1.949 / √n, about 0.031).

Why it cannot flake: every input comes from a fixed seed and the algorithm is deterministic
(SHA-256, HMAC), so each run computes exactly the same statistics: the test passes or fails
identically every time, and a failure means the code changed, not bad luck. α = 0.001 only
says how unlikely a failure would have been for an honest algorithm had another seed been
chosen (one seed in a thousand). The same tests are run on two deliberately biased rankings
(the DV-2012 kind: early applicants favoured) to show they would catch a real bias.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from statistics import NormalDist

import pytest

from backend.lottery import algorithm
from backend.lottery.algorithm import Entry

SEED = 20120513  # the day the DV-2012 results were voided
DRAWS = 400
ENTRIES = 100
BINS = 10
ALPHA = 0.001

Ranker = Callable[[str, list[Entry]], list[Entry]]


def chi2_quantile(p: float, df: int) -> float:
    """The χ² distribution's p-quantile (Wilson–Hilferty; within 0.1 % at df = 81)."""
    z = NormalDist().inv_cdf(p)
    return float(df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3)


def placements(rank: Ranker, ids: str) -> list[tuple[int, int]]:
    """(application position, rank position) of every entry of every draw, 0-based."""
    rng = random.Random(SEED)
    out = []
    for draw in range(DRAWS):
        if ids == "random":
            entry_ids = [rng.randbytes(16).hex() for _ in range(ENTRIES)]
        else:  # ids in application order: a server that numbered entries as they came
            entry_ids = [f"{draw:016x}{n:016x}" for n in range(ENTRIES)]
        entries = [Entry(entry_id, rng.randint(1, 5)) for entry_id in entry_ids]
        list_hash = algorithm.list_hash(entries)
        seed = algorithm.final_seed(rng.randbytes(32).hex(), "0x" + rng.randbytes(32).hex(), list_hash)
        position = {e.entry_id: n for n, e in enumerate(entries)}
        out += [(position[e.entry_id], r) for r, e in enumerate(rank(seed, entries))]
    return out


def chi2_statistic(pairs: list[tuple[int, int]]) -> float:
    table = [[0] * BINS for _ in range(BINS)]
    for applied, ranked in pairs:
        table[applied * BINS // ENTRIES][ranked * BINS // ENTRIES] += 1
    total = len(pairs)
    rows = [sum(row) for row in table]
    cols = [sum(row[c] for row in table) for c in range(BINS)]
    return sum(
        (table[r][c] - rows[r] * cols[c] / total) ** 2 / (rows[r] * cols[c] / total)
        for r in range(BINS)
        for c in range(BINS)
    )


def ks_statistic(pairs: list[tuple[int, int]]) -> tuple[float, int]:
    """D of the earliest decile's normalised ranks (r + 0.5) / N against U(0, 1), and n."""
    sample = sorted((ranked + 0.5) / ENTRIES for applied, ranked in pairs if applied < ENTRIES // BINS)
    n = len(sample)
    d = max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(sample))
    return d, n


def fair(seed: str, entries: list[Entry]) -> list[Entry]:
    return algorithm.ranking(seed, entries)


def early_favoured(seed: str, entries: list[Entry]) -> list[Entry]:
    """A mild bias: the first tenth of applicants have their key scaled by 0.9."""
    early = {e.entry_id for e in entries[: ENTRIES // BINS]}

    def score(e: Entry) -> float:
        u = int(algorithm.entry_key(seed, e.entry_id), 16) / 2**256
        return u * 0.9 if e.entry_id in early else u

    return sorted(entries, key=score)


def time_leaks(seed: str, entries: list[Entry]) -> list[Entry]:
    """A key over a time-ordered id without the secret seed: what HMAC with final_seed prevents."""
    return sorted(entries, key=lambda e: hashlib.sha256(e.entry_id[:20].encode()).hexdigest() + e.entry_id)


CHI2_LIMIT = chi2_quantile(1 - ALPHA, (BINS - 1) ** 2)
KS_LIMIT = 1.949  # √(−ln(α/2) / 2) for α = 0.001, times 1/√n below


def test_the_thresholds() -> None:
    assert 125.5 < CHI2_LIMIT < 126.5  # tables: χ²(81) at 0.999 ≈ 126.0
    assert math.isclose(KS_LIMIT, math.sqrt(-math.log(ALPHA / 2) / 2), abs_tol=1e-3)


@pytest.mark.parametrize("ids", ["random", "in application order"])
def test_rank_is_independent_of_application_time(ids: str) -> None:
    pairs = placements(fair, ids)
    assert len(pairs) == DRAWS * ENTRIES
    chi2 = chi2_statistic(pairs)
    assert chi2 < CHI2_LIMIT, f"χ² = {chi2:.1f} ≥ {CHI2_LIMIT:.1f}: rank depends on application time"
    d, n = ks_statistic(pairs)
    assert d < KS_LIMIT / math.sqrt(n), f"KS D = {d:.4f} ≥ {KS_LIMIT / math.sqrt(n):.4f}: early applicants differ"


@pytest.mark.parametrize("biased", [early_favoured, time_leaks], ids=["early-favoured", "time-leaks"])
def test_the_same_tests_catch_a_biased_ranking(biased: Ranker) -> None:
    pairs = placements(biased, "in application order")
    d, n = ks_statistic(pairs)
    chi2 = chi2_statistic(pairs)
    assert chi2 > CHI2_LIMIT or d > KS_LIMIT / math.sqrt(n), (chi2, d)
