// Installer page: plain JavaScript, no build step, no third-party code.
// Everything shown comes from /api/v1; text is set with textContent (never innerHTML).
"use strict";

const API = "/api/v1";
const REFRESH_MS = 10000;
const LABELS = {
  ok: "OK",
  decode_error: "Decode error",
  no_decoder: "No decoder",
  overdue: "Overdue",
  never_seen: "Never seen",
};

const $ = (id) => document.getElementById(id);
const state = { selected: null, timer: null, searchTimer: null };

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function fmt(v, digits) {
  if (v === null || v === undefined) return "–";
  return typeof v === "number" ? String(+v.toFixed(digits === undefined ? 2 : digits)) : String(v);
}

function spacedHex(hex) {
  return (hex.match(/.{1,2}/g) || []).join(" ");
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  const key = $("apikey").value.trim();
  if (key) opts.headers["X-API-Key"] = key;
  const r = await fetch(API + path, opts);
  let body = null;
  try {
    body = await r.json();
  } catch (e) {
    body = null;
  }
  if (!r.ok) {
    const detail = body && body.detail ? body.detail : r.status + " " + r.statusText;
    throw new Error(detail);
  }
  return body;
}

function showError(msg) {
  const b = $("error");
  b.hidden = !msg;
  b.textContent = msg || "";
}

// --- list --------------------------------------------------------------------------------

async function loadList() {
  const q = $("search").value.trim();
  const params = new URLSearchParams({ limit: "500" });
  if (q) params.set("q", q);
  if ($("problems").checked) params.set("decode_errors", "true");
  const page = await api("/devices?" + params.toString());
  const list = $("device-list");
  list.replaceChildren();
  for (const d of page.data) list.appendChild(deviceRow(d));
  $("empty").hidden = page.data.length > 0;
  return page;
}

function deviceRow(d) {
  const li = el("li", "st-" + d.status);
  li.dataset.key = d.key;
  li.dataset.status = d.status;
  li.title = LABELS[d.status] || d.status;
  li.appendChild(el("span", "dot"));
  const who = el("div", "who");
  who.appendChild(el("div", "name", d.name || d.device_name || d.device_id));
  who.appendChild(el("div", "sub", (d.dev_eui || d.key) + (d.model_id ? " · " + d.model_id : "")));
  li.appendChild(who);
  li.appendChild(el("span", "age", age(d.last_seen_age_s)));
  li.addEventListener("click", () => select(d.key));
  return li;
}

// --- detail ------------------------------------------------------------------------------

async function select(key) {
  state.selected = key;
  await loadDetail();
  $("detail").hidden = false;
  $("list-section").hidden = true;
  window.scrollTo(0, 0);
}

function closeDetail() {
  state.selected = null;
  $("detail").hidden = true;
  $("list-section").hidden = false;
}

async function loadDetail() {
  const key = state.selected;
  if (!key) return;
  const enc = encodeURIComponent(key);
  const [d, ups] = await Promise.all([api("/devices/" + enc), api("/devices/" + enc + "/uplinks?limit=10")]);
  if (state.selected !== key) return;
  renderDetail(d, ups.data);
}

function fact(dl, label, value) {
  dl.appendChild(el("dt", null, label));
  dl.appendChild(el("dd", null, value));
}

function renderDetail(d, uplinks) {
  var shown = d.name || d.device_name;
  $("detail-title").textContent = shown ? shown + " (" + (d.dev_eui || d.key) + ")" : d.dev_eui || d.key;
  const pill = $("detail-status");
  pill.className = "pill st-" + d.status;
  pill.textContent = LABELS[d.status] || d.status;
  const err = $("detail-error");
  err.hidden = !d.decode_error;
  err.textContent = d.decode_error || "";

  const dl = $("detail-facts");
  dl.replaceChildren();
  fact(dl, "Last seen", age(d.last_seen_age_s) + (d.last_seen ? " (" + new Date(d.last_seen).toLocaleString() + ")" : ""));
  fact(dl, "Decode", (d.decode_status || "–") + (d.decoder ? " · " + d.decoder : ""));
  fact(dl, "Model", d.model_id || "unknown");
  fact(dl, "RSSI / SNR", fmt(d.rssi, 0) + " dBm / " + fmt(d.snr, 1) + " dB");
  fact(dl, "SF / gateways", (d.spreading_factor ? "SF" + d.spreading_factor : "–") + " / " + fmt(d.gateway_count, 0));
  fact(dl, "Uplinks", fmt(d.uplink_count, 0) + (d.last_f_cnt !== null ? " (last FCnt " + d.last_f_cnt + ")" : ""));
  fact(dl, "FCnt gaps", fmt(d.fcnt_missed, 0) + " missed (" + fmt(d.fcnt_missed_percent, 1) + " %), " + fmt(d.fcnt_resets, 0) + " resets");
  const batt = [];
  if (d.battery !== null) batt.push(fmt(d.battery, 0) + " %");
  if (d.battery_voltage !== null) batt.push(fmt(d.battery_voltage, 2) + " V");
  fact(dl, "Battery", batt.length ? batt.join(" / ") : "–");
  if (d.expected_interval_s) fact(dl, "Interval", Math.round(d.expected_interval_s / 60) + " min" + (d.overdue ? " — overdue" : ""));
  if (d.site || d.category) fact(dl, "Site", [d.site, d.category].filter(Boolean).join(" · "));

  const tbody = $("detail-readings").tBodies[0];
  tbody.replaceChildren();
  for (const r of d.last_readings) {
    const tr = el("tr");
    tr.appendChild(el("td", null, r.quantity.replace(/_/g, " ") + (r.sensor ? " (" + r.sensor + ")" : "")));
    tr.appendChild(el("td", "v", fmt(r.value) + (r.unit ? " " + r.unit : "")));
    tbody.appendChild(tr);
  }
  $("no-readings").hidden = d.last_readings.length > 0;

  const ol = $("detail-uplinks");
  ol.replaceChildren();
  for (const u of uplinks) ol.appendChild(uplinkItem(d, u));
  if (d.model_id && !$("decode-model").value) $("decode-model").value = d.model_id;
}

