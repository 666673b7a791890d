// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IOpML} from "./interfaces/IOpML.sol";
import {IAIOracleExtended} from "./interfaces/IAIOracle.sol";

/// @title OpML: the optimistic-ML challenge game behind imochain's AI oracle
/// @notice See IOpML for the rules. One-step disputes: instead of ORA's bisection game, the
///         chain can re-run the whole model in one call through the inference precompile, so a
///         challenge is settled in the transaction that raises it.
///
///         Bond scheme:
///         - operators stake with `depositBond`; each posted result carries a bond the oracle
///           sets from what the request paid (at most `resultBond`) and needs a stake that large;
///         - challenger pays exactly `challengeBond` per result with `challenge(requestId)` or
///           `challengeMany(requestIds)`;
///         - challenger right: min(result's bond, operator stake) is slashed and credited to the
///           challenger together with its own bond; the re-executed output becomes the result
///           (version + 1) and the oracle delivers it to the consumer once;
///         - challenger wrong: its bond is credited to the operator; the result becomes final.
///         Credits and stakes are withdrawn with `withdrawBond`; an operator's balance is locked
///         until the challenge window of the last result it posted has passed.
///
///         ETH held = sum(bondOf).
contract OpML is IOpML, ReentrancyGuard {
    /// imochain's inference precompile: staticcall(abi.encode(bytes32 modelHash, bytes tensor))
    /// returns the output tensor bytes.
    address public constant INFERENCE_PRECOMPILE = address(0xA1);

    /// A result's game, as `getGame` shows it.
    struct Game {
        bytes32 outputHash;
        address submitter;
        uint64 submittedBlock;
        uint32 version;
        GameStatus status;
        uint96 bond; // what a winning challenger may slash (capped by the operator's stake)
    }

    /// A result's record in the game. Posting one stores nothing here: until a challenge or a
    /// dispute touches it, a result's record is the oracle's (`getGameResult`: who posted it and
    /// in which block; `getOutputHash`, `getResultBond`), so the game costs a result no storage
    /// slot (each one a trie update in the node, a large part of the oracle path's block time
    /// when a result took three). `_touch` stores it; a corrected hash is stored beside it.
    struct Record {
        address submitter;
        uint64 submittedBlock;
        uint8 version;
        GameStatus status;
    }

    address public immutable oracle;
    /// The bisection game (OpMLBisection) that settles disputes over results too large to
    /// re-execute in one call (text answers); zero when there is none.
    address public immutable bisection;
    /// Blocks after the result's block during which it can be challenged.
    uint256 public immutable challengeWindow;
    uint256 public immutable resultBond;
    uint256 public immutable challengeBond;

    mapping(uint256 => Record) private _records; // the results a challenge or dispute touched
    mapping(uint256 => bytes32) private _correctedOutputHash;
    mapping(address => uint256) public bondOf;
    /// Last block of the challenge window of the newest result an account posted.
    mapping(address => uint256) public lockedUntil;

    constructor(
        address oracle_,
        uint256 challengeWindow_,
        uint256 resultBond_,
        uint256 challengeBond_,
        address bisection_
    ) {
        require(oracle_ != address(0), "zero oracle");
        require(challengeWindow_ > 0, "zero challenge window");
        require(challengeBond_ > 0, "zero challenge bond"); // free challenges would be spam
        require(resultBond_ <= type(uint96).max, "result bond too large");
        oracle = oracle_;
        challengeWindow = challengeWindow_;
        resultBond = resultBond_;
        challengeBond = challengeBond_;
        bisection = bisection_;
    }

    // ------------------------------------------------------------------ oracle side

    function submitResults(
        uint256[] calldata requestIds,
        bytes32[] calldata modelHashes,
        bytes32[] calldata outputHashes,
        address submitter,
        uint256 bond
    ) external {
        require(msg.sender == oracle, "only oracle");
        require(modelHashes.length == requestIds.length && outputHashes.length == requestIds.length, "length mismatch");
        if (bond > resultBond) bond = resultBond;
        require(bondOf[submitter] >= bond, "operator bond too low");
        bytes32 topic = ResultSubmitted.selector;
        // one ResultSubmitted per result (the record is the oracle's), in assembly: Solidity's
        // checked loop and event encoder took several times the opcodes, 64 results at a time
        assembly ("memory-safe") {
            let p := mload(0x40)
            for { let i := 0 } lt(i, requestIds.length) { i := add(i, 1) } {
                calldatacopy(p, add(modelHashes.offset, shl(5, i)), 0x20)
                calldatacopy(add(p, 0x20), add(outputHashes.offset, shl(5, i)), 0x20)
                log3(p, 0x40, topic, calldataload(add(requestIds.offset, shl(5, i))), submitter)
            }
        }
        uint256 until = block.number + challengeWindow;
        if (until > lockedUntil[submitter]) lockedUntil[submitter] = until;
    }

    /// A result's record: the stored one once touched, else the oracle's view of a result this
    /// game holds (Optimistic, version 1), else none.
    function _view(uint256 requestId) internal view returns (Record memory g) {
        g = _records[requestId];
        if (g.status != GameStatus.None) return g;
        (address game, address submitter, uint256 submittedBlock) =
            IAIOracleExtended(oracle).getGameResult(requestId);
        if (game == address(this)) g = Record(submitter, uint64(submittedBlock), 1, GameStatus.Optimistic);
    }

    /// The result's record in storage, copied there from `_view` first, for a change to it.
    function _touch(uint256 requestId) internal returns (Record storage g) {
        g = _records[requestId];
        if (g.status == GameStatus.None) {
            Record memory v = _view(requestId);
            if (v.status != GameStatus.None) _records[requestId] = v;
        }
    }

    /// The posted (or corrected) output hash of a result.
    function _outputHash(uint256 requestId, GameStatus status) internal view returns (bytes32) {
        if (status == GameStatus.Corrected) return _correctedOutputHash[requestId];
        return IAIOracleExtended(oracle).getOutputHash(requestId);
    }

    /// What a winning challenger may slash: the bond the oracle set for the result, capped.
    function _bond(uint256 requestId) internal view returns (uint256 bond) {
        bond = IAIOracleExtended(oracle).getResultBond(requestId);
        if (bond > resultBond) bond = resultBond;
    }

    // ------------------------------------------------------------------ challenge

    /// `input`: the request's original input (from its AICallbackRequest log); the oracle keeps
    /// only its hash, and an input that does not match it is refused.
    function challenge(uint256 requestId, bytes calldata input) external payable nonReentrant {
        require(msg.value == challengeBond, "wrong challenge bond");
        Record storage g = _touch(requestId);
        require(g.status != GameStatus.None, "no result to challenge");
        require(g.status != GameStatus.Disputed, "under bisection dispute");
        require(g.status == GameStatus.Optimistic, "already settled");
        require(block.number <= uint256(g.submittedBlock) + challengeWindow, "challenge window over");
        _requireOriginal(requestId, input);
        _settle(requestId, g, _reexecute(_modelHash(requestId), input));
    }

    /// Challenges many results in one transaction, `challengeBond` each. A result someone else
    /// settled first, or whose window is over, is skipped and its bond credited back (`bondOf`),
    /// so a watcher's batch never fails because of a race.
    function challengeMany(uint256[] calldata requestIds, bytes[] calldata inputs) external payable nonReentrant {
        require(requestIds.length > 0, "no requests");
        require(inputs.length == requestIds.length, "one input per request");
        require(msg.value == challengeBond * requestIds.length, "wrong challenge bond");
        uint256 unused;
        for (uint256 i = 0; i < requestIds.length; ++i) {
            uint256 requestId = requestIds[i];
            Record memory v = _view(requestId);
            if (v.status != GameStatus.Optimistic || block.number > uint256(v.submittedBlock) + challengeWindow) {
                unused += challengeBond;
                emit ChallengeSkipped(requestId, msg.sender);
                continue;
            }
            _requireOriginal(requestId, inputs[i]);
            _settle(requestId, _touch(requestId), _reexecute(_modelHash(requestId), inputs[i]));
        }
        if (unused > 0) bondOf[msg.sender] += unused;
    }

    /// The re-execution must run on the request's original input: its hash is the oracle's record.
    function _requireOriginal(uint256 requestId, bytes calldata input) internal view {
        require(keccak256(input) == IAIOracleExtended(oracle).getInputHash(requestId), "not the request's input");
    }

    /// The model hash the request was made against (the oracle fixed it at request time).
    function _modelHash(uint256 requestId) internal view returns (bytes32) {
        return IAIOracleExtended(oracle).getRequestModelHash(requestId);
    }

    /// Compares the re-executed output with the posted one and pays out one challenge bond.
    function _settle(uint256 requestId, Record storage g, bytes memory output) internal {
        bytes32 correct = keccak256(output);
        bytes32 posted = _outputHash(requestId, g.status);

        if (correct == posted) {
            g.status = GameStatus.Upheld;
            bondOf[g.submitter] += challengeBond;
            emit ChallengeSettled(requestId, msg.sender, false, posted, correct, challengeBond);
            return;
        }

        _correct(requestId, g, posted, correct, output, msg.sender, challengeBond);
    }

    /// The posted result was wrong: `correct` (the hash of `output`) becomes the result, the
    /// winner gets `paid` plus up to the result's bond slashed from the operator's stake.
    function _correct(
        uint256 requestId,
        Record storage g,
        bytes32 posted,
        bytes32 correct,
        bytes memory output,
        address winner,
        uint256 paid
    ) internal {
        g.status = GameStatus.Corrected;
        _correctedOutputHash[requestId] = correct;
        g.version += 1;
        uint256 bond = _bond(requestId);
        uint256 stake = bondOf[g.submitter];
        uint256 slash = stake < bond ? stake : bond;
        bondOf[g.submitter] = stake - slash;
        bondOf[winner] += paid + slash;
        emit ChallengeSettled(requestId, winner, true, posted, correct, paid + slash);
        // Last: the oracle stores the corrected output and calls the consumer (which may fail
        // without undoing this verdict).
        IAIOracleExtended(oracle).onResultCorrected(requestId, output, winner);
    }

    /// Runs the model on the request's input. Reverts when the precompile fails or returns nothing
    /// (an empty answer would otherwise look like a different output, e.g. on a chain without
    /// the precompile), so a challenge can never win by starving the re-execution of gas.
    function _reexecute(bytes32 modelHash, bytes memory input) internal view returns (bytes memory output) {
        bool ok;
        (ok, output) = INFERENCE_PRECOMPILE.staticcall(abi.encode(modelHash, input));
        require(ok && output.length > 0, "re-execution failed");
    }

    // ------------------------------------------------------------------ bisection disputes

    /// The bisection game freezes a result it disputes: no one-step challenge, not final, and the
    /// operator's stake locked until `until` (the dispute's longest possible end).
    function openDispute(uint256 requestId, uint256 until) external {
        require(msg.sender == bisection, "only bisection");
        Record storage g = _touch(requestId);
        require(g.status == GameStatus.Optimistic, "not optimistic");
        require(block.number <= uint256(g.submittedBlock) + challengeWindow, "challenge window over");
        g.status = GameStatus.Disputed;
        if (until > lockedUntil[g.submitter]) lockedUntil[g.submitter] = until;
    }

    /// A bisection's verdict. msg.value is the challenger's bond: it goes to the winner; a winning
    /// challenger also gets min(bond, stake) slashed from the operator, and its `output` (the
    /// answer it recomputed) becomes the result, delivered once as after a one-step challenge.
    function settleDispute(uint256 requestId, address challenger, bool challengerWon, bytes calldata output)
        external
        payable
        nonReentrant
    {
        require(msg.sender == bisection, "only bisection");
        Record storage g = _records[requestId];
        require(g.status == GameStatus.Disputed, "not disputed");
        bytes32 posted = _outputHash(requestId, g.status);
        if (!challengerWon) {
            g.status = GameStatus.Upheld;
            bondOf[g.submitter] += msg.value;
            emit ChallengeSettled(requestId, challenger, false, posted, posted, msg.value);
            return;
        }
        _correct(requestId, g, posted, keccak256(output), output, challenger, msg.value);
    }

    // ------------------------------------------------------------------ bonds

    function depositBond() external payable {
        require(msg.value > 0, "zero deposit");
        bondOf[msg.sender] += msg.value;
        emit BondDeposited(msg.sender, msg.value);
    }

    function withdrawBond(uint256 amount) external nonReentrant {
        require(amount <= bondOf[msg.sender], "insufficient bond");
        require(block.number > lockedUntil[msg.sender], "bond locked");
        bondOf[msg.sender] -= amount;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        require(ok, "withdraw failed");
        emit BondWithdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function isFinalized(uint256 requestId) external view returns (bool) {
        Record memory g = _view(requestId);
        if (g.status == GameStatus.None || g.status == GameStatus.Disputed) return false;
        if (g.status != GameStatus.Optimistic) return true;
        return block.number > uint256(g.submittedBlock) + challengeWindow;
    }

    function getOutputHash(uint256 requestId) external view returns (bytes32) {
        GameStatus status = _view(requestId).status;
        if (status == GameStatus.None) return bytes32(0);
        return _outputHash(requestId, status);
    }

    function resultSubmitter(uint256 requestId) external view returns (address) {
        return _view(requestId).submitter;
    }

    function resultVersion(uint256 requestId) external view returns (uint256) {
        return _view(requestId).version;
    }

    function gameStatus(uint256 requestId) external view returns (GameStatus) {
        return _view(requestId).status;
    }

    /// Last block in which `challenge` is accepted (0 when no result).
    function challengeDeadline(uint256 requestId) external view returns (uint256) {
        Record memory g = _view(requestId);
        if (g.status == GameStatus.None) return 0;
        return uint256(g.submittedBlock) + challengeWindow;
    }

    function getGame(uint256 requestId) external view returns (Game memory game) {
        Record memory g = _view(requestId);
        if (g.status == GameStatus.None) return game;
        return Game(_outputHash(requestId, g.status), g.submitter, g.submittedBlock, g.version, g.status,
            uint96(_bond(requestId)));
    }
}
