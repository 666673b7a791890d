// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AIOracleRequests} from "./AIOracleRequests.sol";
import {IOpML} from "./interfaces/IOpML.sol";

/// @title AIOracleBatch: the AI oracle's hot path
/// @notice What runs once per request and once per result when a block's worth is served:
///         ORA's AICallbackRequest encoded straight from calldata, and `invokeCallbacks`' fast
///         path for results without a consumer (each record written in two SSTOREs, both events
///         and the output's hash from one copy of it, the opML game called once per batch, the
///         revenue and the gas price booked once). Parts are in assembly: in the node every
///         opcode is a Python call, and opcodes are most of the oracle path's block time
///         (docs/bench/oracle_profile.md). AIOracle supplies the game, the operators' indices
///         and the bookkeeping through the hooks at the end.
abstract contract AIOracleBatch is AIOracleRequests {
    /// The operator bond at stake for a verifiable result: this many times the model fee the
    /// request paid (the game caps it at its resultBond). Free requests put no stake at risk.
    uint256 public constant BOND_PER_FEE = 100;

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
    ) internal {
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
        (b.game, b.gameIndex) = _currentGame();
        b.modelId = type(uint256).max; // no model's revenue gathered yet
        b.operator = _operatorNumber(msg.sender);
        if (b.game != address(0)) {
            b.stake = IOpML(b.game).bondOf(msg.sender);
            b.cap = IOpML(b.game).resultBond();
            b.requestIds = new uint256[](size);
            b.modelHashes = new uint256[](size);
            b.outputHashes = new uint256[](size);
        }
    }

    uint256 internal constant _NOT_FULFILLED = 0;
    uint256 internal constant _FULFILLED = 1;
    uint256 internal constant _HAS_CONSUMER = 2;

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
        if (b.protocolRevenue > 0) _bookProtocolRevenue(b.protocolRevenue);
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
        (address game, uint256 bond) = (b.game, b.bond);
        bytes4 selector = IOpML.submitResults.selector;
        // submitResults(ids, modelHashes, outputHashes, msg.sender, bond), its three arrays
        // copied whole (MCOPY) into the calldata: Solidity's encoder copies word by word, some
        // 4 700 opcodes for a batch of 64. (A game without code failed `_openBatch`'s bondOf.)
        assembly ("memory-safe") {
            let size := shl(5, add(n, 1)) // an array's length word and its n words
            mstore(ids, n)
            mstore(models_, n)
            mstore(outputs, n)
            let p := mload(0x40)
            let head := add(p, 4)
            mstore(p, selector)
            mstore(head, 0xa0) // the arrays follow the five head words
            mstore(add(head, 0x20), add(0xa0, size))
            mstore(add(head, 0x40), add(0xa0, shl(1, size)))
            mstore(add(head, 0x60), caller())
            mstore(add(head, 0x80), bond)
            mcopy(add(head, 0xa0), ids, size)
            mcopy(add(add(head, 0xa0), size), models_, size)
            mcopy(add(add(head, 0xa0), shl(1, size)), outputs, size)
            if iszero(call(gas(), game, 0, p, add(0xa4, mul(3, size)), 0, 0)) {
                returndatacopy(p, 0, returndatasize()) // the game's reason, as a Solidity call bubbles it
                revert(p, returndatasize())
            }
        }
    }

    function _asHashes(uint256[] memory list) internal pure returns (bytes32[] memory hashes) {
        assembly ("memory-safe") {
            hashes := list
        }
    }

    // ------------------------------------------------------------------ hooks (AIOracle)

    /// The opML game new results go to and its index in _gameList (0, 0: none).
    function _currentGame() internal view virtual returns (address game, uint256 index);

    /// 1 + `operator`'s index in _operatorList (0 for none).
    function _operatorNumber(address operator) internal view virtual returns (uint256);

    function _bookProtocolRevenue(uint256 amount) internal virtual;

    /// Records this transaction's gas price as the oracle's (ORA's rule for fulfilments).
    function _setGasPrice() internal virtual;
}
