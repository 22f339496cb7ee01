// The verifier page: reads a code (the URL fragment, a pasted text or the camera), verifies it on the
// device with the operator keys pinned in the page, and shows what a buyer needs: VERIFIED, REFUSED or
// UNREADABLE, the item and every event of its journey, or why the code was refused.
//
// Display rules (docs/spec/entries.md, "Displaying entries"): every text that comes from a code goes
// through escape() (names, the item id) or quote() (places and data values) and into the page with
// textContent, never innerHTML. On refusal nothing of the code is shown: only the error type and the
// verifier's message.

// The camera decoder where the browser has no BarcodeDetector (desktop Linux, Firefox) is jsQR, not zxing-wasm:
// zxing-wasm's reader alone is 412 kB gzipped (525 kB inlined as base64), beyond the page's 250 kB goal.

import { escape, fetchReader, quote, verifyCode } from "./verifier/index.js";
import { reportScan } from "./register.js";
import jsQR from "jsqr";

const $ = (id) => document.getElementById(id);

/** Make an element with a text (never markup). */
function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function pinnedOperators() {
  const node = $("pinned-operators");
  try {
    const keys = JSON.parse(node ? node.textContent : "[]");
    return Array.isArray(keys) ? keys.filter((k) => typeof k === "string") : [];
  } catch {
    return [];
  }
}

const OPERATORS = pinnedOperators();

// The witnesses the page requires, pinned like the operator keys: {keys, quorum}, or a policy file's
// {witnesses: [[name, vkey]], groups: [[name, threshold, [members]]], quorum}, or null.
function pinnedWitnesses() {
  const node = $("pinned-witnesses");
  try {
    const value = JSON.parse(node ? node.textContent : "null");
    if (value && Array.isArray(value.keys)) {
      return { keys: value.keys.filter((k) => typeof k === "string"), quorum: value.quorum };
    }
    if (value && Array.isArray(value.witnesses) && Array.isArray(value.groups) && typeof value.quorum === "string") {
      return { witnesses: value.witnesses, groups: value.groups, quorum: value.quorum };
    }
    return null;
  } catch {
    return null;
  }
}

const WITNESSES = pinnedWitnesses();

// Where the operator publishes its log (provchain verifier-page --log-url), resolved against the page's own
// address, or null. A witnessed-published code's inclusion proof is built from the hash tiles there.
function publishedLog() {
  const node = $("published-log");
  try {
    const value = JSON.parse(node ? node.textContent : "null");
    return typeof value === "string" && value ? new URL(value, location.href).href : null;
  } catch {
    return null;
  }
}

const LOG_URL = publishedLog();
const LOG = LOG_URL === null ? null : fetchReader(LOG_URL);

// What a person reads under REFUSED / UNREADABLE, by the verifier's error type. Fixed texts: nothing
// here comes from the code.
const NOT_A_CODE = "This is not a whole, unchanged provchain code. Scan it again, or check that it was copied whole.";
const EXPLAIN = {
  BadPrefixError: NOT_A_CODE,
  Base45Error: NOT_A_CODE,
  BundleFormatError: NOT_A_CODE,
  DigitsError: NOT_A_CODE,
  SignatureError: "A signature does not match: the code was changed after it was signed, or it is forged.",
  OperatorKeyError: "The code was not signed by an operator this page trusts.",
  ChainError: "The journey in the code does not match what the operator signed.",
  InclusionError: "The journey in the code is not in the operator's signed log.",
  StageOrderError: "The journey's steps are not in an allowed order.",
  RoleError: "A party did a step its role does not allow.",
  ExpiredKeyError: "A party's key was not valid when it signed.",
  RevokedKeyError: "A party's key had been revoked when it signed.",
  TimeError: "The code's times do not fit this device's clock. Check the date and time of this device.",
  QuorumError: "Not enough of the independent witnesses this page requires vouch for the code's log.",
  CosignatureError: "A witness's signature in the code does not match, or is dated in the future.",
  ProofUnavailableError:
    "This code's proof is published with the operator's log and could not be fetched: connect to the internet and scan again.",
};
const REFUSED_TEXT = "The code failed a check: do not trust what it says.";
const UNREADABLE_TEXT = "This page cannot check codes: a key pinned in it, or this device's clock, is not usable.";

