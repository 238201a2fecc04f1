// Installer page: plain JavaScript, no build step, no third-party code, no inline script
// or style (a same-origin Content-Security-Policy allows it). Everything shown comes from
// /api/v1; text is set with textContent (never innerHTML). German for a German browser,
// English otherwise; the choice is remembered. The open device is in the URL (#DEVEUI).
"use strict";

const API = "/api/v1";
const REFRESH_MS = 10000;
const STATUSES = ["overdue", "decode_error", "no_decoder", "never_seen", "ok"];
const TEXTS = window.INSTALLER_TEXTS;
const LANG_KEY = "lorawan-installer-lang";

const $ = (id) => document.getElementById(id);
const state = {
  selected: null,
  timer: null,
  searchTimer: null,
  lang: "de",
  locale: "de-DE",
  quantities: {},
  alerts: null, // null: the alerts API is not there (404): the sections stay hidden
  device: null,
  uplinks: [],
  list: null,
};

// --- language ------------------------------------------------------------------------------

function browserLanguages() {
  return navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
}

function pickLanguage() {
  const saved = window.localStorage.getItem(LANG_KEY);
  if (saved && TEXTS[saved]) return saved;
  for (const l of browserLanguages()) {
    const base = String(l).toLowerCase().split("-")[0];
    if (TEXTS[base]) return base;
  }
  return "en";
}

function localeFor(lang) {
  // dates and numbers in the browser's own variant of the language (de-AT, en-GB …)
  const own = browserLanguages().find((l) => String(l).toLowerCase().split("-")[0] === lang);
  return own || (lang === "de" ? "de-DE" : "en-GB");
}

function t(key, vars) {
  let s = (TEXTS[state.lang] && TEXTS[state.lang][key]) || TEXTS.en[key] || key;
  if (vars) for (const k of Object.keys(vars)) s = s.split("{" + k + "}").join(String(vars[k]));
  return s;
}

function applyLanguage(lang) {
  state.lang = lang;
  state.locale = localeFor(lang);
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of document.querySelectorAll("[data-i18n-aria]")) e.setAttribute("aria-label", t(e.dataset.i18nAria));
  for (const e of document.querySelectorAll("[data-i18n-title]")) e.title = t(e.dataset.i18nTitle);
  for (const b of document.querySelectorAll(".langbtn")) b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
  renderLegend();
}

// --- formatting ----------------------------------------------------------------------------

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function num(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  return new Intl.NumberFormat(state.locale, { maximumFractionDigits: digits === undefined ? 2 : digits }).format(v);
}

/** "vor 3 Std." / "3 hr. ago" for an age in seconds. */
function ago(seconds) {
  if (seconds === null || seconds === undefined) return t("never");
  const s = Math.max(0, Math.round(seconds));
  const rtf = new Intl.RelativeTimeFormat(state.locale, { numeric: "auto", style: "short" });
  if (s < 90) return rtf.format(-s, "second");
  if (s < 5400) return rtf.format(-Math.round(s / 60), "minute");
  if (s < 172800) return rtf.format(-Math.round(s / 3600), "hour");
  return rtf.format(-Math.round(s / 86400), "day");
}

/** A duration: "15 Min.", "2 Std.", "1 Tag". */
function duration(seconds) {
  const unit = (n, u) => new Intl.NumberFormat(state.locale, { style: "unit", unit: u, unitDisplay: "short", maximumFractionDigits: 1 }).format(n);
  if (seconds < 120) return unit(seconds, "second");
  if (seconds < 7200) return unit(Math.round(seconds / 60), "minute");
  if (seconds < 172800) return unit(Math.round(seconds / 360) / 10, "hour");
  return unit(Math.round(seconds / 8640) / 10, "day");
}

function when(iso) {
  if (!iso) return "";
  return new Date(iso).toLocaleString(state.locale, { dateStyle: "short", timeStyle: "short" });
}

function spacedHex(hex) {
  return (hex.match(/.{1,2}/g) || []).join(" ");
}

function quantityLabel(q, sensor) {
  const meta = state.quantities[q];
  const short = TEXTS[state.lang]["q_" + q]; // a state reads "Stellplatz: frei"
  const name = short || (meta ? (state.lang === "de" ? meta.label_de : meta.label_en) : q.replace(/_/g, " "));
  if (!sensor) return name;
  const known = TEXTS[state.lang]["sensor_" + sensor];
  return name + " (" + (known || sensor) + ")";
}

