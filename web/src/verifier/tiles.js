// The inclusion proof of a witnessed-published code, built from the log the operator publishes as static
// C2SP tlog-tiles files (docs/spec/tiles.md; Python: provchain.tlog.TiledLog and provchain.merkle's
// inclusion_plan). Nothing read here is trusted: the proof is checked against the root in the code (whose
// checkpoint the witnesses cosigned), so a log that serves other hashes only gets the code refused.
//
// A reader is {location, get(path, maxBytes) -> Promise<Uint8Array | null>}: null when the log has no such
// file (HTTP 404 / 410), a rejected promise when it cannot be read (no network, a timeout, a server error).
// fetchReader(prefix) reads over HTTP with fetch(); web/test gives a directory reader.

import { sha256 } from '@noble/hashes/sha2';
import { canonicalBase64Decode, concat, equal, fromUtf8, utf8 } from './bytes.js';
import { verify as ed25519Verify } from './ed25519.js';
import { fail } from './errors.js';

export const TILE_HEIGHT = 8;
export const TILE_WIDTH = 256;
export const CHECKPOINT_PATH = 'checkpoint';
const MAX_CHECKPOINT = 1 << 16; // tlog.reader.MAX_CHECKPOINT
const HASH = 32;

// --- paths (tlog.layout) ------------------------------------------------------------------------------

// n as 3-digit path elements, all but the last prefixed with x: 1234067 -> x001/x234/067.
export function indexPath(n) {
  let v = BigInt(n);
  const parts = [(v % 1000n).toString().padStart(3, '0')];
  v /= 1000n;
  while (v > 0n) {
    parts.push(`x${(v % 1000n).toString().padStart(3, '0')}`);
    v /= 1000n;
  }
  return parts.reverse().join('/');
}

export function tilePath(level, n, width) {
  return `tile/${level}/${indexPath(n)}${width === TILE_WIDTH ? '' : `.p/${width}`}`;
}

// How many hashes tile n of tile level `level` holds in a tree of `size` leaves (0: none).
export function tileWidth(level, n, size) {
  const count = BigInt(size) >> BigInt(TILE_HEIGHT * level);
  const w = count - BigInt(n) * BigInt(TILE_WIDTH);
  return Number(w < 0n ? 0n : w > BigInt(TILE_WIDTH) ? BigInt(TILE_WIDTH) : w);
}

// --- the proof plan (merkle.inclusion_plan) ----------------------------------------------------------

function bitLength(v) {
  return v === 0n ? 0 : v.toString(2).length;
}

// The complete subtrees (level, index) that make up leaves [begin, end), left to right.
function decompose(begin, end) {
  const width = end - begin;
  const nodes = [];
  let pos = begin;
  for (let level = bitLength(width) - 1; level >= 0; level--) {
    if ((width >> BigInt(level)) & 1n) {
      nodes.push([level, pos >> BigInt(level)]);
      pos += 1n << BigInt(level);
    }
  }
  return nodes;
}

// For each element of the RFC 9162 inclusion proof of `index` in a tree of `size` leaves, in proof order,
// the complete nodes [level, index] whose hashes fold into it. Below the level where the paths to index
// and to size - 1 part (the inner part), each sibling is a complete subtree but the highest, which is
// everything right of index's subtree up to size; above it, a left sibling for each set bit of index.
export function inclusionPlan(index, size) {
  const i = BigInt(index);
  const n = BigInt(size);
  if (i < 0n || i >= n) throw fail('InputError', 'the head index is not below the tree size');
  const inner = bitLength(i ^ (n - 1n));
  const plan = [];
  for (let level = 0; level < inner - 1; level++) plan.push([[level, (i >> BigInt(level)) ^ 1n]]);
  if (inner > 0) {
    const top = BigInt(inner - 1);
    plan.push(decompose(((i >> top) + 1n) << top, n));
  }
  for (let level = inner; level < bitLength(n); level++) {
    if ((i >> BigInt(level)) & 1n) plan.push([[level, (i >> BigInt(level)) ^ 1n]]);
  }
  return plan;
}

function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(1), left, right));
}

// MTH of a range from its complete subtrees' hashes, left to right (a right fold).
function fold(hashes) {
  let h = hashes[hashes.length - 1];
  for (let k = hashes.length - 2; k >= 0; k--) h = nodeHash(hashes[k], h);
  return h;
}

// --- the published checkpoint --------------------------------------------------------------------------

const MAX_SIGNATURES = 100; // note.MAX_SIGNATURES
const CONTROL = /[\x00-\x09\x0b-\x1f]/;

