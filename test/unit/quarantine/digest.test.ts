// Digest rounds on a real quarantine directory with a recording sink and a manual clock: one digest per local
// recipient with what is new for them, newest first and at most max_items; nobody outside local_domains; coverage
// saved so a new runner (a restart) sends nothing again, and a lost save (a crash after the enqueue) sends one
// duplicate at most; the schedule; a partial release and delete keep the other recipients held.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import PostalMime from 'postal-mime';
import { digestSection } from '../../../src/config/sections/quarantine-digest.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import { loadConfig } from '../../../src/config/load.ts';
import { createUserDirectory } from '../../../src/mailhost/directory.ts';
import { hashPassword } from '../../../src/mailhost/password.ts';
import { createDigestRunner, type DigestRunnerOptions } from '../../../src/quarantine/digest.ts';
import { userOf } from '../../../src/checks/user-lists.ts';
import { digestAddressOf } from '../../../src/quarantine/digest-setup.ts';
import { latestSlot, nextSlot, roundDue } from '../../../src/quarantine/digest-schedule.ts';
import { readQuarantined, type QuarantineEnvelope } from '../../../src/quarantine/format.ts';
import { createLinkTokens } from '../../../src/quarantine/link-token.ts';
import { openQuarantine, type Quarantine } from '../../../src/quarantine/store.ts';
import type { MessageSink, QueueEnvelope } from '../../../src/queue/types.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { envelope, message, T0, tempDir } from '../queue/helpers.ts';

const MIN = 60_000;

function recorder(): MessageSink & { sent: Array<{ envelope: QueueEnvelope; message: Buffer }> } {
  const sent: Array<{ envelope: QueueEnvelope; message: Buffer }> = [];
  return { sent, enqueue: async (e, m) => (sent.push({ envelope: e, message: m }), { id: `q${sent.length}` }) };
}

const qEnv = (rcptTo: string[], subject: string): QuarantineEnvelope => ({
  ...envelope({ rcptTo, mailFrom: 'spammer@remote.example' }),
  quarantine: { score: 12, decidedBy: 'quarantine >= 10', symbols: [{ symbol: 'CT_LOW', score: 1, weight: 1, options: [] }, { symbol: 'CT_HIGH', score: 11, weight: 11, options: [] }], subject },
});

async function rig(t: TestContext, over: Record<string, unknown> = {}, more: Partial<DigestRunnerOptions> = {}) {
  const dir = await tempDir(t);
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const q = await openQuarantine({ dir: path.join(dir, 'quarantine'), maxAgeMs: 30 * 86_400_000, maxSize: 0, fsync: false, clock, registry, log: silentLogger });
  const config = digestSection.parse({ enabled: true, base_url: 'https://gw.example:9465', ...over });
  const tokens = createLinkTokens(randomBytes(32));
  const stateFile = path.join(dir, 'quarantine-digest.json');
  const runner = (sink: MessageSink) =>
    createDigestRunner({ dir: q.dir, stateFile, config, maxAgeMs: 30 * 86_400_000, localDomains: ['corp.example'], hostname: 'mx.example', sink, tokens, settledBefore: () => q.settledBefore(), clock, registry, log: silentLogger, fsync: false, ...more });
  return { q, clock, registry, runner, stateFile, tokens };
}

const store = async (q: Quarantine, clock: ManualClock, rcpts: string[], subject: string): Promise<string> => {
  const id = await q.store(qEnv(rcpts, subject), message(subject));
  clock.advance(1000);
  return id;
};

test('one digest per local recipient, newest first, at most max_items, none for an outside address', async (t) => {
  const { q, clock, registry, runner } = await rig(t, { max_items: 2 });
  await store(q, clock, ['alice@corp.example', 'bob@corp.example', 'carol@outside.example'], 'first');
  await store(q, clock, ['alice@corp.example'], 'second');
  await store(q, clock, ['Alice@Corp.Example'], 'third');
  const sink = recorder();
  const round = await (await runner(sink)).run(true);
  assert.deepEqual(round?.sent.map((s) => [s.recipient, s.listed, s.more]), [['alice@corp.example', 2, 1], ['bob@corp.example', 1, 0]]);
  assert.deepEqual(round?.notLocal, ['carol@outside.example']);
  assert.deepEqual(sink.sent.map((s) => s.envelope.rcptTo), [['alice@corp.example'], ['bob@corp.example']]);
  assert.equal(sink.sent[0]?.envelope.mailFrom, '', 'from the null reverse path');
  const text = (await PostalMime.parse(sink.sent[0]?.message ?? Buffer.alloc(0))).text ?? '';
  assert.ok(text.indexOf('third') < text.indexOf('second') && !text.includes('Subject: first'), text);
  assert.match(text, /and 1 more/);
  assert.match(text, /\(CT_HIGH, CT_LOW\)/, 'the heaviest symbols first');
  assert.match(await registry.metrics(), /spamgate_quarantine_digests_total\{result="not_local"\} 1/);
});

