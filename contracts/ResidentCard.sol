// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Pausable} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Pausable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

/// @title ResidentCard — a town's digital resident cards (デジタル住民票)
/// @notice One contract per town. A card's token id is the resident's number, assigned by
/// the town's backend when an order is paid, so minting is idempotent: an id that already
/// exists is skipped and a replayed batch mints only what is missing.
contract ResidentCard is ERC721Pausable, AccessControl, IERC4906 {
    /// @notice Role allowed to mint cards in batches (the backend's minter key).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role allowed to pause and unpause issuance and transfers.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Most recipients one `mintBatch` may carry, so a batch always fits in a block
    /// (and under the 2^24 per-transaction gas cap of newer forks).
    uint256 public constant MAX_BATCH = 200;

    string private _baseTokenURI;

    /// @notice The two arrays of a batch differ in length.
    /// @param recipients number of recipients
    /// @param ids number of token ids
    error ResidentCardBatchLengthMismatch(uint256 recipients, uint256 ids);

    /// @notice A batch is empty or larger than {MAX_BATCH}.
    /// @param size the size given
    /// @param max the largest size allowed
    error ResidentCardBatchSize(uint256 size, uint256 max);

    /// @notice A card was issued for an order.
    /// @param to the holder
    /// @param tokenId the card number
    event CardIssued(address indexed to, uint256 indexed tokenId);

    /// @param name_ collection name, e.g. "西川町デジタル住民票"
    /// @param symbol_ collection symbol
    /// @param baseURI_ metadata base URI; `tokenURI(id)` is this followed by the id
    /// @param admin holder of every role at deployment (the town's admin key)
    constructor(string memory name_, string memory symbol_, string memory baseURI_, address admin)
        ERC721(name_, symbol_)
    {
        _baseTokenURI = baseURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    /// @notice Mints card `ids[i]` to `to[i]`, skipping ids that already exist.
    /// @dev Requirements: caller has {MINTER_ROLE}; arrays of equal length between 1 and
    /// {MAX_BATCH}; not paused. Emits a {Transfer} and a {CardIssued} event per new card.
    /// @return minted how many cards this call created
    function mintBatch(address[] calldata to, uint256[] calldata ids)
        external
        onlyRole(MINTER_ROLE)
        returns (uint256 minted)
    {
        if (to.length != ids.length) revert ResidentCardBatchLengthMismatch(to.length, ids.length);
        if (ids.length == 0 || ids.length > MAX_BATCH) revert ResidentCardBatchSize(ids.length, MAX_BATCH);
        for (uint256 i = 0; i < ids.length; ++i) {
            if (_ownerOf(ids[i]) != address(0)) continue;
            _mint(to[i], ids[i]);
            emit CardIssued(to[i], ids[i]);
            // Cannot overflow: bounded by MAX_BATCH.
            unchecked {
                ++minted;
            }
        }
    }

    /// @notice Points metadata at a new base URI.
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}. Emits a {BatchMetadataUpdate} event.
    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _baseTokenURI = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    /// @notice Stops issuance and transfers. Requirements: caller has {PAUSER_ROLE}.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes issuance and transfers. Requirements: caller has {PAUSER_ROLE}.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc ERC721
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, AccessControl, IERC165)
        returns (bool)
    {
        return interfaceId == bytes4(0x49064906) || super.supportsInterface(interfaceId);
    }

    function _baseURI() internal view override returns (string memory) {
        return _baseTokenURI;
    }
}
