// Shared set-up for queue tests: a temp spool, a scheduler on a manual clock, an upstream sink.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { configSchema } from '../../../src/config/schema.ts';
import { createRegistry, type Registry } from '../../../src/metrics/registry.ts';
import type { Router } from '../../../src/queue/router.ts';
import { createScheduler, type QueueConfig, type Scheduler } from '../../../src/queue/scheduler.ts';
import { openSpool, type Spool } from '../../../src/queue/spool.ts';
import type { QueueEnvelope } from '../../../src/queue/types.ts';
import { createUpstreamRouter } from '../../../src/queue/upstream-router.ts';
import { ManualClock } from '../../../src/util/clock.ts';
import { createLogger, silentLogger, type Logger } from '../../../src/util/logger.ts';
import { startSink, type SinkOptions, type SinkServer } from '../../helpers/sink-server.ts';

export const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);

export function queueConfig(over: Record<string, unknown> = {}): QueueConfig {
  return configSchema.parse({ queue: { retry_initial: '1m', retry_max: '10m', retry_factor: 2, workers: 4, scan_interval: '1h', ...over } }).queue;
}

export async function tempDir(t: TestContext, prefix = 'spamgate-queue-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export function envelope(over: Partial<QueueEnvelope> = {}): QueueEnvelope {
  return { mailFrom: 'sender@origin.test', rcptTo: ['rcpt@dest.test'], sessionId: 's1', clientIp: '127.0.0.1', receivedAt: T0, ...over };
}

export function message(subject = 'hello', body = 'body line\r\n'): Buffer {
  return Buffer.from(`From: <sender@origin.test>\r\nTo: <rcpt@dest.test>\r\nSubject: ${subject}\r\nMessage-ID: <${subject.replace(/\W/g, '')}@origin.test>\r\n\r\n${body}`, 'utf8');
}

export interface QueueRig {
  dir: string;
  clock: ManualClock;
  registry: Registry;
  spool: Spool;
  scheduler: Scheduler;
  sink: SinkServer;
  router: Router;
}

/** Spool + started scheduler (scan every hour: tests drive time with clock + runDue) + an upstream sink. */
export async function queueRig(t: TestContext, opts: { queue?: Record<string, unknown>; sink?: SinkOptions; beforeOpen?: (spoolDir: string, sink: SinkServer) => Promise<void>; wrapSpool?: (spool: Spool) => Spool } = {}): Promise<QueueRig> {
  const dir = await tempDir(t);
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const sink = await startSink(opts.sink);
  t.after(() => sink.close());
  // Set-up that must happen before the scheduler starts (files already in the spool, sink rules).
  await opts.beforeOpen?.(path.join(dir, 'spool'), sink);
  const spool = await openSpool({ dir: path.join(dir, 'spool'), fsync: true, clock, registry, log: silentLogger });
  const upstream = { host: sink.host, port: sink.port, protocol: opts.sink?.lmtp ? ('lmtp' as const) : ('smtp' as const), max_connections: 2, timeout: 5000, data_timeout: 10000, starttls: false, tls_verify: false, xforward: false };
  const router = createUpstreamRouter({ upstream, hostname: 'gw.test', log: silentLogger });
  // Tests that inject faults see the scheduler through a wrapper; they get the real spool back.
  const scheduler = createScheduler({ spool: opts.wrapSpool?.(spool) ?? spool, router, config: queueConfig(opts.queue), clock, registry, log: silentLogger, hostname: 'gw.test' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(2000);
    await router.close();
    await spool.close();
  });
  return { dir, clock, registry, spool, scheduler, sink, router };
}

/** A logger at info that keeps each JSON line it writes, for tests that read what the queue logs. */
export function capturingLogger(): { lines: string[]; log: Logger } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { lines, log: createLogger('info', out) };
}

/**
 * Spool + started scheduler on a manual clock at T0, delivering to an SMTP server of the test's on 127.0.0.1,
 * the scheduler (and with `logRouter` the upstream router too) logging into `lines`.
 */
export async function scriptedQueue(t: TestContext, port: number, opts: { queue?: Record<string, unknown>; logRouter?: boolean } = {}): Promise<{ clock: ManualClock; spool: Spool; scheduler: Scheduler; lines: string[] }> {
  const dir = await tempDir(t);
  const clock = new ManualClock(T0);
  const registry = createRegistry(false);
  const { lines, log } = capturingLogger();
  const spool = await openSpool({ dir: path.join(dir, 'spool'), fsync: false, clock, registry, log: silentLogger });
  const upstream = { host: '127.0.0.1', port, protocol: 'smtp' as const, max_connections: 2, timeout: 5000, data_timeout: 10000, starttls: false, tls_verify: false, xforward: false };
  const router = createUpstreamRouter({ upstream, hostname: 'gw.test', log: opts.logRouter ? log : silentLogger });
  const scheduler = createScheduler({ spool, router, config: queueConfig(opts.queue), clock, registry, log, hostname: 'gw.test' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(2000);
    await router.close();
    await spool.close();
  });
  return { clock, spool, scheduler, lines };
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const data = await metric.get();
  const match = data.values.find((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val));
  return match?.value ?? 0;
}