test('a restart sends nothing again; a lost state save sends one duplicate, not two', async (t) => {
  const { q, clock, runner, stateFile } = await rig(t);
  await store(q, clock, ['alice@corp.example'], 'one');
  const sink = recorder();
  assert.equal((await (await runner(sink)).run(true))?.sent.length, 1);
  assert.equal((await (await runner(sink)).run(true))?.sent.length, 0, 'a new runner reads what was covered');
  await store(q, clock, ['alice@corp.example'], 'two');
  assert.equal((await (await runner(sink)).run(true))?.sent.length, 1);
  assert.doesNotMatch((await PostalMime.parse(sink.sent[2]?.message ?? Buffer.alloc(0))).text ?? '', /Subject: one/, 'only what is new');
  // a crash after the enqueue, before the save: the state is as it was before the round
  await rm(stateFile);
  const again = await (await runner(sink)).run(true);
  assert.equal(again?.sent.length, 1, 'sent again once');
  assert.equal((await (await runner(sink)).run(true))?.sent.length, 0, 'and then not');
});

test('rounds follow the schedule; the first start marks the time and sends nothing at once', async (t) => {
  const { q, clock, runner, stateFile } = await rig(t, { at: '07:00', interval: '24h' });
  const start = new Date(2026, 11, 7, 6, 0).getTime();
  clock.set(start);
  await store(q, clock, ['alice@corp.example'], 'held');
  const sink = recorder();
  const r = await runner(sink);
  r.start();
  await r.close();
  assert.equal(sink.sent.length, 0);
  await stat(stateFile);
  clock.set(new Date(2026, 11, 7, 6, 59).getTime());
  assert.equal(await (await runner(sink)).run(false), undefined, 'not due before 07:00');
  clock.set(new Date(2026, 11, 7, 9, 30).getTime());
  assert.equal((await (await runner(sink)).run(false))?.sent.length, 1, 'due after 07:00 (a host down at 07:00 sends when it is up)');
  assert.equal(await (await runner(sink)).run(false), undefined, 'once a day');

  const at7 = new Date(2026, 11, 7, 7, 0).getTime();
  assert.equal(latestSlot(at7 + 5 * MIN, '07:00', 6 * 60 * MIN), at7);
  assert.equal(latestSlot(at7 + 13 * 60 * MIN, '07:00', 6 * 60 * MIN), at7 + 12 * 60 * MIN);
  assert.equal(nextSlot(at7 + 5 * MIN, '07:00', 6 * 60 * MIN), at7 + 6 * 60 * MIN);
  assert.equal(latestSlot(at7 - MIN, '07:00', 24 * 60 * MIN), new Date(2026, 11, 6, 7, 0).getTime());
  assert.equal(roundDue(undefined, at7, '07:00', 24 * 60 * MIN), false);
});

test('a partial release and delete: that recipient only, the others stay held; again: not held', async (t) => {
  const { q, clock } = await rig(t);
  const id = await store(q, clock, ['alice@corp.example', 'bob@corp.example', 'dave@corp.example'], 'shared');
  const sink = recorder();
  assert.equal(await q.releaseFor(id, 'ALICE@corp.example', sink, false), 'done');
  assert.deepEqual(sink.sent[0]?.envelope.rcptTo, ['alice@corp.example']);
  assert.match(sink.sent[0]?.message.toString() ?? '', /^X-Spamgate-Released: /);
  assert.deepEqual((await readQuarantined(path.join(q.dir, `${id}.msg`))).envelope.rcptTo, ['bob@corp.example', 'dave@corp.example']);
  assert.equal(await q.releaseFor(id, 'alice@corp.example', sink, false), 'not_held');
  assert.equal(await q.removeFor(id, 'bob@corp.example'), 'done');
  assert.equal(await q.removeFor(id, 'bob@corp.example'), 'not_held');
  assert.deepEqual((await readQuarantined(path.join(q.dir, `${id}.msg`))).envelope.rcptTo, ['dave@corp.example']);
  assert.equal(await q.releaseFor(id, 'dave@corp.example', sink, false), 'done');
  await assert.rejects(stat(path.join(q.dir, `${id}.msg`)), { code: 'ENOENT' }, 'gone with its last recipient');
  assert.equal(sink.sent.length, 2);
});

