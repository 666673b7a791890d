// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Constructor (for genesis plans):
//   ERC7641(string name, string symbol, uint256 supply, uint256 percentClaimable,
//           uint256 snapshotInterval, address initHolder)
//   supply is in base units (18 decimals); percentClaimable in whole percent (0..100);
//   snapshotInterval in seconds, at least MIN_SNAPSHOT_INTERVAL; the whole supply is minted to
//   initHolder.

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC7641} from "./interfaces/IERC7641.sol";

/// @title ERC-7641 revenue-sharing token with ORA's production semantics.
/// @notice ETH sent to this contract is revenue. At each snapshot the revenue received since the
/// previous one is split: `percentClaimable` % becomes claimable pro rata to the balances of the
/// snapshot, the rest joins the redeem pool paid out on burn. Only the newest
/// SNAPSHOT_CLAIMABLE_NUMBER snapshots are claimable; what an expiring snapshot leaves unclaimed
/// rolls into the new snapshot's claimable amount.
/// @dev OZ v5 has no ERC20Snapshot. A snapshot taken in block N reads balances and supply as
/// they stood when block N began: tokens borrowed and returned within block N (a flash loan) are
/// invisible to it. To know that value, an account's first change in a block remembers its
/// balance at the block's start (`_touch`, one slot rewritten), and a checkpoint keyed by snapshot
/// id is written only when a snapshot was taken since the account's previous change: at most one
/// per account per snapshot, however many blocks and transfers lie between.
contract ERC7641 is ERC20, ReentrancyGuard, IERC7641, IERC165 {
    using Checkpoints for Checkpoints.Trace208;

    uint256 public constant SNAPSHOT_CLAIMABLE_NUMBER = 2;
    /// Holders get at least this long to claim a snapshot before it can expire (two intervals).
    uint256 public constant MIN_SNAPSHOT_INTERVAL = 10 minutes;

    uint256 public immutable percentClaimable;
    uint256 public immutable snapshotInterval;
    uint256 public lastSnapshotTimestamp;

    /// @notice Id of the newest snapshot (ids start at 1; 0 means none taken yet).
    uint256 public currentSnapshotId;
    /// @notice ETH set aside for the still-claimable snapshots (claimable minus claimed).
    uint256 public claimPool;
    /// @notice ETH set aside for burners.
    uint256 public redeemPool;

    struct SnapshotData {
        uint48 timepoint; // block whose end-state the snapshot reads (its block number - 1)
        uint256 claimable; // ETH claimable at this snapshot, roll-over included
        uint256 claimed; // ETH already claimed from it
    }

    /// The block of a value's last change and the value when that block began.
    struct Touch {
        uint48 blockNumber;
        uint208 valueAtBlockStart;
    }

    mapping(uint256 => SnapshotData) private _snapshots;
    /// Snapshot id taken in a block (at most one per block: the interval is at least a second).
    mapping(uint256 => uint256) private _snapshotInBlock;
    mapping(uint256 => mapping(address => bool)) private _hasClaimed;
    /// Value for snapshot id k = the first checkpoint with key >= k (see _valueAt).
    mapping(address => Checkpoints.Trace208) private _balanceCheckpoints;
    Checkpoints.Trace208 private _supplyCheckpoints;
    mapping(address => Touch) private _balanceTouch;
    Touch private _supplyTouch;

    event RevenueReceived(address indexed from, uint256 amount);
    event Snapshot(
        uint256 indexed snapshotId, uint256 timepoint, uint256 revenue, uint256 claimable, uint256 rolledOver,
        uint256 toRedeemPool
    );
    event Claim(address indexed account, uint256 indexed snapshotId, uint256 amount);
    event Redeem(address indexed account, uint256 burned, uint256 amount);

    constructor(
        string memory name_,
        string memory symbol_,
        uint256 supply,
        uint256 percentClaimable_,
        uint256 snapshotInterval_,
        address initHolder
    ) ERC20(name_, symbol_) {
        require(percentClaimable_ <= 100, "percentClaimable over 100");
        require(supply <= type(uint208).max, "supply too large");
        require(snapshotInterval_ >= MIN_SNAPSHOT_INTERVAL, "snapshot interval too short");
        percentClaimable = percentClaimable_;
        snapshotInterval = snapshotInterval_;
        lastSnapshotTimestamp = block.timestamp;
        _mint(initHolder, supply);
    }

    receive() external payable {
        emit RevenueReceived(msg.sender, msg.value);
    }

    // ---------------------------------------------------------------- snapshots

    /// @inheritdoc IERC7641
    function snapshot() external returns (uint256 snapshotId) {
        require(block.timestamp - lastSnapshotTimestamp > snapshotInterval, "snapshot interval is too short");
        snapshotId = ++currentSnapshotId;
        lastSnapshotTimestamp = block.timestamp;

        // The snapshot leaving the claimable window keeps its remainder in claimPool; it simply
        // becomes part of the new snapshot's claimable amount.
        uint256 rolledOver;
        if (snapshotId > SNAPSHOT_CLAIMABLE_NUMBER) {
            SnapshotData storage expired = _snapshots[snapshotId - SNAPSHOT_CLAIMABLE_NUMBER];
            rolledOver = expired.claimable - expired.claimed;
        }
        // Balance-based, so ETH that arrived without receive() (selfdestruct, coinbase) counts too.
        uint256 revenue = address(this).balance - claimPool - redeemPool;
        uint256 toClaim = (revenue * percentClaimable) / 100;
        uint256 toRedeem = revenue - toClaim; // rounding dust goes to the redeem pool
        claimPool += toClaim;
        redeemPool += toRedeem;
        uint48 timepoint = SafeCast.toUint48(block.number - 1);
        _snapshots[snapshotId] = SnapshotData(timepoint, toClaim + rolledOver, 0);
        _snapshotInBlock[block.number] = snapshotId;
        emit Snapshot(snapshotId, timepoint, revenue, toClaim + rolledOver, rolledOver, toRedeem);
    }

    /// @notice Balance of `account` as read by snapshot `snapshotId`.
    function balanceOfAt(address account, uint256 snapshotId) public view returns (uint256) {
        return _valueAt(_balanceCheckpoints[account], _balanceTouch[account], balanceOf(account), snapshotId);
    }

    /// @notice Total supply as read by snapshot `snapshotId`.
    function totalSupplyAt(uint256 snapshotId) public view returns (uint256) {
        return _valueAt(_supplyCheckpoints, _supplyTouch, totalSupply(), snapshotId);
    }

    /// @notice Block number whose end-state snapshot `snapshotId` reads.
    function snapshotTimepoint(uint256 snapshotId) external view returns (uint256) {
        return _timepoint(snapshotId);
    }

    /// @notice ETH claimable at snapshot `snapshotId` (roll-over included) and how much was claimed.
    function snapshotRevenue(uint256 snapshotId) external view returns (uint256 claimable, uint256 claimed) {
        SnapshotData storage s = _snapshots[snapshotId];
        return (s.claimable, s.claimed);
    }

    function hasClaimed(uint256 snapshotId, address account) external view returns (bool) {
        return _hasClaimed[snapshotId][account];
    }

    /// @notice Whether snapshot `snapshotId` exists and is among the newest SNAPSHOT_CLAIMABLE_NUMBER.
    function isClaimable(uint256 snapshotId) public view returns (bool) {
        uint256 current = currentSnapshotId;
        return snapshotId != 0 && snapshotId <= current && current - snapshotId < SNAPSHOT_CLAIMABLE_NUMBER;
    }

    // ---------------------------------------------------------------- claims

    /// @inheritdoc IERC7641
    function claimableRevenue(address account, uint256 snapshotId) public view returns (uint256) {
        require(isClaimable(snapshotId), "snapshot unclaimable");
        uint256 supply = totalSupplyAt(snapshotId);
        if (supply == 0) return 0;
        // Rounds down: the holders' claims never sum to more than the snapshot's amount.
        return Math.mulDiv(balanceOfAt(account, snapshotId), _snapshots[snapshotId].claimable, supply);
    }

    /// @inheritdoc IERC7641
    function claim(uint256 snapshotId) external nonReentrant {
        _sendETH(msg.sender, _claim(msg.sender, snapshotId));
    }

    /// @notice Claims several snapshots in one call and pays once; reverts if any claim would.
    function claimBatch(uint256[] calldata snapshotIds) external nonReentrant {
        uint256 total;
        for (uint256 i = 0; i < snapshotIds.length; ++i) {
            total += _claim(msg.sender, snapshotIds[i]);
        }
        _sendETH(msg.sender, total);
    }

    function _claim(address account, uint256 snapshotId) private returns (uint256 amount) {
        amount = claimableRevenue(account, snapshotId);
        require(!_hasClaimed[snapshotId][account], "already claimed");
        require(amount > 0, "no claimable ETH");
        _hasClaimed[snapshotId][account] = true;
        _snapshots[snapshotId].claimed += amount;
        claimPool -= amount;
        emit Claim(account, snapshotId, amount);
    }

    // ---------------------------------------------------------------- redeem

    /// @inheritdoc IERC7641
    function redeemableOnBurn(uint256 amount) public view returns (uint256) {
        uint256 supply = totalSupply();
        if (supply == 0) return 0;
        return Math.mulDiv(amount, redeemPool, supply);
    }

    /// @inheritdoc IERC7641
    function burn(uint256 amount) external nonReentrant {
        uint256 redeem = redeemableOnBurn(amount);
        _burn(msg.sender, amount);
        redeemPool -= redeem;
        emit Redeem(msg.sender, amount, redeem);
        _sendETH(msg.sender, redeem);
    }

    // ---------------------------------------------------------------- internals

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == type(IERC7641).interfaceId || interfaceId == type(IERC165).interfaceId;
    }

    function _update(address from, address to, uint256 value) internal override {
        // Before the change: what the snapshots taken since each value's last change must read.
        if (from != address(0)) _record(_balanceCheckpoints[from], _balanceTouch[from], balanceOf(from));
        if (to != address(0) && to != from) _record(_balanceCheckpoints[to], _balanceTouch[to], balanceOf(to));
        if (from == address(0) || to == address(0)) _record(_supplyCheckpoints, _supplyTouch, totalSupply());
        super._update(from, to, value);
    }

    /// Called before a value changes; `current` is its value now. Snapshots taken since its last
    /// change read either the value at the start of that change's block (a snapshot in that very
    /// block) or `current` (any later one); both are written once, then the block is remembered.
    function _record(Checkpoints.Trace208 storage checkpoints, Touch storage touch, uint256 current) private {
        uint48 blockNumber = SafeCast.toUint48(block.number);
        if (touch.blockNumber == blockNumber) return; // this block's start value is already kept
        (, uint48 recorded,) = checkpoints.latestCheckpoint();
        uint256 inLastBlock = _snapshotInBlock[touch.blockNumber];
        if (inLastBlock > recorded) {
            checkpoints.push(uint48(inLastBlock), touch.valueAtBlockStart);
            recorded = uint48(inLastBlock);
        }
        uint256 latest = currentSnapshotId;
        if (latest > recorded) checkpoints.push(uint48(latest), uint208(current));
        touch.blockNumber = blockNumber;
        touch.valueAtBlockStart = uint208(current);
    }

    function _valueAt(Checkpoints.Trace208 storage checkpoints, Touch storage touch, uint256 current, uint256 snapshotId)
        private
        view
        returns (uint256)
    {
        uint48 timepoint = _timepoint(snapshotId);
        (bool exists, uint48 recorded,) = checkpoints.latestCheckpoint();
        if (exists && recorded >= snapshotId) return checkpoints.lowerLookup(uint48(snapshotId));
        // Unchanged since the snapshot, unless it changed within the snapshot's own block.
        if (touch.blockNumber == uint256(timepoint) + 1) return touch.valueAtBlockStart;
        return current;
    }

    function _timepoint(uint256 snapshotId) private view returns (uint48) {
        require(snapshotId != 0 && snapshotId <= currentSnapshotId, "nonexistent snapshot");
        return _snapshots[snapshotId].timepoint;
    }

    function _sendETH(address to, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount}("");
        require(ok, "ETH transfer failed");
    }
}
