// provchain.code.verify in JavaScript: the steps of docs/spec/item-code.md, "Verifying a code" (and "Verifying
// a URL code"), in the same order and with the same error classes.

import { sha256 } from '@noble/hashes/sha2';
import * as base45 from './base45.js';
import * as digits from './digits.js';
import { base64, canonicalBase64Decode, codePoints, concat, equal, hex, utf8 } from './bytes.js';
import { decodeBundle, decodeBundleV2, MAX_CODE_CHARS, trailer, unsignedValue } from './bundle.js';
import { isKeyName, keyId, MAX_TIME } from './checks.js';
import { verify as ed25519Verify, keyAcceptable } from './ed25519.js';
import { fail, malformed } from './errors.js';
import { checkWitnesses, describe, toPolicy } from './witness.js';
import { encode } from './msgpack.js';

export const MAX_CLOCK_SKEW_MS = 24 * 60 * 60 * 1000;
export const CLOCK_TOLERANCE_MS = 5 * 60 * 1000;
export const MAX_BASE_CHARS = 200;
export const MAX_URL_CHARS = MAX_BASE_CHARS + 1 + 7089;
const PREFIX = 'PC1:';
const WITNESSED = ['witnessed', 'witnessed-published'];
const CODE_DOMAIN = utf8('provchain/v1/code\n');
const CODE_DOMAIN_V2 = utf8('provchain/v2/code\n');
const ENTRY_DOMAIN = utf8('provchain/v1/entry\n');
const MAX_BODY = 8192;
const MAX_VKEY = 128 + 1 + 8 + 1 + 44; // keys._MAX_VKEY

// --- the pinned key (keys.parse_vkey) -------------------------------------------------------------

export function parseVkey(vkey) {
  if (typeof vkey !== 'string') throw fail('KeyFormatError', 'a verifier key must be a string');
  if (lengthOver(vkey, MAX_VKEY)) throw fail('KeyFormatError', `a verifier key is at most ${MAX_VKEY} characters`);
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw fail('KeyFormatError', 'a verifier key has the form name+hex8+base64key');
  const name = vkey.slice(0, first);
  const hexId = vkey.slice(first + 1, second);
  const b64 = vkey.slice(second + 1);
  if (!isKeyName(name)) throw fail('KeyFormatError', 'the name of the verifier key is not a valid key name');
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw fail('KeyFormatError', 'the key id of a verifier key must be 8 lowercase hex digits');
  const raw = canonicalBase64Decode(b64);
  if (raw === null) throw fail('KeyFormatError', 'the key part of a verifier key is not canonical base64');
  if (raw.length !== 33 || raw[0] !== 1) throw fail('KeyFormatError', 'a verifier key must hold an Ed25519 key (0x01 followed by 32 bytes)');
  const key = raw.slice(1);
  const kid = keyId(name, key);
  if (hex(kid) !== hexId) throw fail('KeyFormatError', `verifier key id ${hexId} does not match its name and key`);
  return { name, keyId: kid, key };
}

export function formatVkey(name, key) {
  return `${name}+${hex(keyId(name, key))}+${base64(concat(Uint8Array.of(1), key))}`;
}

// --- the text (code.parse, codeurl) -----------------------------------------------------------------

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?$/;
const PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*$/;

export function isUrl(text) {
  return text.slice(0, 8).toLowerCase() === 'https://';
}

// codeurl.check_base, as a yes/no: the form of a base address (it is not signed).
function baseProblem(base) {
  if (codePoints(base) > MAX_BASE_CHARS) return 'it is too long';
  if (!isUrl(base)) return 'it does not start with https://';
  const rest = base.slice(8);
  if (rest.includes('#')) return 'it has a fragment';
  const slash = rest.indexOf('/');
  let host = slash < 0 ? rest : rest.slice(0, slash);
  let path = slash < 0 ? '' : rest.slice(slash + 1);
  if (host.includes('@')) return 'it holds a user name or password';
  const q = host.indexOf('?');
  if (q >= 0) {
    path = `?${host.slice(q + 1)}`;
    host = host.slice(0, q);
  }
  const colon = host.indexOf(':');
  const port = colon < 0 ? '' : host.slice(colon + 1);
  if (!HOST.test(host) || host.includes('..') || Number(port || 443) > 65535) return 'its host is not a DNS name and port';
  if (!PATH.test(path)) return 'its path holds characters outside a URL';
  return null;
}

