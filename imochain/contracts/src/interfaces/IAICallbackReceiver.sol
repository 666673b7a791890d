// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice What the oracle calls on a consumer. Same selectors as ORA:
///         aiOracleCallback(uint256,bytes,bytes) = 0xb0347814.
interface IAICallbackReceiver {
    function aiOracleCallback(uint256 requestId, bytes calldata output, bytes calldata callbackData) external;
}

/// @notice Optional: consumers that want to hear about requests the operator could not serve.
///         aiOracleCallbackError(uint256,uint8,bytes,bytes) = 0x8e6fd006. The oracle tolerates
///         consumers that do not implement it.
interface IAICallbackErrorReceiver {
    function aiOracleCallbackError(uint256 requestId, uint8 code, bytes calldata message, bytes calldata callbackData)
        external;
}
