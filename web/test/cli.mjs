// With --serve (tests/test_js_verifier.py), reads JSON lines {"payload", "vkey", "at", optional "witnesses":
// {"keys", "quorum"}, optional "log": a published log's directory} (or {"ed25519": {key, sig, msg}}
// hex/text) from stdin and writes
// one JSON line per input: verifySync's result (BigInt written as a JSON integer), or {"ok": bool}.
import { createInterface } from 'node:readline';
import { verifyCode, verifySync } from '../src/verifier/index.js';
import { dirReader } from './dirlog.mjs';
import { verify } from '../src/verifier/ed25519.js';
import { fromHex, utf8 } from '../src/verifier/bytes.js';

function toJson(value) {
  return JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? `@@BIG${v}@@` : v)).replace(/"@@BIG(-?\d+)@@"/g, '$1');
}

// `node --test web/test/` runs every module of this folder: without --serve this one does nothing.
const serve = process.argv.includes('--serve');
const rl = serve ? createInterface({ input: process.stdin, crlfDelay: Infinity }) : [];
for await (const line of rl) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  let out;
  if (req.ed25519) {
    const { key, sig, msg } = req.ed25519;
    out = { ok: verify(fromHex(key), utf8(msg), fromHex(sig)) };
  } else if (req.time) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < req.time; i++) verifySync(req.payload, { operators: [req.vkey], now: req.at });
    out = { ms: Number(process.hrtime.bigint() - t0) / 1e6 / req.time };
  } else {
    const log = req.log ? dirReader(req.log) : null;
    out = await verifyCode(req.payload, { operators: [req.vkey], now: req.at, witnesses: req.witnesses ?? null, log });
  }
  process.stdout.write(`${toJson(out)}\n`);
}
