// The ManageSieve command reader: atoms, quoted strings, {n+} literals split across chunks, {n} with a
// continuation, and the bounds (an overlong line, a literal past the size bound) without losing the next command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommandReader, tokenize, wireString } from '../../../src/managesieve/reader.ts';

const reader = (): CommandReader => new CommandReader({ maxLine: 64, maxLiteral: 16 });

test('atoms and quoted strings with escapes; unterminated and bad escapes refused', () => {
  assert.deepEqual(tokenize('PUTSCRIPT "a \\"b\\" \\\\"'), [
    { kind: 'atom', value: 'PUTSCRIPT' },
    { kind: 'string', value: 'a "b" \\' },
  ]);
  assert.equal(tokenize('X "abc'), 'unterminated quoted string');
  assert.equal(tokenize('X "a\\nb"'), 'bad escape in quoted string');
});

test('a quoted string holds at most 1,024 characters (RFC 5804 §4), counted as characters, escapes once', () => {
  assert.deepEqual(tokenize(`X "${'é'.repeat(1024)}"`), [{ kind: 'atom', value: 'X' }, { kind: 'string', value: 'é'.repeat(1024) }]);
  assert.deepEqual(tokenize(`X "${'\u{1F600}'.repeat(1023)}\\""`), [{ kind: 'atom', value: 'X' }, { kind: 'string', value: `${'\u{1F600}'.repeat(1023)}"` }]);
  assert.match(String(tokenize(`X "${'a'.repeat(1025)}"`)), /longer than 1024 characters/);
});

test('a {n+} literal split over chunks, then a {n} literal invited by a continuation', () => {
  const r = reader();
  assert.deepEqual(r.push(Buffer.from('PUTSCRIPT "s" {5+}\r\nke')), []);
  assert.deepEqual(r.push(Buffer.from('ep;\r\nCHECKSCRIPT {3}\r\n')), [
    { kind: 'command', tokens: [{ kind: 'atom', value: 'PUTSCRIPT' }, { kind: 'string', value: 's' }, { kind: 'string', value: 'keep;' }] },
    { kind: 'continue' },
  ]);
  assert.deepEqual(r.push(Buffer.from('a;b\r\n')), [{ kind: 'command', tokens: [{ kind: 'atom', value: 'CHECKSCRIPT' }, { kind: 'string', value: 'a;b' }] }]);
});

test('a literal past the bound is skipped (QUOTA/MAXSIZE) and an overlong line refused; the next command is read', () => {
  const r = reader();
  const big = 'x'.repeat(20);
  assert.deepEqual(r.push(Buffer.from(`PUTSCRIPT "s" {20+}\r\n${big}\r\nNOOP\r\n`)), [
    { kind: 'bad', reason: 'literal larger than 16 octets', tooBig: true },
    { kind: 'command', tokens: [{ kind: 'atom', value: 'NOOP' }] },
  ]);
  // a synchronizing literal past the bound is refused at once, not invited
  assert.deepEqual(r.push(Buffer.from('PUTSCRIPT "s" {20}\r\n')), [{ kind: 'bad', reason: 'literal larger than 16 octets', tooBig: true }]);
  assert.deepEqual(r.push(Buffer.from(`${'y'.repeat(100)}`)), []);
  assert.deepEqual(r.push(Buffer.from(`yy\r\nLOGOUT\r\n`)), [
    { kind: 'bad', reason: 'line too long (limit 64 octets)' },
    { kind: 'command', tokens: [{ kind: 'atom', value: 'LOGOUT' }] },
  ]);
});

test('server strings: quoted when they can be, a literal otherwise', () => {
  assert.equal(wireString('abc'), '"abc"');
  assert.equal(wireString('a"b'), '{3}\r\na"b');
  assert.equal(wireString('é\r\n'), '{4}\r\né\r\n');
});

test('a command of many literals, each within the bound, is refused past one script and one line in all, its literals not kept', () => {
  const r = reader();
  const events = [];
  for (let i = 0; i < 1000; i++) events.push(...r.push(Buffer.from(`${i === 0 ? 'NOOP ' : ' '}{16+}\r\n${'z'.repeat(16)}`)));
  events.push(...r.push(Buffer.from('\r\nNOOP\r\n')));
  assert.deepEqual(events, [
    { kind: 'bad', reason: 'command larger than 80 octets' },
    { kind: 'command', tokens: [{ kind: 'atom', value: 'NOOP' }] },
  ]);
});