test('a release whose enqueue fails leaves the recipient held (spool first, then the quarantine)', async (t) => {
  const { q, clock } = await rig(t);
  const id = await store(q, clock, ['alice@corp.example', 'bob@corp.example'], 'kept');
  const failing: MessageSink = { enqueue: () => Promise.reject(new Error('disk full')) };
  assert.equal(await q.releaseFor(id, 'alice@corp.example', failing, false), 'failed');
  assert.deepEqual((await readQuarantined(path.join(q.dir, `${id}.msg`))).envelope.rcptTo, ['alice@corp.example', 'bob@corp.example']);
});

test('a clock set back (it ran ahead): a round at once, listing what is held since, then the schedule again', async (t) => {
  const { q, clock, runner } = await rig(t, { at: '07:00', interval: '24h' });
  const sink = recorder();
  // the host's clock ran a year ahead for a while: a round ran then, and covered alice up to that time
  clock.set(new Date(2027, 11, 7, 8, 0).getTime());
  await store(q, clock, ['alice@corp.example'], 'while ahead');
  assert.equal((await (await runner(sink)).run(true))?.sent.length, 1);
  // set right again: the schedule does not wait a year, and what is held from now on reaches alice
  clock.set(new Date(2026, 11, 7, 6, 0).getTime());
  await store(q, clock, ['alice@corp.example'], 'after the fix');
  const round = await (await runner(sink)).run(false);
  assert.equal(round?.sent.length, 1, 'the last round is in the future: one is due now');
  assert.match((await PostalMime.parse(sink.sent[1]?.message ?? Buffer.alloc(0))).text ?? '', /after the fix/);
  assert.equal(await (await runner(sink)).run(false), undefined, 'then not before 07:00');
  clock.set(new Date(2026, 11, 7, 7, 1).getTime());
  assert.ok(await (await runner(sink)).run(false), 'the 07:00 round');
  assert.equal(sink.sent.length, 2, 'nothing listed twice');
});

test('a recipient whose domain has a final dot (accepted as local by the gateway) gets a digest', async (t) => {
  const { q, clock, runner } = await rig(t);
  await store(q, clock, ['alice@corp.example.', 'bob@Corp.Example'], 'dot');
  const sink = recorder();
  const round = await (await runner(sink)).run(true);
  assert.deepEqual(round?.notLocal, []);
  assert.deepEqual(round?.sent.map((s) => s.recipient), ['alice@corp.example.', 'bob@Corp.Example']);
});