/** A reading as a person reads it: states in words, numbers in the locale with the unit. */
function readingValue(r) {
  const words = { occupied: "occupied_", presence: "presence_", motion: "motion_" }[r.quantity];
  if (words && (r.value === 0 || r.value === 1)) return t(words + r.value);
  return num(r.value) + (r.unit ? " " + r.unit : "");
}

function statusLabel(status) {
  return t("st_" + status);
}

function decodeStatusText(d) {
  const parts = [];
  if (d.decode_status) parts.push(t("ds_" + d.decode_status));
  if (d.decoder) {
    const kind = d.decoder.split(":")[0];
    parts.push(kind === "native" ? t("dec_native") : kind === "js" ? t("dec_js") : kind === "lns" ? t("dec_lns") : d.decoder);
  }
  return parts.join(" · ") || "–";
}

// --- API -----------------------------------------------------------------------------------

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
    const err = new Error(body && body.detail ? body.detail : r.status + " " + r.statusText);
    err.status = r.status;
    throw err;
  }
  return body;
}

function showError(msg) {
  const b = $("error");
  b.hidden = !msg;
  b.textContent = msg || "";
}

// --- legend --------------------------------------------------------------------------------

function renderLegend() {
  const ul = $("legend-list");
  ul.replaceChildren();
  for (const s of STATUSES) {
    const li = el("li", "st-" + s);
    li.appendChild(el("span", "dot"));
    li.appendChild(el("strong", null, statusLabel(s)));
    li.appendChild(el("span", "muted", " – " + t("st_" + s + "_help")));
    ul.appendChild(li);
  }
}

// --- alerts --------------------------------------------------------------------------------

async function loadAlerts() {
  try {
    const body = await api("/alerts");
    state.alerts = Array.isArray(body.alerts) ? body.alerts : [];
  } catch (e) {
    if (e.status !== 404) throw e;
    state.alerts = null; // not there (yet): no alerts sections
  }
  renderAlerts();
}

function alertItem(a) {
  const li = el("li", "alert sev-" + a.severity + " as-" + a.state);
  li.dataset.id = a.id;
  const head = el("div", "alert-head");
  head.appendChild(el("span", "sev", t("sev_" + a.severity)));
  head.appendChild(el("strong", null, a.title));
  li.appendChild(head);
  const sub = [];
  if (a.device_name || a.device_key) sub.push(a.device_name || a.device_key);
  if (a.value !== null && a.value !== undefined) sub.push(num(a.value) + (a.unit ? " " + a.unit : ""));
  sub.push(t("alert_" + a.state) + ", " + t("since", { age: ago((Date.now() - new Date(a.since).getTime()) / 1000) }));
  if (a.acknowledged) sub.push(t("alert_acknowledged"));
  if (a.silenced_until) sub.push(t("alert_silenced", { time: when(a.silenced_until) }));
  li.appendChild(el("div", "muted small", sub.join(" · ")));
  if (a.description) li.appendChild(el("div", "small", a.description));
  li.title = a.rule + " / " + a.kind;
  if (a.device_key) {
    li.classList.add("clickable");
    li.tabIndex = 0;
    li.addEventListener("click", () => openDevice(a.device_key));
    li.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") openDevice(a.device_key);
    });
  }
  return li;
}

function renderAlerts() {
  const section = $("alerts-section");
  if (state.alerts === null) {
    section.hidden = true;
    $("detail-alerts").hidden = true;
    return;
  }
  const firing = state.alerts.filter((a) => a.state === "firing");
  section.hidden = state.device !== null; // a device's own alerts are in its detail
  const ul = $("alert-list");
  ul.replaceChildren(...firing.map(alertItem));
  $("alerts-none").hidden = firing.length > 0;
  renderDeviceAlerts();
}

function renderDeviceAlerts() {
  const box = $("detail-alerts");
  const mine = state.alerts && state.device ? state.alerts.filter((a) => a.device_key === state.device.key) : [];
  box.hidden = mine.length === 0;
  $("detail-alert-list").replaceChildren(...mine.map(alertItem));
}

// --- list ----------------------------------------------------------------------------------

