// The scan register, for a page published with one (`provchain verifier-page --register BASE`, or the page a
// provchain service serves at /verify/). After a code is VERIFIED on the device, the page posts the code to
// BASE + "v1/scans" and adds one line to the result: how often and since when the item was scanned, whether it
// was claimed, and the register's warnings. The verdict never depends on it: offline, or when the register
// fails or disagrees, the line says so and the verification on the device stands.
//
// Nothing but the code is sent (no cookie, no referrer). Texts from the register go into the page with
// textContent, through escape(), like every text of a code.

import { escape } from "./verifier/index.js";

const TIMEOUT_MS = 8000;
let generation = 0; // a newer check makes older answers stale

/** The register's base address pinned in the page, or null when the page has none. */
export function registerBase() {
  const node = document.getElementById("scan-register");
  try {
    const value = JSON.parse(node ? node.textContent : "null");
    return typeof value === "string" && value ? value : null;
  } catch {
    return null;
  }
}

function day(iso) {
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? new Date(ms).toISOString().slice(0, 10) : "an unknown day";
}

/** The sentence for a register's answer about a verified item (exported for tests). */
export function describe(answer) {
  const scans = Number.isSafeInteger(answer.scans) && answer.scans > 0 ? answer.scans : 1;
  let text = scans === 1 ? "First scan of this item." : `Scanned ${scans} times, first on ${day(answer.first_scan)}.`;
  if (answer.claimed === true) text += ` Claimed on ${day(answer.claimed_at)}.`;
  const warnings = Array.isArray(answer.warnings) ? answer.warnings : [];
  for (const w of warnings.slice(0, 4)) {
    if (w && typeof w.message === "string") text += ` Warning: ${escape(w.message.slice(0, 300))}.`;
  }
  return { text, warn: warnings.length > 0 || answer.claimed === true };
}

function show(facts, text, state) {
  const dt = document.createElement("dt");
  dt.textContent = "Scans";
  const dd = document.createElement("dd");
  dd.id = "register-status";
  dd.textContent = text;
  facts.append(dt, dd);
  document.body.dataset.register = state;
}

/** Report a verified code to the register, if the page has one, and show its answer under the result. */
export async function reportScan(text, report) {
  const base = registerBase();
  const mine = ++generation;
  delete document.body.dataset.register;
  if (!base || typeof fetch !== "function") return;
  const facts = document.getElementById("facts");
  let state = "unavailable";
  let line = "The scan register could not be reached; the check above was made on this device and stands.";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const url = new URL("v1/scans", new URL(base, location.href));
    const resp = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ code: text }),
      credentials: "omit",
      cache: "no-store",
      referrerPolicy: "no-referrer",
      signal: controller.signal,
    });
    const answer = resp.ok ? await resp.json() : null;
    if (answer && answer.verdict === "verified" && answer.item === report.item) {
      const d = describe(answer);
      line = d.text;
      state = d.warn ? "warning" : "shown";
    } else if (answer) {
      line = "The scan register did not confirm this code; the check above was made on this device.";
      state = "disagrees";
    }
  } catch {
    // offline, blocked or timed out: the line says the register was not reached
  } finally {
    clearTimeout(timer);
  }
  if (mine === generation && facts) show(facts, line, state);
}
