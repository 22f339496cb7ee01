// Canonical msgpack (docs/spec/entries.md, provchain.encoding), for the subset provchain uses: integers
// (number, or BigInt beyond 2^53 - 1), booleans, text, bin (Uint8Array), arrays and maps (Map with text
// keys). The encoder writes the one canonical form: shortest integers, keys sorted by their UTF-8 bytes.
// The decoder is strict: no nil, float or extension type, at most `maxContainer` elements per array or map,
// exactly one value, and the bytes must be the canonical encoding of what they hold (re-encoded and
// compared). Every failure is an EncodingFault whose message names the fault, never a value.

import { concat, equal, fromUtf8, utf8 } from './bytes.js';

export const MAX_DEPTH = 8;
export const MAX_CONTAINER = 1024;
const INT_MIN = -(2n ** 63n);
const INT_MAX = 2n ** 64n - 1n;

export class EncodingFault extends Error {}

// A decoded integer in its JavaScript form: a number when it is exact, else a BigInt.
export function normInt(big) {
  return big >= BigInt(Number.MIN_SAFE_INTEGER) && big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

export function isInt(v) {
  return (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint';
}

class Writer {
  constructor() {
    this.buf = new Uint8Array(256);
    this.len = 0;
  }
  need(n) {
    if (this.len + n > this.buf.length) {
      const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
  }
  byte(b) {
    this.need(1);
    this.buf[this.len++] = b;
  }
  uint(value, size) {
    this.need(size);
    let v = BigInt(value);
    for (let i = size - 1; i >= 0; i--) {
      this.buf[this.len + i] = Number(v & 0xffn);
      v >>= 8n;
    }
    this.len += size;
  }
  bytes(b) {
    this.need(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  result() {
    return this.buf.slice(0, this.len);
  }
}

function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function writeInt(w, value) {
  const v = BigInt(value);
  if (v < INT_MIN || v > INT_MAX) throw new EncodingFault('an integer does not fit in 64 bits');
  if (v >= 0n) {
    if (v < 128n) w.byte(Number(v));
    else if (v < 256n) (w.byte(0xcc), w.uint(v, 1));
    else if (v < 65536n) (w.byte(0xcd), w.uint(v, 2));
    else if (v < 2n ** 32n) (w.byte(0xce), w.uint(v, 4));
    else (w.byte(0xcf), w.uint(v, 8));
  } else if (v >= -32n) w.byte(Number(v) & 0xff);
  else if (v >= -128n) (w.byte(0xd0), w.uint(v & 0xffn, 1));
  else if (v >= -32768n) (w.byte(0xd1), w.uint(v & 0xffffn, 2));
  else if (v >= -(2n ** 31n)) (w.byte(0xd2), w.uint(v & 0xffffffffn, 4));
  else (w.byte(0xd3), w.uint(v & 0xffffffffffffffffn, 8));
}

function writeLength(w, n, fix, fixMax, codes) {
  if (n <= fixMax && fix !== null) w.byte(fix | n);
  else if (codes[0] !== null && n < 256) (w.byte(codes[0]), w.uint(n, 1));
  else if (n < 65536) (w.byte(codes[1]), w.uint(n, 2));
  else (w.byte(codes[2]), w.uint(n, 4));
}

function write(w, value, depth) {
  if (depth > MAX_DEPTH) throw new EncodingFault(`nesting deeper than ${MAX_DEPTH} levels`);
  if (typeof value === 'boolean') w.byte(value ? 0xc3 : 0xc2);
  else if (isInt(value)) writeInt(w, value);
  else if (typeof value === 'string') {
    const b = utf8(value);
    writeLength(w, b.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
    w.bytes(b);
  } else if (value instanceof Uint8Array) {
    writeLength(w, value.length, null, -1, [0xc4, 0xc5, 0xc6]);
    w.bytes(value);
  } else if (Array.isArray(value)) {
    writeLength(w, value.length, 0x90, 15, [null, 0xdc, 0xdd]);
    for (const v of value) write(w, v, depth + 1);
  } else if (value instanceof Map) {
    const entries = [];
    for (const [k, v] of value) {
      if (typeof k !== 'string') throw new EncodingFault('map keys must be text');
      entries.push([utf8(k), k, v]);
    }
    entries.sort((a, b) => compareBytes(a[0], b[0]));
    writeLength(w, entries.length, 0x80, 15, [null, 0xde, 0xdf]);
    for (const [kb, , v] of entries) {
      writeLength(w, kb.length, 0xa0, 31, [0xd9, 0xda, 0xdb]);
      w.bytes(kb);
      // As provchain.encoding: a scalar map value is not a level of its own.
      write(w, v, isInt(v) || typeof v === 'string' || typeof v === 'boolean' || v instanceof Uint8Array ? depth : depth + 1);
    }
  } else throw new EncodingFault('a value of this type cannot be encoded');
}

export function encode(value) {
  const w = new Writer();
  write(w, value, 0);
  return w.result();
}

class Reader {
  constructor(bytes, maxContainer) {
    this.b = bytes;
    this.at = 0;
    this.maxContainer = maxContainer;
  }
  take(n) {
    if (this.at + n > this.b.length) throw new EncodingFault('malformed msgpack: the input ends inside a value');
    const out = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint(n) {
    let v = 0n;
    for (const x of this.take(n)) v = (v << 8n) | BigInt(x);
    return v;
  }
  int(n) {
    const v = this.uint(n);
    const bits = BigInt(8 * n);
    return v >= 1n << (bits - 1n) ? v - (1n << bits) : v;
  }
  container(n) {
    if (n > this.maxContainer) throw new EncodingFault(`malformed msgpack: a container of more than ${this.maxContainer} elements`);
    return n;
  }
  text(n) {
    try {
      return fromUtf8(this.take(n));
    } catch (e) {
      if (e instanceof EncodingFault) throw e;
      throw new EncodingFault('malformed msgpack: text that is not UTF-8');
    }
  }
  value(depth) {
    // Python's unpacker has no depth limit of its own (the re-encoding has); this bound only keeps the
    // stack safe, and anything this deep fails the re-encoding anyway.
    if (depth > 64) throw new EncodingFault('nesting too deep');
    const t = this.take(1)[0];
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 256;
    if (t >= 0xa0 && t <= 0xbf) return this.text(t & 31);
    if (t >= 0x90 && t <= 0x9f) return this.array(t & 15, depth);
    if (t >= 0x80 && t <= 0x8f) return this.map(t & 15, depth);
    switch (t) {
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xcc: return normInt(this.uint(1));
      case 0xcd: return normInt(this.uint(2));
      case 0xce: return normInt(this.uint(4));
      case 0xcf: return normInt(this.uint(8));
      case 0xd0: return normInt(this.int(1));
      case 0xd1: return normInt(this.int(2));
      case 0xd2: return normInt(this.int(4));
      case 0xd3: return normInt(this.int(8));
      case 0xd9: return this.text(Number(this.uint(1)));
      case 0xda: return this.text(Number(this.uint(2)));
      case 0xdb: return this.text(Number(this.uint(4)));
      case 0xc4: return this.take(Number(this.uint(1))).slice();
      case 0xc5: return this.take(Number(this.uint(2))).slice();
      case 0xc6: return this.take(Number(this.uint(4))).slice();
      case 0xdc: return this.array(Number(this.uint(2)), depth);
      case 0xdd: return this.array(Number(this.uint(4)), depth);
      case 0xde: return this.map(Number(this.uint(2)), depth);
      case 0xdf: return this.map(Number(this.uint(4)), depth);
      case 0xc0: throw new EncodingFault('nil is not allowed');
      case 0xca:
      case 0xcb: throw new EncodingFault('floats are not allowed');
      default: throw new EncodingFault('malformed msgpack: an extension type or an unused code');
    }
  }
  array(n, depth) {
    const out = new Array(this.container(n));
    for (let i = 0; i < n; i++) out[i] = this.value(depth + 1);
    return out;
  }
  map(n, depth) {
    const out = new Map();
    this.container(n);
    for (let i = 0; i < n; i++) {
      const k = this.value(depth + 1);
      const v = this.value(depth + 1);
      if (typeof k !== 'string') throw new EncodingFault('map keys must be text');
      out.set(k, v); // a duplicated key makes the re-encoding shorter: refused below
    }
    return out;
  }
}

// Decode canonical msgpack; throw EncodingFault unless `bytes` is exactly the canonical encoding of one value.
export function decode(bytes, { maxSize = 1 << 20, maxContainer = MAX_CONTAINER } = {}) {
  if (bytes.length > maxSize) throw new EncodingFault(`input of ${bytes.length} bytes exceeds the limit of ${maxSize} bytes`);
  if (bytes.length === 0) throw new EncodingFault('empty input');
  const r = new Reader(bytes, maxContainer);
  const value = r.value(0);
  if (r.at !== bytes.length) throw new EncodingFault('trailing bytes after the value');
  if (!equal(encode(value), bytes)) {
    throw new EncodingFault('not canonical msgpack (map keys out of order, duplicated, or not in shortest form)');
  }
  return value;
}

export { concat };
