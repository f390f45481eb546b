"""The compiler: binary resolution, the solc-js executable, errors, and the artifact cache."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import solcx
from packaging.version import Version

from minting import compiler
from minting.compiler import SOLC_VERSION, SOLCJS_EXECUTABLE, compile_contracts, resolve_solc_binary
from minting.errors import CompilationFailed, CompilerNotFound

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def contracts_copy(tmp_path: Path) -> Path:
    target = tmp_path / "contracts"
    shutil.copytree(REPO_ROOT / "contracts", target)
    return target


@pytest.fixture
def compiler_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real compiler runs."""
    calls: list[int] = []
    real = compiler.run_compiler

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(compiler, "run_compiler", counting)
    return calls


def test_second_compile_of_unchanged_tree_makes_no_compiler_call(
    contracts_copy: Path, tmp_path: Path, compiler_calls: list[int]
) -> None:
    build = tmp_path / "build"
    first = compile_contracts(contracts_copy, build)
    second = compile_contracts(contracts_copy, build)

    assert compiler_calls == [1]
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.key == first.key
    assert second["ResidentCard"] == first["ResidentCard"]
    assert len(first["ResidentCard"].deployed_bytecode) > 10_000  # real code, hex


def test_editing_a_source_recompiles(contracts_copy: Path, tmp_path: Path, compiler_calls: list[int]) -> None:
    build = tmp_path / "build"
    first = compile_contracts(contracts_copy, build)
    source = contracts_copy / "ResidentCard.sol"
    source.write_text(source.read_text() + "\n// an edit\n")

    edited = compile_contracts(contracts_copy, build)

    assert compiler_calls == [1, 1]
    assert edited.key != first.key
    assert not edited.from_cache
    assert json.loads((build / "cache.json").read_text())["key"] == edited.key


def test_compile_error_reports_file_and_line(tmp_path: Path) -> None:
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "Broken.sol").write_text(
        "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.28;\n\ncontract Broken {\n    uint256 x = y;\n}\n"
    )

    with pytest.raises(CompilationFailed) as raised:
        compile_contracts(contracts, tmp_path / "build")

    assert raised.value.errors == ["contracts/Broken.sol:5: DeclarationError: Undeclared identifier."]
    assert not (tmp_path / "build" / "cache.json").exists()


def test_solcjs_executable_answers_version_like_native_solc() -> None:
    assert solcx.wrapper.get_solc_version(SOLCJS_EXECUTABLE) == Version(SOLC_VERSION)


def test_solcjs_executable_writes_large_output_whole(tmp_path: Path) -> None:
    """The `solcjs` CLI cuts piped output at 64-128 KiB; ours must not."""
    standard_input = {
        "language": "Solidity",
        "sources": {"contracts/ResidentCard.sol": {"content": (REPO_ROOT / "contracts/ResidentCard.sol").read_text()}},
        "settings": {
            **compiler.compiler_settings(),
            "outputSelection": {"*": {"*": ["*"], "": ["ast"]}},
        },
    }
    result = subprocess.run(
        [str(SOLCJS_EXECUTABLE), "--standard-json", "--base-path", str(REPO_ROOT), "--allow-paths", str(REPO_ROOT)],
        input=json.dumps(standard_input),
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert len(result.stdout.encode()) > 512 * 1024
    output = json.loads(result.stdout)  # whole, valid JSON
    assert "ResidentCard" in output["contracts"]["contracts/ResidentCard.sol"]
    assert not [e for e in output.get("errors", []) if e["severity"] == "error"]


def test_solc_binary_env_takes_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "solc"
    fake.write_text("#!/bin/sh\n")
    monkeypatch.setenv("SOLC_BINARY", str(fake))
    assert resolve_solc_binary() == fake

    monkeypatch.setenv("SOLC_BINARY", str(tmp_path / "missing"))
    with pytest.raises(CompilerNotFound, match="SOLC_BINARY"):
        resolve_solc_binary()


def test_native_solc_installed_by_py_solc_x_is_preferred_to_solcjs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """py-solc-x keeps native binaries as `solc-v<version>` in its install folder."""
    native = tmp_path / f"solc-v{SOLC_VERSION}"
    native.symlink_to(SOLCJS_EXECUTABLE)  # stands in for a native binary: same interface
    monkeypatch.delenv("SOLC_BINARY", raising=False)
    monkeypatch.setenv("SOLCX_BINARY_PATH", str(tmp_path))

    assert resolve_solc_binary() == native
    assert solcx.wrapper.get_solc_version(native) == Version(SOLC_VERSION)

    native.unlink()
    assert resolve_solc_binary() == SOLCJS_EXECUTABLE


def test_wrong_compiler_version_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "solc"
    fake.write_text("#!/bin/sh\necho 'Version: 0.8.19+commit.7dd6d404.Linux.g++'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("SOLC_BINARY", str(fake))
    with pytest.raises(CompilerNotFound, match=r"solc 0\.8\.19; Furusato pins"):
        compile_contracts(REPO_ROOT / "contracts", tmp_path / "build", force=True)


def test_pinned_version_matches_package_json() -> None:
    package = json.loads((REPO_ROOT / "package.json").read_text())
    assert package["dependencies"]["solc"] == SOLC_VERSION
