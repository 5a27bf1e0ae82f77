// DotUnstuffer (RFC 5321 §4.5.2): the period starting a line with other characters is deleted, "..x" and the end
// of the data are left to smtp-server, whatever the chunks the bytes arrive in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DotUnstuffer } from '../../../src/smtp/dot-transparency.ts';

const CASES: [wire: string, out: string][] = [
  ['.x\r\n..y\r\n...\r\n.\tz\r\na.b\r\n.\r\n', 'x\r\n..y\r\n...\r\n\tz\r\na.b\r\n.\r\n'],
  ['.\r\n.x\r\nQUIT\r\n', '.\r\n.x\r\nQUIT\r\n'], // the end first: the rest is commands, left as it is
  ['a\r\n.\r\n.x', 'a\r\n.\r\n.x'],
  ['a\n.x\n.\r\n.y\r\n.\r\n', 'a\nx\n.\r\ny\r\n.\r\n'], // after a bare LF "." CRLF is not the end
  ['a\r\n.\rb\r\n.\r\n', 'a\r\n.\rb\r\n.\r\n'],
];

test('periods are deleted the same whatever the split into chunks', () => {
  for (const [wire, want] of CASES) {
    const bytes = Buffer.from(wire, 'latin1');
    for (let a = 0; a <= bytes.length; a++)
      for (let b = a; b <= bytes.length; b++) {
        const d = new DotUnstuffer();
        const out = Buffer.concat([d.feed(bytes.subarray(0, a)), d.feed(bytes.subarray(a, b)), d.feed(bytes.subarray(b))]).toString('latin1');
        assert.equal(out, want, `${JSON.stringify(wire)} split at ${a}, ${b}`);
      }
  }
});

test('reset starts a new DATA: a line start again, nothing held', () => {
  const d = new DotUnstuffer();
  assert.equal(d.feed(Buffer.from('a\r\n.')).toString(), 'a\r\n');
  d.reset();
  assert.equal(d.feed(Buffer.from('.x\r\n')).toString(), 'x\r\n');
});
