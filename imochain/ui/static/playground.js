// The playground: a request to the AI oracle from a dev account, followed block by block.
import {argmax, callUintBytes, decodeBytes, digitSvg, drawingPad, el, rpc, tensorValues, word} from "/static/rpc.js";

const cfg = JSON.parse(document.getElementById("config").textContent);
const steps = document.getElementById("steps"), answer = document.getElementById("answer");
const pad = drawingPad(document.getElementById("pad"));
document.getElementById("clear").onclick = () => pad.clear();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let restoreFaults = null;

function step(text, cls = "") {
  const li = el("li", text, cls);
  steps.appendChild(li);
  return li;
}

async function until(what, fn, tries = 150) {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v) return v;
    await sleep(200);
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function ask(modelId, inputHex, isText) {
  steps.replaceChildren(); answer.replaceChildren();
  const from = document.getElementById("account").value;
  if (document.getElementById("lie").checked && !isText) {
    // the fault switch is the node's; put back what it was once this request is answered
    const before = await rpc("imo_oracleStatus").then((s) => s.faultRate, () => 0.0);
    await rpc("imo_setOracleFaults", [1.0]);
    restoreFaults = () => rpc("imo_setOracleFaults", [before]);
  }
  const fee = await rpc("eth_call", [{to: cfg.prompt, data: cfg.selectors.fee + word(modelId)}, "latest"]);
  const data = callUintBytes(cfg.selectors.ask, modelId, inputHex);
  const tx = await rpc("eth_sendTransaction", [{from, to: cfg.prompt, data, value: "0x" + BigInt(fee).toString(16)}]);
  step(`request sent from ${from.slice(0, 8)}… paying ${Number(BigInt(fee)) / 1e18} ETH: tx ${tx.slice(0, 12)}…`).dataset.tx = tx;
  const receipt = await until("the request's block", () => rpc("eth_getTransactionReceipt", [tx]));
  if (receipt.status !== "0x1") throw new Error("the request reverted");
  const block = parseInt(receipt.blockNumber, 16);
  const log = receipt.logs.find((l) => l.address.toLowerCase() === cfg.oracle.toLowerCase() &&
    (l.topics[0] === cfg.topics.request || l.topics[0] === cfg.topics.request2));
  const requestId = BigInt(log.topics[2]);
  step(`mined in block #${block}: the oracle emitted AICallbackRequest #${requestId}`);
  const topicId = "0x" + word(requestId);
  const result = await until("the callback", async () => {
    const logs = await rpc("eth_getLogs", [{address: cfg.oracle, fromBlock: "0x" + block.toString(16),
      topics: [cfg.topics.result, null, topicId]}]);
    return logs[0];
  });
  if (!isText) {
    const status = await rpc("imo_oracleStatus").catch(() => ({passes: []}));
    const pass = status.passes.find((p) => p.requests.map(BigInt).includes(requestId));
    if (pass) step(`batched inference: ${pass.model}, batch of ${pass.batchSize} in ${Math.round(pass.micros)} µs` +
      (pass.faulty.map(BigInt).includes(requestId) ? " — and the oracle LIED" : ""), pass.faulty.length ? "bad" : "");
  }
  if (restoreFaults) { await restoreFaults(); restoreFaults = null; }
  const resultBlock = parseInt(result.blockNumber, 16);
  const li = step(`callback delivered in block #${resultBlock}: tx ${result.transactionHash.slice(0, 12)}…`);
  li.id = "callback"; li.dataset.tx = result.transactionHash;
  const output = decodeBytes(result.data, 1);  // data: (address invoker, bytes output)
  return {requestId, resultBlock, output, topicId};
}

function showDigit(outputHex, inputValues) {
  const values = tensorValues(outputHex);
  const cls = values ? argmax(values) : "?";
  const fig = el("div", undefined, "verdict");
  fig.appendChild(digitSvg(inputValues, 96));
  const p = el("p", "the model says "); const b = el("b", String(cls)); b.id = "class"; p.appendChild(b);
  fig.appendChild(p);
  answer.replaceChildren(fig);
  return cls;
}

const hexOf = (bytes) => "0x" + Array.from(bytes, (x) => x.toString(16).padStart(2, "0")).join("");

document.getElementById("ask").onclick = async () => {
  const button = document.getElementById("ask");
  button.disabled = true;
  try {
    const input = pad.tensor(), ink = pad.ink.map((v) => v * 7);
    const {requestId, output, topicId, resultBlock} = await ask(cfg.classifier, input, false);
    const said = showDigit(hexOf(output), ink);
    answer.dataset.input = input;
    if (document.getElementById("lie").checked) {
      step(`the oracle's answer: class ${said} — but was it honest?`);
      step("the challenger re-executes the model during the challenge window…");
      const settled = await until("the challenge", async () => {
        const logs = await rpc("eth_getLogs", [{address: cfg.opml, fromBlock: "0x" + resultBlock.toString(16),
          topics: [cfg.topics.settled, topicId]}]);
        return logs[0];
      });
      const won = BigInt("0x" + settled.data.slice(2, 66)) === 1n;
      const li = step(won ? `challenger won in block #${parseInt(settled.blockNumber, 16)}: the operator's bond is slashed and the right answer delivered`
        : "the challenger lost", won ? "good" : "bad");
      li.id = "challenge";
      const fixed = await rpc("eth_call", [{to: cfg.prompt, data: callUintBytes(cfg.selectors.result, cfg.classifier, input)}, "latest"]);
      showDigit(hexOf(decodeBytes(fixed)), ink);
    }
    step(`request #${requestId} done`, "good");
  } catch (e) {
    step(e.message, "bad");
  } finally {
    if (restoreFaults) { await restoreFaults().catch(() => {}); restoreFaults = null; }
    button.disabled = false;
  }
};

const textButton = document.getElementById("ask-text");
if (textButton) textButton.onclick = async () => {
  textButton.disabled = true;
  try {
    const q = new TextEncoder().encode(document.getElementById("question").value);
    const {output} = await ask(cfg.text, hexOf(q), true);
    answer.replaceChildren(el("q", new TextDecoder().decode(output), "text"));
  } catch (e) {
    step(e.message, "bad");
  } finally {
    textButton.disabled = false;
  }
};
