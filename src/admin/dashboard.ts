// GET /: one self-contained page (inline CSS and JS, no external assets, so it works on an
// offline device) showing members with state and phi, a health panel (rates, event-loop lag,
// connections, the propagation histogram; from /v1/stats, polled), every node's entries with their
// TTLs, live events from /v1/events (with a backlog of what happened before the page loaded), the
// cluster config with a form that changes it (PATCH /v1/config), a form that writes a key
// (PUT /v1/keys) and a button that deletes one of this node's keys (DELETE /v1/keys). Members and
// entries can be filtered. With a token, open it as /?token=…: the page sends the token as a
// header on its own requests and in the EventSource URL.
//
// Everything shown comes from other nodes and is untrusted: the script only ever sets
// textContent, never HTML, and a Content-Security-Policy admits nothing but this page's own
// script and style (by hash) and requests to this server. Bars are <meter> elements, since the
// policy admits no style attributes.

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
.filter { margin: 0 0 0.4rem; width: 100%; max-width: 24rem; }
#health dl { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 0.3rem 1rem; margin: 0; }
#health dt { color: var(--muted); font-size: 12px; }
#health dd { margin: 0; font-family: ui-monospace, monospace; }
meter { width: 8rem; }
#config-table input { width: 100%; font-family: ui-monospace, monospace; }
button.delete { font-size: 12px; }
`;

const SCRIPT = `
"use strict";
const token = new URLSearchParams(location.search).get("token");
const authHeaders = token ? { Authorization: "Bearer " + token } : {};
const MAX_EVENTS_SHOWN = 200;
const EVENT_BACKLOG = 100;
let selfName = "";

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

function filterWords(inputId) {
  return document.getElementById(inputId).value.toLowerCase().split(/\\s+/).filter(Boolean);
}

// Rows whose text does not contain the filter's words (all of them, any case) are hidden.
function applyFilter(inputId, rows) {
  const words = filterWords(inputId);
  for (const row of rows) row.hidden = !words.every((word) => row.textContent.toLowerCase().includes(word));
}

function expiryText(expiresAt) {
  if (expiresAt === undefined) return "";
  const seconds = (expiresAt - Date.now()) / 1000;
  return seconds > 0 ? "in " + seconds.toFixed(1) + " s" : "expiring";
}

const refreshMembers = refresher(async () => {
  const members = await api("/v1/members");
  members.sort((a, b) => a.name.localeCompare(b.name));
  const rows = members.map((m) => el("tr", { "data-member": m.name, "data-state": m.state },
    el("td", {}, m.name), el("td", { class: "state" }, m.state), el("td", { class: "phi" }, Number(m.phi).toFixed(2)),
    el("td", {}, m.address ?? "?"), el("td", {}, m.generation), el("td", {}, m.heartbeat), el("td", {}, (m.heartbeatAgeMs / 1000).toFixed(1) + " s")));
  document.getElementById("members").replaceChildren(...rows);
  applyFilter("member-filter", rows);
  const phiRows = members.map((m) => el("li", { "data-member": m.name },
    el("meter", { min: "0", max: "16", high: "8", value: String(Math.min(16, Number(m.phi))) }), " " + m.name + " " + Number(m.phi).toFixed(2)));
  document.getElementById("health-phi").replaceChildren(...phiRows);
});

const refreshState = refresher(async () => {
  const state = await api("/v1/state");
  const sections = Object.keys(state).sort().map((node) => {
    const rows = [];
    for (const group of Object.keys(state[node]).sort()) {
      for (const key of Object.keys(state[node][group]).sort()) {
        const entry = state[node][group][key];
        const remove = node === selfName ? el("button", { type: "button", class: "delete", "data-group": group, "data-key": key }, "delete") : "";
        rows.push(el("tr", { "data-entry": group + "/" + key },
          el("td", {}, group), el("td", {}, key), el("td", { class: "value" }, entry.error ? "(" + entry.error + ")" : showValue(entry.value, entry.type)),
          el("td", {}, entry.type), el("td", {}, entry.version),
          el("td", { class: "expires", "data-expires-at": entry.expiresAt === undefined ? "" : String(entry.expiresAt) }, expiryText(entry.expiresAt)),
          el("td", {}, remove)));
      }
    }
    const body = rows.length > 0 ? el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "group"), el("th", {}, "key"), el("th", {}, "value"), el("th", {}, "type"), el("th", {}, "version"), el("th", {}, "expires"), el("th", {}, ""))), el("tbody", {}, ...rows))
      : el("p", { class: "muted" }, "no entries");
    return el("section", { "data-node": node }, el("h3", {}, node), body);
  });
  document.getElementById("state").replaceChildren(...sections);
  filterEntries();
});

