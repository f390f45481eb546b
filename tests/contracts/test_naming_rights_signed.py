"""NamingRights.proposeNameWithSig on eth-tester: gasless name proposals signed by the primary
winner (EIP-712 `NameProposal`, one nonce each) and relayed by anyone."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3

from minting.compiler import CompiledTree
from minting.errors import ContractReverted
from minting.naming_rights import (
    EIP712_NAME,
    EIP712_VERSION,
    NameStatus,
    NamingRightsClient,
    name_proposal_signature,
    name_proposal_typed_data,
    signed_proposals_supported,
)
from tests.contracts.naming_fixtures import (  # noqa: F401  (fixtures)
    DEPLOY_GAS,
    SETUP_GAS,
    NamingWorld,
    deploy_artifact,
    lot_config,
    naming_artifacts_fixture,
    naming_deployment_fixture,
    naming_fixture,
    transact,
)

pytestmark = pytest.mark.chain

PARK_NAME = "さくらんぼタントクルセンター公園"
HOUR = 3_600
ZERO = "0x0000000000000000000000000000000000000000"


def _args(reverted: ContractReverted) -> dict[str, object]:
    """The revert's arguments, addresses checksummed (the decoder returns them lower-case)."""
    return {
        key: Web3.to_checksum_address(value) if isinstance(value, str) and Web3.is_address(value) else value
        for key, value in reverted.arguments.items()
    }


def _in_term(naming: NamingWorld, lot_id: int) -> None:
    """One second past the term's start, so calls (run on the latest block) see it too."""
    naming.travel_to(naming.client.lot(lot_id).term_start + 1)


def _sign(
    naming: NamingWorld,
    signer: LocalAccount,
    lot_id: int,
    name: str = PARK_NAME,
    *,
    nonce_of: str | None = None,
    deadline: int | None = None,
    **domain: Any,
) -> tuple[int, bytes]:
    """(deadline, signature) of a proposal by `signer`, with the nonce of `nonce_of` (default:
    the signer's) on the world's contract and chain unless `contract`/`chain_id` are given."""
    deadline = naming.now() + HOUR if deadline is None else deadline
    signature = name_proposal_signature(
        signer,
        contract=domain.get("contract", naming.client.address),
        chain_id=domain.get("chain_id", int(naming.w3.eth.chain_id)),
        lot_id=lot_id,
        name=name,
        nonce=naming.client.nonce_of(nonce_of or signer.address),
        deadline=deadline,
    )
    return deadline, signature


def _refused(client: NamingRightsClient, lot_id: int, name: str, deadline: int, signature: bytes) -> ContractReverted:
    with pytest.raises(ContractReverted) as excinfo:
        client.propose_name_with_sig(lot_id, name, deadline, signature)
    return excinfo.value


def _awarded_in_term(naming: NamingWorld, winner: LocalAccount) -> int:
    lot_id = naming.awarded_lot(winner)
    _in_term(naming, lot_id)
    return lot_id


# --- the happy path --------------------------------------------------------------------


@pytest.mark.parametrize("relayer", ["minter", "anyone"])
def test_signed_proposal_relayed_is_the_winners_and_costs_the_winner_nothing(naming: NamingWorld, relayer: str) -> None:
    winner = naming.bidders[0]
    lot_id = naming.won_lot(winner)
    _in_term(naming, lot_id)
    deadline, signature = _sign(naming, winner, lot_id)
    relay = naming.client if relayer == "minter" else naming.as_(naming.bidders[5])
    balance = naming.w3.eth.get_balance(winner.address)

    receipt = relay.propose_name_with_sig(lot_id, PARK_NAME, deadline, signature)

    (event,) = naming.client.events(receipt, "NameProposed")
    assert dict(event["args"]) == {"lotId": lot_id, "proposer": winner.address, "name": PARK_NAME}
    assert receipt["from"] == relay.account.address != winner.address  # type: ignore[union-attr]
    record = naming.client.name_record(lot_id)
    assert (record.status, record.name) == (NameStatus.PENDING, PARK_NAME)
    assert naming.client.nonce_of(winner.address) == 1
    assert naming.w3.eth.get_balance(winner.address) == balance
    naming.client.approve_name(lot_id)
    naming.travel_to(naming.now() + 1)
    assert naming.client.current_name(lot_id) == PARK_NAME


