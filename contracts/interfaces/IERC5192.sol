// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ERC-5192: Minimal Soulbound NFTs
/// @dev Interface id 0xb45a3c0e. A locked token cannot be transferred by its holder.
interface IERC5192 {
    /// @notice Emitted when the locking status of `tokenId` changes to locked.
    event Locked(uint256 tokenId);

    /// @notice Emitted when the locking status of `tokenId` changes to unlocked.
    event Unlocked(uint256 tokenId);

    /// @notice Whether `tokenId` is locked (soulbound). Reverts for a token that does not exist.
    function locked(uint256 tokenId) external view returns (bool);
}