function lengthOver(text, limit) {
  return text.length > limit && codePoints(text) > limit;
}

function parse(payload, origin) {
  if (typeof payload !== 'string') throw fail('BadPrefixError', 'an item code is text');
  if (isUrl(payload)) {
    if (lengthOver(payload, MAX_URL_CHARS)) {
      throw fail('BundleFormatError', `a URL item code has at most ${MAX_URL_CHARS} characters, not ${codePoints(payload)}`);
    }
    const hash = payload.indexOf('#');
    if (hash < 0) throw fail('BadPrefixError', "not a provchain item code: a URL code is an https address with a '#' fragment");
    const base = payload.slice(0, hash);
    const fragment = payload.slice(hash + 1);
    const problem = baseProblem(base);
    if (problem !== null) throw fail('BadPrefixError', `not a provchain item code: the web address before '#' is malformed (${problem})`);
    if (!fragment.startsWith('02')) {
      if (/^[0-9]{2}/.test(fragment)) {
        throw fail('BadPrefixError', "this item code's version is not supported (its fragment must start with '02')");
      }
      throw fail('BadPrefixError', "not a provchain item code: its fragment does not start with '02'");
    }
    const start = codePoints(base) + 3;
    return decodeBundleV2(digits.decode(fragment.slice(2), start), origin);
  }
  if (lengthOver(payload, MAX_CODE_CHARS)) {
    throw fail('BundleFormatError', `an item code has at most ${MAX_CODE_CHARS} characters, not ${codePoints(payload)}`);
  }
  if (!payload.startsWith(PREFIX)) {
    const m = /^[A-Za-z]{1,8}[0-9]{1,4}:/.exec(payload);
    if (m && m[0].toUpperCase().startsWith('PC')) {
      throw fail('BadPrefixError', "this item code's version is not supported (expected 'PC1:')");
    }
    throw fail('BadPrefixError', "not a provchain item code: it does not start with 'PC1:' or https:// (a URL code)");
  }
  return decodeBundle(base45.decode(payload.slice(PREFIX.length), PREFIX.length), origin);
}

// --- rebuilt entries ------------------------------------------------------------------------------

function leafHash(body) {
  return sha256(concat(Uint8Array.of(0), body));
}

// The event entry body (entries.Event.to_map, canonical key order).
function eventBody(origin, at, signer, item, e, prev) {
  const m = new Map([['at', at], ['country', e.country]]);
  if (e.data.size) m.set('data', e.data);
  m.set('item', item).set('kind', 'event').set('origin', origin);
  if (e.place !== null) m.set('place', e.place);
  if (prev !== null) m.set('prev', prev);
  m.set('signer', signer).set('stage', e.stage).set('v', 1);
  return encode(m);
}

function rebuild(bundle) {
  const out = [];
  let prev = null;
  bundle.events.forEach((e, i) => {
    const encoded = eventBody(bundle.origin, e.at, bundle.parties[e.party].keyId, bundle.item, e, prev);
    if (encoded.length > MAX_BODY) throw malformed(`event ${i + 1} cannot be rebuilt as a valid event entry of at most 8192 bytes`);
    prev = leafHash(encoded);
    out.push({ encoded, leafHash: prev });
  });
  return out;
}

function registrationBody(bundle, p) {
  const m = new Map([
    ['v', 1], ['kind', 'party'], ['origin', bundle.origin], ['at', p.registeredAt], ['signer', bundle.anchor.operatorKeyId],
    ['name', p.name], ['roles', [...p.roles].sort()], ['key', p.key], ['from', p.validFrom],
  ]);
  if (p.validUntil !== null) m.set('until', p.validUntil);
  return encode(m);
}

function signedMessage(bundle, headHash) {
  if (bundle.version === 2) {
    return concat(CODE_DOMAIN_V2, encode([bundle.origin, headHash, bundle.anchor.root, bundle.body]), trailer(bundle));
  }
  return concat(CODE_DOMAIN, encode([bundle.origin, headHash, unsignedValue(bundle)]));
}

