// Scale-out: two gateway Apps (own data dirs) sharing one real redis-server. A per-IP message limit holds
// across both, greylisting deferred on one passes on the other after the delay, and a SIGKILLed Redis
// degrades per redis.on_error within the check budget and recovers when it is back on the same port; the
// connection limit then defers with RATE_STORE_UNAVAILABLE like the others. A refused recipient leaves no
// greylist triplet in Redis.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { RedisRateStore } from '../../src/redis/rate-store.ts';
import { ManualClock } from '../../src/util/clock.ts';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { SmtpWire, sendMessage, type Reply } from '../helpers/smtp-wire.ts';
import { adminClient } from '../helpers/redis-topology.ts';
import { eventually, startRedis, type TestRedis } from '../unit/redis/redis-server.ts';

const BODY = 'Subject: scale-out\r\n\r\nhello from the load balancer\r\n';

function redisConfig(redis: TestRedis, over: Record<string, unknown> = {}): Record<string, unknown> {
  // redis.timeout 500 ms: a loaded machine can answer a live redis slower than 200 ms (a limit or greylist check then
  // tempfails); still well within greylist.timeout and the budgets asserted with redis down
  return { port: redis.port, timeout: '500ms', connect_timeout: '2s', reconnect_max: '200ms', use_for: ['rate', 'greylist'], ...over };
}

/** Two gateways on one redis; skips (naming the missing wiring) while app-components.ts does not call openSharedStores. */
async function pair(t: TestContext, configs: [Record<string, unknown>, Record<string, unknown>], clock?: ManualClock): Promise<[RunningGateway, RunningGateway] | undefined> {
  const opts = clock ? { clock } : {};
  const a = await startGateway(t, configs[0], opts);
  const b = await startGateway(t, configs[1], opts);
  if (!(a.app.components.rateStore instanceof RedisRateStore)) {
    t.skip('openSharedStores (src/redis/shared-stores.ts) is not wired into src/app-components.ts yet');
    return undefined;
  }
  return [a, b];
}

const codes = (replies: Reply[]): number[] => replies.map((r) => r.code);

test('a per-IP message limit holds across two gateways', async (t) => {
  const redis = await startRedis(t);
  const config = { smtp: { trusted_networks: [] }, limits: { per_ip: { messages: { limit: 3, window: '1h' } } }, redis: redisConfig(redis) };
  const gws = await pair(t, [config, config]);
  if (!gws) return;
  const [a, b] = gws;
  const results: number[] = [];
  for (const gw of [a, b, a, b, a]) {
    const { replies, data } = await sendMessage(gw.smtpPort, 'sender@remote.example', ['postmaster@localhost'], BODY);
    results.push(data?.code ?? replies[1]?.code ?? 0);
  }
  assert.deepEqual(results, [250, 250, 250, 450, 450], 'the 4th message is refused whichever gateway gets it');
});

