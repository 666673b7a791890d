// The Chain page: new blocks arrive over the node's WebSocket (eth_subscribe newHeads).
import {el, rpc} from "/static/rpc.js";

const table = document.getElementById("blocks"), live = document.getElementById("live");
const ages = () => document.querySelectorAll("td.ts").forEach((td) => {
  const s = Math.max(0, Math.round(Date.now() / 1000 - Number(td.dataset.ts)));
  td.textContent = s < 120 ? `${s} s ago` : `${Math.round(s / 60)} min ago`;
});

function link(href, text, cls) { const a = el("a", text, cls); a.href = href; return a; }

async function addBlock(head) {
  const n = parseInt(head.number, 16);
  if (table.querySelector(`tr[data-number="${n}"]`)) return;
  const block = await rpc("eth_getBlockByNumber", [head.number, false]);
  const tr = document.createElement("tr");
  tr.dataset.number = n; tr.className = "fresh";
  const cells = [link(`/block/${n}`, `#${n}`), null, el("span", String(block.transactions.length)),
    el("span", parseInt(block.gasUsed, 16).toLocaleString("en")), link(`/block/${block.hash}`, block.hash.slice(0, 10) + "…", "hash")];
  cells.forEach((c, i) => {
    const td = document.createElement("td");
    if (i === 1) { td.className = "ts"; td.dataset.ts = parseInt(block.timestamp, 16); } else td.appendChild(c);
    tr.appendChild(td);
  });
  table.querySelector("tr").after(tr);
  document.getElementById("head").textContent = `#${n}`;
  const rows = table.querySelectorAll("tr[data-number]");
  if (rows.length > 20) rows[rows.length - 1].remove();
  ages();
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}/`);
  ws.onopen = () => {
    ws.send(JSON.stringify({jsonrpc: "2.0", id: 1, method: "eth_subscribe", params: ["newHeads"]}));
    live.textContent = "live"; live.classList.add("good");
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.method === "eth_subscription") addBlock(msg.params.result);
  };
  ws.onclose = () => { live.textContent = "reconnecting…"; live.classList.remove("good"); setTimeout(connect, 2000); };
}
ages();
setInterval(ages, 5000);
connect();
