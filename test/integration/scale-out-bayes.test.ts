// Scale-out of the Bayes filter: two gateway Apps sharing one real redis-server (redis.use_for: [bayes]).
// Spam trained by the `spamgate train` CLI (a real process on the same Redis) moves gateway B's verdict on
// made-up words the shipped model never saw; `spamgate classify` agrees. A SIGKILLed Redis becomes
// BAYES_UNAVAILABLE / RATE_STORE_UNAVAILABLE (tempfail) or silence (skip) within the budget, and recovers,
// re-seeding the emptied store from the shipped model.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { startGateway, type RunningGateway } from '../helpers/gateway.ts';
import { sendMessage } from '../helpers/smtp-wire.ts';
import { eventually, startRedis, type TestRedis } from '../unit/redis/redis-server.ts';

const CLI = path.resolve(import.meta.dirname, '../../src/spamgate.mjs');
/** Words the shipped model has never seen (`spamgate classify --explain` lists no clue for them). */
const WORDS = ['zorblax', 'quintoph', 'flumbrix', 'vexmorad', 'glorptik', 'snarfle', 'wibbleq', 'trazzlo'];

function message(subject: string, extra = ''): string {
  return `From: Zed <zed@remote.example>\r\nTo: postmaster@localhost\r\nSubject: ${subject}\r\n\r\n${WORDS.join(' ')}\r\n${extra}\r\n`;
}
const PROBE = message(WORDS.slice(0, 3).join(' '));

function redisConfig(redis: TestRedis, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { port: redis.port, timeout: '500ms', connect_timeout: '2s', reconnect_max: '200ms', use_for: ['bayes'], ...over };
}

/** No autolearn: the counts change only by what the test trains. */
const gatewayConfig = (redis: TestRedis, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  smtp: { trusted_networks: [] },
  bayes: { autolearn: { enabled: false } },
  redis: redisConfig(redis, over),
});

