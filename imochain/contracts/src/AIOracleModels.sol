// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IAIOracleExtended} from "./interfaces/IAIOracle.sol";

/// @title AIOracleModels: the AI oracle's model registry
/// @notice ORA's model records and their administration (upload, self-registration, updates,
///         fee, receiver, two-step model ownership, revenue), kept apart from the request flow in
///         AIOracle. A verifiable model must be one the 0xA1 precompile can re-execute (its 0xA2
///         quote knows it); a fee raised within a block is charged from the next block on.
abstract contract AIOracleModels is IAIOracleExtended, Ownable {
    /// ORA's model record; `getModel` returns exactly these fields in this order.
    struct ModelData {
        bytes32 modelHash;
        bytes32 programHash;
        uint256 fee;
        address receiver;
        uint256 receiverPercentage;
        uint256 accumulateRevenue;
        address token;
        bool unverifiable;
    }

    /// Ids handed out by registerModel start here, clear of ORA-style small hosted ids.
    uint256 public constant FIRST_REGISTERED_MODEL_ID = 1000;
    /// Gas for paying an outgoing receiver when a model's receiver changes.
    uint256 private constant SETTLE_GAS = 100_000;
    /// imochain's quote precompile: answers for models the 0xA1 precompile can re-execute.
    address public constant QUOTE_PRECOMPILE = address(0xA2);
    uint256 private constant QUOTE_GAS = 50_000;

    mapping(uint256 => ModelData) public models;
    mapping(uint256 => address) public modelOwner;
    mapping(uint256 => address) public pendingModelOwner;
    uint256[] public modelIDs;
    mapping(uint256 => uint256) private _modelIndexPlusOne;
    uint256 private _nextRegisteredId = FIRST_REGISTERED_MODEL_ID;

    /// A price as it stood when the block began (set by the first change within a block).
    struct PriceAtBlockStart {
        uint64 blockNumber;
        uint192 value;
    }

    mapping(uint256 => PriceAtBlockStart) private _feeAtBlockStart;

    /// A model's hash from one request id on. A request is made against its model's hash at the
    /// time (what the opML game re-executes); keeping the hashes per model, written when a model
    /// is added or its hash changes, spares every request a storage slot of its own.
    struct HashFrom {
        bytes32 modelHash;
        uint256 firstRequestId;
    }

    mapping(uint256 => HashFrom[]) private _hashHistory;

    /// The id the next request will get (AIOracleRequests counts them).
    function _upcomingRequestId() internal view virtual returns (uint256);

    function _recordModelHash(uint256 modelId, bytes32 modelHash) private {
        _hashHistory[modelId].push(HashFrom(modelHash, _upcomingRequestId()));
    }

    /// The hash `modelId` had when request `requestId` was made.
    function _modelHashAt(uint256 modelId, uint256 requestId) internal view returns (bytes32 modelHash) {
        (modelHash,,) = _modelHashSpan(modelId, requestId);
    }

    /// `_modelHashAt`, and the request ids [from, until) that share that hash (binary search: a
    /// model owner who changes the hash often cannot make old requests' lookups, and so
    /// challenges, expensive).
    function _modelHashSpan(uint256 modelId, uint256 requestId)
        internal
        view
        returns (bytes32 modelHash, uint256 from, uint256 until)
    {
        HashFrom[] storage history = _hashHistory[modelId];
        uint256 n = history.length;
        uint256 lo = 0;
        uint256 hi = n; // the answer is the last entry with firstRequestId <= requestId
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (history[mid].firstRequestId <= requestId) lo = mid + 1;
            else hi = mid;
        }
        until = lo < n ? history[lo].firstRequestId : type(uint256).max;
        if (lo > 0) (modelHash, from) = (history[lo - 1].modelHash, history[lo - 1].firstRequestId);
    }

    modifier onlyModelAdmin(uint256 modelId) {
        require(models[modelId].modelHash != bytes32(0), "model does not exist");
        require(msg.sender == owner() || msg.sender == modelOwner[modelId], "not model owner");
        _;
    }

    /// The model's fee, or its fee at the block's start if it was raised within this block.
    function _modelFee(uint256 modelId) internal view returns (uint256 fee) {
        fee = models[modelId].fee;
        PriceAtBlockStart storage start = _feeAtBlockStart[modelId];
        if (start.blockNumber == block.number && start.value < fee) fee = start.value;
    }

    function _rememberFee(uint256 modelId) internal {
        PriceAtBlockStart storage start = _feeAtBlockStart[modelId];
        if (start.blockNumber != block.number) _remember(start, models[modelId].fee);
    }

    function _remember(PriceAtBlockStart storage start, uint256 value) internal {
        start.blockNumber = uint64(block.number);
        start.value = value > type(uint192).max ? type(uint192).max : uint192(value);
    }

    /// Anyone may push a model's accrued revenue to its receiver (an ERC-7641 token's receive()
    /// books it as revenue).
    function claimModelRevenue(uint256 modelId) external {
        ModelData storage m = models[modelId];
        require(m.modelHash != bytes32(0), "model does not exist");
        uint256 amount = m.accumulateRevenue;
        if (amount == 0) return;
        address receiver = m.receiver;
        require(receiver != address(0), "no receiver");
        m.accumulateRevenue = 0;
        (bool ok,) = payable(receiver).call{value: amount}("");
        require(ok, "revenue transfer failed");
        emit ModelRevenueClaimed(modelId, receiver, amount);
    }

    // ------------------------------------------------------------------ models

    function getModel(uint256 modelId)
        external
        view
        returns (
            bytes32 modelHash,
            bytes32 programHash,
            uint256 fee,
            address receiver,
            uint256 receiverPercentage,
            uint256 accumulateRevenue,
            address token,
            bool unverifiable
        )
    {
        ModelData storage m = models[modelId];
        require(m.modelHash != bytes32(0), "model does not exist");
        return (
            m.modelHash, m.programHash, m.fee, m.receiver, m.receiverPercentage, m.accumulateRevenue, m.token, m.unverifiable
        );
    }

    function numberOfModels() external view returns (uint256) {
        return modelIDs.length;
    }

    function uploadModel(
        uint256 modelId,
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage,
        address token,
        bool unverifiable
    ) external onlyOwner {
        _addModel(modelId, msg.sender, modelHash, programHash, fee, receiver, receiverPercentage, token, unverifiable);
    }

    /// Permissionless: a model developer registers a model of the node's store by its content
    /// hash and becomes its model owner (fee, receiver, receiverPercentage are theirs to set).
    function registerModel(
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage
    ) external returns (uint256 modelId) {
        modelId = _nextRegisteredId;
        while (models[modelId].modelHash != bytes32(0)) modelId++; // skip ids the owner took
        _nextRegisteredId = modelId + 1;
        // A model the game cannot re-execute (a text model, a hash outside the precompile's
        // store) is registered unverifiable: its results are final at once, never disputed.
        bool unverifiable = !_reexecutable(modelHash);
        _addModel(
            modelId, msg.sender, modelHash, programHash, fee, receiver, receiverPercentage, address(0), unverifiable
        );
    }

    /// Whether the 0xA1 precompile can re-run `modelHash` (its 0xA2 quote knows the model).
    function _reexecutable(bytes32 modelHash) internal view returns (bool) {
        // A failing precompile call burns the gas it was given: give it only what a quote costs.
        (bool ok, bytes memory info) = QUOTE_PRECOMPILE.staticcall{gas: QUOTE_GAS}(abi.encodePacked(modelHash));
        return ok && info.length > 0;
    }

    function _addModel(
        uint256 modelId,
        address owner_,
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage,
        address token,
        bool unverifiable
    ) internal {
        require(modelHash != bytes32(0), "invalid model hash");
        require(modelId <= type(uint32).max, "model id too large"); // a request record keeps it in 32 bits
        require(models[modelId].modelHash == bytes32(0), "model already exists");
        require(receiverPercentage <= 100, "invalid receiverPercentage");
        require(unverifiable || _reexecutable(modelHash), "model not re-executable");
        models[modelId] = ModelData(modelHash, programHash, fee, receiver, receiverPercentage, 0, token, unverifiable);
        _recordModelHash(modelId, modelHash);
        modelOwner[modelId] = owner_;
        modelIDs.push(modelId);
        _modelIndexPlusOne[modelId] = modelIDs.length;
        emit ModelUploaded(modelId, modelHash, owner_);
    }

    /// Replaces a model's record (e.g. a new version of the weights); accrued revenue is kept.
    function updateModel(
        uint256 modelId,
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage,
        address token,
        bool unverifiable
    ) external onlyModelAdmin(modelId) {
        require(modelHash != bytes32(0), "invalid model hash");
        require(receiverPercentage <= 100, "invalid receiverPercentage");
        require(unverifiable || _reexecutable(modelHash), "model not re-executable");
        ModelData storage m = models[modelId];
        if (receiver != m.receiver) _settleRevenue(modelId);
        _rememberFee(modelId);
        if (modelHash != m.modelHash) _recordModelHash(modelId, modelHash);
        m.modelHash = modelHash;
        m.programHash = programHash;
        m.fee = fee;
        m.receiver = receiver;
        m.receiverPercentage = receiverPercentage;
        m.token = token;
        m.unverifiable = unverifiable;
        emit ModelUpdated(modelId);
    }

    function removeModel(uint256 modelId) external onlyOwner {
        require(models[modelId].modelHash != bytes32(0), "model does not exist");
        require(models[modelId].accumulateRevenue == 0, "unclaimed revenue");
        delete models[modelId];
        delete modelOwner[modelId];
        delete pendingModelOwner[modelId];
        // swap-and-pop keeps modelIDs dense
        uint256 idx = _modelIndexPlusOne[modelId] - 1;
        uint256 last = modelIDs[modelIDs.length - 1];
        modelIDs[idx] = last;
        _modelIndexPlusOne[last] = idx + 1;
        modelIDs.pop();
        delete _modelIndexPlusOne[modelId];
        emit ModelRemoved(modelId);
    }

    function setModelFee(uint256 modelId, uint256 fee) external onlyModelAdmin(modelId) {
        _rememberFee(modelId);
        models[modelId].fee = fee;
        emit ModelUpdated(modelId);
    }

    function setModelReceiver(uint256 modelId, address receiver) external onlyModelAdmin(modelId) {
        if (receiver != models[modelId].receiver) _settleRevenue(modelId);
        models[modelId].receiver = receiver;
        emit ModelUpdated(modelId);
    }

    /// Before the receiver changes (e.g. to an IMO's ERC-7641 token), pay the old receiver what
    /// accrued under it. Best effort with a gas cap, so an old receiver that rejects ETH or burns
    /// gas cannot block the change; its unpaid revenue then goes to the new receiver.
    function _settleRevenue(uint256 modelId) internal {
        ModelData storage m = models[modelId];
        uint256 amount = m.accumulateRevenue;
        address receiver = m.receiver;
        if (amount == 0 || receiver == address(0)) return;
        m.accumulateRevenue = 0;
        (bool ok,) = payable(receiver).call{value: amount, gas: SETTLE_GAS}("");
        if (ok) {
            emit ModelRevenueClaimed(modelId, receiver, amount);
        } else {
            m.accumulateRevenue = amount;
        }
    }

    function setModelReceiverPercentage(uint256 modelId, uint256 receiverPercentage)
        external
        onlyModelAdmin(modelId)
    {
        require(receiverPercentage <= 100, "invalid receiverPercentage");
        models[modelId].receiverPercentage = receiverPercentage;
        emit ModelUpdated(modelId);
    }

    function transferModelOwnership(uint256 modelId, address newOwner) external onlyModelAdmin(modelId) {
        pendingModelOwner[modelId] = newOwner;
        emit ModelOwnershipTransferStarted(modelId, modelOwner[modelId], newOwner);
    }

    function acceptModelOwnership(uint256 modelId) external {
        require(models[modelId].modelHash != bytes32(0), "model does not exist");
        require(msg.sender == pendingModelOwner[modelId], "not pending model owner");
        address previous = modelOwner[modelId];
        modelOwner[modelId] = msg.sender;
        delete pendingModelOwner[modelId];
        emit ModelOwnershipTransferred(modelId, previous, msg.sender);
    }
}
