// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {AIOracleRequests} from "./AIOracleRequests.sol";
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
contract AIOracle is AIOracleRequests {
    /// A callback cannot ask for more than this (a request no block could fulfil would hang).
    uint64 public constant MAX_CALLBACK_GAS_LIMIT = 15_000_000;
    /// Gas kept back around the callback for the CALL itself and the bookkeeping after it.
    uint256 private constant CALLBACK_GAS_RESERVE = 40_000;
    /// The operator bond at stake for a verifiable result: this many times the model fee the
    /// request paid (the game caps it at its resultBond). Free requests put no stake at risk.
    uint256 public constant BOND_PER_FEE = 100;

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

    bytes32 private constant _REQUEST_V1 =
        keccak256("AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes)");

    /// ORA's AICallbackRequest, encoded straight from calldata (Solidity's encoder spends several
    /// hundred opcodes on it, a large part of a request's block time).
    function _emitRequestV1(
        uint256 requestId,
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData
    ) private {
        bytes32 topic = _REQUEST_V1;
        assembly ("memory-safe") {
            let p := mload(0x40)
            let inputWords := and(add(input.length, 31), not(31))
            mstore(p, modelId)
            mstore(add(p, 0x20), 0xa0) // offset of input
            mstore(add(p, 0x40), and(callbackContract, sub(shl(160, 1), 1))) // assembly sees no cleaned bits
            mstore(add(p, 0x60), and(gasLimit, sub(shl(64, 1), 1)))
            mstore(add(p, 0x80), add(0xc0, inputWords)) // offset of callbackData
            mstore(add(p, 0xa0), input.length)
            calldatacopy(add(p, 0xc0), input.offset, input.length)
            mstore(add(add(p, 0xc0), input.length), 0) // zero padding
            let q := add(add(p, 0xc0), inputWords)
            mstore(q, callbackData.length)
            calldatacopy(add(q, 0x20), callbackData.offset, callbackData.length)
            mstore(add(add(q, 0x20), callbackData.length), 0)
            let end := add(add(q, 0x20), and(add(callbackData.length, 31), not(31)))
            log3(p, sub(end, p), topic, caller(), requestId)
        }
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

    function _setGasPrice() internal {
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
    /// record in four SSTOREs, more only with a consumer. The caller emits its event and then
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

    /// What the results of one `invokeCallbacks` without a consumer share, gathered as it goes.
    /// `_fulfilInBatch` reads and writes its fields by their memory offsets (0x20 each, in order).
    struct Batch {
        address game; // the opML game (0: none)
        uint256 gameIndex;
        uint256 stake; // the operator's stake in the game
        uint256 cap; // the game's resultBond: no result's bond counts above it
        uint256 bond; // the largest bond among the gamed results
        uint256 count; // gamed results so far
        uint256[] requestIds; // the gamed results, for the game
        uint256[] modelHashes;
        uint256[] outputHashes;
        uint256 modelId; // revenue of this model not yet booked:
        uint256 receiverPercentage;
        uint256 modelRevenue;
        uint256 protocolRevenue;
        bool fulfilled;
        uint256 hashModelId; // the model hash of this model's requests hashFrom..hashUntil-1:
        uint256 hashFrom;
        uint256 hashUntil;
        bytes32 modelHash;
        uint256 operator; // the caller's index (_operatorIndex)
    }

    function _openBatch(uint256 size) internal view returns (Batch memory b) {
        b.game = opml;
        b.gameIndex = _opmlGame;
        b.modelId = type(uint256).max; // no model's revenue gathered yet
        b.operator = _operatorIndex[msg.sender];
        if (b.game != address(0)) {
            b.stake = IOpML(b.game).bondOf(msg.sender);
            b.cap = IOpML(b.game).resultBond();
            b.requestIds = new uint256[](size);
            b.modelHashes = new uint256[](size);
            b.outputHashes = new uint256[](size);
        }
    }

    uint256 private constant _NOT_FULFILLED = 0;
    uint256 private constant _FULFILLED = 1;
    uint256 private constant _HAS_CONSUMER = 2;

    /// `_fulfil` for a request without a consumer, inside a batch: _NOT_FULFILLED, with nothing
    /// changed, where `_fulfil` would revert; _HAS_CONSUMER, untouched, for `fulfilFor`. This is
    /// the oracle path's hot loop (64 results a block), hence assembly: the same steps in Solidity
    /// took ~700 opcodes a result, each a Python call in the node's EVM. Its record is written in
    /// two SSTOREs (status, block, version and game in slot 0; the output hash), AICallbackResult
    /// and Confirm are encoded from one copy of the output, which also gives its hash, and the
    /// game's part waits for `_closeBatch`.
    function _fulfilInBatch(Batch memory b, uint256 requestId, bytes calldata output)
        internal
        returns (uint256 outcome)
    {
        uint256 r; // the record's first slot: 0 meta, 1 payer, 3 outputHash, 4 callback
        uint256 meta;
        uint256 payer;
        uint256 game;
        assembly ("memory-safe") {
            mstore(0, requestId)
            mstore(0x20, _requests.slot)
            r := keccak256(0, 0x40)
            meta := sload(r)
            switch iszero(sload(add(r, 4)))
            case 0 { outcome := _HAS_CONSUMER }
            default {
                if eq(and(meta, 0xff), 1) { // Pending (None and closed requests fail)
                    payer := sload(add(r, 1))
                    outcome := _FULFILLED
                    switch and(and(shr(8, meta), 1), iszero(iszero(mload(b)))) // verifiable, and a game
                    case 1 {
                        // the game holds the result, with a bond the operator's stake must cover
                        let bond := mul(shr(160, payer), BOND_PER_FEE) // fee < 2^96: no overflow
                        if gt(bond, mload(add(b, 0x60))) { bond := mload(add(b, 0x60)) } // b.cap
                        switch gt(bond, mload(add(b, 0x40))) // b.stake
                        case 1 { outcome := _NOT_FULFILLED }
                        default {
                            if gt(bond, mload(add(b, 0x80))) { mstore(add(b, 0x80), bond) } // b.bond
                            game := mload(add(b, 0x20)) // b.gameIndex
                        }
                    }
                }
            }
        }
        if (outcome != _FULFILLED) return outcome;
        bytes32 outputHash = _emitResult(address(uint160(payer)), requestId, output);
        _refreshBatch(b, game != 0, meta >> 224, requestId, payer >> 160);
        assembly ("memory-safe") {
            let fee := shr(160, payer)
            if game {
                // listed for the game's one call (b.count; the arrays were sized for the batch)
                let at := shl(5, add(mload(add(b, 0xa0)), 1))
                mstore(add(b, 0xa0), shr(5, at))
                mstore(add(mload(add(b, 0xc0)), at), requestId)
                mstore(add(mload(add(b, 0xe0)), at), mload(add(b, 0x220))) // b.modelHash
                mstore(add(mload(add(b, 0x100)), at), outputHash)
            }
            if fee {
                // the fee becomes revenue, split as _bookEscrow splits it (percentage <= 100)
                let share := div(mul(fee, mload(add(b, 0x140))), 100)
                mstore(add(b, 0x160), add(mload(add(b, 0x160)), share)) // b.modelRevenue
                mstore(add(b, 0x180), add(mload(add(b, 0x180)), sub(fee, share))) // b.protocolRevenue
            }
            mstore(add(b, 0x1a0), 1) // b.fulfilled
            // Fulfilled, delivered version 1, its game and operator, this block (see _fulfilledMeta)
            meta := and(meta, not(or(or(0xff, shl(32, 0xffffffffff)), shl(152, 0xffffffffff))))
            meta := or(meta, or(or(2, shl(32, 1)), or(shl(40, game), shl(56, mload(add(b, 0x240)))))) // b.operator
            meta := or(meta, shl(152, and(number(), 0xffffffffff)))
            sstore(r, meta)
            sstore(add(r, 3), outputHash)
        }
    }

    /// The batch's model hash (for the game) and revenue model, when this result's differ from the
    /// previous one's: the slow path of `_fulfilInBatch`, taken once per run of a model's requests.
    function _refreshBatch(Batch memory b, bool gamed, uint256 modelId, uint256 requestId, uint256 fee) private {
        bool stale;
        assembly ("memory-safe") {
            stale := or(iszero(eq(modelId, mload(add(b, 0x1c0)))), // b.hashModelId
                or(lt(requestId, mload(add(b, 0x1e0))), iszero(lt(requestId, mload(add(b, 0x200)))))) // from, until
            stale := and(gamed, stale)
        }
        if (stale) {
            b.hashModelId = modelId;
            (b.modelHash, b.hashFrom, b.hashUntil) = _modelHashSpan(modelId, requestId);
        }
        if (fee > 0 && modelId != b.modelId) {
            _bookRevenue(b);
            b.modelId = modelId;
            b.receiverPercentage = models[modelId].receiverPercentage;
        }
    }

    /// Emits a batch result's AICallbackResult and Confirm (msg.sender posted it) and returns the
    /// output's keccak256, all from one copy of the output (Solidity's encoder makes one per event
    /// and one for the hash).
    function _emitResult(address account, uint256 requestId, bytes calldata output)
        private
        returns (bytes32 outputHash)
    {
        bytes32 resultTopic = AICallbackResult.selector;
        bytes32 confirmTopic = Confirm.selector;
        assembly ("memory-safe") {
            let p := mload(0x40)
            let len := output.length
            mstore(p, caller()) // (address invoker, bytes output)
            mstore(add(p, 0x20), 0x40)
            mstore(add(p, 0x40), len)
            calldatacopy(add(p, 0x60), output.offset, len)
            mstore(add(add(p, 0x60), len), 0) // zero padding to a whole word
            outputHash := keccak256(add(p, 0x60), len)
            log3(p, add(0x60, and(add(len, 31), not(31))), resultTopic, and(account, sub(shl(160, 1), 1)), requestId)
            mstore(p, requestId) // (uint256 requestId, bytes32 responseHash)
            mstore(add(p, 0x20), outputHash)
            log2(p, 0x40, confirmTopic, caller())
        }
    }

    function _bookRevenue(Batch memory b) internal {
        if (b.modelRevenue > 0) models[b.modelId].accumulateRevenue += b.modelRevenue;
        if (b.protocolRevenue > 0) protocolBalance += b.protocolRevenue;
        b.modelRevenue = 0;
        b.protocolRevenue = 0;
    }

    /// The batch's shared part: revenue, the gas price, and one call opening the game's windows.
    function _closeBatch(Batch memory b) internal {
        _bookRevenue(b);
        if (b.fulfilled) _setGasPrice();
        if (b.count == 0) return;
        uint256 n = b.count;
        (uint256[] memory ids, uint256[] memory models_, uint256[] memory outputs) =
            (b.requestIds, b.modelHashes, b.outputHashes);
        assembly ("memory-safe") {
            mstore(ids, n)
            mstore(models_, n)
            mstore(outputs, n)
        }
        IOpML(b.game).submitResults(ids, _asHashes(models_), _asHashes(outputs), msg.sender, b.bond);
    }

    function _asHashes(uint256[] memory list) private pure returns (bytes32[] memory hashes) {
        assembly ("memory-safe") {
            hashes := list
        }
    }

    /// The opML game a new result goes to and its index (0, 0: it is final at once).
    function _gameFor(Request storage r) internal view returns (address game, uint256 index) {
        if (!r.verifiable) return (address(0), 0);
        return (opml, _opmlGame);
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
