// PROCESS output: the client's bytes and line endings, an mbox From line first, forged result fields removed,
// the Subject tagged by a tagging verdict, spamgate's and SpamAssassin's fields at the end of the header block.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Scan } from '../../../src/spamd/judge.ts';
import { fold, processMessage } from '../../../src/spamd/process-output.ts';
import type { Verdict } from '../../../src/scoring/scorer.ts';

type Scanned = Extract<Scan, { kind: 'scanned' }>;

function scan(action: Verdict['action'], score: number, spam: boolean): Scanned {
  return {
    kind: 'scanned',
    verdict: { action, score, symbols: [{ symbol: 'CT_TEST', score, weight: score, options: [] }], decidedBy: 'test' },
    spam,
    threshold: 6,
    sessionId: '0123456789abcdef',
    added: [['Authentication-Results', 'mx.example.org;\r\n\tdkim=none']],
    subjectPrefix: '***SPAM***',
    envelope: undefined,
  };
}

const out = (raw: string, s: Scanned) => {
  const { head, body } = processMessage(Buffer.from(raw, 'latin1'), s, { hostname: 'mx.example.org' });
  return { head: head.toString('latin1'), body: body.toString('latin1') };
};

test('LF message from procmail: From line first, LF kept, spam fields appended, Subject tagged, forged fields gone', () => {
  const raw = 'From bounce@example.com  Sun Nov 22 00:00:00 2026\nReceived: from a (b [198.51.100.1]) by mx\nSubject: offer\nX-Spam-Flag: NO\nX-Spam-Status: No, score=-100\nAuthentication-Results: mx.example.org; dkim=pass\nX-Spamgate-Result: accept; score=-50\n\nbody\n';
  const { head, body } = out(raw, scan('junk', 7, true));
  assert.ok(head.startsWith('From bounce@example.com  Sun Nov 22 00:00:00 2026\nReceived: from a'));
  assert.ok(!head.includes('\r'));
  assert.doesNotMatch(head, /X-Spam-Flag: NO|score=-100|score=-50|dkim=pass/);
  assert.match(head, /^Subject: \*\*\*SPAM\*\*\* offer\n/m);
  assert.match(head, /\nX-Spamgate-Result: junk; score=7; id=0123456789abcdef; CT_TEST\(7\)\nAuthentication-Results: mx\.example\.org;\n\tdkim=none\nX-Spam-Flag: YES\nX-Spam-Level: \*{7}\nX-Spam-Status: Yes, score=7\.0 required=6\.0 tests=CT_TEST\n\n$/);
  assert.equal(body, 'body\n');
});

test('CRLF message, ham: no flag, no tag, Subject kept; a message without a body gets its empty line', () => {
  const { head, body } = out('Subject: hello\r\nTo: a@example.org\r\n\r\nhi\r\n', scan('add_header', 3.2, false));
  assert.match(head, /^Subject: hello\r\nTo: a@example\.org\r\nX-Spamgate-Result: add_header;/);
  assert.doesNotMatch(head, /X-Spam-Flag/);
  assert.match(head, /X-Spam-Level: \*\*\*\r\nX-Spam-Status: No, score=3\.2 required=6\.0 tests=CT_TEST\r\n\r\n$/);
  assert.equal(body, 'hi\r\n');
  const bare = out('Subject: x\r\nTo: y@example.org\r\n', scan('reject', 20, true));
  assert.ok(bare.head.endsWith('\r\n\r\n'));
  assert.match(bare.head, /^Subject: \*\*\*SPAM\*\*\* x\r\n/);
  assert.equal(bare.body, '');
  // no Subject at all: one is added with the prefix
  assert.match(out('To: y@example.org\n\nz\n', scan('rewrite_subject', 5, false)).head, /^Subject: \*\*\*SPAM\*\*\*$/m);
});

test('fold: long values and long symbol lists break under 78 columns', () => {
  const f = fold('X-Spam-Status', `Yes, score=9.0 required=6.0 tests=${Array.from({ length: 12 }, (_, i) => `SYMBOL_NUMBER_${i}`).join(',')}`, '\n');
  for (const line of f.split('\n').filter(Boolean)) assert.ok(line.length <= 78, line);
  assert.equal(f.replace(/\n\t/g, '').replace(/\n$/, ''), `X-Spam-Status: Yes, score=9.0 required=6.0 tests=${Array.from({ length: 12 }, (_, i) => `SYMBOL_NUMBER_${i}`).join(',')}`.replace(/ tests=/, ' tests='));
});

test('obsolete field syntax, blanks before the colon (RFC 5322 §4.5): a forged result still goes, the Subject is tagged after its colon', () => {
  const raw = 'Received: from a (b [198.51.100.1]) by mx\nSubject : offer\nAuthentication-Results\t: mx.example.org; dkim=pass\nX-Spamgate-Result : accept; score=-50\n\nbody\n';
  const { head } = out(raw, scan('junk', 7, true));
  assert.doesNotMatch(head, /dkim=pass|score=-50/);
  assert.match(head, /^Subject : \*\*\*SPAM\*\*\* offer$/m);
});
