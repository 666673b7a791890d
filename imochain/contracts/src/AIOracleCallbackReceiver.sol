// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IAIOracle} from "./interfaces/IAIOracle.sol";
import {IAICallbackReceiver} from "./interfaces/IAICallbackReceiver.sol";

/// @title AIOracleCallbackReceiver
/// @notice Base for oracle consumers, shaped like ORA's: it remembers the oracle and rejects
///         callbacks from anyone else with UnauthorizedCallbackSource(expected, found).
abstract contract AIOracleCallbackReceiver is IAICallbackReceiver {
    /// Same selector as ORA's UnauthorizedCallbackSource(IAIOracle, IAIOracle).
    error UnauthorizedCallbackSource(address expected, address found);

    IAIOracle public immutable aiOracle;

    constructor(IAIOracle _aiOracle) {
        aiOracle = _aiOracle;
    }

    /// Only the oracle may deliver results; anything else could forge an output.
    modifier onlyAIOracleCallback() {
        if (msg.sender != address(aiOracle)) {
            revert UnauthorizedCallbackSource(address(aiOracle), msg.sender);
        }
        _;
    }

    /// Results arrive before they are final (opML): act on them only once this is true.
    function isFinalized(uint256 requestId) external view returns (bool) {
        return aiOracle.isFinalized(requestId);
    }

    function aiOracleCallback(uint256 requestId, bytes calldata output, bytes calldata callbackData)
        external
        virtual;
}
