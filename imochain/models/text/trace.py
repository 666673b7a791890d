"""Text answers as traces of steps: state hashes, their Merkle commitment, and the preimages 0xA1's layer-step entry replays.

A step is one layer of one token, or one head step.

Steps. A greedy answer of an int8 Llama (``Int8Llama``) is cut into steps over the positions
``t`` of prompt + generated tokens:

    state 0            tokens = encode(prompt), x = embed(tokens[0]), every KV digest zero
    layer step (t, l)  x, k, v = layer(l, t, x, cache_l[:t]); d_l = keccak(d_l | k | v)
    head step  (t)     next = tokens[t+1] while still inside the prompt, else argmax head(x);
                       the answer is done at a stop token or after ``max_new`` generated tokens,
                       else x = embed(next) enters layer 0 of position t+1
    answer step        a done state -> ANSWER leaf = keccak(ANSWER_TAG | keccak(answer bytes))

A state fully determines its next step: it commits to the step index, position, layer (``L`` =
"before the head"), done flag, prompt length, ``max_new``, the model hash, keccak of x (int32
little-endian), keccak of the token ids (uint32 big-endian) and keccak of the per-layer KV digests
d_0..d_{L-1}, each a hash chain d_{l,t} = keccak(d_{l,t-1} | k_t | v_t) over int8 rows.

The leaves of the commitment are the state hashes, then the answer leaf; the root is a binary
keccak Merkle tree over them, padded with zero words to a power of two. The last leaf ties the
trace to the delivered answer, and state 0 follows from the request's prompt, so a contract can
check both ends itself (OpMLBisection.sol).

Preimages (what the contract hands 0xA1 for the one disputed step) are packed bytes:

    init:  0x00 | uint32 maxNew | prompt bytes
    step:  0x01 | header (19 bytes) | uint32 n | n x uint32 token | x (width int32 LE)
           | L x 32-byte digests | layer l's cache: t rows of k, then t rows of v (int8),
           only for a layer step

and the layer-step entry answers ``preStateHash | postStateHash`` (64 bytes; zero pre-hash for
init), checking the cache against its digest before it runs the layer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

import numpy as np
from eth_utils import keccak

from imochain.models.errors import PrecompileError

# First word of a layer-step call to 0xA1: never a model hash (those are keccak of model files).
STEP_TAG = keccak(b"imochain.opml.layer-step.v1")
ANSWER_TAG = keccak(b"imochain.opml.answer.v1")
KIND_INIT, KIND_STEP = 0, 1
HEADER = struct.Struct(">IIHBII")  # step, pos, layer, done, prompt_len, max_new
ZERO = bytes(32)
MAX_POSITIONS = 320  # prompt + answer tokens one trace may hold: a settle at the last one carries
# that layer's KV cache (388 bytes a position at SmolLM2's shape) and must stay under the 128 KiB
# a node (geth's pool, imochain's) accepts in one transaction's calldata
MAX_PROMPT_BYTES = 16 * 1024
# Generated-token cap of an oracle answer inside the game: OpMLBisection's maxNewTokens at genesis
# (contracts.genesis.BISECTION_MAX_NEW_TOKENS); the operator answers with exactly this cap.
GAME_MAX_NEW_TOKENS = 64


@dataclass(frozen=True)
class State:
    step: int
    pos: int
    layer: int  # 0..L-1: before that layer; L: before the head
    done: bool
    prompt_len: int
    max_new: int
    tokens: tuple
    x: np.ndarray  # int32 (width,), empty once done
    digests: tuple  # per-layer KV digest

    def header(self) -> bytes:
        return HEADER.pack(self.step, self.pos, self.layer, int(self.done), self.prompt_len, self.max_new)

    def hash(self, model_hash: bytes) -> bytes:
        tokens = b"".join(t.to_bytes(4, "big") for t in self.tokens)
        return keccak(self.header() + model_hash + keccak(_x_bytes(self.x)) + keccak(tokens)
                      + keccak(b"".join(self.digests)))


def answer_leaf(answer: bytes) -> bytes:
    return keccak(ANSWER_TAG + keccak(answer))


def _x_bytes(x: np.ndarray) -> bytes:
    return np.ascontiguousarray(x, dtype="<i4").tobytes()


def _row_bytes(row: np.ndarray) -> bytes:
    return np.ascontiguousarray(row, dtype=np.int8).tobytes()


class ByteTokenizer:
    """Token = byte (mod the vocabulary): what tiny random models answer with, no vocabulary file."""

    stop_ids: tuple = ()

    def __init__(self, vocab: int = 256):
        self.vocab = vocab

    def encode(self, prompt: bytes) -> list[int]:
        return [b % self.vocab for b in prompt]

    def decode(self, ids) -> bytes:
        return bytes(i & 0xFF for i in ids)


class ChatTokenizer:
    """The tokenizer side of a served int8 text model (``Int8TextModel``): the prompt through its
    chat template, answer tokens to UTF-8 (invalid bytes replaced, as its ``generate`` does)."""

    def __init__(self, text_model):
        self.text_model = text_model
        self.stop_ids = tuple(int(t) for t in text_model.template.stop_ids)

    def encode(self, prompt: bytes) -> list[int]:
        return self.text_model.encode_prompt(bytes(prompt))

    def decode(self, ids) -> bytes:
        raw = b"".join(self.text_model.tokenizer.token_bytes[t] for t in ids)
        return raw.decode("utf-8", errors="replace").encode("utf-8")


class Stepper:
    """The step function of one model: state 0 from a prompt, and each next state."""

    name = "int8-llama"

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer
        self.layers = int(model.cfg.layers)
        self.model_hash = bytes(model.model_hash)
        self.stop_ids = frozenset(getattr(tokenizer, "stop_ids", ()) or ())

    def initial(self, prompt: bytes, max_new: int) -> State:
        if not 1 <= max_new <= MAX_POSITIONS:
            raise PrecompileError(f"maxNew must be 1..{MAX_POSITIONS}, got {max_new}")
        if len(prompt) > MAX_PROMPT_BYTES:
            raise PrecompileError(f"prompt of {len(prompt)} bytes, limit {MAX_PROMPT_BYTES}")
        tokens = tuple(int(t) for t in self.tokenizer.encode(bytes(prompt)))
        if not tokens:
            raise PrecompileError("empty prompt")
        limit = min(MAX_POSITIONS, int(getattr(self.model, "max_positions", MAX_POSITIONS)))
        if len(tokens) + max_new > limit:
            raise PrecompileError(f"prompt of {len(tokens)} tokens + {max_new} new exceeds the model's {limit} positions")
        return State(0, 0, 0, False, len(tokens), max_new, tokens, self._embed(tokens[0]), (ZERO,) * self.layers)

    def _embed(self, token: int) -> np.ndarray:
        return np.asarray(self.model.embed(token), dtype=np.int32)

    def layer(self, s: State, k: np.ndarray, v: np.ndarray):
        """(next state, k row, v row) of a layer step; k, v: this layer's cache rows 0..pos-1."""
        x, k_new, v_new = self.model.layer(s.layer, s.pos, s.x, k, v)
        digests = list(s.digests)
        digests[s.layer] = keccak(digests[s.layer] + _row_bytes(k_new) + _row_bytes(v_new))
        nxt = replace(s, step=s.step + 1, layer=s.layer + 1, x=np.asarray(x, dtype=np.int32),
                      digests=tuple(digests))
        return nxt, np.asarray(k_new, dtype=np.int8), np.asarray(v_new, dtype=np.int8)

    def head(self, s: State) -> State:
        inside_prompt = s.pos + 1 < s.prompt_len
        token = s.tokens[s.pos + 1] if inside_prompt else int(self.model.head(s.x))
        tokens = s.tokens if inside_prompt else s.tokens + (token,)
        generated = len(tokens) - s.prompt_len
        done = not inside_prompt and (token in self.stop_ids or generated >= s.max_new)
        x = np.zeros(0, dtype=np.int32) if done else self._embed(token)
        return replace(s, step=s.step + 1, pos=s.pos + 1, layer=0, done=done, tokens=tokens, x=x)

    def answer(self, s: State) -> bytes:
        generated = [t for t in s.tokens[s.prompt_len:] if t not in self.stop_ids]
        return bytes(self.tokenizer.decode(generated))

    # -- the precompile side: one step from its packed preimage ------------------------------
    def replay(self, preimage: bytes) -> bytes:
        """``preStateHash | postStateHash`` of the step a preimage describes (0xA1's entry)."""
        if not preimage:
            raise PrecompileError("empty layer-step preimage")
        if preimage[0] == KIND_INIT:
            if len(preimage) < 5:
                raise PrecompileError("init preimage shorter than 5 bytes")
            max_new = int.from_bytes(preimage[1:5], "big")
            return ZERO + self.initial(preimage[5:], max_new).hash(self.model_hash)
        if preimage[0] != KIND_STEP:
            raise PrecompileError(f"unknown layer-step kind {preimage[0]}")
        s, k, v = self.unpack(preimage)
        if s.done:
            post = answer_leaf(self.answer(s))
        elif s.layer == self.layers:
            post = self.head(s).hash(self.model_hash)
        else:
            post = self.layer(s, k, v)[0].hash(self.model_hash)
        return s.hash(self.model_hash) + post

    def step_work(self, preimage: bytes) -> tuple[int, int]:
        """(MACs, KV rows hashed) of the step a preimage describes, from its header alone (gas is
        priced before anything runs): a layer's projections, MLP and attention over ``pos + 1``
        positions, and the digest check over its ``pos`` cached rows; a generating head step's
        vocabulary projection; nothing for state 0."""
        if not preimage or preimage[0] == KIND_INIT:
            return 0, 0
        if len(preimage) < 1 + HEADER.size:
            raise PrecompileError("layer-step preimage too short")
        _, pos, layer, done, prompt_len, _ = HEADER.unpack(preimage[1:1 + HEADER.size])
        if done:
            return 0, 0
        width = self.width
        if layer >= self.layers:
            return (width * self.vocab if pos + 1 >= prompt_len else 0), 0
        c = self.model.cfg
        q_dim = c.heads * c.head_dim
        # q, k, v and o projections, gate/up/down, attention scores and values over pos + 1 rows
        return width * (2 * q_dim + 2 * self.kv_dim) + 3 * width * c.ffn + 2 * (pos + 1) * q_dim, pos

    def pack(self, s: State, k: np.ndarray | None = None, v: np.ndarray | None = None) -> bytes:
        out = [bytes([KIND_STEP]), s.header(), len(s.tokens).to_bytes(4, "big"),
               b"".join(t.to_bytes(4, "big") for t in s.tokens), _x_bytes(s.x), b"".join(s.digests)]
        if not s.done and s.layer < self.layers:
            out += [_row_bytes(k), _row_bytes(v)]
        return b"".join(out)

    def unpack(self, data: bytes):
        """(state, k, v) of a step preimage; PrecompileError on any malformed or inconsistent field."""
        data = bytes(data)
        at = 1 + HEADER.size
        if len(data) < at + 4:
            raise PrecompileError("layer-step preimage too short")
        step, pos, layer, done, prompt_len, max_new = HEADER.unpack(data[1:at])
        n = int.from_bytes(data[at:at + 4], "big")
        at += 4
        if done > 1 or layer > self.layers or (done and layer != 0):
            raise PrecompileError("bad layer-step header")
        if not (1 <= prompt_len <= n <= prompt_len + max_new <= MAX_POSITIONS) or pos >= n:
            raise PrecompileError("layer-step header: token count out of range")
        width = 0 if done else self.width
        kv_rows = 0 if done or layer == self.layers else pos
        need = at + 4 * n + 4 * width + 32 * self.layers + 2 * kv_rows * self.kv_dim
        if len(data) != need:
            raise PrecompileError(f"layer-step preimage of {len(data)} bytes, expected {need}")
        tokens = tuple(int.from_bytes(data[at + 4 * i:at + 4 * i + 4], "big") for i in range(n))
        if max(tokens) >= self.vocab:
            raise PrecompileError("token id outside the vocabulary")
        at += 4 * n
        x = np.frombuffer(data, dtype="<i4", count=width, offset=at).astype(np.int32)
        at += 4 * width
        digests = tuple(data[at + 32 * i:at + 32 * i + 32] for i in range(self.layers))
        at += 32 * self.layers
        rows = np.frombuffer(data, dtype=np.int8, offset=at).reshape(2 * kv_rows, self.kv_dim) \
            if kv_rows else np.zeros((0, self.kv_dim), dtype=np.int8)
        k, v = rows[:kv_rows], rows[kv_rows:]
        if kv_rows:
            d = ZERO
            for t in range(kv_rows):
                d = keccak(d + k[t].tobytes() + v[t].tobytes())
            if d != digests[layer]:
                raise PrecompileError(f"layer {layer}'s KV cache does not match its digest")
        return State(step, pos, layer, bool(done), prompt_len, max_new, tokens, x, digests), k.copy(), v.copy()

    @property
    def width(self) -> int:
        return int(self._embed(0).shape[0])

    @property
    def kv_dim(self) -> int:
        return int(self.model.kv_dim)

    @property
    def vocab(self) -> int:
        return int(self.model.cfg.vocab)


