"""Compile `contracts/` with py-solc-x, once per distinct source tree.

The binary is, in order: `SOLC_BINARY` if set; a native solc of the pinned version that
py-solc-x already installed; else the npm `solc` package (solc-js) through
`minting/solcjs/solc`, a small node program that speaks the same `--version` and
`--standard-json` interface. Native binaries cannot be downloaded on every machine, solc-js
can, and both give the same bytecode for the same input.

Artifacts go to `build/contracts/<Name>.json`; `build/contracts/cache.json` records the key
they were built from: a hash of every source, the compiler settings, the pinned compiler
version and the versions of the npm packages imported. An unchanged tree therefore never
starts the compiler.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from packaging.version import Version
from solcx.exceptions import SolcError

from minting.errors import CompilationFailed, CompilerNotFound

#: The one place the compiler is pinned. package.json pins the same solc-js version.
SOLC_VERSION = "0.8.37"
#: eth-tester defaults to Prague and anvil to its newest fork; we pin both to Cancun.
EVM_VERSION = "cancun"
#: Tuned for the hot path: cards are minted far more often than contracts are deployed.
#: At 200 runs mintBatch costs ~110 gas more per card (scripts/bench/gas.py); both
#: contracts stay under the 24 KiB code-size limit (about 20 KiB each).
OPTIMIZER_RUNS = 100_000
#: Bump when what is stored per artifact changes, so old caches are rebuilt.
ARTIFACT_FORMAT = 2

REPO_ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = REPO_ROOT / "contracts"
BUILD_DIR = REPO_ROOT / "build" / "contracts"
NODE_MODULES = REPO_ROOT / "node_modules"
SOLCJS_EXECUTABLE = Path(__file__).resolve().parent / "solcjs" / "solc"

#: npm packages the sources may import, mapped from import prefix to folder.
REMAPPINGS = {
    "@openzeppelin/contracts/": "node_modules/@openzeppelin/contracts/",
    "erc721a/": "node_modules/erc721a/",
}

_IMPORT_RE = re.compile(r"""^\s*import\s[^"']*["']([^"']+)["']""", re.MULTILINE)


@dataclass(frozen=True)
class Artifact:
    """What deployment and clients need of one compiled contract."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    metadata: str

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "sourceName": self.source,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
            "metadata": self.metadata,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Artifact:
        return cls(
            name=data["contractName"],
            source=data["sourceName"],
            abi=data["abi"],
            bytecode=data["bytecode"],
            deployed_bytecode=data["deployedBytecode"],
            metadata=data["metadata"],
        )


@dataclass(frozen=True)
class CompiledTree:
    """Artifacts of one source tree, and the key they were built from."""

    key: str
    artifacts: dict[str, Artifact]
    from_cache: bool

    def __getitem__(self, name: str) -> Artifact:
        return self.artifacts[name]


def compiler_settings() -> dict[str, Any]:
    """Settings shared by every compile; part of the cache key."""
    return {
        "evmVersion": EVM_VERSION,
        "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
        "remappings": [f"{prefix}={target}" for prefix, target in REMAPPINGS.items()],
        "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]}},
    }


def resolve_solc_binary() -> Path:
    """Pick the compiler binary in the documented order (see module docstring)."""
    configured = os.environ.get("SOLC_BINARY")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise CompilerNotFound(f"SOLC_BINARY={configured} is not a file")
        return path
    try:  # a native binary py-solc-x installed (~/.solcx or SOLCX_BINARY_PATH)
        return Path(solcx.install.get_executable(SOLC_VERSION))
    except solcx.exceptions.SolcNotInstalled:
        pass
    if not (NODE_MODULES / "solc" / "package.json").is_file():
        raise CompilerNotFound(
            f"no solc {SOLC_VERSION}: run `npm ci` (solc-js), set SOLC_BINARY, "
            f"or `python -m solcx.install v{SOLC_VERSION}` where downloads work"
        )
    return SOLCJS_EXECUTABLE


def read_sources(contracts_dir: Path) -> dict[str, str]:
    """Our `.sol` files keyed by their path relative to the repository root."""
    files = sorted(contracts_dir.rglob("*.sol"))
    if not files:
        raise CompilerNotFound(f"no Solidity sources under {contracts_dir}")
    root = contracts_dir.resolve().parent
    return {path.resolve().relative_to(root).as_posix(): path.read_text("utf-8") for path in files}


def _imported_package_versions(sources: Mapping[str, str]) -> dict[str, str]:
    """Versions of the npm packages the sources import, so an upgrade recompiles."""
    versions: dict[str, str] = {}
    for text in sources.values():
        for imported in _IMPORT_RE.findall(text):
            for prefix, target in REMAPPINGS.items():
                if imported.startswith(prefix):
                    package_json = REPO_ROOT / target / "package.json"
                    try:
                        versions[prefix] = json.loads(package_json.read_text())["version"]
                    except (OSError, ValueError, KeyError):
                        versions[prefix] = "missing"
    return dict(sorted(versions.items()))


def cache_key(sources: Mapping[str, str]) -> str:
    """Hash of sources, settings, pinned compiler version and imported package versions."""
    material = {
        "sources": {name: hashlib.sha256(text.encode()).hexdigest() for name, text in sources.items()},
        "settings": compiler_settings(),
        "solc": SOLC_VERSION,
        "format": ARTIFACT_FORMAT,
        "packages": _imported_package_versions(sources),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _load_cached(build_dir: Path, key: str) -> dict[str, Artifact] | None:
    try:
        index = json.loads((build_dir / "cache.json").read_text())
        if index.get("key") != key:
            return None
        return {
            name: Artifact.from_json(json.loads((build_dir / f"{name}.json").read_text()))
            for name in index["contracts"]
        }
    except (OSError, ValueError, KeyError):
        return None


def _write_atomically(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    tmp.replace(path)


def _store(build_dir: Path, key: str, artifacts: Mapping[str, Artifact]) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    for name, artifact in artifacts.items():
        _write_atomically(build_dir / f"{name}.json", artifact.to_json())
    # The index goes last: a crash mid-write leaves an index that does not match.
    _write_atomically(build_dir / "cache.json", {"key": key, "solc": SOLC_VERSION, "contracts": sorted(artifacts)})


def _line_of(source_name: str, offset: int, sources: Mapping[str, str]) -> int:
    text = sources.get(source_name)
    if text is None:
        try:
            text = (REPO_ROOT / source_name).read_text("utf-8")
        except OSError:
            return 0
    return text.encode("utf-8")[: max(offset, 0)].count(b"\n") + 1


def format_errors(errors: list[dict[str, Any]], sources: Mapping[str, str]) -> list[str]:
    """One `file:line: message` per compiler error (warnings dropped)."""
    lines = []
    for error in errors:
        if error.get("severity") != "error":
            continue
        location = error.get("sourceLocation") or {}
        source_name = location.get("file", "<input>")
        line = _line_of(source_name, location.get("start", 0), sources)
        lines.append(f"{source_name}:{line}: {error.get('type', 'Error')}: {error.get('message', '')}")
    return lines


def standard_input(sources: Mapping[str, str], settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """solc's standard-JSON input for `sources` (default: the deployment settings)."""
    return {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": dict(settings) if settings is not None else compiler_settings(),
    }


