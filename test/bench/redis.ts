// Shared-state benchmark: rate-store hits/s and Bayes token-store lookups/s (batches of 500 tokens),
// Redis (a local redis-server on loopback) against the in-process stores. Prints figures.
import { performance } from 'node:perf_hooks';
import { MemoryTokenStore } from '../../src/bayes/memory-store.ts';
import type { TokenStore } from '../../src/bayes/token-store.ts';
import { MemoryRateStore, type RateStore } from '../../src/limits/rate-store.ts';
import { RedisRateStore } from '../../src/redis/rate-store.ts';
import { RedisTokenStore } from '../../src/redis/token-store.ts';
import { systemClock } from '../../src/util/clock.ts';
import { linkTo, startRedis } from '../unit/redis/redis-server.ts';

const HITS = 20_000;
const KEYS = 1000;
const VOCABULARY = 50_000;
const BATCH = 500;
const BATCHES = 400;

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
  } finally {
    for (const fn of cleanups.reverse()) await fn();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
