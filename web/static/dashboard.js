// mailbus dashboard: a snapshot (GET /api/dashboard) refreshed when the live feed
// (/api/dashboard/events) says something changed; text goes in with textContent only.
"use strict";
const $ = (id) => document.getElementById(id);
let history = [], refreshTimer = null;

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

function fill(id, rows, columns) {
  const body = $(id);
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const c of columns) {
      const td = document.createElement("td");
      td.textContent = typeof c === "function" ? c(r) : (r[c] === null ? "" : r[c]);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

function members(data, list) {
  return data.members.filter((m) => m.list === list)
    .map((m) => m.member + (m.filter ? " [" + m.filter + "]" : "")).join(", ");
}

async function refresh() {
  refreshTimer = null;
  let r;
  try { r = await fetch("/api/dashboard", {credentials: "same-origin"}); } catch (e) { banner("mailbus-web is not answering"); return; }
  const data = await r.json().catch(() => ({}));
  if (r.status !== 200) { banner(data.error || "the dashboard cannot be read (" + r.status + ")"); return; }
  banner("");
  fill("mailboxes", data.mailboxes, ["address", "waiting", "bytes", "oldest"]);
  fill("lists", data.lists, ["list", "kind", "posting", (l) => members(data, l.list)]);
  fill("outbound", data.outbound, ["id", "sender", "recipient", "state", "attempts", "next_attempt", "last_error"]);
  fill("leases", data.leases, ["mailbox", "id", "consumer", "until"]);
  if (history.length === 0) { history = data.history; draw(); }
  if ($("feed").children.length === 0) for (const d of data.recent.slice().reverse()) addDelivery(d);
}

function soon() {
  if (!refreshTimer) refreshTimer = setTimeout(refresh, 300);
}

function addDelivery(d) {
  const li = document.createElement("li");
  li.className = "delivery";
  const time = new Date(d.at * 1000).toLocaleTimeString();
  li.textContent = time + "  " + d.from + " \u2192 " + d.to + "  \u201c" + d.subject + "\u201d  " + d.size + " B";
  const feed = $("feed");
  feed.insertBefore(li, feed.firstChild);
  while (feed.children.length > 50) feed.removeChild(feed.lastChild);
}

function draw() {
  const canvas = $("chart"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const keys = [["published", "#2b6cb0"], ["delivered", "#2f855a"], ["drained", "#c05621"]];
  const max = Math.max(1, ...history.flatMap((s) => keys.map(([k]) => s[k])));
  const step = w / 300;
  for (const [k, color] of keys) {
    ctx.strokeStyle = color;
    ctx.beginPath();
    history.forEach((s, i) => {
      const x = w - (history.length - i) * step, y = h - 2 - (s[k] / max) * (h - 4);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function counters(s) {
  for (const k of ["published", "delivered", "drained", "waiting"]) $(k).textContent = s[k];
  history.push(s);
  if (history.length > 300) history.shift();
  draw();
}

function live() {
  const events = new EventSource("/api/dashboard/events");
  events.addEventListener("delivery", (e) => { addDelivery(JSON.parse(e.data)); soon(); });
  events.addEventListener("counters", (e) => {
    const s = JSON.parse(e.data);
    counters(s);
    if (s.published || s.drained || s.delivered) soon();
  });
  events.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    banner(s.db === "down" ? "the database cannot be read now (is the broker running?)" : "");
    soon();
  });
  events.addEventListener("resync", soon);
  events.onopen = () => { $("live").className = "on"; };
  events.onerror = () => { $("live").className = "off"; };
}

document.addEventListener("DOMContentLoaded", () => {
  refresh();
  live();
  setInterval(refresh, 5000);
});
