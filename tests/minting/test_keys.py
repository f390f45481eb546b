"""Signing keys: explicit, environment, encrypted keystore, dev account; never in messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from minting.chains import Chain
from minting.errors import SignerKeyInvalid
from minting.keys import load_signer

pytestmark = pytest.mark.chain


def test_key_sources_in_order(eth_tester_chain: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    dev = eth_tester_chain.dev_accounts()[0]
    assert load_signer(eth_tester_chain).address == dev.address  # a dev chain's first account

    stored = Account.create()
    keystore = tmp_path / "minter.json"
    keystore.write_text(json.dumps(Account.encrypt(stored.key, "open sesame")))
    monkeypatch.setenv("FURUSATO_MINTER_KEYSTORE", str(keystore))
    monkeypatch.setenv("FURUSATO_MINTER_KEYSTORE_PASSWORD", "open sesame")
    assert load_signer(eth_tester_chain).address == stored.address

    from_env = Account.create()
    monkeypatch.setenv("FURUSATO_MINTER_KEY", "0x" + bytes(from_env.key).hex())
    assert load_signer(eth_tester_chain).address == from_env.address

    explicit = Account.create()
    assert load_signer(eth_tester_chain, key="0x" + bytes(explicit.key).hex()).address == explicit.address


def test_bad_keys_are_refused_without_showing_them(
    eth_tester_chain: Chain, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FURUSATO_MINTER_KEY", "0xnot-a-key-but-secret-looking")
    with pytest.raises(SignerKeyInvalid) as raised:
        load_signer(eth_tester_chain)
    assert "secret-looking" not in str(raised.value)
    monkeypatch.delenv("FURUSATO_MINTER_KEY")
    keystore = tmp_path / "k.json"
    keystore.write_text(json.dumps(Account.encrypt(Account.create().key, "right")))
    monkeypatch.setenv("FURUSATO_MINTER_KEYSTORE", str(keystore))
    monkeypatch.setenv("FURUSATO_MINTER_KEYSTORE_PASSWORD", "wrong")
    with pytest.raises(SignerKeyInvalid, match="cannot decrypt keystore"):
        load_signer(eth_tester_chain)
