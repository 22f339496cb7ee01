// The value checks of provchain.entries, provchain.keys and provchain.policy that a code's content passes
// through: each returns true/false (the caller names the field in its own message, never the value).

import { sha256 } from '@noble/hashes/sha2';
import { concat, isAscii, utf8, utf8Length } from './bytes.js';
import { isInt } from './msgpack.js';
import { identifierProblem, isPrintable } from './text.js';
import { COUNTRIES } from './unicode-data.js';

export const MAX_TIME = 2 ** 53;
export const MAX_ITEM = 128;
export const MAX_PLACE = 128;
export const MAX_ORIGIN = 128;
export const KEY_NAME_MAX = 128;
export const MAX_DATA_KEYS = 16;
export const MAX_DATA_VALUE = 256;
export const MAX_STAGES = 64;


const NAME_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const DATA_KEY_RE = /^[a-z][a-z0-9_.-]{0,31}$/;

// entries._text: 1 to `limit` bytes of UTF-8, printable.
export function isText(value, limit) {
  return typeof value === 'string' && value.length > 0 && utf8Length(value) <= limit && isPrintable(value);
}

// gs1.looks_gs1: an EPC URN, or an http(s) URL with a '01' (GTIN) path segment, claims to be a GS1 item id.
export function looksGs1(text) {
  const head = text.slice(0, 8).toLowerCase();
  if (head.startsWith('urn:epc:')) return true;
  if (!head.startsWith('https://') && !head.startsWith('http://')) return false;
  const rest = text.slice(text.indexOf('//') + 2);
  const slash = rest.indexOf('/');
  let path = slash < 0 ? '' : rest.slice(slash + 1);
  for (const sep of ['?', '#']) {
    const at = path.indexOf(sep);
    if (at >= 0) path = path.slice(0, at);
  }
  return path.split('/').includes('01');
}

