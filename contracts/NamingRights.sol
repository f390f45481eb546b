// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC4906} from "@openzeppelin/contracts/interfaces/IERC4906.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ShortStrings} from "@openzeppelin/contracts/utils/ShortStrings.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title NamingRights — a town's park naming rights (公園命名権), one ERC-721 token per right
/// @notice Each right is a *lot*: a park, its default name, the naming term, and an English
/// auction (reserve, minimum increment, soft close). Outbid amounts and sale proceeds are
/// credited, never pushed: bidders and the treasury withdraw them, so a bidder contract that
/// reverts or burns gas on receipt can block neither later bids nor settlement, and no funds
/// are ever locked behind it (the Akutars failure). A right sold in a yen auction run by the
/// town's backend is awarded directly by the minter role.
///
/// Only the *primary winner* (the account the lot was settled or awarded to) may propose the
/// park's name: a resale moves the token, not the right to name (Nishikawa's rule). A moderator
/// approves or rejects each proposal; the approved name is the park's name while the term runs
/// and the default name before and after it. The primary winner proposes either with its own
/// transaction ({proposeName}) or gaslessly, by signing an EIP-712 `NameProposal` that anyone
/// relays ({proposeNameWithSig}; in practice the town's minter, for a walletless winner whose
/// key the town keeps).
///
/// Funds invariant: `address(this).balance` equals the sum of {pendingRefund} over all
/// accounts, plus the highest bid of every open lot, plus {proceeds}.
contract NamingRights is ERC721, AccessControl, IERC4906, ReentrancyGuardTransient, EIP712, Nonces {
    using SafeCast for uint256;
    // The two bases' own `using ... for *`, repeated for Slither only (no code is generated
    // for them): Slither 0.11.6 keeps one inherited `for *` directive of several
    // (crytic/slither#3082, fix in PR #3094), cannot build the IR of the other base's functions
    // and silently drops findings. contracts/SLITHER.md has the details.
    using ShortStrings for *; // EIP712
    using TransientSlot for *; // ReentrancyGuardTransient

    // ------------------------------------------------------------------------------------
    // Roles and limits
    // ------------------------------------------------------------------------------------

    /// @notice Role allowed to award a lot won in an off-chain (yen) auction.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role allowed to approve or reject proposed names.
    bytes32 public constant MODERATOR_ROLE = keccak256("MODERATOR_ROLE");

    /// @notice Longest name, in UTF-8 bytes (21 kanji of 3 bytes each).
    uint256 public constant MAX_NAME_BYTES = 64;

    /// @notice EIP-712 type hash of a signed name proposal. `name` is hashed with keccak256
    /// (EIP-712 `string`); `nonce` is the primary winner's {nonces} value, used once.
    bytes32 public constant NAME_PROPOSAL_TYPEHASH =
        keccak256("NameProposal(uint256 lotId,string name,uint256 nonce,uint256 deadline)");

    // ------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------

    /// @notice Where a lot is in its life. `None` means the lot does not exist.
    enum LotStatus {
        None,
        Open,
        Settled,
        Awarded
    }

    /// @notice Where a lot's naming is. `None`: nothing proposed (or the last proposal was
    /// rejected); `Pending`: a proposal awaits moderation; `Approved`: final for the term.
    enum NameStatus {
        None,
        Pending,
        Approved
    }

    /// @notice What the admin gives to create a lot. Times are unix seconds.
    struct LotConfig {
        uint64 parkId;
        string defaultName;
        uint64 termStart;
        uint64 termEnd;
        uint64 auctionStart;
        uint64 auctionEnd;
        uint128 reserve;
        uint128 minIncrement;
        uint32 softCloseWindow;
        uint32 extension;
    }

    /// @notice One naming right and its auction.
    /// @dev Storage layout (one line per slot):
    /// [0] reserve (128) | minIncrement (128)
    /// [1] highestBid (128) | auctionStart (64) | auctionEnd (64)
    /// [2] highestBidder (160) | softCloseWindow (32) | extension (32) | status (8)
    /// [3] winner (160) | parkId (64)
    /// [4] termStart (64) | termEnd (64)
    /// [5] defaultName
    struct Lot {
        uint128 reserve;
        uint128 minIncrement;
        uint128 highestBid;
        uint64 auctionStart;
        uint64 auctionEnd;
        address highestBidder;
        uint32 softCloseWindow;
        uint32 extension;
        LotStatus status;
        address winner;
        uint64 parkId;
        uint64 termStart;
        uint64 termEnd;
        string defaultName;
    }

    /// @notice A lot's naming: the pending proposal while `Pending`, the approved name once
    /// `Approved`, empty otherwise.
    struct NameRecord {
        NameStatus status;
        string name;
    }

    // ------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------

    mapping(uint256 lotId => Lot) private _lots;
    mapping(uint256 lotId => NameRecord) private _names;
    mapping(address account => uint256 amount) private _refunds;
    uint256 private _lotCount;
    uint256 private _proceeds;
    address private _treasury;
    string private _baseTokenURI;

    // ------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------

    /// @notice No lot has this id.
    /// @param lotId the id asked for
    error NamingRightsUnknownLot(uint256 lotId);

    /// @notice The term ends before (or when) it starts.
    /// @param termStart the term's first second
    /// @param termEnd the first second after the term
    error NamingRightsInvalidTerm(uint64 termStart, uint64 termEnd);

    /// @notice The auction ends before (or when) it starts, or has already ended.
    /// @param auctionStart the first second bids are accepted
    /// @param auctionEnd the first second bids are refused
    error NamingRightsInvalidAuctionWindow(uint64 auctionStart, uint64 auctionEnd);

    /// @notice The reserve or the minimum increment is zero.
    /// @param reserve the reserve given
    /// @param minIncrement the minimum increment given
    error NamingRightsInvalidPricing(uint128 reserve, uint128 minIncrement);

    /// @notice A name (default or proposed) is empty.
    error NamingRightsEmptyName();

    /// @notice A name is longer than {MAX_NAME_BYTES}.
    /// @param length the name's length in bytes
    /// @param maxLength {MAX_NAME_BYTES}
    error NamingRightsNameTooLong(uint256 length, uint256 maxLength);

    /// @notice A name is not well-formed UTF-8, or contains a control character.
    /// @param offset the byte offset of the first offending sequence
    error NamingRightsNameMalformed(uint256 offset);

    /// @notice The lot was already settled or awarded.
    /// @param lotId the lot
    /// @param winner its primary winner
    error NamingRightsLotClosed(uint256 lotId, address winner);

    /// @notice A bid came before the auction started or after it ended.
    /// @param lotId the lot
    /// @param auctionStart the first second bids are accepted
    /// @param auctionEnd the first second bids are refused (after any extension)
    error NamingRightsAuctionNotOpen(uint256 lotId, uint64 auctionStart, uint64 auctionEnd);

    /// @notice A bid is below the reserve (first bid) or the highest bid plus the increment.
    /// @param lotId the lot
    /// @param minimum the smallest bid accepted now
    error NamingRightsBidTooLow(uint256 lotId, uint256 minimum);

    /// @notice The auction has not ended yet.
    /// @param lotId the lot
    /// @param auctionEnd the first second the lot can be settled
    error NamingRightsAuctionNotEnded(uint256 lotId, uint64 auctionEnd);

    /// @notice Settling a lot that received no bid (relist or award it instead).
    /// @param lotId the lot
    error NamingRightsNoBids(uint256 lotId);

    /// @notice Relisting or awarding off-chain a lot that has an on-chain bid.
    /// @param lotId the lot
    /// @param highestBidder who holds the highest bid
    /// @param highestBid the highest bid
    error NamingRightsLotHasBids(uint256 lotId, address highestBidder, uint256 highestBid);

    /// @notice The account has no credit to withdraw.
    /// @param account the account
    error NamingRightsNothingToWithdraw(address account);

    /// @notice Sending funds failed (the recipient reverted or ran out of gas).
    /// @param to the recipient
    /// @param amount the amount
    error NamingRightsTransferFailed(address to, uint256 amount);

    /// @notice The zero address cannot receive funds or proceeds.
    /// @param account the address given
    error NamingRightsInvalidRecipient(address account);

    /// @notice Only the primary winner of a lot may propose its name.
    /// @param lotId the lot
    /// @param account the caller
    error NamingRightsNotPrimaryWinner(uint256 lotId, address account);

    /// @notice Names are proposed only while the term runs.
    /// @param lotId the lot
    /// @param termStart the term's first second
    /// @param termEnd the first second after the term
    error NamingRightsOutsideTerm(uint256 lotId, uint64 termStart, uint64 termEnd);

    /// @notice A proposal already awaits moderation.
    /// @param lotId the lot
    error NamingRightsNamePending(uint256 lotId);

    /// @notice A name was already approved for this term.
    /// @param lotId the lot
    error NamingRightsNameAlreadyApproved(uint256 lotId);

    /// @notice No proposal awaits moderation.
    /// @param lotId the lot
    error NamingRightsNoPendingName(uint256 lotId);

    /// @notice A signed name proposal was relayed after its deadline.
    /// @param deadline the last second (unix time) the signature was valid
    error NamingRightsSignatureExpired(uint256 deadline);

    /// @notice A signed name proposal is not the primary winner's signature of this
    /// `NameProposal` (lot, name, the winner's current nonce, deadline) for this contract on
    /// this chain: signed by another account, for other values, already used, or malformed.
    /// @param lotId the lot
    /// @param winner the lot's primary winner, whose signature was expected (zero: the lot has
    /// none yet)
    error NamingRightsInvalidSignature(uint256 lotId, address winner);

    // ------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------

    /// @notice A lot was created and its auction scheduled.
    event LotCreated(
        uint256 indexed lotId,
        uint64 indexed parkId,
        string defaultName,
        uint64 termStart,
        uint64 termEnd,
        uint64 auctionStart,
        uint64 auctionEnd,
        uint128 reserve,
        uint128 minIncrement
    );

    /// @notice A lot without bids was given a new auction window and reserve.
    event LotRelisted(uint256 indexed lotId, uint64 auctionStart, uint64 auctionEnd, uint128 reserve);

    /// @notice A bid became the highest; `auctionEnd` is the (possibly extended) end.
    event BidPlaced(uint256 indexed lotId, address indexed bidder, uint256 amount, uint64 auctionEnd);

    /// @notice A late bid pushed the auction's end to `auctionEnd`.
    event AuctionExtended(uint256 indexed lotId, uint64 auctionEnd);

    /// @notice An outbid amount was credited to `account`, withdrawable with {withdraw}.
    event RefundCredited(address indexed account, uint256 indexed lotId, uint256 amount);

    /// @notice `account` withdrew its credit to `to`.
    event Withdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice A lot's auction was settled: the token was minted to `winner`, `amount` credited
    /// to the treasury.
    event LotSettled(uint256 indexed lotId, address indexed winner, uint256 amount);

    /// @notice A lot without on-chain bids was awarded to the winner of an off-chain auction.
    event LotAwardedOffchain(uint256 indexed lotId, address indexed winner);

    /// @notice Proceeds were sent to the treasury.
    event ProceedsWithdrawn(address indexed treasury, uint256 amount);

    /// @notice The treasury changed; unwithdrawn proceeds follow it.
    event TreasuryChanged(address indexed previousTreasury, address indexed newTreasury);

    /// @notice The primary winner proposed a name.
    event NameProposed(uint256 indexed lotId, address indexed proposer, string name);

    /// @notice A moderator approved the pending name.
    event NameApproved(uint256 indexed lotId, address indexed moderator, string name);

    /// @notice A moderator rejected the pending name with a reason code.
    event NameRejected(uint256 indexed lotId, address indexed moderator, string name, uint16 reason);

    // ------------------------------------------------------------------------------------
    // Construction and administration
    // ------------------------------------------------------------------------------------

    /// @param name_ collection name, e.g. "西川町 公園命名権"
    /// @param symbol_ collection symbol
    /// @param baseURI_ metadata base URI; `tokenURI(id)` is this followed by the id
    /// @param admin holder of every role at deployment (the town's admin key)
    /// @param treasury_ the town account proceeds are paid to
    /// @dev The EIP-712 domain is "Furusato NamingRights", version "1", whatever the
    /// collection's name: a signature is bound to one contract by its address and chain id.
    constructor(string memory name_, string memory symbol_, string memory baseURI_, address admin, address treasury_)
        ERC721(name_, symbol_)
        EIP712("Furusato NamingRights", "1")
    {
        if (treasury_ == address(0)) revert NamingRightsInvalidRecipient(treasury_);
        _baseTokenURI = baseURI_;
        _treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
        _grantRole(MODERATOR_ROLE, admin);
        emit TreasuryChanged(address(0), treasury_);
    }

    /// @notice Creates a lot (token id = lot id, counted from 1) and schedules its auction.
    /// @dev Requirements:
    ///
    /// - caller has {DEFAULT_ADMIN_ROLE};
    /// - `termStart < termEnd`;
    /// - `auctionStart < auctionEnd` and `auctionEnd` in the future;
    /// - `reserve` and `minIncrement` non-zero;
    /// - `defaultName` non-empty, well-formed UTF-8, at most {MAX_NAME_BYTES} bytes.
    ///
    /// Emits a {LotCreated} event.
    /// @return lotId the new lot's id
    function createLot(LotConfig calldata config) external onlyRole(DEFAULT_ADMIN_ROLE) returns (uint256 lotId) {
        if (config.termStart >= config.termEnd) revert NamingRightsInvalidTerm(config.termStart, config.termEnd);
        _checkAuctionWindow(config.auctionStart, config.auctionEnd);
        if (config.reserve == 0 || config.minIncrement == 0) {
            revert NamingRightsInvalidPricing(config.reserve, config.minIncrement);
        }
        _checkName(bytes(config.defaultName));

        lotId = ++_lotCount;
        Lot storage lot_ = _lots[lotId];
        lot_.reserve = config.reserve;
        lot_.minIncrement = config.minIncrement;
        lot_.auctionStart = config.auctionStart;
        lot_.auctionEnd = config.auctionEnd;
        lot_.softCloseWindow = config.softCloseWindow;
        lot_.extension = config.extension;
        lot_.status = LotStatus.Open;
        lot_.parkId = config.parkId;
        lot_.termStart = config.termStart;
        lot_.termEnd = config.termEnd;
        lot_.defaultName = config.defaultName;
        emit LotCreated(
            lotId,
            config.parkId,
            config.defaultName,
            config.termStart,
            config.termEnd,
            config.auctionStart,
            config.auctionEnd,
            config.reserve,
            config.minIncrement
        );
    }

    /// @notice Gives a lot that has no bid a new auction window and reserve.
    /// @dev Requirements:
    ///
    /// - caller has {DEFAULT_ADMIN_ROLE};
    /// - the lot exists, is neither settled nor awarded, and has no bid;
    /// - `auctionStart < auctionEnd` and `auctionEnd` in the future; `reserve` non-zero.
    ///
    /// Emits a {LotRelisted} event.
    function relist(uint256 lotId, uint64 auctionStart, uint64 auctionEnd, uint128 reserve)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        Lot storage lot_ = _openLot(lotId);
        if (lot_.highestBidder != address(0)) {
            revert NamingRightsLotHasBids(lotId, lot_.highestBidder, lot_.highestBid);
        }
        _checkAuctionWindow(auctionStart, auctionEnd);
        if (reserve == 0) revert NamingRightsInvalidPricing(reserve, lot_.minIncrement);
        lot_.auctionStart = auctionStart;
        lot_.auctionEnd = auctionEnd;
        lot_.reserve = reserve;
        emit LotRelisted(lotId, auctionStart, auctionEnd, reserve);
    }

    /// @notice Sets the account proceeds are paid to; unwithdrawn proceeds follow it.
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}; `newTreasury` is not zero.
    ///
    /// Emits a {TreasuryChanged} event.
    function setTreasury(address newTreasury) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newTreasury == address(0)) revert NamingRightsInvalidRecipient(newTreasury);
        address previous = _treasury;
        _treasury = newTreasury;
        emit TreasuryChanged(previous, newTreasury);
    }

    /// @notice Points metadata at a new base URI.
    /// @dev Requirements: caller has {DEFAULT_ADMIN_ROLE}.
    ///
    /// Emits a {BatchMetadataUpdate} event.
    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _baseTokenURI = baseURI_;
        emit BatchMetadataUpdate(0, type(uint256).max);
    }

    // ------------------------------------------------------------------------------------
    // Auction
    // ------------------------------------------------------------------------------------

    /// @notice Bids `msg.value` on a lot. The previous highest bid is credited to its bidder
    /// (see {withdraw}); a bid within `softCloseWindow` of the end moves the end to
    /// `extension` seconds after the bid.
    /// @dev Requirements:
    ///
    /// - the lot is open and `auctionStart <= block.timestamp < auctionEnd`;
    /// - `msg.value >= reserve` for the first bid, `>= highestBid + minIncrement` after it.
    ///
    /// Emits a {BidPlaced} event, a {RefundCredited} event when a bid is outbid, and an
    /// {AuctionExtended} event when the end moves.
    function bid(uint256 lotId) external payable nonReentrant {
        Lot storage lot_ = _openLot(lotId);
        uint64 end = lot_.auctionEnd;
        if (block.timestamp < lot_.auctionStart || block.timestamp >= end) {
            revert NamingRightsAuctionNotOpen(lotId, lot_.auctionStart, end);
        }
        uint256 minimum = _minimumBid(lot_);
        if (msg.value < minimum) revert NamingRightsBidTooLow(lotId, minimum);

        address previousBidder = lot_.highestBidder;
        uint256 previousBid = lot_.highestBid;
        if (previousBidder != address(0)) {
            _refunds[previousBidder] += previousBid;
            emit RefundCredited(previousBidder, lotId, previousBid);
        }
        lot_.highestBidder = msg.sender;
        lot_.highestBid = msg.value.toUint128();

        // Cannot underflow: block.timestamp < end (checked above). Cannot overflow: a
        // timestamp plus a uint32 is far below 2**256.
        unchecked {
            if (end - block.timestamp <= lot_.softCloseWindow) {
                uint256 extended = block.timestamp + lot_.extension;
                if (extended > end) {
                    end = extended.toUint64();
                    lot_.auctionEnd = end;
                    emit AuctionExtended(lotId, end);
                }
            }
        }
        emit BidPlaced(lotId, msg.sender, msg.value, end);
    }

    /// @notice Ends a lot's auction: mints the right to the highest bidder (with `_mint`, so
    /// a winner contract's `onERC721Received` is never called and cannot block settlement) and
    /// credits the highest bid to the treasury's proceeds. Anyone may call it.
    /// @dev Requirements: the lot is open, its auction has ended, and it has a bid.
    ///
    /// Emits a {Transfer} and a {LotSettled} event.
    function settle(uint256 lotId) external nonReentrant {
        Lot storage lot_ = _openLot(lotId);
        if (block.timestamp < lot_.auctionEnd) revert NamingRightsAuctionNotEnded(lotId, lot_.auctionEnd);
        address winner = lot_.highestBidder;
        if (winner == address(0)) revert NamingRightsNoBids(lotId);
        uint256 amount = lot_.highestBid;
        lot_.status = LotStatus.Settled;
        lot_.winner = winner;
        _proceeds += amount;
        _mint(winner, lotId);
        emit LotSettled(lotId, winner, amount);
    }

    /// @notice Awards a lot won in an off-chain (yen) auction; `winner` becomes its primary
    /// winner. Mints with `_mint`, as {settle} does.
    /// @dev Requirements: caller has {MINTER_ROLE}; the lot is open and has no on-chain bid;
    /// `winner` is not zero.
    ///
    /// Emits a {Transfer} and a {LotAwardedOffchain} event.
    function awardOffchain(uint256 lotId, address winner) external onlyRole(MINTER_ROLE) nonReentrant {
        Lot storage lot_ = _openLot(lotId);
        if (lot_.highestBidder != address(0)) {
            revert NamingRightsLotHasBids(lotId, lot_.highestBidder, lot_.highestBid);
        }
        if (winner == address(0)) revert NamingRightsInvalidRecipient(winner);
        lot_.status = LotStatus.Awarded;
        lot_.winner = winner;
        _mint(winner, lotId);
        emit LotAwardedOffchain(lotId, winner);
    }

    /// @notice Sends the caller's credited refunds to the caller.
    /// @dev Requirements: the caller has a credit, and accepts the payment.
    ///
    /// Emits a {Withdrawn} event.
    function withdraw() external nonReentrant {
        _withdraw(payable(msg.sender));
    }

    /// @notice Sends the caller's credited refunds to `to` (for a bidder contract that cannot
    /// receive funds itself).
    /// @dev Requirements: `to` is not zero; the caller has a credit; `to` accepts the payment.
    ///
    /// Emits a {Withdrawn} event.
    function withdrawTo(address payable to) external nonReentrant {
        if (to == address(0)) revert NamingRightsInvalidRecipient(to);
        _withdraw(to);
    }

    /// @notice Sends all proceeds to the treasury. Anyone may call it: the funds only ever go
    /// to the treasury.
    /// @dev Requirements: there are proceeds, and the treasury accepts the payment.
    ///
    /// Emits a {ProceedsWithdrawn} event.
    function withdrawProceeds() external nonReentrant {
        uint256 amount = _proceeds;
        address treasury_ = _treasury;
        if (amount == 0) revert NamingRightsNothingToWithdraw(treasury_);
        _proceeds = 0;
        emit ProceedsWithdrawn(treasury_, amount);
        _sendValue(payable(treasury_), amount);
    }

    // ------------------------------------------------------------------------------------
    // Names
    // ------------------------------------------------------------------------------------

    /// @notice Proposes the park's name for the term. Only the primary winner may propose
    /// (not a later owner of the token), one proposal at a time, none after an approval.
    /// @dev Requirements:
    ///
    /// - the caller is the lot's primary winner;
    /// - `termStart <= block.timestamp < termEnd`;
    /// - no proposal is pending and no name was approved;
    /// - `name` non-empty, well-formed UTF-8 without control characters, at most
    ///   {MAX_NAME_BYTES} bytes.
    ///
    /// Emits a {NameProposed} event.
    function proposeName(uint256 lotId, string calldata name) external {
        _proposeName(lotId, _existingLot(lotId), name, msg.sender);
    }

    /// @notice Proposes the park's name with the primary winner's EIP-712 signature of
    /// `NameProposal(lotId, name, nonce, deadline)`, where `nonce` is {nonces}(winner); anyone
    /// may relay it and pays its gas. The nonce is used up, so a signature works once. The
    /// proposal is the winner's, exactly as if the winner had called {proposeName}.
    /// @dev Requirements:
    ///
    /// - `block.timestamp <= deadline`;
    /// - the lot exists and `signature` is its primary winner's (an EOA's ECDSA signature, or
    ///   ERC-1271 for a contract winner) over this contract's domain and the winner's current
    ///   nonce;
    /// - then every requirement of {proposeName}, with the winner as the caller.
    ///
    /// Emits a {NameProposed} event with the winner as `proposer`.
    /// @param lotId the lot
    /// @param name the proposed name (the signed struct holds its keccak256 hash)
    /// @param deadline last second (unix time) the signature is valid
    /// @param signature the primary winner's signature of the `NameProposal`
    function proposeNameWithSig(uint256 lotId, string calldata name, uint256 deadline, bytes calldata signature)
        external
    {
        if (block.timestamp > deadline) revert NamingRightsSignatureExpired(deadline);
        Lot storage lot_ = _existingLot(lotId);
        address winner = lot_.winner;
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(NAME_PROPOSAL_TYPEHASH, lotId, keccak256(bytes(name)), _useNonce(winner), deadline))
        );
        if (winner == address(0) || !SignatureChecker.isValidSignatureNowCalldata(winner, digest, signature)) {
            revert NamingRightsInvalidSignature(lotId, winner);
        }
        _proposeName(lotId, lot_, name, winner);
    }

    /// @notice Approves the pending name; it is the park's name while the term runs.
    /// @dev Requirements: caller has {MODERATOR_ROLE}; a proposal is pending.
    ///
    /// Emits a {NameApproved} and a {MetadataUpdate} event.
    function approveName(uint256 lotId) external onlyRole(MODERATOR_ROLE) {
        NameRecord storage record = _pendingName(lotId);
        record.status = NameStatus.Approved;
        emit NameApproved(lotId, msg.sender, record.name);
        emit MetadataUpdate(lotId);
    }

    /// @notice Rejects the pending name with a reason code (meaning kept off-chain by the
    /// town); the primary winner may then propose another.
    /// @dev Requirements: caller has {MODERATOR_ROLE}; a proposal is pending.
    ///
    /// Emits a {NameRejected} event.
    function rejectName(uint256 lotId, uint16 reason) external onlyRole(MODERATOR_ROLE) {
        NameRecord storage record = _pendingName(lotId);
        string memory rejected = record.name;
        delete _names[lotId];
        emit NameRejected(lotId, msg.sender, rejected, reason);
    }

    // ------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------

    /// @notice The park's name now: the approved name while the term runs
    /// (`termStart <= block.timestamp < termEnd`), the default name otherwise.
    /// @dev Requirements: the lot exists.
    function currentName(uint256 lotId) external view returns (string memory) {
        Lot storage lot_ = _existingLot(lotId);
        NameRecord storage record = _names[lotId];
        if (
            record.status == NameStatus.Approved && block.timestamp >= lot_.termStart
                && block.timestamp < lot_.termEnd
        ) {
            return record.name;
        }
        return lot_.defaultName;
    }

    /// @notice A lot and its auction.
    /// @dev Requirements: the lot exists.
    function lot(uint256 lotId) external view returns (Lot memory) {
        return _existingLot(lotId);
    }

    /// @notice A lot's naming: status and the pending or approved name.
    /// @dev Requirements: the lot exists.
    function nameRecord(uint256 lotId) external view returns (NameRecord memory) {
        _existingLot(lotId);
        return _names[lotId];
    }

    /// @notice The smallest bid a lot accepts now: the reserve, or the highest bid plus the
    /// minimum increment.
    /// @dev Requirements: the lot exists.
    function minimumBid(uint256 lotId) external view returns (uint256) {
        return _minimumBid(_existingLot(lotId));
    }

    /// @notice Refunds credited to `account` and not yet withdrawn.
    function pendingRefund(address account) external view returns (uint256) {
        return _refunds[account];
    }

    /// @notice Sale proceeds credited to the treasury and not yet withdrawn.
    function proceeds() external view returns (uint256) {
        return _proceeds;
    }

    /// @notice The account proceeds are paid to.
    function treasury() external view returns (address) {
        return _treasury;
    }

    /// @notice How many lots exist; their ids are 1 to this number.
    function lotCount() external view returns (uint256) {
        return _lotCount;
    }

    /// @notice The EIP-712 domain separator of signed name proposals on this chain (the
    /// whole domain is {eip712Domain}, ERC-5267).
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
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

    // ------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------

    function _baseURI() internal view override returns (string memory) {
        return _baseTokenURI;
    }

    function _existingLot(uint256 lotId) private view returns (Lot storage lot_) {
        lot_ = _lots[lotId];
        if (lot_.status == LotStatus.None) revert NamingRightsUnknownLot(lotId);
    }

    function _openLot(uint256 lotId) private view returns (Lot storage lot_) {
        lot_ = _existingLot(lotId);
        if (lot_.status != LotStatus.Open) revert NamingRightsLotClosed(lotId, lot_.winner);
    }

    /// @dev The checks and effects of a proposal by `proposer`, shared by {proposeName}
    /// (`proposer` is the caller) and {proposeNameWithSig} (the signer, checked to be the winner).
    function _proposeName(uint256 lotId, Lot storage lot_, string calldata name, address proposer) private {
        if (lot_.winner == address(0) || lot_.winner != proposer) {
            revert NamingRightsNotPrimaryWinner(lotId, proposer);
        }
        if (block.timestamp < lot_.termStart || block.timestamp >= lot_.termEnd) {
            revert NamingRightsOutsideTerm(lotId, lot_.termStart, lot_.termEnd);
        }
        NameRecord storage record = _names[lotId];
        if (record.status == NameStatus.Pending) revert NamingRightsNamePending(lotId);
        if (record.status == NameStatus.Approved) revert NamingRightsNameAlreadyApproved(lotId);
        _checkName(bytes(name));
        record.status = NameStatus.Pending;
        record.name = name;
        emit NameProposed(lotId, proposer, name);
    }

    function _pendingName(uint256 lotId) private view returns (NameRecord storage record) {
        _existingLot(lotId);
        record = _names[lotId];
        if (record.status != NameStatus.Pending) revert NamingRightsNoPendingName(lotId);
    }

    function _minimumBid(Lot storage lot_) private view returns (uint256) {
        if (lot_.highestBidder == address(0)) return lot_.reserve;
        // Cannot overflow: both terms are uint128.
        unchecked {
            return uint256(lot_.highestBid) + lot_.minIncrement;
        }
    }

    function _checkAuctionWindow(uint64 auctionStart, uint64 auctionEnd) private view {
        if (auctionStart >= auctionEnd || auctionEnd <= block.timestamp) {
            revert NamingRightsInvalidAuctionWindow(auctionStart, auctionEnd);
        }
    }

    function _withdraw(address payable to) private {
        uint256 amount = _refunds[msg.sender];
        if (amount == 0) revert NamingRightsNothingToWithdraw(msg.sender);
        _refunds[msg.sender] = 0;
        emit Withdrawn(msg.sender, to, amount);
        _sendValue(to, amount);
    }

    /// @dev Forwards all gas: only the caller's own withdrawal is at stake if `to` misbehaves.
    function _sendValue(address payable to, uint256 amount) private {
        (bool success,) = to.call{value: amount}("");
        if (!success) revert NamingRightsTransferFailed(to, amount);
    }

    /// @dev Reverts unless `name` is 1 to {MAX_NAME_BYTES} bytes of well-formed UTF-8
    /// (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF) without C0
    /// control characters or DEL.
    function _checkName(bytes memory name) private pure {
        uint256 length = name.length;
        if (length == 0) revert NamingRightsEmptyName();
        if (length > MAX_NAME_BYTES) revert NamingRightsNameTooLong(length, MAX_NAME_BYTES);
        uint256 i = 0;
        while (i < length) {
            uint8 lead = uint8(name[i]);
            if (lead < 0x80) {
                if (lead < 0x20 || lead == 0x7f) revert NamingRightsNameMalformed(i);
                // Cannot overflow: i < length <= MAX_NAME_BYTES.
                unchecked {
                    ++i;
                }
                continue;
            }
            uint256 continuation = 0;
            uint8 low = 0x80; // bounds of the first continuation byte
            uint8 high = 0xbf;
            if (lead >= 0xc2 && lead <= 0xdf) {
                continuation = 1;
            } else if (lead >= 0xe0 && lead <= 0xef) {
                continuation = 2;
                if (lead == 0xe0) low = 0xa0; // overlong
                if (lead == 0xed) high = 0x9f; // UTF-16 surrogates
            } else if (lead >= 0xf0 && lead <= 0xf4) {
                continuation = 3;
                if (lead == 0xf0) low = 0x90; // overlong
                if (lead == 0xf4) high = 0x8f; // above U+10FFFF
            } else {
                revert NamingRightsNameMalformed(i);
            }
            if (i + continuation >= length) revert NamingRightsNameMalformed(i);
            uint8 first = uint8(name[i + 1]);
            if (first < low || first > high) revert NamingRightsNameMalformed(i);
            for (uint256 k = 2; k <= continuation; ++k) {
                uint8 next = uint8(name[i + k]);
                if (next < 0x80 || next > 0xbf) revert NamingRightsNameMalformed(i);
            }
            // Cannot overflow: i + continuation < length <= MAX_NAME_BYTES.
            unchecked {
                i += continuation + 1;
            }
        }
    }
}