async function loadList() {
  const q = $("search").value.trim();
  const params = new URLSearchParams({ limit: "500", sort: "problems" });
  if (q) params.set("q", q);
  if ($("problems").checked) params.set("problems", "true");
  state.list = await api("/devices?" + params.toString());
  renderList();
}

function renderList() {
  const page = state.list;
  if (!page) return;
  const list = $("device-list");
  list.replaceChildren(...page.data.map(deviceRow));
  const empty = $("empty");
  empty.hidden = page.data.length > 0;
  empty.textContent = $("problems").checked && !$("search").value.trim() ? t("no_problems") : t("no_match");
  $("count").textContent = t("count", { shown: page.count, total: page.total });
}

function deviceRow(d) {
  const li = el("li", "device st-" + d.status);
  li.dataset.key = d.key;
  li.dataset.status = d.status;
  li.tabIndex = 0;
  li.setAttribute("role", "link");
  li.appendChild(el("span", "dot"));
  const who = el("div", "who");
  who.appendChild(el("div", "name", d.name || d.device_name || d.device_id));
  who.appendChild(el("div", "sub", d.dev_eui || d.key));
  li.appendChild(who);
  const right = el("div", "right");
  const label = el("span", "label", statusLabel(d.status));
  label.title = d.status;
  right.appendChild(label);
  right.appendChild(el("span", "age", ago(d.last_seen_age_s)));
  li.appendChild(right);
  li.addEventListener("click", () => openDevice(d.key));
  li.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") openDevice(d.key);
  });
  return li;
}

// --- detail and the URL --------------------------------------------------------------------

/** Open a device: the URL says which (#KEY), so it can be shared and Back returns. */
function openDevice(key) {
  const hash = "#" + encodeURIComponent(key);
  if (window.location.hash === hash) {
    showDevice(key).catch((e) => showError(e.message));
  } else {
    window.location.hash = hash; // a history entry; hashchange shows it
  }
}

/** The page's back arrow goes to the list, as a new history entry (Back returns to the
 * device), so it works the same for a device opened here and one opened from a link. */
function closeDetail() {
  if (window.location.hash) {
    window.history.pushState(null, "", window.location.pathname + window.location.search);
  }
  hideDetail();
}

function hideDetail() {
  state.selected = null;
  state.device = null;
  $("detail").hidden = true;
  $("list-section").hidden = false;
  clearDecode();
  renderAlerts();
}

function fromHash() {
  const raw = window.location.hash.slice(1);
  let key = "";
  try {
    key = decodeURIComponent(raw).trim();
  } catch (e) {
    key = raw;
  }
  if (key) showDevice(key).catch((e) => showError(e.message));
  else hideDetail();
}

async function showDevice(key) {
  if (state.selected !== key) clearDecode();
  state.selected = key;
  await loadDetail();
  if (state.selected !== key) return;
  $("detail").hidden = false;
  $("list-section").hidden = true;
  window.scrollTo(0, 0);
}

async function loadDetail() {
  const key = state.selected;
  if (!key) return;
  const enc = encodeURIComponent(key);
  const [d, ups] = await Promise.all([api("/devices/" + enc), api("/devices/" + enc + "/uplinks?limit=10")]);
  if (state.selected !== key) return;
  state.device = d;
  state.uplinks = ups.data;
  renderDetail();
  renderAlerts();
}

function fact(dl, label, value, title) {
  dl.appendChild(el("dt", null, label));
  const dd = el("dd", null, value);
  if (title) dd.title = title;
  dl.appendChild(dd);
  return dd;
}

function verdictFact(dl, label, verdictText, cls, detail, title) {
  dl.appendChild(el("dt", null, label));
  const dd = el("dd");
  dd.appendChild(el("span", "verdict " + cls, verdictText));
  if (detail) dd.appendChild(el("span", "muted", " " + detail));
  if (title) dd.title = title;
  dl.appendChild(dd);
}

