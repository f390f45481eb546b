// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @dev The slice of NamingRights a bidder needs, declared locally so the test contracts
/// compile on their own.
interface INamingRightsBidding {
    function bid(uint256 lotId) external payable;
    function withdraw() external;
    function withdrawTo(address payable to) external;
    function settle(uint256 lotId) external;
}

/// @title HostileBidder — a bidder contract that misbehaves when paid (test only)
/// @notice `Mode.Revert` reverts on receipt of ether and of ERC-721 tokens; `Mode.BurnGas`
/// consumes all gas it is given on either; `Mode.Reenter` calls back into `bid`, `withdraw`
/// and `settle` from `receive` and `onERC721Received`, counting each blocked attempt and
/// swallowing the failure so its own withdrawal can succeed.
contract HostileBidder {
    enum Mode {
        Revert,
        BurnGas,
        Reenter
    }

    INamingRightsBidding public immutable target;
    Mode public immutable mode;
    uint256 public lotToReenter;
    uint256 public blockedReentries;
    uint256 public succeededReentries;

    error HostileBidderRefused();

    constructor(INamingRightsBidding target_, Mode mode_) {
        target = target_;
        mode = mode_;
    }

    function bid(uint256 lotId) external payable {
        lotToReenter = lotId;
        target.bid{value: msg.value}(lotId);
    }

    function withdraw() external {
        target.withdraw();
    }

    function withdrawTo(address payable to) external {
        target.withdrawTo(to);
    }

    receive() external payable {
        _misbehave();
    }

    function onERC721Received(address, address, uint256, bytes calldata) external returns (bytes4) {
        _misbehave();
        return this.onERC721Received.selector;
    }

    function _misbehave() private {
        if (mode == Mode.Revert) revert HostileBidderRefused();
        if (mode == Mode.BurnGas) {
            assembly {
                invalid() // consumes all gas forwarded to this frame
            }
        }
        _attempt(abi.encodeCall(INamingRightsBidding.bid, (lotToReenter)), address(this).balance);
        _attempt(abi.encodeCall(INamingRightsBidding.withdraw, ()), 0);
        _attempt(abi.encodeCall(INamingRightsBidding.settle, (lotToReenter)), 0);
    }

    function _attempt(bytes memory data, uint256 value) private {
        (bool success,) = address(target).call{value: value}(data);
        if (success) {
            ++succeededReentries;
        } else {
            ++blockedReentries;
        }
    }
}
