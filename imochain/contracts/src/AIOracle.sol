// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AIOracleBatch} from "./AIOracleBatch.sol";
import {IOpML} from "./interfaces/IOpML.sol";
import {IAICallbackReceiver, IAICallbackErrorReceiver} from "./interfaces/IAICallbackReceiver.sol";

/// @title AIOracle
/// @notice imochain's AI oracle with ORA's ABI (see reference/ora.md): requests pay a fee, a
///         whitelisted operator posts the output and the oracle calls the consumer's
///         `aiOracleCallback` with exactly the requested gas. Results are optimistic: the opML
///         game (`opml`) keeps them challengeable for a window and may correct them.
///
///         Fixes over ORA that keep its ABI: overpayment is refunded; each request's input and
///         output hashes are stored (the bytes stay in calldata and logs: see Request); a block's results can be posted in one `invokeCallbacks`; `updateResult` delivers each result version at most once; model
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
contract AIOracle is AIOracleBatch {
    /// A callback cannot ask for more than this (a request no block could fulfil would hang).
    uint64 public constant MAX_CALLBACK_GAS_LIMIT = 15_000_000;
    /// Gas kept back around the callback for the CALL itself and the bookkeeping after it.
    uint256 private constant CALLBACK_GAS_RESERVE = 40_000;

    /// Gas price of the last fulfilment (ORA's rule); the callback gas part of every fee.
    uint256 public gasPrice;
    address public opml;
    /// 1 + the index of `opml` in `_gameList` (0: no game): what a result's record keeps.
    uint16 private _opmlGame;
    mapping(address => uint16) private _gameIndex;
    mapping(address => uint16) private _operatorIndex; // 1 + index in _operatorList
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
    ) external payable returns (uint256 requestId) {
        uint256 excess;
        {
            uint256 modelFee;
            (modelFee, excess) = _charge(1, modelId, input.length, callbackContract, gasLimit, DA.Calldata);
            requestId = _store(modelId, modelFee, keccak256(input), callbackContract, gasLimit, callbackData, 1);
        }
        _emitRequestV1(requestId, modelId, input, callbackContract, gasLimit, callbackData);
        _refundExcess(excess);
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
        return _requestWithDA(_args(1, modelId, callbackContract, gasLimit, inputDA, outputDA), input, callbackData);
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
        return _requestWithDA(_args(batchSize, modelId, callbackContract, gasLimit, inputDA, outputDA), input, callbackData);
    }

    function estimateFee(uint256 modelId, uint256 gasLimit) external view returns (uint256) {
        return _fee(modelId, gasLimit, 1);
    }

    function estimateFeeBatch(uint256 modelId, uint256 gasLimit, uint256 batchSize) external view returns (uint256) {
        return _fee(modelId, gasLimit, batchSize);
    }

    function _fee(uint256 modelId, uint256 gasLimit, uint256 batchSize) internal view returns (uint256) {
        require(models[modelId].modelHash != bytes32(0), "model does not exist");
        return batchSize * _modelFee(modelId) + (gasLimit == 0 ? 0 : _gasPrice() * gasLimit);
    }

    /// `gasPrice`, or its value at the block's start if a fulfilment in this block raised it.
    function _gasPrice() internal view returns (uint256 price) {
        price = gasPrice;
        PriceAtBlockStart storage start = _gasPriceAtBlockStart;
        if (start.blockNumber == block.number && start.value < price) price = start.value;
    }

    function _setGasPrice() internal override {
        if (_gasPriceAtBlockStart.blockNumber != block.number) _remember(_gasPriceAtBlockStart, gasPrice);
        gasPrice = tx.gasprice;
    }

    /// The scalar arguments of a request with DA options, bundled to stay within the EVM stack.
    struct RequestArgs {
        uint256 batchSize;
        uint256 modelId;
        address callbackContract;
        uint64 gasLimit;
        DA inputDA;
        DA outputDA;
    }

    function _args(
        uint256 batchSize,
        uint256 modelId,
        address callbackContract,
        uint64 gasLimit,
        DA inputDA,
        DA outputDA
    ) internal pure returns (RequestArgs memory a) {
        a.batchSize = batchSize;
        a.modelId = modelId;
        a.callbackContract = callbackContract;
        a.gasLimit = gasLimit;
        a.inputDA = inputDA;
        a.outputDA = outputDA;
    }

    function _requestWithDA(RequestArgs memory a, bytes calldata input, bytes calldata callbackData)
        internal
        returns (uint256 requestId)
    {
        uint256 excess;
        {
            uint256 modelFee;
            (modelFee, excess) = _charge(a.batchSize, a.modelId, input.length, a.callbackContract, a.gasLimit, a.inputDA);
            uint256 shape = a.batchSize | (uint256(uint8(a.inputDA)) << 32) | (uint256(uint8(a.outputDA)) << 40);
            requestId = _store(a.modelId, modelFee, keccak256(input), a.callbackContract, a.gasLimit, callbackData, shape);
        }
        _emitRequest(requestId, a, input, callbackData);
        _refundExcess(excess);
    }

    /// Books a request `_charge` accepted (`shape`: batchSize | inputDA << 32 | outputDA << 40): its
    /// record in three slots (plus the request counter), more only with a consumer. The caller emits its event and then
    /// refunds the overpayment (checks-effects-interactions).
    function _store(
        uint256 modelId,
        uint256 modelFee,
        bytes32 inputHash,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData,
        uint256 shape
    ) internal returns (uint256 requestId) {
        unchecked {
            requestId = nextRequestId++; // a 256-bit counter does not wrap
        }
        Request storage r = _requests[requestId];
        ModelData storage m = models[modelId];
        {
            uint256 meta = _newMeta(modelId, !m.unverifiable, shape);
            uint256 payer = uint256(uint160(msg.sender)) | (modelFee << 160);
            assembly ("memory-safe") {
                sstore(r.slot, meta)
                sstore(add(r.slot, 1), payer)
            }
        }
        r.inputHash = inputHash;
        // zero fields are left unwritten: an untouched slot costs nothing
        if (callbackContract != address(0)) {
            r.callbackContract = callbackContract;
            r.gasLimit = gasLimit;
        }
        if (callbackData.length > 0) r.callbackData = callbackData;
    }

    /// Returns an overpayment; a payer that rejects ETH gets a credit.
    function _refundExcess(uint256 excess) internal {
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
        require(batchSize > 0 && batchSize <= type(uint32).max, "Invalid batchSize");
        modelFee = batchSize * _modelFee(modelId);
        require(modelFee <= type(uint96).max, "fee too large");
        uint256 required = gasLimit == 0 ? modelFee : modelFee + _gasPrice() * gasLimit;
        require(msg.value >= required, "insufficient fee");
        require(inputLength > 0, "input not uploaded");
        require((callbackContract == address(0)) == (gasLimit == 0), "Invalid gasLimit");
        require(gasLimit <= MAX_CALLBACK_GAS_LIMIT, "Invalid gasLimit");
        require(inputDA != DA.IPFS, "inputDA should not be IPFS");
        // The callback gas is the protocol's (it pays the operator's transactions); the model
        // fee waits in escrow for the answer.
        if (required > modelFee) protocolBalance += required - modelFee;
        unchecked {
            excess = msg.value - required; // required <= msg.value
        }
    }

    /// The answered request's model fee becomes revenue: the receiver's share accrues to the
    /// model, the rest is the protocol's. `escrow` keeps the fee paid (the result's bond follows
    /// it); the request's status says it is booked.
    function _bookEscrow(uint256 modelId, Request storage meta) internal returns (uint256 fee) {
        fee = meta.escrow;
        if (fee == 0) return 0;
        ModelData storage m = models[modelId];
        uint256 modelShare = (fee * m.receiverPercentage) / 100;
        m.accumulateRevenue += modelShare;
        protocolBalance += fee - modelShare;
    }

    /// Returns the unanswered request's model fee to its requester: pushed when `push` (the
    /// requester is the caller), else (or if the push fails) credited for `claimRefund`.
    function _refundEscrow(address account, Request storage meta, bool push) internal returns (uint256 fee) {
        fee = meta.escrow;
        if (fee == 0) return 0;
        meta.escrow = 0;
        bool ok;
        if (push) (ok,) = payable(account).call{value: fee}("");
        if (!ok) refundCredit[account] += fee;
        emit Refund(account, fee, !ok);
    }

    /// Memory arguments: the ten-field event from calldata would not fit the EVM stack.
    function _emitRequest(uint256 requestId, RequestArgs memory a, bytes memory input, bytes memory callbackData)
        internal
    {
        emit AICallbackRequest(
            msg.sender,
            requestId,
            a.modelId,
            input,
            a.callbackContract,
            a.gasLimit,
            callbackData,
            a.inputDA,
            a.outputDA,
            a.batchSize
        );
    }

    // ------------------------------------------------------------------ results

    function invokeCallback(uint256 requestId, bytes calldata output) external onlyWhitelisted {
        _fulfil(msg.sender, requestId, output);
    }

    /// imochain's addition: many results in one transaction (the node's worker answers a block's
    /// requests this way: one transaction's overhead instead of one per request). Each result is
    /// fulfilled as by `invokeCallback`; one that cannot be (already answered, too little operator
    /// stake, a failing consumer) is undone alone, reported by `FulfilmentFailed` and left Pending,
    /// while the others stand. What results without a consumer share is done once per batch: one
    /// call to the opML game for all of them, the gas price and the revenue booked once.
    function invokeCallbacks(uint256[] calldata requestIds, bytes[] calldata outputs) external onlyWhitelisted {
        require(requestIds.length == outputs.length, "length mismatch");
        Batch memory b = _openBatch(requestIds.length);
        for (uint256 i = 0; i < requestIds.length; ++i) {
            uint256 requestId = requestIds[i];
            uint256 outcome = _fulfilInBatch(b, requestId, outputs[i]);
            if (outcome == _HAS_CONSUMER) {
                // a consumer may fail after the result is recorded: its own frame undoes it alone.
                // No returndata is copied, so a consumer cannot grief the batch with a huge reason.
                try this.fulfilFor(msg.sender, requestId, outputs[i]) {
                    outcome = _FULFILLED;
                } catch {}
            }
            if (outcome != _FULFILLED) emit FulfilmentFailed(requestId);
        }
        _closeBatch(b);
    }

    /// One result of `invokeCallbacks` that has a consumer, callable by the oracle itself only.
    function fulfilFor(address operator, uint256 requestId, bytes calldata output) external {
        require(msg.sender == address(this), "only the oracle");
        _fulfil(operator, requestId, output);
    }

    function _fulfil(address operator, uint256 requestId, bytes calldata output) internal {
        Request storage r = _requests[requestId];
        require(r.account != address(0), "request not exists");
        require(r.status == RequestStatus.Pending, "request already processed");
        bytes32 outputHash = keccak256(output);
        (address game, uint256 gameIndex) = _gameFor(r);
        if (game != address(0)) {
            // Opens the challenge window and checks the operator's stake for this result.
            IOpML(game).submitResults(
                _one(requestId), _asHashes(_one(uint256(_modelHashAt(r.modelId, requestId)))), _asHashes(_one(uint256(outputHash))), operator,
                uint256(r.escrow) * BOND_PER_FEE
            );
        }
        _record(operator, r, outputHash, gameIndex);
        _setGasPrice();
        _bookEscrow(r.modelId, r);
        if (r.callbackContract != address(0)) {
            _deliverOrRevert(requestId, r, output);
        }
        emit AICallbackResult(r.account, requestId, operator, output);
        emit Confirm(operator, requestId, outputHash);
    }

    function _one(uint256 x) private pure returns (uint256[] memory list) {
        list = new uint256[](1);
        list[0] = x;
    }

    /// The opML game a new result goes to and its index (0, 0: it is final at once).
    function _gameFor(Request storage r) internal view returns (address game, uint256 index) {
        if (!r.verifiable) return (address(0), 0);
        return _currentGame();
    }

    function _currentGame() internal view override returns (address game, uint256 index) {
        return (opml, _opmlGame);
    }

    function _operatorNumber(address operator) internal view override returns (uint256) {
        return _operatorIndex[operator];
    }

    function _bookProtocolRevenue(uint256 amount) internal override {
        protocolBalance += amount;
    }

    /// Books a result: status, block, version 1, its game and operator (one SSTORE), its output hash.
    function _record(address operator, Request storage r, bytes32 outputHash, uint256 gameIndex) internal {
        uint256 meta;
        assembly ("memory-safe") {
            meta := sload(r.slot)
        }
        meta = _fulfilledMeta(meta, gameIndex, _operatorIndex[operator]);
        assembly ("memory-safe") {
            sstore(r.slot, meta)
        }
        r.outputHash = outputHash;
    }

    function feedbackError(uint256 requestId, AIOracleError code, bytes calldata message) external onlyWhitelisted {
        Request storage r = _requests[requestId];
        require(r.account != address(0), "request not exists");
        require(r.status == RequestStatus.Pending, "request already processed");
        r.status = RequestStatus.Errored;
        r.operator = _operatorIndex[msg.sender];
        r.fulfilledBlock = uint40(block.number);
        _setGasPrice();
        // No answer, no model fee: it goes back to the requester (the callback gas stays paid).
        _refundEscrow(r.account, r, false);

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
        Request storage r = _requests[requestId];
        require(r.account != address(0), "request not exists");
        require(r.status == RequestStatus.Pending, "request already processed");
        require(block.timestamp >= uint256(r.requestedAt) + REQUEST_TIMEOUT, "request not timed out");
        r.status = RequestStatus.Reclaimed;
        uint256 amount = _refundEscrow(r.account, r, msg.sender == r.account);
        emit RequestReclaimed(requestId, r.account, amount);
    }

    /// Anyone may deliver the current result version to the consumer, once per version: after
    /// a correction whose delivery failed, or never if it already went through.
    function updateResult(uint256 requestId, bytes calldata output) external {
        Request storage r = _requests[requestId];
        require(r.account != address(0), "request not exists");
        require(r.status == RequestStatus.Fulfilled, "request not fulfilled");
        bytes32 outputHash = keccak256(output);
        require(outputHash == r.outputHash, "output hash mismatch");
        uint256 version = _version(r, requestId);
        require(r.deliveredVersion < version, "result already delivered");
        r.deliveredVersion = uint8(version);

        if (r.callbackContract != address(0)) {
            _deliverOrRevert(requestId, r, output);
        }
        emit AICallbackResult(r.account, requestId, msg.sender, output);
    }

    /// Stores a request's input in state, for contracts that must read it (`getInput`,
    /// `requests(id).input`). Anyone may, once; the bytes must hash to the request's inputHash.
    /// Not needed by the oracle or the opML game: both work from the hash.
    function publishInput(uint256 requestId, bytes calldata input) external {
        Request storage r = _requests[requestId];
        require(r.account != address(0), "request not exists");
        require(keccak256(input) == r.inputHash, "input hash mismatch");
        require(_publishedInputs[requestId].length == 0, "input already published");
        _publishedInputs[requestId] = input;
        emit InputPublished(requestId);
    }

    /// The game replaced the result with the re-executed output: record it and deliver it once.
    /// A reverting consumer must not undo the verdict, so its failure is tolerated here and the
    /// delivery is left to `updateResult`; the challenger must send enough gas for the callback.
    function onResultCorrected(uint256 requestId, bytes calldata output, address challenger) external {
        Request storage r = _requests[requestId];
        require(r.game != 0 && msg.sender == _gameOf(r), "only opml");
        bytes32 outputHash = keccak256(output);
        require(outputHash == IOpML(msg.sender).getOutputHash(requestId), "output hash mismatch");
        r.outputHash = outputHash;
        uint256 version = _version(r, requestId);

        emit AICallbackResult(r.account, requestId, challenger, output);
        emit Confirm(challenger, requestId, outputHash);

        if (r.callbackContract == address(0)) {
            r.deliveredVersion = uint8(version);
            return;
        }
        uint8 previous = r.deliveredVersion;
        r.deliveredVersion = uint8(version); // set first: a re-entering updateResult sees it done
        bytes memory payload =
            abi.encodeCall(IAICallbackReceiver.aiOracleCallback, (requestId, output, r.callbackData));
        if (!_tryCall(r.callbackContract, r.gasLimit, payload)) {
            r.deliveredVersion = previous;
            emit CallbackDeliveryFailed(requestId, version);
        }
    }

    /// Calls the consumer with exactly `gasLimit` gas; reverts (bubbling its reason) if it fails.
    function _deliverOrRevert(uint256 requestId, Request storage r, bytes calldata output) internal {
        bytes memory payload =
            abi.encodeCall(IAICallbackReceiver.aiOracleCallback, (requestId, output, r.callbackData));
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

    function getResultBond(uint256 requestId) external view returns (uint256) {
        Request storage r = _requests[requestId];
        if (r.status != RequestStatus.Fulfilled || r.game == 0) return 0;
        return uint256(r.escrow) * BOND_PER_FEE;
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

    /// Results posted from now on go to `opml_` (0: final at once); earlier ones stay with theirs.
    function setOpml(address opml_) external onlyOwner {
        uint16 index;
        if (opml_ != address(0)) {
            index = _gameIndex[opml_];
            if (index == 0) {
                require(_gameList.length < type(uint16).max, "too many games");
                _gameList.push(opml_);
                index = uint16(_gameList.length);
                _gameIndex[opml_] = index;
            }
        }
        opml = opml_;
        _opmlGame = index;
        emit OpmlUpdated(opml_);
    }

    function addToWhitelist(address account) external onlyOwner {
        if (_operatorIndex[account] == 0) {
            require(_operatorList.length < type(uint16).max, "too many operators");
            _operatorList.push(account);
            _operatorIndex[account] = uint16(_operatorList.length);
        }
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
}