function filterEntries() {
  // The node's name counts as part of each of its rows' text.
  const words = filterWords("entry-filter");
  for (const section of document.querySelectorAll("#state section")) {
    const node = section.dataset.node.toLowerCase();
    let shown = 0;
    for (const row of section.querySelectorAll("tr[data-entry]")) {
      const text = node + " " + row.textContent.toLowerCase();
      row.hidden = !words.every((word) => text.includes(word));
      if (!row.hidden) shown++;
    }
    section.hidden = words.length > 0 && shown === 0;
  }
}

// Rates are the change of a counter between two readings of /v1/stats.
let previousStats = null;
const refreshHealth = refresher(async () => {
  const stats = await api("/v1/stats");
  const rate = (read) => previousStats === null || stats.time <= previousStats.time ? "…" : ((read(stats) - read(previousStats)) * 1000 / (stats.time - previousStats.time)).toFixed(1) + " /s";
  const figures = {
    "write-rate": stats.writes.desiredRate.toFixed(1) + " /s",
    "applied-rate": rate((s) => s.gossip.entriesApplied),
    "exchange-rate": rate((s) => s.gossip.messagesSent + s.gossip.messagesReceived),
    "round-rate": rate((s) => s.gossip.rounds),
    "bytes-rate": rate((s) => s.gossip.bytesSent + s.gossip.bytesReceived).replace(" /s", " B/s"),
    "backlog": stats.writes.backlogEntries + (stats.writes.limiting ? " (flow control limiting)" : ""),
    "loop-lag": stats.eventLoop.lagMs.toFixed(1) + " ms (max " + stats.eventLoop.maxLagMs.toFixed(1) + " ms in 60 s)",
    "stalls": String(stats.eventLoop.stalls),
    "connections": stats.connections.established + " established, " + stats.connections.handshaking + " handshaking, " + stats.connections.closing + " closing",
  };
  for (const [name, text] of Object.entries(figures)) document.querySelector('#health [data-figure="' + name + '"]').textContent = text;
  previousStats = stats;
  const buckets = stats.propagationSeconds.buckets;
  const counts = buckets.map((bucket, index) => bucket.count - (index > 0 ? buckets[index - 1].count : 0));
  const most = Math.max(1, ...counts);
  const rows = buckets.map((bucket, index) => el("tr", { "data-le": String(bucket.le) },
    el("td", {}, bucket.le === "Infinity" ? "more" : "≤ " + Math.round(bucket.le * 1000) + " ms"),
    el("td", {}, el("meter", { min: "0", max: String(most), value: String(counts[index]) })), el("td", { class: "count" }, counts[index])));
  document.getElementById("propagation").replaceChildren(...rows);
  document.getElementById("propagation-count").textContent = stats.propagationSeconds.count + " writes from other nodes";
});

let shownConfig = null;
const refreshConfig = refresher(async () => {
  const config = await api("/v1/config");
  shownConfig = config;
  document.getElementById("config-version").textContent = "version " + config.version + " from " + config.origin;
  const rows = Object.keys(config.settings).sort().map((name) => el("tr", { "data-setting": name },
    el("td", {}, el("label", { for: "setting-" + name }, name)),
    el("td", {}, el("input", { id: "setting-" + name, name, value: JSON.stringify(config.settings[name]) }))));
  document.getElementById("config-table").replaceChildren(...rows);
});

const seenEvents = new Set();
function addEvent(data) {
  if (seenEvents.has(data)) return; // the backlog, replayed again after a reconnect
  seenEvents.add(data);
  const event = JSON.parse(data);
  const list = document.getElementById("events");
  const time = new Date(event.time).toLocaleTimeString();
  const detail = event.type.startsWith("entry-")
    ? event.node + " " + event.group + "/" + event.key + " = " + showValue(event.value, event.valueType) + " (v" + event.version + ")"
    : event.node + (event.reason ? " " + event.reason : "") + (event.changed ? " " + event.changed.join(",") : "");
  list.prepend(el("li", { "data-type": event.type, "data-event": data }, time + " " + event.type + " " + detail));
  while (list.children.length > MAX_EVENTS_SHOWN) {
    seenEvents.delete(list.lastElementChild.dataset.event);
    list.lastElementChild.remove();
  }
  return event;
}

function listen() {
  const query = new URLSearchParams({ backlog: String(EVENT_BACKLOG) });
  if (token) query.set("token", token);
  const source = new EventSource("/v1/events?" + query);
  source.onmessage = (message) => {
    const event = addEvent(message.data);
    if (!event) return;
    if (event.type.startsWith("entry-")) refreshState();
    else if (event.type.startsWith("node-")) refreshMembers();
    else if (event.type === "config-changed") refreshConfig();
  };
  source.onopen = () => setConnection(true, "connected, live");
  source.onerror = () => setConnection(false, "event stream lost; reconnecting");
}

