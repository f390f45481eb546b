"""A Hardhat-style build-info of `contracts/`, for static analysers (Slither).

Slither reads what a framework compiled instead of compiling itself, so it never needs a
native solc: crytic-compile's Hardhat platform parses `<artifacts>/build-info/*.json`, each
`{"_format": "hh-sol-build-info-1", "solcVersion", "solcLongVersion", "input", "output"}`.
This module produces that file with the same compiler, settings and sources as
`minting.compiler`; only the output selection differs (source maps and the AST, which
deployment does not need). It is cached like the compiler's artifacts: an unchanged tree
never starts the compiler again.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import solcx

from minting.compiler import (
    CONTRACTS_DIR,
    REPO_ROOT,
    SOLC_VERSION,
    cache_key,
    compiler_settings,
    read_sources,
    resolve_solc_binary,
    run_compiler,
    standard_input,
)

BUILD_INFO_FORMAT = "hh-sol-build-info-1"
#: Where Hardhat keeps build-info files, under the analysis build directory.
DEFAULT_BUILD_INFO_DIR = REPO_ROOT / "build" / "slither" / "artifacts" / "build-info"

#: What Hardhat selects: crytic-compile needs the AST of every source and, per contract,
#: the ABI, both bytecodes and both source maps.
OUTPUT_SELECTION: dict[str, Any] = {
    "*": {
        "*": ["abi", "evm.bytecode", "evm.deployedBytecode", "evm.methodIdentifiers", "metadata"],
        "": ["ast"],
    }
}


def build_info_settings() -> dict[str, Any]:
    """`compiler_settings()` with the analysis output selection instead of the deployment one."""
    settings = copy.deepcopy(compiler_settings())
    settings["outputSelection"] = OUTPUT_SELECTION
    return settings


def build_info_key(sources: dict[str, str]) -> str:
    """The compiler's cache key, extended by the output selection and the file format."""
    material = {"compiler": cache_key(sources), "outputSelection": OUTPUT_SELECTION, "format": BUILD_INFO_FORMAT}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def build_info(
    contracts_dir: Path = CONTRACTS_DIR,
    build_info_dir: Path = DEFAULT_BUILD_INFO_DIR,
    *,
    force: bool = False,
) -> tuple[Path, bool]:
    """Write (or reuse) `build_info_dir/<key>.json`; return its path and whether it was cached.

    The key is `build_info_key`; other `.json` files in `build_info_dir` are removed when a
    new one is written, because readers (crytic-compile) analyse every file they find there.
    Raises `CompilationFailed` or `CompilerNotFound` like `minting.compiler.compile_contracts`.
    """
    sources = read_sources(contracts_dir)
    key = build_info_key(sources)
    path = build_info_dir / f"{key}.json"
    if path.is_file() and not force:
        _remove_others(build_info_dir, keep=path)
        return path, True
    settings = build_info_settings()
    solc_binary = resolve_solc_binary()
    output = run_compiler(sources, solc_binary, settings=settings)
    long_version = solcx.wrapper.get_solc_version(solc_binary, with_commit_hash=True)
    data = {
        "_format": BUILD_INFO_FORMAT,
        "id": key,
        "solcVersion": SOLC_VERSION,
        "solcLongVersion": str(long_version),
        "input": standard_input(sources, settings),
        "output": output,
    }
    build_info_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False))
    tmp.replace(path)
    _remove_others(build_info_dir, keep=path)
    return path, False


def _remove_others(build_info_dir: Path, keep: Path) -> None:
    """Leave exactly one build-info: readers analyse every `.json` in the directory."""
    for other in build_info_dir.glob("*.json"):
        if other != keep:
            other.unlink()
