import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, digitsFor, encode } from '../src/verifier/digits.js';

test('the docstring example and the digit counts of the spec', () => {
  assert.equal(encode(Uint8Array.of(1, 2)), '00258');
  assert.deepEqual(decode('00258'), Uint8Array.of(1, 2));
  const want = [0, 3, 5, 8, 10, 13, 15, 17, 20, 22, 25, 27, 29, 32, 34, 37, 39, 41, 44, 46, 49, 51, 53];
  assert.deepEqual(want.map((_, n) => digitsFor(n)), want);
});

test('round trip at every length up to three chunks', () => {
  for (let n = 0; n <= 66; n++) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + n) & 255);
    const text = encode(bytes);
    assert.match(text, /^[0-9]*$/);
    assert.deepEqual(decode(text), bytes);
    const full = Uint8Array.from({ length: n }, () => 255);
    assert.deepEqual(decode(encode(full)), full);
  }
});

test('strict: non-digits, impossible lengths, chunks out of range', () => {
  const refuse = (text) => assert.throws(() => decode(text), (e) => e.type === 'DigitsError', text);
  refuse('0025a');
  refuse('00 258');
  refuse('0025'); // 4 digits: no byte count gives it
  refuse('1');
  refuse('256'); // one byte, value 256
  refuse('9'.repeat(53)); // above 256^22 - 1
  refuse('\u0660\u0661\u0662'); // Arabic-Indic digits are not 0-9
  assert.deepEqual(decode('255'), Uint8Array.of(255));
});
