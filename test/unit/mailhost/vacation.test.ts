// Out-of-office rules, reply and memory: RFC 3834 §2 cases decided from headers, RFC 2047 subjects, References,
// one reply per sender per period persisted in the data dir and bounded per user; the users command.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { usersCommand } from '../../../src/commands/users.ts';
import { vacationEntry } from '../../../src/config/sections/mailhost.ts';
import { readUsersFile } from '../../../src/mailhost/users.ts';
import { decodeHeaderValue } from '../../../src/mime/headers.ts';
import { buildVacationReply, encodeHeaderText } from '../../../src/mailhost/vacation-reply.ts';
import { decideVacation, headerFieldsOf } from '../../../src/mailhost/vacation-rules.ts';
import { createVacationStore, forgetVacationReplies, MAX_SENDERS, vacationFile } from '../../../src/mailhost/vacation-store.ts';
import { runCommand } from '../../helpers/command-io.ts';

const DAY = 86_400_000;
const setting = vacationEntry.parse({ message: 'away' });
const fields = (head: string) => headerFieldsOf(Buffer.from(`${head}\r\n\r\nbody\r\n`));
const decide = (head: string, over: Partial<Parameters<typeof decideVacation>[0]> = {}) =>
  decideVacation({ setting, user: 'alice@example.com', mailFrom: 'bob@remote.example', fields: fields(head), isUsersAddress: (a) => a.toLowerCase() === 'sales@example.com', nowMs: Date.parse('2026-06-01T12:00:00Z'), ...over });

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'spamgate-vacation-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('RFC 3834 §2 cases: aliases in Cc count, Bcc does not; spam verdicts, role senders, the user herself and --until', () => {
  assert.deepEqual(decide('To: "Alice" <alice@example.com>'), { kind: 'reply' });
  assert.deepEqual(decide('To: x@y.example\r\nCc: team <sales@example.com>, z@y.example'), { kind: 'reply' });
  assert.deepEqual(decide('To: x@y.example'), { kind: 'suppressed', reason: 'not_in_to_cc' });
  assert.deepEqual(decide('To: alice@example.com\r\nAuto-Submitted: auto-replied; owner-email="x@y"'), { kind: 'suppressed', reason: 'auto_submitted' });
  assert.deepEqual(decide('To: alice@example.com\r\nAuto-Submitted: No'), { kind: 'reply' });
  assert.deepEqual(decide('To: alice@example.com\r\nList-Unsubscribe: <mailto:u@l.example>'), { kind: 'suppressed', reason: 'mailing_list' });
  assert.deepEqual(decide('To: alice@example.com\r\nPrecedence: junk'), { kind: 'suppressed', reason: 'bulk_precedence' });
  assert.deepEqual(decide('To: alice@example.com', { verdictAction: 'rewrite_subject' }), { kind: 'suppressed', reason: 'spam' });
  assert.deepEqual(decide('To: alice@example.com', { verdictAction: 'add_header' }), { kind: 'reply' });
  for (const from of ['MAILER-DAEMON@remote.example', 'no-reply@x.example', 'owner-list@x.example', 'list-request@x.example', 'news-bounces@x.example']) {
    assert.deepEqual(decide('To: alice@example.com', { mailFrom: from }), { kind: 'suppressed', reason: 'system_sender' }, from);
  }
  assert.deepEqual(decide('To: alice@example.com', { mailFrom: 'Alice@Example.com' }), { kind: 'suppressed', reason: 'own_address' });
  assert.deepEqual(decide('To: alice@example.com', { mailFrom: 'sales@example.com' }), { kind: 'suppressed', reason: 'own_address' });
  const until = vacationEntry.parse({ message: 'away', until: '2026-06-01' });
  assert.deepEqual(decide('To: alice@example.com', { setting: until }), { kind: 'reply' }, 'the last day itself is answered');
  assert.deepEqual(decide('To: alice@example.com', { setting: until, nowMs: Date.parse('2026-06-02T00:00:00Z') }), { kind: 'suppressed', reason: 'expired' });
  assert.equal(vacationEntry.safeParse({ message: 'x', until: '2026-02-29' }).success, false);
  assert.equal(vacationEntry.safeParse({ message: 'x'.repeat(16 * 1024 + 1) }).success, false);
  assert.equal(vacationEntry.safeParse({ message: 'x', subject: 'a\r\nBcc: x@y' }).success, false);
});

