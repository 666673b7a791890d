"""A real browser (Debian's headless chromium) against the node: a page on a foreign origin
cannot make it mine, whatever it sends; a page on a local dev server can call it."""

from __future__ import annotations

import http.server
import re
import shutil
import subprocess
import threading

import pytest

from imochain.testing import free_port, rpc, running_node

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable on this machine")

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const node = "%s", body = JSON.stringify({jsonrpc: "2.0", id: 1, method: "evm_mine", params: []});
const attempt = async (label, init) => {
  try { const r = await fetch(node, Object.assign({method: "POST", body}, init));
        return label + "=" + r.status + ":" + (await r.text()).slice(0, 60); }
  catch (e) { return label + "=blocked"; }
};
(async () => {
  const out = [];
  out.push(await attempt("plain", {}));                                              // text/plain, no preflight
  out.push(await attempt("blob", {body: new Blob([body])}));                          // no content type at all
  out.push(await attempt("nocors", {mode: "no-cors", headers: {"Content-Type": "text/plain"}}));
  out.push(await attempt("json", {headers: {"Content-Type": "application/json"}}));   // preflighted
  document.getElementById("out").textContent = "done " + out.join(" | ");
})();
</script></body></html>"""


def serve_page(host: str, html: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer((host, free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def visit(url: str) -> str:
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--virtual-time-budget=20000", "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    match = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert match, proc.stderr[-2000:]
    return match.group(1)


def test_pages_on_foreign_and_local_origins():
    with running_node() as node_url:
        start = int(rpc(node_url, "eth_blockNumber")["result"], 16)
        foreign = serve_page("127.0.0.2", PAGE % node_url)  # another origin: 127.0.0.2 is not a dev server
        try:
            out = visit(f"http://127.0.0.2:{foreign.server_address[1]}/")
        finally:
            foreign.shutdown()
        assert out.startswith("done"), out
        # text/plain and Blob posts go out without a preflight (the node refuses them, 415 or
        # 403, and the page may not read why); the JSON post's preflight is refused
        assert "plain=blocked" in out and "blob=blocked" in out and "json=blocked" in out, out
        assert int(rpc(node_url, "eth_blockNumber")["result"], 16) == start  # nothing was mined

        local = serve_page("127.0.0.1", PAGE % node_url)  # a local dev server (any port)
        try:
            out = visit(f"http://localhost:{local.server_address[1]}/")
        finally:
            local.shutdown()
        assert "json=200" in out and '"result":"0x0"' in out, out
        assert "plain=415" in out, out  # even a trusted page must send JSON
        assert int(rpc(node_url, "eth_blockNumber")["result"], 16) == start + 1