def test_signed_proposal_by_offchain_winner_with_client_helper(naming: NamingWorld) -> None:
    winner = naming.bidders[3]
    lot_id = _awarded_in_term(naming, winner)
    deadline = naming.now() + HOUR
    signature = naming.client.sign_name_proposal(winner, lot_id, "Park 🌸 公園", deadline)
    naming.client.propose_name_with_sig(lot_id, "Park 🌸 公園", deadline, signature)
    assert naming.client.name_record(lot_id).name == "Park 🌸 公園"


def test_deadline_is_inclusive(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    deadline, signature = _sign(naming, winner, lot_id, deadline=naming.now())  # the next block's second
    receipt = naming.client.propose_name_with_sig(lot_id, PARK_NAME, deadline, signature, gas=SETUP_GAS)
    assert naming.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == deadline
    assert naming.client.name_record(lot_id).status is NameStatus.PENDING


# --- signatures that must not work ---------------------------------------------------------


def test_expired_signature_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    deadline, signature = _sign(naming, winner, lot_id, deadline=naming.now() + 10)
    naming.travel_to(deadline + 2)

    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)

    assert (reverted.error, _args(reverted)) == ("NamingRightsSignatureExpired", {"deadline": deadline})
    assert naming.client.nonce_of(winner.address) == 0


def test_replayed_signature_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    deadline, signature = _sign(naming, winner, lot_id)
    naming.client.propose_name_with_sig(lot_id, PARK_NAME, deadline, signature)
    naming.client.reject_name(lot_id, 1)  # the winner may propose again, but not with that signature

    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)

    assert (reverted.error, _args(reverted)) == (
        "NamingRightsInvalidSignature",
        {"lotId": lot_id, "winner": winner.address},
    )
    deadline, fresh = _sign(naming, winner, lot_id)  # the next nonce
    naming.client.propose_name_with_sig(lot_id, PARK_NAME, deadline, fresh)
    assert naming.client.nonce_of(winner.address) == 2


def test_signature_by_non_winner_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.won_lot(winner)
    _in_term(naming, lot_id)
    for outsider in (naming.bidders[1], naming.admin):
        for nonce_of in (outsider.address, winner.address):
            deadline, signature = _sign(naming, outsider, lot_id, nonce_of=nonce_of)
            reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)
            assert reverted.error == "NamingRightsInvalidSignature"
            assert _args(reverted) == {"lotId": lot_id, "winner": winner.address}
    assert naming.client.name_record(lot_id).status is NameStatus.NONE


def test_signature_by_later_owner_after_transfer_refused(naming: NamingWorld) -> None:
    winner, buyer = naming.bidders[0], naming.bidders[1]
    lot_id = naming.won_lot(winner)
    transact(naming.w3, winner, naming.client.contract.functions.transferFrom(winner.address, buyer.address, lot_id))
    assert naming.client.owner_of(lot_id) == buyer.address
    _in_term(naming, lot_id)

    deadline, signature = _sign(naming, buyer, lot_id)
    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)
    assert (reverted.error, _args(reverted)) == (
        "NamingRightsInvalidSignature",
        {"lotId": lot_id, "winner": winner.address},
    )

    deadline, signature = _sign(naming, winner, lot_id)  # the right to name stayed with the winner
    receipt = naming.client.propose_name_with_sig(lot_id, PARK_NAME, deadline, signature)
    assert naming.client.events(receipt, "NameProposed")[0]["args"]["proposer"] == winner.address


def test_signature_for_another_chain_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    deadline, signature = _sign(naming, winner, lot_id, chain_id=int(naming.w3.eth.chain_id) + 1)
    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)
    assert reverted.error == "NamingRightsInvalidSignature"


