// mailbus webmail: every text from the server goes into the page with textContent, never as
// HTML; a message's HTML is shown only in a sandboxed frame the server serves with its own CSP.
"use strict";
const $ = (id) => document.getElementById(id);
let csrf = null, events = null, current = null;

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

async function api(method, url, body) {
  const headers = {};
  if (method === "POST") headers["X-CSRF-Token"] = csrf || "";
  const r = await fetch(url, {method, body, headers, credentials: "same-origin"});
  let data = {};
  try { data = await r.json(); } catch (e) { data = {}; }
  if (r.status === 401 && url !== "/api/login") showLogin();
  if (r.status === 503) banner(data.error || "the broker is not answering: retrying");
  else if (r.ok) banner("");
  return {status: r.status, data};
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
}

function when(unix) {
  return new Date(unix * 1000).toLocaleString();
}

async function loadInbox() {
  const {status, data} = await api("GET", "/api/messages");
  if (status !== 200) return;
  const body = $("inbox");
  body.replaceChildren();
  for (const m of data.messages) {
    const row = document.createElement("tr");
    row.dataset.id = m.id;
    row.tabIndex = 0;
    row.className = m.state;
    cell(row, m.from); cell(row, m.subject || "(no subject)"); cell(row, when(m.time));
    cell(row, m.size + " B"); cell(row, m.state);
    row.addEventListener("click", () => openMessage(m.id));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") openMessage(m.id); });
    body.appendChild(row);
  }
}

function partLink(id, p) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = "/api/message/part?id=" + id + "&part=" + p.index;
  a.download = p.filename;
  a.textContent = p.filename + " (" + p.type + ", " + p.size + " B)";
  li.appendChild(a);
  return li;
}

async function openMessage(id) {
  const {status, data} = await api("GET", "/api/message?id=" + id);
  if (status !== 200) { banner(data.error || "cannot open the message"); return; }
  current = id;
  $("message").hidden = false;
  $("message-subject").textContent = data.subject || "(no subject)";
  $("message-from").textContent = data.from;
  $("message-to").textContent = data.to;
  $("message-date").textContent = data.date;
  $("message-text").textContent = data.text;
  $("message-html").replaceChildren();
  $("attachments").replaceChildren();
  for (const p of data.parts) {
    if (p.kind === "html") {
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "");
      frame.title = "HTML part of the message";
      frame.src = "/api/message/html?id=" + id + "&part=" + p.index;
      $("message-html").appendChild(frame);
    } else if (p.kind === "attachment") {
      $("attachments").appendChild(partLink(id, p));
    }
  }
  loadInbox();
}

async function deleteCurrent() {
  if (current === null) return;
  const form = new URLSearchParams({id: current});
  const {status, data} = await api("POST", "/api/delete", form);
  if (status !== 200) { banner(data.error || "delete failed"); return; }
  current = null;
  $("message").hidden = true;
  loadInbox();
}

async function send(e) {
  e.preventDefault();
  const {status, data} = await api("POST", "/api/send", new FormData($("compose-form")));
  const out = $("send-results");
  out.replaceChildren();
  const lines = status === 200 ? data.recipients.map((r) => r.address + ": " + r.reply)
                               : [data.error || "not sent (" + status + ")"];
  for (const line of lines) {
    const li = document.createElement("li");
    li.textContent = line;
    out.appendChild(li);
  }
  if (status === 200 && data.status.startsWith("250")) $("compose-form").reset();
}

async function subscribe(e) {
  e.preventDefault();
  const verb = e.submitter && e.submitter.value === "unsubscribe" ? "unsubscribe" : "subscribe";
  const form = new URLSearchParams(new FormData($("list-form")));
  const {data} = await api("POST", "/api/" + verb, form);
  $("list-result").textContent = data.reply || data.error || "";
}

function watch() {
  if (events) events.close();
  events = new EventSource("/api/events");
  events.addEventListener("new", loadInbox);
  events.addEventListener("resync", loadInbox);
  events.addEventListener("status", (e) => {
    const s = JSON.parse(e.data);
    banner(s.broker === "down" ? "the broker is not answering: retrying" : "");
  });
  events.addEventListener("end", () => { events.close(); showLogin(); });
  events.onopen = () => { $("live").className = "on"; };
  events.onerror = () => { $("live").className = "off"; };
}

function showLogin() {
  if (events) { events.close(); events = null; }
  csrf = null;
  $("login-view").hidden = false;
  $("mail-view").hidden = true;
  $("logout").hidden = true;
  $("who").textContent = "";
}

function showMail(session) {
  csrf = session.csrf;
  $("login-view").hidden = true;
  $("mail-view").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = session.user;
  loadInbox();
  watch();
}

async function login(e) {
  e.preventDefault();
  const form = new URLSearchParams(new FormData($("login-form")));
  const {status, data} = await api("POST", "/api/login", form);
  $("login-password").value = "";
  if (status === 200) { $("login-error").textContent = ""; showMail(data); }
  else $("login-error").textContent = data.error || "login failed (" + status + ")";
}

async function logout() {
  await api("POST", "/api/logout");
  showLogin();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("login-form").addEventListener("submit", login);
  $("compose-form").addEventListener("submit", send);
  $("list-form").addEventListener("submit", subscribe);
  $("delete-button").addEventListener("click", deleteCurrent);
  $("logout").addEventListener("click", logout);
  const {status, data} = await api("GET", "/api/session");
  if (status === 200) showMail(data); else showLogin();
});
