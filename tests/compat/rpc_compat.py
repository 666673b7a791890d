"""Ethereum's rpc-compat fixtures (execution-apis `tests/*/*.io`), replayed as hive replays them:
each `>>` request is sent, and its `<<` answer compared — results must be JSON-equal; where an
error is expected any error passes; `speconly` fixtures only need a result."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Exchange:
    request: dict
    expected: dict


@dataclass
class Fixture:
    name: str  # "method/file" without .io
    speconly: bool
    exchanges: list[Exchange] = field(default_factory=list)


def load(folder: Path) -> list[Fixture]:
    fixtures = []
    for path in sorted(folder.glob("*/*.io")):
        fixture = Fixture(f"{path.parent.name}/{path.stem}", False)
        request = None
        for line in path.read_text().splitlines():
            if line.startswith("//"):
                fixture.speconly |= "speconly" in line
            elif line.startswith(">> "):
                request = json.loads(line[3:])
            elif line.startswith("<< "):
                fixture.exchanges.append(Exchange(request, json.loads(line[3:])))
        fixtures.append(fixture)
    return fixtures


def compare(fixture: Fixture, answer_of) -> str | None:
    """None when every exchange matches; else what differed first. `answer_of(request)` sends."""
    for ex in fixture.exchanges:
        got = answer_of(ex.request)
        if "error" in ex.expected:
            if "error" not in got:
                return f"{ex.request['method']}: expected an error, got a result"
            continue
        if "error" in got:
            return f"{ex.request['method']}: error {got['error']}"
        if fixture.speconly:
            continue
        if got.get("result") != ex.expected.get("result"):
            return f"{ex.request['method']}: result differs: {_first_difference(ex.expected.get('result'), got.get('result'))}"
    return None


def _first_difference(want, got, path: str = "") -> str:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            if want.get(key, "<absent>") != got.get(key, "<absent>"):
                return _first_difference(want.get(key, "<absent>"), got.get(key, "<absent>"), f"{path}.{key}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g:
                return _first_difference(w, g, f"{path}[{i}]")
    return f"{path or 'result'}: want {json.dumps(want)[:120]}, got {json.dumps(got)[:120]}"
