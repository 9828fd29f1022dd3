// GET /: one self-contained page (inline CSS and JS, no external assets, so it works on an
// offline device) showing members with state and phi, every node's entries, live events from
// /v1/events, and a form that writes a key through PUT /v1/keys. With a token, open it as
// /?token=…: the page sends the token as a header on its own requests and in the EventSource URL.
//
// Everything shown comes from other nodes and is untrusted: the script only ever sets
// textContent, never HTML, and a Content-Security-Policy admits nothing but this page's own
// script and style (by hash) and requests to this server.

import { createHash } from "node:crypto";

const STYLE = `
:root { color-scheme: light dark; --muted: #888; --line: #8884; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1rem; max-width: 72rem; }
header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
h1 { font-size: 1.3rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
h3 { font-size: 0.95rem; margin: 1rem 0 0.3rem; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.2rem 0.6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.value { font-family: ui-monospace, monospace; word-break: break-all; }
tr[data-state="alive"] .state { color: #2a2; }
tr[data-state="suspect"] .state { color: #d80; }
tr[data-state="dead"] .state { color: #d22; font-weight: bold; }
tr[data-state="left"] .state { color: var(--muted); }
#connection[data-ok="true"] { color: #2a2; }
#connection[data-ok="false"] { color: #d22; }
form { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: 0.5rem; align-items: end; }
form label { display: flex; flex-direction: column; gap: 0.2rem; }
form .wide { grid-column: 1 / -1; }
textarea { min-height: 3rem; font-family: ui-monospace, monospace; }
#events { list-style: none; padding: 0; margin: 0; font-family: ui-monospace, monospace; font-size: 12px; max-height: 24rem; overflow-y: auto; }
#events li { border-bottom: 1px solid var(--line); padding: 0.15rem 0; word-break: break-all; }
`;

