// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A counter with a label: constructor arguments, a view, events, a revert reason, a custom error.
contract Counter {
    uint256 public number;
    string public label;
    address public owner;

    event Incremented(address indexed by, uint256 newValue);
    event NumberSet(address indexed by, uint256 oldValue, uint256 newValue);

    error NotOwner(address caller);

    constructor(uint256 initial, string memory label_) {
        number = initial;
        label = label_;
        owner = msg.sender;
    }

    function increment() external returns (uint256) {
        number += 1;
        emit Incremented(msg.sender, number);
        return number;
    }

    function setNumber(uint256 value) external {
        require(value < 1000, "Counter: value too large");
        emit NumberSet(msg.sender, number, value);
        number = value;
    }

    function ownerOnlyReset() external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        number = 0;
    }

    function describe() external view returns (string memory, uint256) {
        return (label, number);
    }
}
