// The in-process reputation store and the facade over it: bounded by max_entries (least recently used
// out), saved and loaded again, history decaying with an injected clock, a report moving a key, the score
// learned without the reputation symbols (no feedback loop), reports read from the recorded header.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { reputationSection } from '../../../src/config/sections/reputation.ts';
import type { Learner } from '../../../src/bayes/learner.ts';
import { REPUTATION_KEYS_RESULT } from '../../../src/checks/reputation.ts';
import { createRegistry } from '../../../src/metrics/registry.ts';
import type { ReputationKey } from '../../../src/reputation/keys.ts';
import { recordedKeys, withReputationLearning } from '../../../src/reputation/learner.ts';
import { sealWith } from '../../../src/reputation/seal.ts';
import { MemoryReputationStore } from '../../../src/reputation/memory-store.ts';
import { openReputation, REPUTATION_FILE } from '../../../src/reputation/open-reputation.ts';
import { scoreWithoutReputation, verdictLearner } from '../../../src/reputation/verdict-learning.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { tempDir } from '../../helpers/temp-dir.ts';

const DAY = 86_400_000;
const NET: ReputationKey = { kind: 'ip', value: '198.51.100.0/24' };
const config = reputationSection.parse({ half_life: '10d' });

test('the in-process store is bounded: past max_entries the least recently used key goes', async () => {
  const store = new MemoryReputationStore({ halfLifeMs: DAY, maxEntries: 3, now: () => 0 });
  for (const id of ['a', 'b', 'c']) await store.observe(id, 1, 1, 0);
  await store.get('a'); // used: b is now the least recent
  await store.observe('d', 1, 1, 0);
  assert.equal(await store.size(), 3);
  assert.equal(await store.get('b'), undefined);
  assert.ok(await store.get('a'));
});

test('saved atomically and loaded again in LRU order; a corrupt file is refused, not emptied', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, REPUTATION_FILE);
  const a = new MemoryReputationStore({ halfLifeMs: DAY, maxEntries: 10, file, now: () => 0 });
  await a.observe('ip:x', 12, 1, 0);
  await a.observe('domain:y', -1, 2, 0);
  await a.close();
  const b = new MemoryReputationStore({ halfLifeMs: DAY, maxEntries: 10, file, now: () => 0 });
  assert.deepEqual(await b.get('ip:x'), { sum: 12, count: 1, at: 0 });
  assert.deepEqual(await b.get('domain:y'), { sum: -2, count: 2, at: 0 });
  writeFileSync(file, '{not json');
  assert.throws(() => new MemoryReputationStore({ halfLifeMs: DAY, maxEntries: 10, file, now: () => 0 }), /not a reputation store/);
  assert.equal(readFileSync(file, 'utf8'), '{not json');
});

test('history decays with the injected clock: bad today, silent after a few half-lives', async (t) => {
  const clock = new ManualClock(1_000_000);
  const rep = openReputation({ config, clock, dataDir: tempDir(t) });
  t.after(() => rep.close());
  for (let i = 0; i < 5; i++) await rep.learn([NET], 12);
  const [now] = await rep.lookup([NET], config, false);
  assert.equal(now?.judgement?.kind, 'bad');
  clock.advance(10 * DAY);
  const [later] = await rep.lookup([NET], config, false);
  assert.deepEqual(later?.judgement && { kind: later.judgement.kind, count: later.judgement.count, average: later.judgement.average }, { kind: 'silent', count: 2.5, average: 12 });
  // new ham now outweighs the faded spam
  for (let i = 0; i < 5; i++) await rep.learn([NET], 0);
  const [after] = await rep.lookup([NET], config, false);
  assert.equal(after?.judgement?.kind, 'neutral');
  assert.equal(after?.judgement?.average, 4);
});

