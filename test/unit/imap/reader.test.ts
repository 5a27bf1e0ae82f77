// The command reader: frames, literals split across packets, refused commands dropped whole (RFC 3501 §4.3, RFC 7888).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandReader, type ReaderEvent } from '../../../src/imap/reader.ts';

/** Feeds the text one piece at a time (split where the pieces say), answering every "+" request. */
function feed(reader: CommandReader, pieces: string[]): ReaderEvent[] {
  const events: ReaderEvent[] = [];
  for (const p of pieces) {
    let data = Buffer.from(p, 'latin1');
    for (let round = 0; round < 1000; round++) {
      const got = reader.push(data);
      events.push(...got);
      data = Buffer.alloc(0);
      if (!got.some((e) => e.kind === 'continue')) break;
      reader.answer(true);
    }
  }
  return events;
}

const summary = (events: ReaderEvent[]): string[] =>
  events.map((e) => (e.kind === 'frame' ? `frame ${e.parts.map((p) => (typeof p === 'string' ? p : `<${p.toString('latin1')}>`)).join('|')}` : e.kind === 'continue' ? `+${e.size}` : `${e.what} ${e.tag}`));

test('literals split anywhere across packets arrive whole', () => {
  const r = new CommandReader({ maxLineBytes: 1000, maxLiteralBytes: 1000 });
  const text = 'a LOGIN {3}\r\nbob {5+}\r\nsecret\r\nb NOOP\r\n';
  for (let cut = 1; cut < text.length; cut++) {
    const events = feed(new CommandReader({ maxLineBytes: 1000, maxLiteralBytes: 1000 }), [text.slice(0, cut), text.slice(cut)]);
    assert.deepEqual(summary(events), ['+3', 'frame a LOGIN {3}|<bob>| {5+}|<secre>|t', 'frame b NOOP'], `cut at ${cut}`);
  }
  assert.deepEqual(summary(feed(r, ['c APPEND x {0}\r\n\r\n'])), ['+0', 'frame c APPEND x {0}|<>|']);
});

test('an oversize LITERAL+ is skipped with the rest of its line, even split across packets', () => {
  const text = `a APPEND x {20+}\r\n${'z'.repeat(20)} tail {4+}\r\nmore\r\nb NOOP\r\n`;
  for (let cut = 1; cut < text.length; cut += 3) {
    const events = feed(new CommandReader({ maxLineBytes: 1000, maxLiteralBytes: 10 }), [text.slice(0, cut), text.slice(cut)]);
    assert.deepEqual(summary(events), ['literal a', 'frame b NOOP'], `cut at ${cut}`);
  }
});

test('the literals of one command count together; an over-long line is dropped with its literal', () => {
  const r = new CommandReader({ maxLineBytes: 100, maxLiteralBytes: 10 });
  // each literal fits, the two together do not: told apart from one literal over the bound (TOOBIG vs LIMIT)
  assert.deepEqual(summary(feed(r, ['a LOGIN {6+}\r\n123456 {6+}\r\n123456\r\nb NOOP\r\n'])), ['literals a', 'frame b NOOP']);
  assert.deepEqual(summary(feed(r, ['x LOGIN {11+}\r\n12345678901\r\nb NOOP\r\n'])), ['literal x', 'frame b NOOP']);
  const long = `c NOOP ${'y'.repeat(200)} {4+}\r\nabcd\r\nd NOOP\r\n`;
  assert.deepEqual(summary(feed(r, [long.slice(0, 50), long.slice(50, 150), long.slice(150)])), ['line c', 'frame d NOOP']);
  assert.deepEqual(summary(feed(r, ['e NOOP\r\n'])), ['frame e NOOP']);
});

test('a literal limit read on each announcement follows state changes', () => {
  let limit = 5;
  const r = new CommandReader({
    maxLineBytes: 100,
    get maxLiteralBytes() {
      return limit;
    },
  });
  assert.deepEqual(summary(feed(r, ['a X {6}\r\n'])), ['literal a']);
  limit = 10;
  assert.deepEqual(summary(feed(r, ['b X {6}\r\n', '123456\r\n'])), ['+6', 'frame b X {6}|<123456>|']);
});