/** "2025-10-09T08:53:20.000Z" or an ISO time in ms -> "2025-10-09 08:53:20 UTC". */
function utc(ms) {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

function row(dl, term, value) {
  dl.append(el("dt", term), el("dd", value));
}

function renderEvent(event, n) {
  const li = el("li", undefined, "event");
  li.append(el("h3", `${n}. ${escape(event.stage)}`));
  const dl = el("dl");
  row(dl, "Party", `${escape(event.party)} (key ${event.key_id})`);
  row(dl, "Role", event.roles.length ? event.roles.map(escape).join(", ") : "-");
  row(dl, "Country", escape(event.country));
  row(dl, "Time", utc(event.at_ms));
  row(dl, "Place", event.place === null || event.place === undefined ? "-" : quote(event.place));
  const keys = Object.keys(event.data || {}).sort();
  if (keys.length) {
    const dd = el("dd");
    const ul = el("ul", undefined, "data");
    for (const k of keys) {
      const v = event.data[k];
      ul.append(el("li", `${escape(k)} = ${typeof v === "string" ? quote(v) : String(v)}`));
    }
    dd.append(ul);
    dl.append(el("dt", "Data"), dd);
  } else {
    row(dl, "Data", "-");
  }
  if (event.key_revoked_later) {
    row(dl, "Note", "This party's key was revoked after this event.");
  }
  li.append(dl);
  return li;
}

function showVerdict(word) {
  const verdict = $("verdict");
  verdict.textContent = word;
  verdict.className = `verdict ${word.toLowerCase()}`;
  document.body.dataset.verdict = word;
}

function clearResult() {
  for (const id of ["why", "item", "events", "facts"]) $(id).replaceChildren();
  $("details").hidden = true;
  $("refusal").hidden = true;
}

/** Render a verifier result ({verdict, report} or {verdict, error}). */
export function render(result, elapsedMs) {
  clearResult();
  const verdict = ["VERIFIED", "REFUSED", "UNREADABLE"].includes(result && result.verdict) ? result.verdict : "UNREADABLE";
  showVerdict(verdict);
  $("result").dataset.verifyMs = String(elapsedMs);
  const unfetched = result && result.error && result.error.type === "ProofUnavailableError";
  const how = result && result.fetched
    ? "with the log's proof fetched from the network"
    : unfetched ? "but the log's proof could not be fetched" : "without the network";
  $("timing").textContent = `Checked on this device in ${Math.max(1, Math.round(elapsedMs))} ms, ${how}.`;
  if (verdict !== "VERIFIED") {
    const error = (result && result.error) || {};
    const type = typeof error.type === "string" && /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(error.type) ? error.type : "Error";
    const why = $("why");
    why.append(el("p", verdict === "UNREADABLE" ? UNREADABLE_TEXT : EXPLAIN[type] || REFUSED_TEXT));
    // The verifier's messages name the check and a position, never a value of the code.
    why.append(el("p", `${type}: ${escape(String(error.message || ""))}`, "error"));
    $("refusal").hidden = false;
    return;
  }
  const report = result.report;
  $("item").textContent = escape(report.item);
  const events = $("events");
  report.events.forEach((event, i) => events.append(renderEvent(event, i + 1)));
  const facts = $("facts");
  row(facts, "Signed by", escape(report.operator));
  row(facts, "Code issued", utc(report.anchor.issued_ms));
  row(facts, "Log", `entry ${String(BigInt(report.anchor.head_index) + 1n)} of ${String(report.anchor.tree_size)}`);
  if (report.profile === "witnessed-published" && LOG_URL !== null) {
    row(facts, "Proof", `built from the log published at ${escape(LOG_URL)}`);
  }
  if (report.clock_skew_ms > 0) {
    row(facts, "Clock", `This device's clock seems ${Math.ceil(report.clock_skew_ms / 60000)} min behind the code.`);
  }
  const w = report.witnesses;
  if (w && w.policy !== null) {
    row(facts, "Witnesses", `${w.cosignatures.length} cosigned the log (${escape(w.policy)})`);
    for (const c of w.cosignatures) row(facts, "Cosigned", `${escape(c.name)} (key ${c.key_id}) at ${utc(Number(c.time_s) * 1000)}`);
    if (w.newest_s !== null) {
      const ago = Number(w.age_ms);
      const when = ago >= 0 ? `${Math.round(ago / 60000)} min before this check` : "after this device's clock";
      row(facts, "Freshness", `last cosigned ${utc(Number(w.newest_s) * 1000)}, ${when}`);
    }
  }
  $("details").hidden = false;
}

/** Verify a code text with the pinned keys and show the result. */
export async function check(text) {
  const started = performance.now();
  const result = await verifyCode(text, { operators: OPERATORS, now: Date.now(), witnesses: WITNESSES, log: LOG });
  const elapsed = performance.now() - started;
  render(result, elapsed);
  if (result.verdict === "VERIFIED") reportScan(text, result.report); // only with a register; never awaited
  return result;
}

function fragment() {
  const hash = location.hash.startsWith("#") ? location.hash.slice(1) : location.hash;
  return hash;
}

// --- the camera ---------------------------------------------------------------------------------

let scanning = null; // {stream, timer} while the camera is on

function stopCamera() {
  if (!scanning) return;
  clearTimeout(scanning.timer);
  for (const track of scanning.stream.getTracks()) track.stop();
  scanning = null;
  $("video").hidden = true;
  $("camera").textContent = "Scan with the camera";
  $("camera").setAttribute("aria-pressed", "false");
}

async function detector() {
  if ("BarcodeDetector" in window) {
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) {
        const d = new window.BarcodeDetector({ formats: ["qr_code"] });
        return { name: "BarcodeDetector", read: async (video) => (await d.detect(video)).map((c) => c.rawValue) };
      }
    } catch {
      // fall through to jsQR
    }
  }
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return {
    name: "jsQR",
    read: async (video) => {
      const w = video.videoWidth;
      const h = video.videoHeight;
      if (!w || !h) return [];
      const scale = Math.min(1, 1280 / Math.max(w, h));
      canvas.width = Math.round(w * scale);
      canvas.height = Math.round(h * scale);
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const found = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
      return found ? [found.data] : [];
    },
  };
}