function renderDetail() {
  const d = state.device;
  if (!d) return;
  const shown = d.name || d.device_name;
  $("detail-title").textContent = shown ? shown + " (" + (d.dev_eui || d.key) + ")" : d.dev_eui || d.key;
  const pill = $("detail-status");
  pill.className = "pill st-" + d.status;
  pill.textContent = statusLabel(d.status) + " – " + t("st_" + d.status + "_help");
  pill.title = d.status;
  const err = $("detail-error");
  err.hidden = !d.decode_error;
  err.textContent = d.decode_error || "";
  renderDeviceAlerts();

  const dl = $("detail-facts");
  dl.replaceChildren();
  fact(dl, t("last_seen"), ago(d.last_seen_age_s) + (d.last_seen ? " (" + when(d.last_seen) + ")" : ""));
  const src = t("interval_" + d.interval_source);
  fact(dl, t("interval"), duration(d.interval_s) + " (" + src + "), " + t("overdue_after", { d: duration(2 * d.interval_s) }), "interval_source: " + d.interval_source);
  fact(dl, t("decode"), decodeStatusText(d), [d.decode_status, d.decoder].filter(Boolean).join(" · "));
  fact(dl, t("model"), d.model_id || t("model_unknown"));
  const sq = d.signal_quality;
  const radio = num(d.rssi, 0) + " dBm / " + num(d.snr, 1) + " dB";
  if (sq) {
    const margin = sq.snr_margin_db !== null ? t("sig_margin", { margin: num(sq.snr_margin_db, 1), sf: d.spreading_factor, floor: num(sq.snr_floor_db, 1) }) : "";
    verdictFact(dl, t("signal"), t("sig_" + sq.verdict), "v-" + sq.verdict, (margin ? margin + " · " : "") + "RSSI / SNR " + radio, "signal_quality: " + sq.verdict);
  } else {
    fact(dl, t("signal"), radio);
  }
  fact(dl, t("sf_gateways"), (d.spreading_factor ? "SF" + d.spreading_factor : "–") + " / " + num(d.gateway_count, 0));
  fact(dl, t("uplinks"), num(d.uplink_count, 0) + (d.last_f_cnt !== null ? " (" + t("last_fcnt", { n: d.last_f_cnt }) + ")" : ""));
  fact(dl, t("fcnt_gaps"), t("fcnt_text", { missed: num(d.fcnt_missed, 0), pct: num(d.fcnt_missed_percent, 1), resets: num(d.fcnt_resets, 0) }));
  const batt = [];
  if (d.battery !== null) batt.push(num(d.battery, 0) + " %");
  if (d.battery_voltage !== null) batt.push(num(d.battery_voltage, 2) + " V");
  const bl = d.battery_level;
  if (bl) {
    const levels = t("bat_levels", { low: num(bl.low) + " " + bl.unit, critical: num(bl.critical) + " " + bl.unit, source: bl.source });
    verdictFact(dl, t("battery"), t("bat_" + bl.verdict), "v-" + (bl.verdict === "good" ? "good" : bl.verdict === "low" ? "fair" : "poor"), batt.join(" / "), levels);
  } else if (batt.length) {
    fact(dl, t("battery"), batt.join(" / "), t("bat_no_verdict"));
  }
  const cat = d.category ? TEXTS[state.lang]["cat_" + d.category] || d.category : null;
  // each under its own label: a category alone is not a site
  if (d.site) fact(dl, t("site"), d.site);
  if (cat) fact(dl, t("category"), cat);
  // the source (LORAWAN_SOURCES) of the latest uplink: set only with several sources (#16)
  if (d.source_name) fact(dl, t("source"), d.source_name, "source_name · " + d.source);

  const tbody = $("detail-readings").tBodies[0];
  tbody.replaceChildren();
  for (const r of d.last_readings) {
    const tr = el("tr");
    const name = el("td", null, quantityLabel(r.quantity, r.sensor));
    name.title = r.quantity + (r.sensor ? " / " + r.sensor : "");
    tr.appendChild(name);
    tr.appendChild(el("td", "v", readingValue(r)));
    tbody.appendChild(tr);
  }
  const rt = $("readings-time");
  rt.hidden = !d.last_readings_at;
  rt.textContent = d.last_readings_at ? t("readings_from", { age: ago(d.last_readings_age_s), time: when(d.last_readings_at) }) : "";
  rt.classList.toggle("stale", d.last_readings_age_s !== null && d.last_readings_age_s > 2 * d.interval_s);
  $("no-readings").hidden = d.last_readings.length > 0;

  const ol = $("detail-uplinks");
  ol.replaceChildren(...state.uplinks.map((u) => uplinkItem(d, u)));
  if (d.model_id && !$("decode-model").value) $("decode-model").value = d.model_id;
}

