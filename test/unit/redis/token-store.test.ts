// RedisTokenStore: learned through one client, read through another (two gateways); idempotent
// relearning by digest, counts that never go negative, model import, and degradation when Redis is down.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BayesLearner } from '../../../src/bayes/bayes-learner.ts';
import { emptyModel } from '../../../src/bayes/model-file.ts';
import { MemoryTokenStore } from '../../../src/bayes/memory-store.ts';
import { RedisUnavailableError } from '../../../src/redis/connection.ts';
import { RedisTokenStore } from '../../../src/redis/token-store.ts';
import { eventually, linkTo, startRedis } from './redis-server.ts';

const tokensOf = (raw: Buffer): string[] => [...new Set(raw.toString('utf8').toLowerCase().split(/\W+/).filter(Boolean))];

test('learn through one store instance, read the counts through another', async (t) => {
  const redis = await startRedis(t);
  const a = new RedisTokenStore(await linkTo(t, redis));
  const b = new RedisTokenStore(await linkTo(t, redis));
  await a.update({ tokens: ['cheap', 'pills', 'now'], cls: 'spam', delta: 1, digest: 'd1' });
  await a.update({ tokens: ['meeting', 'now'], cls: 'ham', delta: 1, digest: 'd2' });
  assert.deepEqual(await b.totals(), { spam: 1, ham: 1 });
  assert.deepEqual(await b.getMany(['cheap', 'now', 'unseen', 'meeting']), [{ spam: 1, ham: 0 }, { spam: 1, ham: 1 }, undefined, { spam: 0, ham: 1 }]);
  assert.equal(await b.learnedAs('d1'), 'spam');
  assert.equal(await b.learnedAs('d3'), undefined);
  assert.deepEqual(await b.getMany([]), []);
});

test('behaves like MemoryTokenStore through the Bayes learner; relearning is idempotent', async (t) => {
  const redis = await startRedis(t);
  const memory = new MemoryTokenStore();
  const shared = new RedisTokenStore(await linkTo(t, redis));
  const other = new RedisTokenStore(await linkTo(t, redis));
  const m1 = Buffer.from('Subject: cheap pills\r\n\r\nbuy cheap pills today');
  const m2 = Buffer.from('Subject: notes\r\n\r\nmeeting notes for today');
  for (const store of [memory, shared]) {
    const learner = new BayesLearner({ store, tokenize: tokensOf });
    assert.equal(await learner.learn(m1, 'spam', 'manual'), 'learned');
    assert.equal(await learner.learn(m1, 'spam', 'manual'), 'already');
    assert.equal(await learner.learn(m2, 'spam', 'manual'), 'learned');
    assert.equal(await learner.learn(m2, 'ham', 'junk_folder'), 'relearned');
    assert.equal(await learner.forget(m1, 'manual'), 'forgotten');
    assert.equal(await learner.learn(m1, 'ham', 'manual'), 'learned');
  }
  const probe = ['cheap', 'pills', 'today', 'meeting', 'subject', 'absent'];
  // the in-process store also keeps each token's last-learned day: compare the counts
  const counts = (list: ({ spam: number; ham: number } | undefined)[]): ([number, number] | undefined)[] => list.map((c) => c && [c.spam, c.ham]);
  assert.deepEqual(counts(await other.getMany(probe)), counts(await memory.getMany(probe)));
  assert.deepEqual(await other.totals(), await memory.totals());
  // Two gateways learning one message at once (each checked learnedAs first) count it once.
  const m3 = Buffer.from('Subject: win\r\n\r\nwin money now');
  const l1 = new BayesLearner({ store: shared, tokenize: tokensOf });
  const l2 = new BayesLearner({ store: other, tokenize: tokensOf });
  await Promise.all([l1.learn(m3, 'spam', 'autolearn'), l2.learn(m3, 'spam', 'autolearn')]);
  assert.deepEqual((await other.getMany(['money']))[0], { spam: 1, ham: 0 });
  assert.deepEqual(await other.totals(), { spam: 1, ham: 2 });
  // Unlearning the last message of a token removes it (no zero-count keys left behind).
  await l1.forget(m3, 'manual');
  assert.deepEqual(await other.getMany(['money']), [undefined]);
});

