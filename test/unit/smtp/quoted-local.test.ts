// Stand-ins that carry a quoted local part's spaces, "@" and dots through smtp-server's path parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hideQuoted, revealQuoted } from '../../../src/smtp/quoted-local.ts';

test('only spaces and "@" inside the quotes are hidden, and come back unchanged', () => {
  const hidden = hideQuoted('RCPT TO:<"a b@c"@example.com> NOTIFY=NEVER');
  assert.ok(hidden);
  assert.equal(hidden.split(' ').length, 3, 'the parameters are still split on spaces');
  assert.equal(revealQuoted(hidden), 'RCPT TO:<"a b@c"@example.com> NOTIFY=NEVER');
  assert.equal(revealQuoted(hideQuoted('MAIL FROM:<"x\\" y"@e>') ?? ''), 'MAIL FROM:<"x\\" y"@e>', 'escaped quote stays inside');
});

test('dots inside the quotes are hidden too (smtp-server refuses "..", a leading or a trailing dot), outside they are not', () => {
  const hidden = hideQuoted('MAIL FROM:<"john..doe."@example.com>');
  assert.ok(hidden);
  assert.ok(!/"john\.|doe\."/.test(hidden), 'no dot left inside the quotes');
  assert.ok(hidden.endsWith('@example.com>'), 'the domain keeps its dots');
  assert.equal(revealQuoted(hidden), 'MAIL FROM:<"john..doe."@example.com>');
});

test('nothing to hide: plain, quoted without specials, unterminated, or stand-ins already present', () => {
  assert.equal(hideQuoted('MAIL FROM:<a@b>'), undefined);
  assert.equal(hideQuoted('MAIL FROM:<"ab"@c>'), undefined);
  assert.equal(hideQuoted('MAIL FROM:<"a b@c>'), undefined);
  assert.equal(hideQuoted('MAIL FROM:<"a \uE000"@c>'), undefined);
  assert.equal(hideQuoted('MAIL FROM:<"a.\uE002"@c>'), undefined);
});
