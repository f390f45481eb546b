// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC2981} from "@openzeppelin/contracts/token/common/ERC2981.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {IERC5192} from "./interfaces/IERC5192.sol";

/// @title ResidentCard — a town's digital resident cards (デジタル住民票)
/// @notice One contract per town; each drop is a *series*: a contiguous id range with its own
/// sale window, price, per-buyer cap and optional soulbound lock (ERC-5192). A card's token id
/// is the resident's number, assigned by the town's backend when an order is paid, so issuing
/// is idempotent: `mintBatch` skips ids that exist and a replayed batch mints only what is
/// missing. Buyers with their own wallet pay on-chain with an EIP-712 voucher the backend
/// signs; walletless holders move a card to their own wallet with a signed permit that anyone
/// (for soulbound series: only the minter) relays.
contract ResidentCard is ERC721, ERC2981, AccessControl, Pausable, Nonces, EIP712, IERC4906, IERC5192 {
    /// @notice Role that issues cards in batches (the backend's minter key).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role whose EIP-712 vouchers `purchase` accepts (the backend's signer key).
    bytes32 public constant SIGNER_ROLE = keccak256("SIGNER_ROLE");
    /// @notice Role that pauses and unpauses issuance, sales and moves.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Most cards one `mintBatch` may carry: at about 50,000 gas a card, 300 stay
    /// under the 2^24 per-transaction gas cap of newer forks and well inside a block.
    uint256 public constant MAX_BATCH = 300;
    /// @notice Highest royalty the admin may set, in basis points (10 %).
    uint96 public constant MAX_ROYALTY_BPS = 1000;

    /// @notice What a buyer with their own wallet redeems with `purchase`.
    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(address buyer,uint256 tokenId,uint256 price,uint256 deadline,bytes32 orderRef)");
    /// @notice What a holder signs to have a card moved to `to` by a relayer.
    bytes32 public constant MOVE_TYPEHASH =
        keccak256("Move(address holder,address to,uint256 tokenId,uint256 nonce,uint256 deadline)");

    /// @notice One drop: a contiguous id range and how it is sold.
    /// @dev Bits Layout, slot 0: [0..63] firstId, [64..127] lastId, [128..191] saleStart,
    /// [192..255] saleEnd. Slot 1: [0..127] priceWei, [128..159] perBuyerCap, [160..167] soulbound.
    struct Series {
        uint64 firstId;
        uint64 lastId;
        uint64 saleStart;
        uint64 saleEnd;
        uint128 priceWei;
        uint32 perBuyerCap;
        bool soulbound;
    }

    /// @notice An on-chain purchase the backend authorised for one buyer and one card.
    struct Voucher {
        address buyer;
        uint256 tokenId;
        uint256 price;
        uint256 deadline;
        bytes32 orderRef;
    }

    Series[] private _series;
    mapping(uint256 seriesId => mapping(address buyer => uint256 purchased)) private _purchased;
    uint256 private _totalSupply;
    uint256 private _proceeds;
    address private _treasury;
    string private _baseTokenURI;
    /// @dev Set only for the duration of a permitted move, so `_update` lets a soulbound card go.
    bool private transient _moving;

    /// @notice The two arrays of a batch differ in length.
    /// @param recipients number of recipients
    /// @param ids number of token ids
    error ResidentCardBatchLengthMismatch(uint256 recipients, uint256 ids);
    /// @notice A batch is empty or larger than {MAX_BATCH}.
    /// @param size the size given
    /// @param max the largest size allowed
    error ResidentCardBatchSize(uint256 size, uint256 max);
    /// @notice No series covers `tokenId`.
    /// @param tokenId the id
    error ResidentCardIdOutsideSeries(uint256 tokenId);
    /// @notice A new series' id range is empty or overlaps series `existing`.
    /// @param firstId first id asked for
    /// @param lastId last id asked for
    /// @param existing the series it overlaps, or type(uint256).max for an empty range
    error ResidentCardBadRange(uint64 firstId, uint64 lastId, uint256 existing);
    /// @notice A sale window ends before it starts.
    /// @param saleStart start of the window
    /// @param saleEnd end of the window
    error ResidentCardBadSaleWindow(uint64 saleStart, uint64 saleEnd);
    /// @notice `seriesId` does not exist.
    /// @param seriesId the id given
    error ResidentCardUnknownSeries(uint256 seriesId);
    /// @notice `tokenId` belongs to a soulbound series: its holder cannot transfer or approve it.
    /// @param tokenId the card
    error ResidentCardSoulbound(uint256 tokenId);
    /// @notice The voucher was issued for `buyer`, not for the sender.
    /// @param sender who sent the purchase
    /// @param buyer who the voucher is for
    error ResidentCardWrongBuyer(address sender, address buyer);
    /// @notice A voucher or permit is past its deadline.
    /// @param deadline its deadline
    error ResidentCardExpired(uint256 deadline);
    /// @notice The value sent differs from the voucher's price.
    /// @param sent value sent
    /// @param price price in the voucher
    error ResidentCardWrongPayment(uint256 sent, uint256 price);
    /// @notice The voucher's price is below its series' price.
    /// @param price price in the voucher
    /// @param seriesPrice the series' price
    error ResidentCardPriceBelowSeries(uint256 price, uint256 seriesPrice);
    /// @notice The voucher was not signed by an account with {SIGNER_ROLE}.
    /// @param signer the recovered signer
    error ResidentCardInvalidSigner(address signer);
    /// @notice The series is not on sale now.
    /// @param seriesId the series
    /// @param saleStart start of its window
    /// @param saleEnd end of its window
    error ResidentCardSaleClosed(uint256 seriesId, uint64 saleStart, uint64 saleEnd);
    /// @notice The card has been issued already.
    /// @param tokenId the card
    error ResidentCardAlreadyIssued(uint256 tokenId);
    /// @notice The buyer has bought as many cards of this series as it allows.
    /// @param buyer the buyer
    /// @param cap the series' per-buyer cap
    error ResidentCardBuyerLimit(address buyer, uint32 cap);
    /// @notice `holder` does not hold `tokenId`.
    /// @param tokenId the card
    /// @param holder the holder named in the permit
    error ResidentCardNotHolder(uint256 tokenId, address holder);
    /// @notice The permit was not signed by `holder`.
    /// @param holder the holder named in the permit
    error ResidentCardInvalidPermit(address holder);
    /// @notice Only the minter may relay moves of soulbound cards.
    /// @param relayer who tried
    error ResidentCardRelayNotAllowed(address relayer);
    /// @notice Royalty above {MAX_ROYALTY_BPS}.
    /// @param bps the rate asked for
    /// @param max the highest allowed
    error ResidentCardRoyaltyTooHigh(uint96 bps, uint96 max);
    /// @notice Only the treasury or an admin may withdraw proceeds; the zero address is no treasury.
    /// @param account who tried, or the treasury given
    error ResidentCardNotTreasury(address account);

    /// @notice A series was added.
    event SeriesAdded(uint256 indexed seriesId, uint64 firstId, uint64 lastId, bool soulbound);
    /// @notice A series' sale terms changed.
    event SeriesSaleUpdated(uint256 indexed seriesId, uint128 priceWei, uint64 saleStart, uint64 saleEnd, uint32 perBuyerCap);
    /// @notice A buyer paid on-chain for a card with a voucher.
    event CardPurchased(
        address indexed buyer, uint256 indexed tokenId, uint256 indexed seriesId, bytes32 orderRef, uint256 price
    );
    /// @notice A card was moved with its holder's permit.
    event CardMovedWithPermit(uint256 indexed tokenId, address indexed from, address indexed to, address relayer);
    /// @notice Sale proceeds were paid to the treasury.
    event ProceedsWithdrawn(address indexed treasury, uint256 amount);
    /// @notice The treasury (proceeds and royalty receiver) changed.
    event TreasuryChanged(address indexed treasury, uint96 royaltyBps);

    /// @param name_ collection name, e.g. "西川町デジタル住民票"; also the EIP-712 domain name
    /// @param symbol_ collection symbol
    /// @param baseURI_ metadata base URI; `tokenURI(id)` is this followed by the id
    /// @param admin holder of every role at deployment (the town's admin key)
    /// @param treasury_ receives proceeds and royalties
    /// @param royaltyBps_ royalty in basis points, at most {MAX_ROYALTY_BPS}
    constructor(
        string memory name_,
        string memory symbol_,
        string memory baseURI_,
        address admin,
        address treasury_,
        uint96 royaltyBps_
    ) ERC721(name_, symbol_) EIP712(name_, "1") {
        _baseTokenURI = baseURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
        _grantRole(SIGNER_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _setTreasury(treasury_, royaltyBps_);
    }

    // ─────────────────────────────────────────────────────────────────────────────
    // Series
    // ─────────────────────────────────────────────────────────────────────────────

    /// @notice Adds a series covering ids `firstId`..`lastId` (inclusive).
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}; `firstId <= lastId`; the range
    /// overlaps no other series; `saleStart <= saleEnd`. Emits {SeriesAdded} and {SeriesSaleUpdated}.
    /// @return seriesId the new series' id (0, 1, 2, …)
    function addSeries(
        uint64 firstId,
        uint64 lastId,
        uint128 priceWei,
        uint64 saleStart,
        uint64 saleEnd,
        uint32 perBuyerCap,
        bool soulbound
    ) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint256 seriesId) {
        if (firstId > lastId) revert ResidentCardBadRange(firstId, lastId, type(uint256).max);
        if (saleStart > saleEnd) revert ResidentCardBadSaleWindow(saleStart, saleEnd);
        uint256 count = _series.length;
        for (uint256 i = 0; i < count; ++i) {
            Series storage other = _series[i];
            if (firstId <= other.lastId && other.firstId <= lastId) revert ResidentCardBadRange(firstId, lastId, i);
        }
        seriesId = count;
        _series.push(Series(firstId, lastId, saleStart, saleEnd, priceWei, perBuyerCap, soulbound));
        emit SeriesAdded(seriesId, firstId, lastId, soulbound);
        emit SeriesSaleUpdated(seriesId, priceWei, saleStart, saleEnd, perBuyerCap);
    }

    /// @notice Changes how series `seriesId` is sold on-chain.
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}; the series exists; `saleStart <= saleEnd`.
    /// Emits a {SeriesSaleUpdated} event.
    function setSale(uint256 seriesId, uint128 priceWei, uint64 saleStart, uint64 saleEnd, uint32 perBuyerCap)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        if (seriesId >= _series.length) revert ResidentCardUnknownSeries(seriesId);
        if (saleStart > saleEnd) revert ResidentCardBadSaleWindow(saleStart, saleEnd);
        Series storage s = _series[seriesId];
        (s.priceWei, s.saleStart, s.saleEnd, s.perBuyerCap) = (priceWei, saleStart, saleEnd, perBuyerCap);
        emit SeriesSaleUpdated(seriesId, priceWei, saleStart, saleEnd, perBuyerCap);
    }

    /// @notice Series `seriesId`. Requirements: it exists.
    function series(uint256 seriesId) external view returns (Series memory) {
        if (seriesId >= _series.length) revert ResidentCardUnknownSeries(seriesId);
        return _series[seriesId];
    }

    /// @notice How many series exist.
    function seriesCount() external view returns (uint256) {
        return _series.length;
    }

    /// @notice The series covering `tokenId` (issued or not). Requirements: one covers it.
    function seriesOf(uint256 tokenId) public view returns (uint256 seriesId) {
        uint256 count = _series.length;
        for (uint256 i = 0; i < count; ++i) {
            Series storage s = _series[i];
            if (tokenId >= s.firstId && tokenId <= s.lastId) return i;
        }
        revert ResidentCardIdOutsideSeries(tokenId);
    }

    /// @notice How many cards of `seriesId` `buyer` bought with vouchers (transfers do not count).
    function purchasedBy(uint256 seriesId, address buyer) external view returns (uint256) {
        return _purchased[seriesId][buyer];
    }

    // ─────────────────────────────────────────────────────────────────────────────
    // Issuing
    // ─────────────────────────────────────────────────────────────────────────────

    /// @notice Issues card `ids[i]` to `to[i]`, skipping ids that already exist.
    /// @dev Requirements: caller has {MINTER_ROLE}; not paused; arrays of equal length between
    /// 1 and {MAX_BATCH}; every id inside a series; no recipient is the zero address.
    /// Emits a {Transfer} event per new card, and a {Locked} event per new soulbound card.
    /// Per-buyer caps apply to vouchers only: the backend that assigns ids enforces them here.
    /// @return minted how many cards this call created
    function mintBatch(address[] calldata to, uint256[] calldata ids)
        external
        onlyRole(MINTER_ROLE)
        whenNotPaused
        returns (uint256 minted)
    {
        uint256 length = ids.length;
        if (to.length != length) revert ResidentCardBatchLengthMismatch(to.length, length);
        if (length == 0 || length > MAX_BATCH) revert ResidentCardBatchSize(length, MAX_BATCH);
        // The current series' bounds, kept on the stack: a batch is usually one series, so
        // the range check per card is two comparisons and no storage read.
        Series storage current = _series[seriesOf(ids[0])];
        (uint256 first, uint256 last, bool soulbound) = (current.firstId, current.lastId, current.soulbound);
        for (uint256 i = 0; i < length; ++i) {
            uint256 id = ids[i];
            if (id < first || id > last) {
                current = _series[seriesOf(id)];
                (first, last, soulbound) = (current.firstId, current.lastId, current.soulbound);
            }
            // Skipping an existing id costs no extra storage access: the owner slot read
            // here is the one `_update` would read (and then write) anyway.
            if (_ownerOf(id) != address(0)) continue;
            address recipient = to[i];
            if (recipient == address(0)) revert ERC721InvalidReceiver(address(0));
            // ERC721's own `_update`: our override adds rules for transfers only (a mint's
            // rules are the checks above), and skipping it saves ~100 gas a card.
            ERC721._update(recipient, id, address(0));
            if (soulbound) emit Locked(id);
            // Cannot overflow: bounded by MAX_BATCH.
            unchecked {
                ++minted;
            }
        }
        // Cannot overflow: one per distinct uint64 id at most.
        unchecked {
            _totalSupply += minted;
        }
    }

    /// @notice Redeems a voucher: pays `voucher.price` and receives card `voucher.tokenId`.
    /// @dev Requirements: not paused; sender is `voucher.buyer`; before `voucher.deadline`;
    /// value equals `voucher.price`, which is at least the series price; signed by a
    /// {SIGNER_ROLE} account for this chain and contract; the series is on sale; the card is
    /// not issued yet; the buyer is under the series' per-buyer cap.
    /// Emits {Transfer}, {CardPurchased} and, for soulbound series, {Locked}.
    function purchase(Voucher calldata voucher, bytes calldata signature) external payable whenNotPaused {
        if (msg.sender != voucher.buyer) revert ResidentCardWrongBuyer(msg.sender, voucher.buyer);
        if (block.timestamp > voucher.deadline) revert ResidentCardExpired(voucher.deadline);
        if (msg.value != voucher.price) revert ResidentCardWrongPayment(msg.value, voucher.price);
        bytes32 digest = _hashTypedDataV4(
            keccak256(
                abi.encode(
                    VOUCHER_TYPEHASH, voucher.buyer, voucher.tokenId, voucher.price, voucher.deadline, voucher.orderRef
                )
            )
        );
        (address signer, ECDSA.RecoverError recoverError,) = ECDSA.tryRecover(digest, signature);
        if (recoverError != ECDSA.RecoverError.NoError || !hasRole(SIGNER_ROLE, signer)) {
            revert ResidentCardInvalidSigner(signer);
        }
        uint256 seriesId = seriesOf(voucher.tokenId);
        Series storage s = _series[seriesId];
        if (block.timestamp < s.saleStart || block.timestamp > s.saleEnd) {
            revert ResidentCardSaleClosed(seriesId, s.saleStart, s.saleEnd);
        }
        if (voucher.price < s.priceWei) revert ResidentCardPriceBelowSeries(voucher.price, s.priceWei);
        if (_ownerOf(voucher.tokenId) != address(0)) revert ResidentCardAlreadyIssued(voucher.tokenId);
        uint256 bought = _purchased[seriesId][voucher.buyer];
        if (s.perBuyerCap != 0 && bought >= s.perBuyerCap) revert ResidentCardBuyerLimit(voucher.buyer, s.perBuyerCap);

        _purchased[seriesId][voucher.buyer] = bought + 1;
        _proceeds += msg.value;
        ++_totalSupply;
        _issue(voucher.buyer, voucher.tokenId, s.soulbound);
        emit CardPurchased(voucher.buyer, voucher.tokenId, seriesId, voucher.orderRef, voucher.price);
    }

    /// @notice How many cards exist.
    function totalSupply() external view returns (uint256) {
        return _totalSupply;
    }

    // ─────────────────────────────────────────────────────────────────────────────
    // Moving with a permit
    // ─────────────────────────────────────────────────────────────────────────────

    /// @notice Moves card `tokenId` from `holder` to `to` with `holder`'s EIP-712 signature over
    /// (holder, to, tokenId, nonces(holder), deadline). Anyone may relay it; for a soulbound
    /// card only an account with {MINTER_ROLE}. The only way a card moves without its
    /// holder's own transaction — how a walletless holder's custodial key hands the card to
    /// the holder's own wallet without paying gas.
    /// @dev Requirements: not paused; before `deadline`; `holder` holds the card; a valid
    /// signature by `holder` (EOA or ERC-1271) with its current nonce; `to` is not zero.
    /// Emits {Transfer} and {CardMovedWithPermit}.
    function moveWithPermit(address holder, address to, uint256 tokenId, uint256 deadline, bytes calldata signature)
        external
        whenNotPaused
    {
        if (block.timestamp > deadline) revert ResidentCardExpired(deadline);
        if (_ownerOf(tokenId) != holder || holder == address(0)) revert ResidentCardNotHolder(tokenId, holder);
        if (_series[seriesOf(tokenId)].soulbound && !hasRole(MINTER_ROLE, msg.sender)) {
            revert ResidentCardRelayNotAllowed(msg.sender);
        }
        bytes32 digest =
            _hashTypedDataV4(keccak256(abi.encode(MOVE_TYPEHASH, holder, to, tokenId, _useNonce(holder), deadline)));
        if (!SignatureChecker.isValidSignatureNow(holder, digest, signature)) revert ResidentCardInvalidPermit(holder);
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        _moving = true;
        _update(to, tokenId, address(0));
        _moving = false;
        emit CardMovedWithPermit(tokenId, holder, to, msg.sender);
    }

    /// @inheritdoc IERC5192
    function locked(uint256 tokenId) external view returns (bool) {
        _requireOwned(tokenId);
        return _series[seriesOf(tokenId)].soulbound;
    }

    /// @notice Approvals of soulbound cards revert: they could never be used.
    /// @dev Requirements: as {ERC721-approve}, and the card is not soulbound.
    function approve(address to, uint256 tokenId) public override(ERC721, IERC721) {
        _requireOwned(tokenId);
        if (_series[seriesOf(tokenId)].soulbound) revert ResidentCardSoulbound(tokenId);
        super.approve(to, tokenId);
    }

    // ─────────────────────────────────────────────────────────────────────────────
    // Treasury, metadata, pausing
    // ─────────────────────────────────────────────────────────────────────────────

    /// @notice Sale proceeds held for the treasury.
    function proceeds() external view returns (uint256) {
        return _proceeds;
    }

    /// @notice The account that receives proceeds and royalties.
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @notice Pays all proceeds to the treasury (pull: nothing is ever pushed during a sale).
    /// @dev Requirements: caller is the treasury or has {DEFAULT_ADMIN_ROLE}.
    /// Emits a {ProceedsWithdrawn} event.
    function withdrawProceeds() external {
        if (msg.sender != _treasury && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert ResidentCardNotTreasury(msg.sender);
        }
        uint256 amount = _proceeds;
        _proceeds = 0;
        emit ProceedsWithdrawn(_treasury, amount);
        Address.sendValue(payable(_treasury), amount);
    }

    /// @notice Sets the treasury and the royalty rate it receives (ERC-2981).
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}; treasury not zero; rate at most
    /// {MAX_ROYALTY_BPS}. Emits a {TreasuryChanged} event.
    function setTreasury(address treasury_, uint96 royaltyBps_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setTreasury(treasury_, royaltyBps_);
    }

    /// @notice Points metadata at a new base URI.
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}. Emits a {BatchMetadataUpdate} event.
    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _baseTokenURI = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    /// @notice Stops issuing, sales, transfers and moves. Requirements: caller has {PAUSER_ROLE}.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes issuing, sales, transfers and moves. Requirements: caller has {PAUSER_ROLE}.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, ERC2981, AccessControl, IERC165)
        returns (bool)
    {
        return interfaceId == bytes4(0x49064906) // ERC-4906
            || interfaceId == type(IERC5192).interfaceId || super.supportsInterface(interfaceId);
    }

    // ─────────────────────────────────────────────────────────────────────────────
    // Internals
    // ─────────────────────────────────────────────────────────────────────────────

    /// @dev Mints without the receiver callback: a contract buyer's `onERC721Received` can
    /// neither block issuing nor re-enter it.
    function _issue(address to, uint256 tokenId, bool soulbound) private {
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        _update(to, tokenId, address(0));
        if (soulbound) emit Locked(tokenId);
    }

    function _setTreasury(address treasury_, uint96 royaltyBps_) private {
        if (treasury_ == address(0)) revert ResidentCardNotTreasury(address(0));
        if (royaltyBps_ > MAX_ROYALTY_BPS) revert ResidentCardRoyaltyTooHigh(royaltyBps_, MAX_ROYALTY_BPS);
        _treasury = treasury_;
        _setDefaultRoyalty(treasury_, royaltyBps_);
        emit TreasuryChanged(treasury_, royaltyBps_);
    }

    /// @dev The one place transfer rules live. Mints (from zero) are checked by their callers
    /// (`whenNotPaused`, series), so they pay nothing here. Transfers and burns are refused
    /// while paused, and transfers of soulbound cards unless inside `moveWithPermit`.
    function _update(address to, uint256 tokenId, address auth) internal override returns (address from) {
        from = super._update(to, tokenId, auth);
        if (from != address(0) && !_moving) {
            _requireNotPaused();
            if (_series[seriesOf(tokenId)].soulbound) revert ResidentCardSoulbound(tokenId);
        }
    }

    function _baseURI() internal view override returns (string memory) {
        return _baseTokenURI;
    }
}
