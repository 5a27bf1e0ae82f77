// What a client that has not enabled UTF8=ACCEPT gets in ENVELOPE, BODY and BODYSTRUCTURE is 7-bit, whatever the
// header holds (RFC 6855 §3): a NUL (which no IMAP string may carry, RFC 3501 §4.3) stood in for by U+FFFD went out
// as 8-bit octets in a literal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarize } from '../../../src/imap/fetch.ts';

const MESSAGE = [
  'From: A\0nn <a\0b@exa\0mple.org>',
  'Subject: hi\0there',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="b1"',
  '',
  '--b1',
  'Content-Type: text/plain; name="a\0b"',
  'Content-Disposition: attachment; filename="x\0y"',
  'Content-Description: d\0e',
  '',
  'text',
  '--b1',
  'Content-Type: message/rfc822',
  '',
  'From: b\0c@example.org',
  'Subject: in\0ner',
  '',
  'inner body',
  '--b1--',
  '',
].join('\r\n');

test('legacy ENVELOPE, BODY and BODYSTRUCTURE hold no 8-bit octet for a NUL in header text', () => {
  const s = summarize(Buffer.from(MESSAGE, 'latin1'));
  for (const k of ['envelope', 'body', 'bodystructure'] as const) {
    assert.doesNotMatch(s[k], /[^\x01-\x7f]/, `${k}: ${JSON.stringify(s[k])}`);
  }
  assert.match(s.bodystructure, /"NAME\*" "utf-8''a%EF%BF%BDb"/, 'a parameter value with a NUL goes as RFC 2231, U+FFFD for the NUL');
  // the UTF-8 forms stand U+FFFD in for it, as before
  assert.match(s.envelopeUtf8, /hi\ufffdthere/);
  assert.match(s.bodystructureUtf8, /d\ufffde/);
});

test('legacy BODYSTRUCTURE: a parameter already in RFC 2231 form (extended, or a continuation) holding 8-bit stays one valid parameter', () => {
  const raw = Buffer.from(
    [
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      "Content-Type: application/pdf; name*=utf-8''Gr\u00fc%20x.pdf",
      '',
      'x',
      '--b',
      'Content-Type: application/pdf; name*0="Gr\u00fc"; name*1="\u00dfe.pdf"',
      '',
      'y',
      '--b--',
      '',
    ].join('\r\n'),
    'utf8',
  );
  const s = summarize(raw);
  assert.doesNotMatch(s.bodystructure, /[^\x01-\x7f]/);
  assert.match(s.bodystructure, /\("NAME\*" "utf-8''Gr%C3%BC%20x\.pdf"\)/, s.bodystructure);
  assert.match(s.bodystructure, /\("NAME\*0\*" "utf-8''Gr%C3%BC" "NAME\*1\*" "%C3%9Fe\.pdf"\)/, s.bodystructure);
});
