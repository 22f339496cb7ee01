import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { escape, identifierProblem, quote } from '../src/verifier/index.js';

const read = (path) => JSON.parse(readFileSync(new URL(path, import.meta.url)));

test('every display vector: escape and quote', () => {
  const { cases } = read('../../tests/vectors/text/display.json');
  assert.ok(cases.length > 10);
  for (const c of cases) {
    assert.equal(escape(c.text), c.escape, c.desc);
    assert.equal(quote(c.text), c.quote, c.desc);
  }
});

test('every identifier vector: the identifier profile', () => {
  const { cases } = read('../../tests/vectors/text/identifiers.json');
  for (const c of cases) assert.equal(identifierProblem(c.text), c.want, c.desc);
});