test('greylisting: deferred on gateway A, the retry on gateway B after the delay is accepted', async (t) => {
  const redis = await startRedis(t);
  const clock = new ManualClock(Date.now());
  const config = { smtp: { trusted_networks: [] }, redis: redisConfig(redis), greylist: { enabled: true, delay: '5m', min_score: -100 } };
  const gws = await pair(t, [config, config], clock);
  if (!gws) return;
  const [a, b] = gws;
  const first = await sendMessage(a.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
  assert.deepEqual(codes(first.replies), [250, 250, 451]);
  assert.match(first.replies[2]?.text ?? '', /^4\.7\.1 Greylisted, please try again later/);
  clock.advance(60_000);
  const early = await sendMessage(b.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
  assert.equal(early.replies[2]?.code, 451, 'a retry before the delay is deferred again, on the other gateway too');
  clock.advance(4 * 60_000 + 1000);
  const retry = await sendMessage(b.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
  assert.equal(retry.data?.code, 250, JSON.stringify(retry.replies));
  const again = await sendMessage(a.smtpPort, 'news@remote.example', ['postmaster@localhost'], BODY);
  assert.equal(again.data?.code, 250, 'whitelisted on both gateways');
});

test('redis SIGKILLed mid-run: tempfail / skip per config within the budget, recovery when it is back', async (t) => {
  const redis = await startRedis(t);
  const greylist = { enabled: true, min_score: -100, timeout: '1s' };
  const gws = await pair(t, [
    { smtp: { trusted_networks: [] }, redis: redisConfig(redis, { on_error: 'tempfail' }), greylist },
    { smtp: { trusted_networks: [] }, redis: redisConfig(redis, { on_error: 'skip' }), greylist, limits: { per_ip: { messages: { limit: 100, window: '1h' } } } },
  ]);
  if (!gws) return;
  const [a, b] = gws;
  assert.equal((await sendMessage(a.smtpPort, 'x@remote.example', ['postmaster@localhost'], BODY)).replies[2]?.code, 451, 'greylisted while redis is up');
  await redis.kill();
  let started = performance.now();
  const down = await sendMessage(a.smtpPort, 'y@remote.example', ['postmaster@localhost'], BODY);
  // 4 × greylist.timeout (1 s), below checks.timeout (5 s): room for a loaded machine, not for a budget ignored
  assert.ok(performance.now() - started < 4000, 'answered within the check budget');
  assert.deepEqual(codes(down.replies), [250, 250, 451]);
  assert.match(down.replies[2]?.text ?? '', /Greylisting temporarily unavailable/);
  started = performance.now();
  const skipped = await sendMessage(b.smtpPort, 'y@remote.example', ['postmaster@localhost'], BODY);
  assert.ok(performance.now() - started < 4000);
  assert.equal(skipped.data?.code, 250, `skip accepts: ${JSON.stringify(skipped.replies)}`);
  const tx = b.transactions().at(-1) as { symbols?: Array<{ s: string }> };
  assert.ok(tx.symbols?.some((s) => s.s === 'GREYLIST_SKIPPED'));
  const metric = async (gw: RunningGateway, name: string): Promise<number> =>
    ((await gw.app.registry.getMetricsAsJSON()).find((m) => m.name === name)?.values ?? []).reduce((n, v) => n + v.value, 0);
  assert.equal(await metric(a, 'spamgate_redis_up'), 0);
  assert.ok((await metric(a, 'spamgate_redis_errors_total')) >= 1);
  assert.ok((await metric(b, 'spamgate_redis_errors_total')) >= 2, 'rate and greylist failures counted');
  await redis.restart();
  await eventually(async () => (await metric(a, 'spamgate_redis_up')) === 1 && (await metric(b, 'spamgate_redis_up')) === 1, 10_000);
  const back = await sendMessage(a.smtpPort, 'z@remote.example', ['postmaster@localhost'], BODY);
  assert.match(back.replies[2]?.text ?? '', /Greylisted, please try again later/, 'greylisting works again (fresh redis)');
  const backB = await sendMessage(b.smtpPort, 'z@remote.example', ['postmaster@localhost'], BODY);
  assert.match(backB.replies[2]?.text ?? '', /Greylisted, please try again later/, 'shared with gateway B again');
});

test('redis down: the connection limit tempfails with RATE_STORE_UNAVAILABLE, as the other limits do', async (t) => {
  const redis = await startRedis(t);
  const config = { smtp: { trusted_networks: [] }, limits: { per_ip: { connections: { limit: 50, window: '1h' } } }, redis: redisConfig(redis, { use_for: ['rate'], on_error: 'tempfail' }) };
  const gws = await pair(t, [config, config]);
  if (!gws) return;
  const [a] = gws;
  const up = await SmtpWire.open(a.smtpPort);
  assert.equal(up.greeting.code, 220);
  up.wire.write('QUIT\r\n');
  await redis.kill();
  for (let i = 0; i < 3; i++) {
    const { greeting } = await SmtpWire.open(a.smtpPort);
    assert.equal(greeting.code, 421);
    assert.match(greeting.text, /4\.7\.1 Rate limit store unavailable, try again later/, JSON.stringify(greeting));
  }
  assert.deepEqual(a.logs.filter((l) => l.level === 'error').map((l) => l.msg), [], 'no error (with a stack) per connection');
  const rejects = (await a.app.registry.getMetricsAsJSON()).find((m) => m.name === 'spamgate_smtp_rejects_total');
  const connect = rejects?.values.find((v) => v.labels.phase === 'connect' && v.labels.symbol === 'RATE_STORE_UNAVAILABLE');
  assert.equal(connect?.value, 3, 'counted as a refusal at connect');
});

test('greylisting leaves no triplet in redis for a recipient already refused (unknown user)', async (t) => {
  const redis = await startRedis(t);
  const config = { smtp: { trusted_networks: [] }, redis: redisConfig(redis), greylist: { enabled: true, min_score: -100 } };
  const gws = await pair(t, [config, config]);
  if (!gws) return;
  const [a] = gws;
  const admin = adminClient(t, redis.port);
  const unknown = await sendMessage(a.smtpPort, 'probe@remote.example', ['nosuchuser1@localhost', 'nosuchuser2@localhost'], BODY);
  assert.deepEqual(codes(unknown.replies), [250, 250, 550, 550], JSON.stringify(unknown.replies));
  assert.deepEqual(await admin.keys('*{gl:*'), [], 'no greylist key for refused recipients');
  const known = await sendMessage(a.smtpPort, 'probe@remote.example', ['nosuchuser3@localhost', 'postmaster@localhost'], BODY);
  assert.deepEqual(codes(known.replies), [250, 250, 550, 451], 'the known recipient is still greylisted');
  const keys = await admin.keys('*{gl:*');
  assert.equal(keys.length, 1, JSON.stringify(keys));
  assert.match(keys[0] ?? '', /\|postmaster@localhost$/);
});