function bytesOfBase64(text) {
  const binary = atob(text.trim());
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

const keyPath = (group, key) => "/v1/keys/" + encodeURIComponent(group) + "/" + encodeURIComponent(key);

document.getElementById("set-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const form = submit.target;
  const result = document.getElementById("set-result");
  const type = form.elements.type.value;
  const query = new URLSearchParams({ type });
  if (form.elements.ttl.value.trim() !== "") query.set("ttl", form.elements.ttl.value.trim());
  try {
    const body = type === "bytes" ? bytesOfBase64(form.elements.value.value) : form.elements.value.value;
    const answer = await api(keyPath(form.elements.group.value, form.elements.key.value) + "?" + query, { method: "PUT", body });
    result.textContent = "stored as version " + answer.version;
    refreshState();
  } catch (error) {
    result.textContent = "refused: " + error.message;
  }
});

document.getElementById("state").addEventListener("click", async (click) => {
  const button = click.target.closest("button.delete");
  if (!button) return;
  const result = document.getElementById("state-result");
  const name = button.dataset.group + "/" + button.dataset.key;
  try {
    await api(keyPath(button.dataset.group, button.dataset.key), { method: "DELETE" });
    result.textContent = "deleted " + name;
    refreshState();
  } catch (error) {
    result.textContent = "could not delete " + name + ": " + error.message;
  }
});

// A setting's field holds JSON; text that is not JSON is taken as a string. Only changed settings are sent.
document.getElementById("config-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const result = document.getElementById("config-result");
  const patch = {};
  for (const input of submit.target.querySelectorAll("input[name]")) {
    if (shownConfig === null || input.value === JSON.stringify(shownConfig.settings[input.name])) continue;
    try { patch[input.name] = JSON.parse(input.value); } catch { patch[input.name] = input.value; }
  }
  if (Object.keys(patch).length === 0) { result.textContent = "nothing changed"; return; }
  try {
    const applied = await api("/v1/config", { method: "PATCH", body: JSON.stringify(patch), headers: { "content-type": "application/json" } });
    result.textContent = "applied as version " + applied.version + ": " + Object.keys(patch).join(", ");
    refreshConfig();
  } catch (error) {
    result.textContent = "refused: " + error.message;
  }
});

document.getElementById("member-filter").addEventListener("input", () => applyFilter("member-filter", document.querySelectorAll("#members tr")));
document.getElementById("entry-filter").addEventListener("input", filterEntries);

(async () => {
  try {
    const self = await api("/v1/self");
    selfName = self.name;
    document.title = self.name + " · GoferBroke";
    document.getElementById("self").textContent = self.name + " in " + self.clusterName + " at " + self.address + " · generation " + self.generation + " · v" + self.version;
  } catch (error) {
    setConnection(false, "error: " + error.message);
  }
  refreshMembers();
  refreshState();
  refreshHealth();
  refreshConfig();
  listen();
  // Phi, heartbeat ages and the health figures change without events; TTLs count down.
  setInterval(refreshMembers, 1000);
  setInterval(refreshHealth, 2000);
  setInterval(refreshState, 5000);
  setInterval(() => { for (const cell of document.querySelectorAll("td.expires[data-expires-at]:not([data-expires-at=''])")) cell.textContent = expiryText(Number(cell.dataset.expiresAt)); }, 500);
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
<input id="member-filter" class="filter" type="search" placeholder="filter members (name, state, address)" aria-label="filter members">
<table><thead><tr><th>name</th><th>state</th><th>phi</th><th>address</th><th>generation</th><th>heartbeat</th><th>last heartbeat</th></tr></thead><tbody id="members"></tbody></table>
<h2>Health</h2>
<section id="health">
<dl>
<div><dt>writes here (smoothed)</dt><dd data-figure="write-rate">…</dd></div>
<div><dt>entries applied from others</dt><dd data-figure="applied-rate">…</dd></div>
<div><dt>gossip messages exchanged</dt><dd data-figure="exchange-rate">…</dd></div>
<div><dt>gossip rounds</dt><dd data-figure="round-rate">…</dd></div>
<div><dt>gossip traffic</dt><dd data-figure="bytes-rate">…</dd></div>
<div><dt>writes waiting (flow control)</dt><dd data-figure="backlog">…</dd></div>
<div><dt>event-loop lag</dt><dd data-figure="loop-lag">…</dd></div>
<div><dt>event-loop stalls</dt><dd data-figure="stalls">…</dd></div>
<div><dt>peer connections</dt><dd data-figure="connections">…</dd></div>
</dl>
<h3>Phi per member</h3>
<ul id="health-phi"></ul>
<h3>Propagation delay <span id="propagation-count" class="muted"></span></h3>
<table><tbody id="propagation"></tbody></table>
</section>
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
<input id="entry-filter" class="filter" type="search" placeholder="filter entries (node, group, key, value)" aria-label="filter entries">
<output id="state-result" class="muted"></output>
<div id="state"></div>
<h2>Cluster config <span id="config-version" class="muted"></span></h2>
<form id="config-form">
<table class="wide"><tbody id="config-table"></tbody></table>
<button type="submit">Apply changes to every node</button><output id="config-result" class="muted"></output>
</form>
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
