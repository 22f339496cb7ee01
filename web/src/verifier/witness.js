// Witness policies and the cosignatures of a witnessed code: provchain.witness (WitnessPolicy.from_witnesses,
// describe, satisfied, verify_cosignatures) and code._check_witnesses, in the same order, with the same
// error classes and messages.

import { sha256 } from '@noble/hashes/sha2';
import { canonicalBase64Decode, concat, equal, hex, utf8 } from './bytes.js';
import { isKeyName, keyId } from './checks.js';
import { verify as ed25519Verify } from './ed25519.js';
import { fail } from './errors.js';

export const MAX_WITNESSES = 32;
const COSIGNATURE_V1 = 0x04;

// witness.cosignature_key_id: SHA-256(name || 0x0A || 0x04 || pub)[:4].
export function cosignatureKeyId(name, publicKey) {
  return sha256(concat(utf8(name), Uint8Array.of(0x0a, COSIGNATURE_V1), publicKey)).slice(0, 4);
}

// witness.parse_witness_vkey: {name, keyId (the cosignature/v1 one), key}; the 0x04 and the 0x01 forms.
export function parseWitnessVkey(vkey) {
  if (typeof vkey !== 'string') throw fail('KeyFormatError', 'a witness verifier key must be a string');
  if (vkey.length > 200) throw fail('KeyFormatError', `a witness verifier key is at most 200 characters, not ${vkey.length}`);
  const first = vkey.indexOf('+');
  const second = first < 0 ? -1 : vkey.indexOf('+', first + 1);
  if (second < 0) throw fail('KeyFormatError', 'a witness verifier key has the form name+hex8+base64key');
  const name = vkey.slice(0, first);
  const hexId = vkey.slice(first + 1, second);
  const raw = canonicalBase64Decode(vkey.slice(second + 1));
  if (!isKeyName(name)) throw fail('KeyFormatError', 'the name of the witness verifier key is not a valid key name');
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw fail('KeyFormatError', 'the key id of a witness verifier key must be 8 lowercase hex digits');
  if (raw === null) throw fail('KeyFormatError', 'the key part of a witness verifier key is not canonical base64');
  if (raw.length !== 33 || (raw[0] !== COSIGNATURE_V1 && raw[0] !== 0x01)) {
    throw fail('KeyFormatError', 'a witness verifier key holds 0x04 (or 0x01) followed by a 32-byte Ed25519 key');
  }
  const key = raw.slice(1);
  const own = raw[0] === COSIGNATURE_V1 ? cosignatureKeyId(name, key) : keyId(name, key);
  if (hex(own) !== hexId) throw fail('KeyFormatError', `witness verifier key id ${hexId} does not match its name and key`);
  return { name, keyId: cosignatureKeyId(name, key), key };
}

// A policy: witnesses [[policy name, verifier key]], groups [[name, threshold, [members]]] (each member
// defined before), quorum (a witness or group name, or "none"). WitnessPolicy.__init__'s checks.
export function makePolicy({ witnesses = [], groups = [], quorum = 'none' } = {}) {
  if (!Array.isArray(witnesses) || !Array.isArray(groups) || typeof quorum !== 'string') {
    throw fail('WitnessPolicyError', 'a witness policy has witnesses, groups and a quorum');
  }
  if (witnesses.length > MAX_WITNESSES || groups.length > MAX_WITNESSES) {
    throw fail('WitnessPolicyError', `a witness policy names at most ${MAX_WITNESSES} witnesses, groups and logs`);
  }
  const byName = new Map();
  const groupMap = new Map();
  const keys = new Set();
  const define = (name) => {
    if (name === 'none') throw fail('WitnessPolicyError', "'none' is reserved and cannot name a witness or group");
    if (byName.has(name) || groupMap.has(name)) throw fail('WitnessPolicyError', `the name ${name} is defined twice`);
  };
  for (const [name, vkey] of witnesses) {
    const verifier = parseWitnessVkey(vkey);
    define(name);
    if (keys.has(hex(verifier.key))) throw fail('WitnessPolicyError', `witness ${name}: its key is listed twice`);
    keys.add(hex(verifier.key));
    byName.set(name, verifier);
  }
  for (const [name, threshold, members] of groups) {
    define(name);
    if (!Array.isArray(members) || members.length === 0) throw fail('WitnessPolicyError', `group ${name} has no members`);
    if (new Set(members).size !== members.length) throw fail('WitnessPolicyError', `group ${name} lists a member twice`);
    for (const m of members) {
      if (!byName.has(m) && !groupMap.has(m)) {
        throw fail('WitnessPolicyError', `group ${name}: ${m} is not a witness or group defined before it`);
      }
    }
    if (!Number.isInteger(threshold) || threshold < 1 || threshold > members.length) {
      throw fail('WitnessPolicyError', `group ${name}: the threshold must be from 1 to ${members.length}`);
    }
    groupMap.set(name, { threshold, members: [...members] });
  }
  if (quorum !== 'none' && !byName.has(quorum) && !groupMap.has(quorum)) {
    throw fail('WitnessPolicyError', `the quorum ${quorum} is not a witness or group defined before it`);
  }
  return { witnesses: byName, groups: groupMap, quorum };
}

