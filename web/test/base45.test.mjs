import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode } from '../src/verifier/base45.js';
import { utf8 } from '../src/verifier/bytes.js';

test('RFC 9285 examples', () => {
  assert.equal(encode(utf8('AB')), 'BB8');
  assert.equal(encode(utf8('Hello!!')), '%69 VD92EX0');
  assert.equal(encode(utf8('base-45')), 'UJCLQE7W581');
  assert.deepEqual(decode('QED8WEX0'), utf8('ietf!'));
  assert.deepEqual(decode(''), new Uint8Array(0));
});

test('round trip of every byte pair and single byte', () => {
  for (let a = 0; a < 256; a += 5) {
    assert.deepEqual(decode(encode(Uint8Array.of(a))), Uint8Array.of(a));
    for (let b = 0; b < 256; b += 3) assert.deepEqual(decode(encode(Uint8Array.of(a, b))), Uint8Array.of(a, b));
  }
});

test('strict: length 3k + 1, foreign characters, values out of range', () => {
  const refuse = (text) => assert.throws(() => decode(text), (e) => e.type === 'Base45Error', text);
  refuse('A');
  refuse('BB8A');
  refuse('bb8'); // lower case
  refuse('BB\n');
  refuse('GGW'); // 65536
  refuse('V5'); // 256
  refuse('::'); // 44 + 45 * 44
  assert.deepEqual(decode('FGW'), Uint8Array.of(255, 255));
  assert.deepEqual(decode('U5'), Uint8Array.of(255));
});
