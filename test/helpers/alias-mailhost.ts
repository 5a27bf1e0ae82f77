// Tests: the set-up of the alias delivery suites: a data directory with users (one password) and aliases on the
// local domain localhost, and a mail host on it, alone, with a spool as a process has them, or with a spool and a
// queue scheduler on one manual clock; the messages and envelopes those suites send, and a user's inbox count.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { hashPassword } from '../../src/mailhost/password.ts';
import { openMailHost, type MailHost } from '../../src/mailhost/mailhost-setup.ts';
import { createRegistry } from '../../src/metrics/registry.ts';
import { createFullStackRouter, type DeliverLocal, type RemoteDelivery } from '../../src/queue/router.ts';
import { createScheduler } from '../../src/queue/scheduler.ts';
import { openSpool, spoolDir, type Spool } from '../../src/queue/spool.ts';
import type { MessageSink, QueueEnvelope } from '../../src/queue/types.ts';
import { ManualClock, systemClock, type Clock } from '../../src/util/clock.ts';
import { silentLogger, type Logger } from '../../src/util/logger.ts';
import { tempDir } from './temp-dir.ts';

export const MIN = 60_000;

/** Users by address with their quota in octets (undefined: none); aliases by address with their members. */
export interface AliasBook {
  users: Record<string, number | undefined>;
  aliases: Record<string, string[]>;
}

/** team@ → postmaster@ and full@ (quota 7000: a filler of 4000 octets makes it defer the next 4000). */
export const TEAM_FULL: AliasBook = { users: { 'postmaster@localhost': undefined, 'full@localhost': 7000 }, aliases: { 'team@localhost': ['postmaster@localhost', 'full@localhost'] } };
/** team@ → postmaster@, tiny@ (quota 1024: fails for good) and the off-site far@remote.example. */
export const TEAM_TINY: AliasBook = {
  users: { 'postmaster@localhost': undefined, 'tiny@localhost': 1024 },
  aliases: { 'team@localhost': ['postmaster@localhost', 'tiny@localhost', 'far@remote.example'] },
};

/** A data directory removed when the test ends, and the hash of `word` every user has as password. */
export async function aliasDataDir(t: TestContext, prefix: string, word = 'full-password'): Promise<{ dataDir: string; password: string }> {
  const dataDir = tempDir(t, prefix);
  return { dataDir, password: await hashPassword(word, { N: 1024, r: 8, p: 1 }) };
}

/** The config of `book` on localhost (no file watching); `extra` is merged over it (mode, queue …). */
export function aliasConfig(dataDir: string, password: string, book: AliasBook, extra: Record<string, unknown> = {}): Config {
  const users = Object.fromEntries(Object.entries(book.users).map(([address, quota]) => [address, { password, ...(quota !== undefined ? { quota } : {}) }]));
  return loadConfig({ inline: { local_domains: ['localhost'], users, aliases: book.aliases, mailhost: { watch_files: false }, ...extra }, dataDir }).config;
}

/** A mail host on `dataDir`, closed when the test ends. */
export function openAliasHost(t: TestContext, config: Config, dataDir: string, clock: Clock = systemClock): MailHost {
  const host = openMailHost({ config, dataDir, clock, log: silentLogger, registry: createRegistry(false), hostname: 'mx.test.example' });
  t.after(() => host.close());
  return host;
}

export interface HostProcess {
  deliver: DeliverLocal;
  close(): Promise<void>;
}

/** One mail host and spool (fsync on) as a process has them: a restart is a new pair on the same data directory; `sinkOf` wraps the spool as the host's sink. */
export async function openHostProcess(config: Config, dataDir: string, sinkOf: (spool: Spool) => MessageSink = (spool) => spool, log: Logger = silentLogger): Promise<HostProcess> {
  const registry = createRegistry(false);
  const spool = await openSpool({ dir: spoolDir(dataDir), fsync: true, clock: systemClock, registry, log });
  const host = openMailHost({ config, dataDir, clock: systemClock, log, registry, hostname: 'mx.test.example' });
  return {
    deliver: host.deliverLocal(sinkOf(spool), undefined, undefined, spool.progress),
    close: async () => {
      await host.close();
      await spool.close();
    },
  };
}

