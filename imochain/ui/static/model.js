// "Try it" on a model page: imo_dryRun with a drawn digit, a prompt, or a generator's digit.
import {argmax, digitSvg, drawingPad, el, rpc, tensor, tensorValues} from "/static/rpc.js";

const box = document.getElementById("try"), result = document.getElementById("result");
const {hash, kind, name, dtype} = box.dataset, shape = JSON.parse(box.dataset.shape);
const canvas = document.getElementById("pad"), pad = canvas ? drawingPad(canvas) : null;
if (pad) document.getElementById("clear").onclick = () => pad.clear();

function input() {
  if (kind === "text") return [document.getElementById("prompt").value];
  if (pad) return [pad.tensor()];
  if (name === "digits-generator") {
    const d = Number(document.getElementById("digit").value), seed = Number(document.getElementById("seed").value) || 0;
    const v = new Array(16).fill(0); v[d] = 127;
    for (let k = 0; k < 6; k++) v[10 + k] = ((seed * 2654435761 + k * 40503) >>> (k + 3)) % 255 - 127;
    return [tensor(1, [16], Uint8Array.from(v, (x) => x & 0xff))];
  }
  const count = shape.reduce((a, b) => a * b, 1), text = document.getElementById("values").value.trim();
  const vals = text ? text.split(",").map(Number) : new Array(count).fill(0);
  if (dtype === "float32") return [tensor(3, shape, new Uint8Array(Float32Array.from(vals).buffer))];
  if (dtype === "int32") return [tensor(2, shape, new Uint8Array(Int32Array.from(vals).buffer))];
  return [tensor(1, shape, Uint8Array.from(vals, (x) => x & 0xff))];
}

document.getElementById("run").onclick = async () => {
  result.replaceChildren(el("span", "running…", "dim"));
  try {
    const out = await rpc("imo_dryRun", [hash, ...input()]);
    const parts = [];
    if (out.text !== undefined) parts.push(el("q", out.text, "text"));
    const values = out.text === undefined ? tensorValues(out.output) : null;
    if (values && values.length === 64) parts.push(digitSvg(values, 128));
    else if (values && values.length === 10) parts.push(el("p", `class ${argmax(values)} (scores ${values.join(", ")})`, "class"));
    else if (values) parts.push(el("code", values.join(", ")));
    parts.push(el("p", `gas ${out.gas.toLocaleString("en")} · ${Math.round(out.micros)} µs on ${out.device}`, "dim"));
    result.replaceChildren(...parts);
  } catch (e) { result.replaceChildren(el("p", e.message, "bad")); }
};
