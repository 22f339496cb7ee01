import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromHex, hex } from '../src/verifier/bytes.js';
import { decode, encode, EncodingFault } from '../src/verifier/msgpack.js';

test('the canonical encoding of provchain.encoding', () => {
  assert.equal(hex(encode(new Map([['b', 1], ['a', Uint8Array.of(0x78)]]))), '82a161c40178a16201');
  const cases = [
    [0, '00'], [127, '7f'], [128, 'cc80'], [255, 'ccff'], [256, 'cd0100'], [65535, 'cdffff'], [65536, 'ce00010000'],
    [2 ** 32, 'cf0000000100000000'], [2n ** 64n - 1n, 'cfffffffffffffffff'], [-1, 'ff'], [-32, 'e0'], [-33, 'd0df'],
    [-128, 'd080'], [-129, 'd1ff7f'], [-32768, 'd18000'], [-32769, 'd2ffff7fff'], [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [-(2n ** 63n), 'd38000000000000000'], [true, 'c3'], [false, 'c2'], ['', 'a0'], ['x'.repeat(32), 'd920' + '78'.repeat(32)],
    [new Uint8Array(0), 'c400'], [[], '90'], [new Array(16).fill(0), 'dc0010' + '00'.repeat(16)], [new Map(), '80'],
  ];
  for (const [value, want] of cases) {
    assert.equal(hex(encode(value)), want, String(value));
    const back = decode(fromHex(want));
    assert.deepEqual(encode(back), fromHex(want));
  }
  assert.throws(() => encode(2n ** 64n), EncodingFault);
  assert.throws(() => encode(-(2n ** 63n) - 1n), EncodingFault);
  assert.throws(() => encode(null), EncodingFault);
  assert.throws(() => encode(1.5), EncodingFault);
});

test('integers decode to numbers when exact, BigInt beyond 2^53 - 1', () => {
  assert.equal(decode(fromHex('cf001fffffffffffff')), 2 ** 53 - 1);
  assert.equal(decode(fromHex('cf0020000000000000')), 2n ** 53n);
  assert.equal(decode(fromHex('d3ffe0000000000000')), -(2n ** 53n));
});

test('the decoder refuses every non-canonical or foreign input', () => {
  const refuse = (h, why) => assert.throws(() => decode(fromHex(h)), EncodingFault, why);
  refuse('', 'empty');
  refuse('82a16201a161c40178', 'keys out of order');
  refuse('82a16101a16102', 'duplicated key');
  refuse('cc05', 'integer not in its shortest form');
  refuse('d0ff', 'negative integer not in its shortest form');
  refuse('cd0005', 'uint16 for a small value');
  refuse('d90161', 'str8 for a short text');
  refuse('dc000100', 'array16 for one element');
  refuse('c0', 'nil');
  refuse('ca00000000', 'float32');
  refuse('cb0000000000000000', 'float64');
  refuse('d40100', 'extension');
  refuse('c1', 'unused code');
  refuse('0000', 'trailing bytes');
  refuse('92 00'.replace(' ', ''), 'truncated array');
  refuse('a2ff61', 'invalid UTF-8');
  refuse('a3eda080', 'an encoded surrogate');
  refuse('a2c0af', 'an overlong form');
  refuse('81' + '01' + '01', 'a map key that is not text');
  refuse('dd00000401', 'a container beyond the limit');
  refuse('c5ffff', 'bin longer than the input');
  refuse('91'.repeat(10) + '00', 'nested more than 8 levels');
  assert.equal(decode(fromHex('a3efbbbf')), '\ufeff', 'a byte order mark is a character');
});
