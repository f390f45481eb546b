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
/// @notice Lets a property test check, after every step, that the contract's balance equals
/// what it owes, without a dozen separate `eth_call`s.
contract FundsProbe {
    uint8 private constant OPEN = 1;

    /// @return held the contract's balance
    /// @return refunds the sum of `pendingRefund` over `accounts`
    /// @return liveBids the sum of the highest bids of open lots
    /// @return proceeds the treasury's unwithdrawn proceeds
    function funds(INamingRightsFunds target, address[] calldata accounts)
        external
        view
        returns (uint256 held, uint256 refunds, uint256 liveBids, uint256 proceeds)
    {
        held = address(target).balance;
        for (uint256 i = 0; i < accounts.length; ++i) {
            refunds += target.pendingRefund(accounts[i]);
        }
        uint256 count = target.lotCount();
        for (uint256 lotId = 1; lotId <= count; ++lotId) {
            INamingRightsFunds.Lot memory lot_ = target.lot(lotId);
            if (lot_.status == OPEN) liveBids += lot_.highestBid;
        }
        proceeds = target.proceeds();
    }
}
