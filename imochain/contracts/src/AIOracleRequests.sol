// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AIOracleModels} from "./AIOracleModels.sol";
import {IOpML} from "./interfaces/IOpML.sol";

/// @title AIOracleRequests: the AI oracle's request records and their views
/// @notice How a request is stored (see Request) and every getter over it, ORA's `requests(id)`
///         included; the request flow that writes them is in AIOracle.
abstract contract AIOracleRequests is AIOracleModels {
    /// One request: four packed slots and three hashes, plus any callback data. What is
    /// rewritten at fulfilment shares the slots written at request time (slots 0 and 1), since
    /// each storage slot a block touches costs the node a trie update. The input itself is not
    /// stored: it stays in the request's calldata and its AICallbackRequest log (ORA's
    /// DA.Calldata) and only its keccak256 is kept, which a challenge checks the input it is
    /// given against (`publishInput` stores the bytes for whoever needs them in state). Likewise
    /// the output: its hash is kept, the bytes are in the AICallbackResult log, and whoever
    /// re-delivers it (`updateResult`) passes them in. Storing each 784-byte input took ~25
    /// slots a request and dominated block time; an output took ~9 more.
    struct Request {
        RequestStatus status; // slot 0
        bool verifiable; // model was verifiable at request time
        bool gamed; // the result went to the opML game `agent`
        DA inputDA;
        DA outputDA;
        uint24 deliveredVersion;
        uint64 requestedAt; // timestamp: `reclaim` opens REQUEST_TIMEOUT later
        uint64 requestedBlock; // where the request's AICallbackRequest log (with the input) is
        uint64 fulfilledBlock;
        address agent; // slot 1: at fulfilment, the opML game if `gamed`, else the invoker
        uint96 escrow; // the model fee paid, until the request is answered, errored or reclaimed
        address account; // slot 2
        uint64 gasLimit;
        uint32 batchSize;
        address callbackContract; // slot 3
        uint256 modelId;
        bytes32 modelHash; // the model hash at request time: what the game re-executes
        bytes32 inputHash;
        bytes32 outputHash;
        bytes callbackData;
    }

    /// A request still Pending this long after it was made may be reclaimed by its requester.
    uint256 public constant REQUEST_TIMEOUT = 1 hours;
    mapping(uint256 => Request) internal _requests;
    /// Inputs stored on request by `publishInput` (most are never stored: see Request).
    mapping(uint256 => bytes) internal _publishedInputs;
    /// Ids start at 1 so that 0 never names a request.
    uint256 public nextRequestId = 1;

    function isFinalized(uint256 requestId) external view returns (bool) {
        Request storage meta = _requests[requestId];
        if (meta.status != RequestStatus.Fulfilled) return false;
        if (!meta.gamed) return true;
        return IOpML(meta.agent).isFinalized(requestId);
    }

    function _version(Request storage meta, uint256 requestId) internal view returns (uint256) {
        return meta.gamed ? IOpML(meta.agent).resultVersion(requestId) : 1;
    }

    // ------------------------------------------------------------------ request getters

    /// ORA's `requests(id)` getter, same shape; `input` is empty unless `publishInput` stored it
    /// (the input is in the request's calldata and log; `getInputHash` checks it).
    function requests(uint256 requestId)
        external
        view
        returns (
            address account,
            uint256 id,
            uint256 modelId,
            bytes memory input,
            address callbackContract,
            uint64 gasLimit,
            bytes memory callbackData
        )
    {
        Request storage r = _requests[requestId];
        if (r.account == address(0)) return (address(0), 0, 0, "", address(0), 0, "");
        return (r.account, requestId, r.modelId, _publishedInputs[requestId], r.callbackContract, r.gasLimit,
            r.callbackData);
    }

    function getRequestStatus(uint256 requestId) external view returns (RequestStatus) {
        return _requests[requestId].status;
    }

    function getRequestAccount(uint256 requestId) external view returns (address) {
        return _requests[requestId].account;
    }

    function getRequestModelId(uint256 requestId) external view returns (uint256) {
        return _requests[requestId].modelId;
    }

    function getRequestModelHash(uint256 requestId) external view returns (bytes32) {
        return _requests[requestId].modelHash;
    }

    /// `getRequestModelHash` of many requests in one call (the worker reads a block's at once).
    function getRequestModelHashes(uint256[] calldata requestIds) external view returns (bytes32[] memory hashes) {
        hashes = new bytes32[](requestIds.length);
        for (uint256 i = 0; i < requestIds.length; ++i) {
            hashes[i] = _requests[requestIds[i]].modelHash;
        }
    }

    /// keccak256 of the request's input (0 for no request): what a challenge checks its input by.
    function getInputHash(uint256 requestId) external view returns (bytes32) {
        return _requests[requestId].inputHash;
    }

    /// The block whose AICallbackRequest log carries the input (0 for no request).
    function getRequestBlock(uint256 requestId) external view returns (uint256) {
        return _requests[requestId].requestedBlock;
    }

    /// The input, once `publishInput` stored it; reverts before (it is in the request's log).
    function getInput(uint256 requestId) external view returns (bytes memory input) {
        input = _publishedInputs[requestId];
        require(input.length > 0, "input not published: read it from the AICallbackRequest log");
    }

    function getOutputHash(uint256 requestId) external view returns (bytes32) {
        return _requests[requestId].outputHash;
    }

    function getResultVersion(uint256 requestId) external view returns (uint256) {
        Request storage r = _requests[requestId];
        if (r.status != RequestStatus.Fulfilled) return 0;
        return _version(r, requestId);
    }

    function getDeliveredVersion(uint256 requestId) external view returns (uint256) {
        return _requests[requestId].deliveredVersion;
    }

    function getResultInvoker(uint256 requestId) external view returns (address) {
        Request storage r = _requests[requestId];
        return r.gamed ? IOpML(r.agent).resultSubmitter(requestId) : r.agent;
    }

    function getRequestBatchSize(uint256 requestId) external view returns (uint256) {
        return _requests[requestId].batchSize;
    }

    function getRequestFulfilledBlock(uint256 requestId) external view returns (uint256) {
        return _requests[requestId].fulfilledBlock;
    }

    function getRequestEscrow(uint256 requestId) external view returns (uint256) {
        Request storage r = _requests[requestId];
        return r.status == RequestStatus.Pending ? r.escrow : 0;
    }

    /// When `reclaim` opens for a request (0 for no request).
    function getRequestDeadline(uint256 requestId) external view returns (uint256) {
        uint256 at = _requests[requestId].requestedAt;
        return at == 0 ? 0 : at + REQUEST_TIMEOUT;
    }
}
