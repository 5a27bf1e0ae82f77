// Shared-state benchmark: rate-store hits/s and Bayes token-store lookups/s (batches of 500 tokens),
// Redis (a local redis-server on loopback) against the in-process stores; Bayes classification msg/s on
// SpamAssassin corpus messages with each store; relay msg/s of one and of two spamgate processes sharing
// the rate store in Redis (load generator and sink are processes of their own). Prints figures.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { messageDigest } from '../../src/bayes/bayes-learner.ts';
import { BayesClassifier } from '../../src/bayes/classifier.ts';
import { MemoryTokenStore } from '../../src/bayes/memory-store.ts';
import { tokenize } from '../../src/bayes/tokenizer.ts';
import { corpusDataDir, corpusKeys } from '../../src/bayes/train-model.ts';
import { parseMail } from '../../src/mime/parse.ts';
import { startDnsServer } from '../helpers/dns-server.ts';
import { CLI, freePort, RELAY_DIR, runLoad, spawnTsx, waitOutput, type LoadResult } from './bench-processes.ts';
import type { TokenStore } from '../../src/bayes/token-store.ts';
import { MemoryRateStore, type RateStore } from '../../src/limits/rate-store.ts';
import { RedisRateStore } from '../../src/redis/rate-store.ts';
import { RedisTokenStore } from '../../src/redis/token-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { linkTo, startRedis, type TestRedis } from '../unit/redis/redis-server.ts';

const HITS = 20_000;
const KEYS = 1000;
const VOCABULARY = 50_000;
const BATCH = 500;
const BATCHES = 400;
/** Corpus messages learned into both token stores, and messages classified (disjoint: TEST split of bench/filter.ts). */
const TRAIN_MESSAGES = 1500;
const CLASSIFY_MESSAGES = 400;
/** Messages per relay run (4 KB, one per connection), and the total concurrency of the load. */
const RELAY_MESSAGES = Number(process.env.REDIS_BENCH_RELAY_MESSAGES ?? 2000);
const RELAY_CONCURRENCY = 20;

