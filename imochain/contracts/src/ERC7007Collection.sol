// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Constructor (for genesis plans):
//   ERC7007Collection(string name, string symbol, address aiOracle, uint256 modelId,
//                     uint256 mintFee, uint64 callbackGasLimit, bool validityProofs,
//                     string description, string aigcType)
//   mintFee: wei per mint on top of the oracle fee, paid to the model's ERC-7641 token (the
//   oracle's `token` of the model, else its `receiver`); callbackGasLimit: gas the oracle gives
//   aiOracleCallback (>= 400 000 for an 8x8 image); validityProofs: record proofs of the validity
//   kind (int8 models the 0xA1 precompile re-runs) instead of the fraud-proof (opML) kind.

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAIOracleExtended} from "./interfaces/IAIOracle.sol";
import {IERC7007, IERC7007Enumerable, IERC7007Updatable} from "./interfaces/IERC7007.sol";

/// @title ERC-7007 collection whose content is produced by a generator model through the AI oracle.
/// @notice `mint(prompt)` pays the oracle and asks it to run the model on `prompt` (an input tensor);
/// the oracle's callback mints token `uint256(keccak256(prompt))` to the minter with the output as
/// its AIGC data. A result corrected later by the opML game arrives as a new callback (or through
/// `update`) and replaces the data. Proofs are `abi.encode(uint256 kind, uint256 requestId)`:
/// kind 0 (fraud proof) verifies when the oracle's result for the request is finalized; kind 1
/// (validity) verifies when the 0xA1 inference precompile reproduces the output.
contract ERC7007Collection is ERC721, IERC7007, IERC7007Enumerable, IERC7007Updatable {
    uint256 public constant PROOF_FRAUD = 0;
    uint256 public constant PROOF_VALIDITY = 1;
    address public constant INFERENCE_PRECOMPILE = address(0xA1);
    uint8 private constant DTYPE_INT8 = 1;

    IAIOracleExtended public immutable aiOracle;
    uint256 public immutable modelId;
    uint256 public immutable mintFee;
    uint64 public immutable callbackGasLimit;
    bool public immutable validityProofs;
    string public description;
    string public aigcType;

    struct Item {
        bool requested; // a request is in flight or answered; blocks a second mint of the prompt
        uint256 requestId;
        address minter;
        bytes prompt;
        bytes aigcData;
    }

    mapping(uint256 => Item) private _items; // by tokenId
    mapping(uint256 => uint256) private _tokenOfRequest; // requestId => tokenId
    mapping(uint256 => bool) private _isOurRequest;
    /// @notice Mint fees whose push to the revenue recipient failed; `flushMintFees` retries.
    uint256 public unpaidMintFees;
    /// @notice Oracle fees refunded for failed mints whose push to the minter failed (`withdrawRefund`).
    mapping(address => uint256) public refundOf;

    error UnauthorizedCallbackSource(address expected, address found);

    event MintRequested(uint256 indexed tokenId, uint256 indexed requestId, address indexed minter, bytes prompt);
    event MintFailed(uint256 indexed tokenId, uint256 indexed requestId, uint8 code, bytes message);
    event MintFeePaid(address indexed recipient, uint256 amount, bool pushed);
    event MintRefunded(uint256 indexed tokenId, address indexed minter, uint256 amount, bool pushed);

    constructor(
        string memory name_,
        string memory symbol_,
        address aiOracle_,
        uint256 modelId_,
        uint256 mintFee_,
        uint64 callbackGasLimit_,
        bool validityProofs_,
        string memory description_,
        string memory aigcType_
    ) ERC721(name_, symbol_) {
        require(aiOracle_ != address(0), "zero oracle");
        require(callbackGasLimit_ != 0, "zero callback gas limit");
        aiOracle = IAIOracleExtended(aiOracle_);
        modelId = modelId_;
        mintFee = mintFee_;
        callbackGasLimit = callbackGasLimit_;
        validityProofs = validityProofs_;
        description = description_;
        aigcType = aigcType_;
    }

    // ------------------------------------------------------------------ minting

    /// @notice Oracle fee plus mint fee: the least `mint` accepts.
    function mintPrice() public view returns (uint256) {
        return aiOracle.estimateFee(modelId, callbackGasLimit) + mintFee;
    }

    /// @notice Asks the oracle to generate the content for `prompt` (an input tensor); the token is
    /// minted to msg.sender when the oracle answers. Excess ETH is returned.
    function mint(bytes calldata prompt_) external payable returns (uint256 requestId) {
        require(prompt_.length != 0, "empty prompt");
        uint256 id = uint256(keccak256(prompt_));
        Item storage item = _items[id];
        require(!item.requested, "prompt already minted");
        uint256 oracleFee = aiOracle.estimateFee(modelId, callbackGasLimit);
        require(msg.value >= oracleFee + mintFee, "insufficient fee");

        requestId = aiOracle.requestCallback{value: oracleFee}(modelId, prompt_, address(this), callbackGasLimit, "");
        item.requested = true;
        item.requestId = requestId;
        item.minter = msg.sender;
        item.prompt = prompt_;
        _tokenOfRequest[requestId] = id;
        _isOurRequest[requestId] = true;
        emit MintRequested(id, requestId, msg.sender, prompt_);

        _payMintFee(mintFee);
        uint256 excess = msg.value - oracleFee - mintFee;
        if (excess != 0) {
            (bool ok,) = msg.sender.call{value: excess}("");
            require(ok, "refund failed");
        }
    }

    /// @notice ORA's callback: the first delivery mints, a later one (a corrected result) updates.
    function aiOracleCallback(uint256 requestId, bytes calldata output, bytes calldata) external {
        if (msg.sender != address(aiOracle)) revert UnauthorizedCallbackSource(address(aiOracle), msg.sender);
        require(_isOurRequest[requestId], "unknown request");
        uint256 id = _tokenOfRequest[requestId];
        Item storage item = _items[id];
        require(item.requestId == requestId, "stale request");
        if (_ownerOf(id) == address(0)) {
            // _mint, not _safeMint: a receiver hook must not be able to make the oracle's delivery fail.
            _mint(item.minter, id);
            item.aigcData = output;
            emit AigcData(id, item.prompt, output, _proof(requestId));
        } else if (keccak256(output) != keccak256(item.aigcData)) {
            item.aigcData = output;
            emit Update(id, item.prompt, output);
        }
    }

    /// @notice ORA's error callback: the request failed, so the prompt may be minted again.
    function aiOracleCallbackError(uint256 requestId, uint8 code, bytes calldata message, bytes calldata) external {
        if (msg.sender != address(aiOracle)) revert UnauthorizedCallbackSource(address(aiOracle), msg.sender);
        require(_isOurRequest[requestId], "unknown request");
        uint256 id = _tokenOfRequest[requestId];
        Item storage item = _items[id];
        if (item.requestId == requestId && _ownerOf(id) == address(0)) {
            item.requested = false;
            emit MintFailed(id, requestId, code, message);
            // the oracle credited the model fee back to this collection: pass it on to the minter
            if (aiOracle.refundCredit(address(this)) != 0) {
                uint256 before = address(this).balance;
                aiOracle.claimRefund();
                _refundMinter(id, item.minter, address(this).balance - before);
            }
        }
    }

    /// @notice Frees a prompt whose oracle request was never answered: once the oracle lets it be
    /// reclaimed (REQUEST_TIMEOUT) anyone may call this; the refunded model fee goes to the minter
    /// and the prompt can be minted again. Also frees a prompt whose request errored or was
    /// reclaimed on the oracle directly.
    function reclaim(bytes calldata prompt_) external {
        uint256 id = uint256(keccak256(prompt_));
        Item storage item = _items[id];
        require(item.requested && _ownerOf(id) == address(0), "nothing to reclaim");
        uint256 requestId = item.requestId;
        IAIOracleExtended.RequestStatus status = aiOracle.getRequestStatus(requestId);
        item.requested = false;
        emit MintFailed(id, requestId, 0, "reclaimed");
        if (status == IAIOracleExtended.RequestStatus.Pending) {
            uint256 before = address(this).balance;
            aiOracle.reclaim(requestId); // reverts until the timeout; the fee is pushed to us
            _refundMinter(id, item.minter, address(this).balance - before);
        } else {
            require(status != IAIOracleExtended.RequestStatus.Fulfilled, "request answered");
        }
    }

    function withdrawRefund() external {
        uint256 amount = refundOf[msg.sender];
        require(amount != 0, "no refund");
        refundOf[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        require(ok, "refund failed");
    }

    /// Refunds from the oracle (reclaim, claimRefund) only.
    receive() external payable {
        require(msg.sender == address(aiOracle), "only the oracle pays in");
    }

    function _refundMinter(uint256 id, address minter, uint256 amount) private {
        if (amount == 0) return;
        (bool ok,) = minter.call{value: amount, gas: 50_000}("");
        if (!ok) refundOf[minter] += amount;
        emit MintRefunded(id, minter, amount, ok);
    }

    /// @notice Retries paying mint fees that could not be pushed.
    function flushMintFees() external {
        uint256 amount = unpaidMintFees;
        require(amount != 0, "no unpaid mint fees");
        unpaidMintFees = 0;
        _payMintFee(amount);
    }

    /// @notice Where mint fees go: the model's ERC-7641 token (the oracle's `token`, else `receiver`).
    function revenueRecipient() public view returns (address) {
        (,,, address receiver,,, address token,) = aiOracle.getModel(modelId);
        return token != address(0) ? token : receiver;
    }

    // ------------------------------------------------------------------ ERC-7007

    /// @inheritdoc IERC7007
    /// @dev Attaches AIGC data that verifies to an existing token (e.g. one whose re-delivery failed).
    /// The proof must be about the token's own oracle request, so two different results can never
    /// be swapped back and forth.
    function addAigcData(uint256 tokenId_, bytes calldata prompt_, bytes calldata aigcData, bytes calldata proof)
        external
    {
        require(tokenId_ == uint256(keccak256(prompt_)), "tokenId does not match prompt");
        _requireOwned(tokenId_);
        require(
            proof.length == 64 && abi.decode(proof[32:], (uint256)) == _items[tokenId_].requestId,
            "proof is for another request"
        );
        require(verify(prompt_, aigcData, proof), "invalid proof");
        _items[tokenId_].aigcData = aigcData;
        emit AigcData(tokenId_, prompt_, aigcData, proof);
    }

    /// @inheritdoc IERC7007
    /// @dev Never reverts on bad input: malformed proofs and unknown requests verify false.
    function verify(bytes calldata prompt_, bytes calldata aigcData, bytes calldata proof)
        public
        view
        returns (bool)
    {
        if (proof.length != 64) return false;
        (uint256 kind, uint256 requestId) = abi.decode(proof, (uint256, uint256));
        if (kind > PROOF_VALIDITY) return false;
        // The request must be this collection's model run on exactly this prompt.
        try aiOracle.getRequestModelId(requestId) returns (uint256 m) {
            if (m != modelId) return false;
        } catch {
            return false;
        }
        if (aiOracle.getInputHash(requestId) != keccak256(prompt_)) return false;
        if (kind == PROOF_FRAUD) {
            return aiOracle.isFinalized(requestId) && aiOracle.getOutputHash(requestId) == keccak256(aigcData);
        }
        bytes32 modelHash = aiOracle.getRequestModelHash(requestId);
        (bool ok, bytes memory out) = INFERENCE_PRECOMPILE.staticcall(abi.encode(modelHash, prompt_));
        return ok && out.length != 0 && keccak256(out) == keccak256(aigcData);
    }

    /// @inheritdoc IERC7007Updatable
    /// @dev Anyone may bring a token up to the oracle's current result for its request.
    function update(bytes calldata prompt_, bytes calldata aigcData) external {
        uint256 id = uint256(keccak256(prompt_));
        _requireOwned(id);
        Item storage item = _items[id];
        require(aiOracle.getOutputHash(item.requestId) == keccak256(aigcData), "not the oracle's result");
        require(keccak256(aigcData) != keccak256(item.aigcData), "already up to date");
        item.aigcData = aigcData;
        emit Update(id, prompt_, aigcData);
    }

    /// @inheritdoc IERC7007Enumerable
    function tokenId(bytes calldata prompt_) external view returns (uint256 id) {
        id = uint256(keccak256(prompt_));
        _requireOwned(id);
    }

    /// @inheritdoc IERC7007Enumerable
    /// @dev Prompts are tensors (binary), so the string is their 0x-hex form; see `promptBytes`.
    function prompt(uint256 tokenId_) external view returns (string memory) {
        _requireOwned(tokenId_);
        return _hex(_items[tokenId_].prompt);
    }

    function promptBytes(uint256 tokenId_) external view returns (bytes memory) {
        _requireOwned(tokenId_);
        return _items[tokenId_].prompt;
    }

    function aigcDataOf(uint256 tokenId_) external view returns (bytes memory) {
        _requireOwned(tokenId_);
        return _items[tokenId_].aigcData;
    }

    /// @notice The proof recorded for a token, as `verify` takes it.
    function proofOf(uint256 tokenId_) external view returns (bytes memory) {
        _requireOwned(tokenId_);
        return _proof(_items[tokenId_].requestId);
    }

    function requestOf(uint256 tokenId_) external view returns (bool requested, uint256 requestId, address minter) {
        Item storage item = _items[tokenId_];
        return (item.requested, item.requestId, item.minter);
    }

    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC7007).interfaceId || interfaceId == type(IERC7007Enumerable).interfaceId
            || interfaceId == type(IERC7007Updatable).interfaceId || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ metadata

    /// @notice `data:application/json;utf8,` metadata: every string is JSON-escaped (with `#` and
    /// `%` as \u escapes, so the URI has no fragment or percent sign), bytes are hex, the picture
    /// is a base64 SVG. Plain JSON saves base64-encoding the whole document a second time.
    function tokenURI(uint256 tokenId_) public view override returns (string memory) {
        _requireOwned(tokenId_);
        Item storage item = _items[tokenId_];
        string memory json = string.concat(
            '{"name":"',
            _jsonEscape(string.concat(name(), " #", Strings.toString(tokenId_))),
            '","description":"',
            _jsonEscape(description),
            '","image":"data:image/svg+xml;base64,',
            _base64(_svg(item.aigcData)),
            '","prompt":"',
            _hex(item.prompt),
            '","aigc_type":"',
            _jsonEscape(aigcType),
            '","aigc_data":"',
            _hex(item.aigcData),
            '","proof_type":"',
            validityProofs ? "validity" : "fraud",
            '"}'
        );
        return string.concat("data:application/json;utf8,", json);
    }

    /// @notice Decodes a tensor; external so `_svg` can try it without reverting on bad data.
    function decodeTensor(bytes calldata t) external pure returns (uint8 dtype, uint32[] memory shape, bytes memory data) {
        return abi.decode(t, (uint8, uint32[], bytes));
    }

    /// An 8x8 grey-scale picture of an int8 output with 64 elements (the digits generator's
    /// pixel*7 scale: 0 = paper, 112 = ink); a blank square otherwise.
    function _svg(bytes memory aigcData) private view returns (bytes memory) {
        bytes memory head = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8" shape-rendering="crispEdges">'
            '<rect width="8" height="8" fill="#ffffff"/>';
        bytes memory pixels;
        try this.decodeTensor(aigcData) returns (uint8 dtype, uint32[] memory, bytes memory data) {
            if (dtype == DTYPE_INT8 && data.length == 64) pixels = data;
        } catch {}
        if (pixels.length == 0) return bytes.concat(head, '<rect width="8" height="8" fill="#cccccc"/></svg>');
        // One fixed-size record per inked pixel written into a single buffer in assembly: appending
        // with string.concat, or byte-indexing in Solidity, costs over a million gas here.
        bytes memory rect = '<rect x="0" y="0" width="1" height="1" fill="#000000"/>';
        bytes memory tail = "</svg>";
        uint256 rec = rect.length; // 55; x digit at 9, y digit at 15, colour at 46..51
        bytes memory out = new bytes(head.length + 64 * rec + tail.length);
        assembly ("memory-safe") {
            let table := "0123456789abcdef"
            let dst := add(out, 32)
            mcopy(dst, add(head, 32), mload(head))
            dst := add(dst, mload(head))
            for { let i := 0 } lt(i, 64) { i := add(i, 1) } {
                mcopy(dst, add(rect, 32), rec)
                mstore8(add(dst, 9), add(48, mod(i, 8)))
                mstore8(add(dst, 15), add(48, div(i, 8)))
                // int8 pixel, clamped to 0..112, to grey 255..0 (ink dark on paper)
                let v := signextend(0, byte(0, mload(add(add(pixels, 32), i))))
                if slt(v, 0) { v := 0 }
                if sgt(v, 112) { v := 112 }
                let g := sub(255, div(mul(v, 255), 112))
                // paper pixels are left to the white background (a smaller picture to encode)
                if lt(g, 255) {
                    let hi := byte(shr(4, g), table)
                    let lo := byte(and(g, 15), table)
                    for { let k := 46 } lt(k, 52) { k := add(k, 2) } {
                        mstore8(add(dst, k), hi)
                        mstore8(add(dst, add(k, 1)), lo)
                    }
                    dst := add(dst, rec)
                }
            }
            mcopy(dst, add(tail, 32), mload(tail))
            mstore(out, sub(add(dst, mload(tail)), add(out, 32))) // shrink to what was written
        }
        return out;
    }

    // ------------------------------------------------------------------ internals

    function _proof(uint256 requestId) private view returns (bytes memory) {
        return abi.encode(validityProofs ? PROOF_VALIDITY : PROOF_FRAUD, requestId);
    }

    function _payMintFee(uint256 amount) private {
        if (amount == 0) return;
        address to = revenueRecipient();
        bool ok;
        if (to != address(0)) (ok,) = to.call{value: amount}("");
        if (!ok) unpaidMintFees += amount;
        emit MintFeePaid(to, amount, ok);
    }

    bytes16 private constant _HEX = "0123456789abcdef";

    function _hex(bytes memory b) private pure returns (string memory) {
        bytes memory out = new bytes(2 + 2 * b.length);
        assembly ("memory-safe") {
            let table := "0123456789abcdef"
            mstore8(add(out, 32), 0x30) // "0"
            mstore8(add(out, 33), 0x78) // "x"
            let src := add(b, 32)
            let dst := add(out, 34)
            for { let i := 0 } lt(i, mload(b)) { i := add(i, 1) } {
                let v := byte(0, mload(add(src, i)))
                mstore8(dst, byte(shr(4, v), table))
                mstore8(add(dst, 1), byte(and(v, 15), table))
                dst := add(dst, 2)
            }
        }
        return string(out);
    }

    /// Standard base64 with padding. Written in assembly: OpenZeppelin's Base64 costs ~80 gas a
    /// byte, which made tokenURI cost about a million gas.
    function _base64(bytes memory data) private pure returns (string memory out) {
        uint256 len = data.length;
        out = new string(4 * ((len + 2) / 3));
        bytes memory table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        uint256 full = len / 3;
        assembly ("memory-safe") {
            let t := add(table, 1) // mload(t + i) has table[i] as its lowest byte
            let src := data
            let dst := add(out, 32)
            for { let i := 0 } lt(i, full) { i := add(i, 1) } {
                src := add(src, 3)
                let w := mload(src) // its lowest 3 bytes are the next 3 input bytes
                mstore8(dst, mload(add(t, and(shr(18, w), 0x3f))))
                mstore8(add(dst, 1), mload(add(t, and(shr(12, w), 0x3f))))
                mstore8(add(dst, 2), mload(add(t, and(shr(6, w), 0x3f))))
                mstore8(add(dst, 3), mload(add(t, and(w, 0x3f))))
                dst := add(dst, 4)
            }
            // The 1 or 2 bytes left, read one by one so nothing past the input is used.
            let rest := sub(len, mul(full, 3))
            if rest {
                let p := add(add(data, 32), mul(full, 3))
                let b0 := byte(0, mload(p))
                let b1 := 0
                if eq(rest, 2) { b1 := byte(0, mload(add(p, 1))) }
                mstore8(dst, mload(add(t, shr(2, b0))))
                mstore8(add(dst, 1), mload(add(t, or(shl(4, and(b0, 3)), shr(4, b1)))))
                switch rest
                case 1 { mstore8(add(dst, 2), 0x3d) }
                default { mstore8(add(dst, 2), mload(add(t, shl(2, and(b1, 15))))) }
                mstore8(add(dst, 3), 0x3d)
            }
        }
    }

    /// Escapes `"`, `\` and control characters (RFC 8259); other bytes (UTF-8) pass through.
    function _jsonEscape(string memory s) private pure returns (string memory) {
        bytes memory b = bytes(s);
        bytes memory out = new bytes(b.length * 6); // worst case: every byte becomes \u00XX
        uint256 n;
        for (uint256 i = 0; i < b.length; ++i) {
            bytes1 c = b[i];
            if (c == '"' || c == "\\") {
                out[n++] = "\\";
                out[n++] = c;
            } else if (uint8(c) < 0x20 || c == 0x7f || c == "#" || c == "%") {
                out[n++] = "\\";
                out[n++] = "u";
                out[n++] = "0";
                out[n++] = "0";
                out[n++] = _HEX[uint8(c) >> 4];
                out[n++] = _HEX[uint8(c) & 0x0f];
            } else {
                out[n++] = c;
            }
        }
        assembly {
            mstore(out, n) // shrink to the bytes written
        }
        return string(out);
    }
}
