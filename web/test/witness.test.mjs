import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describePolicy, makePolicy, parseWitnessVkey, policyFromKeys, verifyCode } from '../src/verifier/index.js';

const dir = new URL('../../tests/vectors/code/', import.meta.url);
const vector = (name) => JSON.parse(readFileSync(new URL(`${name}.json`, dir)));

test('witness keys: both published forms, the cosignature/v1 key id', () => {
  const [w1] = vector('url_valid_witnessed').witnesses.keys;
  const parsed = parseWitnessVkey(w1);
  assert.equal(parsed.name, 'witness.example/w1');
  assert.equal(Buffer.from(parsed.keyId).toString('hex'), w1.split('+')[1]);
  for (const bad of ['', 'a+b', w1.replace(/\+[0-9a-f]{8}\+/, '+00000000+'), `${w1}A`, 42]) {
    assert.throws(() => parseWitnessVkey(bad), (e) => e.type === 'KeyFormatError');
  }
});

test('policies: keys and a quorum, groups, describe', () => {
  const keys = vector('url_valid_witnessed').witnesses.keys;
  assert.equal(describePolicy(policyFromKeys(keys, 2)), '2 of 3 in group witnesses');
  assert.equal(describePolicy(policyFromKeys([])), 'no witnesses required');
  for (const [k, q] of [[keys, 4], [keys, 0], [[keys[0], keys[0]], null]]) {
    assert.throws(() => policyFromKeys(k, q), (e) => e.type === 'WitnessPolicyError');
  }
  const grouped = makePolicy({
    witnesses: [['a', keys[0]], ['b', keys[1]], ['c', keys[2]]],
    groups: [['eu', 1, ['a', 'b']], ['all', 2, ['eu', 'c']]],
    quorum: 'all',
  });
  assert.equal(describePolicy(grouped), '2 of 2 in group all');
  assert.throws(() => makePolicy({ witnesses: [['a', keys[0]]], groups: [['g', 1, ['z']]], quorum: 'g' }), (e) => e.type === 'WitnessPolicyError');
  assert.throws(() => makePolicy({ witnesses: [['none', keys[0]]], quorum: 'none' }), (e) => e.type === 'WitnessPolicyError');
});

test('a group policy counts the witnessed code by its groups; a compact code is refused', async () => {
  const v = vector('valid_witnessed_2_of_3');
  const keys = v.witnesses.keys;
  const witnesses = { witnesses: [['a', keys[0]], ['b', keys[1]], ['c', keys[2]]], groups: [['eu', 1, ['a', 'b']], ['all', 2, ['eu', 'c']]], quorum: 'all' };
  const ok = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, witnesses });
  assert.equal(ok.verdict, 'VERIFIED');
  assert.deepEqual(ok.report.witnesses.cosignatures.map((c) => c.witness).sort(), ['a', 'b', 'c']);
  assert.equal(ok.report.checks.cosignatures, 'ok');
  const compact = vector('valid_compact');
  const refused = await verifyCode(compact.payload, { operators: [compact.operator_vkey], now: compact.at, witnesses });
  assert.equal(refused.error.type, 'QuorumError');
  const bad = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, witnesses: { keys: ['x'] } });
  assert.equal(bad.verdict, 'UNREADABLE');
});