test('the reply: RFC 2047 words of at most 75 characters, References bounded, no header injection from the original', () => {
  const subject = 'Réunion '.repeat(20).trim();
  const encoded = encodeHeaderText(subject);
  for (const word of encoded.split('\r\n ')) assert.ok(word.length <= 75, word);
  assert.equal(decodeHeaderValue(encoded.replace(/\r\n /g, ' ')), subject);
  assert.equal(encodeHeaderText('plain'), 'plain');
  const refs = Array.from({ length: 30 }, (_, i) => `<r${i}@x.example>`).join(' ');
  const { envelope, message } = buildVacationReply({
    setting,
    user: 'alice@example.com',
    to: 'bob@remote.example',
    fields: fields(`Subject: =?UTF-8?Q?Caf=C3=A9?=\r\nMessage-ID: <m1@x.example>\r\nReferences: ${refs}`),
    nowMs: Date.now(),
    queueId: 'Q1',
  });
  const text = message.toString('utf8');
  assert.match(text, /^Subject: =\?UTF-8\?B\?[^?]+\?=$/m);
  assert.equal(decodeHeaderValue(/^Subject: (.*)$/m.exec(text)?.[1]?.trim() ?? ''), 'Auto: Café');
  assert.match(text, /^In-Reply-To: <m1@x\.example>$/m);
  const references = /^References: ((?:.*)(?:\r\n .*)*)/m.exec(text)?.[1] ?? '';
  assert.equal(references.split(/\s+/).length, 11, 'the last 10 of the parent References and its Message-ID');
  assert.ok(references.endsWith('<m1@x.example>'));
  assert.equal(envelope.mailFrom, '');
  assert.deepEqual(envelope.rcptDsn, { 'bob@remote.example': { notify: ['NEVER'] } });
  const noId = buildVacationReply({ setting, user: 'alice@example.com', to: 'bob@remote.example', fields: fields('Subject: hi\r\n there'), nowMs: 0, queueId: 'Q2' });
  assert.doesNotMatch(noId.message.toString(), /^In-Reply-To:/m);
  assert.match(noId.message.toString(), /^Subject: Auto: hi there$/m);
});

test('one reply per sender per period, persisted; entries bounded per user, the oldest dropped', async (t) => {
  const dir = tempDir(t);
  const store = createVacationStore(dir, false);
  const t0 = Date.parse('2026-06-01T00:00:00Z');
  assert.equal(await store.claim('alice@example.com', 'Bob@remote.example', 7, t0), true);
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 7, t0 + 6 * DAY), false);
  assert.equal(await createVacationStore(dir, false).claim('alice@example.com', 'bob@remote.example', 7, t0 + DAY), false, 'remembered across restarts');
  assert.equal(await store.claim('carol@example.com', 'bob@remote.example', 7, t0 + DAY), true, 'per user');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 7, t0 + 7 * DAY), true, 'the period is over');

  const file = vacationFile(dir, 'dave@example.com');
  const full = Object.fromEntries(Array.from({ length: MAX_SENDERS }, (_, i) => [`s${i}@x.example`, t0 + i]));
  writeFileSync(file, JSON.stringify(full));
  assert.equal(await store.claim('dave@example.com', 'new@x.example', 7, t0 + DAY), true);
  const kept = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number | number[]>;
  assert.equal(Object.keys(kept).length, MAX_SENDERS);
  assert.equal(kept['s0@x.example'], undefined, 'the oldest dropped');
  assert.deepEqual(kept['new@x.example'], [t0 + DAY, 7], 'the time and its own period');
  assert.equal(kept['s1@x.example'], t0 + 1, 'entries of an older file are kept as they were');
  writeFileSync(file, '{broken');
  assert.equal(await store.claim('dave@example.com', 's5@x.example', 7, t0 + DAY), true, 'a damaged file starts again');
});

