// strictSingleMailbox: the From fields spamgate signs (one RFC 5322 mailbox) and those it does not (anything another
// parser could read differently).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { strictSingleMailbox } from '../../../src/dkim/from-mailbox.ts';

test('one mailbox: addr-spec, angle-addr, phrase with quoted strings, comments, obs-phrase dots, encoded words, UTF-8', () => {
  const ok: Array<[string, string]> = [
    ['a@example.com', 'a@example.com'],
    ['<a@example.com>', 'a@example.com'],
    ['Ann Smith <a.b+tag@mail.example.com>', 'a.b+tag@mail.example.com'],
    ['"Smith, Ann" <a@example.com>', 'a@example.com'],
    ['"ceo@example.com" <me@example.com>', 'me@example.com'],
    ["O'Brien <o@example.com>", 'o@example.com'],
    ['Dr. J. Smith <j@example.com>', 'j@example.com'],
    ['=?utf-8?q?M=C3=BCller?= <m@example.com>', 'm@example.com'],
    ['Müller <m@example.com>', 'm@example.com'],
    ['a@example.com (Ann (the boss))', 'a@example.com'],
    ['a(x)@example.com', 'a@example.com'],
    ['"a b"@example.com', '"a b"@example.com'],
  ];
  for (const [value, address] of ok) assert.equal(strictSingleMailbox(value), address, value);
});

test('not one mailbox: a bare @ in the phrase, unterminated parts, text after the address, lists, groups, routes, literals', () => {
  const bad = [
    'ceo@example.com <me@example.com>',
    'ceo@example.com\\ <me@example.com>',
    'ceo@example.com <me@example.com',
    '"x <me@example.com>',
    'me@example.com (ceo',
    '<me@example.com> ceo@example.com',
    'Me <me@example.com> x <ceo@example.com>',
    'me@example.com, ceo@example.com',
    'me@example.com;ceo@example.com',
    'me@example.com, undisclosed:;',
    'grp: me@example.com;',
    '<@relay.example:me@example.com>',
    'me@[192.0.2.1]',
    'me@example..com',
    'me',
    '',
    '((((((((((((deep))))))))))) me@example.com',
  ];
  for (const value of bad) assert.equal(strictSingleMailbox(value), undefined, value);
});
