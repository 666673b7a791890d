"""What users hit first: the CLI's help and listings, the oracle text cap and sentence stop,
and the log line for transactions that called 0xA1."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from imochain.models.text.sentences import first_sentence_end, generate_sentence

CLI = [sys.executable, "-m", "imochain.cli"]


def run(*args, **kw):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, **kw)


def test_bare_imochain_prints_help_and_exits_0():
    proc = run()
    assert proc.returncode == 0 and "usage: imochain" in proc.stdout and "node" in proc.stdout


def test_help_texts_say_what_they_do():
    assert "Chat in the terminal" in run("chat", "--help").stdout
    assert "returns a dict" in " ".join(run("model", "export", "--help").stdout.split())
    assert "--oracle-max-tokens" in run("node", "--help").stdout
    bad = run("node", "--oracle-max-tokens", "0")
    assert bad.returncode == 2 and "must be between 1 and 1024" in bad.stderr


def test_model_list_shows_oracle_ids_and_text_models(tmp_path):
    proc = run("model", "list", "--store", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    header, *rows = proc.stdout.splitlines()
    assert header.split()[:2] == ["oracle", "id"]
    assert any(r.split()[0] == "1" and "digits-classifier" in r for r in rows)
    listed = json.loads(run("model", "list", "--json", "--store", str(tmp_path)).stdout)
    assert {r["name"]: r["oracle_id"] for r in listed}["digits-generator"] == 2
    from imochain.models.text import locate_default_gguf
    if locate_default_gguf():  # imo_listModels serves it, so the listing shows it
        assert any(r["name"] == "smollm2" and r["kind"] == "text" for r in listed)


def test_model_list_into_a_closed_pipe_is_quiet(tmp_path):
    proc = subprocess.run(f"{sys.executable} -m imochain.cli model list --json --store {tmp_path} | head -1",
                          shell=True, capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "[" and "BrokenPipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_first_sentence_end():
    assert first_sentence_end("It raises funds. Then") == len("It raises funds.")
    assert first_sentence_end("It raises funds.") is None  # the next piece may still be "5"
    assert first_sentence_end("Tokens, e.g. ERC-7641 ones, pay. More") == len("Tokens, e.g. ERC-7641 ones, pay.")
    assert first_sentence_end('He said "yes!" and left') == len('He said "yes!"')
    assert first_sentence_end("Pi is 3.14 and more") is None


class FakeModel:
    """Streams fixed pieces as a text model does; counts how many it produced."""

    def __init__(self, pieces):
        self.pieces, self.made = pieces, 0

    def generate(self, prompt, max_new_tokens, seed, stream=None):
        out = []
        for piece in self.pieces[:max_new_tokens]:
            self.made += 1
            out.append(piece)
            if stream:
                stream(piece)
        return "".join(out)


def test_generation_stops_after_the_first_sentence_or_the_cap():
    model = FakeModel(["An", " IMO", " sells", " tokens", ".", " Holders", " share", "."])
    assert generate_sentence(model, b"q", 64) == b"An IMO sells tokens."
    assert model.made == 6  # one piece past the period, to see the space: then it stopped
    assert generate_sentence(FakeModel(["An", " IMO", " sells"]), b"q", 2) == b"An IMO"


def test_log_line_for_a_transaction_that_called_0xa1(caplog):
    from eth_abi import encode

    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    from imochain.precompiles import INFERENCE_ADDRESS
    node = build_node(NodeConfig(genesis_contracts=False))
    model_hash = node.models.find("digits-classifier")
    data = encode(["bytes32", "bytes"], [model_hash, encode(["uint8", "uint32[]", "bytes"], [1, [64], bytes(64)])])
    # a contract whose code CALLs 0xA1 with its own call data would do; a direct call is enough
    with caplog.at_level(logging.INFO, logger="imochain"):
        node.send_transaction({"from": node.accounts[0].address, "to": INFERENCE_ADDRESS, "data": data,
                               "gas": 1_000_000})
    assert "which only imochain runs" in caplog.text and "trace_transaction" in caplog.text
    # the node's own Parity trace shows the real 0xA1 output (Foundry's replay shows none)
    from imochain.rpc.trace import transaction_traces
    (trace,) = transaction_traces(node, node.get_block("latest").transactions[0].hash)
    assert trace["result"]["output"] == "0x" + node.inference.execute(data).hex()


def test_banner_shows_oracle_model_ids_and_aliases(capsys):
    from imochain.builder import build_node
    from imochain.chain import NodeConfig
    from imochain.oracle import start_services
    from imochain.cli import print_banner
    node = build_node(NodeConfig(model_aliases={7: "digits-classifier"}, default_text_model=False))
    services = start_services(node, max_tokens=48)
    try:
        print_banner(node, "127.0.0.1", 8545, 48)
    finally:
        for s in services:
            s.stop()
    out = capsys.readouterr().out
    assert "Oracle model ids: 1 digits-classifier, 2 digits-generator" in out
    assert "oracle model id 7 is answered by digits-classifier" in out
    assert "up to 48 tokens" in out
