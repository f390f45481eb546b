"""Run Slither on `contracts/` without letting it compile (or download a compiler).

    .venv/bin/python scripts/slither.py [--report PATH] [--force]

Slither lives in its own virtualenv, `.venv-slither` (`make .venv-slither/.installed`),
because slither-analyzer pins a web3 that conflicts with ours. It cannot compile here (no
native solc can be downloaded), so this script:

1. writes a Hardhat-style build-info with our own compiler (solc-js, same settings as
   `minting.compiler`, plus ASTs and source maps) to `build/slither/artifacts/build-info/`,
   cached by the compiler's cache key (`minting.build_info`);
2. puts an empty `build/slither/hardhat.config.js` next to it, so crytic-compile accepts
   `build/slither` as a Hardhat project;
3. runs, from the repository root (so reported paths are `contracts/...`):
       .venv-slither/bin/slither build/slither --compile-force-framework hardhat
           --ignore-compile --npx-disable --exclude-dependencies --fail-none
           --json - --json-types detectors,compilations,console
   with HTTP(S) proxies pointed at a closed port, so an accidental download fails at once;
4. checks that every `contracts/**/*.sol` was analysed, matches each finding in our
   contracts against the triage table in `contracts/SLITHER.md`, prints a summary and
   writes a JSON report.

Exit status: 0 when no untriaged High or Medium finding is in `contracts/`; 1 when there is
one; 2 when Slither could not run or analysed less than it should.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from minting.build_info import build_info  # noqa: E402
from minting.compiler import CONTRACTS_DIR  # noqa: E402
from minting.errors import CompilationFailed, CompilerNotFound  # noqa: E402

SLITHER_VENV = REPO_ROOT / ".venv-slither"
SLITHER_BIN = SLITHER_VENV / "bin" / "slither"
PROJECT_DIR = REPO_ROOT / "build" / "slither"
BUILD_INFO_DIR = PROJECT_DIR / "artifacts" / "build-info"
TRIAGE_FILE = CONTRACTS_DIR / "SLITHER.md"
DEFAULT_REPORT = PROJECT_DIR / "report.json"
#: Folders whose findings gate the build; node_modules and tests never do.
OUR_PREFIXES = ("contracts/",)
BLOCKING_IMPACTS = ("High", "Medium")
IMPACT_ORDER = ("High", "Medium", "Low", "Informational", "Optimization")
TIMEOUT_SECONDS = 300

SLITHER_ARGS = [
    "--compile-force-framework",
    "hardhat",
    "--ignore-compile",
    "--npx-disable",
    "--exclude-dependencies",
    "--fail-none",
    "--json",
    "-",
    "--json-types",
    "detectors,compilations,console",
]
#: A closed port: anything that tries to download (solc-select, npx) fails instead.
_NO_NETWORK = "http://127.0.0.1:9"

# | `detector` | Impact | `Contract.function` or `*` | reason |
_TRIAGE_ROW = re.compile(r"^\|\s*`([a-z0-9-]+)`\s*\|\s*(\w+)\s*\|\s*`([^`]+)`\s*\|(.*)\|\s*$")
_ANALYZED = re.compile(r"analyzed \((\d+) contracts with (\d+) detectors\)")
#: Slither logs this and goes on without the function: its findings silently disappear
#: (crytic/slither#3082). Any such line for our contracts fails the run.
_NO_IR = re.compile(r"Impossible to generate IR for (\S+) \(([^)#]+)")


class SlitherFailed(Exception):
    """Slither did not run, or did not analyse what it should have."""


@dataclass(frozen=True)
class Triage:
    detector: str
    impact: str
    where: str
    reason: str

    def matches(self, finding: Finding) -> bool:
        return (
            self.detector == finding.detector and self.impact == finding.impact and self.where in ("*", finding.where)
        )


@dataclass(frozen=True)
class Finding:
    detector: str
    impact: str
    confidence: str
    where: str
    location: str
    ours: bool
    description: str
    triaged: bool = False


def read_triage(path: Path = TRIAGE_FILE) -> list[Triage]:
    """Rows of the triage table in `contracts/SLITHER.md`; each must give a reason."""
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        match = _TRIAGE_ROW.match(line)
        if not match:
            continue
        detector, impact, where, reason = (group.strip() for group in match.groups())
        if impact not in IMPACT_ORDER:
            raise SlitherFailed(f"{path.name}:{number}: impact {impact!r} is not one of {', '.join(IMPACT_ORDER)}")
        if not reason:
            raise SlitherFailed(f"{path.name}:{number}: triage of `{detector}` gives no reason")
        if where == "*" and impact in BLOCKING_IMPACTS:
            raise SlitherFailed(f"{path.name}:{number}: a {impact} finding is triaged per location, not with `*`")
        entries.append(Triage(detector, impact, where, reason))
    return entries


def _where(element: dict[str, Any]) -> str:
    """`Contract.function` of the function that holds the element, else its contract, else its file."""
    names: dict[str, str] = {}
    current: dict[str, Any] = element
    while current:
        kind = current.get("type")
        if kind in ("function", "contract") and kind not in names:
            names[kind] = str(current.get("name", "?"))
        current = current.get("type_specific_fields", {}).get("parent", {})
    if "function" in names:
        return f"{names.get('contract', '?')}.{names['function']}"
    if "contract" in names:
        return names["contract"]
    return str(element.get("source_mapping", {}).get("filename_relative", "?"))


def _finding(result: dict[str, Any], triage: list[Triage]) -> Finding:
    elements = result.get("elements") or [{}]
    files = [element.get("source_mapping", {}).get("filename_relative", "") for element in elements]
    first = elements[0].get("source_mapping", {})
    lines = first.get("lines") or [0]
    finding = Finding(
        detector=result["check"],
        impact=result["impact"],
        confidence=result["confidence"],
        where=_where(elements[0]),
        location=f"{first.get('filename_relative', '?')}#{lines[0]}",
        ours=any(name.startswith(OUR_PREFIXES) for name in files),
        description=result["description"].strip().splitlines()[0],
    )
    triaged = any(entry.matches(finding) for entry in triage)
    return Finding(**{**asdict(finding), "triaged": triaged})


def prepare(force: bool) -> tuple[Path, bool]:
    """The build-info and the marker crytic-compile detects a Hardhat project by."""
    path, cached = build_info(build_info_dir=BUILD_INFO_DIR, force=force)
    marker = PROJECT_DIR / "hardhat.config.js"
    if not marker.is_file():
        marker.write_text(
            "// Not a Hardhat project: this marker lets crytic-compile read artifacts/build-info/,\n"
            "// which scripts/slither.py writes with Furusato's own compiler.\n"
        )
    return path, cached


def run_slither() -> dict[str, Any]:
    """Slither's JSON output (with `--json -` its console log is inside it)."""
    if not SLITHER_BIN.is_file():
        raise SlitherFailed(f"{SLITHER_BIN.relative_to(REPO_ROOT)} is missing: run `make .venv-slither/.installed`")
    env = {**os.environ, "HTTP_PROXY": _NO_NETWORK, "HTTPS_PROXY": _NO_NETWORK, "ALL_PROXY": _NO_NETWORK}
    env.update({key.lower(): value for key, value in env.items() if key.endswith("_PROXY")})
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    command = [str(SLITHER_BIN), str(PROJECT_DIR.relative_to(REPO_ROOT)), *SLITHER_ARGS]
    try:
        proc = subprocess.run(
            command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SlitherFailed(f"slither did not finish in {TIMEOUT_SECONDS} s") from exc
    try:
        output: dict[str, Any] = json.loads(proc.stdout)
    except ValueError as exc:
        raise SlitherFailed(f"slither exited {proc.returncode} without JSON output:\n{proc.stderr.strip()}") from exc
    if proc.returncode != 0 or not output.get("success"):
        raise SlitherFailed(f"slither failed (exit {proc.returncode}): {output.get('error')}\n{proc.stderr.strip()}")
    console = output.get("results", {}).get("console", {})
    log = f"{proc.stderr}\n{console.get('stdout', '')}\n{console.get('stderr', '')}"
    unanalysed = sorted({function for function, _source in _NO_IR.findall(log)})
    if unanalysed:
        raise SlitherFailed(
            f"slither could not build the IR of {', '.join(unanalysed)}: their findings would be silently "
            "missing (see contracts/SLITHER.md, 'Slither's own limits')"
        )
    return output


def check_coverage(output: dict[str, Any]) -> tuple[list[str], int, int]:
    """Fail unless every contract source was analysed by a non-empty set of detectors."""
    analysed: set[str] = set()
    for compilation in output["results"].get("compilations", []):
        for unit in compilation.get("compilation_units", {}).values():
            analysed.update(unit.get("source_units", {}))
    expected = {path.relative_to(REPO_ROOT).as_posix() for path in CONTRACTS_DIR.rglob("*.sol")}
    missing = sorted(expected - analysed)
    if missing:
        raise SlitherFailed(f"slither did not analyse {', '.join(missing)}")
    console = output["results"].get("console", {})
    log = f"{console.get('stdout', '')}\n{console.get('stderr', '')}"
    match = _ANALYZED.search(log)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise SlitherFailed(f"slither reports no contracts or no detectors analysed:\n{log.strip()}")
    return sorted(analysed), int(match.group(1)), int(match.group(2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=DEFAULT_REPORT, help="where to write the JSON report")
    parser.add_argument("--force", action="store_true", help="rebuild the build-info even if cached")
    args = parser.parse_args(argv)

    started = time.monotonic()
    try:
        triage = read_triage()
        build_info_path, cached = prepare(args.force)
        compiled_at = time.monotonic()
        output = run_slither()
        source_units, contracts, detectors = check_coverage(output)
    except (SlitherFailed, CompilationFailed, CompilerNotFound) as exc:
        print(f"slither: {exc}", file=sys.stderr)
        return 2
    finished = time.monotonic()

    findings = [_finding(result, triage) for result in output["results"].get("detectors", [])]
    ours = [finding for finding in findings if finding.ours]
    blocking = [finding for finding in ours if finding.impact in BLOCKING_IMPACTS and not finding.triaged]
    unused = [entry for entry in triage if not any(entry.matches(finding) for finding in ours)]

    print(
        f"slither: {contracts} contracts, {detectors} detectors; build-info "
        f"{'cached' if cached else 'compiled'} in {compiled_at - started:.1f} s, "
        f"analysis {finished - compiled_at:.1f} s"
    )
    by_impact = Counter((finding.impact, finding.triaged) for finding in ours)
    for impact in IMPACT_ORDER:
        triaged, untriaged = by_impact[(impact, True)], by_impact[(impact, False)]
        print(f"  {impact:<13} {triaged + untriaged:>3} in contracts/ ({triaged} triaged, {untriaged} untriaged)")
    for finding in ours:
        mark = "triaged  " if finding.triaged else "UNTRIAGED"
        print(f"  {mark} {finding.impact:<13} {finding.detector:<24} {finding.location}  {finding.where}")
    if len(findings) > len(ours):
        print(f"  ({len(findings) - len(ours)} more only in dependencies, not gated)")
    for entry in unused:
        print(f"  note: triage entry `{entry.detector}` {entry.impact} `{entry.where}` matched nothing")

    report = {
        "command": ["slither", str(PROJECT_DIR.relative_to(REPO_ROOT)), *SLITHER_ARGS],
        "build_info": str(build_info_path.relative_to(REPO_ROOT)),
        "contracts_analyzed": contracts,
        "detectors_run": detectors,
        "source_units": source_units,
        "findings": [asdict(finding) for finding in findings],
        "untriaged_blocking": [asdict(finding) for finding in blocking],
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=1, ensure_ascii=False))

    if blocking:
        print(
            f"slither: {len(blocking)} untriaged High/Medium finding(s) in contracts/: fix them, or triage each "
            f"in {TRIAGE_FILE.relative_to(REPO_ROOT)} with its reason",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
