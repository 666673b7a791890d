// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IOpML
/// @notice imochain's optimistic-ML challenge game. A result posted through the oracle is
///         optimistic for `challengeWindow` blocks; anyone may challenge it with `challengeBond`
///         wei. The dispute is settled in the same call by re-running the model through the
///         inference precompile (0x..00A1) on the request's original input (checked against the
///         oracle's input hash) and comparing keccak256 of the
///         outputs (int8 models are bit-exact).
///
///         Bonds: an operator keeps a stake (`depositBond`); each result it posts carries a bond
///         the oracle derives from what the request paid (at most `resultBond`; 0 for a free
///         request) and needs a stake at least that large. Challenger wins -> `min(bond, stake)`
///         is slashed from the operator and credited, with the challenger's own bond, to the
///         challenger. `challengeMany` settles many results in one transaction. Challenger
///         loses -> its bond is credited to the operator. Credits are withdrawn with
///         `withdrawBond` (an operator's stake stays locked until its last result's window ends).
///
///         Keys are the oracle's request ids. `getOutputHash(uint256)` and `isFinalized(uint256)`
///         keep the selectors of ORA's opML contract.
interface IOpML {
    enum GameStatus {
        None, // no result posted
        Optimistic, // posted, challengeable until the window ends
        Upheld, // challenged and re-execution agreed: final
        Corrected, // challenged and re-execution disagreed: replaced, final
        Disputed // under a bisection dispute (OpMLBisection, for models too large for one call)
    }

    event ResultSubmitted(uint256 indexed requestId, address indexed submitter, bytes32 modelHash, bytes32 outputHash);
    event ChallengeSettled(
        uint256 indexed requestId,
        address indexed challenger,
        bool challengerWon,
        bytes32 postedOutputHash,
        bytes32 correctOutputHash,
        uint256 payout
    );
    /// challengeMany met a result that was already settled or past its window: bond credited back.
    event ChallengeSkipped(uint256 indexed requestId, address indexed challenger);
    event BondDeposited(address indexed account, uint256 amount);
    event BondWithdrawn(address indexed account, uint256 amount);

    // ---- called by the oracle ----
    /// Opens the window of each result (one ResultSubmitted each) posted by `submitter` in one
    /// oracle transaction. `bond`: the largest of their bonds (capped at `resultBond`), which the
    /// submitter's stake must cover; each result's own bond is the oracle's `getResultBond`. The
    /// oracle posts a request's result once; its record (`getGameResult`) is the game's until a
    /// challenge or dispute touches it.
    function submitResults(
        uint256[] calldata requestIds,
        bytes32[] calldata modelHashes,
        bytes32[] calldata outputHashes,
        address submitter,
        uint256 bond
    ) external;

    // ---- anyone ----
    /// `input`: the request's original input (its AICallbackRequest log has it); it must hash to
    /// the oracle's `getInputHash(requestId)`.
    function challenge(uint256 requestId, bytes calldata input) external payable;
    function challengeMany(uint256[] calldata requestIds, bytes[] calldata inputs) external payable;
    function depositBond() external payable;
    function withdrawBond(uint256 amount) external;

    // ---- views ----
    function isFinalized(uint256 requestId) external view returns (bool);
    function getOutputHash(uint256 requestId) external view returns (bytes32);
    function resultVersion(uint256 requestId) external view returns (uint256);
    /// The operator that posted the result (0 when none).
    function resultSubmitter(uint256 requestId) external view returns (address);
    function gameStatus(uint256 requestId) external view returns (GameStatus);
    function challengeDeadline(uint256 requestId) external view returns (uint256);
    function bondOf(address account) external view returns (uint256);
    /// Last block of the challenge window of the newest result `account` posted; its bond can
    /// be withdrawn after it.
    function lockedUntil(address account) external view returns (uint256);
    function oracle() external view returns (address);
    function challengeWindow() external view returns (uint256);
    function resultBond() external view returns (uint256);
    function challengeBond() external view returns (uint256);
}
