// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ERC-7641 Intrinsic RevShare Token (the EIP's interface; selectors in reference/ora.md)
interface IERC7641 {
    /// @notice ETH of snapshot `snapshotId` that `account` is entitled to (whether claimed or not).
    function claimableRevenue(address account, uint256 snapshotId) external view returns (uint256);
    /// @notice Pays msg.sender its share of snapshot `snapshotId`.
    function claim(uint256 snapshotId) external;
    /// @notice Takes a snapshot of balances and splits the revenue received since the last one.
    function snapshot() external returns (uint256);
    /// @notice ETH paid out of the redeem pool for burning `amount` tokens now.
    function redeemableOnBurn(uint256 amount) external view returns (uint256);
    /// @notice Burns `amount` of msg.sender's tokens and pays its share of the redeem pool.
    function burn(uint256 amount) external;
}