// The tree size of the published checkpoint, read as provchain.checkpoint.open_checkpoint reads it (the
// C2SP signed note rules of provchain.note.open, then Checkpoint.parse), verified by the operator key `op`
// ({name, keyId, key}). The size says which tiles to read and how wide they are; the root is not needed
// (the code's root is what the proof is checked against).
function checkpointSize(note, op) {
  let text;
  try {
    text = fromUtf8(note);
  } catch {
    throw new Error('the published checkpoint is not valid UTF-8');
  }
  if (CONTROL.test(text)) throw new Error('the published checkpoint holds a control character');
  const cut = text.lastIndexOf('\n\n');
  if (cut < 0) throw new Error('the published checkpoint is not a signed note');
  const body = text.slice(0, cut + 1);
  const block = text.slice(cut + 2);
  if (!block || !block.endsWith('\n')) throw new Error("the published checkpoint's signature lines are malformed");
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES) throw new Error('the published checkpoint has too many signatures');
  const signed = utf8(body);
  let verified = false;
  for (const line of lines) {
    if (!line.startsWith('\u2014 ')) throw new Error("the published checkpoint's signature lines are malformed");
    const rest = line.slice(2);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    const raw = canonicalBase64Decode(space < 0 ? '' : rest.slice(space + 1));
    if (name === '' || name.includes('+') || /\s/u.test(name) || raw === null || raw.length < 5) {
      throw new Error("the published checkpoint's signature lines are malformed");
    }
    if (name !== op.name || !equal(raw.slice(0, 4), op.keyId)) continue; // another key's: not checked
    if (!ed25519Verify(op.key, signed, raw.slice(4))) throw new Error('the published checkpoint does not verify');
    verified = true;
  }
  if (!verified) throw new Error('the published checkpoint does not verify by the pinned operator key');
  const fields = body.slice(0, -1).split('\n');
  if (fields.length < 3 || fields[0] === '' || fields.slice(3).some((x) => x === '')) {
    throw new Error('the published checkpoint is malformed');
  }
  if (!/^(0|[1-9][0-9]{0,19})$/.test(fields[1]) || BigInt(fields[1]) >= 2n ** 64n) {
    throw new Error("the published checkpoint's tree size is malformed");
  }
  const root = canonicalBase64Decode(fields[2]);
  if (root === null || root.length !== HASH) throw new Error("the published checkpoint's root is malformed");
  if (fields[0] !== op.name) throw new Error("the published checkpoint is not this operator's log");
  return BigInt(fields[1]);
}

// --- the proof from the tiles ---------------------------------------------------------------------------

// The proof's nodes, read from the tiles of the published tree of `published` leaves (a tree at least as
// large as the code's: every complete node of the code's tree is one of it). A node at a level that is not
// a multiple of 8 is hashed up from the tile row below it.
async function readNodes(reader, keys, published) {
  const tiles = new Map(); // path -> Promise<hashes>
  const places = keys.map(([level, index]) => {
    const tl = Math.floor(level / TILE_HEIGHT);
    const r = level % TILE_HEIGHT;
    const n = index >> BigInt(TILE_HEIGHT - r);
    const pos = Number(index - (n << BigInt(TILE_HEIGHT - r)));
    const width = tileWidth(tl, n, published);
    const path = tilePath(tl, n, width);
    if (!tiles.has(path)) tiles.set(path, readTile(reader, path, width));
    return { path, r, pos };
  });
  const paths = [...tiles.keys()];
  const rows = await Promise.all(tiles.values());
  const read = new Map(paths.map((path, k) => [path, rows[k]]));
  return places.map(({ path, r, pos }) => {
    let row = read.get(path).slice(pos << r, (pos + 1) << r);
    while (row.length > 1) {
      const up = [];
      for (let k = 0; k < row.length; k += 2) up.push(nodeHash(row[k], row[k + 1]));
      row = up;
    }
    return row[0];
  });
}

async function readTile(reader, path, width) {
  const data = await reader.get(path, HASH * width);
  if (data === null) throw new Error(`the published log has no ${path}`);
  if (data.length !== HASH * width) throw new Error(`${path} is not ${HASH * width} bytes long`);
  const hashes = [];
  for (let k = 0; k < width; k++) hashes.push(data.slice(k * HASH, (k + 1) * HASH));
  return hashes;
}

// The inclusion proof of leaf `index` in the tree of `size` leaves, from the published log read by
// `reader`; the operator key `op` verifies its checkpoint. Resolves to {proof} or {error: {type, message}}
// (ProofUnavailableError: the log cannot be read, is older than the code, or lacks a tile); never throws.
export async function publishedProof(reader, op, index, size) {
  try {
    const note = await reader.get(CHECKPOINT_PATH, MAX_CHECKPOINT);
    if (note === null) throw new Error('the log has no checkpoint file');
    const published = checkpointSize(note, op);
    if (published < BigInt(size)) {
      throw new Error(`the published log has ${published} entries, fewer than the ${size} of this code's checkpoint`);
    }
    const plan = inclusionPlan(index, size);
    const keys = plan.flat();
    const hashes = await readNodes(reader, keys, published);
    const proof = [];
    let k = 0;
    for (const nodes of plan) {
      proof.push(fold(hashes.slice(k, k + nodes.length)));
      k += nodes.length;
    }
    return { proof };
  } catch (e) {
    if (e && e.fetchFailed) return unavailable(OFFLINE);
    return unavailable(`could not get this code's inclusion proof from the published log: ${e && e.message}`);
  }
}

export const OFFLINE = "could not fetch the log's proof: connect to the internet and scan again";

function unavailable(message) {
  return { error: { type: 'ProofUnavailableError', message } };
}

// A reader over HTTP(S): `prefix` is the log's URL prefix (ending in "/"). A failed request (no network,
// a timeout, a 5xx answer) rejects with .fetchFailed; 404 and 410 give null; a larger answer than
// maxBytes is refused unread beyond that.
export function fetchReader(prefix, { timeoutMs = 15000, fetchFn = globalThis.fetch } = {}) {
  const base = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return {
    location: base,
    async get(path, maxBytes) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      let response;
      try {
        response = await fetchFn(new URL(path, base).href, {
          signal: controller.signal,
          cache: path === CHECKPOINT_PATH ? 'no-cache' : 'default',
          credentials: 'omit',
          redirect: 'error',
        });
        if (response.status === 404 || response.status === 410) return null;
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const length = Number(response.headers.get('content-length'));
        if (length > maxBytes) throw Object.assign(new Error(`${path} is larger than ${maxBytes} bytes`), { tooLarge: true });
        const data = new Uint8Array(await response.arrayBuffer());
        if (data.length > maxBytes) throw Object.assign(new Error(`${path} is larger than ${maxBytes} bytes`), { tooLarge: true });
        return data;
      } catch (e) {
        if (e && e.tooLarge) throw e;
        throw Object.assign(new Error(`could not fetch ${path}`), { fetchFailed: true });
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
