// Strict Ed25519 verification, the rules of provchain._internal.ed25519_strict and keys.verify_signature:
// 64-byte signature with S < L; a public key that is the canonical encoding of a point of the prime-order
// subgroup other than the identity (y < p, on the curve, no x = 0 with the sign bit, no small-order or
// mixed-order key); an R with a reduced y that is not one of the 14 encodings of the small-order points;
// then the cofactorless equation encode([S]B - [k]A) == R. @noble/curves does the point arithmetic and
// SHA-512; its own verify() is not used (it checks the cofactored equation).

import { ed25519 } from '@noble/curves/ed25519';
import { sha512 } from '@noble/hashes/sha2';
import { concat, equal } from './bytes.js';

const Point = ed25519.Point ?? ed25519.ExtendedPoint;
export const P = 2n ** 255n - 19n;
export const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function mod(a, m) {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function pow(b, e, m) {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

const D = mod(-121665n * pow(121666n, P - 2n, P), P);
const SQRT_M1 = pow(2n, (P - 1n) / 4n, P);

function sqrt(a) {
  a = mod(a, P);
  let r = pow(a, (P + 3n) / 8n, P);
  if (mod(r * r - a, P) !== 0n) r = (r * SQRT_M1) % P;
  return mod(r * r - a, P) === 0n ? r : null;
}

function littleEndian(bytes) {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]);
  return n;
}

function toLittleEndian(n, size) {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

// The 14 encodings of the 8 points of order 1, 2, 4 and 8, computed from the curve equation as the
// Python module does: y = 1, -1, 0, and the y of the order-8 points (d y^4 + 2 y^2 - 1 = 0), each with
// both sign bits, and the non-reduced form y + p where it fits in 255 bits.
function smallOrderEncodings() {
  const ys = new Set([1n, P - 1n, 0n]);
  const invD = pow(D, P - 2n, P);
  const root = sqrt(1n + D);
  if (root !== null) {
    for (const s of [root, P - root]) {
      const y = sqrt(((-1n + s) * invD) % P);
      if (y !== null) (ys.add(y), ys.add(P - y));
    }
  }
  const out = new Set();
  const add = (y) => {
    const b = toLittleEndian(y, 32);
    out.add(b.join(','));
    b[31] |= 0x80;
    out.add(b.join(','));
  };
  for (const y of ys) {
    add(y);
    if (y + P < 2n ** 255n) add(y + P);
  }
  return out;
}

export const SMALL_ORDER = smallOrderEncodings();

function yReduced(enc) {
  return (littleEndian(enc) & ((1n << 255n) - 1n)) < P;
}

const keyCache = new Map();

// The decoded point of an acceptable public key, or null.
function acceptableKey(publicKey) {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return null;
  const id = publicKey.join(',');
  if (keyCache.has(id)) return keyCache.get(id);
  let point = null;
  if (!SMALL_ORDER.has(id) && yReduced(publicKey)) {
    try {
      const a = Point.fromHex(publicKey, false); // zip215 = false: strict RFC 8032 decoding
      if (!a.is0() && !a.isSmallOrder() && a.isTorsionFree()) point = a;
    } catch {
      point = null;
    }
  }
  if (keyCache.size < 4096) keyCache.set(id, point);
  return point;
}

export function keyAcceptable(publicKey) {
  return acceptableKey(publicKey) !== null;
}

export function signatureAcceptable(signature) {
  const r = signature.subarray(0, 32);
  return littleEndian(signature.subarray(32)) < L && !SMALL_ORDER.has(r.join(',')) && yReduced(r);
}

// True when `signature` is a strict Ed25519 signature of `message` by `publicKey` (all Uint8Array).
export function verify(publicKey, message, signature) {
  if (!(signature instanceof Uint8Array) || signature.length !== 64) return false;
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return false;
  if (!signatureAcceptable(signature)) return false;
  const a = acceptableKey(publicKey);
  if (a === null) return false;
  const r = signature.subarray(0, 32);
  const s = littleEndian(signature.subarray(32));
  const k = mod(littleEndian(sha512(concat(r, publicKey, message))), L);
  const sb = s === 0n ? Point.ZERO : Point.BASE.multiply(s);
  const ka = k === 0n ? Point.ZERO : a.multiplyUnsafe(k);
  return equal(sb.subtract(ka).toRawBytes(), r);
}
