"""Gas budget of mintBatch at batch 100, against the fee schedule's floor (deterministic),
and of naming proposals: proposeName and the signed proposeNameWithSig.

The full comparison with the npm baselines is `scripts/bench/gas.py` (docs/BENCHMARKS.md);
this keeps the targets from regressing unnoticed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from minting.chains import connect
from minting.compiler import CompiledTree

pytestmark = pytest.mark.chain

GAS_BENCH = Path(__file__).resolve().parents[2] / "scripts" / "bench" / "gas.py"


def _gas_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("furusato_gas_bench", GAS_BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("series", "budget"), [("ResidentCard", 1.03), ("ResidentCard (soulbound)", 1.06)])
def test_mint_batch_of_100_stays_within_budget_of_the_floor(compiled: CompiledTree, series: str, budget: float) -> None:
    bench = _gas_bench()
    with connect("eth-tester://") as chain:
        per_token, calldata = bench.Bench(chain, compiled, compiled).mint_per_token(series, 100)
    floor = bench.floor_per_token(100, calldata)
    assert 46_000 < floor < 47_500  # the schedule itself: 2 cold slots + LOG4 + shares of 21,000 and calldata
    assert per_token / floor <= budget, f"{series}: {per_token:,.0f} gas/token = {per_token / floor:.4f}x floor"


#: Gas used, as measured by scripts/bench/gas.py (docs/BENCHMARKS.md) plus about 1 % slack: a
#: signature's zero bytes make the calldata vary by a few dozen gas from run to run.
NAMING_BUDGETS = {
    "proposeName": 85_000,  # measured 84,099
    "proposeNameWithSig (relayed, winner's first: nonce 0 -> 1)": 116_500,  # measured 115,443
    "proposeNameWithSig (after a rejection: nonce 1 -> 2)": 99_300,  # measured 98,343
}
#: What a signature may add to a proposal once the winner's nonce slot is non-zero: nonce
#: 5,000, ecrecover 3,000, the winner's code-size check 2,600, hashing and the longer calldata.
SIGNATURE_OVERHEAD_BUDGET = 15_000  # measured 14,244


def test_name_proposals_stay_within_budget(compiled: CompiledTree) -> None:
    bench = _gas_bench()
    with connect("eth-tester://") as chain:
        receipts = bench.Bench(chain, compiled, compiled).naming_receipts()
    used = {operation: int(receipt["gasUsed"]) for operation, receipt in receipts.items()}
    for operation, budget in NAMING_BUDGETS.items():
        assert used[operation] <= budget, f"{operation}: {used[operation]:,} gas > {budget:,}"
    overhead = used["proposeNameWithSig (after a rejection: nonce 1 -> 2)"] - used["proposeName (after a rejection)"]
    assert overhead <= SIGNATURE_OVERHEAD_BUDGET, f"a signature adds {overhead:,} gas"
