import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fromHex, utf8 } from '../src/verifier/bytes.js';
import { SMALL_ORDER, verify } from '../src/verifier/ed25519.js';

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url)));

test('every CCTV edge-case vector gets the verdict of provchain.keys.verify_signature', () => {
  const vectors = read('../../tests/vectors/ed25519/ed25519vectors.json');
  const python = read('./ed25519-verdicts.json'); // written from Python; tests/test_js_verifier.py checks it
  assert.equal(vectors.length, 914);
  const disagree = vectors.filter((v) => verify(fromHex(v.key), utf8(v.msg), fromHex(v.sig)) !== python[String(v.number)]);
  assert.deepEqual(disagree.map((v) => v.number), []);
});

test('RFC 8032 test vectors verify, and fail once altered', () => {
  const { vectors } = read('../../tests/vectors/ed25519/rfc8032.json');
  assert.ok(vectors.length >= 3);
  for (const v of vectors) {
    const key = fromHex(v.public_key ?? v.pk ?? v.key);
    const msg = fromHex(v.message ?? v.msg ?? '');
    const sig = fromHex(v.signature ?? v.sig);
    assert.equal(verify(key, msg, sig), true);
    const bad = sig.slice();
    bad[0] ^= 1;
    assert.equal(verify(key, msg, bad), false);
    assert.equal(verify(key, Uint8Array.from([...msg, 0]), sig), false);
  }
});

test('the small-order table has 14 encodings', () => {
  assert.equal(SMALL_ORDER.size, 14);
});
