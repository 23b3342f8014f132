// dhtnode dashboard: polls the node's JSON API every two seconds and draws it.
// The API token (api.token) lives in sessionStorage and travels only in the
// Authorization header, never in a URL.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "dhtnode.token";
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (id) => document.getElementById(id);
let inspected = ""; // the key shown in the inspector, refreshed with each poll

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  const resp = await fetch(path, { headers, cache: "no-store" });
  if (resp.status === 401) throw new Error("unauthorized: enter the API token");
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

// ---- formatting ----

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function shortID(id) {
  return id.length > 18 ? id.slice(0, 6) + "…" + id.slice(-10) : id;
}

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + (s % 60) + "s";
  return s + "s";
}

function ago(iso) {
  if (!iso) return "never";
  return duration(Math.max(0, (Date.now() - Date.parse(iso)) / 1000)) + " ago";
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

// ---- charts (inline SVG) ----

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

// bars draws values as bars into an SVG, scaled to its viewBox, with the
// largest value on top and, below, labels (every nth one) or, for a time
// series (labels null), its span. At least minSlots bar widths fit across.
function bars(target, values, labels, cls, minSlots, unit) {
  const box = target.viewBox.baseVal, w = box.width, h = box.height, top = 14, bottom = 14;
  const peak = Math.max(...values, 0);
  const step = w / Math.max(minSlots || 1, values.length);
  const nodes = [];
  values.forEach((v, i) => {
    if (!v) return;
    const bh = (h - top - bottom) * v / Math.max(peak, 1e-9);
    const rect = svg("rect", { x: i * step + step * 0.1, y: h - bottom - bh, width: Math.max(1, step * 0.8), height: bh, class: cls });
    rect.appendChild(svg("title", {}, (labels ? labels[i] + ": " : "") + fmtNum(v) + " " + unit));
    nodes.push(rect);
  });
  if (labels) {
    labels.forEach((l, i) => {
      if (values.length <= 16 || i % 4 === 0) nodes.push(svg("text", { x: i * step + step / 2, y: h - 3, "text-anchor": "middle", class: "axis" }, l));
    });
  } else {
    nodes.push(svg("text", { x: 0, y: h - 3, class: "axis" }, "5 min ago"),
      svg("text", { x: w, y: h - 3, "text-anchor": "end", class: "axis" }, "now"));
  }
  nodes.push(svg("line", { x1: 0, x2: w, y1: h - bottom, y2: h - bottom, class: "base" }),
    svg("text", { x: 0, y: 10, class: "axis" }, "max " + fmtNum(peak) + " " + unit));
  target.replaceChildren(...nodes);
}

function fmtNum(v) {
  return v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(1) : v.toFixed(2);
}

// ---- panels ----

function showStatus(s) {
  $("network").textContent = "· " + s.network;
  $("peer-id").textContent = s.peer_id;
  const ready = $("ready");
  ready.textContent = s.ready ? "ready" : "not ready";
  ready.className = s.ready ? "ok" : "bad";
  $("uptime").textContent = duration(s.uptime_seconds);
  $("version").textContent = s.version;
  $("connections").textContent = s.connections;
  fill($("addrs"), (s.addrs || []).map((a) => el("div", a)));

  $("record-count").textContent = s.records.count + (s.records.count === 1 ? " record" : " records");
  $("record-bytes").textContent = bytes(s.records.bytes);
  const under = $("under");
  under.textContent = s.records.under_replicated;
  under.className = s.records.under_replicated > 0 ? "bad" : "ok";
  const r = s.replication;
  $("replication").textContent = "k = " + r.factor + ", W = " + r.write_quorum + ", R = " + r.read_quorum;
  $("repairs").textContent = "copies pushed " + r.repairs_total + " · keys audited " + r.audits_total;
  $("sweep").textContent = ago(r.last_sweep);

  const rt = s.routing_table;
  $("rt-size").textContent = rt.size + " peers";
  const counts = rt.buckets.map((b) => b.peers);
  bars($("buckets"), counts, rt.buckets.map((b) => String(b.index)), "bucket", 8, "peers");
  $("probes").textContent = rt.probes + " probes, " + rt.evictions + " evictions, " + rt.rebootstraps + " re-bootstraps.";
}

function showPeers(peers) {
  peers.sort((a, b) => a.bucket - b.bucket || a.peer_id.localeCompare(b.peer_id));
  $("peer-count").textContent = peers.length;
  fill($("peer-rows"), peers.map((p) => {
    const tr = el("tr");
    tr.dataset.peer = p.peer_id;
    const id = el("td", shortID(p.peer_id), "mono");
    id.title = p.peer_id;
    tr.append(id, el("td", p.bucket), el("td", p.connected ? "yes" : "no", p.connected ? "ok" : "bad"),
      el("td", p.rtt_ms ? p.rtt_ms.toFixed(2) + " ms" : "–"), el("td", ago(p.last_seen)));
    return tr;
  }));
}

function showActivity(a) {
  const pts = a.points;
  bars($("rate"), pts.map((p) => p.requests / a.interval_seconds), null, "rate", 1, "req/s");
  bars($("latency"), pts.map((p) => p.mean_ms), null, "latency", 1, "ms mean latency");
  const recent = pts.slice(-30); // the last minute
  const n = recent.reduce((s, p) => s + p.requests, 0);
  const errs = recent.reduce((s, p) => s + p.errors, 0);
  const mean = n ? recent.reduce((s, p) => s + p.mean_ms * p.requests, 0) / n : 0;
  $("req-summary").textContent = "Last minute: " + fmtNum(n / 60) + " req/s, mean " + fmtNum(mean) + " ms, " + errs + " errors.";
}

function showReplicas(rep) {
  const holders = rep.holders;
  const has = holders.filter((h) => h.has).length;
  const summary = $("key-summary");
  summary.replaceChildren();
  if (rep.version === 0) {
    summary.append(el("span", "No holder has “" + rep.key + "”.", "bad"));
  } else {
    summary.append(el("span", "“" + rep.key + "” version " + rep.version + ": held by " + has + " of " + holders.length + " closest live peers. "));
    summary.append(has < holders.length ? el("strong", "under-replicated", "bad") : el("strong", "fully replicated", "ok"));
  }
  fill($("key-rows"), holders.map((h) => {
    const tr = el("tr", undefined, h.has ? "" : "missing");
    tr.dataset.peer = h.peer_id;
    const id = el("td", shortID(h.peer_id), "mono");
    id.title = h.peer_id;
    tr.append(id, el("td", h.version || "–"), el("td", h.has ? "yes" : "no", h.has ? "ok" : "bad"),
      el("td", (h.self ? "this node " : "") + (h.error || "")));
    return tr;
  }));
  $("key-table").hidden = false;
}

// ---- loop ----

async function poll() {
  try {
    const [status, peers, activity] = await Promise.all([api("/v1/status"), api("/v1/peers"), api("/v1/activity")]);
    showStatus(status);
    showPeers(peers);
    showActivity(activity);
    if (inspected) showReplicas(await api("/v1/replicas/" + encodeURIComponent(inspected)));
    setState("updated " + new Date().toLocaleTimeString(), "ok");
  } catch (err) {
    setState(err.message, "bad");
  }
  setTimeout(poll, POLL_MS);
}

function setState(text, cls) {
  const s = $("state");
  s.textContent = text;
  s.className = "state " + cls;
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  $("token").value = "";
  setState("token set", "ok");
});

$("key-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  inspected = $("key").value;
  if (!inspected) return;
  try {
    showReplicas(await api("/v1/replicas/" + encodeURIComponent(inspected)));
  } catch (err) {
    $("key-summary").replaceChildren(el("span", err.message, "bad"));
    $("key-table").hidden = true;
  }
});

poll();
