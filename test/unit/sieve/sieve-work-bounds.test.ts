// The step bound covers the work a test does on the message's values, not only the comparisons it makes: a
// script of many tests over a message of many fields cannot hold the (synchronous) executor for seconds.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { executeSieve, type SieveOutcome } from '../../../src/sieve/execute.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';

function exec(text: string, raw: Buffer): SieveOutcome {
  const r = compileSieve(text);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  return executeSieve(r.script, sieveMessage(raw, { from: 'bob@remote.example', to: 'alice@corp.example' }));
}

test('date: every field parsed costs a step, a date or not (400 fields × 40 tests is past 10,000 steps)', () => {
  const raw = Buffer.from(`${Array.from({ length: 400 }, (_, i) => `Date: not a date ${i}`).join('\r\n')}\r\nSubject: x\r\n\r\nbody\r\n`);
  const tests = Array.from({ length: 40 }, (_, i) => `if date :zone "+0000" "date" "year" "${2000 + i}" { keep; }`).join('\n');
  const out = exec(`require "date";\n${tests}`, raw);
  assert.deepEqual(out.ok ? 'ok' : out.error, 'more than 10000 steps');
  const few = exec('require "date";\nif date :zone "+0000" "date" "year" "2026" { keep; }', raw);
  assert.ok(few.ok, 'one test over the same fields is well within the bound');
});

test('address: the values a test looks at cost steps even when :count only counts them or the first one matches', () => {
  const line = `To: ${Array.from({ length: 20 }, (_, i) => `a${i}@b.example`).join(', ')}`;
  const raw = Buffer.from(`${Array.from({ length: 200 }, () => line).join('\r\n')}\r\nSubject: x\r\n\r\nbody\r\n`);
  for (const t of ['address :count "eq" :domain "to" "N"', 'address :is :domain "to" "b.example"']) {
    const tests = Array.from({ length: 120 }, (_, i) => `if ${t.replace('"N"', `"${i}"`)} { keep; }`).join('\n');
    const out = exec(`require ["relational", "comparator-i;ascii-numeric"];\n${tests}`, raw);
    assert.deepEqual(out.ok ? 'ok' : out.error, 'more than 10000 steps', t);
  }
  const few = exec('require "relational";\nif address :count "ge" :domain "to" "4000" { keep; }', raw);
  assert.ok(few.ok, 'one test over 4000 addresses is well within the bound');
});
