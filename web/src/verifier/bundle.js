// The bundle layouts (provchain._internal.bundle and bundle2): decode a version 1 bundle (canonical msgpack
// of [profile, item, policy, parties, events, anchor, signature]) or a version 2 one (signature, root and
// the raw DEFLATE, with the preset dictionary, of the rewritten body), checking the form only. Every fault
// is a BundleFormatError.

import { inflateRawStream } from './inflate.js';
import { malformed } from './errors.js';
import { bytesToBigInt, equal, utf8 } from './bytes.js';
import { decode as msgpackDecode, encode, EncodingFault, isInt, normInt } from './msgpack.js';
import {
  DEFAULT_POLICY, MAX_ORIGIN, MAX_PLACE, MAX_TIME, codeStages, isCountry, isData, isItem, isKeyName, isName, isText, keyId,
  parsePolicy, policyMap, samePolicy,
} from './checks.js';

export const MAX_CODE_CHARS = 3391;
export const MAX_EVENTS = 255;
export const MAX_PROOF = 64;
export const MAX_INFLATED = 4096;
export const PROFILES = ['compact', 'full', 'witnessed', 'witnessed-published'];
const ANCHOR_LENGTHS = { compact: 6, full: 8, witnessed: 8, 'witnessed-published': 6 };
export const MAX_COSIGNATURES = 32;
const COSIGNATURE_BYTES = 76;
const TIMESTAMP_MAX = 2n ** 63n - 1n;
const SIG = 64;
const HASH = 32;
const UNITS = [1n, 1000n, 60000n, 3600000n];
const TAG_LIMIT = 2n ** 62n;

const WORDS = `lot serial sku gtin expiry quantity weight temperature seal container vessel flight invoice order result
  status grade inspector pass fail ok note US DE IT JP GB KR ES NL HK SG VN TH MY IN BR MX CA AU CH BE port
  airport bonded zone warehouse hub centre center -logistics -customs -broker -express -labs -inspection
  -warehouse -wh genuine verdict certificate declaration waybill bin batch FR CN`.split(/\s+/);
export const DICTIONARY = Uint8Array.from(WORDS.flatMap((w) => [...encode(w)]));

function list(value, what, lengths) {
  if (!Array.isArray(value) || !lengths.includes(value.length)) {
    throw malformed(`${what} must be an array of ${lengths.join(' or ')} elements`);
  }
  return value;
}

// provchain._internal.validate.check_int: an integer (never a bool) in [low, high]; returned as it was
// decoded (a number, or a BigInt beyond 2^53 - 1).
function int(value, what, low, high) {
  if (!isInt(value) || BigInt(value) < BigInt(low) || BigInt(value) > BigInt(high)) {
    throw malformed(`${what} must be an integer from ${low} to ${high}`);
  }
  return value;
}

function bin(value, what, length) {
  if (!(value instanceof Uint8Array) || value.length !== length) throw malformed(`${what} must be ${length} bytes`);
  return value;
}

// A time: the BigInt sum must lie in [0, 2^53); returned as a number.
function time(value, what) {
  const v = BigInt(value);
  if (v < 0n || v >= BigInt(MAX_TIME)) throw malformed(`${what} is out of range`);
  return Number(v);
}

function checked(ok, what, rule) {
  if (!ok) throw malformed(`${what} is not ${rule}`);
}

function policyOf(value) {
  if (!(value instanceof Map)) throw malformed('the policy must be a map');
  if (value.size === 0) return DEFAULT_POLICY;
  const policy = parsePolicy(value);
  checked(policy !== null, 'the policy', 'a valid journey policy map');
  if (samePolicy(policy, DEFAULT_POLICY)) throw malformed('the default policy must be encoded as an empty map');
  return policy;
}

