// The item-code verifier: a second implementation of provchain.code.verify, held to the Python one by
// tests/test_js_verifier.py. See docs/spec/item-code.md.

import { ARGUMENT_ERRORS, CodeError, fail } from './errors.js';
import { publishedProof } from './tiles.js';
import { verifyOrThrow } from './verify.js';

export { escape, quote, identifierProblem } from './text.js';
export { parseVkey, formatVkey, isUrl, MAX_CLOCK_SKEW_MS } from './verify.js';
export { describe as describePolicy, parseWitnessVkey, policyFromKeys, makePolicy } from './witness.js';
export { fetchReader, inclusionPlan, OFFLINE, tilePath } from './tiles.js';

// Verify the scanned `text` (a PC1: code, a URL code, or the fragment alone, "02..."), against the pinned
// operator keys (C2SP verifier key strings), at `now` (integer ms). Never throws; resolves to
// {verdict: "VERIFIED", report} (report: the fields of Python's CodeReport.to_json(); integers beyond
// 2^53 - 1, such as a huge tree size or data value, are BigInt) or {verdict: "REFUSED", error: {type,
// message}} (type: the Python error class). A bad pinned key or time is not a verdict on the code:
// {verdict: "UNREADABLE", error} (the scanner's exit 2).
//
// `witnesses` (optional): the witness policy the code must satisfy: {keys: [witness verifier keys],
// quorum} (quorum default: all), or {witnesses: [[name, vkey]], groups: [[name, threshold, [members]]],
// quorum: name}, a parsed C2SP tlog-policy. A code is then refused (QuorumError) unless it is a witnessed
// code carrying a quorum of valid cosignatures; its report's `witnesses` lists them and their time.
//
// `log` (optional): the operator's published log, a reader {location, get(path, maxBytes)} such as
// fetchReader("https://verify.example/log/"). Only a witnessed-published code needs it: its inclusion
// proof is not carried but built from the log's hash tiles, fetched once the operator's signature of the
// code has verified. Without a log, or when the log cannot be fetched or lacks a tile, such a code is
// REFUSED (ProofUnavailableError), never verified. A result whose proof was fetched says `fetched: true`.
export async function verifyCode(text, { operators, now, witnesses = null, log = null } = {}) {
  // The first pass stops at the proof step of a witnessed-published code and says which proof it needs.
  let needed = null;
  const ask = (op, headIndex, treeSize) => {
    needed = { op, headIndex, treeSize };
    throw new NeedProof();
  };
  const first = verifySync(text, { operators, now, witnesses, proofs: log === null ? null : ask });
  if (needed === null) return first;
  const got = await publishedProof(log, needed.op, needed.headIndex, needed.treeSize);
  const give = () => {
    if (got.error) throw fail(got.error.type, got.error.message);
    return got.proof;
  };
  const out = verifySync(text, { operators, now, witnesses, proofs: give });
  return got.error ? out : { ...out, fetched: true };
}

class NeedProof extends Error {}

// The synchronous verifier; `proofs` as verifyOrThrow takes it (null: a witnessed-published code is refused).
export function verifySync(text, { operators, now, witnesses = null, proofs = null } = {}) {
  try {
    let code = text;
    if (typeof code === 'string' && code.startsWith('02')) code = `https://fragment.invalid/#${code}`;
    return { verdict: 'VERIFIED', report: verifyOrThrow(code, operators, now, witnesses, proofs) };
  } catch (e) {
    if (e instanceof NeedProof) return { verdict: 'PENDING' };
    if (e instanceof CodeError) {
      return { verdict: ARGUMENT_ERRORS.has(e.type) ? 'UNREADABLE' : 'REFUSED', error: { type: e.type, message: e.message } };
    }
    // A fault of this verifier, not a verdict Python gives: refused, under a name no Python class has, so
    // that the differential tests see it.
    return { verdict: 'REFUSED', error: { type: 'InternalError', message: `the verifier failed on this code (${e && e.name})` } };
  }
}
