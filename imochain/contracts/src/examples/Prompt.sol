// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAIOracle} from "../interfaces/IAIOracle.sol";
import {AIOracleCallbackReceiver} from "../AIOracleCallbackReceiver.sol";

/// @title Prompt: an example oracle consumer
/// @notice Like ORA's prompt example: send an input to a model, get the output back in a later
///         transaction, and look it up as prompts[modelId][input]. Inputs and outputs are bytes
///         (for imochain's models, tensors encoded as abi.encode(uint8 dtype, uint32[] shape,
///         bytes data)). A corrected result (opML challenge) overwrites the stored output.
contract Prompt is AIOracleCallbackReceiver {
    /// Enough for storing a ~1 KB output plus the event.
    uint64 public constant DEFAULT_CALLBACK_GAS_LIMIT = 1_000_000;

    struct PromptRequest {
        address sender;
        uint256 modelId;
        bytes input;
    }

    address public owner;
    mapping(uint256 => PromptRequest) public requests;
    mapping(uint256 => mapping(bytes => bytes)) public prompts;
    /// How many times each request's result arrived (1, or 2 after a correction).
    mapping(uint256 => uint256) public deliveries;
    mapping(uint256 => uint64) private _callbackGasLimit;

    event promptRequest(uint256 requestId, address sender, uint256 modelId, bytes prompt);
    event promptsUpdated(uint256 requestId, uint256 modelId, bytes input, bytes output, bytes callbackData);

    constructor(IAIOracle _aiOracle) AIOracleCallbackReceiver(_aiOracle) {
        owner = msg.sender;
    }

    function callbackGasLimit(uint256 modelId) public view returns (uint64) {
        uint64 g = _callbackGasLimit[modelId];
        return g == 0 ? DEFAULT_CALLBACK_GAS_LIMIT : g;
    }

    function setCallbackGasLimit(uint256 modelId, uint64 gasLimit) external {
        require(msg.sender == owner, "only owner");
        _callbackGasLimit[modelId] = gasLimit;
    }

    function estimateFee(uint256 modelId) public view returns (uint256) {
        return aiOracle.estimateFee(modelId, callbackGasLimit(modelId));
    }

    /// Pays the oracle exactly its fee and returns any excess to the caller.
    function calculateAIResult(uint256 modelId, bytes calldata prompt) external payable returns (uint256 requestId) {
        uint256 fee = estimateFee(modelId);
        require(msg.value >= fee, "insufficient fee");
        requestId = aiOracle.requestCallback{value: fee}(modelId, prompt, address(this), callbackGasLimit(modelId), "");
        requests[requestId] = PromptRequest(msg.sender, modelId, prompt);
        emit promptRequest(requestId, msg.sender, modelId, prompt);
        if (msg.value > fee) {
            (bool ok,) = payable(msg.sender).call{value: msg.value - fee}("");
            require(ok, "refund failed");
        }
    }

    function aiOracleCallback(uint256 requestId, bytes calldata output, bytes calldata callbackData)
        external
        override
        onlyAIOracleCallback
    {
        PromptRequest storage r = requests[requestId];
        require(r.sender != address(0), "request does not exist");
        prompts[r.modelId][r.input] = output;
        deliveries[requestId] += 1;
        emit promptsUpdated(requestId, r.modelId, r.input, output, callbackData);
    }

    function getAIResult(uint256 modelId, bytes calldata prompt) external view returns (bytes memory) {
        return prompts[modelId][prompt];
    }
}
