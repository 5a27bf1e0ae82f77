// Shared stores on the two Redis topologies besides standalone, with real redis-server processes:
// - Cluster (3 masters, the client given one startup node): the Bayes token store learns/reads/forgets and
//   imports a model, the rate store counts across two links, greylisting passes across two links, a slot
//   migrated under open links is followed (MOVED), and a gateway runs on it — no CROSSSLOT/MOVED error leaks.
//   Rate and greylist keys spread over the nodes (one hash tag per counter / client network); every Bayes
//   key shares the {bayes} tag (multi-key scripts), so they sit in one slot on one node.
// - Sentinel (master, replica, 3 sentinels): the stores and a gateway work through the sentinels; the master
//   is SIGKILLed, calls during the failover fail fast per redis.on_error (tempfail error / skip), the
//   promoted replica takes the writes without a new client, and what the replica never got is lost. A master
//   that hangs (SIGSTOP) is left too: the client follows the sentinels' +switch-master.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { BayesLearner } from '../../src/bayes/bayes-learner.ts';
import { emptyModel } from '../../src/bayes/model-file.ts';
import { redisSection } from '../../src/config/sections/redis.ts';
import type { GreylistPolicy } from '../../src/greylist/store.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { RedisLink, RedisUnavailableError } from '../../src/redis/connection.ts';
import { RedisGreylistStore } from '../../src/redis/greylist-store.ts';
import { RedisRateStore } from '../../src/redis/rate-store.ts';
import { RedisTokenStore } from '../../src/redis/token-store.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { startGateway } from '../helpers/gateway.ts';
import { adminClient, startCluster, startSentinelGroup, waitFor, type TestCluster } from '../helpers/redis-topology.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';

const PREFIX = 'topo:';
const POLICY: GreylistPolicy = { delayMs: 60_000, maxWaitMs: 3_600_000, whitelistMs: 86_400_000, scope: 'triplet' };
const BODY = 'Subject: topologies\r\n\r\nhello through a clustered redis\r\n';
const tokensOf = (raw: Buffer): string[] => [...new Set(raw.toString('utf8').toLowerCase().split(/\W+/).filter(Boolean))];

test('config: an empty sentinels or cluster list is a config error, not a client that never connects', () => {
  assert.equal(redisSection.safeParse({ cluster: [] }).success, false);
  assert.equal(redisSection.safeParse({ sentinels: [] }).success, false);
  assert.equal(redisSection.safeParse({ sentinels: [{ host: '127.0.0.1', port: 26379 }] }).success, true);
});

async function link(t: TestContext, redis: Record<string, unknown>): Promise<RedisLink> {
  const config = redisSection.parse({ timeout: '300ms', connect_timeout: '3s', reconnect_max: '200ms', key_prefix: PREFIX, ...redis });
  const l = new RedisLink({ config, log: silentLogger, registry: createRegistry(false) });
  t.after(() => l.close());
  assert.ok(await l.waitReady(5000), 'link ready');
  return l;
}

/** Keys under PREFIX matching `pattern` held by each node (KEYS on a node lists only its own keys). */
async function keysPerNode(cluster: TestCluster, pattern: string): Promise<number[]> {
  return Promise.all(cluster.admins.map(async (a) => (await a.keys(`${PREFIX}${pattern}`)).length));
}

