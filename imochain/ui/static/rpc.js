// Shared helpers: the node's own JSON-RPC, a little ABI encoding, tensors, the 8×8 drawing pad.
let nextId = 1;

export async function rpc(method, params = []) {
  const resp = await fetch("/", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({jsonrpc: "2.0", id: nextId++, method, params})});
  const body = await resp.json();
  if (body.error) throw new Error(body.error.message);
  return body.result;
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
export const word = (n) => BigInt(n).toString(16).padStart(64, "0");
function padded(bytes) { return hex(bytes) + "00".repeat((32 - (bytes.length % 32)) % 32); }

// abi.encode(uint8 dtype, uint32[] shape, bytes data): the precompile's tensor.
export function tensor(dtype, shape, bytes) {
  const head = word(dtype) + word(96) + word(96 + 32 * (1 + shape.length));
  const dims = word(shape.length) + shape.map(word).join("");
  return "0x" + head + dims + word(bytes.length) + padded(bytes);
}

// selector + abi.encode(uint256, bytes)
export function callUintBytes(selector, n, dataHex) {
  const data = fromHex(dataHex);
  return selector + word(n) + word(64) + word(data.length) + padded(data);
}

export function fromHex(h) {
  const s = h.startsWith("0x") ? h.slice(2) : h;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}

// The values of an encoded tensor (dtype 1 int8, 2 int32, 3 float32; little-endian), or null.
export function tensorValues(h) {
  const b = fromHex(h);
  if (b.length < 96) return null;
  const num = (off) => Number(BigInt("0x" + hex(b.slice(off, off + 32))));
  const dtype = num(0), dataAt = num(64);
  if (dataAt + 32 > b.length) return null;
  const data = b.slice(dataAt + 32, dataAt + 32 + num(dataAt));
  const view = new DataView(data.buffer);
  if (dtype === 1) return Array.from(data, (v) => (v > 127 ? v - 256 : v));
  if (dtype === 2) return Array.from({length: data.length / 4}, (_, i) => view.getInt32(4 * i, true));
  if (dtype === 3) return Array.from({length: data.length / 4}, (_, i) => view.getFloat32(4 * i, true));
  return null;
}

export function argmax(values) { return values.indexOf(Math.max(...values)); }

// The dynamic `bytes` whose offset is head word `index` of ABI-encoded data (0: a call's return).
export function decodeBytes(h, index = 0) {
  const b = fromHex(h);
  if (b.length < 32 * (index + 2)) return new Uint8Array();
  const off = Number(BigInt("0x" + hex(b.slice(32 * index, 32 * index + 32))));
  const len = Number(BigInt("0x" + hex(b.slice(off, off + 32))));
  return b.slice(off + 32, off + 32 + len);
}

export function digitSvg(values, size = 96) {
  const lo = Math.min(...values), hi = Math.max(...values), span = (hi - lo) || 1;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 8 8"); svg.setAttribute("width", size); svg.setAttribute("height", size);
  svg.setAttribute("class", "digit"); svg.setAttribute("shape-rendering", "crispEdges");
  values.slice(0, 64).forEach((v, i) => {
    const r = document.createElementNS(ns, "rect"), shade = Math.round(255 - 255 * (v - lo) / span);
    r.setAttribute("x", i % 8); r.setAttribute("y", Math.floor(i / 8)); r.setAttribute("width", 1); r.setAttribute("height", 1);
    r.setAttribute("fill", `rgb(${shade},${shade},${shade})`);
    svg.appendChild(r);
  });
  return svg;
}

// An 8×8 pad: ink 0..16 per cell (the digits data set's scale); the model's int8 input is ink × 7.
export function drawingPad(canvas) {
  const ink = new Array(64).fill(0), cell = canvas.width / 8, ctx = canvas.getContext("2d");
  const paint = () => {
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
    ink.forEach((v, i) => {
      const s = Math.round(255 - v * 255 / 16);
      ctx.fillStyle = `rgb(${s},${s},${s})`; ctx.fillRect((i % 8) * cell, Math.floor(i / 8) * cell, cell, cell);
    });
    ctx.strokeStyle = "#ddd";
    for (let k = 1; k < 8; k++) {
      ctx.beginPath(); ctx.moveTo(k * cell, 0); ctx.lineTo(k * cell, canvas.height); ctx.stroke();
      ctx.beginPath(); ctx.moveTo(0, k * cell); ctx.lineTo(canvas.width, k * cell); ctx.stroke();
    }
  };
  let down = 0;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    const x = Math.floor((e.clientX - r.left) / r.width * 8), y = Math.floor((e.clientY - r.top) / r.height * 8);
    if (x < 0 || x > 7 || y < 0 || y > 7) return;
    const i = y * 8 + x;
    ink[i] = down === 2 ? 0 : Math.min(16, ink[i] + 12);
    paint();
  };
  canvas.addEventListener("pointerdown", (e) => { down = e.button === 2 ? 2 : 1; at(e); });
  canvas.addEventListener("pointermove", (e) => { if (down) at(e); });
  window.addEventListener("pointerup", () => { down = 0; });
  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
  paint();
  return {
    ink,
    clear() { ink.fill(0); paint(); },
    tensor() { return tensor(1, [64], Uint8Array.from(ink, (v) => (v * 7) & 0xff)); },
  };
}

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
