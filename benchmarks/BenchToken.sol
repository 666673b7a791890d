// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// A plain ERC-20 for the side-by-side node benchmark: the deployer gets the whole supply.
contract BenchToken is ERC20 {
    constructor(uint256 supply) ERC20("Bench", "BNC") {
        _mint(msg.sender, supply);
    }
}
