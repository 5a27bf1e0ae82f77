// POP3 wire helpers: byte-stuffing, CRLF normalisation, TOP, the line splitter's limit.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeMultiline, LineSplitter, topOf } from '../../../src/pop3/wire.ts';

const enc = (s: string): string => Buffer.concat(encodeMultiline(Buffer.from(s))).toString();

test('byte-stuffs lines starting with "." and normalises bare LF; ends with CRLF . CRLF', () => {
  assert.equal(enc('a\r\n.b\r\n..c\r\n'), 'a\r\n..b\r\n...c\r\n.\r\n');
  assert.equal(enc('.first\nmid\n.\nlast'), '..first\r\nmid\r\n..\r\nlast\r\n.\r\n');
  assert.equal(enc(''), '.\r\n');
  assert.equal(enc('x\r\n'), 'x\r\n.\r\n');
});

test('TOP returns the header, the blank line and n body lines', () => {
  const m = Buffer.from('A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n');
  assert.equal(topOf(m, 0).toString(), 'A: 1\r\nB: 2\r\n\r\n');
  assert.equal(topOf(m, 2).toString(), 'A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n');
  assert.equal(topOf(m, 99).toString(), m.toString());
});

test('the splitter yields lines across chunks and reports an overlong line once', () => {
  const s = new LineSplitter(10);
  assert.deepEqual(s.push(Buffer.from('US')), []);
  assert.deepEqual(s.push(Buffer.from('ER a\r\nNOOP\n')), [{ kind: 'line', text: 'USER a' }, { kind: 'line', text: 'NOOP' }]);
  assert.deepEqual(s.push(Buffer.from('x'.repeat(30))), [{ kind: 'overlong' }]);
  assert.deepEqual(s.push(Buffer.from('yyy\r\nSTAT\r\n')), [{ kind: 'line', text: 'STAT' }]);
});