function uplinkItem(d, u) {
  const li = el("li");
  const head = el("div");
  head.appendChild(el("span", null, when(u.received_at) + " · " + t("port") + " " + u.f_port + " · FCnt " + u.f_cnt + " "));
  if (u.fcnt_gap) head.appendChild(el("span", "gap", "(" + t("missed", { n: u.fcnt_gap }) + ") "));
  const gw = u.gateways.map((g) => g.gateway_id + " " + num(g.rssi, 0) + "/" + num(g.snr, 1)).join(", ");
  if (gw) head.appendChild(el("span", "muted", "· " + gw));
  li.appendChild(head);
  const line = el("div", "hexline");
  line.appendChild(el("span", "hex", spacedHex(u.payload_hex) || t("empty_payload")));
  const use = el("button", "use-hex", t("use_hex"));
  use.type = "button";
  use.addEventListener("click", () => {
    $("decode-model").value = u.model_id || d.model_id || "";
    $("decode-port").value = u.f_port;
    $("decode-hex").value = spacedHex(u.payload_hex);
    $("decode-result").hidden = true;
    $("decode-section").scrollIntoView({ block: "start" });
    $("decode-hex").focus({ preventScroll: true });
  });
  line.appendChild(use);
  li.appendChild(line);
  if (u.error) li.appendChild(el("div", "uerr", u.error));
  return li;
}

// --- decode tool ---------------------------------------------------------------------------

function clearDecode() {
  $("decode-model").value = "";
  $("decode-port").value = "1";
  $("decode-hex").value = "";
  const out = $("decode-result");
  out.hidden = true;
  out.className = "";
  out.textContent = "";
}

async function decodeHex(ev) {
  ev.preventDefault();
  const out = $("decode-result");
  out.hidden = false;
  out.className = "";
  out.textContent = t("decoding");
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
      let text = t("decode_error_prefix") + res.error;
      if (res.closest_models && res.closest_models.length) text += "\n" + t("did_you_mean") + res.closest_models.join(", ");
      out.textContent = text;
    } else {
      const lines = res.readings.map((r) => quantityLabel(r.quantity, r.sensor) + ": " + readingValue(r));
      for (const w of res.warnings) lines.push(t("warning") + w);
      lines.push("", JSON.stringify(res.decoded, null, 2));
      out.textContent = lines.join("\n");
    }
  } catch (e) {
    out.className = "bad";
    out.textContent = t("decode_error_prefix") + e.message;
  }
  out.scrollIntoView({ block: "nearest" });
  out.focus({ preventScroll: true });
}

// --- refresh -------------------------------------------------------------------------------

async function loadQuantities() {
  try {
    const body = await api("/quantities");
    for (const q of body.data) state.quantities[q.name] = q;
  } catch (e) {
    // labels fall back to the quantity names
  }
}

async function refresh() {
  try {
    await Promise.all([loadList(), loadAlerts()]);
    if (state.selected) await loadDetail();
    showError("");
    $("updated").textContent = t("updated", { time: new Date().toLocaleTimeString(state.locale) });
  } catch (e) {
    showError(e.message);
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = $("auto").checked ? setInterval(refresh, REFRESH_MS) : null;
}

function rerender() {
  renderList();
  renderAlerts();
  renderDetail();
}

async function init() {
  applyLanguage(pickLanguage());
  $("updated").textContent = t("loading");
  for (const b of document.querySelectorAll(".langbtn")) {
    b.addEventListener("click", () => {
      window.localStorage.setItem(LANG_KEY, b.dataset.lang);
      applyLanguage(b.dataset.lang);
      rerender();
    });
  }
  // the API key lives as long as the tab (sessionStorage), not on the device for good (#11)
  window.localStorage.removeItem("lorawan-api-key"); // left there by earlier versions
  const saved = window.sessionStorage.getItem("lorawan-api-key");
  if (saved) $("apikey").value = saved;
  $("apikey").addEventListener("change", () => {
    window.sessionStorage.setItem("lorawan-api-key", $("apikey").value.trim());
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
  window.addEventListener("hashchange", fromHash);
  await loadQuantities();
  if (window.location.hash) fromHash();
  await refresh();
  schedule();
}

init();