const SCRIPT = `
"use strict";
const token = new URLSearchParams(location.search).get("token");
const authHeaders = token ? { Authorization: "Bearer " + token } : {};
const MAX_EVENTS_SHOWN = 200;

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path, init) {
  const response = await fetch(path, { ...init, headers: { ...authHeaders, ...((init && init.headers) || {}) } });
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  if (!response.ok) throw new Error((body && body.error) || response.status + " " + response.statusText);
  return body;
}

function setConnection(ok, text) {
  const status = document.getElementById("connection");
  status.dataset.ok = String(ok);
  status.textContent = text;
}

// One refresh at a time per view; a request while one runs asks for exactly one more run.
function refresher(load) {
  let running = false, again = false;
  return async function run() {
    if (running) { again = true; return; }
    running = true;
    try {
      await load();
      if (document.getElementById("connection").dataset.ok !== "true") setConnection(true, "connected");
    } catch (error) {
      setConnection(false, "error: " + error.message);
    } finally {
      running = false;
      if (again) { again = false; run(); }
    }
  };
}

function showValue(value, type) {
  if (type === "json") return JSON.stringify(value);
  if (type === "bytes") return "base64:" + value;
  return String(value);
}

const refreshMembers = refresher(async () => {
  const members = await api("/v1/members");
  members.sort((a, b) => a.name.localeCompare(b.name));
  const rows = members.map((m) => el("tr", { "data-member": m.name, "data-state": m.state },
    el("td", {}, m.name), el("td", { class: "state" }, m.state), el("td", { class: "phi" }, Number(m.phi).toFixed(2)),
    el("td", {}, m.address ?? "?"), el("td", {}, m.generation), el("td", {}, m.heartbeat), el("td", {}, (m.heartbeatAgeMs / 1000).toFixed(1) + " s")));
  document.getElementById("members").replaceChildren(...rows);
});

const refreshState = refresher(async () => {
  const state = await api("/v1/state");
  const sections = Object.keys(state).sort().map((node) => {
    const rows = [];
    for (const group of Object.keys(state[node]).sort()) {
      for (const key of Object.keys(state[node][group]).sort()) {
        const entry = state[node][group][key];
        rows.push(el("tr", { "data-entry": group + "/" + key },
          el("td", {}, group), el("td", {}, key), el("td", { class: "value" }, entry.error ? "(" + entry.error + ")" : showValue(entry.value, entry.type)),
          el("td", {}, entry.type), el("td", {}, entry.version)));
      }
    }
    const body = rows.length > 0 ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "group"), el("th", {}, "key"), el("th", {}, "value"), el("th", {}, "type"), el("th", {}, "version"))), el("tbody", {}, ...rows))
      : el("p", { class: "muted" }, "no entries");
    return el("section", { "data-node": node }, el("h3", {}, node), body);
  });
  document.getElementById("state").replaceChildren(...sections);
});

function addEvent(event) {
  const list = document.getElementById("events");
  const time = new Date(event.time).toLocaleTimeString();
  const detail = event.type.startsWith("entry-")
    ? event.node + " " + event.group + "/" + event.key + " = " + showValue(event.value, event.valueType) + " (v" + event.version + ")"
    : event.node + (event.reason ? " " + event.reason : "") + (event.changed ? " " + event.changed.join(",") : "");
  list.prepend(el("li", { "data-type": event.type }, time + " " + event.type + " " + detail));
  while (list.children.length > MAX_EVENTS_SHOWN) list.lastElementChild.remove();
}

function listen() {
  const source = new EventSource("/v1/events" + (token ? "?token=" + encodeURIComponent(token) : ""));
  source.onmessage = (message) => {
    const event = JSON.parse(message.data);
    addEvent(event);
    if (event.type.startsWith("entry-")) refreshState();
    else if (event.type.startsWith("node-")) refreshMembers();
  };
  source.onopen = () => setConnection(true, "connected, live");
  source.onerror = () => setConnection(false, "event stream lost; reconnecting");
}

function bytesOfBase64(text) {
  const binary = atob(text.trim());
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

document.getElementById("set-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.target;
  const result = document.getElementById("set-result");
  const type = form.elements.type.value;
  const query = new URLSearchParams({ type });
  if (form.elements.ttl.value.trim() !== "") query.set("ttl", form.elements.ttl.value.trim());
  const path = "/v1/keys/" + encodeURIComponent(form.elements.group.value) + "/" + encodeURIComponent(form.elements.key.value) + "?" + query;
  try {
    const body = type === "bytes" ? bytesOfBase64(form.elements.value.value) : form.elements.value.value;
    const answer = await api(path, { method: "PUT", body });
    result.textContent = "stored as version " + answer.version;
    refreshState();
  } catch (error) {
    result.textContent = "refused: " + error.message;
  }
});

(async () => {
  try {
    const self = await api("/v1/self");
    document.title = self.name + " · GoferBroke";
    document.getElementById("self").textContent = self.name + " in " + self.clusterName + " at " + self.address + " · generation " + self.generation + " · v" + self.version;
  } catch (error) {
    setConnection(false, "error: " + error.message);
  }
  refreshMembers();
  refreshState();
  listen();
  // Phi and heartbeat ages change without events; TTL expiry too.
  setInterval(refreshMembers, 1000);
  setInterval(refreshState, 5000);
})();
`;

const sha256 = (text: string) => createHash("sha256").update(text).digest("base64");

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GoferBroke</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>GoferBroke</h1><span id="self" class="muted"></span><span id="connection" data-ok="false">connecting…</span></header>
<h2>Members</h2>
<table><thead><tr><th>name</th><th>state</th><th>phi</th><th>address</th><th>generation</th><th>heartbeat</th><th>last heartbeat</th></tr></thead><tbody id="members"></tbody></table>
<h2>Set a key on this node</h2>
<form id="set-form">
<label>group <input name="group" required></label>
<label>key <input name="key" required></label>
<label>type <select name="type"><option>string</option><option>int</option><option>float</option><option>bool</option><option>json</option><option value="bytes">bytes (base64)</option></select></label>
<label>ttl ms <input name="ttl" inputmode="numeric" placeholder="none"></label>
<label class="wide">value <textarea name="value"></textarea></label>
<button type="submit">Set</button><output id="set-result" class="muted"></output>
</form>
<h2>Entries</h2>
<div id="state"></div>
<h2>Events</h2>
<ol id="events"></ol>
<script>${SCRIPT}</script>
</body>
</html>
`;

export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-store",
  "x-content-type-options": "nosniff",
  "content-security-policy": [
    "default-src 'none'",
    `script-src 'sha256-${sha256(SCRIPT)}'`,
    `style-src 'sha256-${sha256(STYLE)}'`,
    "connect-src 'self'",
    "img-src data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
});