// WitnessPolicy.from_witnesses: the witnesses `vkeys`, of which `quorum` (default: all) must cosign.
export function policyFromKeys(vkeys, quorum = null) {
  if (!Array.isArray(vkeys)) throw fail('InputError', 'witness keys must be a list of verifier key strings');
  const verifiers = vkeys.map(parseWitnessVkey);
  if (quorum !== null && quorum !== undefined && !Number.isInteger(quorum)) throw fail('InputError', 'the quorum must be an integer');
  if (verifiers.length === 0) {
    if (quorum) throw fail('WitnessPolicyError', `a quorum of ${quorum} needs at least ${quorum} witness keys`);
    return makePolicy();
  }
  const n = quorum === null || quorum === undefined ? verifiers.length : quorum;
  if (n < 1 || n > verifiers.length) {
    throw fail('WitnessPolicyError', `the quorum must be from 1 to the number of witnesses, ${verifiers.length}, not ${n}`);
  }
  const names = verifiers.map((v) => `${v.name}+${hex(v.keyId)}`);
  if (new Set(names).size !== names.length) throw fail('WitnessPolicyError', 'a witness key is listed twice');
  return makePolicy({ witnesses: names.map((name, i) => [name, vkeys[i]]), groups: [['witnesses', n, names]], quorum: 'witnesses' });
}

// The policy a caller passed: null, a made policy, {keys, quorum}, or {witnesses, groups, quorum}.
export function toPolicy(value) {
  if (value === null || value === undefined) return null;
  if (value.witnesses instanceof Map) return value;
  if (typeof value === 'object' && Array.isArray(value.keys)) return policyFromKeys(value.keys, value.quorum ?? null);
  if (typeof value === 'object') return makePolicy(value);
  throw fail('InputError', 'witnesses must be a witness policy, {keys, quorum} or null');
}

export function requiresWitnesses(policy) {
  return policy.quorum !== 'none';
}

// WitnessPolicy.describe.
export function describe(policy) {
  if (!requiresWitnesses(policy)) return 'no witnesses required';
  if (policy.witnesses.has(policy.quorum)) return `witness ${policy.quorum}`;
  const g = policy.groups.get(policy.quorum);
  return `${g.threshold} of ${g.members.length} in group ${policy.quorum}`;
}

// WitnessPolicy.satisfied.
function satisfied(policy, cosigned) {
  const ok = (name) => {
    if (policy.witnesses.has(name)) return cosigned.has(name);
    const g = policy.groups.get(name);
    return g.members.filter(ok).length >= g.threshold;
  };
  return !requiresWitnesses(policy) || ok(policy.quorum);
}

function cosigns(verifier, text, c) {
  const message = concat(utf8(`cosignature/v1\ntime ${c.timestamp.toString()}\n`), text);
  return ed25519Verify(verifier.key, message, c.signature);
}

// code._attribute: a witnessed-published code carries no key ids; each cosignature goes to the first trusted
// witness (policy order, one verifier per distinct name and key) not yet given one whose key verifies it,
// and gets its key id; one that no trusted key verifies is dropped, as an unknown key id is.
function attribute(text, cosignatures, trusted) {
  const left = [];
  for (const [, v] of trusted) {
    if (!left.some((u) => u.name === v.name && equal(u.keyId, v.keyId) && equal(u.key, v.key))) left.push(v);
  }
  const out = [];
  for (const c of cosignatures) {
    const i = left.findIndex((v) => cosigns(v, text, c));
    if (i >= 0) {
      out.push({ ...c, keyId: left[i].keyId });
      left.splice(i, 1);
    }
  }
  return out;
}

// code._check_witnesses with WitnessPolicy.verify_cosignatures: the counted cosignatures, each
// {witness, name, keyId, timestamp (BigInt, seconds)}, or a QuorumError / CosignatureError.
export function checkWitnesses(bundle, policy, text, nowMs) {
  if (policy === null) return [];
  if (bundle.profile !== 'witnessed' && bundle.profile !== 'witnessed-published') {
    if (requiresWitnesses(policy)) {
      throw fail('QuorumError', `this ${bundle.profile} code carries no witness cosignatures; this verifier requires ${describe(policy)} (make a witnessed code: provchain code --profile witnessed)`);
    }
    return [];
  }
  const trusted = [...policy.witnesses.entries()];
  const now = BigInt(Math.floor(nowMs / 1000));
  const counted = new Map();
  const carried = bundle.profile === 'witnessed-published' ? attribute(text, bundle.anchor.cosignatures, trusted) : bundle.anchor.cosignatures;
  for (const c of carried) {
    const candidates = trusted.filter(([, v]) => equal(v.keyId, c.keyId));
    if (candidates.length === 0) continue;
    const chosen = candidates.find(([, v]) => cosigns(v, text, c)) ?? candidates[0];
    // verify_cosignatures: by (name, key id), the last policy witness of that name and key id.
    const hit = [...trusted].reverse().find(([, v]) => v.name === chosen[1].name && equal(v.keyId, c.keyId));
    const [pname, verifier] = hit;
    if (!cosigns(verifier, text, c)) {
      throw fail('CosignatureError', `the cosignature by witness ${verifier.name}+${hex(verifier.keyId)} does not verify`);
    }
    if (c.timestamp > now + 86400n) {
      throw fail('CosignatureError', `the cosignature by witness ${verifier.name} is dated ${(c.timestamp - now).toString()} s after this device's clock`);
    }
    if (!counted.has(pname)) counted.set(pname, { witness: pname, name: verifier.name, keyId: c.keyId, timestamp: c.timestamp });
  }
  if (!satisfied(policy, counted)) {
    throw fail('QuorumError', `the checkpoint carries valid cosignatures by ${counted.size} trusted witness(es); the policy requires ${describe(policy)}`);
  }
  return [...counted.values()];
}
