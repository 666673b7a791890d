"""`imochain demo`: the whole Initial Model Offering story on one chain, every step checked.

A model developer registers the digits models, raises funds in an IMO, users pay for inference
through the AI oracle, the revenue flows to the model's ERC-7641 token holders, a user mints a
verifiable AI-generated NFT, a lying oracle is caught by the challenger, and a holder redeems.
Runs on an in-process chain by default, or against a running node with `--rpc URL`.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

ETHER = 10**18
SHADES = " .:-=+*#%@"
# SmolLM2-135M knows nothing true about IMOs: the demo hands it the facts, as a dApp's retrieval
# step would, and checks that the answer repeats them
IMO_FACTS = ("An Initial Model Offering (IMO) raises funds for an AI model by selling ERC-7641 tokens. "
             "The token holders receive a share of the revenue the model earns from inference.")
IMO_QUESTION = "What do the token holders receive?"
REQUEST_TOPICS = {keccak(text="AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes)"),
                  keccak(text="AICallbackRequest(address,uint256,uint256,bytes,address,uint64,bytes,uint8,uint8,uint256)")}
# wei and token amounts are written as decimal strings: JSON readers in JavaScript lose digits
# of numbers above 2^53
AMOUNT_KEYS = {"eth", "tokens", "raised", "refund", "accrued", "claimable", "got", "start", "end", "burned",
               "fee", "value", "revenue", "price", "amount", "target", "bond"}


class DemoError(Exception):
    pass


@dataclass
class Step:
    title: str
    narration: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)
    balances: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)


def tensor(values, shape) -> bytes:
    return abi_encode(["uint8", "uint32[]", "bytes"], [1, list(shape), np.asarray(values, dtype=np.int8).tobytes()])


DTYPES = {1: "<i1", 2: "<i4", 3: "<f4"}  # the precompile's tensor dtype codes


def tensor_values(encoded: bytes) -> np.ndarray:
    dtype, shape, data = abi_decode(["uint8", "uint32[]", "bytes"], encoded)
    return np.frombuffer(data, dtype=DTYPES[dtype]).reshape(shape)


def draw(image: np.ndarray) -> list[str]:
    """An 8×8 int8 image as terminal art, two characters a pixel."""
    lo, hi = int(image.min()), int(image.max())
    span = max(hi - lo, 1)
    return ["".join(SHADES[(int(v) - lo) * (len(SHADES) - 1) // span] * 2 for v in row) for row in image]


class Demo:
    def __init__(self, w3, out=print, quiet: bool = False):
        from imochain.contracts import GENESIS_ADDRESSES, abi
        from imochain.contracts.genesis import OPERATOR_ADDRESS

        self.w3 = w3
        self.out = (lambda *a, **k: None) if quiet else out
        self.steps: list[Step] = []
        self._current: Step | None = None
        acc = w3.eth.accounts
        self.names = {acc[1]: "developer", acc[2]: "investor A", acc[3]: "investor B", acc[4]: "investor C",
                      acc[5]: "user 1", acc[6]: "user 2", acc[7]: "minter", acc[8]: "challenger",
                      to_checksum_address(OPERATOR_ADDRESS): "operator"}
        self.dev, self.investors, self.users, self.minter = acc[1], acc[2:5], acc[5:7], acc[7]
        self.c = {name: w3.eth.contract(address=addr, abi=abi(name)) for name, addr in GENESIS_ADDRESSES.items()}
        self.token = None
        self.abi = abi
        self.watch = set(acc) | set(GENESIS_ADDRESSES.values()) | {to_checksum_address(OPERATOR_ADDRESS),
                                                                   "0x" + "00" * 20}

    # -- plumbing -----------------------------------------------------------------------------
    def rpc(self, method: str, params: list | None = None):
        resp = self.w3.provider.make_request(method, params or [])
        if "error" in resp:
            raise DemoError(f"{method}: {resp['error'].get('message')}")
        return resp["result"]

    def send(self, fn, sender: str, value: int = 0):
        try:
            tx = fn.transact({"from": sender, "value": value})
        except Exception as exc:  # a revert at estimation: report it as the step's failure
            raise DemoError(f"{fn.fn_name} from {self.names.get(sender, sender)} failed: {exc}") from None
        receipt = self.w3.eth.wait_for_transaction_receipt(tx)
        if self._current is not None:
            self._current.data.setdefault("transactions", []).append(
                {"function": fn.fn_name, "from": sender, "to": fn.address, "hash": tx.to_0x_hex(),
                 "block": receipt.blockNumber, "gasUsed": receipt.gasUsed, "value": str(value)})
        if receipt.status != 1:
            raise DemoError(f"transaction {tx.to_0x_hex()} reverted")
        return receipt

    def note(self, **data) -> None:
        """Facts of the current step for `--json` (ids, addresses, outputs)."""
        self._current.data.update({k: _jsonable(v, k) for k, v in data.items()})

    @staticmethod
    def events(event, receipt) -> list:
        """The receipt's logs of one event of one contract, decoded; other logs are skipped
        rather than tried (web3 warns about every log that does not fit the ABI)."""
        topic = bytes.fromhex(event.topic.removeprefix("0x"))
        return [event.process_log(entry) for entry in receipt.logs
                if entry.address == event.address and entry.topics and bytes(entry.topics[0]) == topic]

    def request_id(self, receipt) -> int:
        """The oracle request id a transaction opened (either AICallbackRequest overload)."""
        oracle = self.c["AIOracle"].address
        for entry in receipt.logs:
            if entry.address == oracle and entry.topics and bytes(entry.topics[0]) in REQUEST_TOPICS:
                return int.from_bytes(bytes(entry.topics[2]), "big")
        raise DemoError("the transaction opened no oracle request")

    def await_answer(self, request_id: int, timeout: float = 600) -> int:
        """Wait until the oracle has settled a request (a text answer is generated off the node's
        lock and arrives in a later block); returns the head block number then."""
        oracle = self.c["AIOracle"]
        deadline = time.monotonic() + timeout
        while oracle.functions.getRequestStatus(request_id).call() == 1:  # Pending
            if time.monotonic() > deadline:
                raise DemoError(f"request #{request_id} got no answer within {timeout:.0f} s")
            time.sleep(0.05)
        return self.w3.eth.block_number

    def say(self, text: str) -> None:
        self._current.narration.append(text)
        self.out(f"  {text}")

    def check(self, ok: bool, what: str, **data) -> None:
        self._current.checks.append({"check": what, "ok": bool(ok), **{k: _jsonable(v, k) for k, v in data.items()}})
        self.out(f"  {'✓' if ok else '✗'} {what}")
        if not ok:
            raise DemoError(f"step '{self._current.title}': {what} failed ({data})")

    @contextmanager
    def step(self, title: str):
        self._current = Step(title)
        self.out(f"\n== {len(self.steps) + 1}. {title}")
        yield self._current
        self._current.balances = self.balances()
        self.steps.append(self._current)
        self.print_balances()
        self._current.balances = {name: {k: str(v) for k, v in row.items()}
                                  for name, row in self._current.balances.items()}
        self._current = None

    def balances(self) -> dict:
        out = {}
        for addr, name in self.names.items():
            row = {"eth": self.w3.eth.get_balance(addr)}
            if self.token is not None:
                row["tokens"] = self.token.functions.balanceOf(addr).call()
            out[name] = row
        if self.token is not None:
            out["ERC-7641 token"] = {"eth": self.w3.eth.get_balance(self.token.address),
                                     "tokens": self.token.functions.totalSupply().call()}
        return out

    def print_balances(self) -> None:
        rows = self._current.balances
        self.out(f"  {'account':<16}{'ETH':>22}{'tokens':>20}")
        for name, row in rows.items():
            tokens = f"{row['tokens'] / ETHER:,.2f}" if "tokens" in row else "-"
            self.out(f"  {name:<16}{row['eth'] / ETHER:>22.6f}{tokens:>20}")

    def total_eth(self) -> int:
        return sum(self.w3.eth.get_balance(a) for a in self.watch)

    def burned_between(self, first: int, last: int) -> int:
        total = 0
        for n in range(first, last + 1):
            b = self.w3.eth.get_block(n)
            total += b.baseFeePerGas * b.gasUsed
        return total

    def model_hash(self, name: str) -> bytes:
        for m in self.rpc("imo_listModels"):
            if m["name"] == name:
                return bytes.fromhex(m["hash"][2:])
        raise DemoError(f"model {name} is not in the node's store")

    def dry_run(self, model_hash: bytes, data: bytes) -> bytes:
        return bytes.fromhex(self.rpc("imo_dryRun", ["0x" + model_hash.hex(), "0x" + data.hex()])["output"][2:])

    def text_model_id(self) -> int | None:
        """The oracle id of a text model at genesis (an alias or the plan's own), if any."""
        texts = {bytes.fromhex(m["hash"][2:]) for m in self.rpc("imo_listModels")
                 if m.get("kind") == "text" and m.get("mode") != "int8"}  # the fast fp32 one
        if not texts:
            return None
        oracle = self.c["AIOracle"]
        for i in range(oracle.functions.numberOfModels().call()):
            model_id = oracle.functions.modelIDs(i).call()
            if oracle.functions.getModel(model_id).call()[0] in texts:
                return model_id
        return None

    def travel(self, seconds: int) -> None:
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine")

    # -- the story ----------------------------------------------------------------------------
    def run(self) -> dict:
        from imochain.models.build_models import generator_input

        w3, c = self.w3, self.c
        oracle, launchpad, prompt, opml = c["AIOracle"], c["IMOLaunchpad"], c["Prompt"], c["OpML"]
        start_block = w3.eth.block_number
        start_total = self.total_eth()
        self.rpc("imo_setOracleFaults", [0.0])

        with self.step("A model developer registers the digits models"):
            clf_hash, gen_hash = self.model_hash("digits-classifier"), self.model_hash("digits-generator")
            fee = ETHER // 100
            ids = {}
            for name, h in (("classifier", clf_hash), ("generator", gen_hash)):
                receipt = self.send(oracle.functions.registerModel(h, bytes(32), fee, self.dev, 80), self.dev)
                (event,) = self.events(oracle.events.ModelUploaded(), receipt)
                ids[name] = event.args.modelId
                self.say(f"digits-{name}: model id {ids[name]}, hash 0x{h.hex()[:16]}…, fee 0.01 ETH, 80 % to the receiver")
            model = oracle.functions.getModel(ids["classifier"]).call()
            self.check(model[0] == clf_hash and oracle.functions.modelOwner(ids["classifier"]).call() == self.dev,
                       "the oracle lists the classifier under the developer's ownership", model_id=ids["classifier"])
            self.model_id = ids["classifier"]
            self.note(model_ids=ids, classifier_hash=clf_hash, generator_hash=gen_hash, oracle=oracle.address,
                      fee=fee)

        with self.step("The developer opens an Initial Model Offering for the classifier"):
            supply, sale, target, window, interval = 1_000_000 * ETHER, 800_000 * ETHER, 10 * ETHER, 3600, 3600
            self.send(oracle.functions.transferModelOwnership(self.model_id, launchpad.address), self.dev)
            receipt = self.send(launchpad.functions.open(self.model_id, "Digits Classifier", "DIGIT", supply, sale,
                                                         target, window, 80, interval), self.dev)
            (event,) = self.events(launchpad.events.OfferingOpened(), receipt)
            self.offering = event.args.offeringId
            self.note(offering_id=self.offering, launchpad=launchpad.address, target=target, supply=str(supply),
                      sale=str(sale))
            self.say(f"offering #{self.offering}: 800 000 of 1 000 000 DIGIT for a 10 ETH target, 1 h window")
            self.check(launchpad.functions.getOffering(self.offering).call()[13] == 1, "the offering is open")

        text_id = self.text_model_id()
        if text_id is not None:
            with self.step("Before buying in, an investor asks a language model through the oracle"):
                question = f"Using only these facts: {IMO_FACTS} Answer in one sentence: {IMO_QUESTION}".encode()
                fee = prompt.functions.estimateFee(text_id).call()
                receipt = self.send(prompt.functions.calculateAIResult(text_id, question), self.investors[0], fee)
                request_id = self.request_id(receipt)
                answered_in = self.await_answer(request_id)  # generated off the node's lock: a later block
                answer = prompt.functions.getAIResult(text_id, question).call()
                record = self.rpc("imo_getRequest", [request_id])
                text = answer.decode("utf-8", "replace")
                cap = self.rpc("imo_oracleStatus").get("maxTextTokens")
                self.say("a 135M-parameter model knows nothing reliable about IMOs: asked 'What is an Initial "
                         "Model Offering?' on its own, it makes an answer up. So, as a dApp does with retrieval, "
                         f"the prompt carries the facts ({IMO_FACTS}) and asks what they answer")
                self.say(f"{self.names[self.investors[0]]} asks model #{text_id}: {IMO_QUESTION}")
                self.say(f"the oracle answers in block {answered_in}, the request was in block {receipt.blockNumber} "
                         f"(at most {cap} tokens, ending at the first full sentence): {text}")
                self.note(model_id=text_id, request_id=request_id, prompt=question.decode(), answer=text,
                          max_tokens=cap, state=record and record["state"], micros=record and record["micros"])
                self.check(record is not None and record["state"] in ("answered", "finalized"),
                           f"request #{request_id} was answered by callback", state=record and record["state"])
                lowered = text.lower()
                self.check("token" in lowered and "revenue" in lowered,
                           "the answer repeats the facts it was given (the token holders' share of the revenue)",
                           answer=text)

        with self.step("Three investors deposit: 6 + 5 + 4 ETH, oversubscribed"):
            deposits = dict(zip(self.investors, (6 * ETHER, 5 * ETHER, 4 * ETHER)))
            for who, amount in deposits.items():
                self.send(launchpad.functions.deposit(self.offering), who, amount)
                self.say(f"{self.names[who]} deposits {amount / ETHER:.0f} ETH")
            raised = launchpad.functions.getOffering(self.offering).call()[11]
            self.check(raised == 15 * ETHER, "15 ETH raised against a 10 ETH target", raised=raised)

        with self.step("The window closes and the offering is finalized"):
            self.travel(window + 1)
            dev_before = w3.eth.get_balance(self.dev)
            receipt = self.send(launchpad.functions.finalize(self.offering), self.investors[0])
            offering = launchpad.functions.getOffering(self.offering).call()
            self.token = w3.eth.contract(address=offering[12], abi=self.abi("ERC7641"))
            self.watch.add(self.token.address)
            self.say(f"ERC-7641 token DIGIT deployed at {self.token.address}")
            self.note(token=self.token.address, raised=offering[11])
            self.check(offering[13] == 2, "the offering succeeded")
            self.check(w3.eth.get_balance(self.dev) - dev_before == target, "the developer received the 10 ETH target")
            self.check(oracle.functions.getModel(self.model_id).call()[3] == self.token.address,
                       "the model's oracle revenue now flows to the token")
            del receipt

        with self.step("Investors claim their tokens and the unused ETH"):
            for who, amount in deposits.items():
                eth_before = w3.eth.get_balance(who)
                receipt = self.send(launchpad.functions.claim(self.offering), who)
                gas_cost = receipt.gasUsed * receipt.effectiveGasPrice
                tokens = self.token.functions.balanceOf(who).call()
                refund = w3.eth.get_balance(who) - eth_before + gas_cost
                effective = -(-amount * target // raised)
                self.say(f"{self.names[who]}: {tokens / ETHER:,.2f} DIGIT and {refund / ETHER:.6f} ETH back")
                self.check(tokens == sale * amount // raised and refund == amount - effective,
                           f"{self.names[who]} got tokens pro rata and deposit × (1 − target/raised) back",
                           tokens=tokens, refund=refund)

        with self.step("Users pay for classifications through the AI oracle"):
            digit_images = {}
            for digit in (3, 7):
                image = tensor_values(self.dry_run(gen_hash, tensor(generator_input(digit, [0] * 6), [16])))
                digit_images[digit] = tensor(image.reshape(64), [64])
            revenue_before = oracle.functions.getModel(self.model_id).call()[5]
            for user, (digit, image) in zip(self.users, digit_images.items()):
                # ORA's rule: the fee follows the gas price of the last fulfilment, so ask each time
                fee = prompt.functions.estimateFee(self.model_id).call()
                self.send(prompt.functions.calculateAIResult(self.model_id, image), user, fee)
                out = prompt.functions.getAIResult(self.model_id, image).call()
                scores = tensor_values(out)
                self.say(f"{self.names[user]} pays {fee / ETHER:.6f} ETH to classify a drawn {digit}: "
                         f"the model says {int(np.argmax(scores))}")
                self.check(out == self.dry_run(clf_hash, image),
                           f"{self.names[user]}'s callback carries the model's real output")
                self.note(**{f"{self.names[user].replace(' ', '_')}_output": out,
                             f"{self.names[user].replace(' ', '_')}_prediction": int(np.argmax(scores))})
            accrued = oracle.functions.getModel(self.model_id).call()[5] - revenue_before
            self.check(accrued == 2 * (ETHER // 100) * 80 // 100, "80 % of two model fees accrued to the model",
                       accrued=accrued)

        with self.step("The model's revenue is claimed into the ERC-7641 token"):
            token_before = w3.eth.get_balance(self.token.address)
            self.send(oracle.functions.claimModelRevenue(self.model_id), self.users[0])
            self.revenue = w3.eth.get_balance(self.token.address) - token_before
            self.say(f"{self.revenue / ETHER:.6f} ETH pushed to the token")
            self.check(self.revenue == accrued, "the token received exactly the accrued revenue")

        with self.step("A snapshot splits the revenue: 80 % claimable, 20 % to the redeem pool"):
            self.travel(interval + 1)
            receipt = self.send(self.token.functions.snapshot(), self.dev)
            self.snapshot_id = self.token.functions.currentSnapshotId().call()
            claimable, _ = self.token.functions.snapshotRevenue(self.snapshot_id).call()
            self.check(claimable == self.revenue * 80 // 100, "the snapshot holds 80 % of the revenue",
                       claimable=claimable)
            del receipt

        with self.step("Holders claim pro rata to their balances"):
            supply_now = self.token.functions.totalSupply().call()
            paid = 0
            for who in list(self.investors) + [self.dev]:
                bal = self.token.functions.balanceOf(who).call()
                expect = bal * claimable // supply_now
                before = w3.eth.get_balance(who)
                receipt = self.send(self.token.functions.claim(self.snapshot_id), who)
                got = w3.eth.get_balance(who) - before + receipt.gasUsed * receipt.effectiveGasPrice
                paid += got
                self.say(f"{self.names[who]} holds {bal / supply_now:.1%} and claims {got / ETHER:.8f} ETH")
                self.check(got == expect, f"{self.names[who]}'s claim is balance × claimable / supply", got=got)
            self.check(paid <= claimable, "claims never exceed the snapshot")

        with self.step("A user mints an AI-generated digit as an ERC-7007 NFT"):
            nft = c["ERC7007Collection"]
            # fresh noise each run: a prompt can be minted once, and a teacher runs the demo again
            noise = np.random.default_rng(start_block).integers(-100, 100, 6).tolist()
            art = tensor(generator_input(5, noise), [16])
            price = nft.functions.mintPrice().call()
            self.send(nft.functions.mint(art), self.minter, price)
            token_id = nft.functions.tokenId(art).call()
            self.note(collection=nft.address, token_id=token_id, prompt=art)
            aigc = nft.functions.aigcDataOf(token_id).call()
            proof = nft.functions.proofOf(token_id).call()
            for line in draw(tensor_values(aigc).reshape(8, 8)):
                self.say("    " + line)
            self.check(nft.functions.ownerOf(token_id).call() == self.minter, "the oracle's callback minted the token")
            self.check(not nft.functions.verify(art, aigc, proof).call(),
                       "verify is false while the result can still be challenged")
            window_blocks = opml.functions.challengeWindow().call()
            self.rpc("anvil_mine", [hex(window_blocks + 1)])
            self.check(nft.functions.verify(art, aigc, proof).call(), "verify is true once the result is final")
            self.check(aigc == self.dry_run(gen_hash, art), "the NFT holds exactly what the model draws")

        with self.step("A lying oracle is caught, challenged and slashed"):
            from imochain.contracts.genesis import OPERATOR_ADDRESS, RESULT_BOND
            operator = to_checksum_address(OPERATOR_ADDRESS)
            bond_before = opml.functions.bondOf(operator).call()
            self.rpc("imo_setOracleFaults", [1.0])
            image = digit_images[3]
            fee = prompt.functions.estimateFee(self.model_id).call()
            first_block = w3.eth.block_number + 1
            self.send(prompt.functions.calculateAIResult(self.model_id, image[:-1] + b"\x01"), self.users[1], fee)
            self.rpc("imo_setOracleFaults", [0.0])
            self.rpc("anvil_mine", ["0x2"])
            settled = opml.events.ChallengeSettled().get_logs(from_block=first_block)
            self.check(len(settled) == 1 and settled[0].args.challengerWon, "the challenger disputed and won")
            request_id = settled[0].args.requestId
            record = self.rpc("imo_getRequest", [request_id])
            self.note(request_id=request_id, posted_output_hash=settled[0].args.postedOutputHash,
                      correct_output_hash=settled[0].args.correctOutputHash, state=record and record["state"],
                      request_transactions=record and record["transactions"])
            self.say(f"request #{request_id}: posted 0x{settled[0].args.postedOutputHash.hex()[:12]}…, "
                     f"re-executed 0x{settled[0].args.correctOutputHash.hex()[:12]}…")
            right = self.dry_run(clf_hash, image[:-1] + b"\x01")
            self.check(prompt.functions.getAIResult(self.model_id, image[:-1] + b"\x01").call() == right,
                       "the consumer now holds the correct result")
            self.check(bond_before - opml.functions.bondOf(operator).call() == RESULT_BOND,
                       "the operator's result bond was slashed")

        from imochain.demo_bisection import run_step, stepped_text_model
        if stepped_text_model(self) is not None:
            with self.step("A lying oracle's text answer is bisected down to one step and corrected"):
                run_step(self)

        with self.step("A holder burns tokens for a share of the redeem pool"):
            holder = self.investors[0]
            amount = self.token.functions.balanceOf(holder).call() // 2
            expect = self.token.functions.redeemableOnBurn(amount).call()
            before = w3.eth.get_balance(holder)
            receipt = self.send(self.token.functions.burn(amount), holder)
            got = w3.eth.get_balance(holder) - before + receipt.gasUsed * receipt.effectiveGasPrice
            self.say(f"{self.names[holder]} burns {amount / ETHER:,.2f} DIGIT for {got / ETHER:.8f} ETH")
            self.check(got == expect and got > 0, "the burn paid amount / supply of the redeem pool", got=got)

        with self.step("Totals reconcile to the wei"):
            end_block = w3.eth.block_number
            burned = self.burned_between(start_block + 1, end_block)
            end_total = self.total_eth()
            self.say(f"start {start_total} wei = end {end_total} wei + {burned} wei of base fees burned")
            self.check(start_total == end_total + burned, "no wei created or lost",
                       start=start_total, end=end_total, burned=burned)

        return {"ok": True, "steps": [s.__dict__ for s in self.steps]}


def _jsonable(v, key: str = ""):
    if isinstance(v, (bytes, bytearray)):
        return "0x" + bytes(v).hex()
    if isinstance(v, int) and not isinstance(v, bool) and (key in AMOUNT_KEYS or abs(v) >= 2**53):
        return str(v)
    if isinstance(v, dict):
        return {k: _jsonable(x, k) for k, x in v.items()}
    return v


def _json_default(o):
    if isinstance(o, (bytes, bytearray)):
        return "0x" + bytes(o).hex()
    return str(o)


def main(args) -> int:
    from web3 import Web3

    started = time.perf_counter()
    if args.rpc:
        w3 = Web3(Web3.HTTPProvider(args.rpc, request_kwargs={"timeout": 120}))
        if not w3.is_connected():
            print(f"error: no node answers at {args.rpc}", file=sys.stderr)
            return 2
    else:
        from imochain.builder import build_node
        from imochain.testing import in_process_web3
        w3, node = in_process_web3(node=build_node(services=True))
        from imochain.demo_bisection import add_demo_text_model
        add_demo_text_model(node)
    demo = Demo(w3, quiet=args.json)
    try:
        record = demo.run()
    except DemoError as exc:
        record = {"ok": False, "error": str(exc), "steps": [s.__dict__ for s in demo.steps]}
        if not args.json:
            print(f"\ndemo failed: {exc}", file=sys.stderr)
    record["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(record, default=_json_default, indent=1))
    elif record["ok"]:
        print(f"\nAll {len(record['steps'])} steps checked in {record['seconds']} s.")
    return 0 if record["ok"] else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole IMO story, narrated and checked",
                       description="The Initial Model Offering story end to end: register, raise, serve, "
                                   "share revenue, mint verifiable AI content, catch a lying oracle.")
    p.add_argument("--rpc", metavar="URL", help="run against a running node instead of an in-process chain")
    p.add_argument("--json", action="store_true", help="print a machine-readable record of every step")
    p.set_defaults(func=main)