test('importModel seeds an empty store once', async (t) => {
  const redis = await startRedis(t);
  const store = new RedisTokenStore(await linkTo(t, redis));
  const model = emptyModel();
  model.totals = { spam: 10, ham: 20 };
  for (let i = 0; i < 2500; i++) model.tokens.set(`tok${i}`, { spam: i % 7, ham: (i % 5) + 1 });
  model.digests.set('abc', 'ham');
  assert.equal(await store.importModel(model, 1000), true);
  assert.equal(await store.importModel(model), false);
  assert.deepEqual(await store.totals(), { spam: 10, ham: 20 });
  assert.deepEqual(await store.getMany(['tok0', 'tok2499']), [{ spam: 0, ham: 1 }, { spam: 2499 % 7, ham: (2499 % 5) + 1 }]);
  assert.equal(await store.learnedAs('abc'), 'ham');
});

test('two gateways learning one message as opposite classes at once count it once, as one class', async (t) => {
  const redis = await startRedis(t);
  const a = new RedisTokenStore(await linkTo(t, redis));
  const b = new RedisTokenStore(await linkTo(t, redis));
  const m = Buffer.from('Subject: win\r\n\r\nwin money now');
  await Promise.all([new BayesLearner({ store: a, tokenize: tokensOf }).learn(m, 'spam', 'autolearn'), new BayesLearner({ store: b, tokenize: tokensOf }).learn(m, 'ham', 'junk_folder')]);
  const totals = await a.totals();
  assert.equal(totals.spam + totals.ham, 1, JSON.stringify(totals));
  const money = (await a.getMany(['money']))[0];
  assert.equal((money?.spam ?? 0) + (money?.ham ?? 0), 1, JSON.stringify(money));
  await new BayesLearner({ store: a, tokenize: tokensOf }).forget(m, 'manual');
  assert.deepEqual(await a.totals(), { spam: 0, ham: 0 });
  assert.deepEqual(await a.getMany(['money']), [undefined], 'nothing left behind');
});

test('a seeding cut short (no totals written) and done again writes the same counts, not twice them', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisTokenStore(link);
  const model = emptyModel();
  for (let i = 0; i < 50; i++) model.tokens.set(`tok${i}`, { spam: 5, ham: 1 });
  model.totals = { spam: 10, ham: 10 };
  assert.equal(await store.importModel(model, 10), true);
  // as if the first seeding had died before its last step
  const totalsKey = (await link.client.keys('*totals*'))[0] ?? '';
  assert.equal(await link.client.del(totalsKey), 1);
  assert.equal(await store.isEmpty(), true);
  assert.equal(await store.importModel(model, 10), true);
  assert.deepEqual(await store.getMany(['tok0', 'tok49']), [{ spam: 5, ham: 1 }, { spam: 5, ham: 1 }]);
  assert.deepEqual(await store.totals(), { spam: 10, ham: 10 });
});

test('seeding while another gateway learns keeps the learned counts; two seeders seed once', async (t) => {
  const redis = await startRedis(t);
  const a = new RedisTokenStore(await linkTo(t, redis));
  const b = new RedisTokenStore(await linkTo(t, redis));
  const model = emptyModel();
  for (let i = 0; i < 20_000; i++) model.tokens.set(`tok${i}`, { spam: 5, ham: 5 });
  model.tokens.set('money', { spam: 10, ham: 0 });
  model.totals = { spam: 100, ham: 100 };
  const seeding = [a.importModel(model, 100), b.importModel(model, 100)];
  // learn once the seeding has begun writing (bounded wait)
  for (let i = 0; i < 2000 && (await b.getMany(['tok0']))[0] === undefined; i++) await new Promise((r) => setTimeout(r, 1));
  assert.equal(await new BayesLearner({ store: b, tokenize: tokensOf }).learn(Buffer.from('Subject: win\r\n\r\nwin money now'), 'spam', 'manual'), 'learned');
  assert.deepEqual((await Promise.all(seeding)).filter(Boolean).length, 1, 'one of them seeds');
  assert.deepEqual(await a.totals(), { spam: 101, ham: 100 });
  assert.deepEqual((await a.getMany(['money', 'tok19999']))[0], { spam: 11, ham: 0 });
  assert.deepEqual((await a.getMany(['tok19999']))[0], { spam: 5, ham: 5 });
});

test('redis down: reads skip (nothing learned) or throw per on_error; writes always throw', async (t) => {
  const redis = await startRedis(t);
  const skipLink = await linkTo(t, redis, { on_error: 'skip' });
  const skip = new RedisTokenStore(skipLink);
  const tempfail = new RedisTokenStore(await linkTo(t, redis, { on_error: 'tempfail' }));
  await skip.update({ tokens: ['a'], cls: 'spam', delta: 1, digest: 'x' });
  await redis.kill();
  await eventually(() => !skipLink.isUp);
  assert.deepEqual(await skip.getMany(['a', 'b']), [undefined, undefined]);
  assert.deepEqual(await skip.totals(), { spam: 0, ham: 0 });
  await assert.rejects(skip.update({ tokens: ['a'], cls: 'spam', delta: 1, digest: 'y' }), RedisUnavailableError);
  await assert.rejects(tempfail.getMany(['a']), RedisUnavailableError);
  await assert.rejects(tempfail.learnedAs('x'), RedisUnavailableError);
  await redis.restart();
  await eventually(() => skipLink.isUp);
  assert.deepEqual(await skip.getMany(['a']), [undefined]);
});