def test_signature_for_another_contract_refused_there_and_accepted_by_its_own(
    naming: NamingWorld, compiled: CompiledTree
) -> None:
    winner = naming.bidders[0]
    other, _ = NamingRightsClient.deploy(
        naming.w3, compiled["NamingRights"], naming.admin, name="Other town", gas=DEPLOY_GAS
    )
    lot_id = _awarded_in_term(naming, winner)
    lot = naming.client.lot(lot_id)
    now = naming.now()
    config = lot_config(now, term_start=lot.term_start, term_end=lot.term_end)
    assert other.create_lot(config, gas=SETUP_GAS).lot_id == lot_id
    other.award_offchain(lot_id, winner.address, gas=SETUP_GAS)
    deadline, signature = _sign(naming, winner, lot_id, contract=other.address)  # same lot, winner, nonce

    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)

    assert reverted.error == "NamingRightsInvalidSignature"
    other.propose_name_with_sig(lot_id, PARK_NAME, deadline, signature)
    assert other.name_record(lot_id).status is NameStatus.PENDING


@pytest.mark.parametrize("field", ["lotId", "name", "deadline"])
def test_signature_of_other_values_refused(naming: NamingWorld, field: str) -> None:
    """Only the signed values work: each of the three sent otherwise (the other lot is the same
    winner's, in its term too) breaks the signature."""
    winner = naming.bidders[0]
    other_lot = naming.awarded_lot(winner)
    lot_id = _awarded_in_term(naming, winner)
    deadline, signature = _sign(naming, winner, lot_id)
    sent_lot = other_lot if field == "lotId" else lot_id
    sent_name = "別の公園" if field == "name" else PARK_NAME
    sent_deadline = deadline + 1 if field == "deadline" else deadline

    reverted = _refused(naming.client, sent_lot, sent_name, sent_deadline, signature)

    assert (reverted.error, _args(reverted)) == (
        "NamingRightsInvalidSignature",
        {"lotId": sent_lot, "winner": winner.address},
    )
    naming.client.propose_name_with_sig(lot_id, PARK_NAME, deadline, signature)  # as signed, it works


@pytest.mark.parametrize("signature", [b"", b"\x01" * 64, b"\x00" * 65, b"\xff" * 65, b"\x01" * 66])
def test_malformed_signature_refused_with_invalid_signature(naming: NamingWorld, signature: bytes) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    reverted = _refused(naming.client, lot_id, PARK_NAME, naming.now() + HOUR, signature)
    assert (reverted.error, _args(reverted)) == (
        "NamingRightsInvalidSignature",
        {"lotId": lot_id, "winner": winner.address},
    )


def test_signed_proposal_on_unsold_or_unknown_lot_refused(naming: NamingWorld) -> None:
    lot_id = naming.create_lot()
    _in_term(naming, lot_id)
    deadline, signature = _sign(naming, naming.bidders[0], lot_id)
    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)
    assert (reverted.error, _args(reverted)) == ("NamingRightsInvalidSignature", {"lotId": lot_id, "winner": ZERO})

    reverted = _refused(naming.client, 99, PARK_NAME, deadline, signature)
    assert (reverted.error, _args(reverted)) == ("NamingRightsUnknownLot", {"lotId": 99})


# --- the same rules as proposeName ---------------------------------------------------------


def test_signed_proposal_outside_term_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = naming.awarded_lot(winner)
    lot = naming.client.lot(lot_id)
    expected = {"lotId": lot_id, "termStart": lot.term_start, "termEnd": lot.term_end}
    deadline, signature = _sign(naming, winner, lot_id, deadline=lot.term_end + HOUR)
    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)  # before the term
    assert (reverted.error, _args(reverted)) == ("NamingRightsOutsideTerm", expected)

    naming.travel_to(lot.term_end)
    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, signature)  # after it
    assert (reverted.error, _args(reverted)) == ("NamingRightsOutsideTerm", expected)
    assert naming.client.nonce_of(winner.address) == 0  # a refused proposal uses no nonce