async function startCamera() {
  const status = $("camera-status");
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    status.textContent = "This browser gives no camera to this page. Paste the code's text below instead.";
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (exc) {
    status.textContent = `The camera could not be opened (${escape(String((exc && exc.name) || "error"))}).`;
    return;
  }
  const video = $("video");
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => {});
  const reader = await detector();
  scanning = { stream, timer: 0 };
  $("camera").textContent = "Stop the camera";
  $("camera").setAttribute("aria-pressed", "true");
  status.textContent = `Point the camera at the QR code (reading with ${reader.name}).`;
  document.body.dataset.decoder = reader.name;
  const tick = async () => {
    if (!scanning) return;
    let texts = [];
    try {
      texts = await reader.read(video);
    } catch {
      texts = [];
    }
    if (!scanning) return;
    if (texts.length) {
      stopCamera();
      status.textContent = "Code read.";
      await check(texts[0]);
      return;
    }
    scanning.timer = setTimeout(tick, 120);
  };
  tick();
}

// --- start --------------------------------------------------------------------------------------

function start() {
  const keys = $("operators");
  for (const key of OPERATORS) keys.append(el("li", escape(key)));
  if (WITNESSES) {
    const policy = WITNESSES.keys
      ? `${WITNESSES.quorum} of these witnesses`
      : `the quorum "${escape(WITNESSES.quorum)}" of this witness policy`;
    keys.after(el("p", `It also requires ${policy} to have cosigned the log of each code:`));
    const list = el("ul", undefined, "operators");
    list.id = "witnesses";
    const shown = WITNESSES.keys ?? WITNESSES.witnesses.map(([name, vkey]) => `${name}: ${vkey}`);
    for (const key of shown) list.append(el("li", escape(String(key))));
    keys.parentNode.append(list);
  }
  $("camera").addEventListener("click", () => (scanning ? stopCamera() : startCamera()));
  $("paste-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("paste").value.trim();
    if (text) check(text);
  });
  const onHash = () => {
    const text = fragment();
    if (text) check(text);
  };
  window.addEventListener("hashchange", onHash);
  onHash();
  if ("serviceWorker" in navigator && window.isSecureContext && /^https?:$/.test(location.protocol)) {
    // Over https (or http on localhost), keep a copy of the page for offline use.
    navigator.serviceWorker.register("sw.js").catch(() => {});
  }
}

start();
