// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev The views of NamingRights the probe reads, declared locally (test only). `Lot`
/// mirrors `NamingRights.Lot` field for field; its enum is read as a uint8.
interface INamingRightsFunds {
    struct Lot {
        uint128 reserve;
        uint128 minIncrement;
        uint128 highestBid;
        uint64 auctionStart;
        uint64 auctionEnd;
        address highestBidder;
        uint32 softCloseWindow;
        uint32 extension;
        uint8 status;
        address winner;
        uint64 parkId;
        uint64 termStart;
        uint64 termEnd;
        string defaultName;
    }

    function lot(uint256 lotId) external view returns (Lot memory);
    function lotCount() external view returns (uint256);
    function pendingRefund(address account) external view returns (uint256);
    function proceeds() external view returns (uint256);
}

/// @title FundsProbe — reads NamingRights' funds accounting in one call (test only)
/// @notice Lets a property test compare the whole contract with its model after every step
/// in one `eth_call` instead of a dozen.
contract FundsProbe {
    uint8 private constant OPEN = 1;

    struct Snapshot {
        uint256 held; // the contract's balance
        uint256 owed; // sum of refunds over `accounts`, live highest bids and proceeds
        uint256[] refunds; // pendingRefund of each of `accounts`
        uint256 proceeds;
        uint256[] highestBids; // per lot, ids 1..lotCount
        address[] highestBidders;
        uint8[] statuses;
        uint64[] auctionEnds;
    }

    function snapshot(INamingRightsFunds target, address[] calldata accounts)
        external
        view
        returns (Snapshot memory s)
    {
        s.held = address(target).balance;
        s.refunds = new uint256[](accounts.length);
        for (uint256 i = 0; i < accounts.length; ++i) {
            s.refunds[i] = target.pendingRefund(accounts[i]);
            s.owed += s.refunds[i];
        }
        s.proceeds = target.proceeds();
        s.owed += s.proceeds;
        uint256 count = target.lotCount();
        s.highestBids = new uint256[](count);
        s.highestBidders = new address[](count);
        s.statuses = new uint8[](count);
        s.auctionEnds = new uint64[](count);
        for (uint256 i = 0; i < count; ++i) {
            INamingRightsFunds.Lot memory lot_ = target.lot(i + 1);
            s.highestBids[i] = lot_.highestBid;
            s.highestBidders[i] = lot_.highestBidder;
            s.statuses[i] = lot_.status;
            s.auctionEnds[i] = lot_.auctionEnd;
            if (lot_.status == OPEN) s.owed += lot_.highestBid;
        }
    }
}
