// RFC 7352 §3 details of the duplicate test: the id is tracked whatever its source (Message-ID, :header or
// :uniqueid), ":seconds 0" is false unconditionally, and an invalid :header name is no error (the test is false).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileSieve } from '../../../src/sieve/compile.ts';
import { plainContext } from '../../../src/sieve/context.ts';
import { formatProblem } from '../../../src/sieve/errors.ts';
import { DEFAULT_LIMITS, executeSieve, type SieveOutcome } from '../../../src/sieve/execute.ts';
import { sieveMessage } from '../../../src/sieve/message.ts';

const RAW = Buffer.from('From: bob@remote.example\r\nMessage-ID: <abc@remote.example>\r\nX-Id: <abc@remote.example>\r\nSubject: hi\r\n\r\nbody\r\n');

/** Runs the script with a memory holding the records of `before` (as the store would after a delivery). */
function run(text: string, before: SieveOutcome & { ok: true } = { ok: true, actions: [], duplicates: [] }): SieveOutcome & { ok: true } {
  const r = compileSieve(text);
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  const remembered = new Set(before.duplicates.map((d) => `${d.handle}\u0001${d.id}`));
  const ctx = plainContext({ duplicates: { seen: (handle, id) => remembered.has(`${handle}\u0001${id}`) } });
  const out = executeSieve(r.script, sieveMessage(RAW, { from: 'bob@remote.example', to: 'alice@corp.example' }), DEFAULT_LIMITS, ctx);
  assert.ok(out.ok, out.ok ? '' : `line ${out.line}: ${out.error}`);
  return out;
}
const kinds = (o: SieveOutcome & { ok: true }): string[] => o.actions.map((a) => a.kind);

test('RFC 7352 §3: the same id is the same entry whether it came from the Message-ID, :header or :uniqueid', () => {
  const plain = run('require "duplicate";\nif duplicate { discard; }');
  assert.deepEqual(kinds(plain), ['keep']);
  assert.deepEqual(kinds(run('require ["duplicate", "variables"];\nif header :matches "message-id" "*" { if duplicate :uniqueid "${0}" { discard; } }', plain)), ['discard'], ':uniqueid of the Message-ID');
  assert.deepEqual(kinds(run('require "duplicate";\nif duplicate :header "x-id" { discard; }', plain)), ['discard'], 'another field holding the same id');
  const byUnique = run('require "duplicate";\nif duplicate :uniqueid "<abc@remote.example>" { discard; }');
  assert.deepEqual(kinds(run('require "duplicate";\nif duplicate { discard; }', byUnique)), ['discard'], 'and the other way round');
  assert.deepEqual(kinds(run('require "duplicate";\nif duplicate :handle "h" { discard; }', plain)), ['keep'], ':handle still separates');
});

test('RFC 7352 §3: ":seconds 0" makes the test false unconditionally, and nothing is kept', () => {
  const plain = run('require "duplicate";\nif duplicate { discard; }');
  const zero = run('require "duplicate";\nif duplicate :seconds 0 { discard; }', plain);
  assert.deepEqual(kinds(zero), ['keep']);
  assert.deepEqual(zero.duplicates, []);
});

test('RFC 7352 §3: an invalid :header name is no error; the test is false and records nothing', () => {
  const r = compileSieve('require "duplicate";\nif duplicate :header "bad:name" { discard; }');
  assert.ok(r.ok, r.ok ? '' : r.problems.map(formatProblem).join('\n'));
  const out = run('require "duplicate";\nif duplicate :header "bad:name" { discard; }', { ok: true, actions: [], duplicates: [{ handle: '', id: 'x', seconds: 60, last: false }] });
  assert.deepEqual(kinds(out), ['keep']);
  assert.deepEqual(out.duplicates, []);
});

test('RFC 7352 §3: two long ids that differ only past their first 1000 characters are different ids', () => {
  const long = 'x'.repeat(1200);
  const first = run(`require "duplicate";\nif duplicate :uniqueid "${long}a" { discard; }`);
  assert.deepEqual(kinds(run(`require "duplicate";\nif duplicate :uniqueid "${long}b" { discard; }`, first)), ['keep'], 'no false duplicate');
  assert.deepEqual(kinds(run(`require "duplicate";\nif duplicate :uniqueid "${long}a" { discard; }`, first)), ['discard'], 'the same long id still is one');
});
