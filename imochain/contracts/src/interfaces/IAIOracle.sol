// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IAIOracle
/// @notice ORA's AI oracle ("OAO") interface, as deployed at
///         0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0. Everything in this interface keeps ORA's
///         exact signatures and selectors so consumer contracts written against ORA compile and
///         run unchanged. imochain's additions live in IAIOracleExtended below.
interface IAIOracle {
    /// Where the input / output data lives. Encoded as uint8 in the ABI.
    enum DA {
        Calldata,
        Blob,
        IPFS
    }

    /// Error codes reported through aiOracleCallbackError.
    enum AIOracleError {
        InvalidInput,
        InvalidBatchSize
    }

    /// Emitted by the 5-argument requestCallback.
    event AICallbackRequest(
        address indexed account,
        uint256 indexed requestId,
        uint256 modelId,
        bytes input,
        address callbackContract,
        uint64 gasLimit,
        bytes callbackData
    );

    /// Emitted by the DA and batch entry points.
    event AICallbackRequest(
        address indexed account,
        uint256 indexed requestId,
        uint256 modelId,
        bytes input,
        address callbackContract,
        uint64 gasLimit,
        bytes callbackData,
        DA inputDA,
        DA outputDA,
        uint256 batchSize
    );

    /// Emitted when a result is uploaded or updated.
    event AICallbackResult(address indexed account, uint256 indexed requestId, address invoker, bytes output);

    /// Emitted when a result hash is recorded (imochain: by the fulfilling operator, and by the
    /// challenger when a challenge corrects the result).
    event Confirm(address indexed user, uint256 requestId, bytes32 responseHash);

    function requestCallback(
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData
    ) external payable returns (uint256);

    function requestCallback(
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData,
        DA inputDA,
        DA outputDA
    ) external payable returns (uint256);

    function requestBatchInference(
        uint256 batchSize,
        uint256 modelId,
        bytes calldata input,
        address callbackContract,
        uint64 gasLimit,
        bytes calldata callbackData,
        DA inputDA,
        DA outputDA
    ) external payable returns (uint256);

    function estimateFee(uint256 modelId, uint256 gasLimit) external view returns (uint256);

    function estimateFeeBatch(uint256 modelId, uint256 gasLimit, uint256 batchSize) external view returns (uint256);

    function isFinalized(uint256 requestId) external view returns (bool);

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
        );
}

/// @title IAIOracleExtended
/// @notice imochain's non-breaking additions to ORA's oracle: operator/owner functions with ORA's
///         names, model self-registration and model ownership (used by the IMO launchpad), and
///         request getters used by the opML game and the ERC-7007 collection.
interface IAIOracleExtended is IAIOracle {
    /// Lifecycle of a request. Fulfilled covers both "optimistic" and "final"; see isFinalized.
    enum RequestStatus {
        None,
        Pending,
        Fulfilled,
        Errored,
        Reclaimed // unanswered past REQUEST_TIMEOUT; the model fee went back to the requester
    }

    event ModelUploaded(uint256 indexed modelId, bytes32 modelHash, address indexed modelOwner);
    event ModelUpdated(uint256 indexed modelId);
    event ModelRemoved(uint256 indexed modelId);
    event ModelOwnershipTransferStarted(uint256 indexed modelId, address indexed from, address indexed to);
    event ModelOwnershipTransferred(uint256 indexed modelId, address indexed from, address indexed to);
    event ModelRevenueClaimed(uint256 indexed modelId, address indexed receiver, uint256 amount);
    event Refund(address indexed account, uint256 amount, bool credited);
    event AICallbackError(uint256 indexed requestId, uint8 code, bytes message, bool delivered);
    event CallbackDeliveryFailed(uint256 indexed requestId, uint256 version);
    /// A result of `invokeCallbacks` whose fulfilment reverted; the request stays Pending.
    event FulfilmentFailed(uint256 indexed requestId);
    event InputPublished(uint256 indexed requestId);
    event RequestReclaimed(uint256 indexed requestId, address indexed account, uint256 amount);
    event OpmlUpdated(address indexed opml);
    event WhitelistUpdated(address indexed account, bool allowed);
    event BlacklistUpdated(address indexed account, bool blocked);