test('full-stack: one digest per mailbox (sub-addresses, aliases of one user), none through the catch-all, to a gone user or out', async (t) => {
  const base = await tempDir(t);
  const hash = await hashPassword('password-123', { N: 1024, r: 8, p: 1 });
  const users = { 'alice@corp.example': { password: hash }, 'bob@corp.example': { password: hash } };
  const aliases = { '@corp.example': 'alice@corp.example', 'team@corp.example': ['alice@corp.example', 'bob@corp.example'], 'al@corp.example': 'alice@corp.example', 'fwd@corp.example': 'someone@remote.example' };
  const { config } = loadConfig({ inline: { local_domains: ['corp.example'], users, aliases, mailhost: { watch_files: false } }, dataDir: base });
  const d = createUserDirectory({ config, dataDir: base, log: silentLogger });
  t.after(() => d.close());
  const { q, clock, runner, tokens } = await rig(t, {}, { digestAddress: digestAddressOf(d) });
  const made = Array.from({ length: 30 }, (_, i) => `made-up${i}@corp.example`);
  const one = await store(q, clock, ['alice+x@corp.example', 'al@corp.example', 'ALICE@corp.example', 'team@corp.example', 'fwd@corp.example', 'gone@corp.example', ...made], 'run');
  await store(q, clock, ['alice+y@corp.example'], 'second');
  const sink = recorder();
  const round = await (await runner(sink)).run(true);
  assert.deepEqual(round?.sent.map((s) => [s.recipient, s.listed]), [['alice@corp.example', 2], ['team@corp.example', 1]]);
  assert.equal(round?.notLocal.length, 32, 'the catch-all\'s made-up addresses, the forward and the gone user');
  // alice's links act on the copy of the address it was quarantined for
  const text = (await PostalMime.parse(sink.sent[0]?.message ?? Buffer.alloc(0))).text ?? '';
  const claims = [...text.matchAll(/release\?t=([\w.-]+)/g)].map((m) => tokens.verify(m[1] ?? '', clock.now(), 'release'));
  assert.deepEqual(claims.map((c) => (c.ok ? [c.claim.id === one, c.claim.recipient] : c.reason)), [[false, 'alice+y@corp.example'], [true, 'alice+x@corp.example']]);
  assert.equal((await (await runner(sink)).run(true))?.sent.length, 0, 'covered per mailbox');
});

test('the schedule keeps local time across DST: once a day on a 25-hour and a 23-hour day, slots on the wall clock', (t) => {
  const tz = process.env.TZ;
  process.env.TZ = 'Europe/Berlin';
  t.after(() => (tz === undefined ? delete process.env.TZ : (process.env.TZ = tz)));
  const rounds = (from: Date, until: Date, at: string, interval: number): string[] => {
    const out: string[] = [];
    let last = from.getTime();
    for (let now = last; now <= until.getTime(); now += MIN) {
      if (!roundDue(last, now, at, interval)) continue;
      last = now;
      const d = new Date(now);
      out.push(`${d.getDate()} ${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`);
    }
    return out;
  };
  // 2026-10-25: clocks go back at 03:00 CEST (a 25-hour day); 2026-03-29: forward at 02:00 CET (23 hours)
  assert.deepEqual(rounds(new Date(2026, 9, 24, 8, 0), new Date(2026, 9, 27, 8, 0), '07:00', 1440 * MIN), ['25 07:00', '26 07:00', '27 07:00']);
  assert.deepEqual(rounds(new Date(2026, 9, 24, 8, 0), new Date(2026, 9, 26, 8, 0), '02:30', 1440 * MIN), ['25 02:30', '26 02:30']);
  assert.deepEqual(rounds(new Date(2026, 2, 28, 8, 0), new Date(2026, 2, 30, 8, 0), '07:00', 1440 * MIN), ['29 07:00', '30 07:00']);
  assert.deepEqual(rounds(new Date(2026, 9, 24, 23, 0), new Date(2026, 9, 25, 23, 0), '00:00', 360 * MIN), ['25 00:00', '25 06:00', '25 12:00', '25 18:00']);
  assert.equal(nextSlot(new Date(2026, 9, 25, 7, 1).getTime(), '07:00', 360 * MIN), new Date(2026, 9, 25, 13, 0).getTime(), 'six hours on the wall clock after 07:00');
});

test('shutting down stops a long round after the digest under way; the rest go at the next round', async (t) => {
  const { q, clock, runner } = await rig(t);
  for (const who of ['alice', 'bob', 'carol', 'dave']) await store(q, clock, [`${who}@corp.example`], `for ${who}`);
  const sent: string[] = [];
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  let first: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (first = resolve));
  const slow: MessageSink = {
    enqueue: async (e) => {
      first();
      await blocked;
      sent.push(e.rcptTo[0] ?? '');
      return { id: `q${sent.length}` };
    },
  };
  const r = await runner(slow);
  const round = r.run(true);
  await started;
  const closing = r.close();
  release();
  await closing;
  assert.equal((await round)?.sent.length, 1, 'stopped after the digest being queued');
  assert.deepEqual(sent, ['alice@corp.example']);
  const rest = recorder();
  assert.deepEqual((await (await runner(rest)).run(true))?.sent.map((s) => s.recipient), ['bob@corp.example', 'carol@corp.example', 'dave@corp.example']);
});

