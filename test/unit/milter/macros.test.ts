// The milter's macros as kept per step: parsed from SMFIC_MACRO data and bounded in what they hold.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parseMacros, StepMacros } from '../../../src/milter/macros.ts';
import { cstr } from '../../helpers/milter-client.ts';

const packet = (step: string, ...pairs: string[]): Buffer => Buffer.concat([Buffer.from(step, 'latin1'), cstr(...pairs)]);

test('macros: "{name}" and "name" are one, values cut at 1024 bytes, over-long names and unpaired names dropped', () => {
  const parsed = parseMacros(packet('C', '{client_addr}', '192.0.2.1', 'j', 'mx.example', 'x'.repeat(65), 'dropped', 'v', 'y'.repeat(2000), 'odd'));
  assert.equal(parsed?.step, 'C');
  assert.deepEqual([...(parsed?.macros.keys() ?? [])], ['client_addr', 'j', 'v']);
  assert.equal(parsed?.macros.get('v')?.length, 1024);
  assert.equal(parseMacros(Buffer.alloc(0)), undefined);
  const m = new StepMacros();
  m.set('C', parsed?.macros ?? new Map());
  m.set('M', parseMacros(packet('M', 'client_addr', '198.51.100.7'))?.macros ?? new Map());
  assert.equal(m.get('client_addr'), '198.51.100.7', 'the latest step first');
});

test('macros: what a connection keeps is bounded by the cut values, not by the packets they came in (no cut string holds its whole text)', () => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const m = new StepMacros();
  gc();
  const before = process.memoryUsage().heapUsed;
  // 32 steps (the most kept), each a packet near the listener's 1 MiB limit with one long value and one long name
  for (let s = 0; s < 32; s++) {
    const step = String.fromCharCode(0x41 + s);
    const parsed = parseMacros(packet(step, '{v}', String.fromCharCode(0x61 + (s % 26)).repeat(600_000), 'n'.repeat(400_000), 'x'));
    if (parsed) m.set(parsed.step, parsed.macros);
  }
  gc();
  const held = process.memoryUsage().heapUsed - before;
  // 32 values of 1 KiB; cut strings holding their packets would keep 32 × 1 MB
  assert.ok(held < 8_000_000, `macros hold ${held} bytes of heap`);
  assert.equal(m.get('v')?.length, 1024);
});
