// Base45 (RFC 9285), decoded strictly as provchain.base45: only the 45 characters of the QR alphanumeric
// set, no length 3k + 1, no triplet above 65535, no final pair above 255.

import { fail } from './errors.js';

export const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';

export function encode(bytes) {
  let out = '';
  let i = 0;
  for (; i + 1 < bytes.length; i += 2) {
    const v = bytes[i] * 256 + bytes[i + 1];
    out += ALPHABET[v % 45] + ALPHABET[Math.floor(v / 45) % 45] + ALPHABET[Math.floor(v / 2025)];
  }
  if (i < bytes.length) out += ALPHABET[bytes[i] % 45] + ALPHABET[Math.floor(bytes[i] / 45)];
  return out;
}

// Decode `text` (the part after "PC1:"); `offset` is its position in the code, for messages. The length is
// checked first, then the characters, then the values, as in Python (messages differ: they never quote).
export function decode(text, offset = 0) {
  const length = text.length;
  if (length % 3 === 1) {
    throw fail('Base45Error', `the Base45 text has ${length} characters; a valid length is 3k or 3k + 2`);
  }
  const values = new Array(length);
  for (let i = 0; i < length; i++) {
    const v = ALPHABET.indexOf(text[i]);
    if (v < 0) throw fail('Base45Error', `character ${offset + i} of the code is not in the Base45 alphabet`);
    values[i] = v;
  }
  const out = new Uint8Array(Math.floor(length / 3) * 2 + (length % 3 ? 1 : 0));
  let at = 0;
  const full = length - (length % 3);
  for (let i = 0; i < full; i += 3) {
    const v = values[i] + 45 * values[i + 1] + 2025 * values[i + 2];
    if (v > 0xffff) throw fail('Base45Error', 'the Base45 text encodes a value out of range (it is not canonical Base45)');
    out[at++] = v >> 8;
    out[at++] = v & 0xff;
  }
  if (full !== length) {
    const v = values[full] + 45 * values[full + 1];
    if (v > 0xff) throw fail('Base45Error', 'the Base45 text encodes a value out of range (it is not canonical Base45)');
    out[at++] = v;
  }
  return out;
}