test('cluster: token, rate and greylist stores work across slots and nodes', async (t) => {
  const cluster = await startCluster(t, 3);
  // One startup node only: the client must learn the slot map and follow it.
  const cfg = { cluster: [{ host: '127.0.0.1', port: cluster.nodes[0]?.port ?? 0 }] };
  const [a, b] = [await link(t, cfg), await link(t, cfg)];

  await t.test('bayes token store', async () => {
    const sa = new RedisTokenStore(a);
    const sb = new RedisTokenStore(b);
    assert.equal(await sa.importModel({ ...emptyModel(), tokens: new Map([['seeded', { spam: 2, ham: 1 }]]), totals: { spam: 2, ham: 1 } }), true);
    const la = new BayesLearner({ store: sa, tokenize: tokensOf });
    const lb = new BayesLearner({ store: sb, tokenize: tokensOf });
    const m1 = Buffer.from('Subject: cheap pills\r\n\r\nbuy cheap pills today');
    const m2 = Buffer.from('Subject: notes\r\n\r\nmeeting notes for today');
    assert.equal(await la.learn(m1, 'spam', 'manual'), 'learned');
    assert.equal(await lb.learn(m1, 'spam', 'manual'), 'already', 'the digest learned through A is seen through B');
    assert.equal(await lb.learn(m2, 'ham', 'manual'), 'learned');
    assert.deepEqual(await sb.getMany(['cheap', 'today', 'seeded', 'absent']), [{ spam: 1, ham: 0 }, { spam: 1, ham: 1 }, { spam: 2, ham: 1 }, undefined]);
    assert.deepEqual(await sa.totals(), { spam: 3, ham: 2 });
    assert.equal(await lb.forget(m1, 'manual'), 'forgotten');
    assert.deepEqual(await sa.getMany(['cheap', 'today']), [undefined, { spam: 0, ham: 1 }]);
    // Every Bayes key carries the {bayes} hash tag (multi-key scripts need one slot): all on one node.
    const perNode = await keysPerNode(cluster, '{bayes}:*');
    assert.equal(perNode.filter((n) => n > 0).length, 1, `bayes keys per node: ${perNode}`);
    const owner = await cluster.portOf(`${PREFIX}{bayes}:totals`);
    assert.ok((perNode[cluster.nodes.findIndex((n) => n.port === owner)] ?? 0) > 0, 'on the node owning the {bayes} slot');
  });

  await t.test('rate store counts across two links; counters spread over the nodes', async () => {
    const clock = new ManualClock(10 * 3_600_000 + 1000);
    const ra = new RedisRateStore(a, clock);
    const rb = new RedisRateStore(b, clock);
    assert.deepEqual([await ra.hit('ip:192.0.2.1', 3_600_000), await rb.hit('ip:192.0.2.1', 3_600_000), await ra.hit('ip:192.0.2.1', 3_600_000, { amount: 3 })], [1, 2, 5]);
    for (let i = 0; i < 30; i++) await (i % 2 ? ra : rb).hit(`ip:198.51.100.${i}`, 60_000);
    for (let i = 0; i < 30; i++) assert.equal(await (i % 2 ? rb : ra).hit(`ip:198.51.100.${i}`, 60_000), 2);
    const perNode = await keysPerNode(cluster, '{rate:*');
    assert.equal(perNode.reduce((x, y) => x + y, 0), 31);
    assert.ok(perNode.filter((n) => n > 0).length >= 2, `rate keys spread: ${perNode}`);
  });

  await t.test('greylisting across two links; networks spread over the nodes', async () => {
    const ga = new RedisGreylistStore(a, 'caller');
    const gb = new RedisGreylistStore(b, 'caller');
    const now = 1_700_000_000_000;
    for (let i = 0; i < 20; i++) {
      const triplet = { network: `203.0.${i}.0/24`, sender: 'news@remote.example', recipient: 'postmaster@localhost' };
      assert.equal((await ga.check(triplet, now, POLICY)).status, 'deferred');
      assert.deepEqual(await gb.check(triplet, now + 1000, POLICY), { status: 'deferred', retryInMs: 59_000, first: false });
      assert.deepEqual(await gb.check(triplet, now + 61_000, POLICY), { status: 'passed', waitedMs: 61_000 });
      assert.deepEqual(await ga.check(triplet, now + 62_000, { ...POLICY, scope: 'network' }), { status: 'whitelisted' });
    }
    const network = { network: '203.0.99.0/24', sender: 'a@remote.example', recipient: 'postmaster@localhost' };
    await ga.check(network, now, { ...POLICY, scope: 'network' });
    await gb.check(network, now + 61_000, { ...POLICY, scope: 'network' });
    assert.deepEqual(await ga.check({ ...network, sender: 'other@remote.example' }, now + 62_000, POLICY), { status: 'whitelisted' }, 'network key in the triplet slot');
    const perNode = await keysPerNode(cluster, '{gl:*');
    assert.ok(perNode.filter((n) => n > 0).length >= 2, `greylist keys spread: ${perNode}`);
  });

  await t.test('resharding under open links: MOVED is followed, not leaked', async () => {
    const clock = new ManualClock(10 * 3_600_000 + 1000);
    const rate = new RedisRateStore(a, clock);
    const gl = new RedisGreylistStore(b, 'caller');
    const triplet = { network: '198.18.0.0/24', sender: 'x@remote.example', recipient: 'postmaster@localhost' };
    const now = 1_700_000_000_000;
    assert.equal(await rate.hit('ip:moving', 3_600_000), 1);
    assert.equal((await gl.check(triplet, now, POLICY)).status, 'deferred');
    const rateKey = `${PREFIX}{rate:3600000:ip:moving}:10`;
    const before = await cluster.portOf(rateKey);
    const after = await cluster.moveSlotOf(rateKey);
    assert.notEqual(after, before);
    await cluster.moveSlotOf(`${PREFIX}{gl:${triplet.network}}:n`);
    assert.equal(await rate.hit('ip:moving', 3_600_000), 2, 'the counter moved with its slot');
    assert.deepEqual(await gl.check(triplet, now + 61_000, POLICY), { status: 'passed', waitedMs: 61_000 });
    assert.equal(await cluster.portOf(rateKey), after);
  });

  await t.test('a gateway on the cluster: greylisting, per-IP limit and the seeded Bayes store', async () => {
    const clock = new ManualClock(Date.now());
    const gw = await startGateway(
      t,
      {
        smtp: { trusted_networks: [] },
        limits: { per_ip: { messages: { limit: 2, window: '1h' } } },
        greylist: { enabled: true, delay: '5m', min_score: -100 },
        bayes: { autolearn: { enabled: false } },
        redis: { ...cfg, timeout: '500ms', connect_timeout: '3s', reconnect_max: '200ms', use_for: ['rate', 'greylist', 'bayes'] },
      },
      { clock },
    );
    assert.ok(gw.logs.some((l) => l.msg === 'shared stores in redis'), 'cluster reached at start');
    const first = await sendMessage(gw.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
    assert.match(first.replies[2]?.text ?? '', /Greylisted, please try again later/, JSON.stringify(first.replies));
    clock.advance(6 * 60_000);
    const retry = await sendMessage(gw.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
    assert.equal(retry.data?.code, 250, JSON.stringify(retry.replies));
    const symbols = ((gw.transactions().at(-1) as { symbols?: Array<{ s: string }> }).symbols ?? []).map((s) => s.s);
    assert.ok(symbols.some((s) => /^BAYES_(HAM|SPAM|UNSURE)$/.test(s)), `the Bayes filter classified from the cluster: ${symbols}`);
    assert.ok(!symbols.some((s) => s.endsWith('_UNAVAILABLE')), `no store unavailable: ${symbols}`);
    assert.ok((await keysPerNode(cluster, '{bayes}:totals')).some((n) => n > 0), 'the shipped model was seeded into the cluster');
    const third = await sendMessage(gw.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
    assert.equal(third.data?.code ?? third.replies[1]?.code, 450, `per-IP limit of 2 counted in the cluster: ${JSON.stringify(third.replies)}`);
    const errors = (await gw.app.registry.getMetricsAsJSON()).find((m) => m.name === 'spamgate_redis_errors_total')?.values ?? [];
    assert.equal(errors.reduce((n, v) => n + v.value, 0), 0, 'no redis errors');
  });
});

test('sentinel: stores work via the sentinels, survive a SIGKILLed master, degrade per on_error meanwhile', async (t) => {
  const group = await startSentinelGroup(t, 3);
  const cfg = { sentinels: group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), sentinel_name: group.name };
  const tempfail = await link(t, { ...cfg, on_error: 'tempfail' });
  const skip = await link(t, { ...cfg, on_error: 'skip' });
  const clock = new ManualClock(10 * 3_600_000 + 1000);
  const rateT = new RedisRateStore(tempfail, clock);
  const rateS = new RedisRateStore(skip, clock);
  const tokensT = new RedisTokenStore(tempfail);
  const tokensS = new RedisTokenStore(skip);
  const greylist = new RedisGreylistStore(tempfail, 'caller');
  const triplet = { network: '192.0.2.0/24', sender: 'news@remote.example', recipient: 'postmaster@localhost' };
  const now = 1_700_000_000_000;
  const gwClock = new ManualClock(Date.now());
  const gw = await startGateway(
    t,
    { smtp: { trusted_networks: [] }, greylist: { enabled: true, delay: '5m', min_score: -100, timeout: '1s' }, redis: { ...cfg, timeout: '300ms', connect_timeout: '3s', reconnect_max: '200ms', use_for: ['greylist'] } },
    { clock: gwClock },
  );

  // Up: every store through the master the sentinels name.
  assert.equal(await group.masterPort(), group.master.port);
  assert.deepEqual([await rateT.hit('ip:192.0.2.1', 3_600_000), await rateS.hit('ip:192.0.2.1', 3_600_000)], [1, 2]);
  await tokensT.update({ tokens: ['cheap', 'pills'], cls: 'spam', delta: 1, digest: 'd1' });
  assert.deepEqual(await tokensS.getMany(['cheap', 'absent']), [{ spam: 1, ham: 0 }, undefined]);
  assert.equal((await greylist.check(triplet, now, POLICY)).status, 'deferred');
  const first = await sendMessage(gw.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
  assert.match(first.replies[2]?.text ?? '', /Greylisted, please try again later/, JSON.stringify(first.replies));
  // Acknowledged by the replica (WAIT): all of this must survive the failover.
  assert.equal(Number(await tempfail.client.call('WAIT', 1, 2000)), 1, 'the replica acknowledged the writes');
  // Replication lag made certain: the replica is stalled (DEBUG SLEEP) so it cannot redial, the master drops
  // its link and acknowledges 5 more hits, then dies before the replica wakes up.
  const master = adminClient(t, group.master.port);
  const stalled = adminClient(t, group.replica.port).call('DEBUG', 'SLEEP', '0.6').catch(() => undefined);
  await new Promise((r) => setTimeout(r, 50));
  await master.call('CLIENT', 'KILL', 'TYPE', 'replica');
  for (let i = 1; i <= 5; i++) assert.equal(await rateT.hit('ip:lag', 3_600_000), i);
  // If the replica redialled anyway (not stalled yet), the hits may have reached it: no loss to assert.
  const replicaWasAway = /^connected_slaves:0\r?$/m.test(await master.info('replication'));

  await group.master.kill('SIGKILL');
  const killedAt = performance.now();
  // During the failover: fail fast with the store's own degradation, never a hang or a crash.
  await assert.rejects(rateT.hit('ip:192.0.2.1', 3_600_000), RedisUnavailableError, 'tempfail: the rate check gets RedisUnavailableError');
  await assert.rejects(greylist.check(triplet, now + 1000, POLICY), RedisUnavailableError);
  await assert.rejects(tokensT.update({ tokens: ['x'], cls: 'ham', delta: 1, digest: 'd2' }), RedisUnavailableError, 'writes never degrade');
  assert.equal(await rateS.hit('ip:192.0.2.1', 3_600_000), 0, 'skip: counts nothing');
  assert.deepEqual(await tokensS.getMany(['cheap']), [undefined], 'skip: the classifier sees nothing learned');
  const down = await sendMessage(gw.smtpPort, 'other@remote.example', ['postmaster@localhost'], BODY);
  assert.match(down.replies[2]?.text ?? '', /Greylisting temporarily unavailable/, JSON.stringify(down.replies));
  const degradedMs = performance.now() - killedAt;
  assert.ok(degradedMs < 5000, `all answered quickly, none hung (${Math.round(degradedMs)} ms)`);
  assert.equal(tempfail.isUp, false);

  await waitFor('a sentinel promotes the replica', async () => (await group.masterPort()) === group.replica.port, 20_000);
  const promotedMs = performance.now() - killedAt;
  // Same clients, no restart: ioredis asks the sentinels again and lands on the promoted replica.
  await waitFor('writes succeed again through both links', async () => {
    await rateT.hit('ip:probe', 3_600_000);
    return (await rateS.hit('ip:probe', 3_600_000)) > 0;
  });
  const recoveredMs = performance.now() - killedAt;
  assert.ok(tempfail.isUp && skip.isUp, 'spamgate_redis_up is back');
  assert.equal(await rateT.hit('ip:192.0.2.1', 3_600_000), 3, 'the counter the replica had goes on');
  assert.deepEqual(await tokensS.getMany(['cheap']), [{ spam: 1, ham: 0 }]);
  assert.deepEqual(await greylist.check(triplet, now + 61_000, POLICY), { status: 'passed', waitedMs: 61_000 }, 'greylist state survived');
  await tokensT.update({ tokens: ['x'], cls: 'ham', delta: 1, digest: 'd2' });
  assert.equal(await tokensS.learnedAs('d2'), 'ham');
  gwClock.advance(6 * 60_000);
  await waitFor('the gateway reconnected', async () => (await sendMessage(gw.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY)).data?.code === 250, 5000);
  // What was lost: the hits acknowledged while the replica was away (asynchronous replication).
  const lag = await rateT.hit('ip:lag', 3_600_000);
  await stalled;
  if (replicaWasAway) assert.equal(lag, 1, 'the 5 acknowledged but unreplicated hits are gone');
  t.diagnostic(`promoted ${Math.round(promotedMs)} ms after the SIGKILL, writes back after ${Math.round(recoveredMs)} ms; lost ${6 - lag} of 5 unreplicated acknowledged hits`);
});

test('sentinel: a master that hangs (SIGSTOP) instead of dying is left for the promoted replica', async (t) => {
  const group = await startSentinelGroup(t, 3);
  const cfg = { sentinels: group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), sentinel_name: group.name };
  const l = await link(t, { ...cfg, on_error: 'tempfail' });
  const clock = new ManualClock(10 * 3_600_000 + 1000);
  const rate = new RedisRateStore(l, clock);
  assert.equal(await rate.hit('ip:192.0.2.1', 3_600_000), 1);
  assert.equal(Number(await l.client.call('WAIT', 1, 2000)), 1);
  // The socket stays open (no RST, no FIN): only the sentinels' +switch-master can move the client.
  group.master.signal('SIGSTOP');
  const hungAt = performance.now();
  await assert.rejects(rate.hit('ip:192.0.2.1', 3_600_000), RedisUnavailableError, 'a timeout, not a hang');
  assert.ok(performance.now() - hungAt < 3000, 'about redis.timeout (300 ms), not a hang');
  await waitFor('a sentinel promotes the replica', async () => (await group.masterPort()) === group.replica.port, 20_000);
  const promotedMs = performance.now() - hungAt;
  let count = 0;
  await waitFor('the same link writes to the promoted replica', async () => (count = await rate.hit('ip:192.0.2.1', 3_600_000)) > 0, 8000);
  assert.equal(count, 2, 'the replicated count goes on; the timed-out hit was never applied');
  assert.ok(l.isUp);
  t.diagnostic(`promoted ${Math.round(promotedMs)} ms after the hang, writes back after ${Math.round(performance.now() - hungAt)} ms`);
});

test('sentinel: sentinels that require a password are reached with redis.sentinel_password, refused without it', async (t) => {
  const group = await startSentinelGroup(t, 1, 'guarded', { sentinelPassword: 'sentinel-secret' });
  const cfg = { sentinels: group.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })), sentinel_name: group.name };
  const ok = await link(t, { ...cfg, sentinel_password: 'sentinel-secret' });
  assert.equal(await new RedisRateStore(ok, new ManualClock(1_000_000)).hit('ip:192.0.2.9', 60_000), 1);
  const config = redisSection.parse({ timeout: '300ms', connect_timeout: '1s', reconnect_max: '200ms', key_prefix: PREFIX, ...cfg });
  const without = new RedisLink({ config, log: silentLogger, registry: createRegistry(false) });
  t.after(() => without.close());
  assert.equal(await without.waitReady(1500), false, 'no password: never ready');
  assert.equal(without.isUp, false);
});