function uplinkItem(d, u) {
  const li = el("li");
  const head = el("div");
  head.appendChild(el("span", null, new Date(u.received_at).toLocaleTimeString() + " · port " + u.f_port + " · FCnt " + u.f_cnt + " "));
  if (u.fcnt_gap) head.appendChild(el("span", "gap", "(" + u.fcnt_gap + " missed) "));
  const gw = u.gateways.map((g) => g.gateway_id + " " + fmt(g.rssi, 0) + "/" + fmt(g.snr, 1)).join(", ");
  if (gw) head.appendChild(el("span", "muted", "· " + gw));
  li.appendChild(head);
  const line = el("div");
  line.appendChild(el("span", "hex", spacedHex(u.payload_hex) || "(empty)"));
  const use = el("button", "use-hex", "decode");
  use.type = "button";
  use.addEventListener("click", () => {
    $("decode-model").value = u.model_id || d.model_id || "";
    $("decode-port").value = u.f_port;
    $("decode-hex").value = spacedHex(u.payload_hex);
    $("decode-section").scrollIntoView();
  });
  line.appendChild(use);
  li.appendChild(line);
  if (u.error) li.appendChild(el("div", "uerr", u.error));
  return li;
}

// --- decode tool -------------------------------------------------------------------------

async function decodeHex(ev) {
  ev.preventDefault();
  const out = $("decode-result");
  out.hidden = false;
  out.className = "";
  out.textContent = "decoding…";
  try {
    const res = await api("/decode", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        model: $("decode-model").value.trim(),
        f_port: Number($("decode-port").value),
        hex: $("decode-hex").value,
      }),
    });
    out.className = res.ok ? "good" : "bad";
    if (!res.ok) {
      let text = "Error: " + res.error;
      if (res.closest_models && res.closest_models.length) text += "\nDid you mean: " + res.closest_models.join(", ");
      out.textContent = text;
      return;
    }
    const lines = res.readings.map((r) => r.quantity + (r.sensor ? " (" + r.sensor + ")" : "") + ": " + fmt(r.value) + " " + r.unit);
    for (const w of res.warnings) lines.push("warning: " + w);
    lines.push("", JSON.stringify(res.decoded, null, 2));
    out.textContent = lines.join("\n");
  } catch (e) {
    out.className = "bad";
    out.textContent = "Error: " + e.message;
  }
}

// --- refresh -----------------------------------------------------------------------------

async function refresh() {
  try {
    await loadList();
    if (state.selected) await loadDetail();
    showError("");
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    showError(e.message);
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = $("auto").checked ? setInterval(refresh, REFRESH_MS) : null;
}

function init() {
  const saved = window.localStorage.getItem("lorawan-api-key");
  if (saved) $("apikey").value = saved;
  $("apikey").addEventListener("change", () => {
    window.localStorage.setItem("lorawan-api-key", $("apikey").value.trim());
    refresh();
  });
  $("search").addEventListener("input", () => {
    clearTimeout(state.searchTimer);
    state.searchTimer = setTimeout(() => {
      closeDetail();
      refresh();
    }, 250);
  });
  $("problems").addEventListener("change", refresh);
  $("auto").addEventListener("change", schedule);
  $("back").addEventListener("click", closeDetail);
  $("decode-form").addEventListener("submit", decodeHex);
  const hash = decodeURIComponent(window.location.hash.slice(1));
  if (hash) select(hash).catch((e) => showError(e.message));
  refresh();
  schedule();
}

init();