function checkpointText(origin, size, root) {
  return utf8(`${origin}\n${BigInt(size).toString()}\n${base64(root)}\n`);
}

// merkle.verify_inclusion (RFC 9162): the exact proof length, then the climb.
function verifyInclusion(leaf, index, size, proof, root) {
  const i = BigInt(index);
  const n = BigInt(size);
  const inner = (i ^ (n - 1n)).toString(2).replace(/^0+/, '').length;
  const border = [...(i >> BigInt(inner)).toString(2)].filter((c) => c === '1').length;
  if (proof.length !== inner + border) return false;
  let h = leaf;
  for (let level = 0; level < inner; level++) {
    h = (i >> BigInt(level)) & 1n ? nodeHash(proof[level], h) : nodeHash(h, proof[level]);
  }
  for (const sibling of proof.slice(inner)) h = nodeHash(sibling, h);
  return equal(h, root);
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

// --- the steps --------------------------------------------------------------------------------------

function idOf(bytes) {
  return bytes.join(',');
}

function isoTime(ms) {
  if (ms >= 253402300800000) return `${ms} ms after 1970-01-01T00:00:00Z (beyond the year 9999)`;
  return new Date(ms).toISOString();
}

// Where a witnessed-published code's proof comes from: `proofs` is null (none: the code is refused,
// ProofUnavailableError) or a function (op, headIndex, treeSize) -> proof array, which throws a CodeError
// when the proof cannot be had. verifyCode (index.js) fetches the proof from the published log first.
export const PUBLISHED_PROOF_MISSING =
  "this code's inclusion proof is published with the log, not carried, and no log is known to this verifier " +
  '(a verifier page: provchain verifier-page --log-url)';

// verifyCode's work: returns the report (CodeReport.to_json) or throws a CodeError.
export function verifyOrThrow(payload, operators, now, witnesses = null, proofs = null) {
  // (1) The time and the pinned keys.
  if (typeof now !== 'number' || !Number.isInteger(now) || now < 0 || now >= MAX_TIME) {
    throw fail('InputError', 'at must be integer milliseconds since 1970 (UTC)');
  }
  const keys = (Array.isArray(operators) ? operators : [operators]).map(parseVkey);
  if (keys.length === 0) throw fail('InputError', 'no operator key is pinned');
  const policy = toPolicy(witnesses);
  // The code is read for the first key's origin; with several keys, for the one whose key id it names.
  let op = keys[0];
  let bundle = parse(payload, op.name);
  const named = keys.find((k) => equal(k.keyId, bundle.anchor.operatorKeyId));
  if (named && named !== op) {
    op = named;
    bundle = parse(payload, op.name);
  }
  const checks = { prefix: 'ok', [bundle.version === 1 ? 'base45' : 'digits']: 'ok', bundle: 'ok' };
  // (2) The operator key.
  if (!equal(bundle.anchor.operatorKeyId, op.keyId)) {
    throw fail('OperatorKeyError', `this code was not signed by the pinned operator key (key id ${hex(op.keyId)})`);
  }
  checks.operator_key = 'ok';
  // (3) The chain.
  const rebuilt = rebuild(bundle);
  const head = rebuilt[rebuilt.length - 1].leafHash;
  // A witnessed-published code carries no hint: the signature covers the head, the proof checks it.
  if (bundle.profile !== 'witnessed-published' && !equal(head.slice(0, 4), bundle.anchor.headHint)) {
    throw fail('ChainError', 'the events do not lead to the head the operator signed: the journey in this code was altered');
  }
  checks.chain = 'ok';
  // (4) The operator's signature.
  if (!ed25519Verify(op.key, signedMessage(bundle, head), bundle.signature)) {
    throw fail('SignatureError', "the operator's signature does not match this code: it was altered");
  }
  checks.anchor_signature = 'ok';
  // (5) The registry: policy and parties.
  const registry = seedRegistry(bundle, op);
  if (bundle.full) {
    checks.registrations = 'ok';
    // (6) Party signatures, inclusion proof, checkpoint.
    bundle.events.forEach((e, i) => {
      if (!ed25519Verify(bundle.parties[e.party].key, concat(ENTRY_DOMAIN, rebuilt[i].encoded), e.signature)) {
        throw fail('SignatureError', `event ${i + 1}: its party's signature does not verify`);
      }
    });
    const a = bundle.anchor;
    if (!verifyInclusion(head, a.headIndex, a.treeSize, a.proof, a.root)) {
      throw fail('InclusionError', "the inclusion proof of the head does not lead to the code's tree root");
    }
    if (!ed25519Verify(op.key, checkpointText(bundle.origin, a.treeSize, a.root), a.checkpointSignature)) {
      throw fail('SignatureError', 'the checkpoint signature does not verify');
    }
    Object.assign(checks, { party_signatures: 'ok', inclusion_proof: 'ok', checkpoint_signature: 'ok' });
  } else if (bundle.profile === 'witnessed-published') {
    // (6) (witnessed-published) The same, with the proof built from the published log.
    const a = bundle.anchor;
    if (proofs === null) throw fail('ProofUnavailableError', PUBLISHED_PROOF_MISSING);
    const proof = proofs(op, a.headIndex, a.treeSize);
    if (!verifyInclusion(head, a.headIndex, a.treeSize, proof, a.root)) {
      throw fail('InclusionError', "the inclusion proof of the head does not lead to the code's tree root");
    }
    checks.inclusion_proof = 'ok';
  } else if (bundle.profile === 'witnessed') {
    // (6) (witnessed) The head is in the tree the witnesses cosigned.
    const a = bundle.anchor;
    if (!verifyInclusion(head, a.headIndex, a.treeSize, a.proof, a.root)) {
      throw fail('InclusionError', "the inclusion proof of the head does not lead to the code's tree root");
    }
    checks.inclusion_proof = 'ok';
  }
  // (7) The witnesses: a quorum of trusted witnesses cosigned the checkpoint (origin, tree size, root).
  const a = bundle.anchor;
  const counted = checkWitnesses(bundle, policy, checkpointText(bundle.origin, a.treeSize, a.root), now);
  const witnessed = WITNESSED.includes(bundle.profile);
  if (policy !== null && witnessed) checks.cosignatures = 'ok';
  // (8) The journey rules.
  checkRules(bundle, registry);
  checks.rules = 'ok';
  // (9) The clock.
  const issued = bundle.anchor.issued;
  const last = bundle.events[bundle.events.length - 1].at;
  if (issued + CLOCK_TOLERANCE_MS < last) throw fail('TimeError', 'the code is dated before the last event of its journey');
  const latest = Math.max(issued, last);
  if (latest > now + MAX_CLOCK_SKEW_MS) {
    throw fail('TimeError', `the code is dated more than 24 hours after this device's clock (${isoTime(now)}); if the clock is right, the code is not genuine`);
  }
  checks.time = 'ok';
  const out = report(bundle, formatVkey(op.name, op.key), rebuilt, checks, Math.max(0, latest - now));
  if (policy !== null || witnessed) out.witnesses = witnessReport(bundle, policy, counted, now);
  return out;
}

// CodeReport._witnesses_json: the counted cosignatures and the freshness of the newest.
function witnessReport(bundle, policy, counted, now) {
  const newest = counted.length ? counted.reduce((m, c) => (c.timestamp > m ? c.timestamp : m), counted[0].timestamp) : null;
  const seconds = (t) => (t <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(t) : t);
  return {
    policy: policy === null ? null : describe(policy),
    carried: bundle.anchor.cosignatures.length,
    cosignatures: counted.map((c) => ({
      witness: c.witness,
      name: c.name,
      key_id: hex(c.keyId),
      time: isoTime(Number(c.timestamp * 1000n)),
      time_s: seconds(c.timestamp),
    })),
    newest: newest === null ? null : isoTime(Number(newest * 1000n)),
    newest_s: newest === null ? null : seconds(newest),
    age_ms: newest === null ? null : seconds(BigInt(now) - newest * 1000n),
  };
}

const REGISTRATION_RULES =
  "its registration breaks the ledger's rules (the operator's own key, a key registered twice, or a key that is not an acceptable Ed25519 point)";

function seedRegistry(bundle, op) {
  const keys = new Map(); // key id -> record
  const byPublicKey = new Set();
  const byName = new Map();
  const revokedLater = new Set(bundle.parties.filter((p) => p.revoked).map((p) => idOf(p.keyId)));
  bundle.parties.forEach((p, i) => {
    const n = i + 1;
    const record = { name: p.name, roles: new Set(p.roles), validFrom: p.validFrom, validUntil: p.validUntil, revoked: false };
    if (!bundle.full) {
      if (equal(p.keyId, op.keyId)) throw fail('VerificationError', `party ${n}: the operator key cannot be a party key`);
      keys.set(idOf(p.keyId), record);
      return;
    }
    // rules.Registry.check_content of the rebuilt registration (its signer is the anchor's key id, which
    // step 6 made the pinned key's), then its signature.
    const refuse = () => fail('VerificationError', `party ${n}: ${REGISTRATION_RULES}`);
    if (equal(p.keyId, op.keyId) || equal(p.key, op.key)) throw refuse();
    if (byPublicKey.has(idOf(p.key)) || keys.has(idOf(p.keyId))) throw refuse();
    if (!keyAcceptable(p.key)) throw refuse();
    for (const earlier of byName.get(p.name) ?? []) {
      const rec = keys.get(earlier);
      if (rec.revoked || revokedLater.has(earlier)) continue;
      if (rec.validUntil !== null && rec.validUntil <= p.validFrom) continue;
      throw refuse();
    }
    if (!ed25519Verify(op.key, concat(ENTRY_DOMAIN, registrationBody(bundle, p)), p.registrationSignature)) {
      throw fail('SignatureError', `party ${n}: the operator's signature of its registration does not verify`);
    }
    keys.set(idOf(p.keyId), record);
    byPublicKey.add(idOf(p.key));
    if (!byName.has(p.name)) byName.set(p.name, []);
    byName.get(p.name).push(idOf(p.keyId));
  });
  return keys;
}

// rules.Registry.replay over the journey: before event n, the revocation of each party whose `revoked`
// is n; then the event, judged against the previous one. The rebuilt chain links and times are in order
// by construction (the bundle's time deltas are not negative), so what can fail is the key (revoked,
// window), the role and the stage order.
function checkRules(bundle, keys) {
  let previous = null;
  bundle.events.forEach((e, i) => {
    const n = i + 1;
    for (const p of bundle.parties) if (p.revoked === n) keys.get(idOf(p.keyId)).revoked = true;
    const rec = keys.get(idOf(bundle.parties[e.party].keyId));
    if (rec.revoked) throw fail('RevokedKeyError', `event ${n}: it was signed after its signer's key was revoked`);
    if (e.at < rec.validFrom || (rec.validUntil !== null && e.at >= rec.validUntil)) {
      throw fail('ExpiredKeyError', `event ${n}: it is dated outside its signer key's validity window`);
    }
    const rule = bundle.policy.get(e.stage);
    if (![...rec.roles].some((r) => rule.roles.has(r))) {
      throw fail('RoleError', `event ${n}: its signer holds no role that may record its stage`);
    }
    if (previous === null ? !rule.start : !rule.after.has(previous)) {
      throw fail('StageOrderError', `event ${n}: its stage may not follow the previous stage, or may not start a journey`);
    }
    previous = e.stage;
  });
}

function report(bundle, operator, rebuilt, checks, skew) {
  const a = bundle.anchor;
  return {
    verified: true,
    version: bundle.version,
    item: bundle.item,
    origin: bundle.origin,
    operator,
    profile: bundle.profile,
    events: bundle.events.map((e, i) => {
      const p = bundle.parties[e.party];
      return {
        stage: e.stage,
        party: p.name,
        roles: [...p.roles],
        country: e.country,
        place: e.place,
        data: Object.fromEntries(e.data),
        at: isoTime(e.at),
        at_ms: e.at,
        key_id: hex(p.keyId),
        leaf_hash: hex(rebuilt[i].leafHash),
        key_revoked_later: p.revoked !== 0,
      };
    }),
    checks,
    anchor: {
      head_index: a.headIndex,
      tree_size: a.treeSize,
      root: hex(a.root),
      head_leaf_hash: hex(rebuilt[rebuilt.length - 1].leafHash),
      issued: isoTime(a.issued),
      issued_ms: a.issued,
    },
    clock_skew_ms: skew,
  };
}
