// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Counter} from "../src/Counter.sol";

/// The few Foundry cheatcodes this script uses (forge-std is not needed, so nothing is fetched).
interface Vm {
    function startBroadcast() external;
    function stopBroadcast() external;
    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256);
}

/// Deploys a Counter and calls it: `forge script script/Deploy.s.sol:Deploy --broadcast ...`.
contract Deploy {
    bool public IS_SCRIPT = true;
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (Counter counter) {
        uint256 start = vm.envOr("COUNTER_START", uint256(7));
        vm.startBroadcast();
        counter = new Counter(start, "scripted");
        counter.increment();
        counter.setNumber(start * 6);
        vm.stopBroadcast();
    }
}
