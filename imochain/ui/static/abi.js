// Attach an ABI to an address from its page; the explorer decodes with it from then on.
const form = document.getElementById("abi-form");
if (form) form.onsubmit = async (e) => {
  e.preventDefault();
  const out = document.getElementById("abi-result");
  let abi;
  try { abi = JSON.parse(form.elements.namedItem("abi").value); } catch { out.textContent = "not JSON"; return; }
  const resp = await fetch("/abi", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({address: form.dataset.address, name: form.elements.namedItem("name").value, abi})});
  const body = await resp.json();
  out.textContent = body.ok ? `attached as ${body.name}` : body.error;
};
