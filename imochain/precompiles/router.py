"""The model service behind 0xA1: every model kind (tensor and text), one owner for inference.

Both call-data layouts start with the 32-byte model hash, so the router looks the model up by
that word and hands the call to the tensor precompile or to the text runtime. A third layout, the
layer-step entry of the opML bisection, starts with the reserved word ``trace.STEP_TAG`` (see
imochain/models/text/trace.py): ``STEP_TAG | modelHash | preimage`` -> ``preHash | postHash``. Text models are
known by their file's hash at start-up and loaded (seconds) only when first used.

Inference is not re-entrant across threads (torch, the runtimes' caches), so every run and
every store change takes this service's lock: the EVM (under the node's lock), RPC dry runs and
the oracle worker all come through here.
"""

from __future__ import annotations

import threading
import time

from imochain.models.errors import PrecompileError
from imochain.models.text.trace import STEP_TAG
from .precompile import InferencePrecompile
from imochain.models.store import ModelStore


class ModelRouter:
    def __init__(self, store: ModelStore, device: str = "auto", text_files: list[str] | None = None):
        self.store = store
        self.lock = threading.RLock()
        self.tensor = InferencePrecompile(store, device)
        self.text_files: dict[bytes, tuple[str, str]] = {}  # hash → (name, path)
        self.int8_text: dict[bytes, tuple[str, str, bool]] = {}  # hash → (name, path, path is a GGUF to export)
        self.steppers: dict = {}  # model hash → trace.Stepper of an int8 text model (layer steps)
        self._traces: dict = {}  # (model hash, prompt, max new) → Trace, the last few answers
        for path in text_files or []:
            self.add_text_file(path)

    # -- text models ---------------------------------------------------------------------------
    def add_text_file(self, path: str, name: str | None = None) -> bytes:
        from imochain.models.text import gguf_file
        from imochain.models.text.int8 import file as int8_file
        if int8_file.sniff(path):
            model_hash = gguf_file.file_hash(path, gguf_file.default_cache_dir())
            self.int8_text[model_hash] = (name or int8_file.peek_name(path), path, False)
            return model_hash
        gguf_file.check_magic(path)
        model_hash = gguf_file.file_hash(path, gguf_file.default_cache_dir())
        if name is None:
            import os
            stem = os.path.basename(path)
            name = "smollm2" if stem.startswith("SmolLM2") else stem.rsplit(".", 1)[0]
        self.text_files[model_hash] = (name, path)
        return model_hash

    def add_stepped_model(self, model, tokenizer=None, name: str = "int8-llama"):
        """Serve an int8 text model (``Int8Llama``) inside the opML game: answers are its traces
        and 0xA1 replays its layer steps. Returns its Stepper."""
        from imochain.models.text.trace import ByteTokenizer, Stepper
        stepper = Stepper(model, tokenizer or ByteTokenizer(int(model.cfg.vocab)))
        stepper.name = name
        with self.lock:
            self.steppers[stepper.model_hash] = stepper
        return stepper

    def is_stepped(self, model_hash: bytes) -> bool:
        """Whether answers of this model are traces the opML bisection can dispute: every int8
        text model (added with add_stepped_model, or a served int8 text file)."""
        return bytes(model_hash) in self.steppers or bytes(model_hash) in self.int8_text

    def stepper(self, model_hash: bytes):
        """The Stepper of an int8 text model (a served file's is built on first use)."""
        h = bytes(model_hash)
        if h not in self.steppers and h in self.int8_text:
            from imochain.models.text.trace import ChatTokenizer, Stepper
            served = self.text_model(h)  # loads (or exports) the file: seconds
            stepper = Stepper(served.net, ChatTokenizer(served))
            stepper.name = self.int8_text[h][0]
            with self.lock:
                self.steppers[h] = stepper
        return self.steppers[h]

    def trace(self, model_hash: bytes, prompt: bytes, max_new: int):
        """The trace of an answer (the operator's copy, cached for the last few prompts)."""
        from imochain.models.text.trace import Trace
        key = (bytes(model_hash), bytes(prompt), max_new)
        with self.lock:
            if key not in self._traces:
                if len(self._traces) >= 16:
                    self._traces.pop(next(iter(self._traces)))
                self._traces[key] = Trace(self.stepper(model_hash), prompt, max_new)
            return self._traces[key]

    def _stepper(self, data: bytes):
        if len(data) < 64:
            raise PrecompileError("layer-step call shorter than tag + model hash")
        if not self.is_stepped(bytes(data[32:64])):
            raise PrecompileError(f"no int8 text model 0x{bytes(data[32:64]).hex()} for layer steps")
        return self.stepper(bytes(data[32:64])), bytes(data[64:])

    def add_model(self, data: bytes) -> bytes:
        """Validate a model file and add it to the store; returns its hash."""
        with self.lock:
            return self.store.add(data)

    def model(self, model_hash: bytes):
        """The tensor model with this hash (PrecompileError when unknown)."""
        return self.store.get(model_hash)

    def warm_up(self) -> None:
        """Import torch and build every tensor model's runtime now, not on the first request;
        one model at a time, so a call waiting for the lock waits for one model at most."""
        for row in self.store.list():
            with self.lock:
                self.tensor.warm_up(bytes.fromhex(row["hash"][2:]))

    def add_int8_export(self, gguf_path: str, name: str) -> bytes | None:
        """Serve the int8 export of a GGUF under its known hash, built on first use (None when
        its hash is not known without building: export it with `imochain model export-text`)."""
        from imochain.models.text.int8.export import known_hash
        model_hash = known_hash(gguf_path)
        if model_hash is not None:
            self.int8_text[model_hash] = (name, gguf_path, True)
        return model_hash

    def is_text(self, model_hash: bytes) -> bool:
        return bytes(model_hash) in self.text_files or bytes(model_hash) in self.int8_text

    def text_model(self, model_hash: bytes):
        if bytes(model_hash) in self.int8_text:
            from imochain.models.text.int8.serve import get_int8_model
            _, path, from_gguf = self.int8_text[bytes(model_hash)]
            return get_int8_model(path, from_gguf, bytes(model_hash))
        from imochain.models.text import get_model
        name, path = self.text_files[bytes(model_hash)]
        return get_model(path)

    def find(self, name: str) -> bytes | None:
        if not self.text_files:
            return self.store.find(name)
        for row in self.list():
            if row["name"] == name:
                return bytes.fromhex(row["hash"][2:])
        return None

    def list(self) -> list[dict]:
        """Every model, each under a unique name: the store resolves clashes among tensor
        models; a text model keeps its name over a tensor model (and the lowest hash among text
        models), the others get ``name@hash8`` as in the store."""
        out = [dict(m, kind=m.get("kind", "tensor")) for m in self.store.list()]
        for h, (name, path) in self.text_files.items():
            out.append({"hash": "0x" + h.hex(), "name": name, "kind": "text", "mode": "fp32",
                        "file": path})
        for h, (name, path, from_gguf) in self.int8_text.items():
            out.append({"hash": "0x" + h.hex(), "name": name, "kind": "text", "mode": "int8", "layerSteps": True,
                        "loaded": h in self.steppers,
                        "file": None if from_gguf else path, **({"source": path} if from_gguf else {})})
        for h, stepper in self.steppers.items():
            if h not in self.int8_text:
                out.append({"hash": "0x" + h.hex(), "name": stepper.name, "kind": "text", "mode": "int8",
                            "layerSteps": True, "loaded": True})
        owners: dict[str, dict] = {}
        for row in sorted(out, key=lambda r: (r["kind"] != "text", r["hash"])):
            owners.setdefault(row["name"], row)
        for row in out:
            if owners[row["name"]] is not row:
                row["name"] = f"{row['name']}@{row['hash'][2:10]}"
        return out

    # -- the precompile interface (what the chain wires at 0xA1) -----------------------------
    @property
    def device(self) -> str:
        return self.tensor.device

    def _text_call(self, data: bytes):
        from imochain.models.text import parse_text_call
        model_hash, prompt, cap, seed = parse_text_call(data)
        return self.text_model(model_hash), prompt, cap, seed

    def gas_cost(self, data: bytes) -> int:
        if bytes(data[:32]) == STEP_TAG:
            from .gas import layer_step_gas
            stepper, preimage = self._stepper(data)
            macs, kv_rows = stepper.step_work(preimage)
            return layer_step_gas(macs, len(data), kv_rows)
        if self.is_text(bytes(data[:32])):
            model, prompt, cap, _ = self._text_call(data)
            return model.quote(prompt, cap)
        return self.tensor.gas_cost(data)

    def execute(self, data: bytes) -> bytes:
        with self.lock:
            if bytes(data[:32]) == STEP_TAG:
                stepper, preimage = self._stepper(data)
                return stepper.replay(preimage)
            if self.is_text(bytes(data[:32])):
                model, prompt, cap, seed = self._text_call(data)
                return model.generate(prompt, cap, seed).encode("utf-8")
            return self.tensor.execute(data)

    def execute_batch(self, model_hash: bytes, tensors: list[bytes]) -> list[bytes]:
        if self.is_text(model_hash):
            raise PrecompileError("text models answer one prompt at a time")
        with self.lock:
            return self.tensor.execute_batch(model_hash, tensors)

    def generate(self, model_hash: bytes, prompt: bytes, max_new_tokens: int, seed: int | None = None) -> bytes:
        """An oracle request's answer: the prompt's UTF-8 text in, UTF-8 text out."""
        with self.lock:
            return self.text_model(model_hash).generate(prompt, max_new_tokens, seed).encode("utf-8")

    def answer(self, model_hash: bytes, prompt: bytes, max_new_tokens: int) -> bytes:
        """An oracle text answer: greedy, ended at its first full sentence (or the cap); an int8
        text model's answer is its trace's: greedy to a stop token or the game's cap (state 0
        commits to that cap, so the worker's own cap does not apply)."""
        from imochain.models.text.sentences import generate_sentence
        if self.is_stepped(model_hash):
            from imochain.models.text.trace import GAME_MAX_NEW_TOKENS
            return self.trace(model_hash, prompt, GAME_MAX_NEW_TOKENS).answer
        with self.lock:
            return generate_sentence(self.text_model(model_hash), prompt, max_new_tokens)

    def name_of(self, model_hash: bytes) -> str:
        """A model's name (text or tensor); PrecompileError when unknown."""
        if bytes(model_hash) in self.steppers and bytes(model_hash) not in self.int8_text:
            return self.steppers[bytes(model_hash)].name
        entry = self.text_files.get(bytes(model_hash)) or self.int8_text.get(bytes(model_hash))
        return entry[0] if entry else self.store.get(model_hash).name

    def dry_run(self, data: bytes) -> dict:
        if not self.is_text(bytes(data[:32])):
            with self.lock:
                return self.tensor.dry_run(data)
        gas = self.gas_cost(data)
        start = time.perf_counter()
        output = self.execute(data)
        return {"output": "0x" + output.hex(), "text": output.decode("utf-8"), "gas": gas,
                "device": "cpu", "micros": (time.perf_counter() - start) * 1e6}

    def quote_gas_cost(self, data: bytes) -> int:
        return self.tensor.quote_gas_cost(data)

    def quote(self, data: bytes) -> bytes:
        if len(data) == 32 and self.is_stepped(bytes(data)):
            return self._stepped_quote(bytes(data))
        return self.tensor.quote(data)

    def _stepped_quote(self, model_hash: bytes) -> bytes:
        """0xA2 metadata of an int8 text model (so the oracle registers it for the opML game):
        name, int8 mode, UTF-8 bytes in and out (dtype uint8, no fixed shape), the MACs and gas
        of one layer step at position 0."""
        from eth_abi import encode
        from .gas import layer_step_gas
        stepper = self.stepper(model_hash)  # a served file loads here on first use (seconds)
        macs, _ = stepper.step_work(bytes([1]) + bytes(19))
        return encode(["string", "uint8", "uint8", "uint32[]", "uint8", "uint32[]", "uint256", "uint256", "uint256"],
                      [self.name_of(model_hash), 1, 0, [], 0, [], macs, 0, layer_step_gas(macs, 64)])