def run_compiler(
    sources: Mapping[str, str], solc_binary: Path, *, settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Call solc's standard-JSON interface; the one place the compiler is started."""
    try:
        version = solcx.wrapper.get_solc_version(solc_binary)
        if version != Version(SOLC_VERSION):
            raise CompilerNotFound(f"{solc_binary} is solc {version}; Furusato pins {SOLC_VERSION}")
        output: dict[str, Any] = solcx.compile_standard(
            standard_input(sources, settings),
            base_path=str(REPO_ROOT),
            allow_paths=[str(REPO_ROOT)],
            solc_binary=solc_binary,
        )
    except SolcError as exc:
        errors: list[dict[str, Any]] = list(exc.error_dict or [])
        formatted = format_errors(errors, sources)
        raise CompilationFailed(formatted or [(exc.stderr_data or "").strip() or str(exc)]) from exc
    except (OSError, ValueError) as exc:  # binary not runnable, or output not JSON
        raise CompilerNotFound(f"cannot run solc at {solc_binary}: {exc}") from exc
    return output


def compile_contracts(
    contracts_dir: Path = CONTRACTS_DIR,
    build_dir: Path = BUILD_DIR,
    *,
    force: bool = False,
) -> CompiledTree:
    """Compile every contract under `contracts_dir`, or load them from the cache.

    Raises `CompilationFailed` (one `file:line: message` per error) or `CompilerNotFound`.
    """
    sources = read_sources(contracts_dir)
    key = cache_key(sources)
    if not force:
        cached = _load_cached(build_dir, key)
        if cached is not None:
            return CompiledTree(key=key, artifacts=cached, from_cache=True)
    output = run_compiler(sources, resolve_solc_binary())
    artifacts: dict[str, Artifact] = {}
    for source_name in sources:
        for name, compiled in output.get("contracts", {}).get(source_name, {}).items():
            if not compiled["evm"]["bytecode"]["object"]:
                continue  # an interface or abstract contract: nothing to deploy
            artifacts[name] = Artifact(
                name=name,
                source=source_name,
                abi=compiled["abi"],
                bytecode="0x" + compiled["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + compiled["evm"]["deployedBytecode"]["object"],
                metadata=compiled["metadata"],
            )
    _store(build_dir, key, artifacts)
    return CompiledTree(key=key, artifacts=artifacts, from_cache=False)
