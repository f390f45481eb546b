// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721A} from "erc721a/contracts/ERC721A.sol";

/// @notice Gas baseline: ERC721A, one `_mint(to, 1)` per distinct recipient (sequential ids;
/// ERC721A keeps the supply counter itself).
contract ERC721AMintLoop is ERC721A {
    constructor() ERC721A("Baseline", "B") {}

    /// @notice Mints one token to each of `to`.
    function mintBatch(address[] calldata to) external {
        for (uint256 i = 0; i < to.length; ++i) {
            _mint(to[i], 1);
        }
    }
}
