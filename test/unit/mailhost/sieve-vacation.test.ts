// Replies of a Sieve vacation action (RFC 5230): :from only when it is one of the user's addresses, :mime
// entities with only their Content-* lines taken, :addresses counting as the user's in To/Cc, one reply per
// handle, and without :handle a changed reason answering again (§4.2); the administrator's reply apart.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { createVacation } from '../../../src/mailhost/vacation-setup.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';
import type { VacationAction } from '../../../src/sieve/execute.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';

const USER = 'alice@example.com';
const OWN = new Set([USER, 'alice.smith@example.com']);

function setup(t: TestContext) {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-sieve-vacation-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const sent: Array<{ envelope: QueueEnvelope; text: string }> = [];
  const sink = { enqueue: async (envelope: QueueEnvelope, message: Buffer) => (sent.push({ envelope, text: message.toString('utf8') }), { id: `r${sent.length}` }) };
  const vacation = createVacation({
    directory: { lookup: () => ({ name: USER, passwordHash: '', source: 'file', vacation: { message: 'ADMIN', days: 7 } }), ownsAddress: (_u: string, a: string) => OWN.has(a.toLowerCase()) },
    dataDir: dir,
    fsync: false,
    clock: new ManualClock(Date.parse('2026-06-01T00:00:00Z')),
    log: silentLogger,
    registry: createRegistry(false),
  });
  const raw = (from: string, to = USER) => Buffer.from(`From: <${from}>\r\nTo: ${to}\r\nSubject: Meeting\r\nMessage-ID: <m1@remote.example>\r\n\r\nhello\r\n`);
  const reply = (from: string, action: Partial<VacationAction>, to?: string) =>
    vacation.sieveReply(sink, undefined, { user: USER, mailFrom: from, raw: raw(from, to), queueId: 'Q1' }, { kind: 'vacation', days: 7, addresses: [], mime: false, reason: 'Away.', ...action });
  return { sent, reply, admin: (from: string) => vacation.afterDelivery(sink, undefined, { user: USER, mailFrom: from, raw: raw(from), queueId: 'Q2' }) };
}

test(':from is used when it is the user\'s address (with its display name), ignored when it is someone else\'s', async (t) => {
  const s = setup(t);
  await s.reply('bob@remote.example', { from: 'Alice Smith <alice.smith@example.com>' });
  await s.reply('carol@remote.example', { from: 'boss@example.com' });
  assert.match(s.sent[0]?.text ?? '', /^From: "Alice Smith" <alice\.smith@example\.com>\r$/m);
  assert.match(s.sent[1]?.text ?? '', /^From: <alice@example\.com>\r$/m, 'not in another\'s name');
  assert.equal(s.sent[0]?.envelope.mailFrom, '');
  assert.match(s.sent[0]?.text ?? '', /^Subject: Auto: Meeting\r$/m, 'RFC 5230 §4.3: the default subject');
});

test(':mime: the reason is a MIME entity; only its Content-* lines become header fields', async (t) => {
  const s = setup(t);
  await s.reply('bob@remote.example', { mime: true, reason: 'Content-Type: text/html; charset=utf-8\n\n<p>Away</p>\n' });
  const text = s.sent[0]?.text ?? '';
  assert.match(text, /^Content-Type: text\/html; charset=utf-8\r\n\r\n<p>Away<\/p>\r\n$/m);
  assert.equal(text.match(/^Content-Type:/gm)?.length, 1, 'no text/plain beside it');
  await s.reply('carol@remote.example', { mime: true, reason: 'Bcc: victim@remote.example\n\nhello' });
  const [head, body] = (s.sent[1]?.text ?? '').split('\r\n\r\n');
  assert.doesNotMatch(head ?? '', /^Bcc:/m, 'no other field can be added');
  assert.match(body ?? '', /^Bcc: victim@remote\.example/, 'the text stays the body');
  assert.match(s.sent[1]?.text ?? '', /^Content-Type: text\/plain; charset=utf-8\r$/m, 'then it is plain text');
});

test(':addresses count as the user\'s in To/Cc; one reply per handle; a changed reason without :handle answers again; the administrator reply apart', async (t) => {
  const s = setup(t);
  await s.reply('bob@remote.example', {}, 'team@example.com');
  assert.equal(s.sent.length, 0, 'not named in To or Cc');
  await s.reply('bob@remote.example', { addresses: ['team@example.com'] }, 'team@example.com');
  assert.equal(s.sent.length, 1);
  await s.reply('dave@remote.example', { handle: 'h' });
  await s.reply('dave@remote.example', { handle: 'h', reason: 'Changed.' });
  assert.equal(s.sent.length, 2, 'same handle, no second reply');
  await s.reply('erin@remote.example', {});
  await s.reply('erin@remote.example', {});
  await s.reply('erin@remote.example', { reason: 'Back next week.' });
  assert.equal(s.sent.length, 4, 'same arguments once; a new reason is a new reply');
  await s.admin('erin@remote.example');
  assert.equal(s.sent.length, 5, 'the administrator reply is remembered apart');
  assert.match(s.sent[4]?.text ?? '', /ADMIN/);
});
