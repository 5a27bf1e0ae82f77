// The request reader: bounded header, Content-length counted exactly across chunks, zlib inflated, errors named.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { RequestReader } from '../../../src/spamd/request-reader.ts';

const feed = (reader: RequestReader, ...parts: string[]) => parts.map((p) => reader.push(Buffer.from(p, 'latin1'))).pop();

test('a request byte by byte: done exactly at Content-length, headers by lower-case name', () => {
  const reader = new RequestReader(1000);
  const text = 'PROCESS SPAMC/1.5\r\nContent-length: 5\r\nUser: alice\r\n\r\nhello';
  const steps = [...text].map((c) => reader.push(Buffer.from(c, 'latin1')));
  assert.ok(steps.slice(0, -1).every((s) => s.kind === 'more'));
  const last = steps.at(-1);
  assert.equal(last?.kind, 'done');
  if (last?.kind !== 'done') return;
  assert.equal(last.request.command, 'PROCESS');
  assert.equal(last.request.version, '1.5');
  assert.equal(last.request.headers.get('user'), 'alice');
  assert.equal(last.request.body.toString(), 'hello');
  // nothing more is taken
  assert.equal(reader.push(Buffer.from('more')).kind, 'more');
});

test('PING needs no Content-length; LF-only lines are read too; zlib bodies are inflated', () => {
  assert.equal(feed(new RequestReader(100), 'PING SPAMC/1.2\n\n')?.kind, 'done');
  const packed = deflateSync(Buffer.from('Subject: x\r\n\r\nbody'));
  const r = new RequestReader(100);
  r.push(Buffer.from(`CHECK SPAMC/1.5\r\nContent-length: ${packed.length}\r\nCompress: zlib\r\n\r\n`));
  const done = r.push(packed);
  assert.equal(done.kind === 'done' && done.request.body.toString(), 'Subject: x\r\n\r\nbody');
});

test('errors: what spamd calls a bad header line, and a message too big', () => {
  const err = (max: number, ...parts: string[]) => {
    const p = feed(new RequestReader(max), ...parts);
    return p?.kind === 'error' ? `${p.error.code} ${p.error.text}` : p?.kind;
  };
  assert.equal(err(100, 'CHECK SPAMC/2.0\r\n'), '76 Bad header line: CHECK SPAMC/2.0');
  assert.equal(err(100, 'CHECK SPAMC/1.5\r\nContent-length: 5\r\nContent-length: 6\r\n'), '76 Bad header line: (Content-length given twice)');
  assert.equal(err(100, 'CHECK SPAMC/1.5\r\nContent-length: 0\r\n\r\n'), '65 Empty message');
  assert.equal(err(100, 'CHECK SPAMC/1.5\r\nContent-length: 101\r\n\r\n'), '65 Message too big: Content-length 101 is over the limit of 100 bytes');
  assert.equal(err(100, 'CHECK SPAMC/1.5\r\nUser: a\x01b\r\n'), '76 Bad header line: User: a?b');
  assert.equal(err(100, 'x'.repeat(1100)), '76 Bad header line: (line too long)');
  const r = new RequestReader(100);
  feed(r, 'CHECK SPAMC/1.5\r\nContent-length: 10\r\n\r\nabc');
  const end = r.end();
  assert.equal(end.kind === 'error' && end.error.text, 'Bad header line: (Content-Length mismatch: Expected 10 bytes, got 3 bytes)');
  const bad = new RequestReader(100);
  const junk = Buffer.from('not zlib at all');
  bad.push(Buffer.from(`CHECK SPAMC/1.5\r\nContent-length: ${junk.length}\r\nCompress: zlib\r\n\r\n`));
  const inflated = bad.push(junk);
  assert.equal(inflated.kind === 'error' && inflated.error.text, 'Compressed message could not be inflated');
});
