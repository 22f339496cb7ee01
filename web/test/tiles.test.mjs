// The inclusion proof of a witnessed-published code, built from published tiles (src/verifier/tiles.js):
// the proof plan and the tile arithmetic against a slow recursive RFC 9162 reference over trees that span
// several tile levels; then the Python-made vectors verified against their published logs served by a real
// HTTP server on loopback (node:http), a server that is gone, and one that lies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '@noble/hashes/sha2';
import { fetchReader, inclusionPlan, OFFLINE, tilePath, verifyCode } from '../src/verifier/index.js';
import { publishedProof } from '../src/verifier/tiles.js';
import { parseVkey } from '../src/verifier/verify.js';
import { concat, equal } from '../src/verifier/bytes.js';

const vectors = new URL('../../tests/vectors/code/', import.meta.url);
const vector = (name) => JSON.parse(readFileSync(new URL(`${name}.json`, vectors)));

const node = (l, r) => sha256(concat(Uint8Array.of(1), l, r));
const leaf = (n) => sha256(concat(Uint8Array.of(0), new TextEncoder().encode(`leaf ${n}`)));

// RFC 9162 MTH and PATH, recursively (the reference), over ranges [lo, hi) of one leaf list; MTH memoized
// so that the reference stays quick on trees of 66000 leaves.
function reference(leaves) {
  const memo = new Map();
  const split = (n) => {
    let k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  };
  const mth = (lo, hi) => {
    if (hi - lo === 1) return leaves[lo];
    const key = `${lo}:${hi}`;
    if (!memo.has(key)) {
      const k = split(hi - lo);
      memo.set(key, node(mth(lo, lo + k), mth(lo + k, hi)));
    }
    return memo.get(key);
  };
  const path = (m, lo, hi) => {
    if (hi - lo === 1) return [];
    const k = split(hi - lo);
    return m < k ? [...path(m, lo, lo + k), mth(lo + k, hi)] : [...path(m - k, lo + k, hi), mth(lo, lo + k)];
  };
  return { mth, path };
}

// The tiles of a tree, as provchain publish writes them: path -> bytes.
function tiles(leaves) {
  const files = new Map();
  let level = leaves;
  for (let tl = 0; level.length > 0; tl++) {
    for (let n = 0; n * 256 < level.length; n++) {
      const row = level.slice(n * 256, n * 256 + 256);
      files.set(tilePath(tl, n, row.length), concat(...row));
    }
    const up = [];
    for (let n = 0; (n + 1) * 256 <= level.length; n++) {
      let row = level.slice(n * 256, n * 256 + 256);
      while (row.length > 1) {
        const next = [];
        for (let k = 0; k < row.length; k += 2) next.push(node(row[k], row[k + 1]));
        row = next;
      }
      up.push(row[0]);
    }
    level = up;
  }
  return files;
}

const OP = parseVkey(vector('valid_published_2_of_3').operator_vkey);

// A reader over in-memory files.
function memoryReader(files) {
  return { location: 'memory', get: async (p, max) => (files.has(p) ? files.get(p).slice(0, max + 1) : null) };
}

test('the proof plan over the tiles equals RFC 9162 PATH, across tile levels', () => {
  const leaves = Array.from({ length: 66000 }, (_, n) => leaf(n));
  const ref = reference(leaves);
  for (const size of [1, 2, 3, 255, 256, 257, 511, 512, 513, 1000, 65536, 65537, 66000]) {
    const files = tiles(leaves.slice(0, size));
    const found = new Map([...files].map(([p, b]) => [p, b]));
    for (const index of new Set([0, 1, size >> 1, Math.max(0, size - 2), size - 1, (size * 7) >> 3].filter((i) => i < size))) {
      const want = ref.path(index, 0, size);
      // Each planned node, read off the tile that holds it and hashed up to its level.
      const proof = inclusionPlan(index, size).map((nodes) => {
        const hashes = nodes.map(([level, i]) => nodeFromTiles(found, level, i, size));
        let h = hashes[hashes.length - 1];
        for (let k = hashes.length - 2; k >= 0; k--) h = node(hashes[k], h);
        return h;
      });
      assert.equal(proof.length, want.length, `${index} of ${size}`);
      proof.forEach((h, k) => assert.ok(equal(h, want[k]), `${index} of ${size}, element ${k}`));
    }
  }
});

// The same tile arithmetic as tiles.js readNodes, written out once more for the reference check.
function nodeFromTiles(files, level, index, size) {
  const tl = Math.floor(level / 8);
  const r = level % 8;
  const n = index >> BigInt(8 - r);
  const pos = Number(index - (n << BigInt(8 - r)));
  const count = BigInt(size) >> BigInt(8 * tl);
  const width = Number(count - n * 256n > 256n ? 256n : count - n * 256n);
  const data = files.get(tilePath(tl, n, width));
  let row = [];
  for (let k = pos << r; k < (pos + 1) << r; k++) row.push(data.slice(k * 32, (k + 1) * 32));
  while (row.length > 1) {
    const up = [];
    for (let k = 0; k < row.length; k += 2) up.push(node(row[k], row[k + 1]));
    row = up;
  }
  return row[0];
}

