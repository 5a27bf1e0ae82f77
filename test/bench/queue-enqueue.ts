// Benchmark: spool enqueue throughput with fsync on (and off), sequential and at concurrency 50.
// Run: node --import tsx test/bench/queue-enqueue.ts [messages=3000] [size=4096]
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createRegistry } from '../../src/metrics/registry.ts';
import { openSpool } from '../../src/queue/spool.ts';
import { systemClock } from '../../src/util/clock.ts';
import { silentLogger } from '../../src/util/logger.ts';

const total = Number(process.argv[2] ?? 3000);
const size = Number(process.argv[3] ?? 4096);
const raw = Buffer.concat([Buffer.from('Subject: bench\r\n\r\n'), Buffer.alloc(size, 'x'), Buffer.from('\r\n')]);
const env = { mailFrom: 'a@b.test', rcptTo: ['c@d.test'], sessionId: 'bench', clientIp: '127.0.0.1', receivedAt: Date.now() };

async function measure(fsync: boolean, concurrency: number): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'spamgate-bench-'));
  try {
    const spool = await openSpool({ dir, fsync, clock: systemClock, registry: createRegistry(false), log: silentLogger });
    let next = 0;
    const latencies: number[] = [];
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < total) {
          next++;
          const t0 = performance.now();
          await spool.enqueue(env, raw);
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const secs = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const p = (q: number): string => (latencies[Math.floor(q * (latencies.length - 1))] ?? 0).toFixed(2);
    console.log(`fsync=${fsync ? 'on ' : 'off'} concurrency=${String(concurrency).padStart(2)}  ${(total / secs).toFixed(0).padStart(6)} msg/s  p50 ${p(0.5)} ms  p99 ${p(0.99)} ms`);
    await spool.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

console.log(`spool enqueue: ${total} messages of ${raw.length} bytes, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, ${os.cpus().length} cpus`);
for (const fsync of [true, false]) for (const c of [1, 50]) await measure(fsync, c);