test('Sieve vacation handles: one reply per sender per handle, apart from the administrator reply; each entry keeps its own period', async (t) => {
  const dir = tempDir(t);
  const store = createVacationStore(dir, false);
  const t0 = Date.parse('2026-06-01T00:00:00Z');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0, 'away'), true);
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0 + DAY, 'away'), false, 'same handle within :days');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0 + DAY, 'other'), true, 'another handle replies');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 7, t0 + DAY), true, 'the administrator reply is apart');
  // a claim with a short period must not forget a long-period entry
  assert.equal(await store.claim('alice@example.com', 'carol@remote.example', 1, t0 + 10 * DAY), true);
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0 + 10 * DAY, 'away'), false, 'the 30-day entry outlived a 1-day claim');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0 + 30 * DAY, 'away'), true, 'its period is over');
});

test('users vacation writes the users file (read back by the same schema), passwd keeps it, --off removes it and the memory', async (t) => {
  const dir = tempDir(t);
  const configFile = path.join(dir, 'spamgate.yaml');
  writeFileSync(configFile, `data_dir: ${path.join(dir, 'data')}\nlocal_domains: [example.com]\nmailhost: { watch_files: false }\n`);
  const msg = path.join(dir, 'away.txt');
  writeFileSync(msg, 'Back on Monday.\n');
  const run = (positional: string[], flags: Array<[string, string | true]>, stdin = '') => runCommand(usersCommand, { flags: new Map(flags), positional, configFile }, stdin);
  assert.equal((await run(['add', 'alice@example.com'], [['password-stdin', true]], 'alice-password\n')).code, 0);
  const missing = await run(['vacation', 'bob@example.com'], [['message-file', msg]]);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /no such user bob@example\.com/);
  const on = await run(['vacation', 'alice@example.com'], [['message-file', msg], ['subject', 'Away'], ['days', '3']]);
  assert.equal(on.code, 0, on.err);
  assert.equal(on.out, 'vacation reply of alice@example.com on, once per sender every 3 days\n');
  const read = () => {
    const r = readUsersFile(path.join(dir, 'data', 'users.yaml'));
    assert.ok(r.ok);
    return r.entries['alice@example.com'];
  };
  assert.deepEqual(read()?.vacation, { message: 'Back on Monday.\n', subject: 'Away', days: 3 });
  assert.equal((await run(['passwd', 'alice@example.com'], [['password-stdin', true]], 'other-password\n')).code, 0);
  assert.deepEqual(read()?.vacation?.subject, 'Away', 'a new password keeps the vacation');
  const memory = vacationFile(path.join(dir, 'data'), 'alice@example.com');
  mkdirSync(path.dirname(memory), { recursive: true });
  writeFileSync(memory, '{}');
  await assert.rejects(run(['vacation', 'alice@example.com'], [['off', true], ['days', '3']]), /--off takes no other option/);
  await assert.rejects(run(['add', 'carol@example.com'], [['password-stdin', true], ['until', '2030-01-01']], 'carol-password\n'), /--until is only for users vacation/);
  assert.equal((await run(['vacation', 'alice@example.com'], [['off', true]])).code, 0);
  assert.equal(read()?.vacation, undefined);
  assert.equal(existsSync(memory), false, 'whom the last vacation answered is forgotten');
});