test('publishedProof refuses a log whose checkpoint the operator did not sign, and one that is missing', async () => {
  const files = tiles([leaf(0), leaf(1), leaf(2)]);
  const treeRoot = reference([leaf(0), leaf(1), leaf(2)]).mth(0, 3);
  const otherKey = `\u2014 other.example/log ${Buffer.alloc(68, 1).toString('base64')}\n`; // signed by no pinned key
  files.set('checkpoint', new TextEncoder().encode(`${OP.name}\n3\n${Buffer.from(treeRoot).toString('base64')}\n\n${otherKey}`));
  const unsigned = await publishedProof(memoryReader(files), OP, 1, 3);
  assert.equal(unsigned.error.type, 'ProofUnavailableError');
  assert.match(unsigned.error.message, /does not verify/);
  files.delete('checkpoint');
  assert.match((await publishedProof(memoryReader(files), OP, 1, 3)).error.message, /no checkpoint/);
  const offline = { location: 'x', get: async () => { throw Object.assign(new Error('down'), { fetchFailed: true }); } };
  assert.equal((await publishedProof(offline, OP, 1, 3)).error.message, OFFLINE);
});

// A real HTTP server on 127.0.0.1 serving tests/vectors/code (the logs are log-a/, log-b/, log-no-tiles/).
async function serve(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

const root = fileURLToPath(vectors);
async function staticFiles(req, res) {
  const rel = normalize(decodeURIComponent(new URL(req.url, 'http://x/').pathname)).replace(/^\/+/, '');
  if (rel.includes('..')) return res.writeHead(403).end();
  try {
    const data = await readFile(join(root, rel));
    res.writeHead(200, { 'content-length': data.length }).end(data);
  } catch {
    res.writeHead(404).end();
  }
}

test('over HTTP: every vector with a published log gets its verdict; a server that is gone or lies is refused', async () => {
  const { server, url } = await serve(staticFiles);
  try {
    const names = [
      'valid_published_2_of_3', 'valid_published_no_policy', 'url_valid_published', 'published_log_lacks_tiles',
      'published_quorum_unmet', 'published_fork_on_cosigned_checkpoint', 'published_fork_with_fork_log',
    ];
    for (const name of names) {
      const v = vector(name);
      const result = await verifyCode(v.payload, {
        operators: [v.operator_vkey], now: v.at, witnesses: v.witnesses ?? null, log: fetchReader(`${url}${v.log}/`),
      });
      if (v.want_error === null) {
        assert.equal(result.verdict, 'VERIFIED', name);
        assert.deepEqual(result.report, v.want_report, name);
        assert.equal(result.fetched, true);
      } else {
        assert.equal(result.error.type, v.want_error, name);
      }
    }
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  // The server is gone: refused, with the message a person can act on.
  const v = vector('valid_published_2_of_3');
  const gone = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, log: fetchReader(`${url}log-a/`) });
  assert.equal(gone.verdict, 'REFUSED');
  assert.equal(gone.error.type, 'ProofUnavailableError');
  assert.equal(gone.error.message, OFFLINE);
  // A server that answers every tile with other hashes: the proof does not reach the cosigned root.
  const lying = await serve(async (req, res) => {
    if (req.url.endsWith('/checkpoint')) return staticFiles({ url: '/log-a/checkpoint' }, res);
    const body = Buffer.alloc(32 * 12, 7);
    return res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  try {
    const result = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, log: fetchReader(`${lying.url}log-a/`) });
    assert.equal(result.error.type, 'InclusionError');
  } finally {
    await new Promise((resolve) => lying.server.close(resolve));
  }
  // A server error (500) and an answer larger than a tile can be: refused, never verified.
  const broken = await serve((req, res) => {
    if (req.url.endsWith('/checkpoint')) return staticFiles({ url: '/log-a/checkpoint' }, res);
    if (req.url.includes('/tile/0/')) return res.writeHead(200).end(Buffer.alloc(100000));
    return res.writeHead(500).end();
  });
  try {
    const result = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, log: fetchReader(`${broken.url}log-a/`) });
    assert.equal(result.error.type, 'ProofUnavailableError');
    assert.match(result.error.message, /larger than/);
  } finally {
    await new Promise((resolve) => broken.server.close(resolve));
  }
});

test('without a log, a witnessed-published code is refused; other codes never fetch', async () => {
  const v = vector('valid_published_2_of_3');
  const none = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, witnesses: v.witnesses });
  assert.equal(none.error.type, 'ProofUnavailableError');
  let asked = 0;
  const counting = { location: 'x', get: async () => { asked += 1; return null; } };
  const compact = vector('url_valid_compact');
  const result = await verifyCode(compact.payload, { operators: [compact.operator_vkey], now: compact.at, log: counting });
  assert.equal(result.verdict, 'VERIFIED');
  // A witnessed-published URL code with one digit of its signature changed: refused before any fetch.
  const genuine = vector('url_valid_published');
  const at = genuine.payload.indexOf('#') + 3 + 52; // the last digit of the first chunk (signature bytes)
  const digit = String((Number(genuine.payload[at]) + 1) % 10);
  const forged = genuine.payload.slice(0, at) + digit + genuine.payload.slice(at + 1);
  const refused = await verifyCode(forged, { operators: [genuine.operator_vkey], now: genuine.at, log: counting });
  assert.equal(refused.error.type, 'SignatureError');
  assert.equal(asked, 0); // nothing of a code whose signature fails is fetched
});