test('a report counts report_weight messages of a fully bad (or good) score; metrics count every source', async (t) => {
  const registry = createRegistry(false);
  const rep = openReputation({ config, clock: new ManualClock(0), dataDir: tempDir(t), registry });
  t.after(() => rep.close());
  await rep.learn([NET], 0);
  await rep.report([NET], true, config);
  const [j] = await rep.lookup([NET], config, true);
  // (0 + 5 × 10) / 6
  assert.equal(j?.judgement?.kind, 'bad');
  assert.equal(j?.judgement?.average, 8.333);
  const text = await registry.metrics();
  assert.match(text, /spamgate_reputation_learned_total\{source="report_spam"\} 1/);
  assert.match(text, /spamgate_reputation_learned_total\{source="report_ham"\} 0/);
  assert.match(text, /spamgate_reputation_lookups_total\{key="ip",result="bad"\} 1/);
  assert.match(text, /spamgate_reputation_lookups_total\{key="domain",result="unknown"\} 0/);
  assert.match(text, /spamgate_reputation_entries 1/);
});

test("one user's own sender lists teach the sender's reputation nothing: it judges the others' mail too", () => {
  const symbols = [
    { symbol: 'CT_X', score: 10, weight: 10, options: [] },
    { symbol: 'USER_ALLOW', score: -20, weight: -20, options: [] },
  ];
  assert.equal(scoreWithoutReputation({ score: -10, symbols }), 10);
  assert.equal(scoreWithoutReputation({ score: 12, symbols: [{ symbol: 'CT_Y', score: 2, weight: 2, options: [] }, { symbol: 'USER_BLOCK', score: 10, weight: 10, options: [] }] }), 2);
});

test('no feedback loop: the score learned leaves the reputation symbols out', async (t) => {
  const symbols = [
    { symbol: 'CT_X', score: 10, weight: 10, options: [] },
    { symbol: 'REPUTATION_IP_BAD', score: 1.5, weight: 3, options: [] },
    { symbol: 'REPUTATION_DOMAIN_GOOD', score: -1, weight: -2, options: [] },
  ];
  assert.equal(scoreWithoutReputation({ score: 10.5, symbols }), 10);
  const rep = openReputation({ config, clock: new ManualClock(0), dataDir: tempDir(t) });
  t.after(() => rep.close());
  const learn = verdictLearner(rep, () => true, silentLogger);
  for (let i = 0; i < 20; i++) learn({ action: 'accept', score: 10.5, symbols, decidedBy: '' }, new Map([[REPUTATION_KEYS_RESULT, [NET]]]));
  await new Promise((r) => setImmediate(r));
  const rec = await rep.record(NET);
  assert.equal(rec && rec.sum / rec.count, 10);
  // a transaction the check did not run for (trusted, authenticated) teaches nothing
  learn({ action: 'accept', score: 50, symbols: [], decidedBy: '' }, new Map());
  assert.equal((await rep.record(NET))?.count, 20);
});

test('reports read the keys spamgate recorded and sealed on the message; autolearning and a repeated report do not count', async (t) => {
  const rep = openReputation({ config, clock: new ManualClock(0), dataDir: tempDir(t) });
  t.after(() => rep.close());
  const seal = sealWith('test secret');
  const sealed = seal.write([NET, { kind: 'domain', value: 'good.example' }]);
  const folded = sealed.replace('; domain=', ';\r\n domain=');
  const raw = Buffer.from(`X-Spamgate-Reputation: ${folded}\r\nX-Spamgate-Reputation: ip=10.0.0.0/24\r\nSubject: x\r\n\r\nbody\r\n`);
  assert.deepEqual(recordedKeys(raw), [NET, { kind: 'domain', value: 'good.example' }]);
  const outcomes: string[] = ['learned', 'already'];
  const bayes: Learner = { learn: async () => outcomes.shift() as 'learned', forget: async () => 'unknown' };
  const learner = withReputationLearning(bayes, { reputation: rep, seal, enabled: () => true, settings: () => config, onError: (err) => assert.fail(err) });
  await learner.learn(raw, 'spam', 'junk_folder');
  await learner.learn(raw, 'spam', 'junk_folder'); // Bayes: already
  await learner.learn(raw, 'spam', 'autolearn');
  assert.equal((await rep.record(NET))?.count, config.report_weight);
  assert.equal((await rep.record({ kind: 'domain', value: 'good.example' }))?.count, config.report_weight);
  // no recorded keys (a trusted sender's message): nothing
  const alone = withReputationLearning(undefined, { reputation: rep, seal, enabled: () => true, settings: () => config, onError: (err) => assert.fail(err) });
  assert.equal(await alone.learn(Buffer.from('Subject: y\r\n\r\nz\r\n'), 'ham', 'junk_folder'), 'unknown');
});