class Trace:
    """Every state of one answer (what the operator keeps and a challenger recomputes).

    ``tamper(i, state) -> state`` makes a lying trace: it may change the state computed at index
    i, and the trace goes on honestly from the changed state (tests and the demo's lying oracle).
    """

    def __init__(self, stepper: Stepper, prompt: bytes, max_new: int, tamper=None):
        self.stepper = stepper
        self.prompt = bytes(prompt)
        s = stepper.initial(prompt, max_new)
        self.states = [tamper(0, s) if tamper else s]
        self.kv = [[] for _ in range(stepper.layers)]  # per layer: (k, v) rows by position
        while not self.states[-1].done:
            s = self.states[-1]
            if s.layer == stepper.layers:
                s = stepper.head(s)
            else:
                k, v = self._cache(s.layer, s.pos)
                s, k_new, v_new = stepper.layer(s, k, v)
                self.kv[s.layer - 1].append((k_new, v_new))
            self.states.append(tamper(len(self.states), s) if tamper else s)
        self.answer = stepper.answer(self.states[-1])
        model_hash = stepper.model_hash
        self.leaves = [s.hash(model_hash) for s in self.states] + [answer_leaf(self.answer)]
        self.levels = merkle_levels(self.leaves)

    def claiming(self, answer: bytes) -> "Trace":
        """A copy whose last leaf claims ``answer`` instead (a lying operator's commitment to an
        answer its own steps do not produce: the dispute ends at the answer step)."""
        lie = object.__new__(Trace)
        lie.__dict__.update(self.__dict__)
        lie.answer = bytes(answer)
        lie.leaves = self.leaves[:-1] + [answer_leaf(lie.answer)]
        lie.levels = merkle_levels(lie.leaves)
        return lie

    def _cache(self, layer: int, pos: int):
        rows = self.kv[layer][:pos]
        dim = self.stepper.kv_dim
        k = np.stack([r[0] for r in rows]) if rows else np.zeros((0, dim), dtype=np.int8)
        v = np.stack([r[1] for r in rows]) if rows else np.zeros((0, dim), dtype=np.int8)
        return k, v

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def __len__(self) -> int:
        return len(self.leaves)

    def proof(self, i: int) -> list[bytes]:
        return merkle_proof(self.levels, i)

    def preimage(self, i: int) -> bytes:
        """Packed pre-state of step i -> i+1 (i < len - 1); its layer's cache rows included."""
        s = self.states[i]
        if s.done or s.layer == self.stepper.layers:
            return self.stepper.pack(s)
        return self.stepper.pack(s, *self._cache(s.layer, s.pos))

    def init_preimage(self) -> bytes:
        return bytes([KIND_INIT]) + self.states[0].max_new.to_bytes(4, "big") + self.prompt

    def locate(self, i: int) -> str:
        """Where step i sits, for people: 'token 3 layer 1', 'token 3 head', 'answer'."""
        if i >= len(self.states):
            return "answer"
        s = self.states[i]
        if s.done:
            return f"done after {len(s.tokens) - s.prompt_len} tokens"
        return f"token {s.pos} " + ("head" if s.layer == self.stepper.layers else f"layer {s.layer}")


def merkle_levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every level of the keccak tree over the leaves, padded with zero words to a power of two."""
    level = list(leaves) + [ZERO] * ((1 << max(0, (len(leaves) - 1).bit_length())) - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def merkle_proof(levels: list[list[bytes]], i: int) -> list[bytes]:
    out = []
    for level in levels[:-1]:
        out.append(level[i ^ 1])
        i >>= 1
    return out


def merkle_verify(root: bytes, leaf: bytes, i: int, proof: list[bytes]) -> bool:
    node = leaf
    for sibling in proof:
        node = keccak(sibling + node) if i & 1 else keccak(node + sibling)
        i >>= 1
    return node == root
