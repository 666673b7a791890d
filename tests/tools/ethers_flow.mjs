// Drive a running imochain node with ethers v6, the way a dApp would, and print a JSON summary
// on stdout for tests/tools/test_ethers.py to check.
//
//   node tests/tools/ethers_flow.mjs http://127.0.0.1:PORT path/to/Counter.json
//
// Counter.json is forge's artifact (abi + bytecode.object) of tests/tools/project/src/Counter.sol.
import { readFileSync } from "node:fs";
import {
  Contract, ContractFactory, JsonRpcProvider, WebSocketProvider, Wallet, isError, parseEther,
  verifyMessage, verifyTypedData,
} from "ethers";

const [url, artifactPath] = process.argv.slice(2);
const KEY1 = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"; // dev account 1

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function errorSummary(err) {
  return {
    code: err.code ?? null,
    isCallException: isError(err, "CALL_EXCEPTION"),
    reason: err.reason ?? null,
    revertName: err.revert?.name ?? null,
    revertArgs: err.revert ? err.revert.args.map(String) : null,
    data: err.data ?? null,
    shortMessage: err.shortMessage ?? String(err.message).slice(0, 200),
  };
}

async function main() {
  const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
  const out = {};
  // cacheTimeout -1: no 250 ms reuse of identical requests, so a balance read right after a
  // transaction sees the new block.
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });

  const network = await provider.getNetwork();
  out.chainId = Number(network.chainId);
  out.startBlock = await provider.getBlockNumber();

  // JsonRpcSigner: eth_accounts + eth_sendTransaction (the node signs).
  const signer = await provider.getSigner(0);
  out.signerAddress = await signer.getAddress();
  // Wallet: signs locally, eth_sendRawTransaction.
  const wallet = new Wallet(KEY1, provider);
  out.walletAddress = wallet.address;

  // Deploy from the wallet with constructor args.
  const factory = new ContractFactory(artifact.abi, artifact.bytecode.object ?? artifact.bytecode, wallet);
  const counter = await factory.deploy(5n, "ethers");
  const deployReceipt = await counter.deploymentTransaction().wait();
  await counter.waitForDeployment();
  out.contractAddress = await counter.getAddress();
  out.deployStatus = deployReceipt.status;
  out.deployContractAddress = deployReceipt.contractAddress;
  out.initialNumber = (await counter.number()).toString();
  out.label = await counter.label();
  out.owner = await counter.owner();

  // A listener (eth_newFilter + eth_getFilterChanges) registered before the transaction.
  let onHeard;
  const heard = new Promise((resolve) => { onHeard = resolve; });
  await counter.on("Incremented", (by, value, event) => {
    onHeard({ by, value: value.toString(), blockNumber: event.log.blockNumber,
              txHash: event.log.transactionHash });
  });
  await new Promise((r) => setTimeout(r, 300));  // eth_newFilter goes out before the transaction

  // A transaction through the node's signer.
  const tx = await counter.connect(signer).increment();
  const receipt = await tx.wait();
  out.incrementTx = { hash: tx.hash, from: tx.from, status: receipt.status, logs: receipt.logs.length,
                      blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString(),
                      type: receipt.type };
  const parsed = counter.interface.parseLog(receipt.logs[0]);
  out.incrementEvent = { name: parsed.name, by: parsed.args.by, newValue: parsed.args.newValue.toString() };
  out.numberAfterIncrement = (await counter.number()).toString();
  out.listener = await withTimeout(heard, 10000, "contract.on('Incremented')");
  await counter.removeAllListeners();

  // queryFilter: eth_getLogs.
  const events = await counter.queryFilter(counter.filters.Incremented(), 0, "latest");
  out.queryFilter = events.map((e) => ({ by: e.args.by, newValue: e.args.newValue.toString(),
                                         blockNumber: e.blockNumber }));

  // A second transaction from the wallet: setNumber emits NumberSet.
  const tx2 = await counter.setNumber(99n);
  const receipt2 = await tx2.wait();
  out.setNumber = { status: receipt2.status, number: (await counter.number()).toString() };
  const setEvents = await counter.queryFilter("NumberSet", receipt2.blockNumber, receipt2.blockNumber);
  out.numberSetEvents = setEvents.map((e) => [e.args[1].toString(), e.args[2].toString()]);

  // Reverts: require with a reason (estimateGas and staticCall), and a custom error.
  try {
    await counter.setNumber(5000n);
    out.revertSend = { error: null };
  } catch (err) {
    out.revertSend = errorSummary(err);
  }
  try {
    await counter.setNumber.staticCall(5000n);
    out.revertCall = { error: null };
  } catch (err) {
    out.revertCall = errorSummary(err);
  }
  try {
    await counter.connect(signer).ownerOnlyReset.staticCall();
    out.customError = { error: null };
  } catch (err) {
    out.customError = errorSummary(err);
  }

  // A reverting transaction that is mined anyway (gas given, so nothing estimates it first).
  try {
    const bad = await counter.setNumber(5000n, { gasLimit: 100000n });
    await bad.wait();
    out.revertMined = { error: null };
  } catch (err) {
    out.revertMined = { ...errorSummary(err), receiptStatus: err.receipt?.status ?? null };
  }

  // A plain value transfer from the wallet and a message signature from the node.
  // ...heard by a "pending" listener (eth_newPendingTransactionFilter).
  let onPending;
  const pendingHeard = new Promise((resolve) => { onPending = resolve; });
  await provider.on("pending", (hash) => onPending(hash));
  await new Promise((r) => setTimeout(r, 300));
  const before = await provider.getBalance("0x000000000000000000000000000000000000bEEF");
  const transfer = await wallet.sendTransaction({ to: "0x000000000000000000000000000000000000bEEF",
                                                  value: parseEther("0.5") });
  const transferReceipt = await transfer.wait();
  out.pendingHeard = { hash: await withTimeout(pendingHeard, 10000, "provider.on('pending')"),
                       expected: transfer.hash };
  await provider.off("pending");
  const after = await provider.getBalance("0x000000000000000000000000000000000000bEEF");
  out.transfer = { status: transferReceipt.status, delta: (after - before).toString(),
                   nonce: transfer.nonce };
  const signature = await signer.signMessage("hello imochain");
  out.signMessageRecovered = verifyMessage("hello imochain", signature);
  const domain = { name: "imochain", version: "1", chainId: 31337, verifyingContract: out.contractAddress };
  const types = { Mail: [{ name: "to", type: "address" }, { name: "contents", type: "string" }] };
  const mail = { to: wallet.address, contents: "hi" };
  const typedSig = await signer.signTypedData(domain, types, mail);  // eth_signTypedData_v4
  out.signTypedDataRecovered = verifyTypedData(domain, types, mail, typedSig);

  const block = await provider.getBlock("latest");
  out.latestBlock = { number: block.number, txs: block.transactions.length,
                      baseFeePerGas: block.baseFeePerGas?.toString() ?? null };
  const fee = await provider.getFeeData();
  out.feeData = { gasPrice: fee.gasPrice?.toString() ?? null,
                  maxFeePerGas: fee.maxFeePerGas?.toString() ?? null };

  // WebSocketProvider: a newHeads subscription on the same port.
  const wsUrl = url.replace(/^http/, "ws");
  const ws = new WebSocketProvider(wsUrl);
  try {
    out.wsChainId = Number((await withTimeout(ws.getNetwork(), 5000, "ws getNetwork")).chainId);
    let onBlock;
    const newBlock = new Promise((resolve) => { onBlock = resolve; });
    await ws.once("block", (n) => onBlock(n));
    await new Promise((r) => setTimeout(r, 500));  // the eth_subscribe round trip
    const t = await signer.sendTransaction({ to: wallet.address, value: 1n });
    const tr = await t.wait();
    out.wsBlock = { heard: await withTimeout(newBlock, 10000, "ws block event"), mined: tr.blockNumber };
    // A contract event over eth_subscribe("logs").
    const wsCounter = new Contract(out.contractAddress, artifact.abi, ws);
    let onWsEvent;
    const wsHeard = new Promise((resolve) => { onWsEvent = resolve; });
    await wsCounter.on("Incremented", (by, value, event) => onWsEvent({
      by, value: value.toString(), txHash: event.log.transactionHash }));
    await new Promise((r) => setTimeout(r, 500));  // eth_subscribe("logs") round trip
    const inc = await counter.increment();
    await inc.wait();
    out.wsEvent = { ...(await withTimeout(wsHeard, 10000, "ws contract event")), expectedTx: inc.hash };
    await wsCounter.removeAllListeners();
  } finally {
    await ws.destroy();
  }

  out.endBlock = await provider.getBlockNumber();
  provider.destroy();
  return out;
}

main().then(
  (out) => { process.stdout.write(JSON.stringify(out) + "\n"); process.exit(0); },
  (err) => { process.stderr.write(`ethers flow failed: ${err.stack ?? err}\n`); process.exit(1); },
);