def test_signed_proposal_while_pending_or_after_approval_refused(naming: NamingWorld) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    naming.as_(winner).propose_name(lot_id, PARK_NAME)  # a wallet proposal uses no nonce either
    assert naming.client.nonce_of(winner.address) == 0

    deadline, signature = _sign(naming, winner, lot_id, "別の公園")
    reverted = _refused(naming.client, lot_id, "別の公園", deadline, signature)
    assert (reverted.error, _args(reverted)) == ("NamingRightsNamePending", {"lotId": lot_id})

    naming.client.approve_name(lot_id)
    reverted = _refused(naming.client, lot_id, "別の公園", deadline, signature)
    assert (reverted.error, _args(reverted)) == ("NamingRightsNameAlreadyApproved", {"lotId": lot_id})
    assert naming.client.nonce_of(winner.address) == 0


@pytest.mark.parametrize(
    ("name", "error", "arguments"),
    [
        ("", "NamingRightsEmptyName", {}),
        ("公" * 22, "NamingRightsNameTooLong", {"length": 66, "maxLength": 64}),
        ("中央\n公園", "NamingRightsNameMalformed", {"offset": 6}),
    ],
)
def test_signed_proposal_of_invalid_name_refused(
    naming: NamingWorld, name: str, error: str, arguments: dict[str, object]
) -> None:
    winner = naming.bidders[0]
    lot_id = _awarded_in_term(naming, winner)
    deadline, signature = _sign(naming, winner, lot_id, name)
    reverted = _refused(naming.client, lot_id, name, deadline, signature)
    assert (reverted.error, _args(reverted)) == (error, arguments)


# --- contract winners (ERC-1271) -----------------------------------------------------------


def test_contract_winner_proposes_with_erc1271(naming: NamingWorld) -> None:
    owner = naming.bidders[2]
    wallet = deploy_artifact(naming.w3, naming.test_artifacts["ApprovingWallet"], owner, owner.address)
    lot_id = naming.create_lot()
    naming.client.award_offchain(lot_id, wallet.address, gas=SETUP_GAS)
    _in_term(naming, lot_id)
    deadline = naming.now() + HOUR
    typed = name_proposal_typed_data(
        contract=naming.client.address,
        chain_id=int(naming.w3.eth.chain_id),
        lot_id=lot_id,
        name=PARK_NAME,
        nonce=naming.client.nonce_of(wallet.address),
        deadline=deadline,
    )
    digest = _hash_eip191_message(encode_typed_data(full_message=typed))

    reverted = _refused(naming.client, lot_id, PARK_NAME, deadline, b"")  # not approved yet
    assert (reverted.error, _args(reverted)) == (
        "NamingRightsInvalidSignature",
        {"lotId": lot_id, "winner": wallet.address},
    )

    transact(naming.w3, owner, wallet.functions.approveHash(digest))
    receipt = naming.client.propose_name_with_sig(lot_id, PARK_NAME, deadline, b"")
    assert naming.client.events(receipt, "NameProposed")[0]["args"]["proposer"] == wallet.address
    assert naming.client.nonce_of(wallet.address) == 1


# --- the domain ----------------------------------------------------------------------------


def test_domain_and_type_hash_match_the_python_typed_data(naming: NamingWorld) -> None:
    chain_id = int(naming.w3.eth.chain_id)
    domain = naming.client.domain()
    assert (domain.name, domain.version, domain.chainId, domain.verifyingContract) == (
        EIP712_NAME,
        EIP712_VERSION,
        chain_id,
        naming.client.address,
    )
    typed = name_proposal_typed_data(
        contract=naming.client.address, chain_id=chain_id, lot_id=1, name=PARK_NAME, nonce=0, deadline=1
    )
    assert encode_typed_data(full_message=typed).header == naming.client.domain_separator()
    type_hash = naming.client.contract.functions.NAME_PROPOSAL_TYPEHASH().call()
    assert type_hash == Web3.keccak(text="NameProposal(uint256 lotId,string name,uint256 nonce,uint256 deadline)")
    assert signed_proposals_supported(naming.w3, naming.client.address)
