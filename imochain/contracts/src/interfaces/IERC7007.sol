// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ERC-7007 Verifiable AI-Generated Content Token (Final). ERC-165 id 0x702c55a6.
interface IERC7007 {
    /// @dev `prompt` and `aigcData` are indexed, so their topics are keccak256 hashes.
    event AigcData(uint256 indexed tokenId, bytes indexed prompt, bytes indexed aigcData, bytes proof);

    function addAigcData(uint256 tokenId, bytes calldata prompt, bytes calldata aigcData, bytes calldata proof)
        external;

    function verify(bytes calldata prompt, bytes calldata aigcData, bytes calldata proof)
        external
        view
        returns (bool success);
}

/// @title ERC-7007 Enumerable extension. ERC-165 id 0xfa1a557a.
interface IERC7007Enumerable {
    function tokenId(bytes calldata prompt) external view returns (uint256);
    function prompt(uint256 tokenId) external view returns (string memory);
}

/// @title ERC-7007 Updatable extension. ERC-165 id 0x3f37dce2.
interface IERC7007Updatable {
    event Update(uint256 indexed tokenId, bytes indexed prompt, bytes indexed aigcData);

    function update(bytes calldata prompt, bytes calldata aigcData) external;
}
