// Bytes as decimal digits (provchain.digits): 22-byte chunks, each a big-endian integer written with exactly
// as many digits as 256^n - 1 has; decoded strictly (a non-digit, an impossible length, a chunk too large:
// DigitsError).

import { fail } from './errors.js';

export const CHUNK_BYTES = 22;
export const CHUNK_DIGITS = 53;

export function digitsFor(n) {
  return n === 0 ? 0 : ((1n << BigInt(8 * n)) - 1n).toString().length;
}

const BYTES_FOR = new Map();
for (let n = 0; n < CHUNK_BYTES; n++) BYTES_FOR.set(digitsFor(n), n);

export function encode(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += CHUNK_BYTES) {
    const chunk = bytes.subarray(i, i + CHUNK_BYTES);
    let v = 0n;
    for (const b of chunk) v = (v << 8n) | BigInt(b);
    out += v.toString().padStart(digitsFor(chunk.length), '0');
  }
  return out;
}

// `offset` is the position of `text` in the code, for messages.
export function decode(text, offset = 0) {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) {
      // Python counts code points: a position after a surrogate pair is one less.
      throw fail('DigitsError', `character ${offset + [...text.slice(0, i)].length} of the code is not a decimal digit`);
    }
  }
  const rest = text.length % CHUNK_DIGITS;
  if (!BYTES_FOR.has(rest)) {
    throw fail('DigitsError', `the code's digits have a length (${text.length}) that no bundle gives: it was cut or altered`);
  }
  const out = [];
  for (let start = 0; start < text.length; start += CHUNK_DIGITS) {
    const chunk = text.slice(start, start + CHUNK_DIGITS);
    const n = chunk.length === CHUNK_DIGITS ? CHUNK_BYTES : BYTES_FOR.get(chunk.length);
    let v = BigInt(chunk);
    if (v >> BigInt(8 * n)) throw fail('DigitsError', `the digits from character ${offset + start} of the code are out of range`);
    const bytes = new Array(n);
    for (let i = n - 1; i >= 0; i--) {
      bytes[i] = Number(v & 0xffn);
      v >>= 8n;
    }
    out.push(...bytes);
  }
  return Uint8Array.from(out);
}
