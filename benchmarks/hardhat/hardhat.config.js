// Hardhat Network as the benchmark runs it: chain id 31337, a block per transaction.
module.exports = {
  networks: {
    hardhat: { chainId: 31337, mining: { auto: true, interval: 0 } },
  },
};
