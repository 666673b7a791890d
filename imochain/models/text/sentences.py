"""Where an oracle text answer ends: at its first full sentence, the end-of-turn token or the cap."""

from __future__ import annotations

import re

# a sentence ends at . ! or ? (closing quotes or brackets may follow) before white space
_END = re.compile(r"[.!?][\"')\]]*(?=\s)")
_ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "st", "no", "fig"}


def first_sentence_end(text: str) -> int | None:
    """Index just past the first sentence's end in `text`, or None while there is none yet."""
    for m in _END.finditer(text):
        word = re.search(r"(\S+)$", text[:m.start()])
        stem = word.group(1).lower() if word else ""
        if stem in _ABBREVIATIONS or (len(stem) == 1 and stem.isalpha()) or stem.isdigit():
            continue  # "e.g.", "A. Turing", "1. first": not the end of a sentence
        return m.end()
    return None


class _Enough(Exception):
    pass


def generate_sentence(model, prompt: bytes, max_new_tokens: int) -> bytes:
    """Greedy answer from a text model, stopped after its first sentence (one token later, to see
    the space that follows), at the end-of-turn token, or after `max_new_tokens`."""
    pieces: list[str] = []

    def watch(piece: str) -> None:
        pieces.append(piece)
        if first_sentence_end("".join(pieces)) is not None:
            raise _Enough

    try:
        text = model.generate(prompt, max_new_tokens, None, stream=watch)
    except _Enough:
        text = "".join(pieces)
        text = text[:first_sentence_end(text)]
    return text.strip().encode("utf-8")
