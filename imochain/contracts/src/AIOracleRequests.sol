// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AIOracleModels} from "./AIOracleModels.sol";
import {IOpML} from "./interfaces/IOpML.sol";

/// @title AIOracleRequests: the AI oracle's request records and their views
/// @notice How a request is stored (see Request) and every getter over it, ORA's `requests(id)`
///         included; the request flow that writes them is in AIOracle.
abstract contract AIOracleRequests is AIOracleModels {
    /// One request. Its two hot slots are written whole, once each, by the request and again (slot
    /// 0) by the fulfilment (`_META_*` below), because in the node each storage slot a block
    /// writes costs a trie update and each SSTORE a journal entry, which together with the EVM's
    /// opcodes are the oracle path's block time. The input itself is not stored: it stays in the
    /// request's calldata and its AICallbackRequest log (ORA's DA.Calldata) and only its
    /// keccak256 is kept, which a challenge checks the input it is given against (`publishInput`
    /// stores the bytes for whoever needs them in state). Likewise the output: its hash is kept,
    /// the bytes are in the AICallbackResult log, and whoever re-delivers it (`updateResult`)
    /// passes them in. The opML game holding a result and the operator who posted it are indices
    /// into `_gameList` (setOpml) and `_operatorList` (addToWhitelist): the game keeps nothing per
    /// result until a challenge touches it (see OpML.Record), so a result writes two slots in all.
    struct Request {
        RequestStatus status; // slot 0: bits 0-7
        bool verifiable; // 8-15: the model was verifiable at request time
        DA inputDA; // 16-23
        DA outputDA; // 24-31
        uint8 deliveredVersion; // 32-39: a result has at most two versions (posted, corrected)
        uint16 game; // 40-55: 1 + index in _gameList of the game holding the result; 0: none
        uint16 operator; // 56-71: 1 + index in _operatorList of who answered (or errored) it
        uint40 requestedAt; // 72-111: timestamp: `reclaim` opens REQUEST_TIMEOUT later
        uint40 requestedBlock; // 112-151: where the request's AICallbackRequest log (with the input) is
        uint40 fulfilledBlock; // 152-191
        uint32 batchSize; // 192-223
        uint32 modelId; // 224-255 (model ids are below 2^32)
        address account; // slot 1
        uint96 escrow; // the model fee paid: in escrow while Pending, revenue once answered
        bytes32 inputHash; // slot 2 (the model's hash at request time is the model's record: _modelHashAt)
        bytes32 outputHash; // slot 3
        address callbackContract; // slot 4, written only with a consumer
        uint64 gasLimit;
        bytes callbackData;
    }

    uint256 internal constant _META_STATUS = 0xff;
    uint256 internal constant _META_ANSWER = 0xffffffffff << 32; // deliveredVersion, game, operator
    uint256 internal constant _META_FULFILLED_BLOCK = 0xffffffffff << 152;

    /// Slot 0 of a new Pending request (`shape`: batchSize | inputDA << 32 | outputDA << 40).
    function _newMeta(uint256 modelId, bool verifiable, uint256 shape) internal view returns (uint256) {
        return uint256(uint8(RequestStatus.Pending)) | (verifiable ? 1 << 8 : 0) | (((shape >> 32) & 0xff) << 16)
            | (((shape >> 40) & 0xff) << 24) | (uint256(uint40(block.timestamp)) << 72)
            | (uint256(uint40(block.number)) << 112) | ((shape & 0xffffffff) << 192) | (modelId << 224);
    }

    /// Slot 0 of a request fulfilled now (version 1) by `operator` whose result `game` holds.
    function _fulfilledMeta(uint256 meta, uint256 game, uint256 operator) internal view returns (uint256) {
        meta &= ~(_META_STATUS | _META_ANSWER | _META_FULFILLED_BLOCK);
        return meta | uint256(uint8(RequestStatus.Fulfilled)) | (1 << 32) | (game << 40) | (operator << 56)
            | (uint256(uint40(block.number)) << 152);
    }

    /// The opML games results were posted to (setOpml appends), so a result stays with its game.
    address[] internal _gameList;
    /// The operators ever whitelisted (addToWhitelist appends).
    address[] internal _operatorList;

    /// A request still Pending this long after it was made may be reclaimed by its requester.
    uint256 public constant REQUEST_TIMEOUT = 1 hours;
    mapping(uint256 => Request) internal _requests;
    /// Inputs stored on request by `publishInput` (most are never stored: see Request).
    mapping(uint256 => bytes) internal _publishedInputs;
    /// Ids start at 1 so that 0 never names a request.
    uint256 public nextRequestId = 1;

    function _upcomingRequestId() internal view override returns (uint256) {
        return nextRequestId;
    }

    function isFinalized(uint256 requestId) external view returns (bool) {
        Request storage meta = _requests[requestId];
        if (meta.status != RequestStatus.Fulfilled) return false;
        if (meta.game == 0) return true;
        return IOpML(_gameOf(meta)).isFinalized(requestId);
    }

    /// The opML game holding the request's result (0: none).
    function _gameOf(Request storage r) internal view returns (address) {
        uint256 game = r.game;
        return game == 0 ? address(0) : _gameList[game - 1];
    }

    function _version(Request storage meta, uint256 requestId) internal view returns (uint256) {
        return meta.game != 0 ? IOpML(_gameOf(meta)).resultVersion(requestId) : 1;
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
        Request storage r = _requests[requestId];
        if (r.status == RequestStatus.None) return bytes32(0);
        return _modelHashAt(r.modelId, requestId);
    }

    /// `getRequestModelHash` of many requests in one call (the worker reads a block's at once).
    function getRequestModelHashes(uint256[] calldata requestIds) external view returns (bytes32[] memory hashes) {
        hashes = new bytes32[](requestIds.length);
        for (uint256 i = 0; i < requestIds.length; ++i) {
            Request storage r = _requests[requestIds[i]];
            if (r.status != RequestStatus.None) hashes[i] = _modelHashAt(r.modelId, requestIds[i]);
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
        return _operatorOf(r);
    }

    function _operatorOf(Request storage r) internal view returns (address) {
        uint256 operator = r.operator;
        return operator == 0 ? address(0) : _operatorList[operator - 1];
    }

    /// The opML game's view of a result it holds: the game, who posted it and in which block
    /// (zeros for a request no game holds). The game stores nothing per result until challenged.
    function getGameResult(uint256 requestId)
        external
        view
        returns (address game, address submitter, uint256 submittedBlock)
    {
        Request storage r = _requests[requestId];
        if (r.status != RequestStatus.Fulfilled || r.game == 0) return (address(0), address(0), 0);
        return (_gameOf(r), _operatorOf(r), r.fulfilledBlock);
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