function party(row, n, full, base, events) {
  const r = list(row, `party ${n}`, full ? [8] : [6]);
  checked(isKeyName(r[0]), `party ${n} name`, "a valid key name (1 to 128 bytes, no spaces, no '+')");
  const roles = r[1];
  if (!Array.isArray(roles) || roles.length < 1 || roles.length > 16) {
    throw malformed(`party ${n} roles must be an array of 1 to 16 names`);
  }
  for (const role of roles) checked(isName(role), `a role of party ${n}`, 'a role name ([a-z][a-z0-9_-]{0,31})');
  const sorted = [...new Set(roles)].sort();
  if (sorted.length !== roles.length || sorted.some((v, i) => v !== roles[i])) {
    throw malformed(`party ${n} roles must be sorted and without duplicates`);
  }
  const validFrom = time(BigInt(base) + BigInt(int(r[2], `party ${n} valid-from`, -MAX_TIME, MAX_TIME)), `party ${n} valid-from`);
  const untilDelta = int(r[3], `party ${n} valid-until`, 0, MAX_TIME);
  const validUntil = BigInt(untilDelta) ? time(BigInt(validFrom) + BigInt(untilDelta), `party ${n} valid-until`) : null;
  const revoked = Number(int(r[4], `party ${n} revocation position`, 0, events + 1));
  const p = { name: r[0], roles: [...roles], validFrom, validUntil, revoked };
  if (full) {
    p.key = bin(r[5], `party ${n} key`, HASH);
    p.registeredAt = time(BigInt(validFrom) + BigInt(int(r[6], `party ${n} registration time`, -MAX_TIME, MAX_TIME)), 'registration');
    p.registrationSignature = bin(r[7], `party ${n} registration signature`, SIG);
    p.keyId = keyId(p.name, p.key);
  } else {
    p.keyId = bin(r[5], `party ${n} key id`, 4);
  }
  return p;
}

