// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Constructor (for genesis plans): IMOLaunchpad(address aiOracle)

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IAIOracleExtended} from "./interfaces/IAIOracle.sol";
import {ERC7641} from "./ERC7641.sol";

/// @title IMO launchpad: an Initial Model Offering of a model registered in the AI oracle.
/// @notice Flow:
///  1. The model owner calls `aiOracle.transferModelOwnership(modelId, launchpad)`, then `open(...)`;
///     the launchpad accepts the model ownership, so nobody can redirect the model's revenue while
///     (and after) the offering runs.
///  2. Anyone deposits ETH during the window [open time, open time + window).
///  3. After the window anyone calls `finalize`.
///     - raised >= target: an ERC-7641 token is created; `supply - saleAmount` tokens and the proceeds
///       (exactly `target`) go to the model owner; the model's oracle `receiver` and `token` become
///       the token, so `claimModelRevenue` pays the token holders.
///       Each depositor then calls `claim`: tokens `saleAmount * deposit / raised` and the unused ETH
///       `deposit - ceil(deposit * target / raised)` (the effective deposit rounds up, so the
///       launchpad never pays out more than it took).
///     - raised < target: every depositor calls `refund` for the full deposit, and the model
///       ownership is offered back to the model owner (who accepts it on the oracle).
///  The launchpad keeps the model ownership of a successful IMO (the revenue stays with the token
///  holders); the model owner can still set the model's fee through `setModelFee`.
contract IMOLaunchpad is ReentrancyGuard {
    enum Status {
        None,
        Open,
        Succeeded,
        Failed
    }

    struct Offering {
        uint256 modelId;
        address modelOwner;
        string name;
        string symbol;
        uint256 supply;
        uint256 saleAmount;
        uint256 target;
        uint64 start;
        uint64 end;
        uint256 percentClaimable;
        uint256 snapshotInterval;
        uint256 raised;
        address token;
        Status status;
        // Settlement bookkeeping, so rounding dust can go to the model owner once all have claimed.
        uint256 unsettled; // deposits not yet claimed / refunded
        uint256 effectiveSum; // sum of effective (used) deposits over settled depositors
        uint256 tokensOut; // tokens handed to depositors
    }

    /// The oracle's getModel tuple, decoded in one piece (eight separate locals overflow the stack).
    struct ModelRecord {
        bytes32 modelHash;
        bytes32 programHash;
        uint256 fee;
        address receiver;
        uint256 receiverPercentage;
        uint256 accumulateRevenue;
        address token;
        bool unverifiable;
    }

    IAIOracleExtended public immutable aiOracle;
    uint256 public offeringCount;
    mapping(uint256 => Offering) private _offerings;
    mapping(uint256 => mapping(address => uint256)) public depositOf;
    mapping(uint256 => mapping(address => bool)) public settled;
    /// @notice The latest offering of each model (a model in an open or successful offering is
    /// owned by the launchpad, so it cannot be offered twice at once).
    mapping(uint256 => uint256) public offeringOfModel;
    /// @notice ETH owed to accounts whose push payment failed; pulled with `withdraw`.
    mapping(address => uint256) public owed;

    event OfferingOpened(
        uint256 indexed offeringId,
        uint256 indexed modelId,
        address indexed modelOwner,
        uint256 supply,
        uint256 saleAmount,
        uint256 target,
        uint64 start,
        uint64 end
    );
    event Deposited(uint256 indexed offeringId, address indexed account, uint256 amount);
    event Finalized(uint256 indexed offeringId, bool success, uint256 raised, address token);
    event Claimed(uint256 indexed offeringId, address indexed account, uint256 tokens, uint256 refund);
    event Refunded(uint256 indexed offeringId, address indexed account, uint256 amount);
    event DustSwept(uint256 indexed offeringId, uint256 eth, uint256 tokens);
    event PaymentOwed(address indexed account, uint256 amount);
    /// The oracle refused a model update (e.g. the model was removed); the offering went on.
    event ModelAdminFailed(uint256 indexed offeringId);

    constructor(address aiOracle_) {
        require(aiOracle_ != address(0), "zero oracle");
        aiOracle = IAIOracleExtended(aiOracle_);
    }

    // ------------------------------------------------------------------ open

    /// @param window deposit window in seconds, starting now.
    function open(
        uint256 modelId,
        string calldata name,
        string calldata symbol,
        uint256 supply,
        uint256 saleAmount,
        uint256 target,
        uint64 window,
        uint256 percentClaimable,
        uint256 snapshotInterval
    ) external returns (uint256 offeringId) {
        require(aiOracle.modelOwner(modelId) == msg.sender, "not model owner");
        require(aiOracle.pendingModelOwner(modelId) == address(this), "transfer model ownership to launchpad first");
        require(bytes(name).length != 0 && bytes(symbol).length != 0, "empty name or symbol");
        require(saleAmount != 0, "zero sale amount");
        require(saleAmount <= supply, "sale amount exceeds supply");
        require(supply <= type(uint208).max, "supply too large");
        require(target != 0, "zero target");
        require(window != 0, "zero deposit window");
        require(percentClaimable <= 100, "percentClaimable over 100");

        aiOracle.acceptModelOwnership(modelId);

        offeringId = ++offeringCount;
        Offering storage o = _offerings[offeringId];
        o.modelId = modelId;
        o.modelOwner = msg.sender;
        o.name = name;
        o.symbol = symbol;
        o.supply = supply;
        o.saleAmount = saleAmount;
        o.target = target;
        o.start = uint64(block.timestamp);
        o.end = uint64(block.timestamp) + window;
        o.percentClaimable = percentClaimable;
        o.snapshotInterval = snapshotInterval;
        o.status = Status.Open;
        offeringOfModel[modelId] = offeringId;
        emit OfferingOpened(offeringId, modelId, msg.sender, supply, saleAmount, target, o.start, o.end);
    }

    // ------------------------------------------------------------------ deposit

    function deposit(uint256 offeringId) external payable {
        Offering storage o = _offerings[offeringId];
        require(o.status != Status.None, "no such offering");
        require(o.status == Status.Open && block.timestamp < o.end, "deposit window closed");
        require(msg.value != 0, "zero deposit");
        depositOf[offeringId][msg.sender] += msg.value;
        o.raised += msg.value;
        o.unsettled += msg.value;
        emit Deposited(offeringId, msg.sender, msg.value);
    }

    // ------------------------------------------------------------------ finalize

    function finalize(uint256 offeringId) external nonReentrant {
        Offering storage o = _offerings[offeringId];
        require(o.status != Status.None, "no such offering");
        require(o.status == Status.Open, "already finalized");
        require(block.timestamp >= o.end, "deposit window open");

        if (o.raised >= o.target) {
            o.status = Status.Succeeded;
            ERC7641 token = new ERC7641(
                o.name, o.symbol, o.supply, o.percentClaimable, o.snapshotInterval, address(this)
            );
            o.token = address(token);
            _pointModelAtToken(o.modelId, address(token));
            if (o.supply > o.saleAmount) token.transfer(o.modelOwner, o.supply - o.saleAmount);
            emit Finalized(offeringId, true, o.raised, address(token));
            _pay(o.modelOwner, o.target);
        } else {
            o.status = Status.Failed;
            // Offer the model back; its owner accepts on the oracle. Best effort: the oracle's
            // owner may have removed the model, and that must not block the refunds.
            try aiOracle.transferModelOwnership(o.modelId, o.modelOwner) {}
            catch {
                emit ModelAdminFailed(offeringId);
            }
            emit Finalized(offeringId, false, o.raised, address(0));
        }
    }

    // ------------------------------------------------------------------ settle

    /// @notice After a successful offering: sends the caller its tokens and unused ETH.
    function claim(uint256 offeringId) external nonReentrant {
        Offering storage o = _offerings[offeringId];
        require(o.status == Status.Succeeded, "offering not succeeded");
        uint256 amount = depositOf[offeringId][msg.sender];
        require(amount != 0, "no deposit");
        require(!settled[offeringId][msg.sender], "already claimed");
        settled[offeringId][msg.sender] = true;

        uint256 tokens = Math.mulDiv(o.saleAmount, amount, o.raised);
        uint256 effective = Math.mulDiv(amount, o.target, o.raised, Math.Rounding.Ceil);
        uint256 unused = amount - effective;
        o.unsettled -= amount;
        o.effectiveSum += effective;
        o.tokensOut += tokens;
        emit Claimed(offeringId, msg.sender, tokens, unused);

        ERC7641 token = ERC7641(payable(o.token));
        if (tokens != 0) token.transfer(msg.sender, tokens);
        if (o.unsettled == 0) {
            // Everyone has claimed: rounding leftovers (a few wei, a few base units) go to the owner.
            uint256 ethDust = o.effectiveSum - o.target;
            uint256 tokenDust = o.saleAmount - o.tokensOut;
            emit DustSwept(offeringId, ethDust, tokenDust);
            if (tokenDust != 0) token.transfer(o.modelOwner, tokenDust);
            _pay(o.modelOwner, ethDust);
        }
        _pay(msg.sender, unused);
    }

    /// @notice After a failed offering: returns the caller's whole deposit.
    function refund(uint256 offeringId) external nonReentrant {
        Offering storage o = _offerings[offeringId];
        require(o.status == Status.Failed, "offering not failed");
        uint256 amount = depositOf[offeringId][msg.sender];
        require(amount != 0, "no deposit");
        require(!settled[offeringId][msg.sender], "already refunded");
        settled[offeringId][msg.sender] = true;
        o.unsettled -= amount;
        emit Refunded(offeringId, msg.sender, amount);
        _pay(msg.sender, amount);
    }

    /// @notice Pulls ETH whose push payment failed.
    function withdraw() external nonReentrant {
        uint256 amount = owed[msg.sender];
        require(amount != 0, "nothing owed");
        owed[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "ETH transfer failed");
    }

    // ------------------------------------------------------------------ model administration

    /// @notice The model owner of a successful IMO keeps control of the model's fee.
    function setModelFee(uint256 offeringId, uint256 fee) external {
        Offering storage o = _offerings[offeringId];
        require(o.status == Status.Succeeded, "offering not succeeded");
        require(msg.sender == o.modelOwner, "not model owner");
        aiOracle.setModelFee(o.modelId, fee);
    }

    // ------------------------------------------------------------------ views

    function getOffering(uint256 offeringId) external view returns (Offering memory) {
        return _offerings[offeringId];
    }

    /// @notice What `account` would get from `claim` now: (tokens, unused ETH).
    function claimable(uint256 offeringId, address account) external view returns (uint256 tokens, uint256 unused) {
        Offering storage o = _offerings[offeringId];
        uint256 amount = depositOf[offeringId][account];
        if (o.status != Status.Succeeded || settled[offeringId][account] || amount == 0) return (0, 0);
        tokens = Math.mulDiv(o.saleAmount, amount, o.raised);
        unused = amount - Math.mulDiv(amount, o.target, o.raised, Math.Rounding.Ceil);
    }

    // ------------------------------------------------------------------ internals

    /// Oracle revenue of the model now flows to the token holders: the token becomes the model's
    /// receiver and its `token`. Best effort, so a model removed by the oracle's owner cannot
    /// block the depositors' claims.
    function _pointModelAtToken(uint256 modelId, address token) private {
        // Revenue earned before the IMO belongs to the old receiver: pay it out before switching.
        try aiOracle.claimModelRevenue(modelId) {} catch {}
        (bool ok, bytes memory ret) = address(aiOracle).staticcall(abi.encodeCall(aiOracle.getModel, (modelId)));
        if (ok && ret.length == 256) {
            ModelRecord memory m = abi.decode(ret, (ModelRecord));
            try aiOracle.updateModel(
                modelId, m.modelHash, m.programHash, m.fee, token, m.receiverPercentage, token, m.unverifiable
            ) {
                return;
            } catch {}
        }
        emit ModelAdminFailed(offeringOfModel[modelId]);
    }

    /// Push ETH; if the recipient rejects it, keep it owed instead of blocking everyone else.
    function _pay(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) {
            owed[to] += amount;
            emit PaymentOwed(to, amount);
        }
    }
}