test('a report of a header spamgate did not seal (written by the user, edited, from another host) or of a copy already reported teaches nothing', async (t) => {
  const rep = openReputation({ config, clock: new ManualClock(0), dataDir: tempDir(t) });
  t.after(() => rep.close());
  const seal = sealWith('test secret');
  const learner = withReputationLearning(undefined, { reputation: rep, seal, enabled: () => true, settings: () => config, onError: (err) => assert.fail(err) });
  const msg = (value: string, body: string): Buffer => Buffer.from(`X-Spamgate-Reputation: ${value}\r\nSubject: x\r\n\r\n${body}\r\n`);
  const victim = { kind: 'domain', value: 'victim.example' } as const;
  assert.equal(await learner.learn(msg('domain=victim.example', 'a'), 'spam', 'junk_folder'), 'unknown');
  const genuine = seal.write([NET]);
  assert.equal(await learner.learn(msg(genuine.replace('ip=198.51.100.0/24', 'domain=victim.example'), 'b'), 'spam', 'junk_folder'), 'unknown');
  assert.equal(await learner.learn(msg(sealWith('another host').write([victim]), 'c'), 'spam', 'junk_folder'), 'unknown');
  assert.equal(await rep.record(victim), undefined);
  // the genuine one counts once however many copies (with other bodies) are reported; a move back out counts as ham
  assert.equal(await learner.learn(msg(genuine, 'd'), 'spam', 'junk_folder'), 'learned');
  assert.equal(await learner.learn(msg(genuine, 'e'), 'spam', 'junk_folder'), 'unknown');
  assert.equal((await rep.record(NET))?.count, config.report_weight);
  assert.equal(await learner.learn(msg(genuine, 'd'), 'ham', 'junk_folder'), 'learned');
  assert.equal((await rep.record(NET))?.count, 2 * config.report_weight);
});

test('a damaged file that is JSON but no store (null, a list, a string) is refused with its name; records with a count of zero or less are left out', async (t) => {
  const file = path.join(tempDir(t), REPUTATION_FILE);
  for (const text of ['null', '[]', '"x"', '7']) {
    writeFileSync(file, text);
    assert.throws(() => new MemoryReputationStore({ halfLifeMs: DAY, maxEntries: 10, file, now: () => 0 }), (err: Error) => err.message.includes(file) && /not a reputation store/.test(err.message), text);
  }
  writeFileSync(file, JSON.stringify({ version: 1, entries: [['ip:a', 10, -3, 0], ['ip:b', 10, 0, 0], ['ip:c', 12, 1, 0]] }));
  const s = new MemoryReputationStore({ halfLifeMs: DAY, maxEntries: 10, file, now: () => 0 });
  assert.equal(await s.get('ip:a'), undefined);
  assert.equal(await s.get('ip:b'), undefined);
  assert.deepEqual(await s.get('ip:c'), { sum: 12, count: 1, at: 0 });
});

test('a report counts by the running settings: report_weight changed by a reload applies at once', async (t) => {
  const rep = openReputation({ config, clock: new ManualClock(0), dataDir: tempDir(t) });
  t.after(() => rep.close());
  const seal = sealWith('test secret');
  let running = config;
  const learner = withReputationLearning(undefined, { reputation: rep, seal, enabled: () => true, settings: () => running, onError: (err) => assert.fail(err) });
  running = { ...config, report_weight: 2, bad_score: 8 };
  await learner.learn(Buffer.from(`X-Spamgate-Reputation: ${seal.write([NET])}\r\n\r\nx\r\n`), 'spam', 'junk_folder');
  const rec = await rep.record(NET);
  assert.deepEqual(rec && { count: rec.count, average: rec.sum / rec.count }, { count: 2, average: 8 + config.spread });
});