const GS1_CANONICAL = /^https:\/\/id\.gs1\.org\/01\/([0-9]{14})\/21\/((?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+)$/;
const GS1_SERIAL = /^[!"%-?A-Z_a-z]{1,20}$/; // GS1's character set 82, 1 to 20 characters (AI 21)

// gs1.check_gs1_item: a GS1 item id must be its one canonical Digital Link, https://id.gs1.org/01/<GTIN-14>/21/
// <serial>, with a valid GTIN check digit and the serial percent-encoded as Python's quote(safe='') writes it.
export function isCanonicalGs1(text) {
  const m = GS1_CANONICAL.exec(text);
  if (!m) return false;
  const digits = [...m[1]].map(Number);
  const sum = digits.slice(0, 13).reduce((acc, d, i) => acc + d * (i % 2 === 0 ? 3 : 1), 0);
  if ((10 - (sum % 10)) % 10 !== digits[13]) return false;
  let serial;
  try {
    serial = decodeURIComponent(m[2]);
  } catch {
    return false;
  }
  if (!GS1_SERIAL.test(serial)) return false;
  const encoded = encodeURIComponent(serial).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return encoded === m[2];
}

export function isItem(item) {
  if (typeof item !== 'string' || !item) return false;
  if (/^[hHuU]/.test(item) && looksGs1(item)) return isCanonicalGs1(item);
  if (utf8Length(item) > MAX_ITEM) return false;
  if (isAscii(item) && isPrintable(item) && !item.includes(' ')) return true;
  return identifierProblem(item) === null;
}

export function isKeyName(name) {
  if (typeof name !== 'string' || !name) return false;
  if (utf8Length(name) > KEY_NAME_MAX || name.includes('+')) return false;
  return identifierProblem(name) === null;
}

export function isName(value) {
  return typeof value === 'string' && NAME_RE.test(value);
}

export function isCountry(value) {
  return typeof value === 'string' && COUNTRIES.has(value);
}

// entries.check_data for a decoded map: at most 16 keys [a-z][a-z0-9_.-]{0,31}; values text (1 to 256
// bytes, printable) or 64-bit signed integers (never booleans).
export function isData(value) {
  if (!(value instanceof Map) || value.size > MAX_DATA_KEYS) return false;
  for (const [k, v] of value) {
    if (typeof k !== 'string' || !DATA_KEY_RE.test(k)) return false;
    if (isInt(v)) {
      const b = BigInt(v);
      if (b < -(2n ** 63n) || b >= 2n ** 63n) return false;
    } else if (!isText(v, MAX_DATA_VALUE)) return false;
  }
  return true;
}

export function keyId(name, publicKey) {
  return sha256(concat(utf8(name), Uint8Array.of(0x0a, 0x01), publicKey)).slice(0, 4);
}

// A name list of a policy rule: names, sorted, no duplicates.
function nameList(values) {
  if (!Array.isArray(values) || !values.every(isName)) return null;
  const sorted = [...new Set(values)].sort();
  return sorted.length === values.length && sorted.every((v, i) => v === values[i]) ? new Set(values) : null;
}

// policy.Policy.from_map and its __post_init__: a Map of stage name -> {after, roles, start}; null if invalid.
export function parsePolicy(value) {
  if (!(value instanceof Map)) return null;
  const stages = new Map();
  for (const [name, rule] of value) {
    if (!isName(name)) return null;
    if (!(rule instanceof Map) || rule.size !== 3 || !rule.has('after') || !rule.has('roles') || !rule.has('start')) return null;
    if (typeof rule.get('start') !== 'boolean') return null;
    const roles = nameList(rule.get('roles'));
    const after = nameList(rule.get('after'));
    if (roles === null || after === null) return null;
    stages.set(name, { roles, after, start: rule.get('start') });
  }
  if (stages.size === 0 || stages.size > MAX_STAGES) return null;
  if (![...stages.values()].some((r) => r.start)) return null;
  for (const rule of stages.values()) {
    if (rule.roles.size === 0) return null;
    for (const prev of rule.after) if (!stages.has(prev)) return null;
  }
  return stages;
}

function rule(roles, after, start) {
  return { roles: new Set(roles), after: new Set(after), start };
}

export const DEFAULT_POLICY = new Map([
  ['origin', rule(['origin'], [], true)],
  ['export', rule(['origin'], ['origin'], false)],
  ['import', rule(['customs'], ['origin', 'export'], false)],
  ['warehouse', rule(['warehouse'], ['import', 'warehouse', 'return'], false)],
  ['appraisal', rule(['appraiser'], ['warehouse', 'appraisal', 'return'], false)],
  ['delivery', rule(['courier'], ['warehouse', 'appraisal'], false)],
  ['return', rule(['courier', 'warehouse'], ['delivery'], false)],
]);

function sameSet(a, b) {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

export function samePolicy(a, b) {
  if (a.size !== b.size) return false;
  for (const [name, r] of a) {
    const s = b.get(name);
    if (!s || s.start !== r.start || !sameSet(s.roles, r.roles) || !sameSet(s.after, r.after)) return false;
  }
  return true;
}

// The stage list of an item code (policy.Policy.code_stages): the names sorted, except for the default policy,
// whose list is fixed: its first six stages sorted, then 'return', which came later. A code names a stage by its
// index here, so a stage added to the default policy goes at the end and older codes keep their meaning.
export const DEFAULT_CODE_STAGES = ['appraisal', 'delivery', 'export', 'import', 'origin', 'warehouse', 'return'];

export function codeStages(policy) {
  return policy === DEFAULT_POLICY || samePolicy(policy, DEFAULT_POLICY) ? [...DEFAULT_CODE_STAGES] : [...policy.keys()].sort();
}

// The canonical map of a policy (policy.Policy.to_map).
export function policyMap(stages) {
  const out = new Map();
  for (const [name, r] of stages) {
    out.set(name, new Map([['after', [...r.after].sort()], ['roles', [...r.roles].sort()], ['start', r.start]]));
  }
  return out;
}
