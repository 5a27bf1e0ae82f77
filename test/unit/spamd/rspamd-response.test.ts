// The rspamd-protocol answer's milter block: what an rspamd client (Haraka, Exim) removes from the message. Every
// X-Spamgate-* field the message brought is named, as the SMTP listener, the milter and PROCESS remove them all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Scan } from '../../../src/spamd/judge.ts';
import { rspamdReply } from '../../../src/spamd/rspamd-response.ts';
import type { Ruleset } from '../../../src/scoring/ruleset.ts';

type Scanned = Extract<Scan, { kind: 'scanned' }>;

const scanned: Scanned = {
  kind: 'scanned',
  verdict: { action: 'accept', score: 0, symbols: [], decidedBy: 'test' },
  spam: false,
  threshold: 6,
  sessionId: '0123456789abcdef',
  added: [],
  subjectPrefix: '***SPAM***',
  envelope: undefined,
};
const ruleset = { symbols: new Map() } as unknown as Ruleset;

test('remove_headers names every X-Spamgate-* field the message brought (any case, blanks before the colon), once each', () => {
  const raw = Buffer.from('X-Spamgate-Released: Mon, 7 Dec 2026 00:00:00 +0000; id=forged\r\nx-spamgate-reputation: ip=1.2.3.0/24\r\nX-SPAMGATE-Reputation : again\r\nX-Spamgate-Result: accept; score=-50\r\nSubject: hi\r\n\r\nX-Spamgate-Body: not a field\r\n', 'latin1');
  const milter = rspamdReply(scanned, ruleset, raw, 1).milter as { remove_headers: Record<string, number> };
  const names = Object.keys(milter.remove_headers).map((n) => n.toLowerCase()).sort();
  assert.deepEqual(names, ['x-spam', 'x-spamgate-released', 'x-spamgate-reputation', 'x-spamgate-result']);
  assert.ok(Object.values(milter.remove_headers).every((v) => v === 0), 'every instance (0)');
});

test('remove_headers of a message without X-Spamgate-* fields: the verdict fields as before', () => {
  const milter = rspamdReply(scanned, ruleset, Buffer.from('Subject: hi\r\n\r\nbody\r\n'), 1).milter as { remove_headers: Record<string, number> };
  assert.deepEqual(milter.remove_headers, { 'X-Spamgate-Result': 0, 'X-Spam': 0 });
});
