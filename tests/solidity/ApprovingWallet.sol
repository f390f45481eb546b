// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ApprovingWallet — a contract wallet that signs by approving hashes (test only)
/// @notice ERC-1271 the way a multisig's "approved hashes" work: `isValidSignature` accepts a
/// hash its owner approved beforehand, whatever the signature bytes. Stands in for a contract
/// that won a naming right and proposes the park's name through `proposeNameWithSig`.
contract ApprovingWallet {
    /// @notice ERC-1271's magic value, `isValidSignature.selector`.
    bytes4 internal constant MAGIC_VALUE = 0x1626ba7e;

    /// @notice Who may approve hashes.
    address public immutable owner;
    /// @notice Hashes this wallet has signed.
    mapping(bytes32 hash => bool approved) public approved;

    /// @notice Only the owner may approve a hash.
    error ApprovingWalletNotOwner(address caller);

    constructor(address owner_) {
        owner = owner_;
    }

    /// @notice Signs `hash`: from now on `isValidSignature(hash, …)` accepts it.
    function approveHash(bytes32 hash) external {
        if (msg.sender != owner) revert ApprovingWalletNotOwner(msg.sender);
        approved[hash] = true;
    }

    /// @notice ERC-1271: the magic value for an approved hash, 0xffffffff otherwise.
    function isValidSignature(bytes32 hash, bytes calldata) external view returns (bytes4) {
        return approved[hash] ? MAGIC_VALUE : bytes4(0xffffffff);
    }
}
