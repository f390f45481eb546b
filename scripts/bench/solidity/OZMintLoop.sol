// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @notice Gas baseline: OpenZeppelin `_mint` in a loop, same calldata as ResidentCard.mintBatch,
/// with a supply counter written once per batch.
contract OZMintLoop is ERC721 {
    uint256 private _totalSupply;

    constructor() ERC721("Baseline", "B") {}

    /// @notice Mints `ids[i]` to `to[i]`.
    function mintBatch(address[] calldata to, uint256[] calldata ids) external {
        for (uint256 i = 0; i < ids.length; ++i) {
            _mint(to[i], ids[i]);
        }
        _totalSupply += ids.length;
    }
}
