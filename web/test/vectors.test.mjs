import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { verifyCode } from '../src/verifier/index.js';
import { dirReader } from './dirlog.mjs';

const dir = new URL('../../tests/vectors/code/', import.meta.url);

test('every code vector: the verdict, the report or the error class of provchain.code.verify', async () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  assert.ok(files.length >= 30);
  for (const f of files) {
    const v = JSON.parse(readFileSync(new URL(f, dir)));
    const log = v.log ? dirReader(fileURLToPath(new URL(v.log, dir))) : null;
    const result = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at, witnesses: v.witnesses ?? null, log });
    if (v.want_error === null) {
      assert.equal(result.verdict, 'VERIFIED', f);
      assert.deepEqual(result.report, v.want_report, f);
    } else {
      assert.equal(result.verdict, 'REFUSED', f);
      assert.equal(result.error.type, v.want_error, f);
    }
  }
});

test('the fragment alone verifies as its URL code; several pinned keys; bad arguments', async () => {
  const v = JSON.parse(readFileSync(new URL('url_valid_compact.json', dir)));
  const other = JSON.parse(readFileSync(new URL('url_other_operator.json', dir))).operator_vkey;
  const fragment = v.payload.slice(v.payload.indexOf('#') + 1);
  const alone = await verifyCode(fragment, { operators: [v.operator_vkey], now: v.at });
  assert.deepEqual(alone.report, v.want_report);
  const both = await verifyCode(v.payload, { operators: [other, v.operator_vkey], now: v.at });
  assert.deepEqual(both.report, v.want_report);
  const wrong = await verifyCode(v.payload, { operators: [other], now: v.at });
  assert.equal(wrong.error.type, 'OperatorKeyError');
  assert.equal((await verifyCode(v.payload, { operators: ['x+00000000+AA=='], now: v.at })).verdict, 'UNREADABLE');
  assert.equal((await verifyCode(v.payload, { operators: [v.operator_vkey], now: 1.5 })).error.type, 'InputError');
  assert.equal((await verifyCode(null, { operators: [v.operator_vkey], now: v.at })).error.type, 'BadPrefixError');
  assert.equal((await verifyCode(42, { operators: [v.operator_vkey], now: v.at })).verdict, 'REFUSED');
});

test('no message quotes the code: a refused code with a marked place never echoes it', async () => {
  const v = JSON.parse(readFileSync(new URL('verdict_changed.json', dir)));
  const result = await verifyCode(v.payload, { operators: [v.operator_vkey], now: v.at });
  assert.equal(result.verdict, 'REFUSED');
  assert.ok(!/counterfeit|SERUM|grasse/i.test(result.error.message));
});
