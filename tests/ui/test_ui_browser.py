"""The explorer in a real browser (Playwright driving Debian's chromium): every page, the live
block list, "try it", and the playground's oracle round trip, honest and lying."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from eth_abi import decode as abi_decode

from .ui_support import call, served_node

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("no chromium found (apt-get install -y chromium): browser tests skipped", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")

REPO = Path(__file__).resolve().parents[2]
WAIT_MS = 120_000  # a loaded 2-core machine: inference and blocks can take seconds


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where screenshots go: docs/ui/ when IMOCHAIN_UI_SCREENSHOTS=1 (to refresh the README's), else a temp dir."""
    if os.environ.get("IMOCHAIN_UI_SCREENSHOTS") == "1":
        folder = REPO / "docs" / "ui"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("ui-shots")


@pytest.fixture(scope="module")
def chain():
    """A node with the oracle services, after the whole IMO demo story has run on it."""
    from web3 import Web3

    from imochain.demo import Demo
    with served_node() as (url, node):
        w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 120}))
        assert Demo(w3, quiet=True).run()["ok"]
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(WAIT_MS)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def draw_seven(page) -> None:
    box = page.locator("#pad").bounding_box()
    cell = box["width"] / 8

    def at(x, y):
        return box["x"] + (x + 0.5) * cell, box["y"] + (y + 0.5) * cell
    for stroke in (((1, 0), (6, 0)), ((6, 0), (2, 7))):
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        page.mouse.move(*at(*stroke[1]), steps=12)
        page.mouse.up()


def model_class(url: str, tensor_hex: str) -> int:
    model = next(m["hash"] for m in call(url, "imo_listModels") if m["name"] == "digits-classifier")
    dtype, _, raw = abi_decode(["uint8", "uint32[]", "bytes"], bytes.fromhex(call(url, "imo_dryRun", model, tensor_hex)["output"][2:]))
    return int(np.argmax(np.frombuffer(raw, dtype={1: "<i1", 2: "<i4", 3: "<f4"}[dtype])))


def test_click_through_every_page(chain, page, shots):
    page.goto(chain + "/")
    for label, name, marker in (("Accounts", "accounts", "#accounts"), ("Models", "models", "#models"),
                                ("Oracle", "oracle", "tr.request"), ("IMO", "imo", "section.offering"),
                                ("Playground", None, "#pad"), ("Costs", "costs", "article.report img"),
                                ("Chain", "chain", "#blocks tr[data-number]")):
        page.click(f"header nav >> text={label}")
        page.wait_for_selector(marker)
        assert page.locator("h1").count() and "Error" not in page.locator("h1").first.inner_text()
        if name:  # the playground is pictured in use, by its own test
            page.screenshot(path=str(shots / f"{name}.png"), full_page=name not in ("costs", "oracle", "imo"))
    page.click("header nav >> text=IMO")
    assert page.locator("#gallery svg.digit").count() >= 1 and "verified" in page.inner_text("#gallery")
    assert "DIGIT" in page.inner_text("main")  # the ERC-7641 token from the offering
    page.click("header nav >> text=Accounts")
    key = page.locator("#accounts details").first
    assert not key.locator("code.key").is_visible()
    key.locator("summary").click()
    assert key.locator("code.key").inner_text().startswith("0xac0974bec")
    page.click("header nav >> text=Chain")
    page.locator("#txs a.hash").first.click()
    page.wait_for_selector("#trace")
    page.screenshot(path=str(shots / "transaction.png"), full_page=True)
    page.locator("main table.kv a.addr").first.click()
    page.wait_for_selector("#balance")
    page.fill("header input[name=q]", "0")
    page.press("header input[name=q]", "Enter")
    page.wait_for_selector("text=Block #0")
    page.fill("header input[name=q]", "0x" + "12" * 32)
    page.press("header input[name=q]", "Enter")
    page.wait_for_selector("p.notfound")


def test_live_block_list_updates(chain, page):
    page.goto(chain + "/")
    page.wait_for_selector("#live.good")
    call(chain, "evm_mine")
    head = int(call(chain, "eth_blockNumber"), 16)
    page.wait_for_selector(f'#blocks tr[data-number="{head}"]')
    assert page.inner_text("#head") == f"#{head}"


def test_model_page_try_it(chain, page, shots):
    page.goto(chain + "/models")
    page.click("text=digits-classifier")
    page.wait_for_selector("#graph li.layer")
    draw_seven(page)
    page.click("#run")
    page.wait_for_selector("#result .class")
    assert "gas" in page.inner_text("#result")
    page.screenshot(path=str(shots / "model.png"), full_page=True)
    page.goto(chain + "/models")
    page.click("text=digits-generator")
    page.select_option("#digit", "3")
    page.click("#run")
    page.wait_for_selector("#result svg.digit")


def test_playground_round_trip_then_the_challenger_wins(chain, page, shots):
    page.goto(chain + "/playground")
    page.select_option("#account", index=6)
    draw_seven(page)
    page.click("#ask")
    page.wait_for_selector("#class")
    assert page.locator("#callback").count() == 1
    assert page.locator("#answer svg.digit").count() == 1  # the drawn image beside the class
    sent = page.get_attribute("#answer", "data-input")
    assert int(page.inner_text("#class")) == model_class(chain, sent)
    steps = page.inner_text("#steps")
    assert "AICallbackRequest" in steps and "batched inference" in steps and "callback delivered" in steps
    page.screenshot(path=str(shots / "playground.png"), full_page=True)

    page.check("#lie")
    page.click("#clear")
    draw_seven(page)
    page.mouse.click(*_cell_center(page, 3, 4))  # a different input from the first request
    page.click("#ask")
    page.wait_for_selector("#challenge")
    assert "challenger won" in page.inner_text("#challenge") and "LIED" in page.inner_text("#steps")
    page.wait_for_selector("#steps >> text=done")
    assert int(page.inner_text("#class")) == model_class(chain, page.get_attribute("#answer", "data-input"))
    page.screenshot(path=str(shots / "playground-lie.png"), full_page=True)
    assert call(chain, "imo_oracleStatus")["faultRate"] == 0.0  # the page switched the fault off again


def _cell_center(page, x, y):
    box = page.locator("#pad").bounding_box()
    return box["x"] + (x + 0.5) * box["width"] / 8, box["y"] + (y + 0.5) * box["height"] / 8


def test_playground_asks_the_language_model(chain, page):
    page.goto(chain + "/playground")
    if not page.locator("#ask-text").count():
        pytest.skip("no text model is registered with this node's oracle (SmolLM2 comes with `make install`)")
    page.fill("#question", "Name a colour.")
    page.click("#ask-text")
    page.wait_for_selector("#answer q.text")
    answer = page.inner_text("#answer q.text")
    assert answer.strip() and "callback delivered" in page.inner_text("#steps")
    model = next(m["hash"] for m in call(chain, "imo_listModels") if m.get("kind") == "text")
    page.goto(f"{chain}/model/{model}")
    page.fill("#prompt", "Name a colour.")
    page.click("#run")
    page.wait_for_selector("#result q.text")
