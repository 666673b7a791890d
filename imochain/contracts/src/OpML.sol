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

    struct Game {
        bytes32 modelHash;
        bytes32 outputHash;
        address submitter;
        uint64 submittedBlock;
        uint32 version;
        GameStatus status;
        uint96 bond; // what a winning challenger may slash (capped by the operator's stake)
    }

    address public immutable oracle;
    /// The bisection game (OpMLBisection) that settles disputes over results too large to
    /// re-execute in one call (text answers); zero when there is none.
    address public immutable bisection;
    /// Blocks after the result's block during which it can be challenged.
    uint256 public immutable challengeWindow;
    uint256 public immutable resultBond;
    uint256 public immutable challengeBond;

    mapping(uint256 => Game) private _games;
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

    function submitResult(uint256 requestId, bytes32 modelHash, bytes32 outputHash, address submitter, uint256 bond)
        external
    {
        require(msg.sender == oracle, "only oracle");
        Game storage g = _games[requestId];
        require(g.status == GameStatus.None, "result already submitted");
        if (bond > resultBond) bond = resultBond;
        require(bondOf[submitter] >= bond, "operator bond too low");
        g.modelHash = modelHash;
        g.outputHash = outputHash;
        g.submitter = submitter;
        g.submittedBlock = uint64(block.number);
        g.version = 1;
        g.status = GameStatus.Optimistic;
        g.bond = uint96(bond);
        uint256 until = block.number + challengeWindow;
        if (until > lockedUntil[submitter]) lockedUntil[submitter] = until;
        emit ResultSubmitted(requestId, submitter, modelHash, outputHash);
    }

    // ------------------------------------------------------------------ challenge

    function challenge(uint256 requestId) external payable nonReentrant {
        require(msg.value == challengeBond, "wrong challenge bond");
        Game storage g = _games[requestId];
        require(g.status != GameStatus.None, "no result to challenge");
        require(g.status != GameStatus.Disputed, "under bisection dispute");
        require(g.status == GameStatus.Optimistic, "already settled");
        require(block.number <= uint256(g.submittedBlock) + challengeWindow, "challenge window over");
        _settle(requestId, g, _reexecute(g.modelHash, IAIOracleExtended(oracle).getInput(requestId)));
    }

    /// Challenges many results in one transaction, `challengeBond` each. A result someone else
    /// settled first, or whose window is over, is skipped and its bond credited back (`bondOf`),
    /// so a watcher's batch never fails because of a race.
    function challengeMany(uint256[] calldata requestIds) external payable nonReentrant {
        require(requestIds.length > 0, "no requests");
        require(msg.value == challengeBond * requestIds.length, "wrong challenge bond");
        uint256 unused;
        for (uint256 i = 0; i < requestIds.length; ++i) {
            uint256 requestId = requestIds[i];
            Game storage g = _games[requestId];
            if (g.status != GameStatus.Optimistic || block.number > uint256(g.submittedBlock) + challengeWindow) {
                unused += challengeBond;
                emit ChallengeSkipped(requestId, msg.sender);
                continue;
            }
            _settle(requestId, g, _reexecute(g.modelHash, IAIOracleExtended(oracle).getInput(requestId)));
        }
        if (unused > 0) bondOf[msg.sender] += unused;
    }

    /// Compares the re-executed output with the posted one and pays out one challenge bond.
    function _settle(uint256 requestId, Game storage g, bytes memory output) internal {
        bytes32 correct = keccak256(output);
        bytes32 posted = g.outputHash;

        if (correct == posted) {
            g.status = GameStatus.Upheld;
            bondOf[g.submitter] += challengeBond;
            emit ChallengeSettled(requestId, msg.sender, false, posted, correct, challengeBond);
            return;
        }

        g.status = GameStatus.Corrected;
        g.outputHash = correct;
        g.version += 1;
        uint256 stake = bondOf[g.submitter];
        uint256 slash = stake < g.bond ? stake : g.bond;
        bondOf[g.submitter] = stake - slash;
        uint256 payout = challengeBond + slash;
        bondOf[msg.sender] += payout;
        emit ChallengeSettled(requestId, msg.sender, true, posted, correct, payout);
        // Last: the oracle stores the corrected output and calls the consumer (which may fail
        // without undoing this verdict).
        IAIOracleExtended(oracle).onResultCorrected(requestId, output, msg.sender);
    }

    /// Runs the model on the stored input. Reverts when the precompile fails or returns nothing
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
        Game storage g = _games[requestId];
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
        Game storage g = _games[requestId];
        require(g.status == GameStatus.Disputed, "not disputed");
        bytes32 posted = g.outputHash;
        if (!challengerWon) {
            g.status = GameStatus.Upheld;
            bondOf[g.submitter] += msg.value;
            emit ChallengeSettled(requestId, challenger, false, posted, posted, msg.value);
            return;
        }
        bytes32 correct = keccak256(output);
        g.status = GameStatus.Corrected;
        g.outputHash = correct;
        g.version += 1;
        uint256 stake = bondOf[g.submitter];
        uint256 slash = stake < g.bond ? stake : g.bond;
        bondOf[g.submitter] = stake - slash;
        bondOf[challenger] += msg.value + slash;
        emit ChallengeSettled(requestId, challenger, true, posted, correct, msg.value + slash);
        IAIOracleExtended(oracle).onResultCorrected(requestId, output, challenger);
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
        Game storage g = _games[requestId];
        if (g.status == GameStatus.None || g.status == GameStatus.Disputed) return false;
        if (g.status != GameStatus.Optimistic) return true;
        return block.number > uint256(g.submittedBlock) + challengeWindow;
    }

    function getOutputHash(uint256 requestId) external view returns (bytes32) {
        return _games[requestId].outputHash;
    }

    function resultVersion(uint256 requestId) external view returns (uint256) {
        return _games[requestId].version;
    }

    function gameStatus(uint256 requestId) external view returns (GameStatus) {
        return _games[requestId].status;
    }

    /// Last block in which `challenge` is accepted (0 when no result).
    function challengeDeadline(uint256 requestId) external view returns (uint256) {
        Game storage g = _games[requestId];
        if (g.status == GameStatus.None) return 0;
        return uint256(g.submittedBlock) + challengeWindow;
    }

    function getGame(uint256 requestId) external view returns (Game memory) {
        return _games[requestId];
    }
}
