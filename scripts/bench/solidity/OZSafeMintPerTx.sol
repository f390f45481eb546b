// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @notice Gas baseline: the textbook path, one `_safeMint` transaction per token.
contract OZSafeMintPerTx is ERC721 {
    constructor() ERC721("Baseline", "B") {}

    /// @notice Mints `tokenId` to `to` with the receiver check.
    function mint(address to, uint256 tokenId) external {
        _safeMint(to, tokenId);
    }
}
