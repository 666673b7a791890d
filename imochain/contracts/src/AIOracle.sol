// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AIOracleModels} from "./AIOracleModels.sol";
import {IOpML} from "./interfaces/IOpML.sol";
import {IAICallbackReceiver, IAICallbackErrorReceiver} from "./interfaces/IAICallbackReceiver.sol";

/// @title AIOracle
/// @notice imochain's AI oracle with ORA's ABI (see reference/ora.md): requests pay a fee, a
///         whitelisted operator posts the output and the oracle calls the consumer's
///         `aiOracleCallback` with exactly the requested gas. Results are optimistic: the opML
///         game (`opml`) keeps them challengeable for a window and may correct them.
///
///         Fixes over ORA that keep its ABI: overpayment is refunded; the output and its hash are
///         stored per request; `updateResult` delivers each result version at most once; model
///         developers register their own models (`registerModel`, in AIOracleModels) and own fee
///         and receiver; model ownership can be handed to a contract (the IMO launchpad); the owner's
///         `withdraw` takes only the protocol's share, never models' accrued revenue.
///
///         Economic safety (README, "Trust and economics"): a request's model fee is held in
///         escrow until it is answered: `invokeCallback` books it as revenue, `feedbackError`
///         refunds it, and after REQUEST_TIMEOUT the requester may `reclaim` it. A fee or gas
///         price raised within a block applies from the next block, so nobody can be sandwiched
///         into paying more than the price at the block's start. A verifiable model must be
///         re-executable by the 0xA1 precompile (checked through 0xA2 at registration), and the
///         operator's bond at stake per result is scaled to the model fee the request paid.
///
///         ETH held = sum(accumulateRevenue) + protocolBalance + sum(refundCredit) + sum(escrow).
contract AIOracle is AIOracleModels {
    /// ORA's request record (the public `requests(id)` getter).
    struct AICallbackRequestData {
        address account;
        uint256 requestId;
        uint256 modelId;
        bytes input;
        address callbackContract;
        uint64 gasLimit;
        bytes callbackData;
    }

    /// imochain's per-request additions, kept apart so `requests(id)` stays ORA-shaped.
    struct RequestMeta {
        bytes32 modelHash; // the model hash at request time: what the game re-executes
        RequestStatus status;
        DA inputDA;
        DA outputDA;
        bool verifiable; // model was verifiable at request time
        uint32 deliveredVersion;
        uint64 fulfilledBlock;
        uint64 requestedAt; // timestamp: `reclaim` opens REQUEST_TIMEOUT later
        address invoker;
        uint96 escrow; // the model fee paid, until the request is answered, errored or reclaimed
        address game; // the opML game the result went to (0: final at once)
        uint256 batchSize;
        bytes32 outputHash;
        bytes output;
    }

    /// A callback cannot ask for more than this (a request no block could fulfil would hang).
    uint64 public constant MAX_CALLBACK_GAS_LIMIT = 15_000_000;
    /// Gas kept back around the callback for the CALL itself and the bookkeeping after it.
    uint256 private constant CALLBACK_GAS_RESERVE = 40_000;
    /// A request still Pending this long after it was made may be reclaimed by its requester.
    uint256 public constant REQUEST_TIMEOUT = 1 hours;
    /// The operator bond at stake for a verifiable result: this many times the model fee the
    /// request paid (the game caps it at its resultBond). Free requests put no stake at risk.
    uint256 public constant BOND_PER_FEE = 100;
    mapping(uint256 => AICallbackRequestData) public requests;
    mapping(uint256 => RequestMeta) private _meta;
    /// Ids start at 1 so that 0 never names a request.
    uint256 public nextRequestId = 1;

    /// Gas price of the last fulfilment (ORA's rule); the callback gas part of every fee.
    uint256 public gasPrice;
    address public opml;
    mapping(address => bool) public whitelist;
    mapping(address => bool) public blacklist;

    uint256 public protocolBalance;
    mapping(address => uint256) public refundCredit;

    PriceAtBlockStart private _gasPriceAtBlockStart;

    modifier onlyWhitelisted() {
        require(whitelist[msg.sender], "Not in whitelist");
        _;
    }

    constructor() Ownable(msg.sender) {}

    // ------------------------------------------------------------------ requests

    function requestCallback(
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData
    ) external payable returns (uint256) {
        return _request(_args(1, modelId, callbackContract, gasLimit, DA.Calldata, DA.Calldata, true), input, callbackData);
    }

    function requestCallback(
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData,
        DA inputDA,
        DA outputDA
    ) external payable returns (uint256) {
        return _request(_args(1, modelId, callbackContract, gasLimit, inputDA, outputDA, false), input, callbackData);
    }

    function requestBatchInference(
        uint256 batchSize,
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData,
        DA inputDA,
        DA outputDA
    ) external payable returns (uint256) {
        return _request(
            _args(batchSize, modelId, callbackContract, gasLimit, inputDA, outputDA, false), input, callbackData
        );
    }

    function estimateFee(uint256 modelId, uint256 gasLimit) external view returns (uint256) {
        return _fee(modelId, gasLimit, 1);
    }

    function estimateFeeBatch(uint256 modelId, uint256 gasLimit, uint256 batchSize) external view returns (uint256) {
        return _fee(modelId, gasLimit, batchSize);
    }

    function _fee(uint256 modelId, uint256 gasLimit, uint256 batchSize) internal view returns (uint256) {
        require(models[modelId].modelHash != bytes32(0), "model does not exist");
        return batchSize * _modelFee(modelId) + _gasPrice() * gasLimit;
    }

    /// `gasPrice`, or its value at the block's start if a fulfilment in this block raised it.
    function _gasPrice() internal view returns (uint256 price) {
        price = gasPrice;
        PriceAtBlockStart storage start = _gasPriceAtBlockStart;
        if (start.blockNumber == block.number && start.value < price) price = start.value;
    }

    function _setGasPrice() internal {
        if (_gasPriceAtBlockStart.blockNumber != block.number) _remember(_gasPriceAtBlockStart, gasPrice);
        gasPrice = tx.gasprice;
    }

    /// The scalar arguments of a request, bundled to stay within the EVM stack without via-IR.
    struct RequestArgs {
        uint256 batchSize;
        uint256 modelId;
        address callbackContract;
        uint64 gasLimit;
        DA inputDA;
        DA outputDA;
        bool legacyEvent;
    }

    function _args(
        uint256 batchSize,
        uint256 modelId,
        address callbackContract,
        uint64 gasLimit,
        DA inputDA,
        DA outputDA,
        bool legacyEvent
    ) internal pure returns (RequestArgs memory a) {
        a.batchSize = batchSize;
        a.modelId = modelId;
        a.callbackContract = callbackContract;
        a.gasLimit = gasLimit;
        a.inputDA = inputDA;
        a.outputDA = outputDA;
        a.legacyEvent = legacyEvent;
    }

    function _request(RequestArgs memory a, bytes calldata input, bytes calldata callbackData)
        internal
        returns (uint256 requestId)
    {
        (uint256 modelFee, uint256 excess) =
            _charge(a.batchSize, a.modelId, input.length, a.callbackContract, a.gasLimit, a.inputDA);
        requestId = nextRequestId++;
        AICallbackRequestData storage r = requests[requestId];
        r.account = msg.sender;
        r.requestId = requestId;
        r.modelId = a.modelId;
        r.input = input;
        r.callbackContract = a.callbackContract;
        r.gasLimit = a.gasLimit;
        r.callbackData = callbackData;
        _recordMeta(requestId, a.modelId, a.batchSize, a.inputDA, a.outputDA, modelFee);
        _emitRequest(r, a.legacyEvent);
        // Refund last (checks-effects-interactions). A payer that rejects ETH gets a credit.
        if (excess > 0) {
            (bool ok,) = payable(msg.sender).call{value: excess}("");
            if (!ok) refundCredit[msg.sender] += excess;
            emit Refund(msg.sender, excess, !ok);
        }
    }

    /// Validates a request and books its callback-gas fee; returns the model fee (held in escrow
    /// until the request is answered) and the overpayment to refund.
    function _charge(
        uint256 batchSize,
        uint256 modelId,
        uint256 inputLength,
        address callbackContract,
        uint64 gasLimit,
        DA inputDA
    ) internal returns (uint256 modelFee, uint256 excess) {
        require(models[modelId].modelHash != bytes32(0), "model does not exist");
        require(!blacklist[msg.sender], "In blacklist");
        require(batchSize > 0, "Invalid batchSize");
        modelFee = batchSize * _modelFee(modelId);
        require(modelFee <= type(uint96).max, "fee too large");
        uint256 required = modelFee + _gasPrice() * gasLimit;
        require(msg.value >= required, "insufficient fee");
        require(inputLength > 0, "input not uploaded");
        require((callbackContract == address(0)) == (gasLimit == 0), "Invalid gasLimit");
        require(gasLimit <= MAX_CALLBACK_GAS_LIMIT, "Invalid gasLimit");
        require(inputDA != DA.IPFS, "inputDA should not be IPFS");
        // The callback gas is the protocol's (it pays the operator's transactions); the model
        // fee waits in escrow for the answer.
        protocolBalance += required - modelFee;
        excess = msg.value - required;
    }

    function _recordMeta(
        uint256 requestId,
        uint256 modelId,
        uint256 batchSize,
        DA inputDA,
        DA outputDA,
        uint256 modelFee
    ) internal {
        ModelData storage m = models[modelId];
        RequestMeta storage meta = _meta[requestId];
        meta.modelHash = m.modelHash;
        meta.status = RequestStatus.Pending;
        meta.inputDA = inputDA;
        meta.outputDA = outputDA;
        meta.verifiable = !m.unverifiable;
        meta.requestedAt = uint64(block.timestamp);
        meta.escrow = uint96(modelFee);
        meta.batchSize = batchSize;
    }

    /// The answered request's model fee becomes revenue: the receiver's share accrues to the
    /// model, the rest is the protocol's.
    function _bookEscrow(uint256 modelId, RequestMeta storage meta) internal returns (uint256 fee) {
        fee = meta.escrow;
        if (fee == 0) return 0;
        meta.escrow = 0;
        ModelData storage m = models[modelId];
        uint256 modelShare = (fee * m.receiverPercentage) / 100;
        m.accumulateRevenue += modelShare;
        protocolBalance += fee - modelShare;
    }

    /// Returns the unanswered request's model fee to its requester: pushed when `push` (the
    /// requester is the caller), else (or if the push fails) credited for `claimRefund`.
    function _refundEscrow(address account, RequestMeta storage meta, bool push) internal returns (uint256 fee) {
        fee = meta.escrow;
        if (fee == 0) return 0;
        meta.escrow = 0;
        bool ok;
        if (push) (ok,) = payable(account).call{value: fee}("");
        if (!ok) refundCredit[account] += fee;
        emit Refund(account, fee, !ok);
    }

    function _emitRequest(AICallbackRequestData storage r, bool legacyEvent) internal {
        if (legacyEvent) {
            emit AICallbackRequest(
                r.account, r.requestId, r.modelId, r.input, r.callbackContract, r.gasLimit, r.callbackData
            );
        } else {
            RequestMeta storage meta = _meta[r.requestId];
            emit AICallbackRequest(
                r.account,
                r.requestId,
                r.modelId,
                r.input,
                r.callbackContract,
                r.gasLimit,
                r.callbackData,
                meta.inputDA,
                meta.outputDA,
                meta.batchSize
            );
        }
    }

    // ------------------------------------------------------------------ results

    function invokeCallback(uint256 requestId, bytes calldata output) external onlyWhitelisted {
        AICallbackRequestData storage r = requests[requestId];
        RequestMeta storage meta = _meta[requestId];
        require(r.account != address(0), "request not exists");
        require(meta.status == RequestStatus.Pending, "request already processed");

        bytes32 outputHash = keccak256(output);
        meta.status = RequestStatus.Fulfilled;
        meta.output = output;
        meta.outputHash = outputHash;
        meta.invoker = msg.sender;
        meta.fulfilledBlock = uint64(block.number);
        meta.deliveredVersion = 1;
        _setGasPrice();
        uint256 feePaid = _bookEscrow(r.modelId, meta);

        address game = opml;
        if (game != address(0) && meta.verifiable) {
            meta.game = game;
            // Opens the challenge window and checks the operator's stake for this result.
            IOpML(game).submitResult(requestId, meta.modelHash, outputHash, msg.sender, feePaid * BOND_PER_FEE);
        }

        if (r.callbackContract != address(0)) {
            _deliverOrRevert(r, output);
        }
        emit AICallbackResult(r.account, requestId, msg.sender, output);
        emit Confirm(msg.sender, requestId, outputHash);
    }

    function feedbackError(uint256 requestId, AIOracleError code, bytes calldata message) external onlyWhitelisted {
        AICallbackRequestData storage r = requests[requestId];
        RequestMeta storage meta = _meta[requestId];
        require(r.account != address(0), "request not exists");
        require(meta.status == RequestStatus.Pending, "request already processed");
        meta.status = RequestStatus.Errored;
        meta.invoker = msg.sender;
        meta.fulfilledBlock = uint64(block.number);
        _setGasPrice();
        // No answer, no model fee: it goes back to the requester (the callback gas stays paid).
        _refundEscrow(r.account, meta, false);

        bool delivered;
        if (r.callbackContract != address(0)) {
            // Most consumers do not implement the error hook, so a failure here is tolerated.
            bytes memory payload = abi.encodeCall(
                IAICallbackErrorReceiver.aiOracleCallbackError, (requestId, uint8(code), message, r.callbackData)
            );
            delivered = _tryCall(r.callbackContract, r.gasLimit, payload);
        }
        emit AICallbackError(requestId, uint8(code), message, delivered);
    }

    /// A request nobody answered within REQUEST_TIMEOUT (operator down, or a callback that always
    /// reverts) can be closed: its model fee goes back to the requester, pushed when the requester
    /// calls, credited otherwise; a late answer is then refused.
    function reclaim(uint256 requestId) external {
        AICallbackRequestData storage r = requests[requestId];
        RequestMeta storage meta = _meta[requestId];
        require(r.account != address(0), "request not exists");
        require(meta.status == RequestStatus.Pending, "request already processed");
        require(block.timestamp >= uint256(meta.requestedAt) + REQUEST_TIMEOUT, "request not timed out");
        meta.status = RequestStatus.Reclaimed;
        uint256 amount = _refundEscrow(r.account, meta, msg.sender == r.account);
        emit RequestReclaimed(requestId, r.account, amount);
    }

    /// Anyone may deliver the current result version to the consumer, once per version: after
    /// a correction whose delivery failed, or never if it already went through.
    function updateResult(uint256 requestId, bytes calldata output) external {
        AICallbackRequestData storage r = requests[requestId];
        RequestMeta storage meta = _meta[requestId];
        require(r.account != address(0), "request not exists");
        require(meta.status == RequestStatus.Fulfilled, "request not fulfilled");
        bytes32 outputHash = keccak256(output);
        require(outputHash == meta.outputHash, "output hash mismatch");
        uint256 version = _version(meta, requestId);
        require(meta.deliveredVersion < version, "result already delivered");
        meta.deliveredVersion = uint32(version);

        if (r.callbackContract != address(0)) {
            _deliverOrRevert(r, output);
        }
        emit AICallbackResult(r.account, requestId, msg.sender, output);
    }

    /// The game replaced the result with the re-executed output: record it and deliver it once.
    /// A reverting consumer must not undo the verdict, so its failure is tolerated here and the
    /// delivery is left to `updateResult`; the challenger must send enough gas for the callback.
    function onResultCorrected(uint256 requestId, bytes calldata output, address challenger) external {
        RequestMeta storage meta = _meta[requestId];
        require(meta.game != address(0) && msg.sender == meta.game, "only opml");
        AICallbackRequestData storage r = requests[requestId];
        bytes32 outputHash = keccak256(output);
        require(outputHash == IOpML(meta.game).getOutputHash(requestId), "output hash mismatch");
        meta.output = output;
        meta.outputHash = outputHash;
        uint256 version = _version(meta, requestId);

        emit AICallbackResult(r.account, requestId, challenger, output);
        emit Confirm(challenger, requestId, outputHash);

        if (r.callbackContract == address(0)) {
            meta.deliveredVersion = uint32(version);
            return;
        }
        uint32 previous = meta.deliveredVersion;
        meta.deliveredVersion = uint32(version); // set first: a re-entering updateResult sees it done
        bytes memory payload =
            abi.encodeCall(IAICallbackReceiver.aiOracleCallback, (requestId, output, r.callbackData));
        if (!_tryCall(r.callbackContract, r.gasLimit, payload)) {
            meta.deliveredVersion = previous;
            emit CallbackDeliveryFailed(requestId, version);
        }
    }

    function isFinalized(uint256 requestId) external view returns (bool) {
        RequestMeta storage meta = _meta[requestId];
        if (meta.status != RequestStatus.Fulfilled) return false;
        if (meta.game == address(0)) return true;
        return IOpML(meta.game).isFinalized(requestId);
    }

    function _version(RequestMeta storage meta, uint256 requestId) internal view returns (uint256) {
        return meta.game == address(0) ? 1 : IOpML(meta.game).resultVersion(requestId);
    }

    /// Calls the consumer with exactly `gasLimit` gas; reverts (bubbling its reason) if it fails.
    function _deliverOrRevert(AICallbackRequestData storage r, bytes calldata output) internal {
        bytes memory payload =
            abi.encodeCall(IAICallbackReceiver.aiOracleCallback, (r.requestId, output, r.callbackData));
        uint256 gasLimit = r.gasLimit;
        // EIP-150 forwards at most 63/64 of the gas left; insist the consumer gets all of it.
        require(gasleft() >= gasLimit + gasLimit / 63 + CALLBACK_GAS_RESERVE, "insufficient gas for callback");
        address target = r.callbackContract;
        bool ok;
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(payload, 32), mload(payload), 0, 0)
        }
        if (!ok) {
            assembly ("memory-safe") {
                let size := returndatasize()
                if gt(size, 0) {
                    let p := mload(0x40)
                    returndatacopy(p, 0, size)
                    revert(p, size)
                }
            }
            revert("callback failed");
        }
    }

    /// Best-effort call with exactly `gasLimit` gas: false when the consumer fails. Too little gas
    /// to give it that much reverts instead, so a caller (and eth_estimateGas) cannot skip the
    /// delivery by sending less gas. Return data is not copied (no griefing by huge returns).
    function _tryCall(address target, uint256 gasLimit, bytes memory payload) internal returns (bool ok) {
        require(gasleft() >= gasLimit + gasLimit / 63 + CALLBACK_GAS_RESERVE, "insufficient gas for callback");
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(payload, 32), mload(payload), 0, 0)
        }
    }

    // ------------------------------------------------------------------ revenue

    function claimRefund() external {
        uint256 amount = refundCredit[msg.sender];
        require(amount > 0, "no refund");
        refundCredit[msg.sender] = 0;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        require(ok, "refund failed");
        emit Refund(msg.sender, amount, false);
    }

    /// The owner takes the protocol's share only; models' revenue and refunds stay.
    function withdraw() external onlyOwner {
        uint256 amount = protocolBalance;
        protocolBalance = 0;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        require(ok, "withdraw failed");
    }

    // ------------------------------------------------------------------ admin

    function setOpml(address opml_) external onlyOwner {
        opml = opml_;
        emit OpmlUpdated(opml_);
    }

    function addToWhitelist(address account) external onlyOwner {
        whitelist[account] = true;
        emit WhitelistUpdated(account, true);
    }

    function removeFromWhitelist(address account) external onlyOwner {
        whitelist[account] = false;
        emit WhitelistUpdated(account, false);
    }

    function addToBlacklist(address account) external onlyOwner {
        blacklist[account] = true;
        emit BlacklistUpdated(account, true);
    }

    function removeFromBlacklist(address account) external onlyOwner {
        blacklist[account] = false;
        emit BlacklistUpdated(account, false);
    }

    // ------------------------------------------------------------------ request getters

    function getRequestStatus(uint256 requestId) external view returns (RequestStatus) {
        return _meta[requestId].status;
    }

    function getRequestAccount(uint256 requestId) external view returns (address) {
        return requests[requestId].account;
    }

    function getRequestModelId(uint256 requestId) external view returns (uint256) {
        return requests[requestId].modelId;
    }

    function getRequestModelHash(uint256 requestId) external view returns (bytes32) {
        return _meta[requestId].modelHash;
    }

    function getInput(uint256 requestId) external view returns (bytes memory) {
        return requests[requestId].input;
    }

    function getOutput(uint256 requestId) external view returns (bytes memory) {
        return _meta[requestId].output;
    }

    function getOutputHash(uint256 requestId) external view returns (bytes32) {
        return _meta[requestId].outputHash;
    }

    function getResultVersion(uint256 requestId) external view returns (uint256) {
        RequestMeta storage meta = _meta[requestId];
        if (meta.status != RequestStatus.Fulfilled) return 0;
        return _version(meta, requestId);
    }

    function getDeliveredVersion(uint256 requestId) external view returns (uint256) {
        return _meta[requestId].deliveredVersion;
    }

    function getResultInvoker(uint256 requestId) external view returns (address) {
        return _meta[requestId].invoker;
    }

    function getRequestBatchSize(uint256 requestId) external view returns (uint256) {
        return _meta[requestId].batchSize;
    }

    function getRequestFulfilledBlock(uint256 requestId) external view returns (uint256) {
        return _meta[requestId].fulfilledBlock;
    }

    function getRequestEscrow(uint256 requestId) external view returns (uint256) {
        return _meta[requestId].escrow;
    }

    /// When `reclaim` opens for a request (0 for no request).
    function getRequestDeadline(uint256 requestId) external view returns (uint256) {
        uint256 at = _meta[requestId].requestedAt;
        return at == 0 ? 0 : at + REQUEST_TIMEOUT;
    }
}