/** The queue of a full-stack host: spool, mail host and scheduler on one manual clock, stopped and closed when the test ends. */
export interface QueueRig {
  dataDir: string;
  clock: ManualClock;
  spool: Spool;
  scheduler: ReturnType<typeof createScheduler>;
  /** The mail host's own delivery (not through the queue). */
  local: DeliverLocal;
}

/**
 * `book` with queue.max_age 2h, retries from 1m up to 20m, no delay warnings and a scan each hour (the test runs the
 * queue); `routeLocal` wraps the mail host's delivery for the router, `outbound` stands for the remote MXs.
 */
export async function openQueueRig(
  t: TestContext,
  prefix: string,
  book: AliasBook,
  outbound: (clock: ManualClock) => RemoteDelivery['deliver'],
  routeLocal: (local: DeliverLocal, clock: ManualClock) => DeliverLocal = (local) => local,
): Promise<QueueRig> {
  const { dataDir, password } = await aliasDataDir(t, prefix);
  const config = aliasConfig(dataDir, password, book, { mode: 'full-stack', queue: { max_age: '2h', retry_initial: '1m', retry_max: '20m', delay_warning: '0s', scan_interval: '1h' } });
  const clock = new ManualClock(Date.UTC(2025, 0, 1, 12));
  const registry = createRegistry(false);
  const spool = await openSpool({ dir: path.join(dataDir, 'spool'), fsync: false, clock, registry, log: silentLogger });
  const host = openMailHost({ config, dataDir, clock, log: silentLogger, registry, hostname: 'mx.test.example' });
  const local = host.deliverLocal(spool, undefined, undefined, spool.progress);
  const router = createFullStackRouter({
    isLocal: (r) => r.toLowerCase().endsWith('@localhost'),
    deliverLocal: routeLocal(local, clock),
    outbound: { deliver: outbound(clock), close: () => Promise.resolve() },
  });
  const scheduler = createScheduler({ spool, router, config: config.queue, clock, registry, log: silentLogger, hostname: 'mx.test.example' });
  await scheduler.start();
  t.after(async () => {
    await scheduler.stop(2000);
    await host.close();
    await spool.close();
  });
  return { dataDir, clock, spool, scheduler, local };
}

/** Queues `envelope` with the big message, received now, and runs the queue (5 minutes a step) until it is empty. */
export async function queueUntilEmpty(rig: QueueRig, envelope: QueueEnvelope): Promise<void> {
  await rig.spool.enqueue({ ...envelope, receivedAt: rig.clock.now() }, bigMessage());
  await rig.scheduler.runDue();
  for (let i = 0; i < 100 && rig.scheduler.size() > 0; i++) {
    rig.clock.advance(5 * MIN);
    await rig.scheduler.runDue();
  }
  assert.equal(rig.scheduler.size(), 0, 'the queue is empty');
}

/** The message the alias suites send: 4000 octets of body, from bob@remote.example. */
export function bigMessage(): Buffer {
  return Buffer.from(`From: bob@remote.example\r\nSubject: big\r\n\r\n${'x'.repeat(4000)}\r\n`);
}

/** A filler of 4000 octets: given to full@ (quota 7000), the next big message waits for room (452 4.2.2). */
export function filler(): Buffer {
  return Buffer.from(`Subject: filler\r\n\r\n${'f'.repeat(4000)}\r\n`);
}

/** An envelope from bob@remote.example, session S1 from 192.0.2.1. */
export function bobTo(rcptTo: string[], receivedAt: number): QueueEnvelope {
  return { sessionId: 'S1', clientIp: '192.0.2.1', mailFrom: 'bob@remote.example', rcptTo, receivedAt };
}

/** How many messages are in new/ of `user`@localhost's INBOX (throws while it does not exist). */
export function inboxCount(dataDir: string, user = 'postmaster'): number {
  return readdirSync(path.join(dataDir, 'mail', 'localhost', user, 'Maildir', 'new')).length;
}
