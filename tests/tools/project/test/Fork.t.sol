// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Counter} from "../src/Counter.sol";

/// Runs with `forge test --fork-url <imochain>`: forge reads the node's state over RPC
/// (eth_getCode, eth_getBalance, eth_getStorageAt, eth_getBlockByNumber) into its own EVM.
contract ForkTest {
    address internal constant AI_ORACLE = 0x0A0f4321214BB6C7811dD8a71cF587bdaF03f0A0;
    address internal constant DEV0 = 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266;

    function test_genesis_oracle_has_code() public view {
        require(AI_ORACLE.code.length > 0, "no AIOracle code on the fork");
    }

    function test_dev_account_is_funded() public view {
        require(DEV0.balance > 1000 ether, "dev account 0 not funded on the fork");
        require(block.chainid == 31337, "wrong chain id on the fork");
    }

    function test_counter_on_the_fork() public {
        Counter c = new Counter(1, "fork");
        c.increment();
        require(c.number() == 2, "counter did not count");
    }
}