/** Runs the CLI as its own process (async: the gateways under test live in this process). */
async function cli(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

type Tx = { symbols?: Array<{ s: string; o?: string[] }> };

/** The BAYES_* symbol and probability of the last transaction of a gateway. */
function bayesOf(gw: RunningGateway): { symbol: string; p: number } | undefined {
  const hit = (gw.transactions().at(-1) as Tx | undefined)?.symbols?.find((s) => s.s.startsWith('BAYES_'));
  if (!hit) return undefined;
  const p = Number(/^p=([\d.]+)$/.exec(hit.o?.find((o) => o.startsWith('p=')) ?? '')?.[1] ?? NaN);
  return { symbol: hit.s, p };
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-scale-bayes-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

test('spam trained by the CLI against the shared redis moves the verdict of the other gateway', async (t) => {
  const redis = await startRedis(t);
  const a = await startGateway(t, gatewayConfig(redis));
  const b = await startGateway(t, gatewayConfig(redis));
  if (!sharedBayes(a) || !sharedBayes(b)) {
    t.skip('the Bayes filter is not on the shared token store (redis.use_for: [bayes] not wired)');
    return;
  }
  const before = await sendMessage(b.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.equal(before.data?.code, 250, JSON.stringify(before.replies));
  const p0 = bayesOf(b);
  assert.ok(p0, 'the seeded shared store classifies (not silent)');
  assert.ok(p0.p < 0.6 && p0.symbol !== 'BAYES_SPAM', `unseen words are not spam yet: ${JSON.stringify(p0)}`);

  const dir = await tempDir(t);
  const spamDir = path.join(dir, 'spam');
  await mkdir(spamDir);
  for (let i = 0; i < 5; i++) await writeFile(path.join(spamDir, `${i}.eml`), message(`${WORDS[i] ?? 'x'} offer ${i}`, `ref ${i}`));
  const cfg = path.join(dir, 'cli.yaml');
  await writeFile(cfg, `data_dir: ${path.join(dir, 'data')}\nredis: { port: ${redis.port}, use_for: [bayes] }\n`);
  const probeFile = path.join(dir, 'probe.eml');
  await writeFile(probeFile, PROBE);
  const classify = async (): Promise<number> => {
    const r = await cli(['classify', '--json', '--config', cfg, probeFile]);
    assert.equal(r.code, 0, r.stderr);
    return Number((JSON.parse(r.stdout.trim().split('\n')[0] ?? '{}') as { probability: number }).probability);
  };
  const cliBefore = await classify();
  assert.ok(Math.abs(cliBefore - p0.p) < 1e-3, `the CLI reads the same store as gateway B: ${cliBefore} vs ${p0.p}`);

  const trained = await cli(['train', '--spam', spamDir, '--config', cfg]);
  assert.equal(trained.code, 0, `train failed: ${trained.stderr}`);
  assert.match(trained.stdout, /learned 5,/);

  const after = await sendMessage(b.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.equal(after.data?.code, 250, JSON.stringify(after.replies));
  const p1 = bayesOf(b);
  assert.ok(p1, 'classified after training');
  assert.equal(p1.symbol, 'BAYES_SPAM', `gateway B now says spam: ${JSON.stringify({ before: p0, after: p1 })}`);
  assert.ok(p1.p > p0.p + 0.3, `probability moved: ${p0.p} -> ${p1.p}`);
  const cliAfter = await classify();
  assert.ok(cliAfter > cliBefore + 0.3 && Math.abs(cliAfter - p1.p) < 1e-3, `classify --json agrees: ${cliBefore} -> ${cliAfter}, gateway ${p1.p}`);
  t.diagnostic(`gateway B: ${p0.symbol} p=${p0.p} -> ${p1.symbol} p=${p1.p}; classify --json: ${cliBefore} -> ${cliAfter}`);
  // Gateway A, which trained nothing either, sees the same counts.
  await sendMessage(a.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.equal(bayesOf(a)?.symbol, 'BAYES_SPAM');
});

/** True when the gateway's Bayes filter reads the Redis token store (the seeded totals are there). */
function sharedBayes(gw: RunningGateway): boolean {
  return gw.logs.some((l) => l.msg === 'bayes store opened' && l.origin === 'shared');
}

test('redis SIGKILLed: BAYES_UNAVAILABLE / RATE_STORE_UNAVAILABLE on tempfail, silence on skip, recovery', async (t) => {
  const redis = await startRedis(t);
  const bayesTempfail = await startGateway(t, gatewayConfig(redis, { on_error: 'tempfail' }));
  const bayesSkip = await startGateway(t, gatewayConfig(redis, { on_error: 'skip' }));
  const rateTempfail = await startGateway(t, {
    smtp: { trusted_networks: [] },
    limits: { per_ip: { messages: { limit: 1000, window: '1h' }, recipients: { limit: 1000, window: '1h' } } },
    redis: redisConfig(redis, { on_error: 'tempfail', use_for: ['rate'] }),
  });
  if (!sharedBayes(bayesTempfail)) {
    t.skip('the Bayes filter is not on the shared token store (redis.use_for: [bayes] not wired)');
    return;
  }
  for (const gw of [bayesTempfail, bayesSkip, rateTempfail]) {
    const up = await sendMessage(gw.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
    assert.equal(up.data?.code, 250, `accepted while redis is up: ${JSON.stringify(up.replies)}`);
  }
  assert.ok(bayesOf(bayesTempfail), 'classified while redis is up');

  const seeded = (): number => bayesTempfail.logs.filter((l) => l.msg === 'shared bayes store seeded from the shipped model').length;
  const seededBefore = seeded();
  await redis.kill();
  // redis.timeout 500 ms (a loaded machine answers a live redis slower than 200 ms); the checks' own budget
  // (checks.timeout) is 5 s: 4 s leaves room for a whole SMTP session and still fails a store that waited for the
  // check budget instead of redis.timeout
  const budget = 4000;
  let started = performance.now();
  const down = await sendMessage(bayesTempfail.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.ok(performance.now() - started < budget, `answered in ${performance.now() - started} ms`);
  assert.equal(down.data?.code, 451, JSON.stringify(down.replies));
  assert.match(down.data?.text ?? '', /^4\.7\.1 Spam filter temporarily unavailable/);
  assert.equal(bayesOf(bayesTempfail)?.symbol, 'BAYES_UNAVAILABLE');

  started = performance.now();
  const skipped = await sendMessage(bayesSkip.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.ok(performance.now() - started < budget);
  assert.equal(skipped.data?.code, 250, `skip accepts: ${JSON.stringify(skipped.replies)}`);
  const skipSymbols = ((bayesSkip.transactions().at(-1) as Tx).symbols ?? []).map((s) => s.s);
  assert.ok(!skipSymbols.some((s) => s.startsWith('BAYES_') || s.startsWith('CHECK_')), `silent: ${skipSymbols.join(' ')}`);

  started = performance.now();
  const limited = await sendMessage(rateTempfail.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.ok(performance.now() - started < budget);
  assert.equal(limited.replies[1]?.code, 451, JSON.stringify(limited.replies));
  assert.equal(limited.replies[1]?.text, '4.7.1 Rate limit store unavailable, try again later');
  assert.doesNotMatch(JSON.stringify(limited.replies), /exceeded/);

  await redis.restart();
  const up = async (gw: RunningGateway): Promise<boolean> =>
    ((await gw.app.registry.getMetricsAsJSON()).find((m) => m.name === 'spamgate_redis_up')?.values[0]?.value ?? 0) === 1;
  await eventually(async () => (await up(bayesTempfail)) && (await up(bayesSkip)) && (await up(rateTempfail)), 10_000);
  // The restarted redis is empty: that message finds Bayes silent (not deferred), and the silence starts
  // re-seeding the shared store from the shipped model in the background.
  const back = await sendMessage(bayesTempfail.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.equal(back.data?.code, 250, `bayes tempfail gateway accepts again: ${JSON.stringify(back.replies)}`);
  assert.ok(!((bayesTempfail.transactions().at(-1) as Tx).symbols ?? []).some((s) => s.s === 'BAYES_UNAVAILABLE'));
  assert.equal(bayesOf(bayesTempfail), undefined, 'silent on the empty store');
  await eventually(async () => {
    const again = await sendMessage(bayesTempfail.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
    return again.data?.code === 250 && bayesOf(bayesTempfail) !== undefined;
  }, 20_000);
  assert.equal(seeded(), seededBefore + 1, 'seeded again while running, once');
  const rateBack = await sendMessage(rateTempfail.smtpPort, 'zed@remote.example', ['postmaster@localhost'], PROBE);
  assert.equal(rateBack.data?.code, 250, `rate gateway accepts again: ${JSON.stringify(rateBack.replies)}`);
});
