// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {OpML} from "./OpML.sol";
import {IOpML} from "./interfaces/IOpML.sol";
import {IAIOracleExtended} from "./interfaces/IAIOracle.sol";

/// @title OpMLBisection: the opML dispute for results too large to re-execute in one call
/// @notice A text answer of an int8 Llama is a trace of steps, one layer of one token (or one
///         head step) each; see imochain/models/text/trace.py for the states and their hashes.
///         Its operator commits to the trace beside the result (`commitTrace`: a Merkle root over
///         every state hash, whose last leaf must be the delivered answer's leaf). A challenger
///         who disagrees `open`s a dispute with a bond inside OpML's challenge window, naming the
///         answer it recomputed. Then, in at most ceil(log2(steps)) rounds, the operator
///         `reveal`s the state hash at the midpoint of the open range (with a Merkle proof) and
///         the challenger `respond`s agree / disagree, until one step is left: state i-1 agreed,
///         state i disputed. `settle` (anyone) re-executes that step through 0xA1's layer-step
///         entry from the pre-state preimage (header, x, tokens, KV digests, that layer's KV
///         cache): the precompile answers the preimage's own hash, checked against the agreed
///         state, and the post-state hash, compared with the operator's state i. State 0 is not
///         agreed but computed: from the request's prompt (read from the oracle). Every move has
///         a deadline of `moveWindow` blocks: whoever misses it loses (`timeout`, anyone).
///         The verdict goes to OpML (`settleDispute`): bonds as in a one-step challenge, and a
///         winning challenger's answer delivered to the consumer as the corrected result. That
///         corrected answer is the challenger's (bonded, not itself re-proven on-chain).
contract OpMLBisection is ReentrancyGuard {
    address public constant INFERENCE_PRECOMPILE = address(0xA1);
    /// First word of a layer-step call to 0xA1 (never a model hash).
    bytes32 public constant STEP_TAG = keccak256("imochain.opml.layer-step.v1");
    bytes32 public constant ANSWER_TAG = keccak256("imochain.opml.answer.v1");
    uint256 public constant MAX_DEPTH = 24; // at most 2^24 steps: 24 rounds
    uint256 public constant MAX_ANSWER_BYTES = 16 * 1024;

    enum Phase {
        None, // no dispute
        Commit, // operator must commit its trace
        Reveal, // operator must reveal the midpoint state
        Respond, // challenger must agree or disagree with it
        Settle, // one step left: anyone re-executes it
        OperatorWon,
        ChallengerWon
    }

    struct Commitment {
        bytes32 root;
        uint32 steps; // leaves: every state, then the answer
    }

    struct Dispute {
        address challenger;
        Phase phase;
        uint64 deadline; // last block of the current move
        uint32 agreed; // the challenger agrees with every leaf below this index (0: none)
        uint32 disputed; // the leaf it disputes (the operator's claim)
        uint32 mid; // the leaf being revealed / answered
        uint16 rounds;
        bytes32 agreedLeaf;
        bytes32 disputedLeaf;
        bytes32 midLeaf;
        uint256 bond;
        bytes output; // the answer the challenger recomputed
    }

    OpML public immutable opml;
    address public immutable oracle;
    uint256 public immutable moveWindow;
    uint256 public immutable challengeBond;
    /// Cap on generated tokens of a text answer in the game (state 0 commits to it).
    uint256 public immutable maxNewTokens;

    mapping(uint256 => Commitment) public commitments;
    mapping(uint256 => Dispute) private _disputes;

    event TraceCommitted(uint256 indexed requestId, bytes32 root, uint256 steps);
    event DisputeOpened(uint256 indexed requestId, address indexed challenger, bytes32 claimedOutputHash);
    event StateRevealed(uint256 indexed requestId, uint256 index, bytes32 stateHash);
    event StateAnswered(uint256 indexed requestId, uint256 index, bool agree);
    event DisputeNarrowed(uint256 indexed requestId, uint256 step);
    event DisputeSettled(uint256 indexed requestId, bool challengerWon, uint256 step, bool byTimeout);

    constructor(address opml_, address oracle_, uint256 moveWindow_, uint256 challengeBond_, uint256 maxNewTokens_) {
        require(moveWindow_ > 0, "zero move window");
        require(challengeBond_ > 0, "zero challenge bond");
        opml = OpML(opml_);
        oracle = oracle_;
        moveWindow = moveWindow_;
        challengeBond = challengeBond_;
        maxNewTokens = maxNewTokens_;
    }

    // ------------------------------------------------------------------ operator

    /// The result's operator commits to its trace: `lastProof` shows leaf `steps - 1` is the
    /// delivered answer's leaf. Allowed while the result is challengeable, or while a dispute
    /// waits for it.
    function commitTrace(uint256 requestId, bytes32 root, uint256 steps, bytes32[] calldata lastProof) external {
        OpML.Game memory g = opml.getGame(requestId);
        require(g.status != IOpML.GameStatus.None, "no result");
        require(msg.sender == g.submitter, "only the result's operator");
        require(commitments[requestId].root == bytes32(0), "trace already committed");
        require(steps >= 2 && steps <= (1 << MAX_DEPTH), "steps out of range");
        require(root != bytes32(0), "zero root");
        Dispute storage d = _disputes[requestId];
        if (d.phase == Phase.Commit) {
            require(block.number <= d.deadline, "deadline passed");
        } else {
            require(g.status == IOpML.GameStatus.Optimistic, "result not open");
            require(block.number <= uint256(g.submittedBlock) + opml.challengeWindow(), "challenge window over");
        }
        require(_verify(root, steps, steps - 1, answerLeaf(g.outputHash), lastProof), "last leaf is not the answer");
        commitments[requestId] = Commitment(root, uint32(steps));
        emit TraceCommitted(requestId, root, steps);
        if (d.phase == Phase.Commit) _start(requestId, d, steps, g.outputHash);
    }

    function reveal(uint256 requestId, bytes32 stateHash, bytes32[] calldata proof) external {
        Dispute storage d = _disputes[requestId];
        _move(d, Phase.Reveal);
        require(msg.sender == opml.getGame(requestId).submitter, "only the result's operator");
        Commitment memory c = commitments[requestId];
        require(_verify(c.root, c.steps, d.mid, stateHash, proof), "bad proof");
        d.midLeaf = stateHash;
        d.phase = Phase.Respond;
        d.deadline = uint64(block.number + moveWindow);
        emit StateRevealed(requestId, d.mid, stateHash);
    }

    // ------------------------------------------------------------------ challenger

    /// Disputes a result with `challengeBond`, naming the answer the challenger recomputed.
    function open(uint256 requestId, bytes calldata output) external payable nonReentrant {
        require(msg.value == challengeBond, "wrong challenge bond");
        require(output.length <= MAX_ANSWER_BYTES, "answer too long");
        Dispute storage d = _disputes[requestId];
        require(d.phase == Phase.None, "already disputed");
        OpML.Game memory g = opml.getGame(requestId);
        require(keccak256(output) != g.outputHash, "same answer as the result");
        // checks the result is Optimistic and challengeable; freezes it
        opml.openDispute(requestId, block.number + (2 * MAX_DEPTH + 3) * moveWindow);
        d.challenger = msg.sender;
        d.bond = msg.value;
        d.output = output;
        emit DisputeOpened(requestId, msg.sender, keccak256(output));
        Commitment memory c = commitments[requestId];
        if (c.root == bytes32(0)) {
            d.phase = Phase.Commit;
            d.deadline = uint64(block.number + moveWindow);
        } else {
            _start(requestId, d, c.steps, g.outputHash);
        }
    }

    function respond(uint256 requestId, bool agree) external {
        Dispute storage d = _disputes[requestId];
        _move(d, Phase.Respond);
        require(msg.sender == d.challenger, "only the challenger");
        emit StateAnswered(requestId, d.mid, agree);
        if (agree) {
            d.agreed = d.mid + 1;
            d.agreedLeaf = d.midLeaf;
        } else {
            d.disputed = d.mid;
            d.disputedLeaf = d.midLeaf;
        }
        d.rounds += 1;
        _next(requestId, d);
    }

    // ------------------------------------------------------------------ anyone

    /// Re-executes the one disputed step. `preimage`: the packed pre-state of step
    /// `disputed - 1 -> disputed` (ignored when the disputed leaf is state 0, computed from the
    /// prompt). Reverts (nothing changes) when the preimage is not the agreed state or the
    /// precompile refuses it.
    function settle(uint256 requestId, bytes calldata preimage) external nonReentrant {
        Dispute storage d = _disputes[requestId];
        _move(d, Phase.Settle);
        bytes32 modelHash = opml.getGame(requestId).modelHash;
        bytes32 post;
        if (d.disputed == 0) {
            bytes memory prompt = IAIOracleExtended(oracle).getInput(requestId);
            (, post) = _step(modelHash, abi.encodePacked(uint8(0), uint32(maxNewTokens), prompt));
        } else {
            bytes32 pre;
            (pre, post) = _step(modelHash, preimage);
            require(pre == d.agreedLeaf, "preimage does not match the agreed state");
        }
        _finish(requestId, d, post != d.disputedLeaf, false);
    }

    /// The party to move missed its deadline: the other one wins.
    function timeout(uint256 requestId) external nonReentrant {
        Dispute storage d = _disputes[requestId];
        Phase p = d.phase;
        require(p != Phase.None && p != Phase.OperatorWon && p != Phase.ChallengerWon, "no open dispute");
        require(block.number > d.deadline, "deadline not reached");
        // the operator owes commits and reveals; the challenger owes answers and the proof
        _finish(requestId, d, p == Phase.Commit || p == Phase.Reveal, true);
    }

    // ------------------------------------------------------------------ views

    function answerLeaf(bytes32 outputHash) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(ANSWER_TAG, outputHash));
    }

    /// Merkle proof length for a trace of `steps` leaves.
    function depth(uint256 steps) public pure returns (uint256 n) {
        while ((uint256(1) << n) < steps) ++n;
    }

    function getDispute(uint256 requestId) external view returns (Dispute memory) {
        return _disputes[requestId];
    }

    // ------------------------------------------------------------------ internals

    function _move(Dispute storage d, Phase expected) internal view {
        require(d.phase == expected, "not this move");
        require(block.number <= d.deadline, "deadline passed");
    }

    function _start(uint256 requestId, Dispute storage d, uint256 steps, bytes32 outputHash) internal {
        d.agreed = 0;
        d.disputed = uint32(steps - 1);
        d.disputedLeaf = answerLeaf(outputHash);
        _next(requestId, d);
    }

    /// Next move: a midpoint to reveal, or the single step to settle.
    function _next(uint256 requestId, Dispute storage d) internal {
        d.deadline = uint64(block.number + moveWindow);
        if (d.disputed == d.agreed) {
            d.phase = Phase.Settle;
            emit DisputeNarrowed(requestId, d.disputed);
            return;
        }
        // agreed..disputed-1 are open; the midpoint halves the range either way
        d.mid = d.agreed + (d.disputed - d.agreed) / 2;
        d.phase = Phase.Reveal;
    }

    function _finish(uint256 requestId, Dispute storage d, bool challengerWon, bool byTimeout) internal {
        d.phase = challengerWon ? Phase.ChallengerWon : Phase.OperatorWon;
        uint256 bond = d.bond;
        d.bond = 0;
        emit DisputeSettled(requestId, challengerWon, d.disputed, byTimeout);
        opml.settleDispute{value: bond}(requestId, d.challenger, challengerWon, d.output);
    }

    function _step(bytes32 modelHash, bytes memory preimage) internal view returns (bytes32 pre, bytes32 post) {
        (bool ok, bytes memory out) = INFERENCE_PRECOMPILE.staticcall(abi.encodePacked(STEP_TAG, modelHash, preimage));
        require(ok && out.length == 64, "layer step failed");
        (pre, post) = abi.decode(out, (bytes32, bytes32));
    }

    function _verify(bytes32 root, uint256 steps, uint256 index, bytes32 leaf, bytes32[] calldata proof)
        internal
        pure
        returns (bool)
    {
        if (index >= steps || proof.length != depth(steps)) return false;
        bytes32 node = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            node = index & 1 == 1 ? keccak256(abi.encodePacked(proof[i], node)) : keccak256(abi.encodePacked(node, proof[i]));
            index >>= 1;
        }
        return node == root;
    }
}