function event(row, n, full, previous, stages, parties) {
  const r = list(row, `event ${n}`, full ? [7] : [6]);
  const t = int(r[0], `event ${n} time`, 0, MAX_TIME);
  const at = time(previous === null ? t : BigInt(previous.at) + BigInt(t), `event ${n} time`);
  const partyIndex = Number(int(r[1], `event ${n} party`, 0, parties - 1));
  const stage = stages[Number(int(r[2], `event ${n} stage`, 0, stages.length - 1))];
  checked(isCountry(r[3]), `event ${n} country`, 'an ISO 3166-1 alpha-2 country code');
  let place = null;
  if (r[4] === 0) {
    if (previous === null || previous.place === null) {
      throw malformed(`event ${n} place says 'same as the previous event', which has no place`);
    }
    place = previous.place;
  } else if (r[4] !== '') {
    checked(isText(r[4], MAX_PLACE), `event ${n} place`, 'a valid place (1 to 128 bytes of printable UTF-8)');
    place = r[4];
    if (previous !== null && place === previous.place) {
      throw malformed(`event ${n} repeats the previous place, which must be encoded as 0`);
    }
  }
  if (!(r[5] instanceof Map)) throw malformed(`event ${n} data must be a map`);
  checked(isData(r[5]), `event ${n} data`, 'valid stage data (at most 16 keys [a-z][a-z0-9_.-]{0,31}, text or 64-bit integer values)');
  const data = new Map([...r[5]].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  const signature = full ? bin(r[6], `event ${n} signature`, SIG) : null;
  return { at, party: partyIndex, stage, country: r[3], place, data, signature };
}

// bundle.CodeCosignature.from_raw: key id (4), u64 timestamp (8, below 2^63), signature (64).
function cosignature(raw) {
  if (!(raw instanceof Uint8Array) || raw.length !== COSIGNATURE_BYTES) {
    throw malformed(`a cosignature must be ${COSIGNATURE_BYTES} bytes`);
  }
  const timestamp = bytesToBigInt(raw.subarray(4, 12));
  if (timestamp > 2n ** 63n - 1n) throw malformed("a cosignature's timestamp must be below 2^63");
  return { keyId: raw.slice(0, 4), timestamp, signature: raw.slice(12), raw };
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function cosignatures(value) {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_COSIGNATURES) {
    throw malformed(`the cosignatures must be an array of 1 to ${MAX_COSIGNATURES} cosignatures`);
  }
  const out = value.map(cosignature);
  for (let i = 1; i < out.length; i++) {
    if (compareBytes(out[i - 1].keyId, out[i].keyId) >= 0) {
      throw malformed('the cosignatures must be sorted by key id, one per key id');
    }
  }
  return out;
}

// bundle._published_rows read back (_published_cosignatures): [time_d, signature] rows, signatures strictly
// ascending; each time the previous row's plus time_d (the first: the issue time in whole seconds plus it),
// in [0, 2^63). No key id: keyId is empty.
function publishedCosignatures(value, issued) {
  if (!Array.isArray(value) || value.length < 1 || value.length > MAX_COSIGNATURES) {
    throw malformed(`the cosignatures must be an array of 1 to ${MAX_COSIGNATURES} cosignatures`);
  }
  const out = [];
  let previous = BigInt(issued) / 1000n;
  value.forEach((raw, i) => {
    const n = i + 1;
    const r = list(raw, `cosignature ${n}`, [2]);
    const timestamp = previous + BigInt(int(r[0], `cosignature ${n} time`, -TIMESTAMP_MAX, TIMESTAMP_MAX));
    if (timestamp < 0n || timestamp > TIMESTAMP_MAX) throw malformed(`cosignature ${n} time must be from 0 to 2^63 - 1 seconds`);
    const signature = bin(r[1], `cosignature ${n} signature`, SIG);
    if (out.length > 0 && compareBytes(signature, out[out.length - 1].signature) <= 0) {
      throw malformed('the cosignatures must be sorted by signature, without duplicates');
    }
    out.push({ keyId: new Uint8Array(0), timestamp, signature });
    previous = timestamp;
  });
  return out;
}

function anchor(value, profile, headAt) {
  const a = list(value, 'the anchor', [ANCHOR_LENGTHS[profile]]);
  const operatorKeyId = bin(a[0], 'the operator key id', 4);
  if (profile === 'witnessed-published') { // no head hint; the proof is published with the log, not carried
    const treeSize = int(a[2], 'the tree size', 1, 2n ** 64n - 1n);
    const headIndex = int(a[1], 'the head index', 0, BigInt(treeSize) - 1n);
    const root = bin(a[3], 'the root', HASH);
    const issued = time(BigInt(headAt) + BigInt(int(a[4], 'the issue time', -MAX_TIME, MAX_TIME)), 'the issue time');
    const cosignatures = publishedCosignatures(a[5], issued);
    return {
      operatorKeyId, headHint: new Uint8Array(0), headIndex, treeSize, root, issued, proof: [], checkpointSignature: null, cosignatures,
    };
  }
  const headHint = bin(a[1], 'the head hint', 4);
  const treeSize = int(a[3], 'the tree size', 1, 2n ** 64n - 1n);
  const headIndex = int(a[2], 'the head index', 0, BigInt(treeSize) - 1n);
  const root = bin(a[4], 'the root', HASH);
  const issued = time(BigInt(headAt) + BigInt(int(a[5], 'the issue time', -MAX_TIME, MAX_TIME)), 'the issue time');
  const out = {
    operatorKeyId, headHint, headIndex, treeSize, root, issued, proof: [], checkpointSignature: null, cosignatures: [],
  };
  if (profile !== 'compact') {
    if (!Array.isArray(a[6]) || a[6].length > MAX_PROOF) {
      throw malformed(`the inclusion proof must be an array of at most ${MAX_PROOF} hashes`);
    }
    out.proof = a[6].map((h) => bin(h, 'an inclusion proof hash', HASH));
    if (profile === 'full') out.checkpointSignature = bin(a[7], 'the checkpoint signature', SIG);
    else out.cosignatures = cosignatures(a[7]);
  }
  return out;
}

// bundle._from_value: the checked Bundle of a decoded version 1 array.
function fromValue(value, origin) {
  const top = list(value, 'a bundle', [7]);
  const profile = PROFILES[Number(int(top[0], 'the profile', 0, PROFILES.length - 1))];
  const full = profile === 'full';
  checked(isItem(top[1]), 'the item id', 'a valid item id (1 to 128 bytes of printable UTF-8 without spaces)');
  const policy = policyOf(top[2]);
  const stages = codeStages(policy);
  const rows = top[4];
  const partyRows = top[3];
  if (!Array.isArray(rows) || rows.length < 1 || rows.length > MAX_EVENTS) {
    throw malformed(`events must be an array of 1 to ${MAX_EVENTS} events`);
  }
  if (!Array.isArray(partyRows) || partyRows.length < 1 || partyRows.length > rows.length) {
    throw malformed('parties must be an array of 1 party or more, at most one per event');
  }
  const events = [];
  let previous = null;
  rows.forEach((row, i) => {
    previous = event(row, i + 1, full, previous, stages, partyRows.length);
    events.push(previous);
  });
  const firstUse = [];
  for (const e of events) if (!firstUse.includes(e.party)) firstUse.push(e.party);
  if (firstUse.length !== partyRows.length || firstUse.some((p, i) => p !== i)) {
    throw malformed('the party table must list each signer once, in the order of its first event');
  }
  const base = events[0].at;
  const parties = partyRows.map((row, i) => party(row, i + 1, full, base, events.length));
  if (new Set(parties.map((p) => p.keyId.join(','))).size !== parties.length) {
    throw malformed('the party table lists a key twice');
  }
  const anc = anchor(top[5], profile, events[events.length - 1].at);
  const signature = bin(top[6], 'the signature', SIG);
  return { version: 1, profile, full, origin, item: top[1], policy, stages, parties, events, anchor: anc, signature };
}

function checkOrigin(origin) {
  checked(isText(origin, MAX_ORIGIN), 'the origin', 'a valid ledger origin');
  return origin;
}

// bundle._published_rows: [time_d, signature] rows sorted by signature, each time from the one before
// (the first from the issue time in whole seconds).
function publishedRows(cosignatures, issued) {
  let previous = BigInt(issued) / 1000n;
  return [...cosignatures].sort((x, y) => compareBytes(x.signature, y.signature)).map((c) => {
    const out = [normInt(c.timestamp - previous), c.signature];
    previous = c.timestamp;
    return out;
  });
}

// bundle2.trailer: what follows a version 2 code's DEFLATE stream: a witnessed-published code's cosignature
// signatures (64 bytes each, ascending), nothing for the other profiles.
export function trailer(b) {
  if (b.profile !== 'witnessed-published') return new Uint8Array(0);
  const sigs = [...b.anchor.cosignatures].map((c) => c.signature).sort(compareBytes);
  const out = new Uint8Array(SIG * sigs.length);
  sigs.forEach((sig, i) => out.set(sig, SIG * i));
  return out;
}

// Bundle._unsigned_value: the version 1 array without the signature, written from the checked bundle.
export function unsignedValue(b) {
  const base = BigInt(b.events[0].at);
  const parties = b.parties.map((p) => {
    const row = [p.name, [...p.roles], normInt(BigInt(p.validFrom) - base),
      p.validUntil === null ? 0 : normInt(BigInt(p.validUntil) - BigInt(p.validFrom)), p.revoked];
    if (b.full) row.push(p.key, normInt(BigInt(p.registeredAt) - BigInt(p.validFrom)), p.registrationSignature);
    else row.push(p.keyId);
    return row;
  });
  let previous = null;
  const events = b.events.map((e) => {
    let place = e.place ?? '';
    if (previous !== null && e.place !== null && e.place === previous.place) place = 0;
    const row = [previous === null ? e.at : e.at - previous.at, e.party, b.stages.indexOf(e.stage), e.country, place, e.data];
    if (b.full) row.push(e.signature);
    previous = e;
    return row;
  });
  const a = b.anchor;
  let anc = [a.operatorKeyId, a.headHint, a.headIndex, a.treeSize, a.root, a.issued - b.events[b.events.length - 1].at];
  if (b.full) anc.push([...a.proof], a.checkpointSignature);
  else if (b.profile === 'witnessed') anc.push([...a.proof], a.cosignatures.map((c) => c.raw));
  else if (b.profile === 'witnessed-published') anc = [anc[0], ...anc.slice(2), publishedRows(a.cosignatures, a.issued)];
  const policy = samePolicy(b.policy, DEFAULT_POLICY) ? new Map() : policyMap(b.policy);
  return [PROFILES.indexOf(b.profile), b.item, policy, parties, events, anc];
}

// Decode the version 1 bundle bytes (what a PC1 code's Base45 holds).
export function decodeBundle(raw, origin) {
  let value;
  try {
    value = msgpackDecode(raw, { maxSize: MAX_CODE_CHARS });
  } catch (e) {
    if (e instanceof EncodingFault) throw malformed(e.message);
    throw e;
  }
  const bundle = fromValue(value, checkOrigin(origin));
  if (!equal(encode([...unsignedValue(bundle), bundle.signature]), raw)) {
    throw malformed('the bundle is not in its one canonical form');
  }
  bundle.unsigned = value.slice(0, 6);
  return bundle;
}

// --- version 2 ---------------------------------------------------------------------------------------

function tag(ms) {
  const v = BigInt(ms);
  for (const unit of [3, 2, 1]) if (v % UNITS[unit] === 0n) return normInt((v / UNITS[unit]) * 4n + BigInt(unit));
  return normInt(v * 4n);
}

function untag(value, what) {
  if (!isInt(value) || BigInt(value) < -TAG_LIMIT || BigInt(value) >= TAG_LIMIT) {
    throw malformed(`${what} must be a tagged time (an integer)`);
  }
  const v = BigInt(value);
  return normInt((v >> 2n) * UNITS[Number(v & 3n)]);
}

function policyRoles(policyValue) {
  const policy = policyOf(policyValue);
  const roles = new Set();
  for (const r of policy.values()) for (const role of r.roles) roles.add(role);
  return [...roles].sort();
}

// bundle2.body_value: the version 2 body of a checked bundle.
export function bodyValueV2(b) {
  const [profile, item, policy, parties, events, anc] = unsignedValue(b);
  const roles = policyRoles(policy);
  const outParties = parties.map((row) => {
    const out = [row[0], row[1].map((r) => (roles.includes(r) ? roles.indexOf(r) : r)), tag(row[2]), tag(row[3]), ...row.slice(4)];
    if (b.full) out[6] = tag(row[6]);
    return out;
  });
  let previousCountry = null;
  const outEvents = events.map((row) => {
    const country = row[3] === previousCountry ? 0 : row[3];
    previousCountry = row[3];
    return [tag(row[0]), row[1], row[2], country, ...row.slice(4)];
  });
  const outAnchor = b.profile === 'witnessed-published'
    ? [...anc.slice(0, 3), tag(anc[4]), anc[5].map((r) => r[0])] // the signatures follow the stream (trailer)
    : [...anc.slice(0, 4), tag(anc[5]), ...anc.slice(6)];
  return [profile, item, policy, outParties, outEvents, outAnchor];
}

function row(value, what, lengths) {
  return [...list(value, what, lengths)];
}

// bundle2._version1_value: the version 1 array a version 2 body stands for.
function version1Value(body, root, signature, rest) {
  const top = row(body, 'a bundle', [6]);
  if (top[0] !== 3 && rest.length > 0) throw malformed('bytes follow the compressed body');
  const full = top[0] === 1;
  const roles = policyRoles(top[2]);
  const parties = Array.isArray(top[3]) ? top[3] : [];
  const events = Array.isArray(top[4]) ? top[4] : [];
  if (parties.length > events.length || events.length > 255) return [...top, signature];
  const outParties = parties.map((raw, i) => {
    const n = i + 1;
    const r = row(raw, `party ${n}`, full ? [8] : [6]);
    if (!Array.isArray(r[1])) throw malformed(`party ${n} roles must be an array of 1 to 16 names`);
    const names = r[1].map((role) => {
      if (isInt(role)) {
        if (BigInt(role) < 0n || BigInt(role) >= BigInt(roles.length)) {
          throw malformed(`a role of party ${n} is not an index into the policy's roles`);
        }
        return roles[Number(role)];
      }
      return role;
    });
    r.splice(1, 3, names, untag(r[2], `party ${n} valid-from`), untag(r[3], `party ${n} valid-until`));
    if (full) r[6] = untag(r[6], `party ${n} registration time`);
    return r;
  });
  let previousCountry = null;
  const outEvents = events.map((raw, i) => {
    const n = i + 1;
    const r = row(raw, `event ${n}`, full ? [7] : [6]);
    r[0] = untag(r[0], `event ${n} time`);
    if (r[3] === 0) {
      if (previousCountry === null) throw malformed("event 1 country says 'same as the previous event'");
      r[3] = previousCountry;
    }
    previousCountry = r[3];
    return r;
  });
  let outAnchor;
  if (top[0] === 3) { // witnessed-published: no head hint; the cosignatures' signatures follow the stream
    const anc = row(top[5], 'the anchor', [5]);
    const times = anc[4];
    if (!Array.isArray(times) || times.length < 1 || times.length > MAX_COSIGNATURES) {
      throw malformed(`the cosignature times must be an array of 1 to ${MAX_COSIGNATURES} times`);
    }
    if (rest.length !== SIG * times.length) {
      throw malformed(`${times.length} cosignature signature(s) of 64 bytes must follow the compressed body`);
    }
    const rows = times.map((t, i) => [t, rest.slice(SIG * i, SIG * i + SIG)]);
    outAnchor = [...anc.slice(0, 3), root, untag(anc[3], 'the issue time'), rows];
  } else {
    const anc = row(top[5], 'the anchor', top[0] === 0 || top[0] === false ? [5] : [7]);
    outAnchor = [...anc.slice(0, 4), root, untag(anc[4], 'the issue time'), ...anc.slice(5)];
  }
  return [top[0], top[1], top[2], outParties, outEvents, outAnchor, signature];
}

// Decode the version 2 bundle bytes (what a URL code's digits hold).
export function decodeBundleV2(raw, origin) {
  if (raw.length <= 96) throw malformed(`a version 2 bundle has more than 96 bytes, not ${raw.length}`);
  const signature = raw.slice(0, 64);
  const root = raw.slice(64, 96);
  const { out: inflated, rest } = inflateRawStream(raw.subarray(96), DICTIONARY, MAX_INFLATED);
  let body;
  try {
    body = msgpackDecode(inflated, { maxSize: MAX_INFLATED });
  } catch (e) {
    if (e instanceof EncodingFault) throw malformed(e.message);
    throw e;
  }
  const bundle = fromValue(version1Value(body, root, signature, rest), checkOrigin(origin));
  bundle.version = 2;
  if (!equal(encode(bodyValueV2(bundle)), inflated)) throw malformed('the bundle is not in its one canonical form');
  bundle.body = body;
  bundle.inflated = inflated;
  return bundle;
}

export { utf8 };
