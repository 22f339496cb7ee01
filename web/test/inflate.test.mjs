import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync, constants } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { inflateRaw } from '../src/verifier/inflate.js';
import { DICTIONARY } from '../src/verifier/bundle.js';
import { fromHex, hex } from '../src/verifier/bytes.js';

const vector = (name) => JSON.parse(readFileSync(new URL(`../../tests/vectors/code/${name}.json`, import.meta.url)));
const deflate = (bytes, dictionary = DICTIONARY) =>
  new Uint8Array(deflateRawSync(bytes, { level: 9, dictionary, strategy: constants.Z_DEFAULT_STRATEGY }));

test('the preset dictionary is the 393 bytes of the spec', () => {
  assert.equal(DICTIONARY.length, 393);
  assert.equal(hex(DICTIONARY.subarray(0, 11)), 'a36c6f74a673657269616c');
});

test('a URL vector inflates, with the dictionary, to canonical msgpack', () => {
  const raw = fromHex(vector('url_valid_compact').bundle_hex);
  const body = inflateRaw(raw.subarray(96), DICTIONARY, 4096);
  assert.equal(body[0], 0x96);
  assert.throws(() => inflateRaw(raw.subarray(96), new Uint8Array(0), 4096), (e) => e.type === 'BundleFormatError');
});

test('round trip through zlib with the dictionary; limits, truncation and trailing bytes refused', () => {
  const data = new TextEncoder().encode('warehouse warehouse -logistics certificate genuine '.repeat(20));
  assert.deepEqual(inflateRaw(deflate(data), DICTIONARY, 4096), data);
  const big = new Uint8Array(5000).fill(7);
  assert.throws(() => inflateRaw(deflate(big), DICTIONARY, 4096), /more than 4096/);
  assert.deepEqual(inflateRaw(deflate(big.subarray(0, 4096)), DICTIONARY, 4096), big.subarray(0, 4096));
  const stream = deflate(data);
  assert.throws(() => inflateRaw(stream.subarray(0, stream.length - 1), DICTIONARY, 4096), /cut short/);
  assert.throws(() => inflateRaw(Uint8Array.from([...stream, 0]), DICTIONARY, 4096), /follow/);
  assert.throws(() => inflateRaw(Uint8Array.of(0xff, 0xff, 0xff), DICTIONARY, 4096), /not a valid DEFLATE/);
  assert.throws(() => inflateRaw(new Uint8Array(0), DICTIONARY, 4096), (e) => e.type === 'BundleFormatError');
});