    // ---- ORA's operator / owner functions ----
    function invokeCallback(uint256 requestId, bytes calldata output) external;
    /// imochain: many `invokeCallback`s in one transaction; a failing one is skipped alone.
    function invokeCallbacks(uint256[] calldata requestIds, bytes[] calldata outputs) external;
    function feedbackError(uint256 requestId, AIOracleError code, bytes calldata message) external;
    function updateResult(uint256 requestId, bytes calldata output) external;
    function claimModelRevenue(uint256 modelId) external;
    function uploadModel(
        uint256 modelId,
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage,
        address token,
        bool unverifiable
    ) external;
    function updateModel(
        uint256 modelId,
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage,
        address token,
        bool unverifiable
    ) external;
    function removeModel(uint256 modelId) external;
    function setModelFee(uint256 modelId, uint256 fee) external;
    function setModelReceiver(uint256 modelId, address receiver) external;
    function setModelReceiverPercentage(uint256 modelId, uint256 receiverPercentage) external;
    function setOpml(address opml) external;
    function gasPrice() external view returns (uint256);
    function modelIDs(uint256 index) external view returns (uint256);
    function numberOfModels() external view returns (uint256);
    function opml() external view returns (address);
    function whitelist(address account) external view returns (bool);
    function blacklist(address account) external view returns (bool);

    // ---- imochain additions ----

    /// Permissionless: anyone registers a model by its content hash (keccak256 of the model file
    /// in the node's store) and becomes its model owner. Ids are assigned from 1000 upwards. A
    /// model the 0xA1 precompile cannot re-execute is registered unverifiable.
    function registerModel(
        bytes32 modelHash,
        bytes32 programHash,
        uint256 fee,
        address receiver,
        uint256 receiverPercentage
    ) external returns (uint256 modelId);

    /// The account that may change the model's fee, receiver and receiverPercentage (besides the
    /// oracle owner) and hand the model on.
    function modelOwner(uint256 modelId) external view returns (address);
    function pendingModelOwner(uint256 modelId) external view returns (address);
    /// Two-step hand-over (like Ownable2Step): the model owner names the new owner, the new owner
    /// (e.g. the IMO launchpad contract) accepts.
    function transferModelOwnership(uint256 modelId, address newOwner) external;
    function acceptModelOwnership(uint256 modelId) external;

    /// Closes a request still Pending REQUEST_TIMEOUT after it was made; its model fee goes back
    /// to the requester (pushed if the requester calls, else credited for claimRefund).
    function reclaim(uint256 requestId) external;
    function getRequestEscrow(uint256 requestId) external view returns (uint256);
    function getRequestDeadline(uint256 requestId) external view returns (uint256);

    /// Pull a refund that could not be pushed (the payer rejected ETH).
    function claimRefund() external;
    function refundCredit(address account) external view returns (uint256);

    /// The protocol's share of fees (withdrawn by the owner with withdraw()).
    function protocolBalance() external view returns (uint256);
    function withdraw() external;

    // request getters
    function nextRequestId() external view returns (uint256);
    function getRequestStatus(uint256 requestId) external view returns (RequestStatus);
    function getRequestAccount(uint256 requestId) external view returns (address);
    function getRequestModelId(uint256 requestId) external view returns (uint256);
    /// The model hash the request was made against (fixed at request time).
    function getRequestModelHash(uint256 requestId) external view returns (bytes32);
    function getRequestModelHashes(uint256[] calldata requestIds) external view returns (bytes32[] memory);
    /// keccak256 of the request's input. The input itself is in the request's calldata and its
    /// AICallbackRequest log (block `getRequestBlock`); it is in state only once published.
    function getInputHash(uint256 requestId) external view returns (bytes32);
    function getRequestBlock(uint256 requestId) external view returns (uint256);
    /// Stores the input (hash-checked) so that contracts can read it with `getInput`.
    function publishInput(uint256 requestId, bytes calldata input) external;
    /// Reverts until `publishInput` stored the input.
    function getInput(uint256 requestId) external view returns (bytes memory);
    /// keccak256 of the current result; the output itself is in the request's latest
    /// AICallbackResult log (it is not stored).
    function getOutputHash(uint256 requestId) external view returns (bytes32);
    /// 1 after the first fulfilment, +1 per correction by the opML game; 0 before.
    function getResultVersion(uint256 requestId) external view returns (uint256);
    function getDeliveredVersion(uint256 requestId) external view returns (uint256);
    function getResultInvoker(uint256 requestId) external view returns (address);
    function getRequestBatchSize(uint256 requestId) external view returns (uint256);
    function getRequestFulfilledBlock(uint256 requestId) external view returns (uint256);
    /// The operator bond at stake for a result the opML game holds (before the game's cap; 0
    /// for none): BOND_PER_FEE times the model fee the request paid.
    function getResultBond(uint256 requestId) external view returns (uint256);
    /// The opML game holding a result, who posted it and in which block (zeros for none).
    function getGameResult(uint256 requestId)
        external
        view
        returns (address game, address submitter, uint256 submittedBlock);

    /// Called by the opML game when a challenge replaced the result with the re-executed output.
    function onResultCorrected(uint256 requestId, bytes calldata output, address challenger) external;
}