test('recipients that get no digest leave nothing in the state file (made-up addresses are many), counted once', async (t) => {
  const { q, clock, registry, runner, stateFile } = await rig(t);
  const outside = Array.from({ length: 200 }, (_, i) => `r${i}@outside.example`);
  await store(q, clock, ['alice@corp.example', ...outside], 'many');
  const sink = recorder();
  assert.equal((await (await runner(sink)).run(true))?.notLocal.length, 200);
  assert.deepEqual(Object.keys((JSON.parse(await readFile(stateFile, 'utf8')) as { covered: Record<string, number> }).covered), ['alice@corp.example']);
  assert.equal((await (await runner(sink)).run(true))?.notLocal.length, 0, 'not counted again');
  await store(q, clock, ['r1@outside.example'], 'again');
  assert.deepEqual((await (await runner(sink)).run(true))?.notLocal, ['r1@outside.example']);
  assert.match(await registry.metrics(), /spamgate_quarantine_digests_total\{result="not_local"\} 201/);
});

test('list links: per item allow and block, one lists link for a user; none for an alias of several users, the null sender or front-of mode', async (t) => {
  const base = await tempDir(t);
  const hash = await hashPassword('password-123', { N: 1024, r: 8, p: 1 });
  const users = { 'alice@corp.example': { password: hash }, 'bob@corp.example': { password: hash } };
  const aliases = { 'team@corp.example': ['alice@corp.example', 'bob@corp.example'] };
  const { config } = loadConfig({ inline: { local_domains: ['corp.example'], users, aliases, mailhost: { watch_files: false } }, dataDir: base });
  const d = createUserDirectory({ config, dataDir: base, log: silentLogger });
  t.after(() => d.close());
  const listUser = (r: string): string | undefined => userOf(d, r)?.toLowerCase();
  const { q, clock, runner, tokens } = await rig(t, {}, { digestAddress: digestAddressOf(d), listUser });
  const id = await store(q, clock, ['alice+x@corp.example', 'team@corp.example'], 'run');
  await q.store({ ...qEnv(['alice@corp.example'], 'bounce'), mailFrom: '' }, message('bounce'));
  clock.advance(1000);
  const sink = recorder();
  await (await runner(sink)).run(true);
  const textOf = async (i: number): Promise<string> => (await PostalMime.parse(sink.sent[i]?.message ?? Buffer.alloc(0))).text ?? '';
  const alice = await textOf(0);
  const tokensOf = (text: string, action: string): string[] => [...text.matchAll(new RegExp(`/quarantine/${action}\\?t=([\\w.-]+)`, 'g'))].map((m) => m[1] ?? '');
  assert.equal(tokensOf(alice, 'release').length, 2);
  const [allow, ...moreAllow] = tokensOf(alice, 'allow');
  assert.ok(allow && moreAllow.length === 0, 'the null sender has no allow link');
  const claim = tokens.verify(allow, clock.now(), 'allow');
  assert.ok(claim.ok && claim.claim.id === id && claim.claim.recipient === 'alice+x@corp.example');
  assert.equal(tokens.verify(allow, clock.now(), 'release').ok, false, 'bound to its action');
  assert.equal(tokensOf(alice, 'block').length, 1);
  const [lists] = tokensOf(alice, 'lists');
  const listsClaim = tokens.verify(lists ?? '', clock.now(), 'lists');
  assert.ok(listsClaim.ok && listsClaim.claim.recipient === 'alice@corp.example' && listsClaim.claim.id === '');
  const team = await textOf(1);
  assert.match(team, /Quarantine digest for team@corp\.example/);
  assert.equal(tokensOf(team, 'release').length, 1);
  assert.deepEqual([tokensOf(team, 'allow'), tokensOf(team, 'block'), tokensOf(team, 'lists')], [[], [], []], 'an alias of several users: whose lists?');

  // front-of mode (no listUser): release and delete only
  const front = await rig(t);
  await store(front.q, front.clock, ['alice@corp.example'], 'front');
  const frontSink = recorder();
  await (await front.runner(frontSink)).run(true);
  const frontText = (await PostalMime.parse(frontSink.sent[0]?.message ?? Buffer.alloc(0))).text ?? '';
  assert.equal(tokensOf(frontText, 'release').length, 1);
  assert.doesNotMatch(frontText, /quarantine\/(allow|block|lists)/);
});