/** Runs `total` operations with at most `concurrency` in flight; returns ops/s. */
async function rate(total: number, concurrency: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(12);

async function benchRate(name: string, store: RateStore): Promise<void> {
  for (const c of [1, 50]) {
    const perSecond = await rate(HITS, c, (i) => store.hit(`ip-msg:10.0.${i % KEYS}.1`, 3_600_000));
    console.log(`rate   ${name.padEnd(10)} concurrency ${String(c).padStart(2)}: ${fmt(perSecond)} hits/s`);
  }
}

async function benchTokens(name: string, store: TokenStore): Promise<void> {
  const batches = Array.from({ length: BATCHES }, (_, b) => Array.from({ length: BATCH }, (_, i) => `tok${(b * 7919 + i * 104_729) % (VOCABULARY * 2)}`));
  for (const c of [1, 8]) {
    const started = performance.now();
    const perSecond = await rate(BATCHES, c, (i) => store.getMany(batches[i] ?? []));
    const msPerBatch = (performance.now() - started) / BATCHES;
    console.log(`tokens ${name.padEnd(10)} concurrency ${String(c).padStart(2)}: ${fmt(perSecond * BATCH)} lookups/s (${fmt(perSecond)} batches of ${BATCH}/s, ${(msPerBatch * c).toFixed(2)} ms per batch)`);
  }
}

/** Same split as bench/filter.ts (TEST: first hex digit of sha1(key) in 0-2), bounded by the constants. */
function corpusSample(): { train: Array<{ raw: Buffer; spam: boolean }>; test: Buffer[] } {
  const dir = corpusDataDir();
  const trainKeys: Array<[string, boolean]> = [];
  const testKeys: Array<[string, boolean]> = [];
  for (const entry of corpusKeys(dir)) ('012'.includes(createHash('sha1').update(entry[0]).digest('hex')[0] ?? 'f') ? testKeys : trainKeys).push(entry);
  // Evenly spaced picks through the sorted keys keep spam and ham in their corpus proportions.
  const spaced = <T>(list: T[], n: number): T[] => Array.from({ length: Math.min(n, list.length) }, (_, i) => list[Math.floor((i * list.length) / Math.min(n, list.length))] as T);
  return {
    train: spaced(trainKeys, TRAIN_MESSAGES).map(([key, spam]) => ({ raw: readFileSync(path.join(dir, key)), spam })),
    test: spaced(testKeys, CLASSIFY_MESSAGES).map(([key]) => readFileSync(path.join(dir, key))),
  };
}

async function benchClassify(stores: Array<[string, TokenStore]>): Promise<void> {
  const { train, test } = corpusSample();
  for (const [name, store] of stores) {
    const started = performance.now();
    for (const m of train) await store.update({ tokens: tokenize(parseMail(m.raw)), cls: m.spam ? 'spam' : 'ham', delta: 1, digest: messageDigest(m.raw) });
    console.log(`bayes  ${name.padEnd(10)} trained ${train.length} messages (${train.filter((m) => m.spam).length} spam): ${fmt(train.length / ((performance.now() - started) / 1000))} msg/s`);
  }
  const tokens = test.map((raw) => tokenize(parseMail(raw)));
  const avg = tokens.reduce((n, t) => n + t.length, 0) / tokens.length;
  const verdicts = new Map<string, string[]>();
  for (const [name, store] of stores) {
    const cl = new BayesClassifier(store);
    for (const c of [1, 8]) {
      const out: string[] = [];
      const perSecond = await rate(tokens.length, c, async (i) => {
        const r = await cl.classify(tokens[i] ?? []);
        out[i] = r.status === 'scored' ? r.probability.toFixed(6) : 'silent';
      });
      verdicts.set(name, out);
      const full = await rate(test.length, c, (i) => cl.classify(tokenize(parseMail(test[i] ?? Buffer.alloc(0)))));
      console.log(`bayes  ${name.padEnd(10)} concurrency ${String(c).padStart(2)}: ${fmt(perSecond)} msg/s classify (${avg.toFixed(0)} tokens/msg avg), ${fmt(full)} msg/s parse+tokenize+classify`);
    }
  }
  const [a, b] = [...verdicts.values()];
  const same = (a ?? []).filter((v, i) => v === b?.[i]).length;
  const silent = (a ?? []).filter((v) => v === 'silent').length;
  console.log(`bayes  ${test.length} messages classified (${silent} silent); identical probabilities in both stores: ${same}/${test.length}`);
}

/** One load process per port, started together; the messages and the concurrency are split between them. */
async function loadAll(ports: number[]): Promise<LoadResult> {
  const results = await Promise.all(
    ports.map(async (port) => {
      return runLoad(port, Math.round(RELAY_MESSAGES / ports.length), Math.round(RELAY_CONCURRENCY / ports.length));
    }),
  );
  const seconds = Math.max(...results.map((r) => r.seconds));
  const sent = results.reduce((n, r) => n + r.sent, 0);
  const failed = results.reduce((n, r) => n + r.failed, 0);
  return { sent, failed, seconds, rate: (sent - failed) / seconds, p50: Math.max(...results.map((r) => r.p50)), p99: Math.max(...results.map((r) => r.p99)) };
}

/** Starts `n` spamgate processes in front-of mode (inline: 250 once the sink has it) before the sink; the rate store in redis or in-process. */
async function gateways(n: number, rateStore: 'memory' | 'redis', redis: TestRedis, dnsServer: string, sinkPort: number): Promise<{ ports: number[]; stop(): Promise<void> }> {
  const procs: Array<{ child: ChildProcess; dir: string }> = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'spamgate-bench-redis-'));
    const port = await freePort();
    const config = path.join(dir, 'spamgate.yaml');
    writeFileSync(
      config,
      `mode: front-of
data_dir: ${path.join(dir, 'data')}
log_level: warn
local_domains: [relay.example]
smtp: { listen: { port: ${port} }, trusted_networks: [], max_connections_per_ip: 200, greet_delay: 0 }
submission: { enabled: false }
http: { enabled: false }
pop3: { enabled: false }
imap: { enabled: false }
dns: { servers: ["${dnsServer}"] }
limits: { per_ip: { messages: { limit: 100000000, window: 1h }, recipients: { limit: 100000000, window: 1h } } }
redis: { port: ${redis.port}, use_for: [${rateStore === 'redis' ? 'rate' : ''}] }
delivery: { mode: inline, upstream: { host: 127.0.0.1, port: ${sinkPort}, max_connections: 20 } }
`,
    );
    const child = spawn(process.execPath, [CLI, 'serve', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push({ child, dir });
    await waitOutput(child, /smtp\s+listening/);
    ports.push(port);
  }
  return {
    ports,
    stop: async () => {
      for (const { child, dir } of procs) {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, 'exit');
          child.kill('SIGTERM');
          await exited;
        }
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

async function benchRelay(redis: TestRedis, after: (fn: () => unknown) => void): Promise<void> {
  console.log(`relay: ${RELAY_MESSAGES} messages of 4 KB per run, one per connection, total concurrency ${RELAY_CONCURRENCY}, limits per IP high (nothing refused); ${os.cpus().length} CPUs`);
  const sink = spawnTsx(path.join(RELAY_DIR, 'sink.ts'), ['0']);
  after(() => sink.kill());
  const sinkPort = Number((await waitOutput(sink, /listening (\d+)/))[1]);
  const dns = await startDnsServer({});
  after(() => dns.close());
  for (const [n, store] of [[1, 'memory'], [1, 'redis'], [2, 'redis']] as const) {
    const gw = await gateways(n, store, redis, dns.server, sinkPort);
    try {
      const r = await loadAll(gw.ports);
      const label = `${n} gateway${n > 1 ? 's' : ' '} rate store ${store}`;
      console.log(`relay  ${label.padEnd(30)} ${fmt(r.rate)} msg/s  p50 ${r.p50.toFixed(1).padStart(6)} ms  p99 ${r.p99.toFixed(1).padStart(6)} ms  failed ${r.failed}/${r.sent}`);
    } finally {
      await gw.stop();
    }
  }
}

export async function run(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const ctx = { after: (fn: () => unknown) => void cleanups.push(fn) };
  try {
    const redis = await startRedis(ctx);
    const link = await linkTo(ctx, redis, { timeout: '5s' });
    console.log(`redis-server on 127.0.0.1:${redis.port}; ${HITS} hits over ${KEYS} keys; ${BATCHES} lookups of ${BATCH} tokens (vocabulary ${VOCABULARY}, half unseen)`);
    await benchRate('memory', new MemoryRateStore(systemClock));
    await benchRate('redis', new RedisRateStore(link, systemClock));
    const memory = new MemoryTokenStore();
    const shared = new RedisTokenStore(link);
    const vocabulary = Array.from({ length: VOCABULARY }, (_, i) => `tok${i}`);
    for (let i = 0; i < VOCABULARY; i += 5000) {
      const change = { tokens: vocabulary.slice(i, i + 5000), cls: i % 2 ? ('spam' as const) : ('ham' as const), delta: 1 as const, digest: `seed${i}` };
      await memory.update(change);
      await shared.update(change);
    }
    await benchTokens('memory', memory);
    await benchTokens('redis', shared);
    await link.client.flushdb();
    await benchClassify([
      ['memory', new MemoryTokenStore()],
      ['redis', new RedisTokenStore(link)],
    ]);
    await benchRelay(redis, ctx.after);
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