test('a store file from before entries had their own period: a short Sieve :days claim does not forget the administrator replies in it', async (t) => {
  const dir = tempDir(t);
  const t0 = Date.parse('2026-06-01T00:00:00Z');
  // written by the earlier store: sender → time, all administrator replies (period: the user's vacation days, 14)
  mkdirSync(path.dirname(vacationFile(dir, 'alice@example.com')), { recursive: true });
  writeFileSync(vacationFile(dir, 'alice@example.com'), JSON.stringify({ 'bob@remote.example': t0 }));
  const store = createVacationStore(dir, false);
  assert.equal(await store.claim('alice@example.com', 'carol@remote.example', 1, t0 + 2 * DAY, 'h:short'), true);
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 14, t0 + 3 * DAY), false, 'bob had the administrator reply 3 days ago');
});

test('the reply has no bare CR or LF (a reason may hold them, e.g. from a decoded header in a variable); a :mime head cannot gain a field through one', async () => {
  const { hasBareLineBreak } = await import('../../../src/smtp/line-endings.ts');
  const original = fields('Subject: hi\r\nMessage-ID: <m1@remote.example>');
  const plain = buildVacationReply({ setting: { message: 'Your mail about hi\rBcc: x@evil.example\nwas read', days: 7 }, user: 'alice@example.com', to: 'bob@remote.example', fields: original, nowMs: 0, queueId: 'q' });
  assert.equal(hasBareLineBreak(plain.message), false, JSON.stringify(plain.message.toString()));
  const mime = buildVacationReply({ setting: { message: 'Content-Type: text/plain\rX-Injected: 1\r\n\r\nbody\r', days: 7 }, user: 'alice@example.com', to: 'bob@remote.example', fields: original, nowMs: 0, queueId: 'q', mime: true });
  assert.equal(hasBareLineBreak(mime.message), false, JSON.stringify(mime.message.toString()));
  const head = mime.message.toString().split('\r\n\r\n')[0] ?? '';
  assert.doesNotMatch(head, /^X-Injected:/m, 'no field added to the head');
});

test('the store never writes a file larger than it reads back: past the byte bound the oldest entries go, the others are remembered', async (t) => {
  const dir = tempDir(t);
  const t0 = Date.parse('2026-06-01T00:00:00Z');
  const file = vacationFile(dir, 'alice@example.com');
  mkdirSync(path.dirname(file), { recursive: true });
  // long handles (a Sieve :handle may hold a 4,096-character variable): 1,000 entries of ~4 kB, just under 4 MiB
  const handle = (i: number): string => `h:${String(i).padStart(4, '0')}${'x'.repeat(4090)}`;
  // (the store's handle is the caller's: vacationHandle gives h:<:handle>)
  writeFileSync(file, JSON.stringify(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`s${i}@remote.example\0${handle(i)}`, [t0 + i, 30]]))));
  const store = createVacationStore(dir, false);
  assert.ok(statSync(file).size < 4 * 1024 * 1024);
  for (let i = 0; i < 30; i++) assert.equal(await store.claim('alice@example.com', `n${i}@remote.example`, 30, t0 + DAY, handle(5000 + i)), true);
  assert.equal(await store.claim('alice@example.com', 's900@remote.example', 30, t0 + 2 * DAY, handle(900)), false, 'a recent entry is still remembered');
});

test('setting or ending the administrator vacation forgets its replies, not those of the user\'s Sieve vacation actions', async (t) => {
  const dir = tempDir(t);
  const t0 = Date.parse('2026-06-01T00:00:00Z');
  const store = createVacationStore(dir, false);
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 7, t0), true);
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0, 'h:june'), true);
  forgetVacationReplies(dir, 'alice@example.com');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 7, t0 + DAY), true, 'the new administrator reply starts afresh');
  assert.equal(await store.claim('alice@example.com', 'bob@remote.example', 30, t0 + DAY, 'h:june'), false, 'the Sieve reply is still remembered');
  forgetVacationReplies(dir, 'nobody@example.com');
});