test('bayes.token_ttl: a token learned here expires that long after it was last learned; a seeded token never does', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisTokenStore(link, 3600);
  const seed = emptyModel();
  seed.tokens.set('seeded', { spam: 3, ham: 1 });
  seed.totals = { spam: 3, ham: 1 };
  assert.equal(await store.importModel(seed), true);
  await store.update({ tokens: ['seeded', 'fresh'], cls: 'spam', delta: 1, digest: 'd1' });
  const ttl = (token: string): Promise<number> => link.client.ttl(`${link.prefix}{bayes}:t:${token}`);
  const fresh = await ttl('fresh');
  assert.ok(fresh > 3500 && fresh <= 3600, `fresh token ttl ${fresh}`);
  assert.equal(await ttl('seeded'), -1, 'the seed stays');
  assert.deepEqual(await store.getMany(['seeded']), [{ spam: 4, ham: 1 }]);
  // learned again later: the clock starts over
  await link.client.expire(`${link.prefix}{bayes}:t:fresh`, 10);
  await store.update({ tokens: ['fresh'], cls: 'ham', delta: 1, digest: 'd2' });
  assert.ok((await ttl('fresh')) > 3500);
  // without a ttl nothing expires
  const forever = new RedisTokenStore(link, 0);
  await forever.update({ tokens: ['kept'], cls: 'spam', delta: 1, digest: 'd3' });
  assert.equal(await ttl('kept'), -1);
});

test('bayes.token_ttl: a learned message digest expires with its tokens; a seeded digest stays until the message is learned again', async (t) => {
  const redis = await startRedis(t);
  const link = await linkTo(t, redis);
  const store = new RedisTokenStore(link, 3600);
  const seed = emptyModel();
  seed.tokens.set('seeded', { spam: 1, ham: 0 });
  seed.totals = { spam: 1, ham: 0 };
  seed.digests.set('seed-digest', 'spam');
  assert.equal(await store.importModel(seed), true);
  const key = (digest: string): string => `${link.prefix}{bayes}:d:${digest}`;
  const hash = `${link.prefix}{bayes}:digests`;
  await store.update({ tokens: ['fresh'], cls: 'spam', delta: 1, digest: 'd1' });
  const ttl = await link.client.ttl(key('d1'));
  assert.ok(ttl > 3500 && ttl <= 3600, `digest ttl ${ttl}`);
  assert.equal(await link.client.hget(hash, 'd1'), null, 'not in the hash, which cannot expire a field');
  assert.equal(await store.learnedAs('d1'), 'spam');
  assert.equal(await link.client.ttl(hash), -1, 'the seed digests stay');
  assert.equal(await store.learnedAs('seed-digest'), 'spam');
  // The seed's message relearned as ham: its digest moves to a key of its own, with the ttl.
  await store.update({ tokens: ['seeded'], cls: 'ham', delta: 1, digest: 'seed-digest' });
  assert.equal(await link.client.hget(hash, 'seed-digest'), null);
  assert.equal(await store.learnedAs('seed-digest'), 'ham');
  assert.deepEqual(await store.getMany(['seeded']), [{ spam: 0, ham: 1 }], 'moved, not counted twice');
  // Expired (as if ttl had passed): the message is learned again, as a new one.
  await link.client.del(key('d1'));
  assert.equal(await store.learnedAs('d1'), undefined);
  await store.update({ tokens: ['fresh'], cls: 'spam', delta: 1, digest: 'd1' });
  assert.deepEqual(await store.getMany(['fresh']), [{ spam: 2, ham: 0 }]);
  // Forgetting removes the key; without a ttl the key does not expire.
  await store.update({ tokens: ['fresh'], cls: 'spam', delta: -1, digest: 'd1' });
  assert.equal(await link.client.exists(key('d1')), 0);
  await new RedisTokenStore(link, 0).update({ tokens: ['kept'], cls: 'spam', delta: 1, digest: 'd3' });
  assert.equal(await link.client.ttl(key('d3')), -1);
});
